import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import type { DependencyGroup } from "../../src/graph/group.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import {
  BUDGET_DEFAULTS,
  type BudgetOptions,
  checkBudget,
  defaultRounding,
  groupKeptCount,
  isExcluded,
} from "../../src/methods/budget.ts";
import { keptCount } from "../../src/methods/criteria.ts";
import { MAGNITUDE_DEFAULTS } from "../../src/methods/magnitude.ts";
import { MERGE_DEFAULTS } from "../../src/methods/merge.ts";
import { NetBuilder } from "../graph/net-builder.ts";

/** A conv chain (widths[0..]) then a Gemm head of 6 units and a Gemm classifier: conv and FC groups. */
function groupsOf(widths: number[]): DependencyGroup[] {
  const nb = new NetBuilder("x", [3, 6, 6]);
  let x = "x";
  for (const w of widths) x = nb.relu(nb.conv(x, w));
  const head = nb.relu(nb.gemm(nb.flatten(nb.gap(x)), 6));
  return findDependencyGroups(buildGraph(nb.model([nb.gemm(head, 2)])));
}

const opts = (o: Partial<BudgetOptions>): BudgetOptions => ({ ...BUDGET_DEFAULTS, ...o });

test("one default per width option: the methods' defaults are the budget's", () => {
  for (const key of Object.keys(BUDGET_DEFAULTS) as (keyof BudgetOptions)[]) {
    assert.deepEqual(MAGNITUDE_DEFAULTS[key], BUDGET_DEFAULTS[key], `magnitude ${key}`);
    assert.deepEqual(MERGE_DEFAULTS[key], BUDGET_DEFAULTS[key], `merge ${key}`);
  }
  assert.equal(BUDGET_DEFAULTS.rounding, "auto");
});

test("groupKeptCount is keptCount with the group's own ratio and rounding (auto: round for FC, floor for conv)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom("auto", "round", "floor", "corrected" as const),
      (widths, ratio, own, rounding) => {
        const groups = groupsOf(widths);
        const target = groups[0]!;
        const o = opts({ ratio, rounding, layerRatios: { [target.producers[0]!.node]: own } });
        checkBudget(groups, o, "test");
        for (const g of groups) {
          const r = g === target ? own : ratio;
          const mode = rounding === "auto" ? defaultRounding(g) : rounding;
          assert.equal(groupKeptCount(g, o, "test"), keptCount(g.channels, r, mode));
        }
      },
    ),
  );
  const [conv, fcGroup] = [groupsOf([5])[0]!, groupsOf([5])[1]!];
  assert.equal(defaultRounding(conv), "floor");
  assert.equal(defaultRounding(fcGroup), "round");
  // 5 · 0.5 = 2.5: floor gives 2 for the conv; 6 · 0.75 = 4.5 rounds half to even (4) for the FC layer.
  assert.equal(groupKeptCount(conv, opts({ ratio: 0.5 }), "t"), 2);
  assert.equal(groupKeptCount(fcGroup, opts({ ratio: 0.25 }), "t"), 4);
});

test("exact counts win over ratios; exclusions; errors name the option and the layer", () => {
  const groups = groupsOf([8, 4]);
  const [a, b] = [groups[0]!, groups[1]!];
  const name = a.producers[0]!.node;
  assert.equal(groupKeptCount(a, opts({ layers: { [name]: 3 }, layerRatios: { [name]: 0.9 } }), "t"), 3);
  assert.equal(isExcluded(a, opts({ exclude: [name] })), true);
  assert.equal(isExcluded(b, opts({ exclude: [name] })), false);
  const bad: [Partial<BudgetOptions>, RegExp][] = [
    [{ ratio: 1.5 }, /t: ratio must be in \[0, 1\]/],
    [{ ratio: Number.NaN }, /ratio must be in \[0, 1\]/],
    [{ layerRatios: { [name]: -0.1 } }, /layerRatios\[".*"\] must be in \[0, 1\]/],
    [{ layers: { [name]: 0 } }, /must be a kept count >= 1/],
    [{ layers: { [name]: 2.5 } }, /must be a kept count >= 1/],
    [{ rounding: "up" as never }, /rounding must be "auto", "round", "floor" or "corrected"/],
    [{ exclude: ["ghost"] }, /exclude: no prunable layer named "ghost"/],
    [{ layers: { ghost: 2 } }, /layers: no prunable layer named "ghost"/],
    [{ layerRatios: { ghost: 0.2 } }, /layer ratio: no prunable layer named "ghost"/],
  ];
  for (const [o, message] of bad) {
    assert.throws(
      () => checkBudget(groups, opts(o), "t"),
      (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
      String(message),
    );
  }
  assert.throws(
    () => groupKeptCount(a, opts({ layers: { [name]: 9 } }), "t"),
    /keeps 9 filters, but the layer has 8/,
  );
});

test("grouped convs: counts round down to a multiple of the blocks; an exact count must be one", () => {
  const nb = new NetBuilder("x", [4, 6, 6]);
  const a = nb.relu(nb.conv("x", 8));
  const b = nb.relu(nb.conv(a, 8, { group: 4 }));
  const groups = findDependencyGroups(buildGraph(nb.model([nb.gemm(nb.flatten(nb.gap(b)), 2)])));
  const blocked = groups.find((g) => g.blocks === 4)!;
  assert.ok(blocked !== undefined, "the grouped conv ties its input channels into 4 blocks");
  assert.equal(groupKeptCount(blocked, opts({ ratio: 0.3 }), "t"), 4); // floor(5.6) = 5 -> 4
  assert.equal(groupKeptCount(blocked, opts({ ratio: 0.95 }), "t"), 4); // never below one per block
  assert.throws(
    () => groupKeptCount(blocked, opts({ layers: { [blocked.producers[0]!.node]: 6 } }), "t"),
    /use a multiple of 4/,
  );
});

test("a residual group: one ratio for all tied layers (the last named producer wins), one exact count", () => {
  const nb = new NetBuilder("x", [4, 6, 6]);
  const stem = nb.relu(nb.conv("x", 6));
  const y = nb.add(nb.conv(nb.relu(nb.conv(stem, 3)), 6), stem);
  const groups = findDependencyGroups(buildGraph(nb.model([nb.gemm(nb.flatten(nb.gap(nb.relu(y))), 2)])));
  const residual = groups.find((g) => g.producers.length === 2)!;
  const [p, q] = residual.producers.map((x) => x.node) as [string, string];
  assert.equal(groupKeptCount(residual, opts({ ratio: 0, layerRatios: { [p]: 0.5 } }), "t"), 3);
  assert.equal(groupKeptCount(residual, opts({ layers: { [p]: 2, [q]: 2 } }), "t"), 2);
  assert.throws(
    () => groupKeptCount(residual, opts({ layers: { [p]: 2, [q]: 4 } }), "t"),
    (e) =>
      isPrunekitError(e) && /share their channels \(one group\) and must keep the same count/.test(e.message),
  );
});
