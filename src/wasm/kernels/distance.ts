// Wrappers of assembly/distance.ts: Gram matrix, pairwise squared euclidean distances and cosine
// similarities between the rows of matrices.
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

/**
 * Gram matrix on arena buffers: g[i][j] = <x_i, x_j> in f32, exactly symmetric.
 * @param x rows x cols f32, row-major. @param g rows x rows f32, row-major; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distanceGram(w: Wasm, x: Buf, g: Buf, rows: number, cols: number): void {
  checkSize("distanceGram rows", rows);
  checkSize("distanceGram cols", cols);
  checkLength("distanceGram x", x, rows * cols);
  checkLength("distanceGram g", g, rows * rows);
  w.arena.checkLive("distanceGram", x, g);
  kernel(w, "distance_gram")(x.ptr, g.ptr, rows, cols);
}

/**
 * Squared euclidean distances on arena buffers: d[i][j] = |x_i - x_j|^2 accumulated in f64;
 * exactly symmetric, exact zero diagonal, never negative.
 * @param x rows x cols f32, row-major. @param d rows x rows f64, row-major; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distancePairwiseSqEuclidean(w: Wasm, x: Buf, d: Buf, rows: number, cols: number): void {
  checkSize("distancePairwiseSqEuclidean rows", rows);
  checkSize("distancePairwiseSqEuclidean cols", cols);
  checkLength("distancePairwiseSqEuclidean x", x, rows * cols);
  checkLength("distancePairwiseSqEuclidean d", d, rows * rows);
  w.arena.checkLive("distancePairwiseSqEuclidean", x, d);
  kernel(w, "distance_pairwise_sq_euclidean")(x.ptr, d.ptr, rows, cols);
}

/** f64 elements of scratch {@link distancePairwiseSqEuclideanGram} needs for rows x cols. */
export function distancePairwiseSqEuclideanGramScratchLen(w: Wasm, rows: number, cols: number): number {
  checkSize("distancePairwiseSqEuclideanGramScratchLen rows", rows);
  checkSize("distancePairwiseSqEuclideanGramScratchLen cols", cols);
  return (kernel(w, "distance_pairwise_sq_euclidean_gram_scratch_bytes")(rows, cols) as number) / 8;
}

