// Wrappers of assembly/gemm.ts: C = alpha * op(A) * op(B) + beta * C, every matrix row-major.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkAtLeast, checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

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
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, leading dimension, buffer length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
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
  w.arena.checkLive("gemmBuffers", a, b, c, scratch);
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
  return runGemmInArena(w, "gemm", g, a, b, c, (ab, bb, cb, scratch) =>
    gemmBuffers(w, spec, ab, bb, cb, scratch),
  );
}

/**
 * f32 elements of a prepacked A (`gemmPackA`) for an m x k op(A): m rounded up to whole 4-row panels, times k.
 * @param m rows of op(A) and of C. @param k reduction length.
 */
export function gemmPackedALen(m: number, k: number): number {
  if (m <= 0 || k <= 0) return 0;
  return Math.ceil(m / GEMM_MR) * GEMM_MR * k;
}

/** The A operand of a prepacked GEMM: op(A) is m x k. */
export interface GemmPackASpec {
  /** A is stored k x m instead of m x k. Default false. */
  readonly transA?: boolean;
  readonly m: number;
  readonly k: number;
  /** Elements between rows of A as stored; default tight (k, or m when transposed). */
  readonly lda?: number;
}

function resolvePackA(what: string, spec: GemmPackASpec): { transA: boolean; lda: number; aLen: number } {
  const { m, k } = spec;
  checkSize(`${what} m`, m);
  checkSize(`${what} k`, k);
  const transA = spec.transA ?? false;
  const [rows, cols] = transA ? [k, m] : [m, k];
  const lda = spec.lda ?? cols;
  checkSize(`${what} lda`, lda);
  if (lda < cols) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: lda ${lda} is smaller than the stored row length ${cols}; pass lda >= ${cols}`,
    );
  }
  return { transA, lda, aLen: stridedLen(rows, cols, lda) };
}

/**
 * Pack op(A) once into the layout `gemmPrepackedBuffers` reads (the GEMM's own panels, every K slice),
 * so that repeated GEMMs with the same A (a conv's weights) skip the packing. Exactly one WASM call.
 *
 * @param a A as stored, at least (rows-1)*lda + cols elements.
 * @param packed at least `gemmPackedALen(m, k)` elements; must not overlap a.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, leading dimension, buffer length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 * @example
 * const packed = arena.allocF32(gemmPackedALen(m, k));
 * gemmPackABuffers(w, { m, k }, weights, packed);
 */
export function gemmPackABuffers(w: Wasm, spec: GemmPackASpec, a: Buf, packed: Buf): void {
  const g = resolvePackA("gemmPackABuffers", spec);
  checkAtLeast("gemmPackABuffers a", a, g.aLen);
  const packedLen = gemmPackedALen(spec.m, spec.k);
  checkAtLeast("gemmPackABuffers packed", packed, packedLen);
  if (overlaps({ ptr: packed.ptr, length: packedLen }, { ptr: a.ptr, length: g.aLen })) {
    throw new PrunekitError("INVALID_ARGUMENT", "gemmPackABuffers: packed must not overlap a");
  }
  w.arena.checkLive("gemmPackABuffers", a, packed);
  kernel(w, "gemm_pack_a")(a.ptr, packed.ptr, spec.m, spec.k, g.lda, g.transA ? 1 : 0);
}

/**
 * `gemmPackABuffers` on JS arrays: returns the packed A (`gemmPackedALen(m, k)` elements).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch.
 * @example
 * const packed = gemmPackA(w, { m: 64, k: 576 }, weights);
 */
export function gemmPackA(w: Wasm, spec: GemmPackASpec, a: Float32Array): Float32Array {
  const g = resolvePackA("gemmPackA", spec);
  if (a.length < g.aLen) checkLength("gemmPackA a", a, g.aLen);
  return withArena(w, (arena) => {
    const ab = arena.copyInF32(a);
    const packed = arena.allocF32(gemmPackedALen(spec.m, spec.k));
    gemmPackABuffers(w, spec, ab, packed);
    return arena.viewF32(packed).slice();
  });
}

/** A GEMM whose A was prepacked (`gemmPackA`): C = alpha * A * B + beta * C, B k x n (never transposed). */
export type GemmPrepackedSpec = Omit<GemmSpec, "transA" | "transB" | "lda">;

/**
 * C = alpha * A * B + beta * C with A prepacked by `gemmPackABuffers` for the same m and k:
 * bit-identical to `gemmBuffers` on the unpacked A, one WASM call.
 *
 * @param packedA `gemmPackedALen(m, k)` elements from `gemmPackABuffers` (not checked for content).
 * @param b k x n with row stride ldb. @param c m x n with row stride ldc; must not overlap packedA, b or scratch.
 * @param scratch at least `gemmScratchLen(m, n, k)` f32 elements, 16-byte aligned.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, leading dimension, buffer length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 * @example
 * gemmPrepackedBuffers(w, { m, n, k }, packed, col, y, scratch);
 */
export function gemmPrepackedBuffers(
  w: Wasm,
  spec: GemmPrepackedSpec,
  packedA: Buf,
  b: Buf,
  c: Buf,
  scratch: Buf,
): void {
  const g = resolveGemm("gemmPrepackedBuffers", spec);
  const packedLen = gemmPackedALen(g.m, g.k);
  checkAtLeast("gemmPrepackedBuffers packedA", packedA, packedLen);
  checkAtLeast("gemmPrepackedBuffers b", b, g.bLen);
  checkAtLeast("gemmPrepackedBuffers c", c, g.cLen);
  checkAtLeast("gemmPrepackedBuffers scratch", scratch, gemmScratchLen(g.m, g.n, g.k));
  if (scratch.ptr % 16 !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `gemmPrepackedBuffers scratch: expected a 16-byte aligned pointer, got ${scratch.ptr}`,
    );
  }
  const cUsed = { ptr: c.ptr, length: g.cLen };
  const aUsed = { ptr: packedA.ptr, length: packedLen };
  if (overlaps(cUsed, aUsed) || overlaps(cUsed, b) || overlaps(cUsed, scratch)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "gemmPrepackedBuffers: c must not overlap packedA, b or scratch",
    );
  }
  w.arena.checkLive("gemmPrepackedBuffers", packedA, b, c, scratch);
  kernel(w, "gemm_nn_prepacked")(
    packedA.ptr,
    b.ptr,
    c.ptr,
    scratch.ptr,
    g.m,
    g.n,
    g.k,
    g.ldb,
    g.ldc,
    g.alpha,
    g.beta,
  );
}

/**
 * `gemmPrepackedBuffers` on JS arrays: copies the packed A, B (and C if given) in, one kernel call, copies C out.
 * @returns the new C: `c.length` elements, or (m-1)*ldc + n when `c` is omitted.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, or when beta != 0 without `c`.
 * @example
 * const c = gemmPrepacked(w, { m, n, k }, gemmPackA(w, { m, k }, a), b);
 */
export function gemmPrepacked(
  w: Wasm,
  spec: GemmPrepackedSpec,
  packedA: Float32Array,
  b: Float32Array,
  c?: Float32Array,
): Float32Array {
  const g = resolveGemm("gemmPrepacked", spec);
  const packedLen = gemmPackedALen(g.m, g.k);
  if (packedA.length < packedLen) checkLength("gemmPrepacked packedA", packedA, packedLen);
  if (b.length < g.bLen) checkLength("gemmPrepacked b", b, g.bLen);
  if (c !== undefined && c.length < g.cLen) checkLength("gemmPrepacked c", c, g.cLen);
  return runGemmInArena(w, "gemmPrepacked", g, packedA, b, c, (ab, bb, cb, scratch) =>
    gemmPrepackedBuffers(w, spec, ab, bb, cb, scratch),
  );
}

/**
 * The array wrappers' shared body: refuse beta != 0 without c, copy a (or packed a), b and c (zeros
 * without c) into the arena with GEMM scratch, run `call` on the buffers and return a copy of C.
 */
function runGemmInArena(
  w: Wasm,
  what: string,
  g: { m: number; n: number; k: number; cLen: number; beta: number },
  a: Float32Array,
  b: Float32Array,
  c: Float32Array | undefined,
  call: (ab: Buf, bb: Buf, cb: Buf, scratch: Buf) => void,
): Float32Array {
  if (c === undefined && g.beta !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: beta is ${g.beta} but no c was given; pass c or beta 0`,
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
    call(ab, bb, cb, scratch);
    return arena.viewF32(cb).slice();
  });
}

