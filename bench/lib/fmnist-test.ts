// The Fashion-MNIST test set as the trained fixtures saw it (28x28 zero-padded by 2 to 32x32, byte/255),
// and top-1 accuracy of ONNX bytes on it by onnxruntime-node: shared by the bench/experiments scripts.
import { readFile } from "node:fs/promises";
import { fashionMnistDir, loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { correctCount, ortLogits } from "../../tests/e2e/ort-eval.ts";

export type TestSet = Awaited<ReturnType<typeof loadFashionMnist>>;

/**
 * The first `limit` test images (all 10 000 without it), zero-padded by `pad`.
 * @param dataDir `--data` (else $PRUNEKIT_FASHION_MNIST_DIR, else Debian's dataset-fashion-mnist folder).
 */
export async function paddedTestSet(dataDir: string | undefined, limit?: string, pad = 2): Promise<TestSet> {
  const all = await loadFashionMnist(
    { dir: fashionMnistDir(process.env, dataDir), split: "test", pad },
    async (p) => new Uint8Array(await readFile(p)),
  );
  const count = Math.min(all.count, Number(limit ?? all.count));
  const pixels = all.images.length / all.count;
  return {
    ...all,
    count,
    images: all.images.subarray(0, count * pixels),
    labels: all.labels.subarray(0, count),
  };
}

/** Top-1 accuracy in percent of the model `bytes` on `set`, computed by onnxruntime-node. */
export async function ortAccuracy(bytes: Uint8Array, set: TestSet, batch = 250): Promise<number> {
  const out = await ortLogits(bytes, set, batch);
  return (100 * correctCount(out.logits, out.classes, set.labels)) / set.count;
}
