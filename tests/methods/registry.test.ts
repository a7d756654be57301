import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadModel, prune } from "../../src/api.ts";
import { PRUNE_FLAGS } from "../../src/cli/prune.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { BUDGET_OPTION_KEYS } from "../../src/methods/budget.ts";
import { METHOD_NAMES, METHODS, methodEntry } from "../../src/methods/registry.ts";

const vgg = () =>
  loadModel(new Uint8Array(readFileSync(new URL("../fixtures/vgg_bn.onnx", import.meta.url))));

/** A valid value for each public option key, used to probe which methods take it. */
const SAMPLE: Record<string, unknown> = {
  ratio: 0.25,
  layerRatios: {},
  layers: {},
  exclude: [],
  rounding: "floor",
  roundTo: 4,
  criterion: "l2",
  threshold: 0.2,
  lambda: 0.5,
  bnFormula: "reference",
  merge: false,
  mergeResidual: false,
  skipUnsafe: true,
  pruneUnsafe: true,
  workers: 2,
  beta: 1.5,
  layerBetas: {},
  lateBeta: { fromIndex: 2, beta: 2 },
  init: "reference",
  targetParams: 0.9,
  targetMacs: 0.9,
  onNoConvergence: "keepAll",
  noiseSeed: 3,
  seed: 5,
  flopsTarget: 0.5,
  tickRatio: 0.01,
  sparseLambda: 1e-4,
  tockEpochs: 1,
  ticksPerTock: 2,
  lrMin: 1e-4,
  lrMax: 0.05,
  minRatio: 0.2,
  eta: 0.1,
  tickSubset: 0.5,
  batch: 16,
  augment: false,
  evalLimit: 100,
  finetuneEpochs: 2,
  tickFreezeLinear: true,
};

/**
 * EPruner's and Gate's widths adapt (the exemplar count per layer, the global ranking): of the width
 * options they take exclusions and roundTo only.
 */
const ADAPTIVE_WIDTHS: readonly string[] = ["epruner", "gate"];

/** Methods that train (they need data); the probe checks their keys up to the data check. */
const NEEDS_DATA: readonly string[] = ["gate"];

test("the method table: names, width options for every method, defaults holding every own option", () => {
  assert.deepEqual(METHOD_NAMES, Object.keys(METHODS));
  for (const name of METHOD_NAMES) {
    const m = METHODS[name];
    assert.equal(m.name, name);
    assert.equal(typeof m.summary, "string");
    assert.equal(
      m.needsData,
      NEEDS_DATA.includes(name),
      `${name} ${m.needsData ? "needs data" : "is data-free"}`,
    );
    for (const k of BUDGET_OPTION_KEYS) {
      const takes = !ADAPTIVE_WIDTHS.includes(name) || k === "exclude" || k === "roundTo";
      assert.equal(m.optionKeys.includes(k), takes, `${name} ${takes ? "takes" : "refuses"} ${k}`);
    }
    for (const k of Object.keys(m.options(SAMPLE))) assert.ok(k in m.defaults, `${name}: ${k} has a default`);
  }
  assert.equal(methodEntry("merge"), METHODS.merge);
  assert.throws(
    () => methodEntry("toString"),
    (e) =>
      isPrunekitError(e) &&
      e.code === "INVALID_ARGUMENT" &&
      /expected l1, l2, merge, epruner or gate/.test(e.message),
  );
});

test("every option key of every method has a CLI flag, and every prune flag sets a key some method takes", () => {
  const flagKeys = new Set(Object.values(PRUNE_FLAGS).map((f) => f.key as string));
  const all = new Set(METHOD_NAMES.flatMap((m) => METHODS[m].optionKeys));
  assert.deepEqual(
    [...all].filter((k) => !flagKeys.has(k)),
    [],
    "option keys without a flag",
  );
  assert.deepEqual(
    [...flagKeys].filter((k) => !all.has(k)),
    [],
    "flags no method takes",
  );
  assert.deepEqual(Object.keys(SAMPLE).sort(), [...all].sort(), "the probe covers every key");
});

test("prune() takes exactly the table's keys per method and reports its defaults with the given values", async () => {
  const model = await vgg();
  for (const name of METHOD_NAMES) {
    const m = METHODS[name];
    for (const [key, value] of Object.entries(SAMPLE)) {
      const run = prune(model, { method: name, [key]: value });
      if (m.optionKeys.includes(key) && m.needsData) {
        // Accepted (a foreign key is refused first), then stopped for the missing data.
        await assert.rejects(
          run,
          (e) => isPrunekitError(e) && /needs data/.test(e.message),
          `${name} ${key}`,
        );
      } else if (m.optionKeys.includes(key)) {
        const { report } = await run;
        const expected: Record<string, unknown> = {
          method: name,
          ...m.defaults,
          ...m.options({ [key]: value }),
        };
        // "auto" is reported as the value it stood for (VGG mixes conv and FC layers; merge's threshold).
        if (expected.rounding === "auto")
          expected.rounding = "round for fully connected layers, floor for convs";
        if (expected.threshold === "auto")
          expected.threshold = (report.details as { threshold: number }).threshold;
        // merge's workers: the threads the partner search used (1 on a model without wide layers).
        if (expected.workers === "auto") expected.workers = (report.details as { workers: number }).workers;
        // EPruner's budget search: the β it chose replaces the default β.
        const details = report.details as { search?: unknown; beta?: number } | undefined;
        if (details?.search !== undefined) {
          assert.equal(typeof details.beta, "number", `${name} ${key}: the chosen beta`);
          expected.beta = details.beta;
        }
        assert.deepEqual(report.options, expected, `${name} ${key}`);
      } else {
        await assert.rejects(
          run,
          (e) =>
            isPrunekitError(e) &&
            e.code === "INVALID_ARGUMENT" &&
            e.message.includes(`option ${key} apply to method`) &&
            e.message.includes(`not "${name}"`),
          `${name} refuses ${key}`,
        );
      }
    }
  }
  await assert.rejects(
    prune(model, { method: "l1", ratio: 0.5, colour: "red" } as never),
    (e) => isPrunekitError(e) && /unknown option colour for method "l1"/.test(e.message),
  );
});

test("--layers alone leaves the unlisted layers unpruned; with an explicit ratio they take it", async () => {
  const model = await loadModel(
    new Uint8Array(readFileSync(new URL("../fixtures/lenet300.onnx", import.meta.url))),
  );
  for (const method of ["l1", "merge"] as const) {
    const only = await prune(model, { method, layers: { "/fc1/Gemm": 120 } });
    const width = (r: typeof only, node: string) =>
      r.report.layers.find((l) => l.node === node)?.channelsAfter;
    assert.equal(width(only, "/fc1/Gemm"), 120);
    assert.ok(width(only, "/fc2/Gemm") === undefined || width(only, "/fc2/Gemm") === 100, method);
    const both = await prune(model, { method, layers: { "/fc1/Gemm": 120 }, ratio: 0.5 });
    assert.equal(width(both, "/fc1/Gemm"), 120);
    assert.equal(width(both, "/fc2/Gemm"), 50, method);
  }
});
