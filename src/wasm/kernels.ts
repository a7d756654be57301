import { PrunekitError } from "../errors.ts";
import { Arena, type Buf } from "./arena.ts";
import {
  heapBase,
  instantiateWasm,
  loadWasm,
  resolveSimdLevel,
  type SimdLevel,
  type WasmExports,
  type WasmSource,
} from "./load.ts";

/** The loaded module and its one arena. */
export interface Wasm {
  readonly exports: WasmExports;
  readonly arena: Arena;
  /**
   * The instruction set of this instance: `baseline` (deterministic) or `relaxed` (opt-in, faster).
   * With an explicit `source` it is the level that was asked for; the bytes are not inspected.
   */
  readonly simd: SimdLevel;
}

let memo: Promise<Wasm> | undefined;

/**
 * The shared module instance and arena, loaded lazily on first use.
 *
 * @param source passed to `loadWasm` on the first call only.
 * @throws PrunekitError `WASM_LOAD_FAILED`
 */
export function getWasm(source?: WasmSource): Promise<Wasm> {
  if (memo === undefined) {
    memo = loadWasm(source).then((exports) => ({
      exports,
      arena: new Arena(exports.memory, heapBase(exports)),
      simd: "baseline" as const,
    }));
    memo.catch(() => {
      memo = undefined;
    });
  }
  return memo;
}

/** Options for `createWasm`. */
export interface CreateWasmOptions {
  /** Module bytes or URL; by default the build next to the library (see `instantiateWasm`). */
  source?: WasmSource;
  /**
   * `baseline` (default; bit-identical everywhere), `relaxed` (the FMA build; throws
   * `WASM_LOAD_FAILED` where the runtime lacks relaxed SIMD) or `auto` (relaxed where supported).
   */
  simd?: SimdLevel | "auto";
}

/**
 * A private module instance with its own memory and arena, not shared with `getWasm`. Use it to opt
 * in to the relaxed-SIMD build: every kernel wrapper takes the returned `Wasm`.
 *
 * @throws PrunekitError `WASM_LOAD_FAILED`, or `INVALID_ARGUMENT` on an unknown `simd` value.
 * @example
 * const fast = await createWasm({ simd: "auto" });
 * const c = gemm(fast, { m, n, k }, a, b); // fast.simd tells which build ran
 */
export async function createWasm(options: CreateWasmOptions = {}): Promise<Wasm> {
  const simd = resolveSimdLevel(options.simd);
  const exports = await instantiateWasm(options.source, { simd });
  return { exports, arena: new Arena(exports.memory, heapBase(exports)), simd };
}

type KernelFn = (...args: number[]) => number | undefined;

/** Look up an exported kernel by its ABI name. */
export function kernel(w: Wasm, name: string): KernelFn {
  const fn = w.exports[name];
  if (typeof fn !== "function") {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `prunekit.wasm has no export "${name}"; rebuild with \`npm run build\``,
    );
  }
  return fn as KernelFn;
}

/** Throw INVALID_ARGUMENT unless `n` is a non-negative int32. */
export function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected a non-negative integer size, got ${n}`);
  }
}

/** Throw INVALID_ARGUMENT unless `buf` holds exactly `expected` elements. */
export function checkLength(what: string, buf: { length: number }, expected: number): void {
  if (buf.length !== expected) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected ${expected} elements, got ${buf.length}`);
  }
}

/** Run `body` with an arena mark, releasing everything it allocated afterwards. */
export function withArena<T>(w: Wasm, body: (arena: Arena) => T): T {
  const mark = w.arena.mark();
  try {
    return body(w.arena);
  } finally {
    w.arena.release(mark);
  }
}

// --- reduce: row sums and norms -------------------------------------------------------------

/** Which row reduction to compute. */
export type RowReduction = "sum" | "l1" | "l2";

const REDUCE_EXPORTS: Record<RowReduction, string> = {
  sum: "reduce_row_sum",
  l1: "reduce_row_l1",
  l2: "reduce_row_l2",
};