/**
 * f32 elements of a prepacked B (`gemmPackB`) for a k x n B: n rounded up to whole 8-column panels, times k.
 * @example
 * gemmPackedBLen(16, 250); // 16 * 256
 */
export function gemmPackedBLen(k: number, n: number): number {
  if (n <= 0 || k <= 0) return 0;
  return Math.ceil(n / GEMM_NR) * GEMM_NR * k;
}

/**
 * Pack B (k x n, row stride ldb, default n) once into the GEMM's own 8-column panels, every K slice
 * (assembly/gemm.ts, gemm_pack_b), for `gemmPrepackedAB`.
 * @returns `gemmPackedBLen(k, n)` elements.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or length.
 * @example
 * const packedB = gemmPackB(w, { k: 16, n: 256 }, v);
 */
export function gemmPackB(
  w: Wasm,
  spec: { readonly k: number; readonly n: number; readonly ldb?: number },
  b: Float32Array,
): Float32Array {
  const { k, n } = spec;
  checkSize("gemmPackB k", k);
  checkSize("gemmPackB n", n);
  const ldb = spec.ldb ?? n;
  checkSize("gemmPackB ldb", ldb);
  if (ldb < n) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `gemmPackB: ldb ${ldb} is smaller than n ${n}; pass ldb >= ${n}`,
    );
  }
  const bLen = stridedLen(k, n, ldb);
  if (b.length < bLen) checkLength("gemmPackB b", b, bLen);
  return withArena(w, (arena) => {
    const bb = arena.copyInF32(b);
    const packed = arena.allocF32(gemmPackedBLen(k, n));
    kernel(w, "gemm_pack_b")(bb.ptr, packed.ptr, k, n, ldb);
    return arena.viewF32(packed).slice();
  });
}

