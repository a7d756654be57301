import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { transpose } from "../../src/graph/weights.ts";

test("transpose equals the plain double loop on sizes crossing the 64-element tile edges", () => {
  const dim = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 60, max: 140 }));
  fc.assert(
    fc.property(dim, dim, fc.integer(), (rows, cols, seed) => {
      const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.fround(Math.sin(seed + i)));
      const expected = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[c * rows + r] = x[r * cols + c]!;
      const out = new Float32Array(rows * cols).fill(Number.NaN);
      transpose(x, rows, cols, out);
      assert.deepEqual(out, expected);
    }),
  );
});
