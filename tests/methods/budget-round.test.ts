// roundTo (issue #9, hardware-friendly widths): the rounding rule, its use on groups (exact counts,
// grouped-conv blocks), EPruner's exemplar rounding and the mask rounding Gate Decorator uses.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import {
  BUDGET_DEFAULTS,
  type BudgetOptions,
  checkBudget,
  groupKeptCounts,
  roundingStep,
  roundKeptCount,
  roundMask,
} from "../../src/methods/budget.ts";
import { roundExemplars } from "../../src/methods/epruner.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const opts = (o: Partial<BudgetOptions>): BudgetOptions => ({ ...BUDGET_DEFAULTS, ...o });

/** The nearest multiple of `step` in [step, channels] by enumeration, ties to the larger. */
function nearestByEnumeration(raw: number, channels: number, step: number): number {
  let best = -1;
  for (let m = step; m <= channels; m += step) {
    if (best < 0 || Math.abs(m - raw) < Math.abs(best - raw) || Math.abs(m - raw) === Math.abs(best - raw))
      best = m;
  }
  return best;
}

test("roundKeptCount: the nearest multiple of lcm(N, blocks) in [step, channels]; whole and narrow layers as computed", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 16 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (blocks, perBlock, roundTo, u) => {
        const channels = blocks * perBlock;
        const raw = blocks * Math.max(1, Math.ceil(u * perBlock));
        const step = roundingStep(roundTo, blocks);
        assert.equal(step % roundTo, 0);
        assert.equal(step % blocks, 0);
        const k = roundKeptCount(raw, channels, roundTo, blocks);
        assert.ok(k <= channels, "never above the original");
        if (raw === channels || channels < step) {
          assert.equal(k, raw);
          return;
        }
        assert.equal(k % step, 0, `${k} is a multiple of ${step}`);
        assert.ok(k >= step, "at least one step");
        assert.equal(k, nearestByEnumeration(raw, channels, step));
        assert.ok(Math.abs(k - raw) < step);
      },
    ),
  );
  for (let raw = 1; raw <= 30; raw++) assert.equal(roundKeptCount(raw, 30, 1), raw, "roundTo 1 is off");
  assert.equal(roundKeptCount(11, 16, 8), 8);
  assert.equal(roundKeptCount(12, 16, 8), 16); // a tie goes to the larger width
  assert.equal(roundKeptCount(19, 20, 8), 16); // 24 would exceed the layer
  assert.equal(roundKeptCount(3, 20, 8), 8); // at least N
  assert.equal(roundKeptCount(3, 6, 8), 3); // no multiple of 8 fits in 6 channels
  assert.equal(roundKeptCount(20, 20, 8), 20); // a layer kept whole stays whole
  assert.equal(roundKeptCount(8, 24, 6, 4), 12); // lcm(6, 4) = 12
});

test("groupKeptCounts: ratio counts are rounded and the raw count kept; exact counts must be multiples", () => {
  const nb = new NetBuilder("x", [3, 6, 6]);
  let x = "x";
  for (const w of [64, 6]) x = nb.relu(nb.conv(x, w));
  const groups = findDependencyGroups(buildGraph(nb.model([nb.gemm(nb.flatten(nb.gap(x)), 2)])));
  const [wide, narrow] = [groups[0]!, groups[1]!];
  const name = wide.producers[0]!.node;
  // 64 · 0.7 = 44.8, floor 44; 40 and 48 are equally near: 48.
  assert.deepEqual(groupKeptCounts(wide, opts({ ratio: 0.3, roundTo: 8 }), "t"), { raw: 44, kept: 48 });
  assert.deepEqual(groupKeptCounts(wide, opts({ ratio: 0.3 }), "t"), { raw: 44, kept: 44 });
  assert.deepEqual(groupKeptCounts(narrow, opts({ ratio: 0.5, roundTo: 8 }), "t"), { raw: 3, kept: 3 });
  assert.deepEqual(groupKeptCounts(wide, opts({ ratio: 0, roundTo: 8 }), "t"), { raw: 64, kept: 64 });
  assert.deepEqual(groupKeptCounts(wide, opts({ layers: { [name]: 16 }, roundTo: 8 }), "t"), {
    raw: 16,
    kept: 16,
  });
  assert.throws(
    () => groupKeptCounts(wide, opts({ layers: { [name]: 12 }, roundTo: 8 }), "t"),
    (e) =>
      isPrunekitError(e) &&
      e.code === "INVALID_ARGUMENT" &&
      e.node === name &&
      /keeps 12 filters, not a multiple of roundTo 8; give a multiple of 8/.test(e.message),
  );
  for (const roundTo of [0, 2.5, -8, "8"]) {
    assert.throws(
      () => checkBudget(groups, opts({ roundTo: roundTo as number }), "t"),
      (e) => isPrunekitError(e) && /t: roundTo must be an integer >= 1/.test(e.message),
    );
  }
});

