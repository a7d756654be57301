import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  cosineSimilarity,
  cosineSimilarityCross,
  cosineSimilarityCrossUnit,
  gramMatrix,
  pairwiseSqEuclidean,
  pairwiseSqEuclideanGram,
  unitRows,
} from "../../src/wasm/kernels/distance.ts";
import * as reference from "../../src/wasm/reference/distance.ts";
import { f32Array, matrix, seededFloats, size } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";

const w = await getWasm();

/** Bounded values (|v| <= 4) give |x_i|^2 <= 16 * cols, the scale of every Gram and distance entry. */
const BOUND = 4;

/** A matrix in which some rows are zero and some are exact copies or multiples of earlier rows. */
function matrixWithDegenerateRows(): fc.Arbitrary<{ rows: number; cols: number; x: Float32Array }> {
  return fc
    .tuple(matrix(24, 40), fc.infiniteStream(fc.integer({ min: 0, max: 5 })))
    .map(([{ rows, cols, x }, kinds]) => {
      const y = x.slice();
      for (let r = 1; r < rows; r++) {
        const kind = kinds.next().value as number;
        const row = y.subarray(r * cols, (r + 1) * cols);
        if (kind === 0) row.fill(0);
        else if (kind === 1) row.set(y.subarray(0, cols));
        else if (kind === 2) row.set(y.subarray(0, cols).map((v) => v * 0.5));
      }
      return { rows, cols, x: y };
    });
}

function assertSymmetric(m: ArrayLike<number>, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      assert.ok(Object.is(m[i * n + j], m[j * n + i]), `not symmetric at (${i}, ${j})`);
    }
  }
}

test("gramMatrix matches the reference on ragged shapes", () => {
  fc.assert(
    fc.property(matrix(), ({ rows, cols, x }) =>
      assertClose(gramMatrix(w, x, rows, cols), reference.distanceGram(x, rows, cols), {
        reductionLen: cols,
        scale: BOUND * BOUND,
      }),
    ),
  );
});

test("gramMatrix is exactly symmetric with a non-negative diagonal", () => {
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) => {
      const g = gramMatrix(w, x, rows, cols);
      assertSymmetric(g, rows);
      for (let i = 0; i < rows; i++) assert.ok(g[i * rows + i]! >= 0);
      return true;
    }),
  );
});

test("pairwiseSqEuclidean matches the float64 reference on ragged shapes", () => {
  fc.assert(
    fc.property(matrix(), ({ rows, cols, x }) =>
      // Accumulated in f64 from f32 inputs: far tighter than the f32 kernels.
      assertClose(
        pairwiseSqEuclidean(w, x, rows, cols),
        reference.distancePairwiseSqEuclidean(x, rows, cols),
        {
          reductionLen: cols,
          rtol: 1e-14,
          atol: 1e-300,
        },
      ),
    ),
  );
});

test("pairwiseSqEuclidean is symmetric, non-negative, zero on the diagonal and on duplicate rows", () => {
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) => {
      const d = pairwiseSqEuclidean(w, x, rows, cols);
      assertSymmetric(d, rows);
      for (let i = 0; i < rows; i++) {
        assert.ok(Object.is(d[i * rows + i], 0), `diagonal ${i} is ${d[i * rows + i]}`);
        for (let j = 0; j < rows; j++) {
          assert.ok(d[i * rows + j]! >= 0);
          const same = x.subarray(i * cols, (i + 1) * cols).every((v, c) => v === x[j * cols + c]);
          if (same) assert.equal(d[i * rows + j], 0, `rows ${i} and ${j} are equal`);
        }
      }
      return true;
    }),
  );
});

