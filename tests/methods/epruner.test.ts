// EPruner as a method (docs/methods.md §3, §3.9-§3.11): which layers, widths from the exemplars,
// β rules, layer names, init modes, exemplar merging counts, the budget search; through prune().
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadModel, type Model, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { producerFilters } from "../../src/graph/weights.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";
import * as reference from "../../src/wasm/reference/affinity.ts";
import * as refDistance from "../../src/wasm/reference/distance.ts";

const fixtures = new URL("../fixtures/", import.meta.url);
const load = (file: string) => loadModel(new Uint8Array(readFileSync(new URL(file, fixtures))));
const resnet = await load("trained/resnet20_fmnist.onnx");
const vgg = await load("vgg_bn.onnx");

/** EPruner by hand for one producer: plain-TS distances, medians and affinity propagation (§3.2-§3.3). */
function byHand(model: Model, node: string, beta: number) {
  const group = model.groups.find((g) => g.producers[0]?.node === node)!;
  const f = producerFilters(model.graph, group.producers[0]!);
  const d = refDistance.distancePairwiseSqEuclidean(f.data, f.rows, f.cols);
  const s = d.map((v) => -v);
  const prefs: number[] = [];
  for (let i = 0; i < f.rows; i++) {
    const row = Array.from(s.subarray(i * f.rows, (i + 1) * f.rows)).sort((a, b) => a - b);
    const h = row.length >> 1;
    prefs.push(beta * (row.length % 2 ? row[h]! : (row[h - 1]! + row[h]!) / 2));
  }
  return reference.affinityPropagation(s, prefs, f.rows);
}

const inner = (m: Model) =>
  m.groups.filter(
    (g) => !g.frozen && g.producers.length === 1 && !g.isResidual && g.producers[0]!.opType === "Conv",
  );

test("default layers: the first conv of every ResNet-20 basic block, widths = exemplars as plain TS computes them", async () => {
  const { report } = await prune(resnet, { method: "epruner", beta: 2 });
  const want = inner(resnet)
    .map((g) => g.producers[0]!.node)
    .filter((n) => /conv1\/Conv$/.test(n) && n.includes("layer"));
  assert.deepEqual(
    report.layers.map((l) => l.node),
    want,
  );
  for (const l of report.layers) {
    const r = byHand(resnet, l.node, 2);
    assert.deepEqual(l.exemplars, r.exemplars, l.node);
    assert.deepEqual(l.kept, r.exemplars);
    assert.deepEqual(l.labels, r.labels);
    assert.equal(l.iterations, r.iterations);
    assert.equal(l.converged, r.converged);
    assert.equal(l.beta, 2);
    assert.equal(l.channelsAfter, r.exemplars.length);
    assert.equal(l.merged, 0);
    assert.equal(l.dropped, l.channelsBefore - l.channelsAfter);
    assert.match(l.weight, /^layer\d\.\d\.conv1\.weight$/);
  }
  assert.equal(report.details?.beta, 2);
  assert.ok(report.after.params < report.before.params);
});

test("larger beta prunes more: total kept channels fall as beta grows", async () => {
  const kept: number[] = [];
  for (const beta of [0.5, 1, 2, 4, 8]) {
    const { report } = await prune(resnet, { method: "epruner", beta });
    kept.push(report.layers.reduce((s, l) => s + l.channelsAfter, 0));
  }
  for (let i = 1; i < kept.length; i++) assert.ok(kept[i]! <= kept[i - 1]!, `kept ${kept.join(", ")}`);
  assert.ok(kept.at(-1)! < kept[0]! / 2, `kept ${kept.join(", ")}`);
});

test("layer beta by weight tensor name, late beta from a layer index, exclude by either name", async () => {
  const { report } = await prune(resnet, {
    method: "epruner",
    beta: 1,
    layerBetas: { "layer1.1.conv1.weight": 5 },
    lateBeta: { fromIndex: 6, beta: 3 },
    exclude: ["layer2.0.conv1.weight", "/layer2/layer2.1/conv1/Conv"],
  });
  const betas = new Map(report.layers.map((l) => [l.weight, l.beta]));
  assert.equal(betas.get("layer1.0.conv1.weight"), 1);
  assert.equal(betas.get("layer1.1.conv1.weight"), 5, "the layer beta wins");
  assert.equal(betas.get("layer2.2.conv1.weight"), 1);
  for (const w of ["layer3.0.conv1.weight", "layer3.1.conv1.weight", "layer3.2.conv1.weight"])
    assert.equal(betas.get(w), 3, `${w}: index >= 6`);
  assert.ok(!betas.has("layer2.0.conv1.weight") && !betas.has("layer2.1.conv1.weight"), "excluded");
  const l11 = report.layers.find((l) => l.weight === "layer1.1.conv1.weight")!;
  assert.deepEqual(l11.exemplars, byHand(resnet, l11.node, 5).exemplars);
});

