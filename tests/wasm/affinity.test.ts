// Affinity propagation (docs/methods.md §3.3, §3.7, §3.8): hand-checkable cases, the §3.7 modes, and
// the WASM kernels against the plain reference, exactly (same exemplars, labels and iteration counts).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { affinityPropagation } from "../../src/wasm/kernels/affinity.ts";
import { pairwiseSqEuclidean } from "../../src/wasm/kernels/distance.ts";
import { rowMedians } from "../../src/wasm/kernels/select.ts";
import * as reference from "../../src/wasm/reference/affinity.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const w = await getWasm();

/** s(i, k) = -|x_i - x_k|^2 of points given as rows. */
function similarities(points: number[][]): Float64Array {
  const n = points.length;
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      let d = 0;
      for (let c = 0; c < points[i]!.length; c++) d += (points[i]![c]! - points[k]![c]!) ** 2;
      s[i * n + k] = -d;
    }
  }
  return s;
}

/** Run both implementations, assert they agree exactly, return the WASM result. */
function both(s: Float64Array, prefs: ArrayLike<number>, n: number, options = {}) {
  const got = affinityPropagation(w, s, prefs, n, options);
  assert.deepEqual(got, reference.affinityPropagation(s, prefs, n, options));
  return got;
}

const SIX = [
  [1, 2],
  [1, 4],
  [1, 0],
  [4, 2],
  [4, 4],
  [4, 0],
];

test("§3.8: six 2-D points, preference -9: exemplars {0, 3} after 16 iterations", () => {
  const r = both(similarities(SIX), new Array(6).fill(-9), 6);
  assert.deepEqual(r.exemplars, [0, 3]);
  assert.deepEqual(r.labels, [0, 0, 0, 1, 1, 1]);
  assert.equal(r.iterations, 16);
  assert.equal(r.converged, true);
});

test("§3.8: six 2-D points with per-point preferences beta * row median: exemplars {0, 3}", () => {
  const s = similarities(SIX);
  const med = rowMedians(w, s, 6, 6);
  for (const beta of [0.5, 0.75, 1, 1.5]) {
    const r = both(
      s,
      Array.from(med, (m) => beta * m),
      6,
    );
    assert.deepEqual(r.exemplars, [0, 3], `beta ${beta}`);
    assert.deepEqual(r.labels, [0, 0, 0, 1, 1, 1], `beta ${beta}`);
  }
});

test("§3.8: eight 1-D points, the table of exemplars, labels and iterations", () => {
  const s = similarities([0, 0.1, 0.25, 5.0, 5.3, 9.0, 9.4, 20.0].map((v) => [v]));
  const med = rowMedians(w, s, 8, 8);
  const want = [-26.545, -25.525, -24.0325, -20.96125, -21.15625, -46.28125, -51.54125, -220.545];
  for (const [i, m] of want.entries())
    assert.ok(Math.abs(med[i]! - m) < 1e-9, `median ${i}: ${med[i]} vs ${m}`);
  const table: [number, number[], number[], number][] = [
    [0.05, [2, 3, 5, 7], [0, 0, 0, 1, 1, 2, 2, 3], 24],
    [0.1, [2, 3, 5, 7], [0, 0, 0, 1, 1, 2, 2, 3], 20],
    [0.3, [2, 3, 5, 7], [0, 0, 0, 1, 1, 2, 2, 3], 19],
    [0.75, [2, 3, 6], [0, 0, 0, 1, 1, 2, 2, 2], 22],
    [1.0, [2, 3, 6], [0, 0, 0, 1, 1, 2, 2, 2], 21],
  ];
  for (const [beta, exemplars, labels, iterations] of table) {
    const r = both(
      s,
      Array.from(med, (m) => beta * m),
      8,
    );
    assert.deepEqual(
      { exemplars: r.exemplars, labels: r.labels, iterations: r.iterations, converged: r.converged },
      { exemplars, labels, iterations, converged: true },
      `beta ${beta}`,
    );
  }
});

test("two separated clusters: one exemplar each (the values scikit-learn 1.2 gives)", () => {
  const pts = [
    [0, 0],
    [0.3, 0.1],
    [0.1, 0.4],
    [0.5, 0.45],
    [6, 6],
    [6.2, 6.5],
    [6.6, 6.1],
  ];
  // Within a cluster s >= -0.5, across clusters s < -60.
  const want: [number, number][] = [
    [-1, 18],
    [-3, 20],
    [-20, 23],
  ];
  for (const [p, iterations] of want) {
    const r = both(similarities(pts), new Array(7).fill(p), 7);
    assert.deepEqual(r.exemplars, [1, 5]);
    assert.deepEqual(r.labels, [0, 0, 0, 0, 1, 1, 1]);
    assert.equal(r.iterations, iterations);
    assert.equal(r.converged, true);
  }
});