/**
 * Row reduction on arena buffers: out[r] = sum / L1 norm / L2 norm of row r of x (rows x cols, row-major).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function reduceRows(w: Wasm, kind: RowReduction, x: Buf, out: Buf, rows: number, cols: number): void {
  checkSize("reduceRows rows", rows);
  checkSize("reduceRows cols", cols);
  checkLength("reduceRows x", x, rows * cols);
  checkLength("reduceRows out", out, rows);
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

// --- gemm -----------------------------------------------------------------------------------

/**
 * One GEMM call: C = alpha * op(A) * op(B) + beta * C, every matrix row-major.
 * op(A) is m x k, op(B) is k x n, C is m x n.
 */
export interface GemmSpec {
  /** op(A) = A^T: A is stored k x m instead of m x k. Default false. */
  readonly transA?: boolean;
  /** op(B) = B^T: B is stored n x k instead of k x n. Default false. */
  readonly transB?: boolean;
  /** Rows of op(A) and of C. */
  readonly m: number;
  /** Columns of op(B) and of C. */
  readonly n: number;
  /** Columns of op(A) = rows of op(B): the reduction length. */
  readonly k: number;
  /** Default 1. When 0 (or k is 0), A and B are not read. */
  readonly alpha?: number;
  /** Default 0. When 0, C is not read (it may hold NaN garbage). */
  readonly beta?: number;
  /** Elements between rows of A as stored; default tight (k, or m when transposed). */
  readonly lda?: number;
  /** Elements between rows of B as stored; default tight (n, or k when transposed). */
  readonly ldb?: number;
  /** Elements between rows of C; default n. */
  readonly ldc?: number;
}

const GEMM_EXPORTS = ["gemm_nn", "gemm_nt", "gemm_tn", "gemm_tt"] as const;

// Mirror of the blocking constants in assembly/gemm.ts (MR, NR, KC, MC, NC); a test checks that
// gemmScratchLen agrees with the exported gemm_scratch_len.
const GEMM_MR = 4;
const GEMM_NR = 8;
const GEMM_KC = 512;
const GEMM_MC = 240;
const GEMM_NC = 384;

function gemmBlockLen(total: number, maxBlock: number, multiple: number): number {
  if (total <= 0) return 0;
  const blocks = Math.ceil(total / maxBlock);
  const len = Math.ceil(total / blocks);
  return Math.ceil(len / multiple) * multiple;
}

/**
 * Scratch elements (f32) that a GEMM of these sizes needs, whatever the transposes:
 * MR*NR + kc*nc + mc*kc with the kernel's balanced block sizes (kc <= 512, nc <= 384, mc <= 240).
 * @param m rows of C. @param n columns of C. @param k reduction length.
 */
export function gemmScratchLen(m: number, n: number, k: number): number {
  if (m <= 0 || n <= 0 || k <= 0) return GEMM_MR * GEMM_NR;
  const kc = gemmBlockLen(k, GEMM_KC, 1);
  return GEMM_MR * GEMM_NR + kc * gemmBlockLen(n, GEMM_NC, GEMM_NR) + gemmBlockLen(m, GEMM_MC, GEMM_MR) * kc;
}

/** Elements spanned by a rows x cols matrix with row stride ld. */
function stridedLen(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

interface ResolvedGemm {
  readonly transA: boolean;
  readonly transB: boolean;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly alpha: number;
  readonly beta: number;
  readonly lda: number;
  readonly ldb: number;
  readonly ldc: number;
  readonly aLen: number;
  readonly bLen: number;
  readonly cLen: number;
}

function resolveGemm(what: string, spec: GemmSpec): ResolvedGemm {
  const { m, n, k } = spec;
  checkSize(`${what} m`, m);
  checkSize(`${what} n`, n);
  checkSize(`${what} k`, k);
  const transA = spec.transA ?? false;
  const transB = spec.transB ?? false;
  const alpha = spec.alpha ?? 1;
  const beta = spec.beta ?? 0;
  if (typeof alpha !== "number" || typeof beta !== "number") {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: alpha and beta must be numbers`);
  }
  // Stored shapes: A is m x k (k x m if transA), B is k x n (n x k if transB).
  const [aRows, aCols] = transA ? [k, m] : [m, k];
  const [bRows, bCols] = transB ? [n, k] : [k, n];
  const lda = spec.lda ?? aCols;
  const ldb = spec.ldb ?? bCols;
  const ldc = spec.ldc ?? n;
  for (const [name, ld, min] of [
    ["lda", lda, aCols],
    ["ldb", ldb, bCols],
    ["ldc", ldc, n],
  ] as const) {
    checkSize(`${what} ${name}`, ld);
    if (ld < min) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: ${name} ${ld} is smaller than the stored row length ${min}; pass ${name} >= ${min}`,
      );
    }
  }
  return {
    transA,
    transB,
    m,
    n,
    k,
    alpha,
    beta,
    lda,
    ldb,
    ldc,
    aLen: stridedLen(aRows, aCols, lda),
    bLen: stridedLen(bRows, bCols, ldb),
    cLen: stridedLen(m, n, ldc),
  };
}

