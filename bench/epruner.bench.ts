// EPruner side by side (docs/methods.md §3): similarity + affinity propagation fit against scikit-learn
// for n = 64, 128, 256, 512 filters of d = 4608 (a 512 -> 512 3x3 conv), and the whole-model EPruner
// analysis of a CIFAR-style VGG-16-BN (all 13 convs; bench/lib/vgg.ts, seeded weights).
//
//   node --import tsx bench/epruner.bench.ts            5 interleaved rounds (--rounds N for N)
//   node --import tsx bench/epruner.bench.ts --smoke    n = 64 only, one round, tiny VGG (never gates)
//   node --experimental-wasm-relaxed-simd --import tsx bench/epruner.bench.ts   adds the relaxed build
//
// Filters: n/8 seeded random centres, each filter a centre times a factor in [0.7, 1.3] plus noise, so
// affinity propagation has clusters to find (uniform random filters make every filter an exemplar in
// 16 iterations, which times nothing). Preferences β·(row median) with β = 0.75, the same numbers on
// both sides. Ours: prunekit's WASM (EPruner's path: f64 norm-trick distances on a blocked Gram,
// distance_pairwise_sq_euclidean_gram; row medians, affinity_iterate and affinity_exemplars), one
// thread; the exact direct-difference distances (distance_pairwise_sq_euclidean) and, where the runtime
// has relaxed SIMD, the FMA build's Gram distances are timed in the same rounds for reference. scikit-learn: a Python child process (bench/lib/affinity_sklearn.py)
// timing its own loop: -euclidean_distances(float64, squared=True) then AffinityPropagation(precomputed,
// damping 0.5, 200 / 15, random_state 0) with OPENBLAS/OMP/MKL threads = 1. Each round runs ours for
// every n, then one Python child; medians over rounds. Exemplars are compared.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { loadModel, prune } from "../src/api.ts";
import { createWasm, getWasm } from "../src/wasm/instance.ts";
import { affinityPropagation } from "../src/wasm/kernels/affinity.ts";
import { pairwiseSqEuclidean, pairwiseSqEuclideanGram } from "../src/wasm/kernels/distance.ts";
import { rowMedians } from "../src/wasm/kernels/select.ts";
import { relaxedSimdSupported } from "../src/wasm/load.ts";
import { seededNormals } from "../src/wasm/seeded-random.ts";
import { buildVgg16, VGG16_CFG, VGG16_SMOKE_CFG } from "./lib/vgg.ts";

const smoke = process.argv.includes("--smoke");
const SIZES = smoke ? [64] : [64, 128, 256, 512];
const D = 4608;
const roundsFlag = process.argv.indexOf("--rounds");
const ROUNDS = smoke ? 1 : roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 5;
const BETA = 0.75;
const w = await getWasm();
const relaxed = relaxedSimdSupported() ? await createWasm({ simd: "relaxed" }) : undefined;

function filters(n: number): Float32Array {
  const centres = Math.max(2, n >> 3);
  const c = seededNormals(n, centres * D);
  const g = seededNormals(n + 1, n * D);
  const f = seededNormals(n + 2, n);
  const x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const k = i % centres;
    const scale = 1 + 0.3 * Math.tanh(f[i]!);
    for (let j = 0; j < D; j++) x[i * D + j] = scale * c[k * D + j]! + 0.5 * g[i * D + j]!;
  }
  return x;
}

function ours(x: Float32Array, n: number) {
  const t0 = performance.now();
  const s = pairwiseSqEuclideanGram(w, x, n, D);
  for (let q = 0; q < s.length; q++) s[q] = -s[q]!;
  const med = rowMedians(w, s, n, n);
  const t1 = performance.now();
  const r = affinityPropagation(
    w,
    s,
    Array.from(med, (m) => BETA * m),
    n,
  );
  const t2 = performance.now();
  return { similarity: t1 - t0, fit: t2 - t1, r, prefs: Array.from(med, (m) => BETA * m) };
}

