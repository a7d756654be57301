// Wrappers of assembly/select.ts: per-row argmax / argmin / median and top-k.
//
// Ranking rule shared by every select kernel: a larger value ranks higher (argmin: a smaller
// one), equal values (+0 == -0) rank by the lower index, and NaN ranks below every number.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

function checkMatrix(what: string, x: Buf, out: Buf, rows: number, cols: number): void {
  checkSize(`${what} rows`, rows);
  checkSize(`${what} cols`, cols);
  checkLength(`${what} x`, x, rows * cols);
  checkLength(`${what} out`, out, rows);
}

/**
 * Per-row argmax on arena buffers: out[r] = column of the largest value of row r. Ties: lowest
 * column; NaN is skipped unless the whole row is NaN (then 0); cols = 0 gives -1.
 * @param x rows x cols f32, row-major. @param out rows i32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function selectRowArgmax(w: Wasm, x: Buf, out: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowArgmax", x, out, rows, cols);
  w.arena.checkLive("selectRowArgmax", x, out);
  kernel(w, "select_row_argmax")(x.ptr, out.ptr, rows, cols);
}

/**
 * Per-row argmin on arena buffers; same conventions as selectRowArgmax with "smallest".
 * @param x rows x cols f32, row-major. @param out rows i32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function selectRowArgmin(w: Wasm, x: Buf, out: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowArgmin", x, out, rows, cols);
  w.arena.checkLive("selectRowArgmin", x, out);
  kernel(w, "select_row_argmin")(x.ptr, out.ptr, rows, cols);
}

/**
 * Per-row argmax over the allowed columns (mask[c] != 0, one mask for every row) on arena buffers.
 * Ties: lowest allowed column; all allowed values NaN: the first allowed column; none allowed: -1.
 * @param x rows x cols f32. @param mask cols i32. @param out rows i32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function selectRowArgmaxMasked(
  w: Wasm,
  x: Buf,
  mask: Buf,
  out: Buf,
  rows: number,
  cols: number,
): void {
  checkMatrix("selectRowArgmaxMasked", x, out, rows, cols);
  checkLength("selectRowArgmaxMasked mask", mask, cols);
  w.arena.checkLive("selectRowArgmaxMasked", x, mask, out);
  kernel(w, "select_row_argmax_masked")(x.ptr, mask.ptr, out.ptr, rows, cols);
}

/** How `topK` lists the selected indices. */
export type TopKOrder = "index" | "score";

/**
 * Top-k on arena buffers: out = the indices of the k highest-ranked of n f32 scores (larger first,
 * ties to the lower index, NaN last), ascending by index (`"index"`) or best first (`"score"`).
 * O(n log k), no scratch.
 * @param scores n f32. @param out k i32. @param k 0 <= k <= n.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or k > n; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function selectTopK(w: Wasm, scores: Buf, out: Buf, n: number, k: number, order: TopKOrder): void {
  checkSize("selectTopK n", n);
  checkSize("selectTopK k", k);
  if (k > n) throw new PrunekitError("INVALID_ARGUMENT", `selectTopK: expected k <= n = ${n}, got k = ${k}`);
  checkLength("selectTopK scores", scores, n);
  checkLength("selectTopK out", out, k);
  w.arena.checkLive("selectTopK", scores, out);
  kernel(w, order === "index" ? "select_top_k" : "select_top_k_by_score")(scores.ptr, n, k, out.ptr);
}

/**
 * Row medians on arena buffers: the middle value, or for even cols the mean of the two middle
 * values; NaN for a row holding a NaN and for cols = 0.
 * @param x rows x cols f64, row-major. @param out rows f64. @param scratch cols f64.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function selectRowMedian(w: Wasm, x: Buf, out: Buf, scratch: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowMedian", x, out, rows, cols);
  checkLength("selectRowMedian scratch", scratch, cols);
  w.arena.checkLive("selectRowMedian", x, out, scratch);
  kernel(w, "select_row_median")(x.ptr, out.ptr, scratch.ptr, rows, cols);
}

function rowArgJs(
  what: string,
  w: Wasm,
  run: (w: Wasm, x: Buf, out: Buf, rows: number, cols: number) => void,
  x: Float32Array,
  rows: number,
  cols: number,
): Int32Array {
  checkSize(`${what} rows`, rows);
  checkLength(`${what} x`, x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const out = arena.allocI32(rows);
    run(w, xb, out, rows, cols);
    return arena.viewI32(out).slice();
  });
}

/**
 * Per-row argmax of a JS matrix (ties: lowest column; NaN skipped; all-NaN row: 0; cols = 0: -1).
 * @param x rows x cols, row-major.
 * @returns rows column indices.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * rowArgmax(await getWasm(), Float32Array.of(1, 3, 3, NaN, -1, 0), 2, 3); // [1, 2]
 */
