import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ware } from "../../src/engine/metrics.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { f32Array } from "../helpers/arbitraries.ts";

// Hand-computed: y = [[1, −2], [4, 0]], ŷ = [[1.5, −2], [3, 1]].
// Terms |ŷ−y|/|y|: 0.5, 0, 0.25, and y = 0 for the last one.
const y = Float32Array.of(1, -2, 4, 0);
const yh = Float32Array.of(1.5, -2, 3, 1);

test("WARE on a hand-computed case: skip policy (§2.8)", () => {
  assert.deepEqual(ware(y, yh, 2, 2), { ware: 0.1875, skippedTerms: 1 }); // (0.5 + 0 + 0.25) / 4
  assert.deepEqual(ware(y, yh, 2, 2, { zeroPolicy: "skip" }), { ware: 0.1875, skippedTerms: 1 });
});

test("WARE on a hand-computed case: epsilon policy and output weights", () => {
  // Last term |1 − 0| / 0.5 = 2: (0.5 + 0 + 0.25 + 2) / 4.
  assert.deepEqual(ware(y, yh, 2, 2, { zeroPolicy: "epsilon", epsilon: 0.5 }), {
    ware: 0.6875,
    skippedTerms: 0,
  });
  // w = [2, 1]: (2·0.5 + 1·0 + 2·0.25) / 4.
  assert.deepEqual(ware(y, yh, 2, 2, { zeroPolicy: "skip", weights: Float32Array.of(2, 1) }), {
    ware: 0.375,
    skippedTerms: 1,
  });
});

const outputsCase = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }))
  .chain(([m, n]) =>
    fc.record({ m: fc.constant(m), n: fc.constant(n), y: f32Array(m * n), d: f32Array(m * n) }),
  );

test("WARE is 0 for identical outputs (zeros included, both policies)", () => {
  fc.assert(
    fc.property(outputsCase, ({ m, n, y: orig }) => {
      assert.equal(ware(orig, orig, m, n).ware, 0);
      assert.equal(ware(orig, Float32Array.from(orig), m, n, { zeroPolicy: "epsilon" }).ware, 0);
    }),
  );
});

test("doubling the error doubles WARE", () => {
  // Dyadic values (k/8, |k| <= 64) keep y + e and y + 2e exact in f32, so the error is exactly doubled.
  const dyadic = (len: number) =>
    fc
      .array(fc.integer({ min: -64, max: 64 }), { minLength: len, maxLength: len })
      .map((a) => a.map((k) => k / 8));
  const dyadicCase = fc
    .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }))
    .chain(([m, n]) =>
      fc.record({ m: fc.constant(m), n: fc.constant(n), y: dyadic(m * n), e: dyadic(m * n) }),
    );
  fc.assert(
    fc.property(
      dyadicCase,
      fc.constantFrom("skip", "epsilon") as fc.Arbitrary<"skip" | "epsilon">,
      (c, zeroPolicy) => {
        const orig = Float32Array.from(c.y);
        const once = Float32Array.from(c.y, (v, i) => v + c.e[i]!);
        const twice = Float32Array.from(c.y, (v, i) => v + 2 * c.e[i]!);
        const a = ware(orig, once, c.m, c.n, { zeroPolicy });
        const b = ware(orig, twice, c.m, c.n, { zeroPolicy });
        assert.equal(a.skippedTerms, b.skippedTerms);
        assert.ok(Math.abs(b.ware - 2 * a.ware) <= 1e-12 * Math.max(1, b.ware), `${b.ware} vs 2 x ${a.ware}`);
      },
    ),
  );
});

test("WARE is non-negative and counts every y = 0 term as skipped", () => {
  fc.assert(
    fc.property(outputsCase, ({ m, n, y: orig, d }) => {
      const r = ware(orig, d, m, n);
      assert.ok(r.ware >= 0);
      assert.equal(r.skippedTerms, orig.filter((v) => v === 0).length);
    }),
  );
});

test("ware rejects bad shapes, weights and epsilon", () => {
  const bad = (f: () => unknown) =>
    assert.throws(f, (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT");
  bad(() => ware(y, yh, 2, 3));
  bad(() => ware(y, yh.subarray(1), 2, 2));
  bad(() => ware(y, yh, 0, 4));
  bad(() => ware(y, yh, 2, 2, { zeroPolicy: "skip", weights: Float32Array.of(1) }));
  bad(() => ware(y, yh, 2, 2, { zeroPolicy: "epsilon", epsilon: 0 }));
});
