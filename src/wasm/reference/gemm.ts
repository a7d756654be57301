/**
 * Plain reference for assembly/gemm.ts: C = alpha * op(A) * op(B) + beta * C with f64 accumulation.
 *
 * Row-major with leading dimensions, as in the kernel:
 *   op(A) is m x k: A stored m x k (lda >= k), or k x m (lda >= m) when transposed.
 *   op(B) is k x n: B stored k x n (ldb >= n), or n x k (ldb >= k) when transposed.
 *   C is m x n (ldc >= n). beta == 0 never reads C; alpha == 0 or k == 0 never reads A or B.
 */
export interface GemmReferenceSpec {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  lda: number;
  ldb: number;
  ldc: number;
}

/** Returns the new C (a copy; `c` is only read). Elements of C outside the m x n view are copied unchanged. */
export function gemm(
  spec: GemmReferenceSpec,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
): Float64Array {
  const { transA, transB, m, n, k, alpha, beta, lda, ldb, ldc } = spec;
  const out = Float64Array.from(c);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (alpha !== 0) {
        for (let p = 0; p < k; p++) {
          const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
          const bv = transB ? b[j * ldb + p]! : b[p * ldb + j]!;
          s += av * bv;
        }
      }
      const at = i * ldc + j;
      out[at] = beta === 0 ? alpha * s : alpha * s + beta * c[at]!;
    }
  }
  return out;
}

function tight(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  beta: number,
): GemmReferenceSpec {
  return { transA, transB, m, n, k, alpha, beta, lda: transA ? m : k, ldb: transB ? k : n, ldc: n };
}

/** C = alpha * A * B + beta * C; A m x k, B k x n, C m x n, tightly packed. */
export function gemmNN(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  alpha = 1,
  beta = 0,
): Float64Array {
  return gemm(tight(false, false, m, n, k, alpha, beta), a, b, c);
}

/** C = alpha * A * B^T + beta * C; A m x k, B n x k, C m x n, tightly packed. */
export function gemmNT(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  alpha = 1,
  beta = 0,
): Float64Array {
  return gemm(tight(false, true, m, n, k, alpha, beta), a, b, c);
}

/** C = alpha * A^T * B + beta * C; A k x m, B k x n, C m x n, tightly packed. */
export function gemmTN(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  alpha = 1,
  beta = 0,
): Float64Array {
  return gemm(tight(true, false, m, n, k, alpha, beta), a, b, c);
}

/** C = alpha * A^T * B^T + beta * C; A k x m, B n x k, C m x n, tightly packed. */
export function gemmTT(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  alpha = 1,
  beta = 0,
): Float64Array {
  return gemm(tight(true, true, m, n, k, alpha, beta), a, b, c);
}

/** Rows per panel and the largest K slice of assembly/gemm.ts's blocking (MR, KC). */
const PACK_MR = 4;
const PACK_KC = 512;

/** Depth of one K slice: k split into ceil(k / 512) near-equal slices, as the kernel's blockLen. */
function packSliceLen(k: number): number {
  const slices = Math.ceil(k / PACK_KC);
  return Math.ceil(k / slices);
}

/**
 * Reference for gemm_pack_a: op(A) (m x k) as the kernel's prepacked A. For each K slice
 * [pc, pc + kc) in order, at pc * mPadded (mPadded = m rounded up to 4), the 4-row panels of all rows:
 * packed[pc*mPadded + (panel*kc + p)*4 + r] = op(A)[panel*4 + r, pc + p], 0 past row m.
 */
export function gemmPackA(
  spec: { transA: boolean; m: number; k: number; lda: number },
  a: ArrayLike<number>,
): Float32Array {
  const { transA, m, k, lda } = spec;
  if (m <= 0 || k <= 0) return new Float32Array(0);
  const mPadded = Math.ceil(m / PACK_MR) * PACK_MR;
  const out = new Float32Array(mPadded * k);
  const kcMax = packSliceLen(k);
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = Math.min(kcMax, k - pc);
    for (let i = 0; i < mPadded; i++) {
      const panel = Math.floor(i / PACK_MR);
      const r = i % PACK_MR;
      for (let p = 0; p < kc; p++) {
        const v = i < m ? (transA ? a[(pc + p) * lda + i]! : a[i * lda + pc + p]!) : 0;
        out[pc * mPadded + (panel * kc + p) * PACK_MR + r] = v;
      }
    }
  }
  return out;
}

