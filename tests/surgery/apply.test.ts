import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { validateModel } from "../../src/onnx/validate.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import type { GroupPlan } from "../../src/surgery/plan.ts";
import { NetBuilder } from "../graph/net-builder.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { inputShape, runOrt } from "../onnx/fixtures.ts";
import { assertOutputsClose, zeroRemoved } from "./harness.ts";

type Family = "chain" | "residual" | "concat" | "flatten" | "depthwise" | "projection";

interface NetCase {
  family: Family;
  widths: number[];
  size: number;
  seed: number;
  bias: boolean;
  withBn: boolean;
}

/** A small network of one topology family; every family ends in a classifier so outputs stay fixed. */
function buildNet(c: NetCase): ModelProto {
  const nb = new NetBuilder("x", [2, c.size, c.size]);
  const [a, b, d] = c.widths as [number, number, number];
  const block = (x: string, w: number, k = 3) => {
    let y = nb.conv(x, w, { k, bias: c.bias });
    if (c.withBn) y = nb.bn(y);
    return y;
  };
  let x = nb.relu(block("x", a));
  switch (c.family) {
    case "chain":
      x = nb.relu(block(x, b));
      x = nb.maxpool(x);
      x = nb.relu(block(x, d));
      break;
    case "residual": {
      const y = nb.relu(block(x, b));
      x = nb.relu(nb.add(block(y, a), x));
      const z = nb.relu(block(x, d));
      x = nb.relu(nb.add(block(z, a), x));
      break;
    }
    case "projection": {
      const y = nb.relu(block(x, b));
      const shortcut = block(x, d, 1);
      x = nb.relu(nb.add(block(y, d), shortcut));
      break;
    }
    case "concat": {
      const p = nb.relu(block(x, b, 1));
      const q = nb.relu(block(nb.relu(block(x, d, 1)), a));
      x = nb.concat([p, q, x]);
      x = nb.relu(block(x, b));
      break;
    }
    case "flatten":
      x = nb.relu(block(x, b));
      x = nb.maxpool(x);
      x = nb.flatten(x);
      x = nb.relu(nb.gemm(x, d + 2));
      break;
    case "depthwise": {
      const e = nb.relu(block(x, b, 1));
      let dw = nb.conv(e, b, { group: b, bias: c.bias });
      if (c.withBn) dw = nb.bn(dw);
      x = nb.add(block(nb.relu(dw), a, 1), x);
      break;
    }
  }
  if (c.family !== "flatten") x = nb.flatten(nb.gap(x));
  const out = nb.gemm(x, 3);
  const model = nb.model([out], false);
  // Replace the builder's patterned weights by seeded random ones (BN variances positive).
  const g = model.graph!;
  g.initializer = g.initializer.map((t, i) => {
    if (t.dataType !== 1) return t;
    const values = seededFloats(
      c.seed * 1000 + i,
      t.dims.reduce((p, q) => p * q, 1),
    );
    const isVar = /^var/.test(t.name ?? "");
    return makeFloat32Tensor(t.name ?? "", t.dims, isVar ? values.map((v) => Math.abs(v) + 0.5) : values);
  });
  return model;
}