test("pairwiseSqEuclidean keeps small differences between large rows (no cancellation)", () => {
  // |a|^2 + |b|^2 - 2<a, b> in f32 would give 0 or garbage here; the direct f64 sum is exact.
  const cols = 13;
  const x = new Float32Array(2 * cols).fill(4096);
  x[cols + 5] = 4096.5;
  const d = pairwiseSqEuclidean(w, x, 2, cols);
  assert.deepEqual(Array.from(d), [0, 0.25, 0.25, 0]);
});

/** Few rows of 250..530 columns: crosses the Gram kernel's 256-column slices (once or twice). */
function longRows(): fc.Arbitrary<{ rows: number; cols: number; x: Float32Array }> {
  return fc
    .tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 250, max: 530 }))
    .chain(([rows, cols]) => f32Array(rows * cols).map((x) => ({ rows, cols, x })));
}

/**
 * |a - b| <= 16 eps (|x_i|^2 + |x_j|^2) at every (i, j): the rounding bound of the norm trick in f64
 * (the cancellation the direct kernel avoids), with room for the summation orders.
 */
function assertNormTrickClose(a: Float64Array, b: Float64Array, x: Float32Array, rows: number, cols: number) {
  const norms = reference.distanceGram(x, rows, cols).filter((_, q) => q % (rows + 1) === 0);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      const tol = 16 * 2 ** -52 * (norms[i]! + norms[j]!) * Math.sqrt(cols + 1);
      const diff = Math.abs(a[i * rows + j]! - b[i * rows + j]!);
      assert.ok(
        diff <= tol,
        `(${i}, ${j}): ${a[i * rows + j]} vs ${b[i * rows + j]}, |diff| ${diff} > ${tol}`,
      );
    }
  }
  return true;
}

test("pairwiseSqEuclideanGram matches the norm-trick reference on ragged shapes and across slices", () => {
  fc.assert(
    fc.property(fc.oneof(matrix(), longRows()), ({ rows, cols, x }) =>
      assertNormTrickClose(
        pairwiseSqEuclideanGram(w, x, rows, cols),
        reference.distancePairwiseSqEuclideanGram(x, rows, cols),
        x,
        rows,
        cols,
      ),
    ),
  );
});

test("pairwiseSqEuclideanGram equals the exact distances up to the norm trick's rounding", () => {
  fc.assert(
    fc.property(fc.oneof(matrixWithDegenerateRows(), longRows()), ({ rows, cols, x }) =>
      assertNormTrickClose(
        pairwiseSqEuclideanGram(w, x, rows, cols),
        reference.distancePairwiseSqEuclidean(x, rows, cols),
        x,
        rows,
        cols,
      ),
    ),
  );
});

test("pairwiseSqEuclideanGram is symmetric, non-negative, zero on the diagonal and on duplicate rows", () => {
  const duplicates = fc.oneof(
    matrixWithDegenerateRows(),
    // Long duplicate rows: the identical sums must hold across slices too.
    longRows().map(({ rows, cols, x }) => {
      for (let r = 2; r < rows; r += 2) x.copyWithin(r * cols, 0, cols);
      return { rows, cols, x };
    }),
  );
  fc.assert(
    fc.property(duplicates, ({ rows, cols, x }) => {
      const d = pairwiseSqEuclideanGram(w, x, rows, cols);
      assertSymmetric(d, rows);
      for (let i = 0; i < rows; i++) {
        assert.ok(Object.is(d[i * rows + i], 0), `diagonal ${i} is ${d[i * rows + i]}`);
        for (let j = 0; j < rows; j++) {
          assert.ok(d[i * rows + j]! >= 0);
          const same = x.subarray(i * cols, (i + 1) * cols).every((v, c) => v === x[j * cols + c]);
          if (same) assert.ok(Object.is(d[i * rows + j], 0), `rows ${i} and ${j} are equal`);
        }
      }
      return true;
    }),
  );
});