function checkAtLeast(what: string, buf: Buf, expected: number): void {
  if (buf.length < expected) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: expected at least ${expected} elements, got ${buf.length}`,
    );
  }
}

function overlaps(x: Buf, y: Buf): boolean {
  return x.length > 0 && y.length > 0 && x.ptr < y.ptr + y.length * 4 && y.ptr < x.ptr + x.length * 4;
}

/**
 * GEMM on arena buffers, C = alpha * op(A) * op(B) + beta * C, with exactly one WASM call.
 *
 * @param a op(A) source, at least (rows-1)*lda + cols elements of A as stored.
 * @param b op(B) source, likewise with ldb.
 * @param c m x n output with row stride ldc; must not overlap a, b or scratch.
 * @param scratch at least `gemmScratchLen(m, n, k)` f32 elements, 16-byte aligned (any arena buffer).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, leading dimension, buffer length or overlap.
 * @example
 * const s = arena.allocF32(gemmScratchLen(m, n, k));
 * gemmBuffers(w, { m, n, k, transB: true }, a, b, c, s);
 */
export function gemmBuffers(w: Wasm, spec: GemmSpec, a: Buf, b: Buf, c: Buf, scratch: Buf): void {
  const g = resolveGemm("gemmBuffers", spec);
  checkAtLeast("gemmBuffers a", a, g.aLen);
  checkAtLeast("gemmBuffers b", b, g.bLen);
  checkAtLeast("gemmBuffers c", c, g.cLen);
  checkAtLeast("gemmBuffers scratch", scratch, gemmScratchLen(g.m, g.n, g.k));
  if (scratch.ptr % 16 !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `gemmBuffers scratch: expected a 16-byte aligned pointer, got ${scratch.ptr}`,
    );
  }
  const cUsed = { ptr: c.ptr, length: g.cLen };
  if (overlaps(cUsed, a) || overlaps(cUsed, b) || overlaps(cUsed, scratch)) {
    throw new PrunekitError("INVALID_ARGUMENT", "gemmBuffers: c must not overlap a, b or scratch");
  }
  const name = GEMM_EXPORTS[(g.transA ? 2 : 0) + (g.transB ? 1 : 0)]!;
  kernel(w, name)(a.ptr, b.ptr, c.ptr, scratch.ptr, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.alpha, g.beta);
}

/**
 * GEMM on JS arrays: copies A, B (and C if given) into the arena, one kernel call, copies C out.
 *
 * @param a A as stored (m x k, or k x m when transA), row stride lda.
 * @param b B as stored (k x n, or n x k when transB), row stride ldb.
 * @param c the input C (required when beta != 0); elements outside the m x n view are kept.
 * @returns the new C: `c.length` elements, or (m-1)*ldc + n when `c` is omitted.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, or when beta != 0 without `c`.
 * @example
 * const c = gemm(w, { m: 2, n: 2, k: 3, transB: true }, a, b);
 */
export function gemm(
  w: Wasm,
  spec: GemmSpec,
  a: Float32Array,
  b: Float32Array,
  c?: Float32Array,
): Float32Array {
  const g = resolveGemm("gemm", spec);
  if (a.length < g.aLen) checkLength("gemm a", a, g.aLen);
  if (b.length < g.bLen) checkLength("gemm b", b, g.bLen);
  if (c !== undefined && c.length < g.cLen) checkLength("gemm c", c, g.cLen);
  if (c === undefined && g.beta !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `gemm: beta is ${g.beta} but no c was given; pass c or beta 0`,
    );
  }
  return withArena(w, (arena) => {
    const ab = arena.copyInF32(a);
    const bb = arena.copyInF32(b);
    let cb: Buf;
    if (c === undefined) {
      cb = arena.allocF32(g.cLen);
      arena.viewF32(cb).fill(0);
    } else {
      cb = arena.copyInF32(c);
    }
    const scratch = arena.allocF32(gemmScratchLen(g.m, g.n, g.k));
    gemmBuffers(w, spec, ab, bb, cb, scratch);
    return arena.viewF32(cb).slice();
  });
}

// --- distance -------------------------------------------------------------------------------

/**
 * Gram matrix on arena buffers: g[i][j] = <x_i, x_j> in f32, exactly symmetric.
 * @param x rows x cols f32, row-major. @param g rows x rows f32, row-major; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function distanceGram(w: Wasm, x: Buf, g: Buf, rows: number, cols: number): void {
  checkSize("distanceGram rows", rows);
  checkSize("distanceGram cols", cols);
  checkLength("distanceGram x", x, rows * cols);
  checkLength("distanceGram g", g, rows * rows);
  kernel(w, "distance_gram")(x.ptr, g.ptr, rows, cols);
}

/**
 * Squared euclidean distances on arena buffers: d[i][j] = |x_i - x_j|^2 accumulated in f64;
 * exactly symmetric, exact zero diagonal, never negative.
 * @param x rows x cols f32, row-major. @param d rows x rows f64, row-major; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function distancePairwiseSqEuclidean(w: Wasm, x: Buf, d: Buf, rows: number, cols: number): void {
  checkSize("distancePairwiseSqEuclidean rows", rows);
  checkSize("distancePairwiseSqEuclidean cols", cols);
  checkLength("distancePairwiseSqEuclidean x", x, rows * cols);
  checkLength("distancePairwiseSqEuclidean d", d, rows * rows);
  kernel(w, "distance_pairwise_sq_euclidean")(x.ptr, d.ptr, rows, cols);
}

/**
 * Cosine similarity on arena buffers: cos[i][j] = <x_i, x_j> / (|x_i| |x_j|) in f32, clamped to
 * [-1, 1], exactly symmetric. A zero row has similarity 0 with every row (itself included); a
 * non-zero row has exactly 1 with itself.
 * @param x rows x cols f32. @param cos rows x rows f32. @param scratch rows * cols f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function distanceCosine(w: Wasm, x: Buf, cos: Buf, scratch: Buf, rows: number, cols: number): void {
  checkSize("distanceCosine rows", rows);
  checkSize("distanceCosine cols", cols);
  checkLength("distanceCosine x", x, rows * cols);
  checkLength("distanceCosine cos", cos, rows * rows);
  checkLength("distanceCosine scratch", scratch, rows * cols);
  kernel(w, "distance_cosine")(x.ptr, cos.ptr, scratch.ptr, rows, cols);
}

/**
 * Cosine similarity between the rows of x and of y on arena buffers (xRows x yRows f32 output,
 * clamped to [-1, 1]); a zero row has similarity 0 with every row of the other matrix.
 * @param x xRows x cols f32. @param y yRows x cols f32 (may alias x).
 * @param cos xRows x yRows f32. @param scratch (xRows + yRows) * cols f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
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
  kernel(w, "distance_cosine_cross")(x.ptr, y.ptr, cos.ptr, scratch.ptr, xRows, yRows, cols);
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

// --- select ---------------------------------------------------------------------------------
//
// Ranking rule shared by every select kernel: a larger value ranks higher (argmin: a smaller
// one), equal values (+0 == -0) rank by the lower index, and NaN ranks below every number.

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
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function selectRowArgmax(w: Wasm, x: Buf, out: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowArgmax", x, out, rows, cols);
  kernel(w, "select_row_argmax")(x.ptr, out.ptr, rows, cols);
}

/**
 * Per-row argmin on arena buffers; same conventions as selectRowArgmax with "smallest".
 * @param x rows x cols f32, row-major. @param out rows i32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function selectRowArgmin(w: Wasm, x: Buf, out: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowArgmin", x, out, rows, cols);
  kernel(w, "select_row_argmin")(x.ptr, out.ptr, rows, cols);
}

/**
 * Per-row argmax over the allowed columns (mask[c] != 0, one mask for every row) on arena buffers.
 * Ties: lowest allowed column; all allowed values NaN: the first allowed column; none allowed: -1.
 * @param x rows x cols f32. @param mask cols i32. @param out rows i32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
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
  kernel(w, "select_row_argmax_masked")(x.ptr, mask.ptr, out.ptr, rows, cols);
}

/** How `topK` lists the selected indices. */
export type TopKOrder = "index" | "score";

/**
 * Top-k on arena buffers: out = the indices of the k highest-ranked of n f32 scores (larger first,
 * ties to the lower index, NaN last), ascending by index (`"index"`) or best first (`"score"`).
 * O(n log k), no scratch.
 * @param scores n f32. @param out k i32. @param k 0 <= k <= n.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or k > n.
 */
export function selectTopK(w: Wasm, scores: Buf, out: Buf, n: number, k: number, order: TopKOrder): void {
  checkSize("selectTopK n", n);
  checkSize("selectTopK k", k);
  if (k > n) throw new PrunekitError("INVALID_ARGUMENT", `selectTopK: expected k <= n = ${n}, got k = ${k}`);
  checkLength("selectTopK scores", scores, n);
  checkLength("selectTopK out", out, k);
  kernel(w, order === "index" ? "select_top_k" : "select_top_k_by_score")(scores.ptr, n, k, out.ptr);
}

/**
 * Row medians on arena buffers: the middle value, or for even cols the mean of the two middle
 * values; NaN for a row holding a NaN and for cols = 0.
 * @param x rows x cols f64, row-major. @param out rows f64. @param scratch cols f64.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function selectRowMedian(w: Wasm, x: Buf, out: Buf, scratch: Buf, rows: number, cols: number): void {
  checkMatrix("selectRowMedian", x, out, rows, cols);
  checkLength("selectRowMedian scratch", scratch, cols);
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

// --- merge ----------------------------------------------------------------------------------

/** BatchNorm formula of Neuron Merging (ALGORITHMS.md §2.5): exact identity or the published variant. */
export type MergeBnFormula = "exact" | "reference";

/** BatchNorm entries of every filter of a layer, original order (conv bias already folded into mean, §0). */
export interface MergeBnParams {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  mean: ArrayLike<number>;
  var: ArrayLike<number>;
  /** BatchNorm epsilon (used by the exact formula only). */
  eps: number;
}

/** Per removed filter: the kept POSITION that absorbs it (or -1) and the scale z >= 0 (0 when -1). */
export interface MergePartners {
  partner: Int32Array;
  scale: Float64Array;
}

/** Arena buffers of one partner selection: cos R x P f32, norm N f32, removed R i32, kept P i32. */
export interface MergeSelectBufs {
  cos: Buf;
  norm: Buf;
  removed: Buf;
  kept: Buf;
  /** Out: R i32. */
  partner: Buf;
  /** Out: R f64. */
  scale: Buf;
}

function checkMergeBufs(what: string, b: MergeSelectBufs): void {
  const r = b.removed.length;
  const p = b.kept.length;
  checkSize(`${what} removed`, r);
  checkSize(`${what} kept`, p);
  checkLength(`${what} cos`, b.cos, r * p);
  checkLength(`${what} partner`, b.partner, r);
  checkLength(`${what} scale`, b.scale, r);
}

/**
 * Best partner per removed filter for layers without BatchNorm (ALGORITHMS.md §2.4), on arena buffers.
 * Index contents are trusted here (validated by the array-level wrappers).
 * @param threshold t: no merge when the best cosine is below it.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function mergeSelectPlain(w: Wasm, b: MergeSelectBufs, threshold: number): void {
  checkMergeBufs("mergeSelectPlain", b);
  kernel(w, "merge_select_plain")(
    b.cos.ptr,
    b.norm.ptr,
    b.removed.ptr,
    b.removed.length,
    b.kept.ptr,
    b.kept.length,
    threshold,
    b.partner.ptr,
    b.scale.ptr,
  );
}

/**
 * Best partner per removed filter for conv -> BN -> activation (ALGORITHMS.md §2.5), on arena buffers.
 * @param bn gamma, beta, mean, var: N f64 each; scratch: 2 f64.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function mergeSelectBn(
  w: Wasm,
  b: MergeSelectBufs,
  bn: { gamma: Buf; beta: Buf; mean: Buf; var: Buf; scratch: Buf; eps: number },
  threshold: number,
  lambda: number,
  formula: MergeBnFormula,
): void {
  checkMergeBufs("mergeSelectBn", b);
  for (const [name, buf] of [
    ["gamma", bn.gamma],
    ["beta", bn.beta],
    ["mean", bn.mean],
    ["var", bn.var],
  ] as const) {
    checkLength(`mergeSelectBn ${name}`, buf, b.norm.length);
  }
  checkLength("mergeSelectBn scratch", bn.scratch, 2);
  kernel(w, "merge_select_bn")(
    b.cos.ptr,
    b.norm.ptr,
    b.removed.ptr,
    b.removed.length,
    b.kept.ptr,
    b.kept.length,
    bn.gamma.ptr,
    bn.beta.ptr,
    bn.mean.ptr,
    bn.var.ptr,
    bn.eps,
    threshold,
    lambda,
    formula === "reference" ? 1 : 0,
    bn.scratch.ptr,
    b.partner.ptr,
    b.scale.ptr,
  );
}

function checkIndexSet(what: string, idx: ArrayLike<number>, n: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: index ${v} at position ${i} is outside [0, ${n})`,
      );
    }
  }
}

