// Neuron Merging kernels on a layer's filter vectors given as weight rows plus an optional appended
// value per row (the bias of docs/methods.md §2.4): the rows are copied straight into wasm memory, so
// the N x (D + 1) matrix is never built in JS, and only the rows a kernel reads are copied. Each result
// is bit-identical to kernels/reduce.ts rowReduce / kernels/merge.ts mergePartners on the built matrix:
// the same kernels run on the same row contents (row reductions and cosines are per row, independent
// of where a row sits).
import { PrunekitError } from "../../errors.ts";
import type { Arena, Buf } from "../arena.ts";
import { checkIndices, checkLength, checkSize } from "../check.ts";
import { type Wasm, withArena } from "../instance.ts";
import { distanceCosineCross } from "./distance.ts";
import {
  checkMergeBn,
  type MergeBnFormula,
  type MergeBnParams,
  type MergePartners,
  type MergeSelectBufs,
  selectMergePartners,
} from "./merge.ts";
import { type RowReduction, reduceRows } from "./reduce.ts";

/** Filter vectors v_n = [weights_n ; appended_n], or v_n = weights_n without `appended`. */
export interface FilterVectors {
  /** rows x cols f32, row-major: row n holds filter n's weights. May be larger (only the start is read). */
  weights: Float32Array;
  /** N, the number of filters. */
  rows: number;
  /** D, weights per filter. */
  cols: number;
  /** One value per filter appended to its vector (the bias, §2.4), or undefined. */
  appended?: ArrayLike<number> | undefined;
}

/** The vector length (D, or D + 1 with `appended`), after checking the sizes. */
function vectorLen(what: string, v: FilterVectors): number {
  checkSize(`${what} rows`, v.rows);
  checkSize(`${what} cols`, v.cols);
  if (v.weights.length < v.rows * v.cols) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: weights has ${v.weights.length} elements, expected at least ${v.rows} x ${v.cols} = ${v.rows * v.cols}`,
    );
  }
  if (v.appended === undefined) return v.cols;
  checkLength(`${what} appended`, v.appended, v.rows);
  return v.cols + 1;
}

/** Copy vectors `index[i]` (every vector in order when undefined) into `dst`, one row of `len` each. */
function copyVectorsIn(arena: Arena, v: FilterVectors, index: ArrayLike<number> | undefined, dst: Buf): void {
  const out = arena.viewF32(dst);
  const d = v.cols;
  const appended = v.appended;
  if (index === undefined && appended === undefined) {
    out.set(v.weights.subarray(0, v.rows * d));
    return;
  }
  const len = appended === undefined ? d : d + 1;
  const count = index === undefined ? v.rows : index.length;
  for (let i = 0; i < count; i++) {
    const row = index === undefined ? i : index[i]!;
    out.set(v.weights.subarray(row * d, row * d + d), i * len);
    if (appended !== undefined) out[i * len + d] = appended[row]!;
  }
}

/**
 * Row L1 or L2 norms of filter vectors (reduce_row_l1 / reduce_row_l2), as rowReduce returns them
 * for the built N x len matrix.
 * @returns N values.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * filterVectorNorms(w, "l1", { weights: Float32Array.of(1, -2, 3, 4), rows: 2, cols: 2, appended: [1, -1] });
 * // [4, 8]
 */
export function filterVectorNorms(
  w: Wasm,
  kind: Exclude<RowReduction, "sum">,
  v: FilterVectors,
): Float32Array {
  const len = vectorLen("filterVectorNorms", v);
  return withArena(w, (arena) => {
    const x = arena.allocF32(v.rows * len);
    const out = arena.allocF32(v.rows);
    copyVectorsIn(arena, v, undefined, x);
    reduceRows(w, kind, x, out, v.rows, len);
    return arena.viewF32(out).slice();
  });
}

/**
 * Neuron Merging partner search of one layer (docs/methods.md §2.4 / §2.5), as kernels/merge.ts mergePartners
 * on the built vectors, in one arena session: the removed and kept vectors are copied in (once each),
 * their L2 norms (reduce_row_l2), the removed x kept cosines (distance_cosine_cross), then
 * merge_select_plain, or merge_select_bn when `bn` is given.
 * @param removed original indices of the removed filters. @param kept original indices of the kept ones.
 * @returns partner kept positions (or -1) and scales, one per entry of `removed`.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, bad indices or bad BatchNorm entries.
 * @example
 * filterVectorPartners(w, { weights: Float32Array.of(1, 2, 2, 4), rows: 2, cols: 2 }, [0], [1], { threshold: 0.45 });
 * // partner [0], scale [0.5]
 */
export function filterVectorPartners(
  w: Wasm,
  v: FilterVectors,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: { threshold: number; bn?: MergeBnParams | undefined; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  const len = vectorLen("filterVectorPartners", v);
  const n = v.rows;
  checkIndices("filterVectorPartners removed", removed, n);
  checkIndices("filterVectorPartners kept", kept, n);
  const bn = opts.bn;
  if (bn !== undefined) checkMergeBn("filterVectorPartners", bn, n);
  const r = removed.length;
  const p = kept.length;
  return withArena(w, (arena) => {
    const xr = arena.allocF32(r * len);
    const xk = arena.allocF32(p * len);
    const normR = arena.allocF32(r);
    const normK = arena.allocF32(p);
    const bufs: MergeSelectBufs = {
      cos: arena.allocF32(r * p),
      norm: arena.allocF32(n),
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(r),
      scale: arena.allocF64(r),
    };
    const scratch = arena.allocF32((r + p) * len);
    copyVectorsIn(arena, v, removed, xr);
    copyVectorsIn(arena, v, kept, xk);
    reduceRows(w, "l2", xr, normR, r, len);
    reduceRows(w, "l2", xk, normK, p, len);
    // The selection reads norm[removed[i]] and norm[kept[j]] only.
    const norm = arena.viewF32(bufs.norm);
    norm.fill(0);
    const nr = arena.viewF32(normR);
    const nk = arena.viewF32(normK);
    for (let i = 0; i < r; i++) norm[removed[i]!] = nr[i]!;
    for (let j = 0; j < p; j++) norm[kept[j]!] = nk[j]!;
    distanceCosineCross(w, xr, xk, bufs.cos, scratch, r, p, len);
    return selectMergePartners(w, arena, bufs, opts);
  });
}