test("pairwiseSqEuclideanGram gives exact results on small integers", () => {
  // Every product and sum is an exact integer in f64: no rounding, so exactly the reference.
  const x = Float32Array.from({ length: 7 * 300 }, (_, q) => ((q * 37) % 11) - 5);
  assert.deepEqual(
    Array.from(pairwiseSqEuclideanGram(w, x, 7, 300)),
    Array.from(reference.distancePairwiseSqEuclidean(x, 7, 300)),
  );
});

test("pairwiseSqEuclideanGram on nearby rows far from the origin: within the norm trick's bound, unlike direct", () => {
  // Rows 1000 + noise: |x|^2 ~ 1e6 per column against distances ~ 1e-2 per column, so the norm trick
  // keeps only about 8 of f64's 16 digits (scikit-learn's float64 path is the same); the direct
  // kernel keeps nearly all of them.
  const rows = 6;
  const cols = 300;
  const x = Float32Array.from(seededFloats(11, rows * cols), (v) => 1000 + 0.1 * v);
  const exact = reference.distancePairwiseSqEuclidean(x, rows, cols);
  assertNormTrickClose(pairwiseSqEuclideanGram(w, x, rows, cols), exact, x, rows, cols);
  assertClose(pairwiseSqEuclidean(w, x, rows, cols), exact, {
    reductionLen: cols,
    rtol: 1e-14,
    atol: 1e-300,
  });
});

test("cosineSimilarity matches the reference on ragged shapes", () => {
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) =>
      assertClose(cosineSimilarity(w, x, rows, cols), reference.distanceCosine(x, rows, cols), {
        reductionLen: cols,
      }),
    ),
  );
});

test("cosineSimilarity: symmetric, in [-1, 1], 1 on non-zero diagonals, 0 for zero rows", () => {
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) => {
      const c = cosineSimilarity(w, x, rows, cols);
      assertSymmetric(c, rows);
      for (let i = 0; i < rows; i++) {
        const isZero = x.subarray(i * cols, (i + 1) * cols).every((v) => v === 0);
        assert.equal(c[i * rows + i], isZero ? 0 : 1, `diagonal ${i}`);
        for (let j = 0; j < rows; j++) {
          const v = c[i * rows + j]!;
          assert.ok(v >= -1 && v <= 1, `entry (${i}, ${j}) = ${v}`);
          if (isZero) assert.equal(v, 0, `zero row ${i} against row ${j}`);
        }
      }
      return true;
    }),
  );
});

test("cosineSimilarity of a zero row with itself is 0 (documented convention)", () => {
  const c = cosineSimilarity(w, Float32Array.of(0, 0, 0, 1, 2, 3, -0, 0, -0), 3, 3);
  assert.deepEqual(Array.from(c), [0, 0, 0, 0, 1, 0, 0, 0, 0]);
});

test("cosineSimilarity is invariant under positive row scaling", () => {
  // Subnormal inputs are flushed: scaling them rounds in the subnormal range, so the scaled row
  // would not be a scaled copy (tiny rows have their own test below).
  const flushed = matrix(20, 40).map(({ rows, cols, x }) => ({
    rows,
    cols,
    x: x.map((v) => (Math.abs(v) < 1e-30 ? 0 : v)),
  }));
  const scaledCase = flushed.chain(({ rows, cols, x }) =>
    fc
      .array(fc.double({ min: 1, max: 1e4, noNaN: true }), { minLength: rows, maxLength: rows })
      .map((factors) => ({ rows, cols, x, factors })),
  );
  fc.assert(
    fc.property(scaledCase, ({ rows, cols, x, factors }) => {
      const y = x.map((v, k) => v * factors[Math.floor(k / cols)]!);
      // Scaling rounds every element to f32 once more: allow a few ulps per element.
      assertClose(cosineSimilarity(w, y, rows, cols), cosineSimilarity(w, x, rows, cols), {
        reductionLen: cols,
        rtol: 2 ** -19,
      });
      // Power-of-two factors are exact, and so is the f64 normalisation: identical bits.
      const p = x.map((v, k) => v * 2 ** ((Math.floor(k / cols) % 7) * 9));
      assert.deepEqual(cosineSimilarity(w, p, rows, cols), cosineSimilarity(w, x, rows, cols));
      return true;
    }),
  );
});

