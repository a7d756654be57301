// Shared steps of every pruning method: how many filters to keep, and which (docs/methods.md §2.3).
import { PrunekitError } from "../errors.ts";
import type { Wasm } from "../wasm/instance.ts";
import { pairwiseSqEuclidean } from "../wasm/kernels/distance.ts";
import { type FilterVectors, filterVectorNorms } from "../wasm/kernels/filter-vectors.ts";
import { rowReduce } from "../wasm/kernels/reduce.ts";

/**
 * Filter-importance criterion (docs/methods.md §2.3):
 * - `l1`: keep the largest Σ|v_n|;
 * - `l2`: keep the largest ‖v_n‖₂;
 * - `gm`: l2 geometric-median style, d_n = Σ_m ‖v_n − v_m‖₂, keep the largest d_n
 *   (i.e. remove the filters closest to the geometric median).
 */
export type Criterion = "l1" | "l2" | "gm";

/**
 * How P = N·(1 − r) becomes an integer (docs/methods.md §2.3 "Float caveat"), evaluated in float64:
 * - `round`: half-to-even, exactly like Python's `round` (LeNet-style MLP recipes);
 * - `floor`: plain floor, so `floor(100·(1 − 0.9))` is 9 as in the reference (ResNet stage configs);
 * - `corrected`: snap values within 1e-9 of an integer to it, then floor, so 100·(1 − 0.9) gives 10.
 *   Snapping never changes a `round` result (a value within 1e-9 of an integer already rounds to it),
 *   so the corrected mode is the corrected `floor`.
 */
export type KeptRounding = "round" | "floor" | "corrected";

/** Distance to an integer below which `corrected` snaps (docs/methods.md §2.3). */
const SNAP = 1e-9;

/**
 * Python's `round(x)` for a float64: nearest integer, halves to even.
 * `x − floor(x)` is exact for every double, so the half test is exact too.
 */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Number of filters to keep out of `n` when removing the fraction `ratioRemoved` (docs/methods.md §2.3).
 * Computes `n * (1 - ratioRemoved)` in float64 exactly as the reference did, applies `rounding`, then
 * clamps to [1, n] (every pruned layer keeps at least one channel, §0).
 *
 * @param n filters in the layer (positive integer).
 * @param ratioRemoved fraction of filters to remove, in [0, 1].
 * @param rounding see {@link KeptRounding}.
 * @returns P in [1, n].
 * @throws PrunekitError `INVALID_ARGUMENT` if n is not a positive integer or the ratio is outside [0, 1].
 * @example
 * keptCount(100, 0.9, "floor"); // 9, as the reference computed it
 * keptCount(100, 0.9, "corrected"); // 10
 * keptCount(5, 0.5, "round"); // 2 (round(2.5) is 2, half to even)
 */
export function keptCount(n: number, ratioRemoved: number, rounding: KeptRounding): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `keptCount: filter count must be a positive integer, got ${n}`,
    );
  }
  if (!(ratioRemoved >= 0 && ratioRemoved <= 1)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `keptCount: ratioRemoved must be in [0, 1] (fraction of filters removed), got ${ratioRemoved}`,
    );
  }
  const exact = n * (1 - ratioRemoved);
  let p: number;
  if (rounding === "round") p = roundHalfEven(exact);
  else if (rounding === "floor") p = Math.floor(exact);
  else if (rounding === "corrected") {
    const nearest = Math.round(exact);
    p = Math.abs(exact - nearest) <= SNAP ? nearest : Math.floor(exact);
  } else {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `keptCount: rounding must be "round", "floor" or "corrected", got ${String(rounding)}`,
    );
  }
  return Math.min(n, Math.max(1, p));
}

/**
 * A kept count P fitted to a block constraint (graph/group.ts DependencyGroup.blocks, from grouped convs):
 * rounded down to a multiple of `blocks`, and at least `blocks`, so every block keeps P / blocks.
 *
 * @param count P as the method computed it (e.g. {@link keptCount}), in [1, n].
 * @param blocks number of equal blocks (1: unconstrained); divides n.
 * @returns P' ≤ max(P, blocks), a positive multiple of `blocks`.
 * @example
 * blockKeptCount(11, 4); // 8
 * blockKeptCount(3, 4); // 4
 */
export function blockKeptCount(count: number, blocks: number): number {
  return Math.max(blocks, count - (count % blocks));
}

/**
 * The `count` best filters under per-filter `scores` when `blocks` contiguous equal blocks must each keep
 * count / blocks (grouped convs): {@link topIndices} inside every block, ties by lower index, ascending.
 * With `blocks` = 1 this is topIndices.
 *
 * @param scores one score per filter; its length is a multiple of `blocks`.
 * @param count how many to keep, a multiple of `blocks` in [0, scores.length].
 * @param blocks number of blocks (≥ 1).
 * @throws PrunekitError `INVALID_ARGUMENT` if count or blocks do not fit.
 * @example
 * topIndicesInBlocks([3, 1, 3, 2], 2, 2); // [0, 2]
 */
export function topIndicesInBlocks(scores: ArrayLike<number>, count: number, blocks: number): number[] {
  if (blocks === 1) return topIndices(scores, count);
  const n = scores.length;
  if (!Number.isInteger(blocks) || blocks < 1 || n % blocks !== 0 || count % blocks !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `topIndicesInBlocks: ${n} filters in ${blocks} blocks cannot keep ${count} (need a multiple of the block count)`,
    );
  }
  const len = n / blocks;
  const out: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const block = Array.from({ length: len }, (_, i) => scores[b * len + i]!);
    for (const i of topIndices(block, count / blocks)) out.push(b * len + i);
  }
  return out;
}

