// Gate Decorator's experimental gates on conv outputs (docs/methods.md §4.9) for BN-free models and
// BN-fused exports (the *_fused fixtures: PyTorch's default eval export, every BN folded into a conv
// bias): folding is exact against onnxruntime with some gates at zero and the others arbitrary, residual
// groups stay aligned, a mixed model (some groups with BN, some without) folds exactly too, and a short
// end-to-end run on a fused fixture reaches its MACs target.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { gateScores, loadModel, type Model, prune } from "../../src/api.ts";
import type { RawImages } from "../../src/data/images.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { compileTrainer } from "../../src/engine/tape.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph, type Graph } from "../../src/graph/ir.ts";
import { inferShapes } from "../../src/graph/shapes.ts";
import { CONV_GATES_WARNING, foldIntoPlan } from "../../src/methods/gate.ts";
import {
  findGateGroups,
  type GateGroup,
  gatedBatchNorms,
  gatedConvs,
  gateMode,
} from "../../src/methods/gate-groups.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import { createWasm } from "../../src/wasm/instance.ts";
import { seededNormals } from "../../src/wasm/seeded-random.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);
const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const slice = (split: "train" | "test", limit: number): Promise<RawImages> =>
  loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split,
    readFile: async (p: string) => new Uint8Array(await readFile(p)),
    limit,
  });

/** Every Add of the graph reads inputs of one shape (residual channels aligned after pruning, §4.3). */
function assertAddsAligned(graph: Graph): void {
  const { shapes } = inferShapes(graph);
  for (const n of graph.order.filter((m) => m.opType === "Add")) {
    const dims = n.inputs.map((i) => (shapes.get(i) ?? []).join("x"));
    assert.ok(
      dims.every((d) => d !== "" && d === dims[0]),
      `Add "${n.name}" reads ${dims.join(" and ")}`,
    );
  }
}

/**
 * Gate the model, set every gate to 1 + 0.3·z (z seeded normal), mask two channels of every group (all
 * members alike), fold (§4.6), prune, and compare the gated network in eval mode with the pruned file in
 * onnxruntime. Returns the pruned model.
 */
async function foldAndCompare(graph: Graph, seed: number, batch = 2): Promise<Model> {
  const groups = findDependencyGroups(graph);
  const { gateGroups } = findGateGroups(groups, 0.1, graph);
  const wasm = await createWasm();
  const trainer = compileTrainer(wasm, graph, {
    batch,
    gatedBatchNorms: gatedBatchNorms(gateGroups),
    gatedConvs: gatedConvs(gateGroups),
  });
  const store = trainer.store;
  const masks = new Map<string, Float32Array>();
  const gates = new Set(gateGroups.flatMap((g) => g.members.map((m) => m.node)));
  for (const node of gates) {
    const g = store.read(`${node}#gate`);
    const z = seededNormals(seed + masks.size, g.length);
    store.write(
      `${node}#gate`,
      g.map((v, c) => v * (1 + 0.3 * z[c]!)),
    );
    masks.set(node, new Float32Array(g.length).fill(1));
  }
  gateGroups.forEach((g, gi) => {
    for (const m of g.members) {
      const mask = masks.get(m.node)!;
      mask[m.offset + ((gi + 1) % g.channels)] = 0;
      mask[m.offset + ((gi + 4) % g.channels)] = 0;
    }
  });
  for (const [node, mask] of masks) store.write(`${node}#mask`, mask);
  const perImage = trainer.input.dims.slice(1).reduce((a, b) => a * b, 1);
  const x = Float32Array.from(seededNormals(seed + 99, batch * perImage));
  const before = trainer.forward(x, { training: false });
  const folded = foldIntoPlan(store, gateGroups);
  trainer.dispose();
  store.dispose();
  assert.equal(folded.groups.length, gateGroups.length);
  const out = applyPlan(
    graph,
    groups,
    { method: "gate", groups: folded.groups, values: folded.values },
    {
      values: folded.values,
    },
  );
  const bytes = encodeModel(out.model);
  const pruned = await loadModel(bytes);
  // Nothing of the gates is left in the file.
  assert.ok(
    pruned.graph.order.every((n) => !n.name.includes("#") && n.outputs.every((o) => !o.includes("#"))),
  );
  assert.ok([...pruned.graph.initializers.keys()].every((n) => !n.includes("#")));
  assert.ok(pruned.counts.macs < (await loadModel(encodeModel(graph.model))).counts.macs);
  assertAddsAligned(pruned.graph);
  const session = await ort.InferenceSession.create(bytes);
  const input = graph.inputs[0]!.name!;
  const theirs = (await session.run({ [input]: new ort.Tensor("float32", x, trainer.input.dims.slice()) }))[
    session.outputNames[0]!
  ]!.data as Float32Array;
  await session.release();
  assert.equal(theirs.length, before.length);
  for (let i = 0; i < before.length; i++) {
    assert.ok(
      Math.abs(before[i]! - theirs[i]!) < 1e-4 * (1 + Math.abs(before[i]!)),
      `logit ${i}: gated ${before[i]}, pruned ${theirs[i]}`,
    );
  }
  return pruned;
}

