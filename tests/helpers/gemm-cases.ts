// Random GEMM cases for the property tests of every build of the GEMM kernel.
import fc from "fast-check";
import type { GemmSpec } from "../../src/wasm/kernels/gemm.ts";
import { f32Array, size } from "./arbitraries.ts";

/** alpha and beta worth covering: 0, 1 and ordinary f32 values. */
export const coefficient: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5),
  fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }),
);

export interface GemmCase {
  spec: Required<GemmSpec>;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

/** A GEMM case with sizes 0..9 often, random up to 70, optional padding of every leading dimension. */
export function gemmCase(
  transA: boolean,
  transB: boolean,
  opts: { beta?: fc.Arbitrary<number>; maxSize?: number } = {},
): fc.Arbitrary<GemmCase> {
  const max = opts.maxSize ?? 70;
  return fc
    .record({
      m: size(max),
      n: size(max),
      k: size(max),
      alpha: coefficient,
      beta: opts.beta ?? coefficient,
      padA: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
      padB: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
      padC: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })),
    })
    .chain(({ m, n, k, alpha, beta, padA, padB, padC }) => {
      const [aRows, aCols] = transA ? [k, m] : [m, k];
      const [bRows, bCols] = transB ? [n, k] : [k, n];
      const spec = {
        transA,
        transB,
        m,
        n,
        k,
        alpha: Math.fround(alpha),
        beta: Math.fround(beta),
        lda: aCols + padA,
        ldb: bCols + padB,
        ldc: n + padC,
      };
      return fc
        .tuple(f32Array(aRows * spec.lda), f32Array(bRows * spec.ldb), f32Array(m * spec.ldc))
        .map(([a, b, c]) => ({ spec, a, b, c }));
    });
}
