// Gate Decorator's global pruning step (docs/methods.md §4.4) on plain arrays: every edge case.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pruneGlobally, type StepGroup } from "../../src/methods/gate-step.ts";

const group = (scores: number[], o: Partial<StepGroup> = {}): StepGroup => ({
  scores: Float64Array.from(scores),
  mask: o.mask ?? Uint8Array.from(scores.map((s) => (s === 0 ? 0 : 1))),
  minimal: o.minimal ?? 1,
  count: o.count ?? 1,
});

test("pruneGlobally: τ = sorted candidates[num]; channels at or below τ go, the protected highest stay", () => {
  // 10 live channels, p = 0.2 → num 2; candidates (without the protected 10) [1..9]; τ = 3.
  const r = pruneGlobally([group([5, 1, 9, 3, 10, 2, 8, 4, 7, 6])], 0.2);
  assert.equal(r.num, 2);
  assert.equal(r.remaining, 10);
  assert.equal(r.threshold, 3);
  assert.deepEqual(Array.from(r.masks[0]!), [1, 0, 1, 0, 1, 0, 1, 1, 1, 1]);
  assert.equal(r.removed, 3);
});

test("pruneGlobally: scores are compared across groups, and a group's candidates count `count` times", () => {
  const a = group([1, 2, 100], { count: 2 });
  const b = group([3, 4, 100]);
  // remaining = 3·2 + 3 = 9; p = 0.25 → num 2; candidates [1, 1, 2, 2, 3, 4] → τ = 2.
  const r = pruneGlobally([a, b], 0.25);
  assert.equal(r.remaining, 9);
  assert.equal(r.threshold, 2);
  assert.deepEqual(Array.from(r.masks[0]!), [0, 0, 1]);
  assert.deepEqual(Array.from(r.masks[1]!), [1, 1, 1]);
});

test("pruneGlobally: nothing to prune (every group at its protected minimum) stops with no change", () => {
  const r = pruneGlobally([group([0, 0, 5], { minimal: 1 }), group([7])], 0.5, { atLeastOne: true });
  assert.equal(r.stopped, "no-candidates");
  assert.equal(r.removed, 0);
  assert.deepEqual(Array.from(r.masks[0]!), [0, 0, 1]);
  assert.equal(r.threshold, undefined);
});

test("pruneGlobally: num = 0 prunes nothing unless atLeastOne (a FLOPs target, §4.9)", () => {
  const g = group([1, 2, 3, 4]);
  const none = pruneGlobally([g], 0.002);
  assert.equal(none.stopped, "num-zero");
  assert.equal(none.removed, 0);
  const one = pruneGlobally([g], 0.002, { atLeastOne: true });
  assert.equal(one.num, 1);
  assert.equal(one.threshold, 2);
  assert.deepEqual(Array.from(one.masks[0]!), [0, 0, 1, 1]);
});

test("pruneGlobally: asking for more than exists clamps to len − 1 and keeps every protected channel", () => {
  const r = pruneGlobally([group([1, 2, 3, 4, 5], { minimal: 2 }), group([6, 7, 8])], 0.99);
  assert.deepEqual(Array.from(r.masks[0]!), [0, 0, 0, 1, 1]);
  assert.deepEqual(Array.from(r.masks[1]!), [0, 0, 1]);
  assert.equal(r.threshold, 7);
});

test("pruneGlobally: live channels scoring exactly 0 fall below τ and are removed (and counted)", () => {
  const mask = Uint8Array.of(1, 1, 1, 1, 0);
  const r = pruneGlobally([group([0, 5, 6, 9, 0], { mask })], 0.25, { atLeastOne: true });
  // remaining 4 → num 1; candidates without zeros and the protected 9: [5, 6] → τ = 6.
  assert.equal(r.threshold, 6);
  assert.deepEqual(Array.from(r.masks[0]!), [0, 0, 0, 1, 0]);
  assert.equal(r.removedZeroScore, 1);
  assert.equal(r.removed, 3);
});

test("pruneGlobally: masks never come back, and ties with the protected score are kept", () => {
  const r = pruneGlobally([group([4, 4, 4, 1], { mask: Uint8Array.of(1, 1, 0, 1) })], 0.5);
  assert.deepEqual(Array.from(r.masks[0]!), [1, 1, 0, 0]);
});

test("pruneGlobally: an empty list of groups does nothing", () => {
  const r = pruneGlobally([], 0.5, { atLeastOne: true });
  assert.equal(r.removed, 0);
  assert.equal(r.stopped, "no-candidates");
});