/**
 * C = alpha * A * B + beta * C with A prepacked by `gemmPackA` and B by `gemmPackB` (same m, n, k), on JS
 * arrays: bit-identical to `gemm` on the unpacked A and B; the kernel (gemm_nn_prepacked_ab) packs nothing.
 * @returns the new C: `c.length` elements, or (m-1)*ldc + n when `c` is omitted.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or length, or when beta != 0 without `c`.
 * @example
 * const c = gemmPrepackedAB(w, { m, n, k }, gemmPackA(w, { m, k }, a), gemmPackB(w, { k, n }, b));
 */
export function gemmPrepackedAB(
  w: Wasm,
  spec: Omit<GemmPrepackedSpec, "ldb">,
  packedA: Float32Array,
  packedB: Float32Array,
  c?: Float32Array,
): Float32Array {
  const g = resolveGemm("gemmPrepackedAB", spec);
  const aLen = gemmPackedALen(g.m, g.k);
  const bLen = gemmPackedBLen(g.k, g.n);
  if (packedA.length < aLen) checkLength("gemmPrepackedAB packedA", packedA, aLen);
  if (packedB.length < bLen) checkLength("gemmPrepackedAB packedB", packedB, bLen);
  if (c !== undefined && c.length < g.cLen) checkLength("gemmPrepackedAB c", c, g.cLen);
  if (c === undefined && g.beta !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `gemmPrepackedAB: beta is ${g.beta} but no c was given; pass c or beta 0`,
    );
  }
  return withArena(w, (arena) => {
    const ab = arena.copyInF32(packedA);
    const bb = arena.copyInF32(packedB);
    let cb: Buf;
    if (c === undefined) {
      cb = arena.allocF32(g.cLen);
      arena.viewF32(cb).fill(0);
    } else {
      cb = arena.copyInF32(c);
    }
    const scratch = arena.allocF32(gemmScratchLen(g.m, g.n, g.k));
    kernel(w, "gemm_nn_prepacked_ab")(
      ab.ptr,
      bb.ptr,
      cb.ptr,
      scratch.ptr,
      g.m,
      g.n,
      g.k,
      g.ldc,
      g.alpha,
      g.beta,
    );
    return arena.viewF32(cb).slice();
  });
}