export function rowArgmax(w: Wasm, x: Float32Array, rows: number, cols: number): Int32Array {
  return rowArgJs("rowArgmax", w, selectRowArgmax, x, rows, cols);
}

/**
 * Per-row argmin of a JS matrix (ties: lowest column; NaN skipped; all-NaN row: 0; cols = 0: -1).
 * @param x rows x cols, row-major.
 * @returns rows column indices.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * rowArgmin(await getWasm(), Float32Array.of(1, 3, 1, NaN, -1, 0), 2, 3); // [0, 1]
 */
export function rowArgmin(w: Wasm, x: Float32Array, rows: number, cols: number): Int32Array {
  return rowArgJs("rowArgmin", w, selectRowArgmin, x, rows, cols);
}

/**
 * Per-row argmax of a JS matrix over the columns with mask[c] != 0 (none allowed: -1).
 * @param x rows x cols, row-major. @param mask cols flags, shared by every row.
 * @returns rows column indices.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * rowArgmaxMasked(await getWasm(), Float32Array.of(5, 1, 2), Int32Array.of(0, 1, 1), 1, 3); // [2]
 */
export function rowArgmaxMasked(
  w: Wasm,
  x: Float32Array,
  mask: Int32Array,
  rows: number,
  cols: number,
): Int32Array {
  checkLength("rowArgmaxMasked mask", mask, cols);
  return withArena(w, (arena) => {
    const mb = arena.copyInI32(mask);
    return rowArgJs(
      "rowArgmaxMasked",
      w,
      (w, xb, out, r, c) => selectRowArgmaxMasked(w, xb, mb, out, r, c),
      x,
      rows,
      cols,
    );
  });
}

/**
 * Indices of the k largest scores (ties: lower index first; NaN ranks last).
 * @param scores n values. @param k 0 <= k <= n. @param order `"index"` (ascending index, default)
 * or `"score"` (best first).
 * @returns k indices.
 * @throws PrunekitError `INVALID_ARGUMENT` if k is not in [0, n].
 * @example
 * topK(await getWasm(), Float32Array.of(0.5, 2, 2, -1), 2); // [1, 2]
 * topK(await getWasm(), Float32Array.of(0.5, 2, 3, -1), 2, "score"); // [2, 1]
 */
export function topK(w: Wasm, scores: Float32Array, k: number, order: TopKOrder = "index"): Int32Array {
  return withArena(w, (arena) => {
    checkSize("topK k", k);
    if (k > scores.length) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `topK: expected k <= ${scores.length} scores, got k = ${k}`,
      );
    }
    const sb = arena.copyInF32(scores);
    const out = arena.allocI32(k);
    selectTopK(w, sb, out, scores.length, k, order);
    return arena.viewI32(out).slice();
  });
}

/**
 * Median of every row of a float64 JS matrix (even cols: mean of the two middle values; a row with
 * a NaN: NaN). EPruner §3.2 preferences are beta times these medians.
 * @param x rows x cols, row-major.
 * @returns rows medians.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * rowMedians(await getWasm(), Float64Array.of(0, -4, -1, -9), 1, 4); // [-2.5]
 */
export function rowMedians(w: Wasm, x: Float64Array, rows: number, cols: number): Float64Array {
  checkSize("rowMedians rows", rows);
  checkLength("rowMedians x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF64(x);
    const out = arena.allocF64(rows);
    const scratch = arena.allocF64(cols);
    selectRowMedian(w, xb, out, scratch, rows, cols);
    return arena.viewF64(out).slice();
  });
}