test("cosineSimilarity sees tiny and huge rows (no f32 under- or overflow of the norm)", () => {
  const x = Float32Array.of(1e-30, 2e-30, 1e-44, 0, 3e37, 3e37, -3e37, 0);
  const c = cosineSimilarity(w, x, 2, 4);
  assertClose(c, reference.distanceCosine(x, 2, 4), { reductionLen: 4 });
  assert.equal(c[0], 1);
  assert.equal(c[3], 1);
});

test("cosineSimilarityCross matches the reference and the square kernel", () => {
  const crossCase = fc
    .tuple(size(20), size(20), size(40))
    .chain(([xRows, yRows, cols]) =>
      fc
        .tuple(f32Array(xRows * cols), f32Array(yRows * cols))
        .map(([x, y]) => ({ xRows, yRows, cols, x, y })),
    );
  fc.assert(
    fc.property(crossCase, ({ xRows, yRows, cols, x, y }) => {
      const c = cosineSimilarityCross(w, x, y, xRows, yRows, cols);
      assertClose(c, reference.distanceCosineCross(x, y, xRows, yRows, cols), { reductionLen: cols });
      for (const v of c) assert.ok(v >= -1 && v <= 1);
      return true;
    }),
  );
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) => {
      // Off the diagonal, the cross kernel of x with itself gives the square kernel's bits.
      const cross = cosineSimilarityCross(w, x, x, rows, rows, cols);
      const square = cosineSimilarity(w, x, rows, cols);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < rows; j++) {
          if (i !== j) assert.ok(Object.is(cross[i * rows + j], square[i * rows + j]), `(${i}, ${j})`);
        }
      }
      return true;
    }),
  );
});

test("unitRows matches the reference on ragged shapes: unit rows, zero rows stay zero", () => {
  fc.assert(
    fc.property(matrixWithDegenerateRows(), ({ rows, cols, x }) => {
      const u = unitRows(w, x, rows, cols);
      // One f64 division per element, rounded to f32: within an ulp or so of the exact quotient.
      assertClose(u, reference.distanceNormalizeRows(x, rows, cols), { rtol: 2 ** -23, atol: 1e-38 });
      for (let r = 0; r < rows; r++) {
        const row = u.subarray(r * cols, (r + 1) * cols);
        const zero = x.subarray(r * cols, (r + 1) * cols).every((v) => v === 0);
        let sq = 0;
        for (const v of row) sq += v * v;
        if (zero)
          assert.ok(
            row.every((v) => v === 0),
            `row ${r} of zeros`,
          );
        else assert.ok(Math.abs(sq - 1) <= 1e-6 * Math.sqrt(cols + 1), `row ${r}: |u|^2 = ${sq}`);
      }
      return true;
    }),
  );
});

test("cosineSimilarityCrossUnit matches the reference on ragged shapes", () => {
  const crossCase = fc
    .tuple(size(20), size(20), size(40))
    .chain(([xRows, yRows, cols]) =>
      fc
        .tuple(f32Array(xRows * cols), f32Array(yRows * cols))
        .map(([x, y]) => ({ xRows, yRows, cols, x, y })),
    );
  fc.assert(
    fc.property(crossCase, ({ xRows, yRows, cols, x, y }) => {
      const u = unitRows(w, x, xRows, cols);
      const v = unitRows(w, y, yRows, cols);
      const c = cosineSimilarityCrossUnit(w, u, v, xRows, yRows, cols);
      assertClose(c, reference.distanceCosineCrossUnit(u, v, xRows, yRows, cols), { reductionLen: cols });
      for (const e of c) assert.ok(e >= -1 && e <= 1);
      return true;
    }),
  );
});

