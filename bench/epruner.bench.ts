// EPruner side by side (docs/methods.md §3): similarity + affinity propagation fit against scikit-learn
// for n = 64, 128, 256, 512 filters of d = 4608 (a 512 -> 512 3x3 conv), and the whole-model EPruner
// analysis of a CIFAR-style VGG-16-BN (all 13 convs; bench/lib/vgg.ts, seeded weights).
//
//   node --import tsx bench/epruner.bench.ts            5 interleaved rounds
//   node --import tsx bench/epruner.bench.ts --smoke    n = 64 only, one round, tiny VGG (never gates)
//
// Filters: n/8 seeded random centres, each filter a centre times a factor in [0.7, 1.3] plus noise, so
// affinity propagation has clusters to find (uniform random filters make every filter an exemplar in
// 16 iterations, which times nothing). Preferences β·(row median) with β = 0.75, the same numbers on
// both sides. Ours: prunekit's WASM (f64 direct-difference distances, row medians, affinity_iterate and
// affinity_exemplars), one thread. scikit-learn: a Python child process (bench/lib/affinity_sklearn.py)
// timing its own loop: -euclidean_distances(float64, squared=True) then AffinityPropagation(precomputed,
// damping 0.5, 200 / 15, random_state 0) with OPENBLAS/OMP/MKL threads = 1. Each round runs ours for
// every n, then one Python child; medians over rounds. Exemplars are compared.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { loadModel, prune } from "../src/api.ts";
import { getWasm } from "../src/wasm/instance.ts";
import { affinityPropagation } from "../src/wasm/kernels/affinity.ts";
import { pairwiseSqEuclidean } from "../src/wasm/kernels/distance.ts";
import { rowMedians } from "../src/wasm/kernels/select.ts";
import { seededNormals } from "../src/wasm/seeded-random.ts";
import { buildVgg16, VGG16_CFG, VGG16_SMOKE_CFG } from "./lib/vgg.ts";

const smoke = process.argv.includes("--smoke");
const SIZES = smoke ? [64] : [64, 128, 256, 512];
const D = 4608;
const ROUNDS = smoke ? 1 : 5;
const BETA = 0.75;
const w = await getWasm();

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
  const s = pairwiseSqEuclidean(w, x, n, D);
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

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(join(os.tmpdir(), "prunekit-apbench-"));
const data = SIZES.map((n) => ({ n, x: filters(n) }));
const layersJson = data.map(({ n, x }) => {
  writeFileSync(join(dir, `${n}.f32`), x);
  return { n, d: D, preferences: ours(x, n).prefs };
});
writeFileSync(join(dir, "layers.json"), JSON.stringify(layersJson));

const py = "/usr/bin/python3";
const havePy = spawnSync(py, ["-c", "import sklearn, numpy"]).status === 0;
const ourTimes = new Map<number, { similarity: number; fit: number }[]>();
const pyTimes = new Map<number, { similarity: number; fit: number }[]>();
const info = new Map<
  number,
  { ours: { iterations: number; exemplars: number[] }; sk?: { iterations: number; exemplars: number[] } }
>();
for (const { n, x } of data) ours(x, n); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const { n, x } of data) {
    const t = ours(x, n);
    ourTimes.set(n, [...(ourTimes.get(n) ?? []), { similarity: t.similarity, fit: t.fit }]);
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

const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
let md = `## EPruner: affinity propagation\n\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? "cpu"}, ${os.cpus().length} cores, Node ${process.version}; medians of ${ROUNDS} interleaved rounds, one thread each side.\n\n`;
md +=
  "| n x d | ours similarity ms | ours fit ms | ours total | scikit-learn similarity ms | scikit-learn fit ms | scikit-learn total | speed-up | iterations (ours / sklearn) | exemplars | identical exemplars |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n";
for (const n of SIZES) {
  const o = ourTimes.get(n)!;
  const os_ = median(o.map((t) => t.similarity));
  const of_ = median(o.map((t) => t.fit));
  const p = pyTimes.get(n);
  const i = info.get(n)!;
  const ps = p ? median(p.map((t) => t.similarity)) : Number.NaN;
  const pf = p ? median(p.map((t) => t.fit)) : Number.NaN;
  const same = i.sk
    ? JSON.stringify(i.sk.exemplars) === JSON.stringify(i.ours.exemplars)
      ? "yes"
      : "NO"
    : "–";
  md += `| ${n} x ${D} | ${f(os_)} | ${f(of_)} | ${f(os_ + of_)} | ${f(ps)} | ${f(pf)} | ${f(ps + pf)} | ${((ps + pf) / (os_ + of_)).toFixed(2)}x | ${i.ours.iterations} / ${i.sk?.iterations ?? "–"} | ${i.ours.exemplars.length} | ${same} |\n`;
}

// Whole-model analysis: prune(model, { method: "epruner" }) on VGG-16-BN; report.timings.decomposition
// is the EPruner planning (13 similarity matrices, 13 affinity propagations).
const vgg = buildVgg16(smoke ? VGG16_SMOKE_CFG : VGG16_CFG);
const model = await loadModel(vgg.bytes);
const plan: number[] = [];
const total: number[] = [];
let layersReport = "";
for (let round = 0; round < (smoke ? 1 : 5); round++) {
  const t0 = performance.now();
  const { report } = await prune(model, { method: "epruner" });
  total.push(performance.now() - t0);
  plan.push(report.timings.decomposition!);
  layersReport = report.layers
    .map((l) => `${l.channelsBefore}->${l.channelsAfter} (${l.iterations} it)`)
    .join(", ");
}
md += `\nWhole-model EPruner analysis of VGG-16-BN (${vgg.convs.length} convs, ${(vgg.params / 1e6).toFixed(2)} M parameters, seeded Kaiming-uniform weights, β = 0.75): planning (similarities + affinity propagation of every conv, \`report.timings.decomposition\`) median ${f(median(plan))} ms, whole \`prune()\` (plan, surgery, encode, re-analysis) median ${f(median(total))} ms, over ${plan.length} runs. Layers: ${layersReport}.\n`;
process.stdout.write(md);
