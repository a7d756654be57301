import assert from "node:assert/strict";
import { test } from "node:test";
import { buildGraph } from "../../src/graph/ir.ts";
import { broadcastShapes, inferShapes } from "../../src/graph/shapes.ts";
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import type { TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, makeInt64Tensor } from "../../src/onnx/tensor.ts";

/** Shapes of every value of a one-input model (input x of `shape`). */
function infer(
  shape: (number | string)[],
  nodes: BuildNode[],
  initializers: TensorProto[] = [],
  opset = 13,
): Map<string, number[]> {
  const last = nodes[nodes.length - 1]!.outputs[0]!;
  const model = buildModel({
    inputs: [{ name: "x", shape }],
    outputs: [{ name: last }],
    nodes,
    initializers,
    opset,
  });
  return inferShapes(buildGraph(model)).shapes;
}

const w = (name: string, dims: number[]) =>
  makeFloat32Tensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

test("Conv: strides, pads, dilations, groups and every auto_pad", () => {
  const conv = (attributes: BuildNode["attributes"], wdims = [6, 4, 3, 3]) =>
    infer(
      ["N", 4, 11, 10],
      [{ opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes }],
      [w("w", wdims)],
    ).get("y");
  assert.deepEqual(conv({}), [1, 6, 9, 8]);
  assert.deepEqual(conv({ pads: [1, 1, 1, 1], strides: [2, 2] }), [1, 6, 6, 5]);
  assert.deepEqual(conv({ pads: [0, 2, 1, 0], dilations: [2, 1] }), [1, 6, 8, 10]);
  assert.deepEqual(conv({ auto_pad: "SAME_UPPER", strides: [2, 3] }), [1, 6, 6, 4]);
  assert.deepEqual(conv({ auto_pad: "SAME_LOWER" }), [1, 6, 11, 10]);
  assert.deepEqual(conv({ auto_pad: "VALID", strides: [2, 2] }), [1, 6, 5, 4]);
  assert.deepEqual(conv({ group: 4, pads: [1, 1, 1, 1] }, [4, 1, 3, 3]), [1, 4, 11, 10]);
  assert.deepEqual(conv({ kernel_shape: [1, 1] }, [2, 4, 1, 1]), [1, 2, 11, 10]);
});

test("ConvTranspose: stride, pads, output_padding, group and output_shape", () => {
  const ct = (attributes: BuildNode["attributes"]) =>
    infer(
      ["N", 4, 5, 5],
      [{ opType: "ConvTranspose", inputs: ["x", "w"], outputs: ["y"], attributes }],
      [w("w", [4, 3, 3, 3])],
    ).get("y");
  assert.deepEqual(ct({ strides: [2, 2] }), [1, 3, 11, 11]);
  assert.deepEqual(ct({ strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }), [1, 3, 10, 10]);
  assert.deepEqual(ct({ group: 2 }), [1, 6, 7, 7]);
  assert.deepEqual(ct({ output_shape: [12, 12], strides: [2, 2] }), [1, 3, 12, 12]);
  assert.deepEqual(ct({ auto_pad: "SAME_UPPER", strides: [2, 2] }), [1, 3, 10, 10]);
});