/**
 * Reference for gemm_nn_prepacked: reads op(A)[i, p] back out of the layout of `gemmPackA`, then
 * C = alpha * A * B + beta * C as `gemm` (f64 accumulation).
 */
export function gemmPrepacked(
  spec: { m: number; n: number; k: number; alpha: number; beta: number; ldb: number; ldc: number },
  packedA: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
): Float64Array {
  const { m, k } = spec;
  const mPadded = Math.ceil(m / PACK_MR) * PACK_MR;
  const kcMax = packSliceLen(k);
  const a = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const pc = Math.floor(p / kcMax) * kcMax;
      const kc = Math.min(kcMax, k - pc);
      a[i * k + p] =
        packedA[pc * mPadded + (Math.floor(i / PACK_MR) * kc + p - pc) * PACK_MR + (i % PACK_MR)]!;
    }
  }
  return gemm({ ...spec, transA: false, transB: false, lda: k }, a, b, c);
}

/** Columns per panel of assembly/gemm.ts's packed B (NR). */
const PACK_NR = 8;

/**
 * Reference for gemm_pack_b: B (k x n, row stride ldb) as the kernel's prepacked B. For each K slice
 * [pc, pc + kc) in order, at pc * nPadded (nPadded = n rounded up to 8), the 8-column panels of all columns:
 * packed[pc*nPadded + (panel*kc + p)*8 + c] = B[pc + p, panel*8 + c], 0 past column n.
 */
export function gemmPackB(spec: { k: number; n: number; ldb: number }, b: ArrayLike<number>): Float32Array {
  const { k, n, ldb } = spec;
  if (n <= 0 || k <= 0) return new Float32Array(0);
  const nPadded = Math.ceil(n / PACK_NR) * PACK_NR;
  const out = new Float32Array(nPadded * k);
  const kcMax = packSliceLen(k);
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = Math.min(kcMax, k - pc);
    for (let j = 0; j < nPadded; j++) {
      for (let p = 0; p < kc; p++) {
        out[pc * nPadded + (Math.floor(j / PACK_NR) * kc + p) * PACK_NR + (j % PACK_NR)] =
          j < n ? b[(pc + p) * ldb + j]! : 0;
      }
    }
  }
  return out;
}

/** B[p, j] (k x n) read back out of the layout of `gemmPackB`. */
function unpackB(k: number, n: number, packedB: ArrayLike<number>): Float64Array {
  const nPadded = Math.ceil(n / PACK_NR) * PACK_NR;
  const kcMax = packSliceLen(k);
  const b = new Float64Array(k * n);
  for (let p = 0; p < k; p++) {
    const pc = Math.floor(p / kcMax) * kcMax;
    const kc = Math.min(kcMax, k - pc);
    for (let j = 0; j < n; j++) {
      b[p * n + j] =
        packedB[pc * nPadded + (Math.floor(j / PACK_NR) * kc + p - pc) * PACK_NR + (j % PACK_NR)]!;
    }
  }
  return b;
}

/**
 * Reference for gemm_nn_prepacked_ab: A read back out of `gemmPackA`'s layout and B out of `gemmPackB`'s,
 * then C = alpha * A * B + beta * C as `gemm` (f64 accumulation).
 */
export function gemmPrepackedAB(
  spec: { m: number; n: number; k: number; alpha: number; beta: number; ldc: number },
  packedA: ArrayLike<number>,
  packedB: ArrayLike<number>,
  c: ArrayLike<number>,
): Float64Array {
  return gemmPrepacked({ ...spec, ldb: spec.n }, packedA, unpackB(spec.k, spec.n, packedB), c);
}
