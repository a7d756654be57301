// Dev script (not a test dependency): compare EPruner's exemplars with scikit-learn's
// AffinityPropagation(affinity="precomputed", preference=..., damping=0.5, max_iter=200,
// convergence_iter=15, random_state=0) on every conv layer of the fixture models, for several β, with
// the same per-filter preferences (β · row median, docs/methods.md §3.2). Needs /usr/bin/python3 with
// Debian's python3-sklearn.
//
//   node --import tsx scripts/compare-sklearn-affinity.ts [--python /usr/bin/python3] [--similarity S]
//
// --similarity gram (default, EPruner's): prunekit's norm-trick distances (pairwiseSqEuclideanGram)
// against scikit-learn's own -euclidean_distances(X, squared=True) in float64, what a scikit-learn
// user would compute. --similarity direct: prunekit's direct differences (pairwiseSqEuclidean)
// against numpy's direct differences. --similarity both: EPruner with the Gram path against direct
// differences, both prunekit (no Python).
//
// scikit-learn always adds its tie-breaking noise (random_state=0); prunekit runs without noise by
// default, so an exact tie (duplicate or dead filters) may be broken differently: those layers are listed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadModel } from "../src/api.ts";
import { readFloat32 } from "../src/onnx/tensor.ts";
import { getWasm } from "../src/wasm/instance.ts";
import { affinityPropagation } from "../src/wasm/kernels/affinity.ts";
import { pairwiseSqEuclidean, pairwiseSqEuclideanGram } from "../src/wasm/kernels/distance.ts";
import { rowMedians } from "../src/wasm/kernels/select.ts";

const { values: flags } = parseArgs({
  options: { python: { type: "string" }, similarity: { type: "string", default: "gram" } },
});
const similarity = flags.similarity!;
if (!["gram", "direct", "both"].includes(similarity)) throw new Error(`--similarity gram|direct|both, got ${similarity}`);
const distances = (x: Float32Array, rows: number, cols: number) =>
  similarity === "direct" ? pairwiseSqEuclidean(w, x, rows, cols) : pairwiseSqEuclideanGram(w, x, rows, cols);
const BETAS = [0.5, 0.75, 1, 1.5];
const w = await getWasm();
const root = new URL("../tests/fixtures/", import.meta.url);
const files = [
  ...readdirSync(new URL("trained/", root)).map((f) => `trained/${f}`),
  ...readdirSync(root),
  ...readdirSync(new URL("torchvision/", root)).map((f) => `torchvision/${f}`),
].filter((f) => f.endsWith(".onnx"));

const dir = mkdtempSync(join(tmpdir(), "prunekit-ap-"));
interface Layer {
  file: string;
  node: string;
  rows: number;
  cols: number;
  betas: number[];
  preferences: number[][];
  ours: { exemplars: number[]; iterations: number; converged: boolean }[];
  direct?: { exemplars: number[]; iterations: number }[];
}
const layers: Layer[] = [];
for (const file of files) {
  const model = await loadModel(new Uint8Array(readFileSync(new URL(file, root))));
  for (const node of model.graph.nodes) {
    if (node.opType !== "Conv") continue;
    const t = model.graph.constants.get(node.inputs[1]!);
    if (t === undefined) continue;
    const x = readFloat32(t, model.graph.externalData);
    const rows = Number(t.dims[0]);
    const cols = x.length / rows;
    if (rows < 2) continue;
    const s = distances(x, rows, cols).map((v) => -v);
    const med = rowMedians(w, s, rows, rows);
    const layer: Layer = { file, node: node.name, rows, cols, betas: BETAS, preferences: [], ours: [] };
    const direct = similarity === "both" ? pairwiseSqEuclidean(w, x, rows, cols).map((v) => -v) : undefined;
    const directMed = direct && rowMedians(w, direct, rows, rows);
    for (const beta of BETAS) {
      const prefs = Array.from(med, (m) => beta * m);
      const r = affinityPropagation(w, s, prefs, rows);
      layer.preferences.push(prefs);
      layer.ours.push({ exemplars: r.exemplars, iterations: r.iterations, converged: r.converged });
      if (direct) {
        const d = affinityPropagation(w, direct, Array.from(directMed!, (m) => beta * m), rows);
        (layer.direct ??= []).push({ exemplars: d.exemplars, iterations: d.iterations });
      }
    }
    writeFileSync(join(dir, `${layers.length}.f32`), x);
    layers.push(layer);
  }
}
writeFileSync(join(dir, "layers.json"), JSON.stringify(layers));
let theirs: { beta: number; exemplars: number[]; iterations: number }[][];
if (similarity === "both") {
  theirs = layers.map((l) => l.direct!.map((d, b) => ({ beta: BETAS[b]!, ...d })));
} else {
  const py = spawnSync(
    flags.python ?? "/usr/bin/python3",
    [new URL("./compare_sklearn_affinity.py", import.meta.url).pathname, dir, similarity],
    { encoding: "utf8" },
  );
  if (py.status !== 0) throw new Error(`python failed: ${py.stderr}`);
  theirs = JSON.parse(readFileSync(join(dir, "sklearn.json"), "utf8"));
}
rmSync(dir, { recursive: true });
const other = similarity === "both" ? "direct" : "scikit-learn";

let runs = 0;
let sameExemplars = 0;
let sameIterations = 0;
const differ: string[] = [];
layers.forEach((layer, i) => {
  layer.ours.forEach((ours, b) => {
    const sk = theirs[i]![b]!;
    runs++;
    const same = JSON.stringify(ours.exemplars) === JSON.stringify(sk.exemplars);
    if (same) sameExemplars++;
    if (ours.iterations === sk.iterations) sameIterations++;
    if (!same) {
      differ.push(
        `${layer.file} ${layer.node} (${layer.rows}x${layer.cols}) beta ${layer.betas[b]}: prunekit ${ours.exemplars.length} exemplars in ${ours.iterations} it${ours.converged ? "" : " (not converged)"}, ${other} ${sk.exemplars.length} in ${sk.iterations}`,
      );
    }
  });
});
process.stdout.write(
  `similarity ${similarity}: ${layers.length} conv layers of ${files.length} fixture models x ${BETAS.length} betas = ${runs} runs: identical exemplars in ${sameExemplars}, identical iteration counts in ${sameIterations}\n${differ.map((d) => `  differs: ${d}`).join("\n")}\n`,
);
