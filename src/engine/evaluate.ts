// Classification accuracy of a compiled model over a labelled image source, batch by batch, and the
// side-by-side comparison of two models on the same images (the first thing to run after pruning).
import { PrunekitError } from "../errors.ts";
import type { ProgressCallback } from "../progress.ts";
import type { CompiledModel } from "./compile.ts";
import { ware } from "./metrics.ts";

/** Labelled images, preprocessed on demand for the model's input. */
export interface LabeledSource {
  /** Images available. */
  readonly count: number;
  /** Write images [start, start + n) into `out` (n × the model's per-image input length, NCHW). */
  fill(start: number, n: number, out: Float32Array): void;
  /** Class id of image i. */
  label(i: number): number;
}

/** What the model's output holds, which decides how the loss is computed. */
export type OutputKind = "logits" | "probabilities" | "log-probabilities";

/** Options of {@link evaluateCompiled}. */
export interface EvaluateOptions {
  /** Evaluate the first N images only. */
  limit?: number;
  /** What the first output holds; default `logits` (cross-entropy applies a log-softmax). */
  outputKind?: OutputKind;
  /** Keep every image's output row (needed by compare); default false. */
  keepOutputs?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Extra runners of the same model (worker threads, see parallel.ts EvalWorkers): batches are handed
   * to whichever is free, outputs are scored in image order, so the result is the same bits as with
   * the compiled model alone.
   */
  runners?: readonly BatchRunner[];
}

/** Runs whole batches of a model somewhere else (a worker): batch × input elements in, outputs out. */
export interface BatchRunner {
  run(x: Float32Array): Promise<Float32Array>;
}

/** Accuracy and loss over the images evaluated. */
export interface EvaluationResult {
  /** Fraction of images whose highest output is the label, in [0, 1]. */
  top1: number;
  /** Fraction whose label is among the five highest outputs (every class when there are at most 5). */
  top5: number;
  /** Mean cross-entropy (natural log). */
  loss: number;
  /** Images evaluated. */
  images: number;
  /** Outputs per image. */
  classes: number;
  /** Images per second of wall time, preprocessing included. */
  imagesPerSecond: number;
  /** Seconds of wall time. */
  seconds: number;
  /** Predicted class (argmax, first on ties) of every image. */
  predictions: Int32Array;
  /** images × classes outputs, when `keepOutputs` was set. */
  outputs?: Float32Array;
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new PrunekitError("ABORTED", "evaluation was cancelled");
}

/**
 * Evaluate a compiled classifier: run it batch by batch (the last batch zero-filled past the end), and
 * score its first output against the labels.
 * @throws PrunekitError `INVALID_ARGUMENT` (limit, a model without a [batch, classes] output, a label out
 *   of range), `ABORTED` when the signal fires (checked between batches).
 */
export async function evaluateCompiled(
  model: CompiledModel,
  source: LabeledSource,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const limit = options.limit ?? source.count;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `limit must be a non-negative integer, got ${String(options.limit)}`,
    );
  }
  const count = Math.min(limit, source.count);
  const input = model.inputs[0];
  const output = model.outputs[0];
  if (input === undefined || output === undefined || model.inputs.length !== 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "evaluation needs a model with one input and at least one output",
    );
  }
  const batch = model.batch;
  const classes = output.dims.slice(1).reduce((a, b) => a * b, 1);
  if (output.dims[0] !== batch || classes < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `the first output ${JSON.stringify(output.name)} has dims [${output.dims.join(", ")}], expected [batch, classes]`,
    );
  }
  const perImage = input.dims.slice(1).reduce((a, b) => a * b, 1);
  const x = new Float32Array(batch * perImage);
  const predictions = new Int32Array(count);
  const outputs = options.keepOutputs === true ? new Float32Array(count * classes) : undefined;
  const kind = options.outputKind ?? "logits";
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  const started = Date.now();
  options.onProgress?.({ phase: "evaluate", done: 0, total: count });
  const score = (y: Float32Array, start: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const row = y.subarray(i * classes, (i + 1) * classes);
      const label = source.label(start + i);
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `image ${start + i} has label ${label}, but the model has ${classes} outputs`,
        );
      }
      let best = 0;
      let above = 0;
      for (let c = 0; c < classes; c++) {
        if (row[c]! > row[best]!) best = c;
        if (row[c]! > row[label]! || (row[c] === row[label] && c < label)) above++;
      }
      predictions[start + i] = best;
      if (best === label) top1++;
      if (above < 5) top5++;
      lossSum += crossEntropy(row, label, kind);
      outputs?.set(row, (start + i) * classes);
    }
    options.onProgress?.({ phase: "evaluate", done: start + n, total: count });
  };
  const fillBatch = (buf: Float32Array, start: number, n: number) => {
    if (n < batch) buf.fill(0);
    source.fill(start, n, buf.subarray(0, n * perImage));
  };
  const runners = options.runners ?? [];
  if (runners.length === 0) {
    for (let start = 0; start < count; start += batch) {
      checkAborted(options.signal);
      const n = Math.min(batch, count - start);
      fillBatch(x, start, n);
      score(model.run({ [input.name]: x })[output.name]!, start, n);
      await nextTask();
    }
  } else {
    // Every runner (this thread's compiled model among them) takes the next batch when free; scores
    // are added in image order.
    const starts: number[] = [];
    for (let start = 0; start < count; start += batch) starts.push(start);
    const results = new Map<number, Float32Array>();
    let next = 0;
    let scored = 0;
    const flush = () => {
      while (scored < starts.length && results.has(starts[scored]!)) {
        const start = starts[scored]!;
        score(results.get(start)!, start, Math.min(batch, count - start));
        results.delete(start);
        scored++;
      }
    };
    const local: BatchRunner = {
      run: async (buf) => {
        await nextTask();
        return model.run({ [input.name]: buf })[output.name]!;
      },
    };
    // Two batches in flight per worker: while this thread computes one of its own, a worker that
    // finishes still has the next batch queued instead of waiting for this thread to hand it one.
    const lanes = [local, ...runners.flatMap((r) => [r, r])].map(async (r) => {
      while (next < starts.length) {
        checkAborted(options.signal);
        const start = starts[next++]!;
        const n = Math.min(batch, count - start);
        const buf = new Float32Array(batch * perImage);
        fillBatch(buf, start, n);
        results.set(start, await r.run(buf));
        flush();
      }
    });
    await Promise.all(lanes);
  }
  const seconds = (Date.now() - started) / 1000;
  return {
    top1: count === 0 ? 0 : top1 / count,
    top5: count === 0 ? 0 : top5 / count,
    loss: count === 0 ? 0 : lossSum / count,
    images: count,
    classes,
    imagesPerSecond: seconds > 0 ? count / seconds : 0,
    seconds,
    predictions,
    ...(outputs === undefined ? {} : { outputs }),
  };
}

