import assert from "node:assert/strict";
import { test } from "node:test";
import { isPrunekitError } from "../../src/errors.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { AttributeType } from "../../src/onnx/proto-types.ts";
import { makeInt64Tensor } from "../../src/onnx/tensor.ts";
import { validateModel } from "../../src/onnx/validate.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { runOrt } from "./fixtures.ts";

function convNet() {
  return buildModel({
    inputs: [{ name: "x", shape: ["batch", 2, 5, 5] }],
    outputs: [{ name: "y", shape: ["batch", 27] }],
    initializers: [
      { name: "conv.weight", dims: [3, 2, 3, 3], data: seededFloats(1, 54) },
      { name: "conv.bias", dims: [3], data: [0.1, -0.2, 0.3] },
      makeInt64Tensor("shape", [2], [0, -1]),
    ],
    nodes: [
      {
        opType: "Conv",
        name: "conv",
        inputs: ["x", "conv.weight", "conv.bias"],
        outputs: ["c"],
        attributes: { pads: [1, 1, 1, 1], strides: [2, 2] },
      },
      { opType: "LeakyRelu", inputs: ["c"], outputs: ["r"], attributes: { alpha: { f: 1 } } },
      { opType: "Reshape", inputs: ["r", "shape"], outputs: ["y"] },
    ],
  });
}

test("buildModel makes a model onnxruntime runs, and it validates and round-trips", async () => {
  const model = convNet();
  assert.deepStrictEqual(validateModel(model).nodeOrder, [0, 1, 2]);
  const bytes = encodeModel(model);
  assert.deepStrictEqual(decodeModel(bytes), model);
  const out = await runOrt(bytes, { name: "x", shape: [1, 2, 5, 5] });
  assert.equal(out.y?.length, 27);
});

test("buildModel types attributes: integers INT(S), other numbers FLOAT(S), { f } forces a float", () => {
  const node = convNet().graph?.node;
  assert.equal(node?.[0]?.attribute[0]?.type, AttributeType.INTS);
  assert.equal(node?.[1]?.attribute[0]?.type, AttributeType.FLOAT);
  assert.equal(node?.[1]?.attribute[0]?.f, 1);
  assert.equal(node?.[1]?.name, "LeakyRelu_1");
  assert.throws(
    () =>
      buildModel({
        inputs: [],
        outputs: [],
        nodes: [{ opType: "X", inputs: [], outputs: [], attributes: { a: [] } }],
      }),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
});
