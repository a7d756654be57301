// Wrappers of assembly/loss.ts: mean softmax cross-entropy of a logits matrix against integer labels
// (PyTorch `F.cross_entropy` with the mean reduction), its gradient, and the top-1 correct count.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

function checkShape(what: string, rows: number, cols: number): number {
  checkSize(`${what} rows`, rows);
  checkSize(`${what} cols`, cols);
  if (rows * cols > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: rows x cols = ${rows * cols} exceeds 2^31 - 1`);
  }
  return rows * cols;
}

/** Throw INVALID_ARGUMENT naming the first row whose label is not an integer in [0, cols). */
function checkLabels(what: string, labels: ArrayLike<number>, rows: number, cols: number): void {
  checkLength(`${what} labels`, labels, rows);
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (!Number.isInteger(label) || label < 0 || label >= cols) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: row ${r} has label ${label}, expected an integer class index in [0, ${cols})`,
      );
    }
  }
}

/**
 * Mean softmax cross-entropy on arena buffers (one WASM call): returns
 * (1/rows) sum_r -log softmax(logits[r])[labels[r]] (max-subtracted, log-sum-exp in f64; 0 for rows = 0)
 * and, if `dLogits` is given, writes dLogits = (softmax(logits) - onehot(labels)) / rows.
 * @param logits rows x cols f32, row-major. @param labels `rows` i32 class indices in [0, cols).
 * @param dLogits rows x cols f32, or undefined for the loss only; may be `logits` itself, must not
 *   otherwise overlap it or overlap labels.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, a label out of range (naming the row)
 *   or an overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function softmaxCrossEntropyBuffers(
  w: Wasm,
  logits: Buf,
  labels: Buf,
  dLogits: Buf | undefined,
  rows: number,
  cols: number,
): number {
  const what = "softmaxCrossEntropy";
  const len = checkShape(what, rows, cols);
  checkLength(`${what} logits`, logits, len);
  checkLength(`${what} labels`, labels, rows);
  if (dLogits !== undefined) {
    checkLength(`${what} dLogits`, dLogits, len);
    if ((dLogits.ptr !== logits.ptr && overlaps(dLogits, logits)) || overlaps(dLogits, labels)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: dLogits overlaps labels or partly overlaps logits; pass logits itself (in place) or a disjoint buffer`,
      );
    }
  }
  w.arena.checkLive(what, logits, labels, ...(dLogits === undefined ? [] : [dLogits]));
  checkLabels(what, w.arena.viewI32(labels), rows, cols);
  return kernel(w, "loss_softmax_xent")(
    logits.ptr,
    labels.ptr,
    dLogits === undefined ? 0 : dLogits.ptr,
    rows,
    cols,
  ) as number;
}

/**
 * Mean softmax cross-entropy of JS arrays and its gradient w.r.t. the logits (copies in, one kernel
 * call, copies out).
 * @param logits rows x cols, row-major. @param labels `rows` class indices in [0, cols).
 * @returns the mean loss (f64) and dLogits = (softmax - onehot) / rows (rows x cols).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a label out of range (naming the row).
 * @example
 * softmaxCrossEntropy(w, Float32Array.of(0, 0), Int32Array.of(1), 1, 2);
 * // { loss: Math.LN2, dLogits: [0.5, -0.5] }
 */
export function softmaxCrossEntropy(
  w: Wasm,
  logits: Float32Array,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
): { loss: number; dLogits: Float32Array } {
  const len = checkShape("softmaxCrossEntropy", rows, cols);
  checkLength("softmaxCrossEntropy logits", logits, len);
  checkLabels("softmaxCrossEntropy", labels, rows, cols);
  return withArena(w, (arena) => {
    const lb = arena.copyInF32(logits);
    const loss = softmaxCrossEntropyBuffers(w, lb, arena.copyInI32(labels), lb, rows, cols);
    return { loss, dLogits: arena.viewF32(lb).slice() };
  });
}

/**
 * The number of rows whose argmax (the first maximum) equals the label, on arena buffers (one WASM call).
 * @param logits rows x cols f32, row-major. @param labels `rows` i32 class indices in [0, cols).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a label out of range (naming the row);
 *   `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function softmaxCrossEntropyCorrectBuffers(
  w: Wasm,
  logits: Buf,
  labels: Buf,
  rows: number,
  cols: number,
): number {
  const what = "softmaxCrossEntropyCorrect";
  const len = checkShape(what, rows, cols);
  checkLength(`${what} logits`, logits, len);
  checkLength(`${what} labels`, labels, rows);
  w.arena.checkLive(what, logits, labels);
  checkLabels(what, w.arena.viewI32(labels), rows, cols);
  return kernel(w, "loss_softmax_xent_correct")(logits.ptr, labels.ptr, rows, cols) as number;
}

/**
 * The number of rows of JS logits whose argmax (the first maximum) equals the label: top-1 correct.
 * @param logits rows x cols, row-major. @param labels `rows` class indices in [0, cols).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a label out of range (naming the row).
 * @example
 * softmaxCrossEntropyCorrect(w, Float32Array.of(1, 2, 5, 5), Int32Array.of(1, 1), 2, 2); // 1
 */
export function softmaxCrossEntropyCorrect(
  w: Wasm,
  logits: Float32Array,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
): number {
  const len = checkShape("softmaxCrossEntropyCorrect", rows, cols);
  checkLength("softmaxCrossEntropyCorrect logits", logits, len);
  checkLabels("softmaxCrossEntropyCorrect", labels, rows, cols);
  return withArena(w, (arena) =>
    softmaxCrossEntropyCorrectBuffers(w, arena.copyInF32(logits), arena.copyInI32(labels), rows, cols),
  );
}