/** Split [0, n) at the sorted cut points into consecutive ranges (some may be empty). */
function ranges(n: number, cuts: number[]): [number, number][] {
  const at = [0, ...cuts.map((c) => Math.min(n, c)).sort((a, b) => a - b), n];
  return at.slice(1).map((end, i) => [at[i]!, end]);
}

/** cosineSimilarityCrossUnit on every (x rows block) x (y rows block), assembled into one xRows x yRows matrix. */
function blockwiseCross(
  u: Float32Array,
  v: Float32Array,
  xRows: number,
  yRows: number,
  cols: number,
  xCuts: number[],
  yCuts: number[],
): Float32Array {
  const out = new Float32Array(xRows * yRows);
  for (const [i0, i1] of ranges(xRows, xCuts)) {
    for (const [j0, j1] of ranges(yRows, yCuts)) {
      const block = cosineSimilarityCrossUnit(
        w,
        u.subarray(i0 * cols, i1 * cols),
        v.subarray(j0 * cols, j1 * cols),
        i1 - i0,
        j1 - j0,
        cols,
      );
      for (let i = i0; i < i1; i++)
        out.set(block.subarray((i - i0) * (j1 - j0), (i - i0 + 1) * (j1 - j0)), i * yRows + j0);
    }
  }
  return out;
}

test("cosines of unit rows in any row blocks give the bits of cosineSimilarityCross (short and long rows)", () => {
  // The partner search of wide layers computes removed x kept cosines in blocks of removed rows
  // against parts of the kept rows, on several module instances; assembled, they must be exactly
  // the one-call kernel's bits. Long rows (>= 8192) take the cache-blocked 4x3 path.
  const blockCase = fc.record({
    xRows: size(23),
    yRows: size(29),
    long: fc.integer({ min: 0, max: 9 }),
    cols: size(45),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    xCuts: fc.array(fc.integer({ min: 0, max: 23 }), { maxLength: 4 }),
    yCuts: fc.array(fc.integer({ min: 0, max: 29 }), { maxLength: 4 }),
  });
  fc.assert(
    fc.property(blockCase, ({ xRows, yRows, long, cols: shortCols, seed, xCuts, yCuts }) => {
      const cols = long === 0 ? 8192 + shortCols * 37 : shortCols;
      const rows = Math.min(xRows, long === 0 ? 9 : xRows);
      const x = degenerateRows(seed, rows, cols);
      const y = degenerateRows(seed + 1, yRows, cols);
      const whole = cosineSimilarityCross(w, x, y, rows, yRows, cols);
      const u = unitRows(w, x, rows, cols);
      const v = unitRows(w, y, yRows, cols);
      assertSameBits(
        blockwiseCross(u, v, rows, yRows, cols, xCuts, yCuts),
        whole,
        `${rows} x ${yRows} x ${cols}`,
      );
      return true;
    }),
    { numRuns: 60 },
  );
});

