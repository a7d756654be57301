// Structure-aware fuzzing of the whole pipeline (load -> describe -> prune -> write): mutations of dims,
// attributes, data types, tensor data and graph wiring in small real models. Every case must either
// throw a PrunekitError or succeed; a success that onnxruntime cannot run when it ran the input, or
// that turns finite outputs non-finite, is a defect. Seeded and bounded (PROPERTY_RUNS, tests/setup.ts);
// scripts/fuzz-prune.ts runs the same cases for longer.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type FuzzMutation, fuzzCase, fuzzMutation, fuzzSeeds } from "./fuzz-cases.ts";

const seeds = fuzzSeeds();

test("mutated models: prune either succeeds with a model onnxruntime runs (finite where the input was) or throws a PrunekitError", async () => {
  const defects: string[] = [];
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fuzzMutation, { minLength: 1, maxLength: 3 }),
      async (which, mutations: FuzzMutation[]) => {
        const r = await fuzzCase(seeds[which]!, mutations);
        if (r.defect !== undefined)
          defects.push(`${seeds[which]!.name} ${JSON.stringify(mutations)}: ${r.defect}`);
        return r.defect === undefined;
      },
    ),
    { seed: 20261203, numRuns: Math.min(60, Number(process.env.PROPERTY_RUNS ?? 60)) },
  );
  assert.deepEqual(defects, []);
});