function checkMergeArgs(
  what: string,
  cos: { length: number },
  norm: { length: number },
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  bn?: MergeBnParams,
): void {
  const n = norm.length;
  checkIndexSet(`${what} removed`, removed, n);
  checkIndexSet(`${what} kept`, kept, n);
  checkLength(`${what} cos`, cos, removed.length * kept.length);
  if (bn !== undefined) checkMergeBn(what, bn, n);
}

/**
 * Throw INVALID_ARGUMENT unless `bn` holds n entries of each parameter, a finite eps >= 0 and finite
 * variances >= 0 (what merge_select_bn assumes).
 */
export function checkMergeBn(what: string, bn: MergeBnParams, n: number): void {
  for (const key of ["gamma", "beta", "mean", "var"] as const) checkLength(`${what} ${key}`, bn[key], n);
  if (!(bn.eps >= 0) || !Number.isFinite(bn.eps)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: BatchNorm eps must be finite and >= 0, got ${bn.eps}`,
    );
  }
  for (let i = 0; i < n; i++) {
    const v = bn.var[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: BatchNorm variance of channel ${i} must be finite and >= 0, got ${v}`,
      );
    }
  }
}

function runMergeSelect(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: { threshold: number; bn?: MergeBnParams; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  return withArena(w, (arena) => {
    const bufs: MergeSelectBufs = {
      cos: arena.copyInF32(cos),
      norm: arena.copyInF32(norm),
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(removed.length),
      scale: arena.allocF64(removed.length),
    };
    return selectMergePartners(w, arena, bufs, opts);
  });
}

/**
 * §2.4 partner selection from precomputed cosines (layers without BatchNorm).
 * @param cos removed.length x kept.length f32, row-major: cos(v_removed[r], v_kept[j]).
 * @param norm ‖v_n‖₂ of every filter of the layer (N values).
 * @param removed original indices of the removed filters. @param kept original indices of the kept ones.
 * @param threshold t of §2.4.
 * @returns partner kept positions (or -1) and scales.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or out-of-range indices.
 * @example
 * const { partner, scale } = mergePartnersPlain(w, Float32Array.of(1), Float32Array.of(2, 1), [1], [0], 0.1);
 * // partner [0], scale [0.5]
 */
export function mergePartnersPlain(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  threshold: number,
): MergePartners {
  checkMergeArgs("mergePartnersPlain", cos, norm, removed, kept);
  return runMergeSelect(w, cos, norm, removed, kept, { threshold });
}

/**
 * §2.5 partner selection from precomputed cosines (conv -> BN -> activation), either formula.
 * @param cos removed.length x kept.length f32. @param norm ‖F_n‖₂ of every filter (N values).
 * @param bn BatchNorm entries of every filter (N each); variances must be >= 0.
 * @param lambda weight of the cosine distance in the score. @param threshold t on the chosen candidate.
 * @returns partner kept positions (or -1) and scales S (or S_ref).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, out-of-range indices or a negative variance.
 * @example
 * const bn = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], var: [1, 1], eps: 0 };
 * mergePartnersBn(w, Float32Array.of(1), Float32Array.of(1, 2), [1], [0], bn, 0.1, 0.85, "exact");
 * // partner [0], scale [2]
 */
export function mergePartnersBn(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  bn: MergeBnParams,
  threshold: number,
  lambda: number,
  formula: MergeBnFormula,
): MergePartners {
  checkMergeArgs("mergePartnersBn", cos, norm, removed, kept, bn);
  return runMergeSelect(w, cos, norm, removed, kept, { threshold, bn, lambda, formula });
}

/**
 * Full Neuron Merging partner search of one layer (ALGORITHMS.md §2.4 / §2.5) inside one arena
 * session: row norms (reduce_row_l2), cosines of removed x kept rows (distance_cosine_cross), then
 * merge_select_plain, or merge_select_bn when `bn` is given.
 * @param vectors n x d f32, row-major: one flattened filter per row (bias appended when no BN, §2.4).
 * @returns partner kept positions (or -1) and scales, one per entry of `removed`.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, bad indices or bad BatchNorm entries.
 */
export function mergePartners(
  w: Wasm,
  vectors: Float32Array,
  n: number,
  d: number,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: { threshold: number; bn?: MergeBnParams; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  checkSize("mergePartners n", n);
  checkSize("mergePartners d", d);
  checkLength("mergePartners vectors", vectors, n * d);
  const r = removed.length;
  const p = kept.length;
  checkMergeArgs("mergePartners", { length: r * p }, { length: n }, removed, kept, opts.bn);
  return withArena(w, (arena) => {
    const x = arena.copyInF32(vectors);
    const norm = arena.allocF32(n);
    reduceRows(w, "l2", x, norm, n, d);
    const xr = arena.allocF32(r * d);
    const xk = arena.allocF32(p * d);
    const src = arena.viewF32(x);
    const dr = arena.viewF32(xr);
    for (let i = 0; i < r; i++) dr.set(src.subarray(removed[i]! * d, (removed[i]! + 1) * d), i * d);
    const dk = arena.viewF32(xk);
    for (let j = 0; j < p; j++) dk.set(src.subarray(kept[j]! * d, (kept[j]! + 1) * d), j * d);
    const cos = arena.allocF32(r * p);
    const scratch = arena.allocF32((r + p) * d);
    distanceCosineCross(w, xr, xk, cos, scratch, r, p, d);
    const bufs: MergeSelectBufs = {
      cos,
      norm,
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(r),
      scale: arena.allocF64(r),
    };
    return selectMergePartners(w, arena, bufs, opts);
  });
}

/**
 * The selection step shared by every partner search: merge_select_plain, or merge_select_bn with
 * the BatchNorm parameters copied into `arena`, over buffers whose cosines and norms are filled in;
 * returns the partners and scales copied out.
 * @throws PrunekitError `INVALID_ARGUMENT` on bad buffers or BatchNorm entries.
 */
export function selectMergePartners(
  w: Wasm,
  arena: Arena,
  bufs: MergeSelectBufs,
  opts: { threshold: number; bn?: MergeBnParams | undefined; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  const bn = opts.bn;
  if (bn === undefined) mergeSelectPlain(w, bufs, opts.threshold);
  else {
    mergeSelectBn(
      w,
      bufs,
      {
        gamma: arena.copyInF64(bn.gamma),
        beta: arena.copyInF64(bn.beta),
        mean: arena.copyInF64(bn.mean),
        var: arena.copyInF64(bn.var),
        scratch: arena.allocF64(2),
        eps: bn.eps,
      },
      opts.threshold,
      opts.lambda ?? 0.85,
      opts.formula ?? "exact",
    );
  }
  return { partner: arena.viewI32(bufs.partner).slice(), scale: arena.viewF64(bufs.scale).slice() };
}
