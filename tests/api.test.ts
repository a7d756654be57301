import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as api from "../src/index.ts";
import { loadModelFile } from "../src/node/index.ts";
import { NetBuilder } from "./graph/net-builder.ts";

// The public surface is reviewed by name: adding or removing an export must change this list on purpose.
const PUBLIC_VALUES = [
  "BUDGET_DEFAULTS",
  "DATASET_FILES",
  "DATA_CACHE_DIR_ENV",
  "DATA_SPEC_FORMS",
  "DOWNLOAD_NAMES",
  "FASHION_MNIST_DEFAULT_DIR",
  "FASHION_MNIST_DIR_ENV",
  "GATE_DEFAULTS",
  "MACS_CONVENTION",
  "MAGNITUDE_DEFAULTS",
  "MERGE_DEFAULTS",
  "METHODS",
  "METHOD_NAMES",
  "PrunekitError",
  "SCHEDULES",
  "applyPlan",
  "buildGraph",
  "compare",
  "compileModel",
  "compileTrainer",
  "createWasm",
  "criterionScores",
  "decodeModel",
  "describeModel",
  "downloadDataset",
  "encodeModel",
  "evaluate",
  "fashionMnistDir",
  "findDependencyGroups",
  "finetune",
  "gateScores",
  "getWasm",
  "imagesFromArrays",
  "isInner",
  "isPrunekitError",
  "keptCount",
  "limitImages",
  "loadFashionMnist",
  "loadImages",
  "loadModel",
  "parseDataSpec",
  "patchValues",
  "pathIsMergeSafe",
  "planGate",
  "planMagnitude",
  "planMerge",
  "planPreprocessing",
  "planPrune",
  "preprocessBatch",
  "prune",
  "readIdx",
  "relaxedSimdSupported",
  "setWasmSource",
  "validatePlan",
  "ware",
];

test("src/index.ts exports exactly the reviewed public names", () => {
  assert.deepEqual(Object.keys(api).sort(), PUBLIC_VALUES);
});

test("loadModel → prune → loadModel round trip keeps inputs and outputs and shrinks the model", async () => {
  const bytes = new Uint8Array(readFileSync(new URL("./fixtures/vgg_bn.onnx", import.meta.url)));
  const model = await api.loadModel(bytes);
  const { bytes: out, report, model: pruned } = await api.prune(model, { method: "merge", ratio: 0.5 });
  const again = await api.loadModel(out);
  assert.deepEqual(api.describeModel(again).inputs, api.describeModel(model).inputs);
  assert.deepEqual(api.describeModel(again).outputs, api.describeModel(model).outputs);
  assert.equal(report.method, "merge");
  assert.equal(report.after.macs, pruned.counts.macs);
  assert.ok(report.after.params < report.before.params);
  assert.ok(report.layers.every((l) => l.merged + l.dropped === l.channelsBefore - l.channelsAfter));
  for (const phase of ["plan", "decomposition", "surgery", "encode"])
    assert.ok((report.timings[phase] ?? -1) >= 0, phase);
});

test("prune reports surgery and encode as progress phases (0 then 1 of 1) after the method's own", async () => {
  const model = await loadModelFile(new URL("./fixtures/vgg_bn.onnx", import.meta.url).pathname);
  const events: string[] = [];
  await api.prune(model, {
    method: "l1",
    ratio: 0.5,
    onProgress: (e) => events.push(`${e.phase} ${e.done}/${e.total}`),
  });
  const tail = events.slice(events.indexOf("surgery 0/1"));
  assert.deepEqual(tail, ["surgery 0/1", "surgery 1/1", "encode 0/1", "encode 1/1"]);
  assert.ok(events.indexOf("surgery 0/1") > 0, "the method's phases come first");
});

