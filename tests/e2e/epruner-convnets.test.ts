// EPruner end to end on the trained ResNet-20 (tests/fixtures/trained/, Fashion-MNIST padded to 32x32):
// a β sweep whose files onnxruntime-node runs on the shipped 1000-image slice. The full 10 000-image
// table is bench/experiments/epruner-convnets.md (plain / --merge accuracy, no fine-tuning: 40.89 / 88.79 %
// at β = 0.6, 11.14 / 76.12 % at β = 0.75, from a 91.06 % baseline).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadModel, prune } from "../../src/api.ts";
import { type ImageSet, loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { correctCount, ortLogits } from "./ort-eval.ts";

const fixtures = new URL("../fixtures/", import.meta.url);
const bytes = new Uint8Array(readFileSync(new URL("trained/resnet20_fmnist.onnx", fixtures)));

let slice: ImageSet | undefined;
async function testSlice(): Promise<ImageSet> {
  slice ??= await loadFashionMnist(
    { dir: new URL("fashion-mnist-slice/", fixtures).pathname, split: "test", pad: 2 },
    async (p) => new Uint8Array(readFileSync(p)),
  );
  return slice;
}

const accuracy = async (b: Uint8Array) => {
  const set = await testSlice();
  const out = await ortLogits(b, set, 250);
  assert.equal(out.classes, 10);
  return correctCount(out.logits, out.classes, set.labels) / set.count;
};

test("trained ResNet-20, beta sweep: widths, params and MACs fall as beta grows; the files run under onnxruntime; merging recovers accuracy", async () => {
  const model = await loadModel(bytes);
  const base = await accuracy(bytes);
  let last = {
    widths: Number.POSITIVE_INFINITY,
    params: Number.POSITIVE_INFINITY,
    macs: Number.POSITIVE_INFINITY,
  };
  const acc: Record<number, { plain: number; merged: number }> = {};
  for (const beta of [0.6, 0.75, 1, 2]) {
    const plain = await prune(model, { method: "epruner", beta });
    const merged = await prune(model, { method: "epruner", beta, merge: true });
    const r = plain.report;
    const widths = r.layers.reduce((s, l) => s + l.channelsAfter, 0);
    assert.equal(r.layers.length, 9);
    assert.ok(
      widths < last.widths && r.after.params < last.params && r.after.macs < last.macs,
      `beta ${beta}`,
    );
    last = { widths, params: r.after.params, macs: r.after.macs };
    assert.deepEqual(merged.report.after, r.after, "merging changes no size");
    acc[beta] = { plain: await accuracy(plain.bytes), merged: await accuracy(merged.bytes) };
  }
  // Full test set: 40.89 / 88.79 % at 0.6 and 11.14 / 76.12 % at 0.75; the slice is 10 % of it.
  assert.ok(base > 0.88, `baseline ${base}`);
  for (const beta of [0.6, 0.75]) {
    assert.ok(acc[beta]!.merged >= acc[beta]!.plain + 0.3, `beta ${beta}: ${JSON.stringify(acc[beta])}`);
  }
  assert.ok(acc[0.6]!.merged > base - 0.06, `merged at 0.6: ${acc[0.6]!.merged} vs ${base}`);
});
