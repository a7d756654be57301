// Gate Decorator (docs/methods.md §4): gate groups from the dependency graph (residual adds share one
// mask), folding (eval-mode outputs equal before and after, in our engine and in onnxruntime), a short
// end-to-end Tick-Tock run on a Fashion-MNIST slice, and the API's refusals.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { gateScores, loadModel, prune } from "../../src/api.ts";
import type { RawImages } from "../../src/data/images.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { compileModel } from "../../src/engine/compile.ts";
import { compileTrainer } from "../../src/engine/tape.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { foldIntoPlan } from "../../src/methods/gate.ts";
import { findGateGroups, gatedBatchNorms } from "../../src/methods/gate-groups.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import { createWasm } from "../../src/wasm/instance.ts";
import { seededNormals } from "../../src/wasm/seeded-random.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const readFileBytes = async (p: string) => new Uint8Array(await readFile(p));
const slice = (split: "train" | "test", limit?: number): Promise<RawImages> =>
  loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split,
    readFile: readFileBytes,
    ...(limit === undefined ? {} : { limit }),
  });

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
          : name.startsWith("beta") || name.startsWith("mean")
            ? 0.2 * v
            : v * Math.sqrt(2 / fanIn),
    );
    return makeFloat32Tensor(name, dims, data);
  });
  return { ...model, graph: { ...model.graph!, initializer: init } };
}

/** stem conv-BN-ReLU, one residual block (identity shortcut), a strided block with a 1x1 projection, GAP, linear. */
function residualNet(): { model: ModelProto; bns: string[] } {
  const nb = new NetBuilder("x", [1, 28, 28]);
  const stem = nb.relu(nb.bn(nb.conv("x", 6)));
  const a1 = nb.relu(nb.bn(nb.conv(stem, 6)));
  const a2 = nb.bn(nb.conv(a1, 6));
  const s1 = nb.relu(nb.add(stem, a2));
  const b1 = nb.relu(nb.bn(nb.conv(s1, 8, { stride: 2 })));
  const b2 = nb.bn(nb.conv(b1, 8));
  const proj = nb.bn(nb.conv(s1, 8, { k: 1, stride: 2 }));
  const s2 = nb.relu(nb.add(proj, b2));
  const out = nb.gemm(nb.flatten(nb.gap(s2)), 10);
  const model = randomize(nb.model([out]), 5);
  const bns = buildGraph(model)
    .order.filter((n) => n.opType === "BatchNormalization")
    .map((n) => n.name);
  return { model, bns };
}

test("gate groups come from the dependency graph: BNs joined by residual adds share one mask (§4.3)", () => {
  const { model, bns } = residualNet();
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const { gateGroups } = findGateGroups(groups, 0.1, graph);
  const sets = gateGroups.map((g) => g.members.map((m) => m.node).sort());
  // bns: stem, a1, a2, b1, b2, proj (model order).
  const [stem, a1, a2, b1, b2, proj] = bns as [string, string, string, string, string, string];
  assert.deepEqual(
    sets.map((s) => s.join(",")).sort(),
    [[stem, a2].sort().join(","), a1, b1, [b2, proj].sort().join(",")].sort(),
  );
  for (const g of gateGroups) assert.equal(g.minimal, 1); // max(1, floor(0.1·6 or 8))
  assert.equal(gatedBatchNorms(gateGroups).size, 6);
});

test("folding (§4.6): eval-mode outputs of the gated, masked network equal the pruned model's, in our engine and onnxruntime", async () => {
  const { model } = residualNet();
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const { gateGroups } = findGateGroups(groups, 0.1, graph);
  const wasm = await createWasm();
  const B = 4;
  const trainer = compileTrainer(wasm, graph, { batch: B, gatedBatchNorms: gatedBatchNorms(gateGroups) });
  const store = trainer.store;
  // Train-like state: perturbed gates and shifts, a few masked channels per group (shared by members).
  gateGroups.forEach((g, gi) => {
    const mask = new Float32Array(g.channels).fill(1);
    mask[gi % g.channels] = 0;
    mask[(gi + 3) % g.channels] = 0;
    for (const m of g.members) {
      const gate = store.read(`${m.node}#gate`);
      const shift = store.read(`${m.node}#shift`);
      const z = seededNormals(gi * 7 + 1, gate.length);
      for (let c = 0; c < gate.length; c++) {
        gate[c] = gate[c]! * (1 + 0.2 * z[c]!);
        shift[c] = shift[c]! + 0.3 * z[c]!;
      }
      store.write(`${m.node}#gate`, gate);
      store.write(`${m.node}#shift`, shift);
      store.write(`${m.node}#mask`, mask);
    }
  });
  const x = Float32Array.from(seededNormals(3, B * 28 * 28));
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
  assert.ok(pruned.counts.macs < (await loadModel(encodeModel(model))).counts.macs);
  assert.ok(pruned.graph.order.every((n) => !n.name.includes("#")));
  const compiled = compileModel(wasm, pruned.graph, { batch: B });
  const ours = Object.values(compiled.run({ x }))[0]!;
  compiled.dispose();
  const session = await ort.InferenceSession.create(bytes);
  const theirs = (await session.run({ x: new ort.Tensor("float32", x, [B, 1, 28, 28]) }))[
    pruned.graph.outputs[0]!.name!
  ]!.data as Float32Array;
  await session.release();
  for (let i = 0; i < before.length; i++) {
    const tol = 1e-4 * (1 + Math.abs(before[i]!));
    assert.ok(Math.abs(before[i]! - ours[i]!) < tol, `engine logit ${i}: ${before[i]} vs ${ours[i]}`);
    assert.ok(Math.abs(before[i]! - theirs[i]!) < tol, `ort logit ${i}: ${before[i]} vs ${theirs[i]}`);
  }
});

