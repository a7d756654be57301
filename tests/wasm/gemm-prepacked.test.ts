// The prepacked-A GEMM (gemm_pack_a + gemm_nn_prepacked): its layout against the plain reference, its
// results bit for bit against gemm_nn on the unpacked A, and its argument checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { createWasm, getWasm, kernel, withArena } from "../../src/wasm/instance.ts";
import {
  gemm,
  gemmPackA,
  gemmPackABuffers,
  gemmPackB,
  gemmPackedALen,
  gemmPackedBLen,
  gemmPrepacked,
  gemmPrepackedAB,
  gemmPrepackedBuffers,
  gemmScratchLen,
} from "../../src/wasm/kernels/gemm.ts";
import * as reference from "../../src/wasm/reference/gemm.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";
import { gemmCase } from "../helpers/gemm-cases.ts";

const w = await getWasm();
const same = (x: Float32Array, y: Float32Array): boolean =>
  Buffer.from(x.buffer).equals(Buffer.from(y.buffer));

for (const transA of [false, true]) {
  test(`gemmPackA${transA ? " (A stored transposed)" : ""} writes the reference layout on ragged shapes`, () => {
    fc.assert(
      fc.property(gemmCase(transA, false), ({ spec, a }) => {
        const { m, k, lda } = spec;
        return same(gemmPackA(w, { transA, m, k, lda }, a), reference.gemmPackA({ transA, m, k, lda }, a));
      }),
    );
  });
}

test("gemmPackA writes the reference layout across K slices (k > 512) and ragged rows", () => {
  for (const [m, k] of [
    [7, 513],
    [13, 1100],
    [4, 1537],
  ] as const) {
    const a = seededFloats(m + k, m * k);
    assert.ok(
      same(gemmPackA(w, { m, k }, a), reference.gemmPackA({ transA: false, m, k, lda: k }, a)),
      `${m}x${k}`,
    );
  }
});

test("gemmPrepacked equals gemm on the unpacked A bit for bit, and the reference within rounding", () => {
  fc.assert(
    fc.property(gemmCase(false, false), ({ spec, a, b, c }) => {
      const { m, n, k, alpha, beta, lda, ldb, ldc } = spec;
      const packed = gemmPackA(w, { m, k, lda }, a);
      const got = gemmPrepacked(w, { m, n, k, alpha, beta, ldb, ldc }, packed, b, c);
      if (!same(got, gemm(w, spec, a, b, c))) return false;
      return assertClose(got, reference.gemmPrepacked({ m, n, k, alpha, beta, ldb, ldc }, packed, b, c), {
        reductionLen: k,
        scale: 16 * Math.max(1, Math.abs(alpha)),
      });
    }),
  );
});

test("gemmPrepacked equals gemm bit for bit across K slices and M and N blocks, in both builds", async () => {
  const relaxed = await createWasm({ simd: "relaxed" });
  for (const wasm of [w, relaxed]) {
    for (const [m, n, k] of [
      [241, 9, 513],
      [9, 523, 577],
      [64, 1024, 576],
      [13, 21, 1100],
    ] as const) {
      const a = seededFloats(m * 31 + k, m * k);
      const b = seededFloats(n * 17 + k, k * n);
      const c = seededFloats(m + n, m * n);
      const spec = { m, n, k, alpha: 0.75, beta: -0.5 };
      const got = gemmPrepacked(wasm, spec, gemmPackA(wasm, { m, k }, a), b, c);
      assert.ok(same(got, gemm(wasm, spec, a, b, c)), `${wasm.simd} ${m}x${n}x${k}`);
    }
  }
});

test("gemmPrepacked's thin path (n <= 16) equals gemm bit for bit on ragged m, n and k, in both builds", async () => {
  const relaxed = await createWasm({ simd: "relaxed" });
  for (const wasm of [w, relaxed]) {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 41 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 1100 }),
        fc.constantFrom(0, 1, -0.5),
        fc.nat(1000),
        (m, n, k, beta, seed) => {
          const a = seededFloats(seed + 1, m * k);
          const b = seededFloats(seed + 2, k * n);
          const c = seededFloats(seed + 3, m * n);
          const spec = { m, n, k, alpha: 0.75, beta };
          const got = gemmPrepacked(wasm, spec, gemmPackA(wasm, { m, k }, a), b, c);
          return same(got, gemm(wasm, spec, a, b, c));
        },
      ),
      { numRuns: 60 },
    );
    // VGG's 512-filter convs on 2x2 and 4x4 maps at batch 1, with strided B and C.
    for (const [m, n, k] of [
      [512, 4, 4608],
      [512, 16, 2304],
      [9, 13, 577],
    ] as const) {
      const [ldb, ldc] = [n + 3, n + 5];
      const a = seededFloats(m + k, m * k);
      const b = seededFloats(n + k, k * ldb);
      const c = seededFloats(m + n, m * ldc);
      const spec = { m, n, k, alpha: 1, beta: 0, ldb, ldc };
      const got = gemmPrepacked(wasm, spec, gemmPackA(wasm, { m, k }, a), b, c);
      assert.ok(same(got, gemm(wasm, spec, a, b, c)), `${wasm.simd} ${m}x${n}x${k}`);
    }
  }
});

test("gemmPackedALen agrees with the exported gemm_packed_a_len", () => {
  fc.assert(
    fc.property(fc.nat(5000), fc.nat(5000), (m, k) => {
      assert.equal(gemmPackedALen(m, k), kernel(w, "gemm_packed_a_len")(m, k));
    }),
  );
});

