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