test("cosine kernels on long rows (cache-blocked path: several column chunks, ragged edges)", () => {
  // Rows of >= 8192 floats take the blocked path (4096-column chunks, 32 x 64 row blocks); up to
  // 37 x 67 rows and 8192..12999 columns cross row-block, chunk and tile edges and the scalar tail.
  // Some rows are zero, copies or scaled copies of row 0.
  const longCase = fc.record({
    xRows: fc.integer({ min: 1, max: 37 }),
    yRows: fc.integer({ min: 1, max: 67 }),
    cols: fc.integer({ min: 8192, max: 12999 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    kinds: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 67, maxLength: 67 }),
  });
  fc.assert(
    fc.property(longCase, ({ xRows, yRows, cols, seed, kinds }) => {
      const y = seededFloats(seed, yRows * cols);
      for (let r = 1; r < yRows; r++) {
        const row = y.subarray(r * cols, (r + 1) * cols);
        if (kinds[r] === 0) row.fill(0);
        else if (kinds[r] === 1) row.set(y.subarray(0, cols));
        else if (kinds[r] === 2) row.set(y.subarray(0, cols).map((v) => v * 0.5));
      }
      const x = y.slice(0, Math.min(xRows, yRows) * cols);
      const xr = x.length / cols;
      const cross = cosineSimilarityCross(w, x, y, xr, yRows, cols);
      assertClose(cross, reference.distanceCosineCross(x, y, xr, yRows, cols), { reductionLen: cols });
      for (const v of cross) assert.ok(v >= -1 && v <= 1);
      const square = cosineSimilarity(w, y, yRows, cols);
      assertSymmetric(square, yRows);
      for (let i = 0; i < yRows; i++) {
        const isZero = kinds[i] === 0 && i > 0;
        assert.ok(square[i * yRows + i] === (isZero ? 0 : 1), `diagonal ${i}`);
        for (let j = 0; j < yRows; j++) {
          if (isZero || (kinds[j] === 0 && j > 0)) assert.ok(square[i * yRows + j] === 0, `(${i}, ${j})`);
        }
      }
      // x is the first rows of y: off the diagonal the cross kernel gives the square kernel's bits.
      for (let i = 0; i < xr; i++) {
        for (let j = 0; j < yRows; j++) {
          if (i !== j) assert.ok(Object.is(cross[i * yRows + j], square[i * yRows + j]), `(${i}, ${j})`);
        }
      }
      return true;
    }),
    { numRuns: 8 },
  );
});

/**
 * The f32 dot product of row i of x and row j of y in the fixed order of assembly/distance.ts:
 * four lane accumulators over c = 0,4,8,... combined as (l0 + l1) + (l2 + l3), then the tail in
 * index order. f64 products and sums of f32 values rounded once to f32 are the f32 operations.
 */
function fixedOrderDot(x: Float32Array, i: number, y: Float32Array, j: number, cols: number): number {
  const f = Math.fround;
  const a = i * cols;
  const b = j * cols;
  const cols4 = cols & ~3;
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  let l3 = 0;
  for (let c = 0; c < cols4; c += 4) {
    l0 = f(l0 + f(x[a + c]! * y[b + c]!));
    l1 = f(l1 + f(x[a + c + 1]! * y[b + c + 1]!));
    l2 = f(l2 + f(x[a + c + 2]! * y[b + c + 2]!));
    l3 = f(l3 + f(x[a + c + 3]! * y[b + c + 3]!));
  }
  let s = f(f(l0 + l1) + f(l2 + l3));
  for (let c = cols4; c < cols; c++) s = f(s + f(x[a + c]! * y[b + c]!));
  return s;
}

/** normalizeRows in its fixed order: f64 squares, lane 0 over c, c+2 and lane 1 over c+1, c+3. */
function fixedOrderUnitRows(x: Float32Array, rows: number, cols: number): Float32Array {
  const u = new Float32Array(rows * cols);
  const cols4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let l0 = 0;
    let l1 = 0;
    for (let c = 0; c < cols4; c += 4) {
      l0 += x[o + c]! * x[o + c]!;
      l1 += x[o + c + 1]! * x[o + c + 1]!;
      l0 += x[o + c + 2]! * x[o + c + 2]!;
      l1 += x[o + c + 3]! * x[o + c + 3]!;
    }
    let sq = l0 + l1;
    for (let c = cols4; c < cols; c++) sq += x[o + c]! * x[o + c]!;
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let c = 0; c < cols; c++) u[o + c] = x[o + c]! * inv;
  }
  return u;
}

