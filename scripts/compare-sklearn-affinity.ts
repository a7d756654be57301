// Dev script (not a test dependency): compare EPruner's exemplars with scikit-learn's
// AffinityPropagation(affinity="precomputed", preference=..., damping=0.5, max_iter=200,
// convergence_iter=15, random_state=0) on every conv layer of the fixture models, for several β, with
// the same per-filter preferences (β · row median, docs/methods.md §3.2). Needs /usr/bin/python3 with
// Debian's python3-sklearn.
//
//   node --import tsx scripts/compare-sklearn-affinity.ts [--python /usr/bin/python3]
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
import { pairwiseSqEuclidean } from "../src/wasm/kernels/distance.ts";
import { rowMedians } from "../src/wasm/kernels/select.ts";

const { values: flags } = parseArgs({ options: { python: { type: "string" } } });
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
    const s = pairwiseSqEuclidean(w, x, rows, cols).map((v) => -v);
    const med = rowMedians(w, s, rows, rows);
    const layer: Layer = { file, node: node.name, rows, cols, betas: BETAS, preferences: [], ours: [] };
    for (const beta of BETAS) {
      const prefs = Array.from(med, (m) => beta * m);
      const r = affinityPropagation(w, s, prefs, rows);
      layer.preferences.push(prefs);
      layer.ours.push({ exemplars: r.exemplars, iterations: r.iterations, converged: r.converged });
    }
    writeFileSync(join(dir, `${layers.length}.f32`), x);
    layers.push(layer);
  }
}
writeFileSync(join(dir, "layers.json"), JSON.stringify(layers));
const py = spawnSync(flags.python ?? "/usr/bin/python3", [new URL("./compare_sklearn_affinity.py", import.meta.url).pathname, dir], {
  encoding: "utf8",
});
if (py.status !== 0) throw new Error(`python failed: ${py.stderr}`);
const theirs: { beta: number; exemplars: number[]; iterations: number }[][] = JSON.parse(
  readFileSync(join(dir, "sklearn.json"), "utf8"),
);
rmSync(dir, { recursive: true });

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
        `${layer.file} ${layer.node} (${layer.rows}x${layer.cols}) beta ${layer.betas[b]}: prunekit ${ours.exemplars.length} exemplars in ${ours.iterations} it${ours.converged ? "" : " (not converged)"}, scikit-learn ${sk.exemplars.length} in ${sk.iterations}`,
      );
    }
  });
});
process.stdout.write(
  `${layers.length} conv layers of ${files.length} fixture models x ${BETAS.length} betas = ${runs} runs: identical exemplars in ${sameExemplars}, identical iteration counts in ${sameIterations}\n${differ.map((d) => `  differs: ${d}`).join("\n")}\n`,
);
