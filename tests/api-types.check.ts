// Type-level test, checked by `npm run check` (tsc over tests/): PruneOptions is a union per method,
// so an option of another method is a compile error. Each `@ts-expect-error` line fails the check if
// it ever type-checks (tsc then reports the unused directive). Nothing here runs.
import type {
  EPrunerPruneOptions,
  GatePruneOptions,
  MagnitudePruneOptions,
  MergePruneOptions,
  Model,
  PruneOptions,
} from "../src/index.ts";
import { planPrune, prune } from "../src/index.ts";

declare const m: Model;

export function validOptions(): unknown[] {
  return [
    prune(m, { method: "l1", ratio: 0.3, roundTo: 8 }),
    prune(m, { method: "l2", layers: { conv1: 8 }, exclude: ["fc"] }),
    prune(m, { method: "merge", criterion: "gm", threshold: 0.2, skipUnsafe: true, roundTo: 8 }),
    prune(m, { method: "epruner", beta: 0.8, targetMacs: 0.5, roundTo: 8 }),
    prune(m, { method: "gate", flopsTarget: 0.5, tickRatio: 0.01, roundTo: 8 }),
    planPrune(m, { method: "merge", merge: false, allowUnchanged: true }),
  ];
}

export function foreignOptions(): unknown[] {
  return [
    // @ts-expect-error criterion is an option of merge, not of l1
    prune(m, { method: "l1", criterion: "gm" }),
    // @ts-expect-error threshold is an option of merge
    prune(m, { method: "l2", threshold: 0.1 }),
    // @ts-expect-error ratio is not an EPruner option (its widths come from beta)
    prune(m, { method: "epruner", ratio: 0.5 }),
    // @ts-expect-error beta is an EPruner option
    prune(m, { method: "merge", beta: 0.75 }),
    // @ts-expect-error flopsTarget is a gate option
    planPrune(m, { method: "l1", flopsTarget: 0.5 }),
    // @ts-expect-error a misspelt key
    prune(m, { method: "l1", ration: 0.3 }),
    // @ts-expect-error roundTo is a number
    prune(m, { method: "l1", roundTo: "8" }),
  ];
}

/** The per-method names narrow the union. */
export function narrowed(o: PruneOptions): string {
  const all: [MagnitudePruneOptions, MergePruneOptions, EPrunerPruneOptions, GatePruneOptions] = [
    { method: "l1" },
    { method: "merge" },
    { method: "epruner" },
    { method: "gate" },
  ];
  return o.method === "merge" ? String(o.criterion) : String(all.length);
}