test("an unknown layer name lists the layers that exist, by node and weight name", async () => {
  for (const options of [
    { method: "epruner" as const, exclude: ["layer9.conv1.weight"] },
    { method: "epruner" as const, layerBetas: { nope: 1 } },
    { method: "l1" as const, layerRatios: { "layer9.conv1.weight": 0.5 } },
  ]) {
    await assert.rejects(
      prune(resnet, options),
      (e) =>
        isPrunekitError(e) &&
        e.code === "INVALID_ARGUMENT" &&
        /no prunable layer named/.test(e.message) &&
        e.message.includes("/layer1/layer1.0/conv1/Conv (weight layer1.0.conv1.weight)"),
    );
  }
});

test("existing methods take weight tensor names too (--layer-ratio, --layers, --exclude)", async () => {
  const byNode = await prune(resnet, {
    method: "l1",
    ratio: 0,
    layerRatios: { "/layer1/layer1.0/conv1/Conv": 0.5 },
    layers: { "/layer2/layer2.0/conv1/Conv": 8 },
    exclude: ["/layer3/layer3.0/conv1/Conv"],
  });
  const byWeight = await prune(resnet, {
    method: "l1",
    ratio: 0,
    layerRatios: { "layer1.0.conv1.weight": 0.5 },
    layers: { "layer2.0.conv1.weight": 8 },
    exclude: ["layer3.0.conv1.weight"],
  });
  assert.deepEqual(byWeight.report.layers, byNode.report.layers);
  assert.deepEqual(byWeight.bytes, byNode.bytes);
  const widths = new Map(byWeight.report.layers.map((l) => [l.weight, l.channelsAfter]));
  assert.equal(widths.get("layer1.0.conv1.weight"), 8);
  assert.equal(widths.get("layer2.0.conv1.weight"), 8);
  assert.ok(!widths.has("layer3.0.conv1.weight"));
});

/** A constant of a result's model, as float32. */
const tensor = (m: Model, name: string) => readFloat32(m.graph.constants.get(name)!, m.graph.externalData);

test("init exemplar inherits BN entries and biases; reference resets them (§3.4) and re-initialises the classifier", async () => {
  const options = { method: "epruner" as const, beta: 3 };
  const ex = await prune(vgg, options);
  const ref = await prune(vgg, { ...options, init: "reference" });
  assert.deepEqual(
    ref.report.layers.map((l) => l.kept),
    ex.report.layers.map((l) => l.kept),
  );
  const pruned = ex.report.layers.filter((l) => l.channelsAfter < l.channelsBefore);
  assert.ok(pruned.length > 0);
  const bnOf = (m: Model, conv: string) => {
    const out = m.graph.nodeByName.get(conv)!.outputs[0];
    return m.graph.nodes.find((n) => n.opType === "BatchNormalization" && n.inputs[0] === out)!;
  };
  for (const l of pruned) {
    const bnRef = bnOf(ref.model, l.node);
    const bnEx = bnOf(ex.model, l.node);
    const orig = bnOf(vgg, l.node);
    // exemplar: the kept entries of the original BN.
    assert.deepEqual(
      tensor(ex.model, bnEx.inputs[1]!),
      Float32Array.from(l.kept, (k) => tensor(vgg, orig.inputs[1]!)[k]!),
    );
    // reference: γ = 1, β = 0, mean 0, var 1.
    const want = [1, 0, 0, 1];
    for (let i = 0; i < 4; i++) {
      assert.ok(
        tensor(ref.model, bnRef.inputs[i + 1]!).every((v) => v === want[i]),
        `${l.node} BN input ${i + 1}`,
      );
    }
  }
  // The last conv feeds the classifier: re-initialised N(0, 0.01²) with zero bias in reference mode.
  const last = ex.report.layers.find((l) => l.node === "/features/features.3/features.3.0/Conv")!;
  assert.ok(last.channelsAfter < last.channelsBefore);
  const fc = ref.model.graph.nodeByName.get("/classifier/classifier.0/Gemm")!;
  const w = tensor(ref.model, fc.inputs[1]!);
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(std > 0.007 && std < 0.013, `classifier std ${std}`);
  assert.ok(tensor(ref.model, fc.inputs[2]!).every((v) => v === 0));
  const fcEx = ex.model.graph.nodeByName.get("/classifier/classifier.0/Gemm")!;
  assert.ok(
    tensor(ex.model, fcEx.inputs[2]!).some((v) => v !== 0),
    "exemplar init keeps the classifier",
  );
});

