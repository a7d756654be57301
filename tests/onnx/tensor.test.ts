import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { DataType, type TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, makeInt64Tensor, readFloat32, readInt64 } from "../../src/onnx/tensor.ts";
import { f32Array } from "../helpers/arbitraries.ts";
import { fixtureNames, readFixture } from "./fixtures.ts";

function tensor(fields: Partial<TensorProto>): TensorProto {
  return {
    dims: [],
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    externalData: [],
    doubleData: [],
    uint64Data: [],
    name: "t",
    ...fields,
  };
}

test("readFloat32 reads float_data and raw_data to the same values", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }).chain((n) => f32Array(n, 1e6)),
      (values) => {
        const raw = makeFloat32Tensor("w", [values.length], values);
        const typed = tensor({
          name: "w",
          dims: [values.length],
          dataType: DataType.FLOAT,
          floatData: Array.from(values),
        });
        // Through the wire too: float_data is a packed repeated float, raw_data is bytes.
        const wire = (t: TensorProto) => {
          const m = decodeModel(
            encodeModel({
              irVersion: 7,
              opsetImport: [],
              metadataProps: [],
              trainingInfo: [],
              functions: [],
              graph: {
                node: [],
                initializer: [t],
                sparseInitializer: [],
                input: [],
                output: [],
                valueInfo: [],
                quantizationAnnotation: [],
              },
            }),
          );
          return m.graph?.initializer[0] as TensorProto;
        };
        assert.deepStrictEqual(readFloat32(wire(raw)), values);
        assert.deepStrictEqual(readFloat32(wire(typed)), values);
      },
    ),
  );
});

test("readFloat32 reads raw_data at an unaligned byte offset", () => {
  const t = makeFloat32Tensor("w", [3], [1.5, -2, 3.25]);
  const shifted = new Uint8Array(13);
  shifted.set(t.rawData as Uint8Array, 1);
  assert.deepStrictEqual(
    readFloat32({ ...t, rawData: shifted.subarray(1) }),
    new Float32Array([1.5, -2, 3.25]),
  );
});

test("readFloat32 returns a copy: changing it leaves the model unchanged", () => {
  const t = makeFloat32Tensor("w", [2], [1, 2]);
  readFloat32(t)[0] = 100;
  assert.deepStrictEqual(readFloat32(t), new Float32Array([1, 2]));
});

test("readFloat32 upcasts DOUBLE, FLOAT16 and BFLOAT16", () => {
  const d = new DataView(new ArrayBuffer(16));
  d.setFloat64(0, 0.5, true);
  d.setFloat64(8, -3, true);
  assert.deepStrictEqual(
    readFloat32(tensor({ dims: [2], dataType: DataType.DOUBLE, rawData: new Uint8Array(d.buffer) })),
    new Float32Array([0.5, -3]),
  );
  assert.deepStrictEqual(
    readFloat32(tensor({ dims: [2], dataType: DataType.DOUBLE, doubleData: [0.5, -3] })),
    new Float32Array([0.5, -3]),
  );
  // float16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001
  const h = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00]);
  assert.deepStrictEqual(
    readFloat32(tensor({ dims: [4], dataType: DataType.FLOAT16, rawData: h })),
    new Float32Array([1, -2, 65504, 2 ** -24]),
  );
  assert.deepStrictEqual(
    readFloat32(tensor({ dims: [2], dataType: DataType.FLOAT16, int32Data: [0x3c00, 0xc000] })),
    new Float32Array([1, -2]),
  );
  // bfloat16: 1.0 = 0x3f80
  assert.deepStrictEqual(
    readFloat32(tensor({ dims: [1], dataType: DataType.BFLOAT16, rawData: new Uint8Array([0x80, 0x3f]) })),
    new Float32Array([1]),
  );
});

test("readFloat32 refuses other data types and lengths that disagree with dims", () => {
  assert.throws(
    () => readFloat32(tensor({ name: "ids", dims: [1], dataType: DataType.INT64, int64Data: [1] })),
    (e: unknown) =>
      isPrunekitError(e) && e.code === "ONNX_UNSUPPORTED" && e.tensor === "ids" && /INT64/.test(e.message),
  );
  assert.throws(
    () => readFloat32(tensor({ name: "w", dims: [3], dataType: DataType.FLOAT, rawData: new Uint8Array(8) })),
    (e: unknown) =>
      isPrunekitError(e) && e.code === "ONNX_INVALID" && /has 8 bytes, expected 12/.test(e.message),
  );
});

test("readInt64 reads int64_data, raw_data and INT32, and refuses values beyond 2^53", () => {
  assert.deepStrictEqual(readInt64(makeInt64Tensor("shape", [2], [1, -1])), [1, -1]);
  assert.deepStrictEqual(
    readInt64(tensor({ dims: [2], dataType: DataType.INT64, int64Data: [4, -7] })),
    [4, -7],
  );
  assert.deepStrictEqual(readInt64(tensor({ dims: [1], dataType: DataType.INT32, int32Data: [-3] })), [-3]);
  const big = new Uint8Array(8);
  new DataView(big.buffer).setBigInt64(0, 2n ** 60n, true);
  assert.throws(
    () => readInt64(tensor({ name: "big", dims: [1], dataType: DataType.INT64, rawData: big })),
    (e: unknown) => isPrunekitError(e) && e.code === "ONNX_INVALID" && e.tensor === "big",
  );
});

test("makeFloat32Tensor writes raw_data like PyTorch and checks its length", () => {
  const t = makeFloat32Tensor("w", [2, 2], [1, 2, 3, 4]);
  assert.equal(t.dataType, DataType.FLOAT);
  assert.equal(t.rawData?.length, 16);
  assert.deepStrictEqual(t.floatData, []);
  assert.throws(
    () => makeFloat32Tensor("w", [2, 2], [1]),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
});

test("fixture initializers read as floats of the right size", () => {
  for (const name of fixtureNames()) {
    const model = decodeModel(readFixture(name));
    for (const t of model.graph?.initializer ?? []) {
      if (t.dataType !== DataType.FLOAT) continue;
      const values = readFloat32(t);
      assert.equal(
        values.length,
        t.dims.reduce((a, b) => a * b, 1),
        `${name} ${t.name}`,
      );
    }
  }
});