/** −log p(label) of one output row, in float64. */
export function crossEntropy(row: Float32Array, label: number, kind: OutputKind): number {
  if (kind === "probabilities") return -Math.log(Math.max(row[label]!, 1e-45));
  if (kind === "log-probabilities") return -row[label]!;
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < row.length; c++) max = Math.max(max, row[c]!);
  let sum = 0;
  for (let c = 0; c < row.length; c++) sum += Math.exp(row[c]! - max);
  return Math.log(sum) + max - row[label]!;
}

/** Both models' results and how their outputs differ. */
export interface ComparisonResult {
  a: EvaluationResult;
  b: EvaluationResult;
  /** Fraction of images on which both predict the same class. */
  agreement: number;
  /** WARE of b's outputs against a's (docs/methods.md §2.8, zero outputs skipped). */
  ware: number;
  /** Largest |b − a| over every output of every image. */
  maxAbsDiff: number;
  /** Mean |b − a| over every output of every image. */
  meanAbsDiff: number;
}

/**
 * Evaluate two compiled models on the same images and compare their outputs.
 * @throws PrunekitError `INVALID_ARGUMENT` when their outputs per image differ.
 */
export async function compareCompiled(
  a: CompiledModel,
  b: CompiledModel,
  source: LabeledSource,
  options: Omit<EvaluateOptions, "keepOutputs"> = {},
): Promise<ComparisonResult> {
  const progress = (phase: string) =>
    options.onProgress === undefined
      ? undefined
      : (e: { done: number; total: number }) => options.onProgress?.({ phase, done: e.done, total: e.total });
  const ra = await evaluateCompiled(a, source, {
    ...options,
    keepOutputs: true,
    onProgress: progress("evaluate a"),
  });
  const rb = await evaluateCompiled(b, source, {
    ...options,
    keepOutputs: true,
    onProgress: progress("evaluate b"),
  });
  if (ra.classes !== rb.classes) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `the models have ${ra.classes} and ${rb.classes} outputs per image`,
    );
  }
  const oa = ra.outputs!;
  const ob = rb.outputs!;
  let agree = 0;
  for (let i = 0; i < ra.images; i++) if (ra.predictions[i] === rb.predictions[i]) agree++;
  let maxAbs = 0;
  let sumAbs = 0;
  for (let i = 0; i < oa.length; i++) {
    const d = Math.abs(ob[i]! - oa[i]!);
    if (d > maxAbs || Number.isNaN(d)) maxAbs = d;
    sumAbs += d;
  }
  const w = ra.images === 0 ? 0 : ware(oa, ob, ra.images, ra.classes, { zeroPolicy: "skip" }).ware;
  return {
    a: ra,
    b: rb,
    agreement: ra.images === 0 ? 0 : agree / ra.images,
    ware: w,
    maxAbsDiff: maxAbs,
    meanAbsDiff: oa.length === 0 ? 0 : sumAbs / oa.length,
  };
}