test("init random: seeded and deterministic, He fan-out conv weights, BN reset, the same widths", async () => {
  const a = await prune(vgg, { method: "epruner", beta: 3, init: "random", seed: 7 });
  const b = await prune(vgg, { method: "epruner", beta: 3, init: "random", seed: 7 });
  const c = await prune(vgg, { method: "epruner", beta: 3, init: "random", seed: 8 });
  const ex = await prune(vgg, { method: "epruner", beta: 3 });
  assert.deepEqual(a.bytes, b.bytes);
  assert.notDeepEqual(a.bytes, c.bytes);
  assert.deepEqual(a.report.after, ex.report.after);
  for (const node of a.model.graph.nodes) {
    if (node.opType === "Conv") {
      const dims = a.model.graph.constants.get(node.inputs[1]!)!.dims;
      const w = tensor(a.model, node.inputs[1]!);
      const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
      const want = Math.sqrt(2 / (dims[0]! * dims[2]! * dims[3]!));
      assert.ok(Math.abs(std - want) < 0.35 * want, `${node.name}: std ${std} vs ${want}`);
    }
    if (node.opType === "BatchNormalization")
      assert.ok(tensor(a.model, node.inputs[1]!).every((v) => v === 1));
  }
});

test("merge: every removed member is merged or dropped, same kept sets and sizes as plain EPruner", async () => {
  const plain = await prune(resnet, { method: "epruner", beta: 2 });
  const merged = await prune(resnet, { method: "epruner", beta: 2, merge: true });
  assert.deepEqual(
    merged.report.layers.map((l) => l.kept),
    plain.report.layers.map((l) => l.kept),
  );
  assert.deepEqual(merged.report.after, plain.report.after);
  let total = 0;
  for (const l of merged.report.layers) {
    assert.equal(l.merged + l.dropped, l.channelsBefore - l.channelsAfter);
    total += l.merged;
  }
  assert.ok(total > 0);
});

test("budget search: targetParams / targetMacs meet the budget and report the chosen beta", async () => {
  for (const [key, field] of [
    ["targetParams", "params"],
    ["targetMacs", "macs"],
  ] as const) {
    const { report } = await prune(resnet, { method: "epruner", [key]: 0.8 });
    const beta = report.details?.beta as number;
    const search = report.details?.search as { met: boolean; reached: number; evaluations: number };
    assert.ok(search.met);
    assert.ok(report.after[field] <= 0.8 * report.before[field], `${field} ${report.after[field]}`);
    assert.ok(
      Math.abs(search.reached - report.after[field] / report.before[field]) < 1e-12,
      "predicted = counted",
    );
    // The least pruning that meets it: a slightly smaller beta does not.
    const below = await prune(resnet, { method: "epruner", beta: beta - 0.002 });
    assert.ok(below.report.after[field] > 0.8 * below.report.before[field]);
    assert.ok(report.layers.every((l) => l.beta === beta));
    // The options record the β used, not the default that the search replaced.
    assert.equal(report.options.beta, beta);
    assert.notEqual(beta, 0.75);
  }
  await assert.rejects(
    prune(resnet, { method: "epruner", targetParams: 0.5, targetMacs: 0.5 }),
    (e) => isPrunekitError(e) && /not both/.test(e.message),
  );
});

test("bad options are refused, naming the option", async () => {
  for (const [options, re] of [
    [{ beta: -1 }, /beta must be/],
    [{ init: "scratch" }, /init must be/],
    [{ targetParams: 1.5 }, /targetParams must be a fraction/],
    [{ lateBeta: { fromIndex: -1, beta: 1 } }, /lateBeta/],
    [{ onNoConvergence: "never" }, /onNoConvergence/],
    [{ ratio: 0.5 }, /option ratio apply to method/],
  ] as const) {
    await assert.rejects(
      prune(resnet, { method: "epruner", ...(options as object) }),
      (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && re.test(e.message),
    );
  }
});
