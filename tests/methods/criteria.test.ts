import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import {
  filterScores,
  keptCount,
  roundHalfEven,
  selectKept,
  topIndices,
} from "../../src/methods/criteria.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { size } from "../helpers/arbitraries.ts";

const w = await getWasm();

test("keptCount reproduces the reference float64 caveat (§2.3): floor(100·(1−0.9)) = 9", () => {
  assert.equal(keptCount(100, 0.9, "floor"), 9);
  assert.equal(keptCount(100, 0.9, "corrected"), 10);
  assert.equal(keptCount(100, 0.9, "round"), 10);
  // 1 − 0.8 = 0.19999999999999996 in float64.
  assert.equal(keptCount(100, 0.8, "floor"), 19);
  assert.equal(keptCount(100, 0.8, "corrected"), 20);
  assert.equal(keptCount(300, 0.8, "floor"), 59);
  assert.equal(keptCount(300, 0.8, "round"), 60);
});

test("keptCount 'round' is half-to-even like Python's round", () => {
  assert.equal(keptCount(5, 0.5, "round"), 2); // round(2.5) = 2
  assert.equal(keptCount(7, 0.5, "round"), 4); // round(3.5) = 4
  assert.equal(keptCount(9, 0.5, "round"), 4); // round(4.5) = 4
  assert.equal(keptCount(300, 0.5, "round"), 150);
  assert.equal(keptCount(100, 0.5, "round"), 50);
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, 4, 2, 3]);
});

test("keptCount clamps to [1, N] (§0 at least one channel)", () => {
  assert.equal(keptCount(10, 1, "floor"), 1);
  assert.equal(keptCount(10, 0.99, "round"), 1);
  assert.equal(keptCount(3, 0, "floor"), 3);
  assert.equal(keptCount(1, 0.5, "floor"), 1);
});

test("keptCount rejects bad arguments with INVALID_ARGUMENT", () => {
  for (const [n, r] of [
    [0, 0.5],
    [2.5, 0.5],
    [10, -0.1],
    [10, 1.5],
    [10, Number.NaN],
  ] as const) {
    assert.throws(
      () => keptCount(n, r, "floor"),
      (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
    );
  }
});

test("keptCount modes agree with their definitions on random inputs", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4096 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
      const x = n * (1 - r);
      const clamp = (p: number) => Math.min(n, Math.max(1, p));
      assert.equal(keptCount(n, r, "floor"), clamp(Math.floor(x)));
      const c = keptCount(n, r, "corrected");
      assert.ok(
        c === keptCount(n, r, "floor") || (c === clamp(Math.floor(x) + 1) && Math.ceil(x) - x <= 1e-9),
      );
      const p = keptCount(n, r, "round");
      assert.ok(Math.abs(p - clamp(x)) <= 0.5 + 1e-12 || p === 1);
    }),
  );
});

test("gm criterion keeps the filters farthest from the others (hand example)", () => {
  // Points 0, 1, 2, 10 on a line: d = [13, 11, 11, 27] -> keep the two largest: 3 and 0.
  const v = Float32Array.of(0, 1, 2, 10);
  assert.deepEqual(Array.from(filterScores(w, "gm", v, 4, 1)), [13, 11, 11, 27]);
  assert.deepEqual(selectKept(w, "gm", v, 4, 1, 2), [0, 3]);
  // Ties (1 and 2 both have 11) go to the lower index.
  assert.deepEqual(selectKept(w, "gm", v, 4, 1, 3), [0, 1, 3]);
});

test("l1 and l2 criteria on a hand example, ties by lower index", () => {
  // Rows: [3, 0], [1, 1], [0, 3], [2, 2] -> l1 = 3, 2, 3, 4; l2 = 3, 1.414, 3, 2.828.
  const v = Float32Array.of(3, 0, 1, 1, 0, 3, 2, 2);
  assert.deepEqual(selectKept(w, "l1", v, 4, 2, 2), [0, 3]);
  assert.deepEqual(selectKept(w, "l1", v, 4, 2, 3), [0, 2, 3]);
  assert.deepEqual(selectKept(w, "l2", v, 4, 2, 2), [0, 2]);
  assert.deepEqual(topIndices([3, 1, 3, 2], 2), [0, 2]);
  assert.deepEqual(topIndices([Number.NaN, 1], 1), [1]);
});

/** Plain f64 reference of §2.3 with a different tie-break implementation (stable scan). */
function naiveKept(kind: "l1" | "l2" | "gm", v: Float32Array, n: number, d: number, p: number): number[] {
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) {
      const x = v[i * d + c]!;
      if (kind === "l1") s += Math.abs(x);
      else if (kind === "l2") s += x * x;
      else {
        // gm handled below
      }
    }
    score[i] = kind === "l2" ? Math.sqrt(s) : s;
  }
  if (kind === "gm") {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) {
        let q = 0;
        for (let c = 0; c < d; c++) q += (v[i * d + c]! - v[j * d + c]!) ** 2;
        s += Math.sqrt(q);
      }
      score[i] = s;
    }
  }
  const taken = new Set<number>();
  for (let t = 0; t < p; t++) {
    let best = -1;
    for (let i = 0; i < n; i++) if (!taken.has(i) && (best < 0 || score[i]! > score[best]!)) best = i;
    taken.add(best);
  }
  return [...taken].sort((a, b) => a - b);
}

/** Small integer-valued filters: every norm and distance is exact or order-preserving in f32, ties real. */
const smallIntLayer = fc
  .tuple(fc.integer({ min: 1, max: 24 }), size(20))
  .chain(([n, d]) =>
    fc
      .tuple(
        fc.array(fc.integer({ min: -3, max: 3 }), { minLength: n * d, maxLength: n * d }),
        fc.integer({ min: 1, max: n }),
      )
      .map(([xs, p]) => ({ n, d, p, v: Float32Array.from(xs) })),
  );

for (const kind of ["l1", "l2", "gm"] as const) {
  test(`selectKept ${kind} matches a naive reference, ascending, ties by lower index`, () => {
    fc.assert(
      fc.property(smallIntLayer, ({ n, d, p, v }) => {
        const keep = selectKept(w, kind, v, n, d, p);
        assert.equal(keep.length, p);
        for (let i = 1; i < keep.length; i++) assert.ok(keep[i - 1]! < keep[i]!);
        assert.deepEqual(keep, naiveKept(kind, v, n, d, p));
      }),
    );
  });
}

test("selectKept rejects a kept count outside [1, N]", () => {
  assert.throws(
    () => selectKept(w, "l1", new Float32Array(4), 2, 2, 0),
    (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
  assert.throws(
    () => selectKept(w, "l1", new Float32Array(3), 2, 2, 1),
    (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
});