/** The cosine kernels' bits from the fixed-order model: cross, or square (diagonal 1 or 0). */
function fixedOrderCosine(
  x: Float32Array,
  y: Float32Array,
  xRows: number,
  yRows: number,
  cols: number,
  square: boolean,
): Float32Array {
  const ux = fixedOrderUnitRows(x, xRows, cols);
  const uy = square ? ux : fixedOrderUnitRows(y, yRows, cols);
  const out = new Float32Array(xRows * yRows);
  for (let i = 0; i < xRows; i++) {
    for (let j = square ? i : 0; j < yRows; j++) {
      const v = Math.min(1, Math.max(-1, fixedOrderDot(ux, i, uy, j, cols)));
      out[i * yRows + j] = square && i === j ? (v > 0 ? 1 : 0) : v;
      if (square) out[j * yRows + i] = out[i * yRows + j]!;
    }
  }
  return out;
}

function fixedOrderGram(x: Float32Array, rows: number, cols: number): Float32Array {
  const g = new Float32Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) g[i * rows + j] = g[j * rows + i] = fixedOrderDot(x, i, x, j, cols);
  }
  return g;
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let k = 0; k < a.length; k++) {
    if (a[k] !== e[k])
      assert.fail(`${what}: entry ${k} is ${actual[k]}, the fixed order gives ${expected[k]}`);
  }
}

/** Rows with some zero rows and copies or scaled copies of row 0 (deterministic). */
function degenerateRows(seed: number, rows: number, cols: number): Float32Array {
  const x = seededFloats(seed, rows * cols);
  for (let r = 1; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    if ((seed + r) % 7 === 0) row.fill(0);
    else if ((seed + r) % 7 === 1) row.set(x.subarray(0, cols));
    else if ((seed + r) % 7 === 2) row.set(x.subarray(0, cols).map((v) => v * 0.5));
  }
  return x;
}

test("distance tiles give the bits of the fixed reduction order: every row count 0..13, short and long rows", () => {
  // 4x2, 4x3 and 4x1 tiles, one-row tails, and below and above the 8192-column blocking threshold
  // (8195: two 4096-column chunks and a 3-column scalar tail). Every entry must have exactly the
  // documented order's bits, whatever tile computed it.
  for (const cols of [0, 1, 6, 23, 8195]) {
    for (let xRows = 0; xRows <= 13; xRows++) {
      const x = degenerateRows(xRows * 31 + cols, xRows, cols);
      const what = `${xRows} rows x ${cols}`;
      assertSameBits(gramMatrix(w, x, xRows, cols), fixedOrderGram(x, xRows, cols), `gram ${what}`);
      assertSameBits(
        cosineSimilarity(w, x, xRows, cols),
        fixedOrderCosine(x, x, xRows, xRows, cols, true),
        `cosine ${what}`,
      );
      for (let yRows = 0; yRows <= 13; yRows++) {
        const y = degenerateRows(yRows * 17 + cols + 1, yRows, cols);
        assertSameBits(
          cosineSimilarityCross(w, x, y, xRows, yRows, cols),
          fixedOrderCosine(x, y, xRows, yRows, cols, false),
          `cross ${what} against ${yRows}`,
        );
      }
    }
  }
});

/**
 * distance_pairwise_sq_euclidean_gram's documented order: per 256-column slice (zero-padded to even),
 * lane 0 sums the even columns' products and lane 1 the odd ones', in index order; the slice partial
 * is lane0 + lane1; slices add up in order; then max(0, (g_ii + g_kk) - 2 g_ik), diagonal +0.
 */
function fixedOrderSqEuclideanGram(x: Float32Array, rows: number, cols: number): Float64Array {
  const g = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let k = i; k < rows; k++) {
      let total = 0;
      for (let c0 = 0; c0 < cols || c0 === 0; c0 += 256) {
        const lanes = [0, 0];
        for (let c = c0; c < Math.min(c0 + 256, cols); c++) {
          lanes[(c - c0) & 1] = lanes[(c - c0) & 1]! + x[i * cols + c]! * x[k * cols + c]!;
        }
        const partial = lanes[0]! + lanes[1]!;
        total = c0 === 0 ? partial : total + partial;
        if (cols === 0) break;
      }
      g[i * rows + k] = total;
    }
  }
  const d = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let k = i + 1; k < rows; k++) {
      d[i * rows + k] = d[k * rows + i] = Math.max(
        0,
        g[i * rows + i]! + g[k * rows + k]! - 2 * g[i * rows + k]!,
      );
    }
  }
  return d;
}

