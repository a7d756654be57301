import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm } from "../../src/wasm/instance.ts";
import { pairwiseSqEuclidean } from "../../src/wasm/kernels/distance.ts";
import { rowArgmax, rowArgmaxMasked, rowArgmin, rowMedians, topK } from "../../src/wasm/kernels/select.ts";
import * as reference from "../../src/wasm/reference/select.ts";
import { seededFloats, size } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";

const w = await getWasm();

/** Scores drawn mostly from a tiny pool so ties, +-0, infinities and NaN are common. */
function tieValue(): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(-1, 0, -0, 0.5, 1, 2) },
    { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY) },
    { weight: 2, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }) },
  );
}

function f32Of(len: number, value: fc.Arbitrary<number>): fc.Arbitrary<Float32Array> {
  return fc.array(value, { minLength: len, maxLength: len }).map((a) => Float32Array.from(a));
}

function tieMatrix(
  maxRows = 12,
  maxCols = 40,
): fc.Arbitrary<{ rows: number; cols: number; x: Float32Array }> {
  return fc
    .tuple(size(maxRows), size(maxCols))
    .chain(([rows, cols]) => f32Of(rows * cols, tieValue()).map((x) => ({ rows, cols, x })));
}

/** A score vector of ragged length with many ties, and a k in [0, n]. */
function topKCase(maxLen = 200): fc.Arbitrary<{ scores: Float32Array; k: number }> {
  return size(maxLen).chain((n) =>
    fc.tuple(f32Of(n, tieValue()), fc.integer({ min: 0, max: n })).map(([scores, k]) => ({ scores, k })),
  );
}

test("rowArgmax and rowArgmin match the sort-based reference, ties and NaN included", () => {
  fc.assert(
    fc.property(tieMatrix(), ({ rows, cols, x }) => {
      assert.deepEqual(rowArgmax(w, x, rows, cols), reference.selectRowArgmax(x, rows, cols));
      assert.deepEqual(rowArgmin(w, x, rows, cols), reference.selectRowArgmin(x, rows, cols));
      return true;
    }),
  );
});

test("rowArgmax: ties to the lowest column, NaN never chosen, all-NaN row gives 0, empty row -1", () => {
  const nan = Number.NaN;
  const x = Float32Array.of(
    ...[1, 3, 3, 0, 0, 3],
    ...[nan, nan, -1, nan, -1, nan],
    ...[nan, nan, nan, nan, nan, nan],
    ...[0, -0, 0, -0, 0, -0],
    ...[nan, nan, nan, nan, nan, Number.NEGATIVE_INFINITY],
  );
  assert.deepEqual(Array.from(rowArgmax(w, x, 5, 6)), [1, 2, 0, 0, 5]);
  assert.deepEqual(Array.from(rowArgmin(w, x, 5, 6)), [3, 2, 0, 0, 5]);
  assert.deepEqual(Array.from(rowArgmax(w, new Float32Array(0), 3, 0)), [-1, -1, -1]);
});

test("rowArgmaxMasked matches the reference; no allowed column gives -1", () => {
  const maskedCase = tieMatrix().chain(({ rows, cols, x }) =>
    fc
      .array(fc.constantFrom(0, 1, 7), { minLength: cols, maxLength: cols })
      .map((m) => ({ rows, cols, x, mask: Int32Array.from(m) })),
  );
  fc.assert(
    fc.property(maskedCase, ({ rows, cols, x, mask }) => {
      assert.deepEqual(
        rowArgmaxMasked(w, x, mask, rows, cols),
        reference.selectRowArgmaxMasked(x, mask, rows, cols),
      );
      return true;
    }),
  );
  const x = Float32Array.of(5, Number.NaN, 2, Number.NaN, 9, 1, 1, 1);
  assert.deepEqual(Array.from(rowArgmaxMasked(w, x, Int32Array.of(0, 0, 0, 0), 2, 4)), [-1, -1]);
  assert.deepEqual(Array.from(rowArgmaxMasked(w, x, Int32Array.of(0, 1, 0, 1), 2, 4)), [1, 1]);
  assert.deepEqual(Array.from(rowArgmaxMasked(w, x, Int32Array.of(0, 1, 1, 1), 2, 4)), [2, 1]);
});

test("topK matches the sort-based reference in both orders, ties and NaN included", () => {
  fc.assert(
    fc.property(topKCase(), ({ scores, k }) => {
      assert.deepEqual(topK(w, scores, k), reference.selectTopK(scores, k));
      assert.deepEqual(topK(w, scores, k, "score"), reference.selectTopKByScore(scores, k));
      return true;
    }),
  );
});

