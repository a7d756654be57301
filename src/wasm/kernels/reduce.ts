// Wrappers of assembly/reduce.ts: row sums and norms.
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

/** Which row reduction to compute. */
export type RowReduction = "sum" | "l1" | "l2";

const REDUCE_EXPORTS: Record<RowReduction, string> = {
  sum: "reduce_row_sum",
  l1: "reduce_row_l1",
  l2: "reduce_row_l2",
};

/**
 * Row reduction on arena buffers: out[r] = sum / L1 norm / L2 norm of row r of x (rows x cols, row-major).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function reduceRows(w: Wasm, kind: RowReduction, x: Buf, out: Buf, rows: number, cols: number): void {
  checkSize("reduceRows rows", rows);
  checkSize("reduceRows cols", cols);
  checkLength("reduceRows x", x, rows * cols);
  checkLength("reduceRows out", out, rows);
  w.arena.checkLive("reduceRows", x, out);
  kernel(w, REDUCE_EXPORTS[kind])(x.ptr, out.ptr, rows, cols);
}

/**
 * Row reduction of a JS array: copies in, one kernel call, copies out.
 * @param x rows x cols, row-major.
 * @returns `rows` values.
 */
export function rowReduce(
  w: Wasm,
  kind: RowReduction,
  x: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  checkLength("rowReduce x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const out = arena.allocF32(rows);
    reduceRows(w, kind, xb, out, rows, cols);
    return arena.viewF32(out).slice();
  });
}

/** Which row softmax to compute. */
export type RowSoftmax = "softmax" | "logSoftmax";

const SOFTMAX_EXPORTS: Record<RowSoftmax, string> = {
  softmax: "reduce_row_softmax",
  logSoftmax: "reduce_row_log_softmax",
};

/**
 * Row softmax or log-softmax on arena buffers (rows x cols, row-major; x and y may be the same
 * buffer), numerically stable: m = row max, s = sum of exp(x - m) in the lane order of this family;
 * softmax y = exp(x - m) / s, log-softmax y = (x - m) - log(s).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function softmaxRows(w: Wasm, kind: RowSoftmax, x: Buf, y: Buf, rows: number, cols: number): void {
  checkSize("softmaxRows rows", rows);
  checkSize("softmaxRows cols", cols);
  checkLength("softmaxRows x", x, rows * cols);
  checkLength("softmaxRows y", y, rows * cols);
  w.arena.checkLive("softmaxRows", x, y);
  kernel(w, SOFTMAX_EXPORTS[kind])(x.ptr, y.ptr, rows, cols);
}

/**
 * Row softmax or log-softmax of a JS array: copies in, one kernel call, copies out.
 * @param x rows x cols, row-major.
 * @returns rows x cols values.
 * @example
 * rowSoftmax(w, "softmax", Float32Array.of(0, 0), 1, 2); // [0.5, 0.5]
 */
export function rowSoftmax(
  w: Wasm,
  kind: RowSoftmax,
  x: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  checkLength("rowSoftmax x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    softmaxRows(w, kind, xb, xb, rows, cols);
    return arena.viewF32(xb).slice();
  });
}
