// Bug class (issue #10): attributes and weight ranks the shapes, counts and surgery rely on were not
// validated: a grouped conv weight flattened to rank 1, strides / kernel / pads that are zero,
// negative or of the wrong length, duplicate node names. `info` printed Infinity MACs, reports held
// null / NaN, and `prune` wrote models onnxruntime rejects. Each must be ONNX_INVALID naming the node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeModel, loadModel, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { AttributeType, type ModelProto, type NodeProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { NetBuilder } from "../graph/net-builder.ts";

/** conv(3->8) -> relu -> maxpool -> conv(8->6) -> gap -> flatten -> gemm(6->4). */
function base(): ModelProto {
  const b = new NetBuilder("x", [3, 8, 8]);
  const c = b.conv(b.input, 8);
  const p = b.maxpool(b.relu(c));
  const y = b.gemm(b.flatten(b.gap(b.conv(p, 6))), 4);
  return b.model([y], false);
}

function nodeOf(model: ModelProto, opType: string, nth = 0): NodeProto {
  return model.graph!.node.filter((n) => n.opType === opType)[nth]!;
}

function setInts(node: NodeProto, name: string, values: number[]): void {
  node.attribute = node.attribute.filter((a) => a.name !== name);
  node.attribute.push({
    name,
    type: AttributeType.INTS,
    ints: values,
    floats: [],
    strings: [],
    tensors: [],
    graphs: [],
  });
}

function setInt(node: NodeProto, name: string, value: number): void {
  node.attribute = node.attribute.filter((a) => a.name !== name);
  node.attribute.push({
    name,
    type: AttributeType.INT,
    i: value,
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
  });
}