test("topK: lower index first on ties, NaN only after every number", () => {
  const nan = Number.NaN;
  const s = Float32Array.of(nan, 2, Number.NEGATIVE_INFINITY, 2, nan, 2, 0, -0);
  assert.deepEqual(Array.from(topK(w, s, 2)), [1, 3]);
  assert.deepEqual(Array.from(topK(w, s, 5, "score")), [1, 3, 5, 6, 7]);
  assert.deepEqual(Array.from(topK(w, s, 8, "score")), [1, 3, 5, 6, 7, 2, 0, 4]);
  assert.deepEqual(Array.from(topK(w, s, 7)), [0, 1, 2, 3, 5, 6, 7]);
  assert.deepEqual(Array.from(topK(w, s, 0)), []);
});

test("topK handles 10^5 scores with heavy ties", () => {
  const n = 100_000;
  const raw = seededFloats(11, n);
  // Quantise to 64 levels: about 1500 copies of each value.
  const scores = raw.map((v) => Math.round(v * 32) / 32);
  for (const k of [1, 17, 5000, n - 3]) {
    assert.deepEqual(topK(w, scores, k), reference.selectTopK(scores, k), `k = ${k}`);
    assert.deepEqual(topK(w, scores, k, "score"), reference.selectTopKByScore(scores, k), `k = ${k}`);
  }
});

test("topK rejects k outside [0, n]", () => {
  assert.throws(() => topK(w, new Float32Array(3), 4), { code: "INVALID_ARGUMENT" });
  assert.throws(() => topK(w, new Float32Array(3), -1), { code: "INVALID_ARGUMENT" });
  assert.throws(() => topK(w, new Float32Array(3), 1.5), { code: "INVALID_ARGUMENT" });
});

test("rowMedians equals the sort-based median on ragged rows with duplicates", () => {
  const medianCase = fc
    .tuple(size(10), size(60))
    .chain(([rows, cols]) =>
      fc
        .array(
          fc.oneof(fc.constantFrom(0, -0, -1, -2.5, 3), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
          { minLength: rows * cols, maxLength: rows * cols },
        )
        .map((a) => ({ rows, cols, x: Float64Array.from(a) })),
    );
  fc.assert(
    fc.property(medianCase, ({ rows, cols, x }) => {
      const got = rowMedians(w, x, rows, cols);
      const want = reference.selectRowMedian(x, rows, cols);
      // The median is one of the inputs, or the mean of two: equal up to the sign of zero.
      for (let r = 0; r < rows; r++) {
        const same = got[r] === want[r] || (Number.isNaN(got[r]) && Number.isNaN(want[r]));
        assert.ok(same, `row ${r}: ${got[r]} != ${want[r]}`);
      }
      return true;
    }),
  );
});

test("rowMedians: NaN for a row holding NaN or for empty rows; adversarial orders", () => {
  assert.ok(Number.isNaN(rowMedians(w, Float64Array.of(1, Number.NaN, 3), 1, 3)[0]));
  assert.deepEqual(Array.from(rowMedians(w, new Float64Array(0), 2, 0)), [Number.NaN, Number.NaN]);
  for (const n of [1, 2, 3, 1000, 1001, 4096]) {
    const sorted = Float64Array.from({ length: n }, (_, i) => i);
    const reversed = sorted.slice().reverse();
    const organ = Float64Array.from({ length: n }, (_, i) => Math.min(i, n - 1 - i));
    const equal = new Float64Array(n).fill(-7);
    const twoValues = Float64Array.from({ length: n }, (_, i) => i % 2);
    for (const row of [sorted, reversed, organ, equal, twoValues]) {
      assert.deepEqual(rowMedians(w, row, 1, n), reference.selectRowMedian(row, 1, n), `n = ${n}`);
    }
  }
});

test("EPruner preferences: row medians of -squared distances (docs/methods.md §3.8)", () => {
  const points = Float32Array.of(0, 0.1, 0.25, 5.0, 5.3, 9.0, 9.4, 20.0);
  const s = pairwiseSqEuclidean(w, points, 8, 1).map((d) => -d);
  const expected = [-26.545, -25.525, -24.0325, -20.96125, -21.15625, -46.28125, -51.54125, -220.545];
  // The points are f32, so 0.1 and friends are off by ~1e-8 relative.
  assertClose(rowMedians(w, s, 8, 8), expected, { rtol: 1e-7, atol: 1e-12, scale: 1 });
});
