// Wrappers of assembly/reduce.ts: row sums and norms, row softmax, and the bias-gradient sums (per
// channel of an NCHW batch, per column of a matrix).
import { PrunekitError } from "../../errors.ts";
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

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

function checkProduct(what: string, len: number): void {
  if (len > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: ${len} elements exceeds 2^31 - 1`);
  }
}

/**
 * Per-channel sums of an NCHW batch on arena buffers (one WASM call): out[c] = sum over n and p of
 * x[n, c, p], in f64 in a fixed order, stored f32 (a conv's bias gradient).
 * @param x batch x channels x planeLen. @param out `channels` values, overwritten; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or an overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function channelSumBuffers(
  w: Wasm,
  x: Buf,
  out: Buf,
  batch: number,
  channels: number,
  planeLen: number,
): void {
  checkSize("channelSum batch", batch);
  checkSize("channelSum channels", channels);
  checkSize("channelSum planeLen", planeLen);
  checkProduct("channelSum x", batch * channels * planeLen);
  checkLength("channelSum x", x, batch * channels * planeLen);
  checkLength("channelSum out", out, channels);
  if (overlaps(x, out)) throw new PrunekitError("INVALID_ARGUMENT", "channelSum: out must not overlap x");
  w.arena.checkLive("channelSum", x, out);
  kernel(w, "reduce_channel_sum")(x.ptr, out.ptr, batch, channels, planeLen);
}

/**
 * Per-channel sums of an NCHW batch given as a JS array (copies in, one kernel call, copies out).
 * @param x batch x channels x planeLen (planeLen = H*W).
 * @returns `channels` values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch.
 * @example
 * channelSum(w, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 2, 2); // [1+2+5+6, 3+4+7+8] = [14, 22]
 */
export function channelSum(
  w: Wasm,
  x: Float32Array,
  batch: number,
  channels: number,
  planeLen: number,
): Float32Array {
  checkSize("channelSum channels", channels);
  return withArena(w, (arena) => {
    const out = arena.allocF32(channels);
    channelSumBuffers(w, arena.copyInF32(x), out, batch, channels, planeLen);
    return arena.viewF32(out).slice();
  });
}

/**
 * Column sums on arena buffers (one WASM call): out[j] = sum_i x[i, j], in f32 in row order (a Gemm's
 * bias gradient).
 * @param x rows x cols, row-major. @param out `cols` values, overwritten; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or an overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function colSumBuffers(w: Wasm, x: Buf, out: Buf, rows: number, cols: number): void {
  checkSize("colSum rows", rows);
  checkSize("colSum cols", cols);
  checkProduct("colSum x", rows * cols);
  checkLength("colSum x", x, rows * cols);
  checkLength("colSum out", out, cols);
  if (overlaps(x, out)) throw new PrunekitError("INVALID_ARGUMENT", "colSum: out must not overlap x");
  w.arena.checkLive("colSum", x, out);
  kernel(w, "reduce_col_sum")(x.ptr, out.ptr, rows, cols);
}

/**
 * Column sums of a JS matrix (copies in, one kernel call, copies out).
 * @param x rows x cols, row-major.
 * @returns `cols` values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch.
 * @example
 * colSum(w, Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3); // [5, 7, 9]
 */
export function colSum(w: Wasm, x: Float32Array, rows: number, cols: number): Float32Array {
  checkSize("colSum cols", cols);
  return withArena(w, (arena) => {
    const out = arena.allocF32(cols);
    colSumBuffers(w, arena.copyInF32(x), out, rows, cols);
    return arena.viewF32(out).slice();
  });
}
