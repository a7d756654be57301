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
