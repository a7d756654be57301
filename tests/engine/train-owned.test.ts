// trainModel's caller-owned trainer (the Gate Decorator's phases share one ParamStore): the store keeps
// its values across calls and is not disposed, frozen parameters stay bit-identical, the regularize hook
// sees each step, and gated BNs pass through `trainerOptions` to the last partial batch's compilation.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { planPreprocessing } from "../../src/data/preprocess.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { compileTrainer } from "../../src/engine/tape.ts";
import { trainModel } from "../../src/engine/train.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { createWasm } from "../../src/wasm/instance.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;

test("trainModel on a caller-owned trainer: state carries over, frozen stays exact, hooks see every step", async () => {
  const images = await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split: "train",
    limit: 70, // 2 batches of 32 and a partial batch of 6
    readFile: async (p) => new Uint8Array(await readFile(p)),
  });
  const nb = new NetBuilder("input", [1, 28, 28]);
  const out = nb.gemm(nb.flatten(nb.gap(nb.relu(nb.bn(nb.conv("input", 4))))), 10);
  const graph = buildGraph(nb.model([out]));
  const bn = graph.order.find((n) => n.opType === "BatchNormalization")!.name;
  const conv = graph.order.find((n) => n.opType === "Conv")!.inputs[1]!;
  const wasm = await createWasm();
  const gatedBatchNorms = new Set([bn]);
  const trainer = compileTrainer(wasm, graph, { batch: 32, gatedBatchNorms });
  const plan = planPreprocessing(images, { channels: 1, height: 28, width: 28 });
  const w0 = trainer.store.read(conv);
  const seen: number[] = [];
  const first = await trainModel(wasm, graph, images, plan, {
    epochs: 1,
    batch: 32,
    trainer,
    trainerOptions: { gatedBatchNorms },
    frozen: (p) => p.name === conv,
    regularize: (store, step) => {
      seen.push(step.images);
      assert.ok(Number.isFinite(step.loss));
      assert.equal(store.readGrad(`${bn}#gate`).length, 4);
    },
  });
  assert.deepEqual(seen, [32, 32, 6]);
  assert.deepEqual(trainer.store.read(conv), w0); // frozen: bit-identical
  const gate1 = trainer.store.read(`${bn}#gate`);
  assert.deepEqual(first.values.get(`${bn}#gate`), gate1);
  // A second call continues from the same store, and unfreezes (no `frozen` given).
  await trainModel(wasm, graph, images, plan, {
    epochs: 1,
    batch: 32,
    trainer,
    trainerOptions: { gatedBatchNorms },
  });
  assert.notDeepEqual(trainer.store.read(`${bn}#gate`), gate1);
  assert.notDeepEqual(trainer.store.read(conv), w0);
  trainer.dispose();
  trainer.store.dispose();
});
