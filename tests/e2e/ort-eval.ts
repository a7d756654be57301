// onnxruntime-node as the independent referee of end-to-end runs: logits of a whole image set in
// batches, accuracy by argmax. Shared by tests/e2e and bench/experiments.
import * as ort from "onnxruntime-node";
import type { ImageSet } from "../../src/data/fashion-mnist.ts";

/** Logits of every image, and what the model's output looked like. */
export interface OrtLogits {
  /** count x classes, row-major. */
  logits: Float32Array;
  /** Outputs per image (the last dim of the first output). */
  classes: number;
  /** Graph input names, in order. */
  inputNames: string[];
  /** Graph output names, in order. */
  outputNames: string[];
  /** Dims of the first output for the first batch. */
  firstOutputDims: number[];
}

/**
 * Run a single-input model with onnxruntime-node over every image of `set`, `batch` images at a time
 * (input `[batch, 1, height, width]`), and collect the first output.
 */
export async function ortLogits(bytes: Uint8Array, set: ImageSet, batch = 1000): Promise<OrtLogits> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const inputName = session.inputNames[0]!;
    const outputName = session.outputNames[0]!;
    // Channels follow from the image buffer's size (1 for Fashion-MNIST, 3 for CIFAR-shaped inputs).
    const channels = set.images.length / (set.count * set.height * set.width);
    const pixels = channels * set.height * set.width;
    let logits = new Float32Array(0);
    let classes = 0;
    let firstOutputDims: number[] = [];
    for (let start = 0; start < set.count; start += batch) {
      const b = Math.min(batch, set.count - start);
      const x = set.images.subarray(start * pixels, (start + b) * pixels);
      const feeds = { [inputName]: new ort.Tensor("float32", x, [b, channels, set.height, set.width]) };
      const out = (await session.run(feeds))[outputName]!;
      if (start === 0) {
        firstOutputDims = out.dims.map(Number);
        classes = firstOutputDims[firstOutputDims.length - 1]!;
        logits = new Float32Array(set.count * classes);
      }
      logits.set(out.data as Float32Array, start * classes);
    }
    return {
      logits,
      classes,
      inputNames: [...session.inputNames],
      outputNames: [...session.outputNames],
      firstOutputDims,
    };
  } finally {
    await session.release();
  }
}

/** Number of rows whose argmax (first on ties) equals the label. */
export function correctCount(logits: Float32Array, classes: number, labels: Uint8Array): number {
  let correct = 0;
  for (let m = 0; m < labels.length; m++) {
    let best = 0;
    for (let i = 1; i < classes; i++) if (logits[m * classes + i]! > logits[m * classes + best]!) best = i;
    if (best === labels[m]) correct++;
  }
  return correct;
}

/** One batch of named outputs, as {@link ortOutputs} hands them over. */
export interface OrtBatchOutput {
  dims: number[];
  data: Float32Array;
}

/**
 * Run a single-input model with onnxruntime-node over every image of `set`, `batch` images at a time
 * (input `[batch, 1, height, width]`), and pass the requested outputs of each batch to `onBatch`
 * (e.g. intermediate activations added as graph outputs; too large to keep for a whole set).
 */
export async function ortOutputs(
  bytes: Uint8Array,
  set: ImageSet,
  names: string[],
  batch: number,
  onBatch: (outputs: OrtBatchOutput[], start: number) => void,
): Promise<void> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const inputName = session.inputNames[0]!;
    const pixels = set.height * set.width;
    for (let start = 0; start < set.count; start += batch) {
      const b = Math.min(batch, set.count - start);
      const x = set.images.subarray(start * pixels, (start + b) * pixels);
      const feeds = { [inputName]: new ort.Tensor("float32", x, [b, 1, set.height, set.width]) };
      const out = await session.run(feeds, names);
      onBatch(
        names.map((n) => ({ dims: out[n]!.dims.map(Number), data: out[n]!.data as Float32Array })),
        start,
      );
    }
  } finally {
    await session.release();
  }
}
