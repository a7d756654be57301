import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, kernel, withArena } from "../../src/wasm/instance.ts";
import { type GemmSpec, gemm, gemmBuffers, gemmScratchLen } from "../../src/wasm/kernels/gemm.ts";
import * as reference from "../../src/wasm/reference/gemm.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";
import { gemmCase } from "../helpers/gemm-cases.ts";

const w = await getWasm();

const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

const name = (transA: boolean, transB: boolean): string => `${transA ? "t" : "n"}${transB ? "t" : "n"}`;

for (const [transA, transB] of TRANSPOSES) {
  test(`gemm ${name(transA, transB)} matches the reference on ragged shapes, alpha, beta and strides`, () => {
    fc.assert(
      fc.property(gemmCase(transA, transB), ({ spec, a, b, c }) =>
        assertClose(gemm(w, spec, a, b, c), reference.gemm(spec, a, b, c), {
          reductionLen: spec.k,
          scale: 16 * Math.max(1, Math.abs(spec.alpha)),
        }),
      ),
    );
  });

  test(`gemm ${name(transA, transB)} with beta 0 ignores NaN in C`, () => {
    fc.assert(
      fc.property(gemmCase(transA, transB, { beta: fc.constant(0) }), ({ spec, a, b, c }) => {
        const garbage = c.map(() => Number.NaN);
        const got = gemm(w, spec, a, b, garbage);
        const want = reference.gemm(spec, a, b, new Float32Array(c.length));
        // Inside the m x n view the result is finite; outside it the NaNs are untouched.
        for (let i = 0; i < spec.m; i++) {
          for (let j = 0; j < spec.n; j++) {
            assert.ok(Number.isFinite(got[i * spec.ldc + j]!), `C[${i},${j}] is ${got[i * spec.ldc + j]}`);
          }
        }
        for (let i = 0; i < got.length; i++) {
          const inside = Math.floor(i / spec.ldc) < spec.m && i % spec.ldc < spec.n;
          if (!inside) want[i] = Number.NaN;
        }
        return assertClose(got, want, {
          reductionLen: spec.k,
          scale: 16 * Math.max(1, Math.abs(spec.alpha)),
        });
      }),
    );
  });
}

test("gemm with beta 1 accumulates onto C", () => {
  fc.assert(
    fc.property(gemmCase(false, false, { beta: fc.constant(1) }), ({ spec, a, b, c }) =>
      assertClose(gemm(w, spec, a, b, c), reference.gemm(spec, a, b, c), {
        reductionLen: spec.k,
        scale: 16 * Math.max(1, Math.abs(spec.alpha)),
      }),
    ),
  );
});

test("gemm matches the reference across K, M and N block edges", () => {
  // k > 512 splits K into slices (C accumulates across them), m > 240 splits M, n > 384 splits N
  // (1037 and 523 also leave a partial NR panel at the end of the last N block).
  for (const [m, n, k] of [
    [241, 9, 513],
    [7, 2049, 3],
    [7, 1037, 3],
    [9, 523, 577],
    [13, 21, 1100],
  ] as const) {
    for (const [transA, transB] of TRANSPOSES) {
      const a = seededFloats(m * 31 + k, m * k);
      const b = seededFloats(n * 17 + k, k * n);
      const c = seededFloats(m + n, m * n);
      const spec = { transA, transB, m, n, k, alpha: 0.75, beta: -0.5 };
      const full = { ...spec, lda: transA ? m : k, ldb: transB ? k : n, ldc: n };
      assertClose(gemm(w, spec, a, b, c), reference.gemm(full, a, b, c), { reductionLen: k, scale: 4 });
    }
  }
});

test("(A B)^T equals B^T A^T bit for bit", () => {
  // Both sides run the same products in the same order; only the packing differs.
  fc.assert(
    fc.property(gemmCase(false, false, { beta: fc.constant(0) }), ({ spec, a, b }) => {
      const { m, n, k, alpha, lda, ldb } = spec;
      const ab = gemm(w, { m, n, k, alpha, lda, ldb }, a, b);
      // C' (n x m) = op(B') op(A') with B' = B stored k x n read transposed, A' = A stored m x k read transposed.
      const baT = gemm(w, { transA: true, transB: true, m: n, n: m, k, alpha, lda: ldb, ldb: lda }, b, a);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          if (!Object.is(ab[i * n + j], baT[j * m + i])) return false;
        }
      }
      return true;
    }),
  );
});

test("the same call twice gives identical bytes", () => {
  fc.assert(
    fc.property(gemmCase(true, false), ({ spec, a, b, c }) => {
      const first = gemm(w, spec, a, b, c);
      const second = gemm(w, spec, a, b, c);
      return Buffer.from(first.buffer).equals(Buffer.from(second.buffer));
    }),
  );
});