async function assertRefused(model: ModelProto, node: string, pattern: RegExp): Promise<void> {
  const bytes = encodeModel(model);
  await assert.rejects(loadModel(bytes), (e: unknown) => {
    assert.ok(isPrunekitError(e), String(e));
    assert.equal(e.code, "ONNX_INVALID", e.message);
    assert.equal(e.node, node, e.message);
    assert.ok(e.message.includes(JSON.stringify(node)), `message names the node: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test("the base model loads, counts finite MACs and prunes (the cases below differ by one field)", async () => {
  const model = await loadModel(encodeModel(base()));
  assert.ok(Number.isFinite(describeModel(model).totals.macs));
  await prune(model, { method: "l1", ratio: 0.5 });
});

const convCases: [string, (n: NodeProto) => void, RegExp][] = [
  ["strides of 0", (n) => setInts(n, "strides", [0, 1]), /"strides" .* expected values >= 1/],
  ["negative strides", (n) => setInts(n, "strides", [-1, 1]), /"strides"/],
  ["strides of the wrong length", (n) => setInts(n, "strides", [1]), /"strides" has 1 values .* expected 2/],
  ["a kernel_shape of 0", (n) => setInts(n, "kernel_shape", [0, 3]), /kernel_shape/],
  [
    "a kernel_shape that disagrees with the weight",
    (n) => setInts(n, "kernel_shape", [5, 5]),
    /kernel_shape .* does not match/,
  ],
  ["negative pads", (n) => setInts(n, "pads", [1, -1, 1, 1]), /"pads"/],
  ["pads of the wrong length", (n) => setInts(n, "pads", [1, 1]), /"pads" has 2 values .* expected 4/],
  ["dilations of 0", (n) => setInts(n, "dilations", [0, 1]), /"dilations"/],
  ["group 0", (n) => setInt(n, "group", 0), /"group" is 0/],
  ["group that does not divide the output channels", (n) => setInt(n, "group", 3), /group=3 does not divide/],
  [
    "an unknown auto_pad",
    (n) => {
      n.attribute.push({
        name: "auto_pad",
        type: AttributeType.STRING,
        s: new TextEncoder().encode("SAME\nX"),
        floats: [],
        ints: [],
        strings: [],
        tensors: [],
        graphs: [],
      });
    },
    /auto_pad is "SAME\\nX"/,
  ],
];

for (const [what, mutate, pattern] of convCases) {
  test(`bug: a Conv with ${what} is ONNX_INVALID naming the node`, async () => {
    const model = base();
    const conv = nodeOf(model, "Conv");
    mutate(conv);
    await assertRefused(model, conv.name!, pattern);
  });
}

test("bug: a grouped conv weight flattened to rank 1 is ONNX_INVALID naming the node and the weight", async () => {
  const model = base();
  const conv = nodeOf(model, "Conv", 1);
  const w = model.graph!.initializer.findIndex((t) => t.name === conv.input[1]);
  const old = model.graph!.initializer[w]!;
  model.graph!.initializer[w] = makeFloat32Tensor(
    old.name!,
    [old.dims.reduce((a, b) => a * b, 1)],
    new Float32Array(old.dims.reduce((a, b) => a * b, 1)),
  );
  await assertRefused(model, conv.name!, /weight ".*" has 1 dims .* expected at least 3/);
});

test("bug: a Conv with 0 output channels is refused in validation, not a hang in surgery", async () => {
  const model = base();
  const conv = nodeOf(model, "Conv");
  const w = model.graph!.initializer.findIndex((t) => t.name === conv.input[1]);
  const old = model.graph!.initializer[w]!;
  model.graph!.initializer[w] = makeFloat32Tensor(old.name!, [0, ...old.dims.slice(1)], new Float32Array(0));
  await assertRefused(model, conv.name!, /with 0 entries on axis 0/);
});

test("bug: a Gemm weight with 0 input features is refused in validation", async () => {
  const model = base();
  const gemm = nodeOf(model, "Gemm");
  const w = model.graph!.initializer.findIndex((t) => t.name === gemm.input[1]);
  model.graph!.initializer[w] = makeFloat32Tensor(gemm.input[1]!, [4, 0], new Float32Array(0));
  await assertRefused(model, gemm.name!, /with 0 entries on axis 1/);
});

test("bug: a Gemm with transB=2 is ONNX_INVALID", async () => {
  const model = base();
  const gemm = nodeOf(model, "Gemm");
  setInt(gemm, "transB", 2);
  await assertRefused(model, gemm.name!, /"transB" is 2, expected one of 0, 1/);
});

test("bug: a MaxPool with strides 0 or padding as large as its kernel is ONNX_INVALID", async () => {
  for (const [name, values, pattern] of [
    ["strides", [0, 2], /"strides"/],
    ["pads", [2, 0, 0, 0], /not smaller than kernel_shape/],
  ] as const) {
    const model = base();
    const pool = nodeOf(model, "MaxPool");
    setInts(pool, name, [...values]);
    await assertRefused(model, pool.name!, pattern);
  }
});

test("bug: a BatchNormalization whose parameters disagree in length is ONNX_INVALID", async () => {
  const b = new NetBuilder("x", [3, 8, 8]);
  const y = b.gemm(b.flatten(b.gap(b.conv(b.relu(b.bn(b.conv(b.input, 8))), 6))), 4);
  const model = b.model([y], false);
  const bn = nodeOf(model, "BatchNormalization");
  const i = model.graph!.initializer.findIndex((t) => t.name === bn.input[3]);
  model.graph!.initializer[i] = makeFloat32Tensor(bn.input[3]!, [7], new Float32Array(7));
  await assertRefused(model, bn.name!, /has 7 values, but the previous parameters have 8/);
});

test("bug: duplicate node names are ONNX_INVALID naming the node", async () => {
  const model = base();
  const second = nodeOf(model, "Conv", 1);
  second.name = nodeOf(model, "Conv", 0).name;
  await assertRefused(model, second.name!, /node name is also used by node #0/);
});

test("bug: an attribute given twice is ONNX_INVALID", async () => {
  const model = base();
  const conv = nodeOf(model, "Conv");
  conv.attribute.push({ ...conv.attribute.find((a) => a.name === "strides")! });
  await assertRefused(model, conv.name!, /attribute "strides" is given twice/);
});

test("bug: a Transpose perm that is not a permutation is ONNX_INVALID", async () => {
  const b = new NetBuilder("x", [3, 8, 8]);
  const t = b.op("Transpose", [b.conv(b.input, 4)], [4, 8, 8], { perm: [0, 1, 3, 3] });
  const model = b.model([t], false);
  await assertRefused(model, nodeOf(model, "Transpose").name!, /not a permutation/);
});