test("gate end to end on a Fashion-MNIST slice: reaches a 0.5 MACs target, valid in onnxruntime, trajectory reported", async () => {
  const { model: proto } = residualNet();
  const model = await loadModel(encodeModel(proto));
  const train = await slice("train", 512);
  const testSet = await slice("test", 256);
  const phases = new Set<string>();
  const {
    bytes,
    report,
    model: out,
  } = await prune(model, {
    method: "gate",
    data: { train, test: testSet, mean: [0.286], std: [0.353] },
    flopsTarget: 0.5,
    tickRatio: 0.05,
    tockEpochs: 0.25,
    ticksPerTock: 4,
    tickSubset: 0.25,
    finetuneEpochs: 1,
    batch: 32,
    evalLimit: 128,
    onProgress: (e) => phases.add(e.phase.split(" ")[0]!),
  });
  assert.ok(report.after.macs <= 0.5 * report.before.macs, `${report.after.macs} / ${report.before.macs}`);
  const d = report.details as {
    met: boolean;
    ticks: number;
    trajectory: { phase: string; macsFraction: number }[];
  };
  assert.equal(d.met, true);
  assert.ok(d.ticks >= 1);
  assert.equal(d.trajectory[0]!.phase, "tock");
  const fractions = d.trajectory.filter((p) => p.phase === "tick").map((p) => p.macsFraction);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i]! <= fractions[i - 1]!);
  assert.ok(Math.abs(fractions.at(-1)! - report.after.macs / report.before.macs) < 1e-9);
  assert.ok(report.finetune !== undefined && report.finetune.epochs === 1);
  assert.deepEqual([...phases].sort(), ["encode", "finetune", "surgery", "tick", "tock"]);
  assert.ok(out.graph.order.every((n) => !n.name.includes("#")));
  const session = await ort.InferenceSession.create(bytes);
  const r = await session.run({ x: new ort.Tensor("float32", new Float32Array(2 * 784), [2, 1, 28, 28]) });
  await session.release();
  assert.equal(Object.values(r)[0]!.dims.join(), "2,10");
});

test("gate refuses: no data, no flopsTarget, a model with nothing to gate (linear layers only)", async () => {
  const { model: proto } = residualNet();
  const model = await loadModel(encodeModel(proto));
  await assert.rejects(
    prune(model, { method: "gate", flopsTarget: 0.5 }),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /needs data/.test(e.message),
  );
  const train = await slice("train", 64);
  await assert.rejects(
    prune(model, { method: "gate", data: { train } }),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /flopsTarget/.test(e.message),
  );
  const nb = new NetBuilder("x", [1, 28, 28]);
  const out = nb.gemm(nb.relu(nb.gemm(nb.flatten("x"), 16)), 10);
  const linear = await loadModel(encodeModel(randomize(nb.model([out]), 2)));
  await assert.rejects(
    prune(linear, { method: "gate", data: { train }, flopsTarget: 0.5 }),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "GRAPH_UNSUPPORTED" &&
      /no channel group it can gate/.test(e.message) &&
      /Gemm/.test(e.message),
  );
});

test("gateScores: per-channel Taylor scores, group sums over members, rankings from least important", async () => {
  const { model: proto } = residualNet();
  const model = await loadModel(encodeModel(proto));
  const train = await slice("train", 128);
  const s = await gateScores(model, { train, mean: [0.286], std: [0.353] }, { batches: 2, batch: 32 });
  assert.equal(s.batches, 2);
  assert.equal(s.images, 64);
  assert.equal(s.gateMode, "bn");
  assert.equal(s.layers.length, 6);
  const graph = model.graph;
  for (const l of s.layers) {
    const bn = graph.nodeByName.get(l.node)!;
    assert.equal(bn.opType, "BatchNormalization");
    assert.equal(l.kind, "bn");
    assert.equal(l.scale, bn.inputs[1]);
    assert.equal(l.channels, l.scores.length);
  }
  const byNode = new Map(s.layers.map((b) => [b.node, b.scores]));
  for (const g of s.groups) {
    for (let c = 0; c < g.channels; c++) {
      const sum = g.members.reduce((a, m) => a + byNode.get(m)![c]!, 0);
      assert.ok(Math.abs(sum - g.scores[c]!) < 1e-12);
    }
    for (let i = 1; i < g.ranking.length; i++)
      assert.ok(g.scores[g.ranking[i]!]! >= g.scores[g.ranking[i - 1]!]!);
  }
  assert.ok(
    s.layers.every((b) => b.scores.every((v) => v >= 0)) && s.layers.some((b) => b.scores.some((v) => v > 0)),
  );
});

test("tickFreezeLinear: a Tick leaves the classifier exactly as it was; by default (§4.5) it trains", async () => {
  const { model: proto } = residualNet();
  const model = await loadModel(encodeModel(proto));
  const train = await slice("train", 256);
  const gemm = model.graph.order.find((n) => n.opType === "Gemm")!;
  const biasName = gemm.inputs[2]!;
  const bias = (m: typeof model) => readFloat32(m.graph.constants.get(biasName)!);
  const run = (tickFreezeLinear: boolean) =>
    prune(model, {
      method: "gate",
      data: { train, mean: [0.286], std: [0.353] },
      flopsTarget: 0.9,
      tickRatio: 0.05,
      tockEpochs: 0,
      tickSubset: 0.25,
      finetuneEpochs: 0,
      batch: 32,
      tickFreezeLinear,
    });
  const frozen = await run(true);
  assert.ok((frozen.report.details as { ticks: number }).ticks >= 1);
  assert.deepEqual(bias(frozen.model), bias(model));
  const trained = await run(false);
  assert.notDeepEqual(bias(trained.model), bias(model));
});