test("identical points (§3.7): every point kept when p >= s, else point 0 alone; no iterations", () => {
  const s = similarities([[1], [1], [1], [1]]);
  assert.deepEqual(both(s, [0, 0, 0, 0], 4), {
    exemplars: [0, 1, 2, 3],
    labels: [0, 1, 2, 3],
    iterations: 0,
    converged: true,
    outcome: "degenerate",
  });
  assert.deepEqual(both(s, [-1, -1, -1, -1], 4), {
    exemplars: [0],
    labels: [0, 0, 0, 0],
    iterations: 0,
    converged: true,
    outcome: "degenerate",
  });
  // Equal off-diagonal similarities, equal preferences, points not identical (an equilateral triangle).
  const tri = similarities([
    [0, 0],
    [2, 0],
    [1, Math.sqrt(3)],
  ]);
  tri[1] = tri[2] = tri[3] = tri[5] = tri[6] = tri[7] = -4;
  assert.deepEqual(both(tri, [-5, -5, -5], 3).exemplars, [0]);
  assert.deepEqual(both(tri, [-4, -4, -4], 3).exemplars, [0, 1, 2]);
});

test("n = 1 keeps its point; n = 2 splits or joins by the preference", () => {
  assert.deepEqual(both(new Float64Array(1), [-3], 1), {
    exemplars: [0],
    labels: [0],
    iterations: 0,
    converged: true,
    outcome: "degenerate",
  });
  // n = 2 has one off-diagonal value, so equal preferences are the degenerate case of §3.7...
  const s = similarities([[0], [3]]); // s = -9
  assert.deepEqual(both(s, [-1, -1], 2).exemplars, [0, 1]);
  assert.deepEqual(both(s, [-20, -20], 2).exemplars, [0]);
  // ... and unequal ones run the messages: the point that prefers itself more wins.
  const joined = both(s, [-20, -30], 2);
  assert.deepEqual(joined.exemplars, [0]);
  assert.deepEqual(joined.labels, [0, 0]);
  assert.equal(joined.outcome, "messages");
  assert.equal(joined.converged, true);
  const split = both(s, [-1, -2], 2);
  assert.deepEqual(split.exemplars, [0, 1]);
  assert.deepEqual(split.labels, [0, 1]);
});

// Duplicate points 0 and 2 with preference -19 oscillate: the flags never settle within 200 iterations.
const OSCILLATING = similarities([[4], [8], [4]]);
const OSC_PREFS = [-19, -19, -19];

test("no convergence, lastIteration (the default): the final iteration's exemplars, converged false", () => {
  const r = both(OSCILLATING, OSC_PREFS, 3);
  assert.deepEqual(r, {
    exemplars: [0, 2],
    labels: [0, 0, 1],
    iterations: 200,
    converged: false,
    outcome: "messages",
  });
  // A lower cap stops earlier with the flags of that iteration.
  assert.equal(both(OSCILLATING, OSC_PREFS, 3, { maxIterations: 37 }).iterations, 37);
});

test("no convergence, keepAll: every point its own exemplar", () => {
  assert.deepEqual(both(OSCILLATING, OSC_PREFS, 3, { onNoConvergence: "keepAll" }), {
    exemplars: [0, 1, 2],
    labels: [0, 1, 2],
    iterations: 200,
    converged: false,
    outcome: "keepAll",
  });
});

test("no convergence, error: NOT_CONVERGED naming the cap", () => {
  for (const run of [
    () => affinityPropagation(w, OSCILLATING, OSC_PREFS, 3, { onNoConvergence: "error" }),
    () => reference.affinityPropagation(OSCILLATING, OSC_PREFS, 3, { onNoConvergence: "error" }),
  ]) {
    assert.throws(
      run,
      (e) => isPrunekitError(e) && e.code === "NOT_CONVERGED" && /200 iterations/.test(e.message),
    );
  }
});

test("no flag ever set (§3.7): the largest preference alone, never zero exemplars", () => {
  // Two symmetric pairs with equal preferences tie exactly and never elect an exemplar.
  const s = similarities([[0], [1], [10], [11]]);
  const r = both(s, [-4, -4, -4, -4], 4);
  assert.deepEqual(r.exemplars, [0]);
  assert.equal(r.outcome, "noExemplar");
  assert.equal(r.converged, false);
  const tilted = both(s, [-4, -4, -4, -4], 4, { onNoConvergence: "keepAll" });
  assert.equal(tilted.exemplars.length, 4);
});

