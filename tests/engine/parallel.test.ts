// Data-parallel training over worker_threads: one worker equals no worker bit for bit, two workers give
// the same bits on every run (the reduction order is fixed) and still train.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { evaluate, finetune, loadModel } from "../../src/api.ts";
import { limitImages } from "../../src/data/images.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { shardSizes } from "../../src/engine/parallel.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { createNodeTrainWorkers } from "../../src/node/train-workers.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const readFileBytes = async (p: string) => new Uint8Array(await readFile(p));
const resnet = new URL("../fixtures/trained/resnet20_fmnist.onnx", import.meta.url);

test("shardSizes splits a batch contiguously, the first workers taking one more", () => {
  assert.deepEqual(shardSizes(64, 2), [32, 32]);
  assert.deepEqual(shardSizes(7, 3), [3, 2, 2]);
  assert.deepEqual(shardSizes(2, 4), [1, 1]);
});

test("finetune with workers: 1 worker equals none bit for bit; 2 workers are reproducible and train", async () => {
  const model = await loadModel(new Uint8Array(await readFile(resnet)));
  const train = limitImages(
    await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), { split: "train", readFile: readFileBytes }),
    96,
  );
  const common = { data: train, epochs: 1, batch: 32, lr: 0.01, seed: 2 };
  const none = await finetune(model, common);
  const one = await finetune(model, { ...common, workers: createNodeTrainWorkers(1) });
  assert.deepEqual(one.bytes, none.bytes);
  assert.equal(one.report.workers, 1);
  const twoA = await finetune(model, { ...common, workers: createNodeTrainWorkers(2) });
  const twoB = await finetune(model, { ...common, workers: createNodeTrainWorkers(2) });
  assert.equal(twoA.report.workers, 2);
  assert.deepEqual(twoA.bytes, twoB.bytes);
  assert.notDeepEqual(twoA.bytes, none.bytes); // BN statistics per shard
  const lossGap = Math.abs(twoA.report.history[0]!.loss - none.report.history[0]!.loss);
  assert.ok(
    lossGap < 0.1 * none.report.history[0]!.loss,
    `loss ${twoA.report.history[0]!.loss} vs ${none.report.history[0]!.loss}`,
  );
});

test("evaluate with a worker thread gives exactly the single-thread result", async () => {
  const model = await loadModel(new Uint8Array(await readFile(resnet)));
  const test = limitImages(
    await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), { split: "test", readFile: readFileBytes }),
    300,
  );
  const one = await evaluate(model, test, { batch: 32 });
  const two = await evaluate(model, test, { batch: 32, workers: createNodeTrainWorkers(1) });
  assert.deepEqual(two.predictions, one.predictions);
  assert.equal(two.loss, one.loss);
  assert.equal(two.top1, one.top1);
  assert.equal(two.images, 300);
});

test("a worker's user error comes back as that PrunekitError, naming the worker", async () => {
  const nb = new NetBuilder("x", [1, 28, 28]);
  const a = nb.conv("x", 2);
  const out = nb.gemm(nb.flatten(nb.gap(nb.op("Mul", [a, a], [2, 28, 28]))), 10);
  const model = await loadModel(encodeModel(nb.model([out])));
  const train = limitImages(
    await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), { split: "train", readFile: readFileBytes }),
    8,
  );
  await assert.rejects(
    finetune(model, { data: train, epochs: 1, batch: 4, workers: createNodeTrainWorkers(2) }),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "ONNX_UNSUPPORTED" &&
      /^training worker \d: node "Mul_/.test(e.message),
  );
});
