import assert from "node:assert/strict";
import { test } from "node:test";
import { isPrunekitError } from "../../src/errors.ts";
import { attrFloat, attrInt, attrInts, attrString, buildGraph } from "../../src/graph/ir.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { AttributeType, DataType, type ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";

function chain(): ModelProto {
  return buildModel({
    inputs: [{ name: "x", shape: ["batch", 2, 4, 4] }],
    outputs: [{ name: "z", shape: ["batch", 2, 4, 4] }],
    initializers: [makeFloat32Tensor("w", [2, 2, 1, 1], [1, 0, 0, 1])],
    nodes: [
      { opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: { group: 1, auto_pad: "VALID" } },
      { opType: "LeakyRelu", inputs: ["y"], outputs: ["z"], attributes: { alpha: { f: 0.2 } } },
    ],
  });
}

test("unnamed nodes get stable synthetic names and keep their empty original name", () => {
  const model = chain();
  for (const n of model.graph!.node) n.name = "";
  const g = buildGraph(model);
  assert.deepEqual(
    g.nodes.map((n) => [n.name, n.originalName]),
    [
      ["Conv_0", ""],
      ["LeakyRelu_1", ""],
    ],
  );
  assert.equal(model.graph!.node[0]!.name, "", "the model is not modified");
  assert.equal(buildGraph(model).nodes[1]!.name, "LeakyRelu_1", "names are stable across builds");
});

test("duplicate and colliding node names are made unique", () => {
  const model = chain();
  model.graph!.node[0]!.name = "LeakyRelu_1";
  model.graph!.node[1]!.name = "LeakyRelu_1";
  const g = buildGraph(model);
  assert.equal(new Set(g.nodes.map((n) => n.name)).size, 2);
  assert.equal(g.nodes[0]!.name, "LeakyRelu_1");
});

test("producers, consumers, inputs, outputs and initializers are indexed", () => {
  const g = buildGraph(chain());
  assert.equal(g.tensors.get("y")!.producer!.opType, "Conv");
  assert.deepEqual(
    g.tensors.get("y")!.consumers.map((n) => n.opType),
    ["LeakyRelu"],
  );
  assert.equal(g.tensors.get("x")!.isGraphInput, true);
  assert.equal(g.tensors.get("z")!.isGraphOutput, true);
  assert.equal(g.tensors.get("w")!.producer, undefined);
  assert.ok(g.initializers.has("w") && g.constants.has("w"));
  assert.deepEqual(
    g.inputs.map((i) => i.name),
    ["x"],
  );
  assert.equal(g.opsetVersion, 13);
});

test("typed attribute access with defaults", () => {
  const g = buildGraph(chain());
  const [conv, leaky] = g.nodes as [NonNullable<(typeof g.nodes)[0]>, NonNullable<(typeof g.nodes)[0]>];
  assert.equal(attrInt(conv, "group", 7), 1);
  assert.equal(attrInt(conv, "missing", 7), 7);
  assert.deepEqual(attrInts(conv, "strides", [1, 1]), [1, 1]);
  assert.equal(attrInts(conv, "strides"), undefined);
  assert.equal(attrString(conv, "auto_pad", "NOTSET"), "VALID");
  assert.ok(Math.abs(attrFloat(leaky, "alpha", 0.01) - 0.2) < 1e-7);
  assert.throws(
    () => attrInt(conv, "auto_pad", 0),
    (e) => isPrunekitError(e) && e.code === "ONNX_INVALID" && /auto_pad/.test(e.message),
  );
});

test("Constant nodes are constants, in every value form", () => {
  const model = chain();
  const base = { floats: [], ints: [], strings: [], tensors: [], graphs: [] };
  model.graph!.node.unshift(
    {
      input: [],
      output: ["c1"],
      opType: "Constant",
      attribute: [{ ...base, name: "value_ints", type: AttributeType.INTS, ints: [1, -1] }],
    },
    {
      input: [],
      output: ["c2"],
      opType: "Constant",
      attribute: [{ ...base, name: "value_float", type: AttributeType.FLOAT, f: 6 }],
    },
    {
      input: [],
      output: ["c3"],
      opType: "Constant",
      attribute: [
        { ...base, name: "value", type: AttributeType.TENSOR, t: makeFloat32Tensor("", [2], [1, 2]) },
      ],
    },
  );
  const g = buildGraph(model);
  assert.deepEqual(g.constants.get("c1")!.int64Data, [1, -1]);
  assert.equal(g.constants.get("c1")!.dataType, DataType.INT64);
  assert.deepEqual(g.constants.get("c2")!.dims, []);
  assert.deepEqual(g.constants.get("c3")!.dims, [2]);
  assert.ok(!g.initializers.has("c1"));
});

test("topological order sorts an unsorted file, stably", () => {
  const model = chain();
  model.graph!.node.reverse();
  const g = buildGraph(model);
  assert.deepEqual(
    g.order.map((n) => n.opType),
    ["Conv", "LeakyRelu"],
  );
  assert.deepEqual(
    g.nodes.map((n) => n.opType),
    ["LeakyRelu", "Conv"],
  );
});

test("a cycle, a dangling input and a doubly produced value are refused with the node named", () => {
  const cyc = chain();
  cyc.graph!.node[0]!.input[0] = "z";
  assert.throws(
    () => buildGraph(cyc),
    (e) => isPrunekitError(e) && e.code === "ONNX_INVALID" && /cycle/.test(e.message),
  );
  const dangling = chain();
  dangling.graph!.node[1]!.input[0] = "nope";
  assert.throws(
    () => buildGraph(dangling),
    (e) => isPrunekitError(e) && e.node === "LeakyRelu_1" && e.tensor === "nope",
  );
  const twice = chain();
  twice.graph!.node[1]!.output[0] = "y";
  assert.throws(
    () => buildGraph(twice),
    (e) => isPrunekitError(e) && e.code === "ONNX_INVALID" && /already/.test(e.message),
  );
});