/**
 * Squared euclidean distances by the norm trick on arena buffers (as scikit-learn's
 * `euclidean_distances(X, squared=True)` in float64): d[i][k] = max(0, |x_i|^2 + |x_k|^2 - 2<x_i, x_k>)
 * with a cache-blocked f64 Gram; exactly symmetric, exact zero diagonal, exactly 0 between identical rows.
 * @param x rows x cols f32, row-major. @param d rows x rows f64, row-major; must not overlap x.
 * @param scratch {@link distancePairwiseSqEuclideanGramScratchLen} f64.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distancePairwiseSqEuclideanGram(
  w: Wasm,
  x: Buf,
  d: Buf,
  scratch: Buf,
  rows: number,
  cols: number,
): void {
  checkSize("distancePairwiseSqEuclideanGram rows", rows);
  checkSize("distancePairwiseSqEuclideanGram cols", cols);
  checkLength("distancePairwiseSqEuclideanGram x", x, rows * cols);
  checkLength("distancePairwiseSqEuclideanGram d", d, rows * rows);
  checkLength(
    "distancePairwiseSqEuclideanGram scratch",
    scratch,
    distancePairwiseSqEuclideanGramScratchLen(w, rows, cols),
  );
  w.arena.checkLive("distancePairwiseSqEuclideanGram", x, d, scratch);
  kernel(w, "distance_pairwise_sq_euclidean_gram")(x.ptr, d.ptr, scratch.ptr, rows, cols);
}

/**
 * Cosine similarity on arena buffers: cos[i][j] = <x_i, x_j> / (|x_i| |x_j|) in f32, clamped to
 * [-1, 1], exactly symmetric. A zero row has similarity 0 with every row (itself included); a
 * non-zero row has exactly 1 with itself.
 * @param x rows x cols f32. @param cos rows x rows f32. @param scratch rows * cols f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distanceCosine(w: Wasm, x: Buf, cos: Buf, scratch: Buf, rows: number, cols: number): void {
  checkSize("distanceCosine rows", rows);
  checkSize("distanceCosine cols", cols);
  checkLength("distanceCosine x", x, rows * cols);
  checkLength("distanceCosine cos", cos, rows * rows);
  checkLength("distanceCosine scratch", scratch, rows * cols);
  w.arena.checkLive("distanceCosine", x, cos, scratch);
  kernel(w, "distance_cosine")(x.ptr, cos.ptr, scratch.ptr, rows, cols);
}

/**
 * Cosine similarity between the rows of x and of y on arena buffers (xRows x yRows f32 output,
 * clamped to [-1, 1]); a zero row has similarity 0 with every row of the other matrix.
 * @param x xRows x cols f32. @param y yRows x cols f32 (may alias x).
 * @param cos xRows x yRows f32. @param scratch (xRows + yRows) * cols f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distanceCosineCross(
  w: Wasm,
  x: Buf,
  y: Buf,
  cos: Buf,
  scratch: Buf,
  xRows: number,
  yRows: number,
  cols: number,
): void {
  checkSize("distanceCosineCross xRows", xRows);
  checkSize("distanceCosineCross yRows", yRows);
  checkSize("distanceCosineCross cols", cols);
  checkLength("distanceCosineCross x", x, xRows * cols);
  checkLength("distanceCosineCross y", y, yRows * cols);
  checkLength("distanceCosineCross cos", cos, xRows * yRows);
  checkLength("distanceCosineCross scratch", scratch, (xRows + yRows) * cols);
  w.arena.checkLive("distanceCosineCross", x, y, cos, scratch);
  kernel(w, "distance_cosine_cross")(x.ptr, y.ptr, cos.ptr, scratch.ptr, xRows, yRows, cols);
}

/**
 * Normalise rows on arena buffers (distance_normalize_rows): u_r = x_r / |x_r|, the norm summed in f64,
 * exactly the rows the cosine kernels work on; a zero row stays zero.
 * @param x rows x cols f32. @param u rows x cols f32: x itself (in place) or a buffer not overlapping it.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distanceNormalizeRows(w: Wasm, x: Buf, u: Buf, rows: number, cols: number): void {
  checkSize("distanceNormalizeRows rows", rows);
  checkSize("distanceNormalizeRows cols", cols);
  checkLength("distanceNormalizeRows x", x, rows * cols);
  checkLength("distanceNormalizeRows u", u, rows * cols);
  w.arena.checkLive("distanceNormalizeRows", x, u);
  kernel(w, "distance_normalize_rows")(x.ptr, u.ptr, rows, cols);
}

/**
 * Cosines of rows already normalised by {@link distanceNormalizeRows}, on arena buffers
 * (distance_cosine_cross_unit): cos[i][j] = <u_i, v_j> clamped to [-1, 1]. Each entry has the bits
 * {@link distanceCosineCross} gives on the unnormalised rows, whatever rows a call covers, so a large
 * removed x kept product can be computed block by block (and on several instances).
 * @param u uRows x cols f32. @param v vRows x cols f32 (may alias u). @param cos uRows x vRows f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function distanceCosineCrossUnit(
  w: Wasm,
  u: Buf,
  v: Buf,
  cos: Buf,
  uRows: number,
  vRows: number,
  cols: number,
): void {
  checkSize("distanceCosineCrossUnit uRows", uRows);
  checkSize("distanceCosineCrossUnit vRows", vRows);
  checkSize("distanceCosineCrossUnit cols", cols);
  checkLength("distanceCosineCrossUnit u", u, uRows * cols);
  checkLength("distanceCosineCrossUnit v", v, vRows * cols);
  checkLength("distanceCosineCrossUnit cos", cos, uRows * vRows);
  w.arena.checkLive("distanceCosineCrossUnit", u, v, cos);
  kernel(w, "distance_cosine_cross_unit")(u.ptr, v.ptr, cos.ptr, uRows, vRows, cols);
}

/**
 * Gram matrix X X^T of a JS matrix.
 * @param x rows x cols, row-major.
 * @returns rows x rows f32, row-major, exactly symmetric.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const g = gramMatrix(await getWasm(), Float32Array.of(1, 2, 3, 4), 2, 2); // [5, 11, 11, 25]
 */
export function gramMatrix(w: Wasm, x: Float32Array, rows: number, cols: number): Float32Array {
  checkSize("gramMatrix rows", rows);
  checkLength("gramMatrix x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const g = arena.allocF32(rows * rows);
    distanceGram(w, xb, g, rows, cols);
    return arena.viewF32(g).slice();
  });
}

/**
 * Squared euclidean distances between the rows of a JS matrix, in float64 (EPruner §3.2).
 * @param x rows x cols, row-major.
 * @returns rows x rows f64, row-major: symmetric, zero diagonal, non-negative.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const d = pairwiseSqEuclidean(await getWasm(), Float32Array.of(0, 0, 3, 4), 2, 2); // [0, 25, 25, 0]
 */
export function pairwiseSqEuclidean(w: Wasm, x: Float32Array, rows: number, cols: number): Float64Array {
  checkSize("pairwiseSqEuclidean rows", rows);
  checkLength("pairwiseSqEuclidean x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const d = arena.allocF64(rows * rows);
    distancePairwiseSqEuclidean(w, xb, d, rows, cols);
    return arena.viewF64(d).slice();
  });
}

/**
 * Squared euclidean distances between the rows of a JS matrix by the norm trick in float64, the way
 * scikit-learn computes `euclidean_distances(X, squared=True)` (EPruner's default similarity, §3.2).
 * Up to rounding equal to {@link pairwiseSqEuclidean}, but rows much closer to each other than to the
 * origin lose precision to cancellation (relative error about 1e-16·(|x_i|² + |x_k|²)/d).
 * @param x rows x cols, row-major.
 * @returns rows x rows f64, row-major: symmetric, zero diagonal, non-negative, 0 between identical rows.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const d = pairwiseSqEuclideanGram(await getWasm(), Float32Array.of(0, 0, 3, 4), 2, 2); // [0, 25, 25, 0]
 */