/**
 * Importance score of every filter under `criterion` (larger = more important), docs/methods.md §2.3.
 * Norms run in the reduce kernels (f32); `gm` sums square roots of the f64 pairwise squared
 * distances from the distance kernel, in float64.
 *
 * @param vectors n x d, row-major: one flattened filter per row. The caller decides what a row holds
 *   (Neuron Merging appends the bias as an extra coordinate when the layer has no BatchNorm, §2.4).
 * @returns n scores.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function filterScores(
  wasm: Wasm,
  criterion: Criterion,
  vectors: Float32Array,
  n: number,
  d: number,
): Float64Array {
  checkMatrix("filterScores", vectors, n, d);
  if (criterion === "l1" || criterion === "l2") {
    return Float64Array.from(rowReduce(wasm, criterion, vectors, n, d));
  }
  if (criterion === "gm") {
    const sq = pairwiseSqEuclidean(wasm, vectors, n, d);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.sqrt(sq[i * n + j]!);
      out[i] = s;
    }
    return out;
  }
  throw new PrunekitError(
    "INVALID_ARGUMENT",
    `filterScores: criterion must be "l1", "l2" or "gm", got ${String(criterion)}`,
  );
}

/**
 * Indices of the `count` largest scores, ties broken by lower index, returned ascending (§2.3).
 *
 * @param scores one score per filter (NaN never wins).
 * @param count how many to keep, in [0, scores.length].
 * @throws PrunekitError `INVALID_ARGUMENT` if count is out of range.
 * @example
 * topIndices([3, 1, 3, 2], 2); // [0, 2]
 */
export function topIndices(scores: ArrayLike<number>, count: number): number[] {
  const n = scores.length;
  if (!Number.isInteger(count) || count < 0 || count > n) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `topIndices: count must be an integer in [0, ${n}], got ${count}`,
    );
  }
  const key = (i: number): number => {
    const s = scores[i]!;
    return Number.isNaN(s) ? Number.NEGATIVE_INFINITY : s;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka !== kb) return ka > kb ? -1 : 1;
    return a - b;
  });
  return order.slice(0, count).sort((a, b) => a - b);
}

/**
 * The kept set of one layer: the `count` most important filters under `criterion`, ascending
 * (docs/methods.md §2.3; ties by lower index).
 *
 * @param vectors n x d, row-major, one flattened filter per row (see {@link filterScores}).
 * @param count P, in [1, n] (use {@link keptCount}); a multiple of `blocks`.
 * @param blocks equal blocks that each keep count / blocks (grouped convs, {@link topIndicesInBlocks}).
 * @returns P original filter indices, ascending.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a count outside [1, n].
 * @example
 * const keep = selectKept(await getWasm(), "l1", Float32Array.of(1, 0, 5, 5, 2, 2), 3, 2, 2); // [1, 2]
 */
export function selectKept(
  wasm: Wasm,
  criterion: Criterion,
  vectors: Float32Array,
  n: number,
  d: number,
  count: number,
  blocks = 1,
): number[] {
  checkKeptCount(count, n);
  return topIndicesInBlocks(filterScores(wasm, criterion, vectors, n, d), count, blocks);
}

function checkKeptCount(count: number, n: number): void {
  if (!Number.isInteger(count) || count < 1 || count > n) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `selectKept: kept count must be an integer in [1, ${n}], got ${count}`,
    );
  }
}

/**
 * {@link selectKept} on filter vectors given as weight rows plus an optional appended value per row
 * (the bias, §2.4). For `l1` and `l2` the N x (D + 1) matrix is never built in JS (the norms come from
 * wasm/kernels/filter-vectors.ts filterVectorNorms, the same kernel on the same rows); `gm` builds it.
 *
 * @param v the vectors. @param count P, in [1, N]. @param blocks as in {@link selectKept}.
 * @returns P original filter indices, ascending; the same as selectKept on the built vectors.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a count outside [1, N].
 * @example
 * selectKeptOfVectors(await getWasm(), "l1", { weights: Float32Array.of(1, 0, 5, 5, 2, 2), rows: 3, cols: 2 }, 2);
 * // [1, 2]
 */
export function selectKeptOfVectors(
  wasm: Wasm,
  criterion: Criterion,
  v: FilterVectors,
  count: number,
  blocks = 1,
): number[] {
  checkKeptCount(count, v.rows);
  if (criterion === "l1" || criterion === "l2") {
    return topIndicesInBlocks(Float64Array.from(filterVectorNorms(wasm, criterion, v)), count, blocks);
  }
  const d = v.appended === undefined ? v.cols : v.cols + 1;
  return topIndicesInBlocks(filterScores(wasm, criterion, buildVectors(v), v.rows, d), count, blocks);
}

/** The vectors of `v` as one rows x (cols [+ 1]) matrix (a view of `v.weights` without `appended`). */
function buildVectors(v: FilterVectors): Float32Array {
  const { weights, rows, cols, appended } = v;
  if (appended === undefined) return weights.subarray(0, rows * cols);
  const len = cols + 1;
  const out = new Float32Array(rows * len);
  for (let i = 0; i < rows; i++) {
    out.set(weights.subarray(i * cols, (i + 1) * cols), i * len);
    out[i * len + cols] = appended[i]!;
  }
  return out;
}

function checkMatrix(what: string, x: { length: number }, n: number, d: number): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: sizes must be non-negative integers, got ${n} x ${d}`,
    );
  }
  if (x.length !== n * d) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: expected ${n} x ${d} = ${n * d} elements, got ${x.length}`,
    );
  }
}