test("the seeded tie-breaking noise breaks exact ties, deterministically", () => {
  const s = similarities([[0], [1], [10], [11]]);
  const a = both(s, [-4, -4, -4, -4], 4, { noiseSeed: 0 });
  assert.equal(a.converged, true);
  assert.equal(a.exemplars.length, 2);
  assert.ok(a.exemplars[0]! < 2 && a.exemplars[1]! >= 2);
  assert.deepEqual(affinityPropagation(w, s, [-4, -4, -4, -4], 4, { noiseSeed: 0 }), a);
  // Without ties the noise (relative 2.2e-16) changes nothing.
  const six = similarities(SIX);
  assert.deepEqual(both(six, new Array(6).fill(-9), 6, { noiseSeed: 3 }).exemplars, [0, 3]);
});

test("bad input is refused before the kernel runs", () => {
  const bad = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && re.test(e.message));
  bad(() => affinityPropagation(w, new Float64Array(4), [0], 2), /preferences: expected 2/);
  bad(() => affinityPropagation(w, Float64Array.of(0, Number.NaN, 0, 0), [0, 0], 2), /similarity \[0\]\[1\]/);
  bad(() => affinityPropagation(w, new Float64Array(4), [0, Number.POSITIVE_INFINITY], 2), /preference 1/);
  bad(() => affinityPropagation(w, new Float64Array(4), [0, -1], 2, { damping: 0.2 }), /damping/);
  bad(() => affinityPropagation(w, new Float64Array(0), [], 0), /at least one point/);
});

/** Points from a seed, similarities and beta * row-median preferences as EPruner builds them (§3.2). */
function filterCase(seed: number, n: number, d: number, beta: number, duplicates: number) {
  const x = seededFloats(seed, n * d);
  // Some exact duplicates and zero rows, as real layers have (dead filters, copies).
  for (let q = 0; q < duplicates && n > 2; q++) {
    const from = (q * 7) % n;
    const to = (q * 13 + 1) % n;
    if (q % 3 === 0) x.fill(0, to * d, (to + 1) * d);
    else x.copyWithin(to * d, from * d, (from + 1) * d);
  }
  const dist = pairwiseSqEuclidean(w, x, n, d);
  const s = dist.map((v) => -v);
  const med = rowMedians(w, s, n, n);
  return { s, prefs: Array.from(med, (m) => beta * m) };
}

const caseArb = (maxN: number) =>
  fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    n: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 9 }) }, fc.integer({ min: 10, max: maxN })),
    d: fc.integer({ min: 1, max: 19 }),
    beta: fc.double({ min: 0, max: 2, noNaN: true }),
    duplicates: fc.integer({ min: 0, max: 6 }),
    noise: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  });

test("WASM equals the reference exactly on random layers (ragged n, duplicates, noise)", () => {
  fc.assert(
    fc.property(caseArb(64), ({ seed, n, d, beta, duplicates, noise }) => {
      const { s, prefs } = filterCase(seed, n, d, beta, duplicates);
      const options = noise === undefined ? {} : { noiseSeed: noise };
      assert.deepEqual(
        affinityPropagation(w, s, prefs, n, options),
        reference.affinityPropagation(s, prefs, n, options),
      );
    }),
  );
});

test("WASM equals the reference exactly up to a few hundred points", () => {
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        n: fc.integer({ min: 100, max: 301 }),
        d: fc.integer({ min: 3, max: 40 }),
        beta: fc.double({ min: 0.2, max: 1.5, noNaN: true }),
      }),
      ({ seed, n, d, beta }) => {
        const { s, prefs } = filterCase(seed, n, d, beta, 3);
        assert.deepEqual(affinityPropagation(w, s, prefs, n), reference.affinityPropagation(s, prefs, n));
      },
    ),
    { numRuns: 6 },
  );
});

test("exemplars and labels are consistent: ascending, every exemplar labels itself, labels in range", () => {
  fc.assert(
    fc.property(caseArb(48), ({ seed, n, d, beta, duplicates }) => {
      const { s, prefs } = filterCase(seed, n, d, beta, duplicates);
      const r = affinityPropagation(w, s, prefs, n);
      assert.ok(r.exemplars.length >= 1);
      for (let j = 1; j < r.exemplars.length; j++) assert.ok(r.exemplars[j - 1]! < r.exemplars[j]!);
      r.exemplars.forEach((e, j) => {
        assert.equal(r.labels[e], j);
      });
      assert.equal(r.labels.length, n);
      for (const l of r.labels) assert.ok(Number.isInteger(l) && l >= 0 && l < r.exemplars.length);
    }),
  );
});
