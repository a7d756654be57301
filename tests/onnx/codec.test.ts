import assert from "node:assert/strict";
import { test } from "node:test";
import { isPrunekitError } from "../../src/errors.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { fixtureNames, readFixture } from "./fixtures.ts";

function tinyModel() {
  return buildModel({
    inputs: [{ name: "x", shape: ["batch", 2] }],
    outputs: [{ name: "y", shape: ["batch", 2] }],
    initializers: [makeFloat32Tensor("b", [2], [1, 2])],
    nodes: [{ opType: "Add", inputs: ["x", "b"], outputs: ["y"], name: "add" }],
  });
}

/** A varint field `fieldNumber` = value, as protobuf wire bytes. */
function varintField(fieldNumber: number, value: number): number[] {
  const out = [];
  let tag = fieldNumber * 8; // wire type 0
  while (tag >= 0x80) {
    out.push((tag & 0x7f) | 0x80);
    tag >>>= 7;
  }
  out.push(tag);
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

test("fields unknown to the schema survive decode -> encode byte for byte", () => {
  const bytes = encodeModel(tinyModel());
  // ModelProto field 99 (not in onnx.proto), appended after the known fields as protoc would write it.
  const extra = varintField(99, 12345);
  const withUnknown = new Uint8Array([...bytes, ...extra]);
  const model = decodeModel(withUnknown);
  assert.deepStrictEqual(model.unknownFields, [new Uint8Array(extra)]);
  assert.deepStrictEqual(encodeModel(model), withUnknown);
});

test("unknown fields inside nested messages (a future NodeProto field) survive", () => {
  const model = tinyModel();
  const node = model.graph?.node[0];
  assert.ok(node);
  node.unknownFields = [new Uint8Array(varintField(10, 1))]; // NodeProto.device_configurations-like
  const back = decodeModel(encodeModel(model));
  assert.deepStrictEqual(back.graph?.node[0]?.unknownFields, node.unknownFields);
  assert.deepStrictEqual(back, model);
});

test("an unknown AttributeType value (closed proto2 enum) is kept as an unknown field", () => {
  const model = tinyModel();
  const node = model.graph?.node[0];
  assert.ok(node);
  node.attribute.push({
    name: "future",
    type: 99,
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
  });
  const bytes = encodeModel(model);
  const back = decodeModel(bytes);
  const attr = back.graph?.node[0]?.attribute[0];
  assert.equal(attr?.type, undefined);
  assert.equal(attr?.unknownFields?.length, 1);
  assert.deepStrictEqual(encodeModel(back), bytes);
});

test("int64 values beyond 2^53 are refused with ONNX_INVALID naming the tensor and dim", () => {
  const model = tinyModel();
  const t = model.graph?.initializer[0];
  assert.ok(t);
  t.dims = [2 ** 60];
  const bytes = encodeModel(model);
  assert.throws(
    () => decodeModel(bytes),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "ONNX_INVALID" &&
      e.tensor === "b" &&
      /tensor "b"/.test(e.message) &&
      /dims\[0\] = 1152921504606846976/.test(e.message),
  );
});

test("negative int64 values (e.g. Reshape -1 in attributes) decode exactly", () => {
  const model = buildModel({
    inputs: [{ name: "x" }],
    outputs: [{ name: "y" }],
    nodes: [
      {
        opType: "Foo",
        inputs: ["x"],
        outputs: ["y"],
        attributes: { ints: [-1, -(2 ** 53) + 1, 2 ** 53 - 1] },
      },
    ],
  });
  assert.deepStrictEqual(decodeModel(encodeModel(model)).graph?.node[0]?.attribute[0]?.ints, [
    -1,
    -(2 ** 53) + 1,
    2 ** 53 - 1,
  ]);
});

test("decoding a Node Buffer gives plain Uint8Array bytes fields", () => {
  const name = fixtureNames()[0] as string;
  const model = decodeModel(Buffer.from(readFixture(name)));
  const raw = model.graph?.initializer.find((t) => t.rawData !== undefined)?.rawData;
  assert.ok(raw);
  assert.equal(Object.getPrototypeOf(raw), Uint8Array.prototype);
});

test("decoded models survive structuredClone (Web Worker transfer)", () => {
  const model = decodeModel(readFixture(fixtureNames()[0] as string));
  assert.deepStrictEqual(structuredClone(model), model);
});

test("encodeModel refuses a malformed object with INVALID_ARGUMENT", () => {
  const model = tinyModel();
  (model.graph as unknown as { node: unknown }).node = [null];
  assert.throws(
    () => encodeModel(model),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
});