test("gemmScratchLen agrees with the exported gemm_scratch_len", () => {
  fc.assert(
    fc.property(fc.nat(5000), fc.nat(5000), fc.nat(5000), (m, n, k) => {
      assert.equal(gemmScratchLen(m, n, k), kernel(w, "gemm_scratch_len")(m, n, k));
    }),
  );
});

test("gemmBuffers refuses short buffers, small leading dimensions and overlap", () => {
  withArena(w, (arena) => {
    const a = arena.allocF32(6);
    const b = arena.allocF32(6);
    const c = arena.allocF32(4);
    const s = arena.allocF32(gemmScratchLen(2, 2, 3));
    const spec = { m: 2, n: 2, k: 3 };
    assert.throws(() => gemmBuffers(w, spec, a, b, { ptr: c.ptr, length: 3 }, s), /gemmBuffers c/);
    assert.throws(() => gemmBuffers(w, spec, a, b, c, { ptr: s.ptr, length: 10 }), /scratch/);
    assert.throws(() => gemmBuffers(w, { ...spec, lda: 2 }, a, b, c, s), /lda 2/);
    assert.throws(() => gemmBuffers(w, { ...spec, m: -1 }, a, b, c, s), /m: expected/);
    assert.throws(() => gemmBuffers(w, spec, a, b, { ptr: a.ptr, length: 4 }, s), /overlap/);
    assert.throws(() => gemm(w, { ...spec, beta: 1 }, new Float32Array(6), new Float32Array(6)), /no c/);
    gemmBuffers(w, spec, a, b, c, s);
  });
});

test("gemm computes a small example exactly", () => {
  // [1 2 3; 4 5 6] * [1 0; 0 1; 1 1] = [4 5; 10 11]
  const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = Float32Array.from([1, 0, 0, 1, 1, 1]);
  assert.deepEqual(Array.from(gemm(w, { m: 2, n: 2, k: 3 }, a, b)), [4, 5, 10, 11]);
});

/**
 * The default build's documented summation order in plain f32 arithmetic (assembly/gemm.ts header):
 * per K slice (k split into ceil(k/512) near-equal slices), acc = 0 then acc += a*b over p in order, one
 * rounding per product and per sum; then C = alpha*acc + beta*C on the first slice (alpha*acc when beta
 * is 0) and C = alpha*acc + C on later ones. The micro-tile's height and where alpha is applied must
 * not change these bits.
 */
function gemmInKernelOrder(
  spec: Required<GemmSpec>,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
): Float32Array {
  const f = Math.fround;
  const { transA, transB, m, n, k, alpha, beta, lda, ldb, ldc } = spec;
  const out = Float32Array.from(c);
  const slices = Math.ceil(k / 512);
  const kc = slices === 0 ? 0 : Math.ceil(k / slices);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const at = i * ldc + j;
      if (k === 0 || alpha === 0) {
        out[at] = beta === 0 ? 0 : f(out[at]! * beta);
        continue;
      }
      for (let pc = 0; pc < k; pc += kc) {
        let acc = 0;
        for (let p = pc; p < Math.min(k, pc + kc); p++) {
          const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
          const bv = transB ? b[j * ldb + p]! : b[p * ldb + j]!;
          acc = f(acc + f(av * bv));
        }
        const t = f(alpha * acc);
        const betaNow = pc > 0 ? 1 : beta;
        out[at] = pc > 0 || beta !== 0 ? f(t + f(out[at]! * betaNow)) : t;
      }
    }
  }
  return out;
}

test("the default build is bit-identical to its documented summation order, every transpose, alpha and beta", () => {
  for (const [transA, transB] of TRANSPOSES) {
    fc.assert(
      fc.property(gemmCase(transA, transB), ({ spec, a, b, c }) => {
        const got = gemm(w, spec, a, b, c);
        return Buffer.from(got.buffer).equals(Buffer.from(gemmInKernelOrder(spec, a, b, c).buffer));
      }),
    );
  }
});

test("the default build keeps its summation order across K slices and M and N blocks, bit for bit", () => {
  for (const [m, n, k] of [
    [241, 9, 513],
    [9, 523, 1100],
    [10, 390, 1025],
  ] as const) {
    for (const [transA, transB] of TRANSPOSES) {
      const a = seededFloats(m * 31 + k, m * k);
      const b = seededFloats(n * 17 + k, k * n);
      const c = seededFloats(m + n, m * n);
      const spec = {
        transA,
        transB,
        m,
        n,
        k,
        alpha: 0.75,
        beta: -0.5,
        lda: transA ? m : k,
        ldb: transB ? k : n,
        ldc: n,
      };
      const got = gemm(w, spec, a, b, c);
      assert.ok(
        Buffer.from(got.buffer).equals(Buffer.from(gemmInKernelOrder(spec, a, b, c).buffer)),
        `${m}x${n}x${k}`,
      );
    }
  }
});