async function fusedGraph(name: string): Promise<Graph> {
  return (await loadModel(new Uint8Array(await readFile(fixture(`${name}.onnx`))))).graph;
}

const memberSets = (gateGroups: GateGroup[]) =>
  gateGroups.map((g) => g.members.map((m) => `${m.kind}:${m.node}`).sort());

test("BN-fused exports get conv gates (§4.9): one per producer conv, residual streams share one mask", async () => {
  const resnet = await fusedGraph("resnet_fused");
  const { gateGroups, skipped } = findGateGroups(findDependencyGroups(resnet), 0.1, resnet);
  assert.equal(gateMode(gateGroups), "conv");
  assert.deepEqual(skipped.length, 1); // the classifier's output (frozen)
  const stage3 = gateGroups.find((g) => g.members.length === 3)!;
  assert.deepEqual(memberSets([stage3])[0], [
    "conv:/layer2/conv2/Conv",
    "conv:/layer2/shortcut/shortcut.0/Conv",
    "conv:/layer3/conv2/Conv",
  ]);
  for (const m of stage3.members) {
    const conv = resnet.nodeByName.get(m.node)!;
    assert.equal(m.scale, conv.inputs[1]);
    assert.equal(m.bias, conv.inputs[2]);
  }
  // MobileNetV2 (fused): a depthwise conv's bias would revive a masked channel, so it is gated too.
  const mobile = await fusedGraph("mobilenet_fused");
  const m = findGateGroups(findDependencyGroups(mobile), 0.1, mobile).gateGroups;
  const expand = m.find((g) =>
    g.members.some((x) => x.node === "/features/features.1/conv/conv.0/conv.0.0/Conv"),
  )!;
  assert.deepEqual(memberSets([expand])[0], [
    "conv:/features/features.1/conv/conv.0/conv.0.0/Conv",
    "conv:/features/features.1/conv/conv.1/conv.1.0/Conv",
  ]);
  // With BNs kept, the same groups are BN gates only (the published method, unchanged).
  const bn = await fusedGraph("resnet_bn");
  assert.equal(gateMode(findGateGroups(findDependencyGroups(bn), 0.1, bn).gateGroups), "bn");
});

for (const name of ["resnet_fused", "vgg_fused", "mobilenet_fused"]) {
  test(`folding conv gates (§4.6, §4.9) is exact: ${name} with masked and arbitrary gates equals the pruned file in onnxruntime`, async () => {
    await foldAndCompare(await fusedGraph(name), 7);
  });
}

/** Seeded weights; BN γ around 1, β and means around 0, variances around 1. */
function randomize(model: ModelProto, seed: number): ModelProto {
  const init = model.graph!.initializer.map((t, i) => {
    if (t.dataType !== 1) return t;
    const dims = (t.dims ?? []).map(Number);
    const len = dims.reduce((a, b) => a * b, 1);
    const z = seededNormals(seed * 1000 + i, len);
    const name = t.name ?? "";
    const fanIn = dims.length > 1 ? dims.slice(1).reduce((a, b) => a * b, 1) : 1;
    const data = Array.from(z, (v) =>
      name.startsWith("var")
        ? 1 + 0.5 * Math.tanh(v)
        : name.startsWith("g")
          ? 1 + 0.3 * v
          : name.startsWith("beta") || name.startsWith("mean") || name.startsWith("b")
            ? 0.2 * v
            : v * Math.sqrt(2 / fanIn),
    );
    return makeFloat32Tensor(name, dims, data);
  });
  return { ...model, graph: { ...model.graph!, initializer: init } };
}