const netCase: fc.Arbitrary<NetCase> = fc.record({
  family: fc.constantFrom<Family>("chain", "residual", "concat", "flatten", "depthwise", "projection"),
  widths: fc.tuple(
    fc.integer({ min: 2, max: 6 }),
    fc.integer({ min: 2, max: 6 }),
    fc.integer({ min: 2, max: 6 }),
  ),
  size: fc.integer({ min: 4, max: 6 }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  bias: fc.boolean(),
  withBn: fc.boolean(),
});

function randomPlans(model: ModelProto, seed: number): GroupPlan[] {
  const groups = findDependencyGroups(buildGraph(model));
  const rand = seededFloats(seed, 4096);
  let r = 0;
  const plans: GroupPlan[] = [];
  for (const group of groups) {
    if (group.frozen) continue;
    const keep: number[] = [];
    for (let ch = 0; ch < group.channels; ch++) if (rand[r++ % rand.length]! > -0.2) keep.push(ch);
    if (keep.length === 0) keep.push(group.channels - 1);
    plans.push({ groupId: group.id, keep });
  }
  return plans;
}

test("surgery is exact: pruning zeroed channels leaves onnxruntime outputs unchanged on every topology family", async () => {
  await fc.assert(
    fc.asyncProperty(netCase, async (c) => {
      const original = buildNet(c);
      const plans = randomPlans(original, c.seed + 1);
      const zeroed = zeroRemoved(original, plans);
      const graph = buildGraph(zeroed);
      const groups = findDependencyGroups(graph);
      const { model } = applyPlan(graph, groups, { method: "test", groups: plans });
      const bytes = encodeModel(model);
      validateModel(decodeModel(bytes));
      const input = inputShape(zeroed, 2);
      const before = await runOrt(encodeModel(zeroed), input, c.seed);
      const after = await runOrt(bytes, input, c.seed);
      assertOutputsClose(before, after);
      // The pruned model really is smaller whenever a channel was removed.
      const removed = plans.some((p) => p.keep.length < groups[p.groupId]!.channels);
      if (removed) assert.ok(bytes.length < encodeModel(zeroed).length);
    }),
    { numRuns: Math.min(60, Number(process.env.PROPERTY_RUNS ?? 60)) },
  );
});

test("surgery leaves the input model untouched and keeps names, opset and outputs", () => {
  const model = buildNet({
    family: "residual",
    widths: [4, 3, 5],
    size: 5,
    seed: 3,
    bias: true,
    withBn: true,
  });
  const before = encodeModel(model);
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const plans = randomPlans(model, 9);
  const { model: pruned } = applyPlan(graph, groups, { method: "test", groups: plans });
  assert.deepEqual(encodeModel(model), before);
  assert.deepEqual(
    pruned.graph!.node.map((n) => n.name),
    model.graph!.node.map((n) => n.name),
  );
  assert.deepEqual(pruned.opsetImport, model.opsetImport);
  assert.deepEqual(pruned.graph!.output, model.graph!.output);
});

test("surgery folds merges into consumers: a duplicated channel merged into its twin is exact", async () => {
  // conv1 channel 2 = 0.5 x channel 0 (weights and bias), ReLU between: merging 2 into 0 with scale 0.5 is exact.
  const nb = new NetBuilder("x", [2, 5, 5]);
  const y = nb.relu(nb.conv("x", 3, { bias: true }));
  const out = nb.gemm(nb.flatten(nb.gap(nb.relu(nb.conv(y, 4)))), 2);
  const model = nb.model([out], false);
  const g = model.graph!;
  g.initializer = g.initializer.map((t, i) => {
    const values = seededFloats(
      50 + i,
      t.dims.reduce((a, b) => a * b, 1),
    );
    if (t.name === "w0" || t.name === "b1") {
      const per = values.length / 3;
      for (let j = 0; j < per; j++) values[2 * per + j] = 0.5 * values[j]!;
    }
    return makeFloat32Tensor(t.name ?? "", t.dims, values);
  });
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const group = groups.find((gr) => gr.producers[0]?.weight === "w0")!;
  const merged = applyPlan(graph, groups, {
    method: "test",
    groups: [{ groupId: group.id, keep: [0, 1], merges: [{ from: 2, into: 0, scale: 0.5 }] }],
  });
  const pruned = applyPlan(graph, groups, { method: "test", groups: [{ groupId: group.id, keep: [0, 1] }] });
  const input = inputShape(model, 2);
  const ref = await runOrt(encodeModel(model), input, 5);
  assertOutputsClose(ref, await runOrt(encodeModel(merged.model), input, 5));
  const plain = await runOrt(encodeModel(pruned.model), input, 5);
  const diff = Object.keys(ref).some((k) => ref[k]!.some((v, i) => Math.abs(v - plain[k]![i]!) > 1e-4));
  assert.ok(diff, "plain pruning of the duplicate should change the outputs");
  assert.deepEqual(merged.groups[0], {
    groupId: group.id,
    channelsBefore: 3,
    channelsAfter: 2,
    merged: 1,
    dropped: 0,
  });
});

test("surgery refuses bad plans with PLAN_INVALID and unsafe merges with UNSAFE_MERGE", () => {
  const nb = new NetBuilder("x", [2, 5, 5]);
  const y = nb.unary("Sigmoid", nb.conv("x", 3));
  const out = nb.gemm(nb.flatten(nb.gap(nb.conv(y, 4))), 2);
  const model = nb.model([out], false);
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const group = groups.find((gr) => gr.producers[0]?.weight === "w0")!;
  const expectCode = (code: string, fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => isPrunekitError(e) && e.code === code && e.message.length > 20);
  expectCode("PLAN_INVALID", () =>
    applyPlan(graph, groups, { method: "t", groups: [{ groupId: group.id, keep: [] }] }),
  );
  expectCode("PLAN_INVALID", () =>
    applyPlan(graph, groups, { method: "t", groups: [{ groupId: group.id, keep: [1, 0] }] }),
  );
  expectCode("PLAN_INVALID", () =>
    applyPlan(graph, groups, { method: "t", groups: [{ groupId: group.id, keep: [0, 7] }] }),
  );
  expectCode("PLAN_INVALID", () =>
    applyPlan(graph, groups, { method: "t", groups: [{ groupId: 99, keep: [0] }] }),
  );
  expectCode("UNSAFE_MERGE", () =>
    applyPlan(graph, groups, {
      method: "t",
      groups: [{ groupId: group.id, keep: [0, 1], merges: [{ from: 2, into: 0, scale: 1 }] }],
    }),
  );
  const frozen = groups.find((gr) => gr.frozen);
  if (frozen)
    expectCode("PLAN_INVALID", () =>
      applyPlan(graph, groups, { method: "t", groups: [{ groupId: frozen.id, keep: [0] }] }),
    );
});

test("bug: a bias shared through Identity (PyTorch dedups equal initializers) is a constant, and pruning one conv leaves the other's copy whole", async () => {
  // squeezenet1_1 / efficientnet_b0 exports: zero-initialised biases of equal size become one initializer
  // read by the first conv and by Identity nodes whose outputs are the other convs' biases.
  const nb = new NetBuilder("x", [2, 5, 5]);
  const a = nb.relu(nb.conv("x", 4, { bias: true }));
  const shared = nb.op("Identity", ["b1"], [4]);
  const wB = nb.weight("w", [4, 4, 3, 3]);
  const b = nb.relu(nb.op("Conv", [a, wB, shared], [4, 5, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }));
  const out = nb.gemm(nb.flatten(nb.gap(b)), 2);
  const built = nb.model([out], false);
  // Zero biases, as PyTorch initialises them (that is why they are equal and shared).
  const g0 = built.graph!;
  const initializer = g0.initializer.map((t) =>
    t.name === "b1" ? makeFloat32Tensor("b1", [4], [0, 0, 0, 0]) : t,
  );
  const model: ModelProto = { ...built, graph: { ...g0, initializer } };
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const groupA = groups.find((g) => g.producers[0]?.weight === "w0")!;
  const groupB = groups.find((g) => g.producers[0]?.weight === wB)!;
  assert.deepEqual(groupA.frozenReasons, []);
  assert.deepEqual(groupB.frozenReasons, [], "the Identity of an initializer is a constant bias");
  assert.equal(groupB.producers[0]!.bias, shared);
  const input = inputShape(model, 2);
  for (const plan of [
    [{ groupId: groupA.id, keep: [0, 2, 3] }],
    [{ groupId: groupB.id, keep: [1, 3] }],
    [
      { groupId: groupA.id, keep: [1, 2] },
      { groupId: groupB.id, keep: [0, 1, 2] },
    ],
  ]) {
    // Pruned models equal the original with the removed channels' producers zeroed (exactness).
    const zeroed = zeroRemoved(model, plan);
    const zg = buildGraph(zeroed);
    const { model: pruned } = applyPlan(zg, findDependencyGroups(zg), { method: "test", groups: plan });
    const bytes = encodeModel(pruned);
    validateModel(decodeModel(bytes));
    const y = await runOrt(bytes, input, 3);
    assert.equal(Object.values(y)[0]!.length, 2);
    assertOutputsClose(await runOrt(encodeModel(zeroed), input, 3), y);
  }
});
