// The Gram-trick distances in the opt-in relaxed-SIMD build (f64x2.relaxed_madd, possibly fused): the
// same contract as the default build, not the same bits. scripts/run-node-tests.mjs enables relaxed SIMD.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createWasm } from "../../src/wasm/instance.ts";
import { pairwiseSqEuclideanGram } from "../../src/wasm/kernels/distance.ts";
import { relaxedSimdSupported } from "../../src/wasm/load.ts";
import * as reference from "../../src/wasm/reference/distance.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

test("relaxed pairwiseSqEuclideanGram: within the norm trick's bound, symmetric, 0 for identical rows", async (t) => {
  if (!relaxedSimdSupported()) return t.skip("no relaxed SIMD in this runtime");
  const w = await createWasm({ simd: "relaxed" });
  for (const [rows, cols] of [
    [13, 7],
    [9, 600],
  ] as const) {
    const x = seededFloats(rows + cols, rows * cols);
    x.copyWithin(5 * cols, 2 * cols, 3 * cols); // row 5 = row 2
    const d = pairwiseSqEuclideanGram(w, x, rows, cols);
    const exact = reference.distancePairwiseSqEuclidean(x, rows, cols);
    const norms = reference.distanceGram(x, rows, cols).filter((_, q) => q % (rows + 1) === 0);
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < rows; k++) {
        const tol = 16 * 2 ** -52 * (norms[i]! + norms[k]!) * Math.sqrt(cols + 1);
        assert.ok(Math.abs(d[i * rows + k]! - exact[i * rows + k]!) <= tol, `${rows} x ${cols} (${i}, ${k})`);
        assert.ok(Object.is(d[i * rows + k], d[k * rows + i]));
      }
      assert.ok(Object.is(d[i * rows + i], 0));
    }
    assert.ok(Object.is(d[2 * rows + 5], 0), "identical rows 2 and 5");
  }
});