/** Mixed: the stem and a residual branch with BN, the other branch and a block conv BN-free with biases. */
function mixedNet(): ModelProto {
  const nb = new NetBuilder("x", [1, 28, 28]);
  const stem = nb.relu(nb.bn(nb.conv("x", 6)));
  const a1 = nb.relu(nb.conv(stem, 6, { bias: true }));
  const a2 = nb.conv(a1, 6, { bias: true });
  const s1 = nb.relu(nb.add(stem, a2));
  const b1 = nb.relu(nb.bn(nb.conv(s1, 8, { stride: 2 })));
  const out = nb.gemm(nb.flatten(nb.gap(b1)), 10);
  return randomize(nb.model([out]), 9);
}

test("mixed model: BN gates where there is a BN, conv gates elsewhere, one mask over a residual group of both; folding exact", async () => {
  const graph = buildGraph(mixedNet());
  const { gateGroups } = findGateGroups(findDependencyGroups(graph), 0.1, graph);
  assert.equal(gateMode(gateGroups), "mixed");
  const kinds = memberSets(gateGroups)
    .map((s) => s.map((k) => k.split(":")[0]).join("+"))
    .sort();
  // stem BN + a2's conv gate (residual), a1's conv gate, b1's BN.
  assert.deepEqual(kinds, ["bn", "bn+conv", "conv"]);
  await foldAndCompare(graph, 11, 3);
});

test("gate end to end on a BN-fused fixture (vgg_fused, Fashion-MNIST slice): reaches a 0.5 MACs target, experimental in the report, valid in onnxruntime", async () => {
  const model = await loadModel(new Uint8Array(await readFile(fixture("vgg_fused.onnx"))));
  const train = await slice("train", 512);
  const testSet = await slice("test", 128);
  const { bytes, report } = await prune(model, {
    method: "gate",
    data: { train, test: testSet, mean: [0.286], std: [0.353] },
    flopsTarget: 0.5,
    tickRatio: 0.08,
    tockEpochs: 0.25,
    ticksPerTock: 4,
    tickSubset: 0.25,
    finetuneEpochs: 0,
    batch: 32,
    evalLimit: 64,
  });
  assert.ok(report.after.macs <= 0.5 * report.before.macs, `${report.after.macs} / ${report.before.macs}`);
  const d = report.details as { met: boolean; gateMode: string; ticks: number };
  assert.equal(d.met, true);
  assert.equal(d.gateMode, "conv");
  assert.ok(d.ticks >= 1);
  assert.ok(report.warnings.includes(CONV_GATES_WARNING), report.warnings.join("\n"));
  const pruned = await loadModel(bytes);
  assert.ok(pruned.graph.order.every((n) => !n.name.includes("#")));
  assert.ok([...pruned.graph.initializers.keys()].every((n) => !n.includes("#")));
  const session = await ort.InferenceSession.create(bytes);
  const r = await session.run({
    [session.inputNames[0]!]: new ort.Tensor("float32", new Float32Array(2 * 784), [2, 1, 28, 28]),
  });
  await session.release();
  assert.equal(Object.values(r)[0]!.dims.join(), "2,10");
});

test("gateScores on a BN-fused model: conv-gate scores keyed by the conv node, scale = its weight", async () => {
  const model = await loadModel(new Uint8Array(await readFile(fixture("vgg_fused.onnx"))));
  const train = await slice("train", 64);
  const warnings: string[] = [];
  const s = await gateScores(
    model,
    { train, mean: [0.286], std: [0.353] },
    { batches: 2, batch: 32, onWarning: (w) => warnings.push(w) },
  );
  assert.equal(s.gateMode, "conv");
  assert.ok(warnings.includes(CONV_GATES_WARNING));
  const convs = model.graph.order.filter((n) => n.opType === "Conv");
  assert.deepEqual(
    s.layers.map((l) => l.node),
    convs.map((n) => n.name),
  );
  for (const l of s.layers) {
    const conv = model.graph.nodeByName.get(l.node)!;
    assert.equal(l.kind, "conv");
    assert.equal(l.scale, conv.inputs[1]);
    assert.equal(l.scores.length, l.channels);
    assert.ok(l.scores.every((v) => v >= 0) && l.scores.some((v) => v > 0));
  }
});