test("one skipUnsafe default: prune and planMerge both refuse an unsafe path with UNSAFE_MERGE", async () => {
  const nb = new NetBuilder("x", [2, 5, 5]);
  const s = nb.unary("Sigmoid", nb.conv("x", 4));
  const proto = nb.model([nb.gemm(nb.flatten(nb.gap(nb.conv(s, 3))), 2)]);
  const model = await api.loadModel(api.encodeModel(proto));
  const unsafe = (e: unknown) =>
    api.isPrunekitError(e) && e.code === "UNSAFE_MERGE" && /Sigmoid/.test(e.node ?? "");
  await assert.rejects(api.prune(model, { method: "merge", ratio: 0.5 }), unsafe);
  await assert.rejects(
    api.planMerge(model.graph, model.groups, { ratio: 0.5 }, { wasm: await api.getWasm() }),
    unsafe,
  );
  assert.equal(api.METHODS.merge.defaults.skipUnsafe, api.MERGE_DEFAULTS.skipUnsafe);
  // With skipUnsafe both leave the group alone, with a warning.
  const plan = await api.planMerge(
    model.graph,
    model.groups,
    { ratio: 0.5, skipUnsafe: true },
    { wasm: await api.getWasm() },
  );
  assert.equal(plan.groups.filter((g) => g.groupId === 0).length, 0);
  const { report } = await api.prune(model, { method: "merge", ratio: 0.5, skipUnsafe: true });
  assert.ok(report.unpruned.some((u) => u.group === 0));
  assert.ok(report.warnings.some((w) => /Sigmoid/.test(w)));
});

test("prune validates its options with typed errors", async () => {
  const model = await loadModelFile(new URL("./fixtures/mlp.onnx", import.meta.url).pathname);
  const bad: [api.PruneOptions, RegExp][] = [
    [{ method: "l1", ratio: 2 }, /ratio must be in \[0, 1\]/],
    [{ method: "nope" as api.MethodName }, /unknown method "nope"/],
    [{ method: "merge", exclude: ["ghost"] }, /no prunable layer named "ghost"/],
    [{ method: "merge", layers: { ghost: 3 } }, /no prunable layer named "ghost"/],
    // Options of another method do not type-check (tests/api-types.check.ts); JavaScript callers get errors.
    [
      { method: "l1", ratio: 0.5, threshold: 0.3 } as api.PruneOptions,
      /threshold apply to method "merge" only/,
    ],
    [{ method: "l2", pruneUnsafe: true } as api.PruneOptions, /pruneUnsafe apply to method "merge" only/],
    [
      { method: "l2", bnFormula: "reference", lambda: 0.5 } as api.PruneOptions,
      /lambda, bnFormula apply to method "merge" only/,
    ],
    [{ method: "l1", roundTo: 0 }, /roundTo must be an integer >= 1/],
    [{ method: "epruner", roundTo: 2.5 }, /roundTo must be an integer >= 1/],
  ];
  for (const [options, message] of bad) {
    await assert.rejects(
      api.prune(model, options),
      (e: unknown) => api.isPrunekitError(e) && message.test(e.message),
    );
  }
});

test("the report records the values used for auto options, and ratio 1 warns that it keeps one channel", async () => {
  const model = await api.loadModel(
    new Uint8Array(readFileSync(new URL("./fixtures/lenet300.onnx", import.meta.url))),
  );
  const merged = await api.prune(model, { method: "merge", ratio: 0.5 });
  assert.equal(merged.report.options.rounding, "round"); // LeNet: fully connected only
  assert.equal(merged.report.options.threshold, 0.45); // §2.7's MLP threshold
  const all = await api.prune(model, { method: "l1", ratio: 1 });
  assert.match(all.report.warnings.join("\n"), /ratio 1 keeps one channel/);
  await assert.rejects(
    api.prune(model, { method: "l1", ratio: "0.3" as unknown as number }),
    (e: unknown) => api.isPrunekitError(e) && /got the string "0\.3"/.test(e.message),
  );
});