test("groupKeptCounts with grouped convs rounds to lcm(roundTo, blocks) and names both in the refusal", () => {
  const nb = new NetBuilder("x", [4, 6, 6]);
  const a = nb.relu(nb.conv("x", 48));
  const b = nb.relu(nb.conv(a, 48, { group: 4 }));
  const groups = findDependencyGroups(buildGraph(nb.model([nb.gemm(nb.flatten(nb.gap(b)), 2)])));
  const blocked = groups.find((g) => g.blocks === 4)!;
  // 48 · 0.5 = 24 (a multiple of 4); step lcm(6, 4) = 12: 24.
  assert.deepEqual(groupKeptCounts(blocked, opts({ ratio: 0.5, roundTo: 6 }), "t"), { raw: 24, kept: 24 });
  // 48 · 0.7 = 33.6 -> 33 -> 32 (blocks); nearest multiple of 12: 36.
  assert.deepEqual(groupKeptCounts(blocked, opts({ ratio: 0.3, roundTo: 6 }), "t"), { raw: 32, kept: 36 });
  assert.throws(
    () =>
      groupKeptCounts(blocked, opts({ layers: { [blocked.producers[0]!.node]: 24 + 4 }, roundTo: 6 }), "t"),
    /not a multiple of roundTo 6 and the 4 blocks \(12\)/,
  );
});

/** Random clusterings: n filters, exemplars with labels, similarities and norms. */
const clustering = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      isExemplar: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      pick: fc.array(fc.nat(), { minLength: n, maxLength: n }),
      s: fc.array(fc.integer({ min: -50, max: 0 }), { minLength: n * n, maxLength: n * n }),
      l1: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: n, maxLength: n }),
      roundTo: fc.integer({ min: 1, max: 12 }),
    }),
  )
  .map((c) => {
    const exemplars = c.isExemplar.flatMap((e, i) => (e ? [i] : []));
    if (exemplars.length === 0) exemplars.push(0);
    const labels = c.pick.map((p, i) => {
      const own = exemplars.indexOf(i);
      return own >= 0 ? own : p % exemplars.length;
    });
    return { ...c, exemplars, labels, s: Float64Array.from(c.s), l1: Float64Array.from(c.l1) };
  });

test("roundExemplars: the rounded count; rounding down keeps a subset (the largest clusters), rounding up adds the largest-L1 filters", () => {
  fc.assert(
    fc.property(clustering, ({ n, exemplars, labels, s, l1, roundTo }) => {
      const r = roundExemplars(s, l1, n, exemplars, labels, roundTo);
      const want = roundKeptCount(exemplars.length, n, roundTo);
      assert.equal(r.exemplars.length, want);
      assert.deepEqual(
        r.exemplars,
        [...r.exemplars].sort((a, b) => a - b),
      );
      assert.equal(r.labels.length, n);
      for (let i = 0; i < n; i++) assert.ok(r.labels[i]! >= 0 && r.labels[i]! < r.exemplars.length);
      for (const [pos, e] of r.exemplars.entries())
        assert.equal(r.labels[e], pos, "an exemplar is in its own cluster");
      const size = (e: number) => labels.filter((l) => exemplars[l] === e).length;
      if (want < exemplars.length) {
        assert.ok(r.exemplars.every((e) => exemplars.includes(e)));
        const dropped = exemplars.filter((e) => !r.exemplars.includes(e));
        const smallestKept = Math.min(...r.exemplars.map(size));
        for (const d of dropped) assert.ok(size(d) <= smallestKept, "the smallest clusters are dropped");
        // Members of a dropped cluster join their most similar remaining exemplar.
        for (let i = 0; i < n; i++) {
          if (!dropped.includes(exemplars[labels[i]!]!)) continue;
          const e = r.exemplars[r.labels[i]!]!;
          for (const k of r.exemplars) assert.ok(s[i * n + e]! >= s[i * n + k]!);
        }
      } else if (want > exemplars.length) {
        assert.ok(exemplars.every((e) => r.exemplars.includes(e)));
        const added = r.exemplars.filter((e) => !exemplars.includes(e));
        const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !r.exemplars.includes(i));
        for (const a of added)
          for (const o of rest) assert.ok(l1[a]! >= l1[o]!, "the largest L1 norms are added");
      } else {
        assert.deepEqual(r, { exemplars, labels });
      }
    }),
  );
});

test("roundMask: the rounded live count, by score, never below the protected minimum when there is room", () => {
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: 1, maxLength: 48 }),
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 48, maxLength: 48 }),
      fc.integer({ min: 1, max: 12 }),
      (live, scores, roundTo) => {
        const mask = Uint8Array.from(live, (b) => (b ? 1 : 0));
        if (!mask.includes(1)) mask[0] = 1;
        const n = mask.length;
        const before = mask.reduce((a, b) => a + b, 0);
        const out = roundMask(mask, scores, roundTo);
        const after = out.reduce((a, b) => a + b, 0);
        assert.equal(after, roundKeptCount(before, n, roundTo));
        const changed = Array.from(out.keys()).filter((c) => out[c] !== mask[c]);
        if (after > before) {
          assert.ok(changed.every((c) => out[c] === 1));
          const stillMasked = Array.from(out.keys()).filter((c) => out[c] === 0);
          for (const c of changed) for (const o of stillMasked) assert.ok(scores[c]! >= scores[o]!);
        } else {
          assert.ok(changed.every((c) => out[c] === 0));
          const live2 = Array.from(out.keys()).filter((c) => out[c] === 1);
          for (const c of changed) for (const o of live2) assert.ok(scores[c]! <= scores[o]!);
        }
      },
    ),
  );
  // 9 of 32 live rounds to 8, below a protected minimum of 9: one step up instead (16).
  const mask = new Uint8Array(32).fill(0).fill(1, 0, 9);
  const scores = Array.from({ length: 32 }, (_, c) => 32 - c);
  assert.equal(
    roundMask(mask, scores, 8, 9).reduce((a, b) => a + b, 0),
    16,
  );
  assert.equal(
    roundMask(mask, scores, 8).reduce((a, b) => a + b, 0),
    8,
  );
});
