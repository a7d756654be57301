// EPruner's similarity path (docs/methods.md §3.11.5): planning uses the norm-trick distances
// (pairwiseSqEuclideanGram, as scikit-learn's euclidean_distances); on every fixture model and two
// β values the kept filters equal those from the exact direct differences (pairwiseSqEuclidean),
// layer by layer, with the same labels and iteration counts.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { loadModel, prune } from "../../src/api.ts";
import { producerFilters } from "../../src/graph/weights.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { affinityPropagation } from "../../src/wasm/kernels/affinity.ts";
import { pairwiseSqEuclidean } from "../../src/wasm/kernels/distance.ts";
import { rowMedians } from "../../src/wasm/kernels/select.ts";

const w = await getWasm();
const root = new URL("../fixtures/", import.meta.url);
const files = ["", "trained/", "torchvision/"].flatMap((dir) =>
  readdirSync(new URL(dir, root))
    .filter((f) => f.endsWith(".onnx"))
    .map((f) => `${dir}${f}`),
);

test("EPruner keeps the same filters with the Gram-trick and the direct similarities on every fixture", async () => {
  assert.ok(files.length >= 20, `fixture models: ${files.length}`);
  let layers = 0;
  for (const file of files) {
    const model = await loadModel(new Uint8Array(readFileSync(new URL(file, root))));
    for (const beta of [0.75, 1.5]) {
      const { report } = await prune(model, { method: "epruner", beta, allowUnchanged: true });
      for (const l of report.layers) {
        const group = model.groups.find((g) => g.producers[0]?.node === l.node)!;
        const f = producerFilters(model.graph, group.producers[0]!);
        const s = pairwiseSqEuclidean(w, f.data, f.rows, f.cols).map((v) => -v);
        const prefs = Array.from(rowMedians(w, s, f.rows, f.rows), (m) => beta * m);
        const r = affinityPropagation(w, s, prefs, f.rows);
        const where = `${file} ${l.node} beta ${beta}`;
        assert.deepEqual(l.kept, r.exemplars, where);
        assert.deepEqual(l.labels, r.labels, where);
        assert.equal(l.iterations, r.iterations, where);
        layers++;
      }
    }
  }
  assert.ok(layers > 100, `clustered layers compared: ${layers}`);
});