test("gemmPackABuffers and gemmPrepackedBuffers refuse short buffers, small leading dimensions and overlap", () => {
  withArena(w, (arena) => {
    const [m, n, k] = [5, 3, 6];
    const a = arena.allocF32(m * k);
    const packed = arena.allocF32(gemmPackedALen(m, k));
    const b = arena.allocF32(k * n);
    const c = arena.allocF32(m * n);
    const s = arena.allocF32(gemmScratchLen(m, n, k));
    assert.throws(() => gemmPackABuffers(w, { m, k }, a, { ptr: packed.ptr, length: 10 }), /packed/);
    assert.throws(() => gemmPackABuffers(w, { m, k, lda: 2 }, a, packed), /lda 2/);
    assert.throws(() => gemmPackABuffers(w, { m, k }, a, { ptr: a.ptr, length: packed.length }), /overlap/);
    assert.throws(
      () => gemmPrepackedBuffers(w, { m, n, k }, { ptr: packed.ptr, length: 4 }, b, c, s),
      /packedA/,
    );
    assert.throws(
      () => gemmPrepackedBuffers(w, { m, n, k }, packed, b, { ptr: b.ptr, length: m * n }, s),
      /overlap/,
    );
    assert.throws(() => gemmPrepackedBuffers(w, { m, n, k, ldb: 1 }, packed, b, c, s), /ldb 1/);
    assert.throws(
      () => gemmPrepacked(w, { m, n, k, beta: 1 }, new Float32Array(48), new Float32Array(18)),
      /no c/,
    );
    gemmPackABuffers(w, { m, k }, a, packed);
    gemmPrepackedBuffers(w, { m, n, k }, packed, b, c, s);
  });
});

test("gemmPackB writes the reference layout on ragged shapes, across K slices, with padded ldb", () => {
  fc.assert(
    fc.property(gemmCase(false, false), ({ spec, b }) => {
      const { k, n, ldb } = spec;
      const got = gemmPackB(w, { k, n, ldb }, b);
      return got.length === gemmPackedBLen(k, n) && same(got, reference.gemmPackB({ k, n, ldb }, b));
    }),
  );
  for (const [k, n] of [
    [513, 9],
    [1100, 21],
    [1537, 3],
  ] as const) {
    const b = seededFloats(k + n, k * n);
    assert.ok(same(gemmPackB(w, { k, n }, b), reference.gemmPackB({ k, n, ldb: n }, b)), `${k}x${n}`);
  }
});

test("gemmPackedBLen agrees with the exported gemm_packed_b_len", () => {
  fc.assert(
    fc.property(fc.nat(2000), fc.nat(2000), (k, n) => {
      assert.equal(gemmPackedBLen(k, n), kernel(w, "gemm_packed_b_len")(k, n));
    }),
  );
});

test("gemmPrepackedAB equals gemm on the unpacked A and B bit for bit, and the reference within rounding", () => {
  fc.assert(
    fc.property(gemmCase(false, false), ({ spec, a, b, c }) => {
      const { m, n, k, alpha, beta, lda, ldb, ldc } = spec;
      const packedA = gemmPackA(w, { m, k, lda }, a);
      const packedB = gemmPackB(w, { k, n, ldb }, b);
      const got = gemmPrepackedAB(w, { m, n, k, alpha, beta, ldc }, packedA, packedB, c);
      if (!same(got, gemm(w, spec, a, b, c))) return false;
      return assertClose(got, reference.gemmPrepackedAB({ m, n, k, alpha, beta, ldc }, packedA, packedB, c), {
        reductionLen: k,
        scale: 16 * Math.max(1, Math.abs(alpha)),
      });
    }),
  );
});

test("gemmPrepackedAB equals gemm bit for bit on thin, Winograd-sized and multi-block shapes, in both builds", async () => {
  const relaxed = await createWasm({ simd: "relaxed" });
  for (const wasm of [w, relaxed]) {
    for (const [m, n, k] of [
      [16, 256, 16],
      [32, 64, 32],
      [64, 16, 64],
      [512, 13, 520],
      [241, 9, 513],
      [9, 523, 577],
      [13, 1000, 1100],
    ] as const) {
      const a = seededFloats(m * 31 + k, m * k);
      const b = seededFloats(n * 17 + k, k * n);
      const c = seededFloats(m + n, m * n);
      const spec = { m, n, k, alpha: 0.75, beta: -0.5 };
      const got = gemmPrepackedAB(wasm, spec, gemmPackA(wasm, { m, k }, a), gemmPackB(wasm, { k, n }, b), c);
      assert.ok(same(got, gemm(wasm, spec, a, b, c)), `${wasm.simd} ${m}x${n}x${k}`);
    }
  }
});

test("gemmPackB and gemmPrepackedAB refuse bad arguments, naming them", () => {
  assert.throws(() => gemmPackB(w, { k: 2, n: 5, ldb: 4 }, new Float32Array(10)), /gemmPackB: ldb 4/);
  assert.throws(() => gemmPackB(w, { k: 2, n: 5 }, new Float32Array(9)), /gemmPackB b/);
  assert.throws(() => gemmPackB(w, { k: -1, n: 5 }, new Float32Array(9)), /gemmPackB k/);
  const packedA = new Float32Array(gemmPackedALen(4, 3));
  assert.throws(
    () => gemmPrepackedAB(w, { m: 4, n: 9, k: 3 }, packedA, new Float32Array(gemmPackedBLen(3, 9) - 1)),
    /gemmPrepackedAB packedB/,
  );
  assert.throws(
    () => gemmPrepackedAB(w, { m: 4, n: 9, k: 3, beta: 1 }, packedA, new Float32Array(gemmPackedBLen(3, 9))),
    /gemmPrepackedAB: beta is 1/,
  );
});
