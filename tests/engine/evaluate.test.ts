// evaluate() on real data: the same predictions as onnxruntime-node on the same preprocessed images
// (the trained ResNet-20 on the shipped Fashion-MNIST slice), top-1 counted independently from ORT's
// logits, and compare() of a model with itself and with a pruned copy.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compare, evaluate, loadModel, prune } from "../../src/api.ts";
import { loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { PrunekitError } from "../../src/errors.ts";
import { correctCount, ortLogits } from "../e2e/ort-eval.ts";

const fixtures = new URL("../fixtures/", import.meta.url);
const sliceDir = new URL("fashion-mnist-slice/", fixtures).pathname;
const bytes = new Uint8Array(readFileSync(new URL("trained/resnet20_fmnist.onnx", fixtures)));
const readFile = async (p: string) => new Uint8Array(readFileSync(p));
const LIMIT = 300;

test("evaluate gives exactly onnxruntime's predictions on the same preprocessed images", async () => {
  const model = await loadModel(bytes);
  const images = await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split: "test",
    limit: LIMIT,
    readFile,
  });
  const ours = await evaluate(model, images, { batch: 17 });
  // The referee's inputs are made by the older, independent loader (pad 2, byte/255).
  const ref = await loadFashionMnist({ dir: sliceDir, split: "test", pad: 2, limit: LIMIT }, readFile);
  const ort = await ortLogits(bytes, ref, 64);
  const ortPred = Array.from({ length: ref.count }, (_, m) => {
    let best = 0;
    for (let c = 1; c < ort.classes; c++)
      if (ort.logits[m * ort.classes + c]! > ort.logits[m * ort.classes + best]!) best = c;
    return best;
  });
  assert.equal(ours.images, LIMIT);
  assert.deepEqual([...ours.predictions], ortPred);
  assert.equal(ours.top1, correctCount(ort.logits, ort.classes, ref.labels) / ref.count);
  assert.ok(ours.top5 >= ours.top1 && ours.top5 <= 1);
  assert.ok(ours.loss > 0 && Number.isFinite(ours.loss));
  assert.match(ours.preprocessing, /zero-pad 2,2,2,2 -> 32x32/);
});

test("compare: a model against itself agrees fully; against a pruned copy it reports the drift", async () => {
  const model = await loadModel(bytes);
  const images = await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split: "test",
    limit: 100,
    readFile,
  });
  const same = await compare(model, model, images, { batch: 32 });
  assert.equal(same.agreement, 1);
  assert.equal(same.maxAbsDiff, 0);
  assert.equal(same.ware, 0);
  const pruned = await loadModel((await prune(model, { method: "l1", ratio: 0.5 })).bytes);
  const diff = await compare(model, pruned, images, { batch: 32 });
  assert.ok(diff.maxAbsDiff > 0 && diff.meanAbsDiff > 0 && diff.ware > 0);
  assert.ok(diff.agreement < 1);
  assert.equal(diff.a.top1, same.a.top1);
});

test("evaluate stops with ABORTED when its signal fires", async () => {
  const model = await loadModel(bytes);
  const images = await loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split: "test",
    limit: 200,
    readFile,
  });
  const controller = new AbortController();
  const run = evaluate(model, images, {
    batch: 8,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.done >= 16) controller.abort();
    },
  });
  await assert.rejects(run, (e: unknown) => e instanceof PrunekitError && e.code === "ABORTED");
});