/** The similarity step with the exact direct differences, or with the relaxed (FMA) build's Gram. */
function similarityOnly(x: Float32Array, n: number, kind: "direct" | "relaxed"): number {
  const t0 = performance.now();
  const s = kind === "direct" ? pairwiseSqEuclidean(w, x, n, D) : pairwiseSqEuclideanGram(relaxed!, x, n, D);
  for (let q = 0; q < s.length; q++) s[q] = -s[q]!;
  rowMedians(w, s, n, n);
  return performance.now() - t0;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** "median (min–max)" of v. */
const mr = (v: number[]) => `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;

const dir = mkdtempSync(join(os.tmpdir(), "prunekit-apbench-"));
const data = SIZES.map((n) => ({ n, x: filters(n) }));
const layersJson = data.map(({ n, x }) => {
  writeFileSync(join(dir, `${n}.f32`), x);
  return { n, d: D, preferences: ours(x, n).prefs };
});
writeFileSync(join(dir, "layers.json"), JSON.stringify(layersJson));

const py = "/usr/bin/python3";
const havePy = spawnSync(py, ["-c", "import sklearn, numpy"]).status === 0;
const ourTimes = new Map<number, { similarity: number; fit: number; direct: number; relaxed: number }[]>();
const pyTimes = new Map<number, { similarity: number; fit: number }[]>();
const info = new Map<
  number,
  { ours: { iterations: number; exemplars: number[] }; sk?: { iterations: number; exemplars: number[] } }
>();
for (const { n, x } of data) ours(x, n); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const { n, x } of data) {
    const t = ours(x, n);
    const direct = similarityOnly(x, n, "direct");
    const rel = relaxed ? similarityOnly(x, n, "relaxed") : Number.NaN;
    ourTimes.set(n, [
      ...(ourTimes.get(n) ?? []),
      { similarity: t.similarity, fit: t.fit, direct, relaxed: rel },
    ]);
    info.set(n, { ours: { iterations: t.r.iterations, exemplars: t.r.exemplars } });
  }
  if (!havePy) continue;
  const env = { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };
  const r = spawnSync(py, [new URL("./lib/affinity_sklearn.py", import.meta.url).pathname, dir, "1"], {
    encoding: "utf8",
    env,
  });
  if (r.status !== 0) throw new Error(`scikit-learn side failed: ${r.stderr}`);
  for (const e of JSON.parse(r.stdout) as {
    n: number;
    times: { similarity: number; fit: number }[];
    iterations: number;
    exemplars: number[];
  }[]) {
    pyTimes.set(e.n, [...(pyTimes.get(e.n) ?? []), ...e.times]);
    info.get(e.n)!.sk = { iterations: e.iterations, exemplars: e.exemplars };
  }
}
rmSync(dir, { recursive: true });

const cpuFlags = (() => {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? os.cpus()[0]?.model ?? "cpu";
    const flags = (/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? "").split(" ");
    const vec = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl"].filter((x) => flags.includes(x));
    return `${model} (${vec.join(", ")})`;
  } catch {
    return os.cpus()[0]?.model ?? "cpu";
  }
})();
let md = `## EPruner: affinity propagation\n\n${new Date().toISOString().slice(0, 10)}, ${cpuFlags}, ${os.cpus().length} cores, Node ${process.version} (V8 ${process.versions.v8}); medians (min–max) of ${ROUNDS} interleaved rounds, one thread each side.\n\n`;
md +=
  "| n x d | ours similarity ms | ours fit ms | ours total | scikit-learn similarity ms | scikit-learn fit ms | scikit-learn total | speed-up (median; range of per-round ratios) | ours direct-difference similarity ms | ours relaxed-SIMD similarity ms | iterations (ours / sklearn) | exemplars | identical exemplars |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n";
for (const n of SIZES) {
  const o = ourTimes.get(n)!;
  const p = pyTimes.get(n) ?? [];
  const i = info.get(n)!;
  const oTot = o.map((t) => t.similarity + t.fit);
  const pTot = p.map((t) => t.similarity + t.fit);
  const ratios = pTot.map((v, k) => v / oTot[k]!);
  const same = i.sk
    ? JSON.stringify(i.sk.exemplars) === JSON.stringify(i.ours.exemplars)
      ? "yes"
      : "NO"
    : "–";
  const speed = p.length
    ? `${(median(pTot) / median(oTot)).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
    : "–";
  md += `| ${n} x ${D} | ${mr(o.map((t) => t.similarity))} | ${mr(o.map((t) => t.fit))} | ${mr(oTot)} | ${p.length ? mr(p.map((t) => t.similarity)) : "–"} | ${p.length ? mr(p.map((t) => t.fit)) : "–"} | ${p.length ? mr(pTot) : "–"} | ${speed} | ${mr(o.map((t) => t.direct))} | ${relaxed ? mr(o.map((t) => t.relaxed)) : "–"} | ${i.ours.iterations} / ${i.sk?.iterations ?? "–"} | ${i.ours.exemplars.length} | ${same} |\n`;
}

// Whole-model analysis: prune(model, { method: "epruner" }) on VGG-16-BN; report.timings.decomposition
// is the EPruner planning (13 similarity matrices, 13 affinity propagations).
const vgg = buildVgg16(smoke ? VGG16_SMOKE_CFG : VGG16_CFG);
const model = await loadModel(vgg.bytes);
const plan: number[] = [];
const total: number[] = [];
const cpu: number[] = [];
let layersReport = "";
for (let round = 0; round < ROUNDS; round++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { report } = await prune(model, { method: "epruner" });
  const c = process.cpuUsage(c0);
  total.push(performance.now() - t0);
  cpu.push((c.user + c.system) / 1000);
  plan.push(report.timings.decomposition!);
  layersReport = report.layers
    .map((l) => `${l.channelsBefore}->${l.channelsAfter} (${l.iterations} it)`)
    .join(", ");
}
md += `\nWhole-model EPruner analysis of VGG-16-BN (${vgg.convs.length} convs, ${(vgg.params / 1e6).toFixed(2)} M parameters, seeded Kaiming-uniform weights, β = 0.75): planning (similarities + affinity propagation of every conv, \`report.timings.decomposition\`) median (min–max) ${mr(plan)} ms, whole \`prune()\` (plan, surgery, encode, re-analysis) ${mr(total)} ms wall, ${mr(cpu)} ms process CPU time, over ${plan.length} runs. Layers: ${layersReport}.\n`;
process.stdout.write(md);