test("pairwiseSqEuclideanGram gives the bits of its fixed reduction order: every row count 0..13, across slices", () => {
  // 4x2, 4x1, 1x2 and 1x1 tiles; one slice, and 257 / 600 columns for two and three slices with odd
  // (zero-padded) last slices.
  for (const cols of [0, 1, 6, 23, 257, 600]) {
    for (let rows = 0; rows <= 13; rows++) {
      const x = degenerateRows(rows * 29 + cols, rows, cols);
      const a = pairwiseSqEuclideanGram(w, x, rows, cols);
      const e = fixedOrderSqEuclideanGram(x, rows, cols);
      for (let q = 0; q < a.length; q++) {
        assert.ok(Object.is(a[q], e[q]), `${rows} rows x ${cols}, entry ${q}: ${a[q]} != ${e[q]}`);
      }
    }
  }
});

test("blocked cosine tiles give the bits of the fixed reduction order across row blocks", () => {
  // 70 rows cross the 32-row and 66-row blocks of the blocked path, with the square kernel's
  // diagonal blocks starting mid-tile; 12289 columns make three chunks and a 1-column tail.
  for (const [xRows, yRows, cols] of [
    [37, 70, 8196],
    [70, 70, 12289],
  ] as const) {
    const x = degenerateRows(xRows + cols, xRows, cols);
    const y = degenerateRows(yRows + cols + 1, yRows, cols);
    const what = `${xRows} x ${yRows} x ${cols}`;
    assertSameBits(
      cosineSimilarityCross(w, x, y, xRows, yRows, cols),
      fixedOrderCosine(x, y, xRows, yRows, cols, false),
      `cross ${what}`,
    );
    assertSameBits(
      cosineSimilarity(w, y, yRows, cols),
      fixedOrderCosine(y, y, yRows, yRows, cols, true),
      `cosine ${what}`,
    );
  }
});

test("distance kernels give identical bits on a fixed larger input", () => {
  // 37 x 150 crosses every tile edge; run twice to check that nothing depends on arena state.
  const x = seededFloats(7, 37 * 150);
  assert.deepEqual(pairwiseSqEuclidean(w, x, 37, 150), pairwiseSqEuclidean(w, x, 37, 150));
  assert.deepEqual(gramMatrix(w, x, 37, 150), gramMatrix(w, x, 37, 150));
  assertClose(gramMatrix(w, x, 37, 150), reference.distanceGram(x, 37, 150), { reductionLen: 150 });
});

test("distance wrappers reject mismatched sizes", () => {
  assert.throws(() => gramMatrix(w, new Float32Array(5), 2, 3), { code: "INVALID_ARGUMENT" });
  assert.throws(() => pairwiseSqEuclidean(w, new Float32Array(6), -2, -3), { code: "INVALID_ARGUMENT" });
  assert.throws(() => pairwiseSqEuclideanGram(w, new Float32Array(5), 2, 3), { code: "INVALID_ARGUMENT" });
  assert.throws(() => cosineSimilarityCross(w, new Float32Array(6), new Float32Array(5), 2, 2, 3), {
    code: "INVALID_ARGUMENT",
  });
  assert.throws(() => unitRows(w, new Float32Array(5), 2, 3), { code: "INVALID_ARGUMENT" });
  assert.throws(() => cosineSimilarityCrossUnit(w, new Float32Array(6), new Float32Array(6), 2, 3, 3), {
    code: "INVALID_ARGUMENT",
  });
});
