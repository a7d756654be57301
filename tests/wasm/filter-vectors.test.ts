import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { selectKept, selectKeptOfVectors } from "../../src/methods/criteria.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  type FilterVectors,
  filterVectorNorms,
  filterVectorPartners,
  PARTNER_BLOCK_ELEMENTS,
  partnerBlockRows,
} from "../../src/wasm/kernels/filter-vectors.ts";
import { mergePartners } from "../../src/wasm/kernels/merge.ts";
import { rowReduce } from "../../src/wasm/kernels/reduce.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const w = await getWasm();

/** The vectors of `v` built the plain way: [weights_n ; appended_n] per row. */
function built(v: FilterVectors): Float32Array {
  const len = v.appended === undefined ? v.cols : v.cols + 1;
  const out = new Float32Array(v.rows * len);
  for (let i = 0; i < v.rows; i++) {
    for (let j = 0; j < v.cols; j++) out[i * len + j] = v.weights[i * v.cols + j]!;
    if (v.appended !== undefined) out[i * len + v.cols] = v.appended[i]!;
  }
  return out;
}

/**
 * A layer of n filters of d weights (bias appended or not) whose first third are positive multiples
 * (plus noise) of later filters, so that merges happen; sizes cross the SIMD and 4x2-tile edges.
 */
const layer = fc
  .record({
    n: fc.integer({ min: 2, max: 23 }),
    d: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 70 })),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
    withBias: fc.boolean(),
    ratio: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
  })
  .map(({ n, d, seed, withBias, ratio }) => {
    const weights = seededFloats(seed, n * d);
    const noise = seededFloats(seed + 1, n * d);
    for (let i = 0; i < Math.floor(n / 3); i++) {
      const src = n - 1 - i;
      for (let j = 0; j < d; j++)
        weights[i * d + j] = (1.5 + i) * weights[src * d + j]! + 0.01 * noise[i * d + j]!;
    }
    const v: FilterVectors = { weights, rows: n, cols: d };
    if (withBias) v.appended = seededFloats(seed + 2, n);
    const keptCount = Math.max(1, Math.min(n - 1, Math.round(n * (1 - ratio))));
    return { v, keptCount };
  });

test("filterVectorNorms equals rowReduce on the built vectors, bit for bit", () => {
  fc.assert(
    fc.property(layer, fc.constantFrom("l1" as const, "l2" as const), ({ v }, kind) => {
      const len = v.appended === undefined ? v.cols : v.cols + 1;
      assert.deepEqual(filterVectorNorms(w, kind, v), rowReduce(w, kind, built(v), v.rows, len));
    }),
  );
});

test("selectKeptOfVectors equals selectKept on the built vectors for every criterion", () => {
  fc.assert(
    fc.property(
      layer,
      fc.constantFrom("l1" as const, "l2" as const, "gm" as const),
      ({ v, keptCount }, c) => {
        const len = v.appended === undefined ? v.cols : v.cols + 1;
        assert.deepEqual(
          selectKeptOfVectors(w, c, v, keptCount),
          selectKept(w, c, built(v), v.rows, len, keptCount),
        );
      },
    ),
  );
});

test("filterVectorPartners equals mergePartners on the built vectors, without and with BatchNorm", () => {
  fc.assert(
    fc.property(
      layer,
      fc.constantFrom("exact" as const, "reference" as const),
      fc.integer({ min: 1, max: 9 }),
      ({ v, keptCount }, formula, blockRows) => {
        const n = v.rows;
        const len = v.appended === undefined ? v.cols : v.cols + 1;
        const keep = selectKeptOfVectors(w, "l1", v, keptCount);
        const kept = new Set(keep);
        const removed = Array.from({ length: n }, (_, i) => i).filter((i) => !kept.has(i));
        const bn = {
          gamma: seededFloats(n, n),
          beta: seededFloats(n + 1, n),
          mean: seededFloats(n + 2, n),
          var: Array.from(seededFloats(n + 3, n), (x) => Math.abs(x) + 0.1),
          eps: 1e-5,
        };
        for (const opts of [{ threshold: 0.1 }, { threshold: 0.1, bn, lambda: 0.85, formula }]) {
          const whole = mergePartners(w, built(v), n, len, removed, keep, opts);
          assert.deepEqual(filterVectorPartners(w, v, removed, keep, opts), whole);
          // Blocks of removed rows (1..9 rows, ragged last block) give the same partners and scales.
          assert.deepEqual(filterVectorPartners(w, v, removed, keep, { ...opts, blockRows }), whole);
        }
      },
    ),
  );
});

test("partnerBlockRows keeps a block within PARTNER_BLOCK_ELEMENTS, in whole tiles", () => {
  assert.equal(partnerBlockRows(2867, 25089), 160);
  assert.equal(partnerBlockRows(16384, 13), 256);
  for (const [kept, len] of [
    [1, 1],
    [16384, 13],
    [100, 300000],
    [1 << 22, 3],
    [7, 1 << 23],
  ] as const) {
    const rows = partnerBlockRows(kept, len);
    assert.ok(rows >= 4 && rows % 4 === 0, `${kept} x ${len}: ${rows}`);
    if (rows > 4)
      assert.ok(rows * Math.max(kept, len) <= PARTNER_BLOCK_ELEMENTS, `${kept} x ${len}: ${rows}`);
  }
});

test("filterVectorPartners finds a planted positive multiple through the appended bias", () => {
  // Filter 0 = 2 x filter 1, bias included: z = 1/2 (§2.4, w̃ = [w; b]).
  const v: FilterVectors = { weights: Float32Array.of(2, 4, 1, 2), rows: 2, cols: 2, appended: [6, 3] };
  const found = filterVectorPartners(w, v, [1], [0], { threshold: 0.45 });
  assert.deepEqual([...found.partner], [0]);
  assert.equal(found.scale[0], 0.5);
});

test("filter vector kernels refuse bad sizes, indices and BatchNorm entries", () => {
  const v: FilterVectors = { weights: new Float32Array(4), rows: 2, cols: 2 };
  const bad = (f: () => unknown) =>
    assert.throws(f, (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT");
  bad(() => filterVectorNorms(w, "l1", { ...v, weights: new Float32Array(3) }));
  bad(() => filterVectorNorms(w, "l1", { ...v, appended: [1] }));
  bad(() => filterVectorPartners(w, v, [2], [0], { threshold: 0.1 }));
  bad(() => filterVectorPartners(w, v, [1], [0.5], { threshold: 0.1 }));
  const bn = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], var: [1, -1], eps: 0 };
  bad(() => filterVectorPartners(w, v, [1], [0], { threshold: 0.1, bn }));
  bad(() => filterVectorPartners(w, v, [1], [0], { threshold: 0.1, bn: { ...bn, var: [1, 1], eps: -1 } }));
});