test("MaxPool / AveragePool: ceil_mode (with the last-window rule), pads, strides; global pools", () => {
  const pool = (opType: string, attributes: BuildNode["attributes"], h = 7) =>
    infer([1, 3, h, h], [{ opType, inputs: ["x"], outputs: ["y"], attributes }]).get("y");
  assert.deepEqual(pool("MaxPool", { kernel_shape: [2, 2], strides: [2, 2] }), [1, 3, 3, 3]);
  assert.deepEqual(pool("MaxPool", { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }), [1, 3, 4, 4]);
  assert.deepEqual(
    pool("AveragePool", { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
    [1, 3, 4, 4],
  );
  // 5x5, k=3, s=2, pad=1, ceil: a 4th window would start in the right padding only, so 3 (PyTorch rule).
  assert.deepEqual(
    pool("MaxPool", { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, 5),
    [1, 3, 3, 3],
  );
  assert.deepEqual(
    pool("MaxPool", { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, 6),
    [1, 3, 4, 4],
  );
  assert.deepEqual(
    pool("MaxPool", { kernel_shape: [3, 3], strides: [1, 1], auto_pad: "SAME_UPPER" }),
    [1, 3, 7, 7],
  );
  assert.deepEqual(pool("GlobalAveragePool", {}), [1, 3, 1, 1]);
});

test("element-wise ops, BN, Clip in both opset forms, Dropout and Softmax keep the shape", () => {
  const s = infer(
    [1, 3, 4, 4],
    [
      { opType: "BatchNormalization", inputs: ["x", "s", "s", "s", "s"], outputs: ["a"] },
      { opType: "LeakyRelu", inputs: ["a"], outputs: ["b"] },
      { opType: "Clip", inputs: ["b", "lo", "hi"], outputs: ["c"] },
      { opType: "HardSwish", inputs: ["c"], outputs: ["d"] },
      { opType: "HardSigmoid", inputs: ["d"], outputs: ["e"] },
      { opType: "Sigmoid", inputs: ["e"], outputs: ["f"] },
      { opType: "Dropout", inputs: ["f"], outputs: ["g", "mask"] },
      { opType: "Identity", inputs: ["g"], outputs: ["h"] },
      { opType: "Softmax", inputs: ["h"], outputs: ["i"], attributes: { axis: 1 } },
    ],
    [w("s", [3]), w("lo", []), w("hi", [])],
  );
  for (const v of ["a", "b", "c", "d", "e", "f", "g", "mask", "h", "i"])
    assert.deepEqual(s.get(v), [1, 3, 4, 4], v);
  const old = infer(
    [1, 3, 4, 4],
    [{ opType: "Clip", inputs: ["x"], outputs: ["y"], attributes: { min: { f: 0 }, max: { f: 6 } } }],
    [],
    9,
  );
  assert.deepEqual(old.get("y"), [1, 3, 4, 4]);
});

test("broadcasting for per-channel constants and residual adds", () => {
  assert.deepEqual(
    broadcastShapes([
      [1, 3, 4, 4],
      [3, 1, 1],
    ]),
    [1, 3, 4, 4],
  );
  assert.deepEqual(
    broadcastShapes([
      [1, 3, 4, 4],
      [1, 3, 4, 4],
    ]),
    [1, 3, 4, 4],
  );
  assert.deepEqual(
    broadcastShapes([
      [2, 1],
      [1, 5],
    ]),
    [2, 5],
  );
  assert.equal(broadcastShapes([[3], [4]]), undefined);
  const s = infer(
    [1, 3, 4, 4],
    [
      { opType: "Mul", inputs: ["x", "k"], outputs: ["a"] },
      { opType: "Sub", inputs: ["a", "x"], outputs: ["b"] },
      { opType: "Div", inputs: ["b", "k"], outputs: ["c"] },
    ],
    [w("k", [3, 1, 1])],
  );
  assert.deepEqual(s.get("c"), [1, 3, 4, 4]);
});

test("Flatten axis, Gemm transA/transB, MatMul with batch broadcasting and 1-D operands", () => {
  const s = infer(
    [1, 4, 2, 3],
    [
      { opType: "Flatten", inputs: ["x"], outputs: ["f"] },
      { opType: "Flatten", inputs: ["x"], outputs: ["f2"], attributes: { axis: 2 } },
      { opType: "Flatten", inputs: ["x"], outputs: ["f0"], attributes: { axis: 0 } },
      { opType: "Gemm", inputs: ["f", "wb"], outputs: ["g"], attributes: { transB: 1 } },
      { opType: "Gemm", inputs: ["wa", "wk"], outputs: ["g2"], attributes: { transA: 1 } },
      { opType: "MatMul", inputs: ["x", "m"], outputs: ["mm"] },
      { opType: "MatMul", inputs: ["f", "v"], outputs: ["mv"] },
    ],
    [w("wb", [5, 24]), w("wa", [24, 1]), w("wk", [24, 7]), w("m", [3, 9]), w("v", [24])],
  );
  assert.deepEqual(s.get("f"), [1, 24]);
  assert.deepEqual(s.get("f2"), [4, 6]);
  assert.deepEqual(s.get("f0"), [1, 24]);
  assert.deepEqual(s.get("g"), [1, 5]);
  assert.deepEqual(s.get("g2"), [1, 7]);
  assert.deepEqual(s.get("mm"), [1, 4, 2, 9]);
  assert.deepEqual(s.get("mv"), [1]);
});

test("Reshape with 0 and -1; Concat; Pad; Transpose; ReduceMean; Squeeze/Unsqueeze; Split", () => {
  const s = infer(
    [1, 4, 2, 3],
    [
      { opType: "Reshape", inputs: ["x", "s1"], outputs: ["r1"] },
      { opType: "Reshape", inputs: ["x", "s2"], outputs: ["r2"] },
      { opType: "Concat", inputs: ["x", "x"], outputs: ["c"], attributes: { axis: 1 } },
      { opType: "Pad", inputs: ["x", "pads"], outputs: ["p"] },
      { opType: "Transpose", inputs: ["x"], outputs: ["t"], attributes: { perm: [0, 2, 3, 1] } },
      { opType: "ReduceMean", inputs: ["x"], outputs: ["m"], attributes: { axes: [2, 3], keepdims: 0 } },
      { opType: "Unsqueeze", inputs: ["m", "ax"], outputs: ["u"] },
      { opType: "Squeeze", inputs: ["u", "ax"], outputs: ["q"] },
      { opType: "Split", inputs: ["x", "sp"], outputs: ["s_a", "s_b"], attributes: { axis: 1 } },
    ],
    [
      makeInt64Tensor("s1", [3], [0, -1, 3]),
      makeInt64Tensor("s2", [2], [-1, 6]),
      makeInt64Tensor("pads", [8], [0, 0, 1, 2, 0, 0, 3, 4]),
      makeInt64Tensor("ax", [1], [2]),
      makeInt64Tensor("sp", [2], [1, 3]),
    ],
  );
  assert.deepEqual(s.get("r1"), [1, 8, 3]);
  assert.deepEqual(s.get("r2"), [4, 6]);
  assert.deepEqual(s.get("c"), [1, 8, 2, 3]);
  assert.deepEqual(s.get("p"), [1, 4, 6, 9]);
  assert.deepEqual(s.get("t"), [1, 2, 3, 4]);
  assert.deepEqual(s.get("m"), [1, 4]);
  assert.deepEqual(s.get("u"), [1, 4, 1]);
  assert.deepEqual(s.get("q"), [1, 4]);
  assert.deepEqual(s.get("s_a"), [1, 1, 2, 3]);
  assert.deepEqual(s.get("s_b"), [1, 3, 2, 3]);
});

test("x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape is evaluated", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: ["batch", 16, 7, 7] }],
    outputs: [{ name: "y" }],
    initializers: [
      makeInt64Tensor("zero", [], [0]),
      makeInt64Tensor("axes", [1], [0]),
      makeInt64Tensor("m1", [1], [-1]),
    ],
    nodes: [
      { opType: "Shape", inputs: ["x"], outputs: ["s"] },
      { opType: "Gather", inputs: ["s", "zero"], outputs: ["n"], attributes: { axis: 0 } },
      { opType: "Unsqueeze", inputs: ["n", "axes"], outputs: ["n1"] },
      { opType: "Cast", inputs: ["n1"], outputs: ["n2"], attributes: { to: 7 } },
      { opType: "Concat", inputs: ["n2", "m1"], outputs: ["shape"], attributes: { axis: 0 } },
      { opType: "Slice", inputs: ["s", "one", "four"], outputs: ["chw"] },
      { opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"] },
    ],
  });
  model.graph!.initializer.push(makeInt64Tensor("one", [1], [1]), makeInt64Tensor("four", [1], [4]));
  const { shapes, values } = inferShapes(buildGraph(model));
  assert.deepEqual(values.get("s"), [1, 16, 7, 7]);
  assert.deepEqual(values.get("n"), [1]);
  assert.deepEqual(shapes.get("n"), []);
  assert.deepEqual(values.get("shape"), [1, -1]);
  assert.deepEqual(values.get("chw"), [16, 7, 7]);
  assert.deepEqual(shapes.get("y"), [1, 784]);
});

test("unknown ops give unknown shapes (and value_info hints are used when present)", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: [1, 3, 4, 4] }],
    outputs: [{ name: "z" }],
    nodes: [
      { opType: "Einsum", inputs: ["x"], outputs: ["y"], attributes: { equation: "nchw->nchw" } },
      { opType: "Relu", inputs: ["y"], outputs: ["z"] },
      { opType: "Relu", inputs: ["x"], outputs: ["hinted"], domain: "custom.op" },
    ],
  });
  model.graph!.valueInfo.push({
    name: "hinted",
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "n" }, { dimValue: 5 }] } } },
  });
  const { shapes } = inferShapes(buildGraph(model));
  assert.equal(shapes.get("y"), undefined);
  assert.equal(shapes.get("z"), undefined);
  assert.deepEqual(shapes.get("hinted"), [1, 5]);
});
