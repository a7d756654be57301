import assert from "node:assert/strict";
import { test } from "node:test";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import { patchValues, type TensorValue } from "../../src/surgery/model-patch.ts";
import { NetBuilder } from "../graph/net-builder.ts";
import { inputShape, runOrt } from "../onnx/fixtures.ts";
import { zeroRemoved } from "./harness.ts";

/** x [2, 3, 3] -> Flatten -> Gemm(3): a linear model, so scaling W and b by 2 scales y by 2 exactly. */
function linearModel(): { model: ModelProto; weight: string; bias: string } {
  const nb = new NetBuilder("x", [2, 3, 3]);
  const out = nb.gemm(nb.flatten("x"), 3);
  const model = nb.model([out]);
  const gemm = model.graph!.node.find((n) => n.opType === "Gemm")!;
  return { model, weight: gemm.input[1]!, bias: gemm.input[2]! };
}

test("patchValues: a linear model with W and b doubled gives exactly twice the outputs under onnxruntime", async () => {
  const { model, weight, bias } = linearModel();
  const graph = buildGraph(model);
  const double = (name: string): TensorValue => ({
    data: readFloat32(graph.constants.get(name)!).map((v) => 2 * v),
  });
  const patched = patchValues(
    graph,
    new Map([
      [weight, double(weight)],
      [bias, double(bias)],
    ]),
  );
  const input = inputShape(model, 2);
  const before = Object.values(await runOrt(encodeModel(model), input))[0]!;
  const after = Object.values(await runOrt(encodeModel(patched), input))[0]!;
  assert.deepEqual(
    Array.from(after),
    Array.from(before, (v) => 2 * v),
  );
  // The input model is untouched; the other tensors are shared, names and metadata kept.
  assert.deepEqual(
    readFloat32(buildGraph(model).constants.get(weight)!),
    readFloat32(graph.constants.get(weight)!),
  );
  assert.deepEqual(
    patched.graph!.initializer.map((t) => t.name),
    model.graph!.initializer.map((t) => t.name),
  );
  assert.equal(patched.opsetImport, model.opsetImport);
});

test("patchValues: a new shape replaces the dims, and a graph input listing the initializer follows it", () => {
  const { model, bias } = linearModel();
  const g = model.graph!;
  const listed: ModelProto = {
    ...model,
    graph: {
      ...g,
      input: [
        ...g.input,
        { name: bias, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 3 }] } } } },
      ],
    },
  };
  const patched = patchValues(
    buildGraph(listed),
    new Map([[bias, { data: Float32Array.of(1, 2, 3, 4), dims: [4] }]]),
  );
  const t = patched.graph!.initializer.find((x) => x.name === bias)!;
  assert.deepEqual(t.dims.map(Number), [4]);
  assert.deepEqual(Array.from(readFloat32(t)), [1, 2, 3, 4]);
  const vi = patched.graph!.input.find((v) => v.name === bias)!;
  assert.equal(vi.type?.tensorType?.shape?.dim[0]?.dimValue, 4);
});

test("patchValues: an Identity copy of a shared constant gets its own initializer; the other reader keeps the old values", () => {
  const nb = new NetBuilder("x", [2, 5, 5]);
  const a = nb.relu(nb.conv("x", 4, { bias: true }));
  const shared = nb.op("Identity", ["b1"], [4]);
  const wB = nb.weight("w", [4, 4, 3, 3]);
  const b = nb.op("Conv", [a, wB, shared], [4, 5, 5], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const model = nb.model([nb.gemm(nb.flatten(nb.gap(b)), 2)], false);
  const graph = buildGraph(model);
  const original = readFloat32(graph.constants.get("b1")!);
  const patched = buildGraph(patchValues(graph, new Map([[shared, { data: Float32Array.of(9, 8, 7, 6) }]])));
  assert.deepEqual(Array.from(readFloat32(patched.constants.get(shared)!)), [9, 8, 7, 6]);
  assert.deepEqual(readFloat32(patched.constants.get("b1")!), original);
  assert.ok(!patched.nodes.some((n) => n.opType === "Identity"), "the Identity became an initializer");
});

test("patchValues refuses unknown names, non-float tensors, wrong lengths, bad shapes and non-finite values", () => {
  const nb = new NetBuilder("x", [2, 3, 3]);
  const model = nb.model([nb.gemm(nb.reshapeFlat("x", true), 3)]);
  const graph = buildGraph(model);
  const weight = model.graph!.node.find((n) => n.opType === "Gemm")!.input[1]!;
  const shape = model.graph!.node.find((n) => n.opType === "Reshape")!.input[1]!;
  const cases: [string, TensorValue, RegExp][] = [
    ["nope", { data: Float32Array.of(1) }, /"nope" is not a constant tensor/],
    [weight, { data: new Float32Array(5) }, /gets 5 values, but shape \[3, 18\] holds 54/],
    [weight, { data: new Float32Array(54), dims: [54, -1] }, /dims must be non-negative integers/],
    [
      weight,
      { data: new Float32Array(54).fill(Number.NaN) },
      /value 0 is NaN; a model's tensors must be finite/,
    ],
  ];
  if (shape !== undefined)
    cases.push([shape, { data: Float32Array.of(1, -1) }, /only float32 tensors can be patched/]);
  for (const [name, value, message] of cases) {
    assert.throws(
      () => patchValues(graph, new Map([[name, value]])),
      (e) =>
        isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message) && e.tensor === name,
      `${name}: ${message}`,
    );
  }
});

test("applyPlan with values patches first, then slices: the same bytes as slicing a model patched beforehand", () => {
  const nb = new NetBuilder("x", [2, 6, 6]);
  const a = nb.relu(nb.bn(nb.conv("x", 5, { bias: true })));
  const b = nb.relu(nb.bn(nb.conv(a, 4)));
  const model = nb.model([nb.gemm(nb.flatten(nb.gap(b)), 3)]);
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const plan = { method: "test", groups: [{ groupId: groups[0]!.id, keep: [0, 2, 4] }] };
  // New values: the harness's zeroing of removed channels (a realistic values patch: several tensors).
  const zeroed = buildGraph(zeroRemoved(model, [{ groupId: groups[0]!.id, keep: [1, 3] }]));
  const values = new Map<string, TensorValue>();
  for (const t of model.graph!.initializer) {
    const next = zeroed.constants.get(t.name!)!;
    if (t.dataType === 1 && next !== t) values.set(t.name!, { data: readFloat32(next) });
  }
  assert.ok(values.size >= 2, "the patch touches several tensors");
  const direct = applyPlan(graph, groups, plan, { values });
  const staged = applyPlan(buildGraph(patchValues(graph, values)), groups, plan);
  assert.deepEqual(encodeModel(direct.model), encodeModel(staged.model));
  for (const name of values.keys())
    assert.ok(direct.changedTensors.includes(name), `${name} is reported changed`);
  // A patch that changes the shape of a tensor the plan slices is refused, not silently misapplied.
  const weight = groups[0]!.producers[0]!.weight;
  assert.throws(
    () =>
      applyPlan(graph, groups, plan, {
        values: new Map([[weight, { data: new Float32Array(4), dims: [4] }]]),
      }),
    (e) => isPrunekitError(e) && e.code === "PLAN_INVALID" && e.message.includes(weight),
  );
  // Untouched by either: the input model.
  assert.equal(
    graph.constants.get(weight),
    model.graph!.initializer.find((t) => t.name === weight),
  );
});