export function pairwiseSqEuclideanGram(w: Wasm, x: Float32Array, rows: number, cols: number): Float64Array {
  checkSize("pairwiseSqEuclideanGram rows", rows);
  checkLength("pairwiseSqEuclideanGram x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const d = arena.allocF64(rows * rows);
    const scratch = arena.allocF64(distancePairwiseSqEuclideanGramScratchLen(w, rows, cols));
    distancePairwiseSqEuclideanGram(w, xb, d, scratch, rows, cols);
    return arena.viewF64(d).slice();
  });
}

/**
 * Cosine similarity between the rows of a JS matrix (zero rows: 0 everywhere, itself included).
 * @param x rows x cols, row-major.
 * @returns rows x rows f32, row-major, in [-1, 1].
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const c = cosineSimilarity(await getWasm(), Float32Array.of(1, 0, 2, 0, 0, 0), 3, 2);
 * // [1, 1, 0,  1, 1, 0,  0, 0, 0]
 */
export function cosineSimilarity(w: Wasm, x: Float32Array, rows: number, cols: number): Float32Array {
  checkSize("cosineSimilarity rows", rows);
  checkLength("cosineSimilarity x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const cos = arena.allocF32(rows * rows);
    const scratch = arena.allocF32(rows * cols);
    distanceCosine(w, xb, cos, scratch, rows, cols);
    return arena.viewF32(cos).slice();
  });
}

/**
 * Cosine similarity of every row of x against every row of y (neuron merging: pruned x kept).
 * @param x xRows x cols, row-major. @param y yRows x cols, row-major.
 * @returns xRows x yRows f32, row-major, in [-1, 1]; 0 wherever either row is zero.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const c = cosineSimilarityCross(await getWasm(), Float32Array.of(1, 1), Float32Array.of(2, 2, 1, 0), 1, 2, 2);
 * // [1, 0.7071]
 */
export function cosineSimilarityCross(
  w: Wasm,
  x: Float32Array,
  y: Float32Array,
  xRows: number,
  yRows: number,
  cols: number,
): Float32Array {
  checkSize("cosineSimilarityCross xRows", xRows);
  checkSize("cosineSimilarityCross yRows", yRows);
  checkLength("cosineSimilarityCross x", x, xRows * cols);
  checkLength("cosineSimilarityCross y", y, yRows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const yb = arena.copyInF32(y);
    const cos = arena.allocF32(xRows * yRows);
    const scratch = arena.allocF32((xRows + yRows) * cols);
    distanceCosineCross(w, xb, yb, cos, scratch, xRows, yRows, cols);
    return arena.viewF32(cos).slice();
  });
}

/**
 * The rows of a JS matrix normalised to unit length as the cosine kernels normalise them (norm in f64,
 * rounded to f32; zero rows stay zero).
 * @param x rows x cols, row-major.
 * @returns rows x cols f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const u = unitRows(await getWasm(), Float32Array.of(3, 4, 0, 0), 2, 2); // [0.6, 0.8, 0, 0]
 */
export function unitRows(w: Wasm, x: Float32Array, rows: number, cols: number): Float32Array {
  checkSize("unitRows rows", rows);
  checkSize("unitRows cols", cols);
  checkLength("unitRows x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    distanceNormalizeRows(w, xb, xb, rows, cols);
    return arena.viewF32(xb).slice();
  });
}

/**
 * Cosines between unit rows (from {@link unitRows}) of u and v: <u_i, v_j> clamped to [-1, 1], with the
 * bits {@link cosineSimilarityCross} gives on the rows before normalising.
 * @param u uRows x cols, row-major. @param v vRows x cols, row-major.
 * @returns uRows x vRows f32, row-major.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * const c = cosineSimilarityCrossUnit(await getWasm(), Float32Array.of(1, 0), Float32Array.of(0.6, 0.8), 1, 1, 2);
 * // [0.6]
 */
export function cosineSimilarityCrossUnit(
  w: Wasm,
  u: Float32Array,
  v: Float32Array,
  uRows: number,
  vRows: number,
  cols: number,
): Float32Array {
  checkSize("cosineSimilarityCrossUnit uRows", uRows);
  checkSize("cosineSimilarityCrossUnit vRows", vRows);
  checkLength("cosineSimilarityCrossUnit u", u, uRows * cols);
  checkLength("cosineSimilarityCrossUnit v", v, vRows * cols);
  return withArena(w, (arena) => {
    const ub = arena.copyInF32(u);
    const vb = arena.copyInF32(v);
    const cos = arena.allocF32(uRows * vRows);
    distanceCosineCrossUnit(w, ub, vb, cos, uRows, vRows, cols);
    return arena.viewF32(cos).slice();
  });
}
