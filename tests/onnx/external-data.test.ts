import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { folderFileReader, loadOnnxFile } from "../../src/node/model-files.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { loadOnnx } from "../../src/onnx/load.ts";
import { DataType, type ModelProto, type TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { runOrt } from "./fixtures.ts";

const weights = seededFloats(3, 8);
let dir = "";

/** A Gemm model whose weight "w" lives in an external file at `location`. */
function externalModel(location: string, extra: { key: string; value: string }[] = []): ModelProto {
  const model = buildModel({
    inputs: [{ name: "x", shape: [1, 4] }],
    outputs: [{ name: "y", shape: [1, 2] }],
    initializers: [makeFloat32Tensor("w", [2, 4], weights)],
    nodes: [{ opType: "Gemm", name: "fc", inputs: ["x", "w"], outputs: ["y"], attributes: { transB: 1 } }],
  });
  const w = model.graph?.initializer[0] as TensorProto;
  delete w.rawData;
  w.dataLocation = 1;
  w.externalData = [{ key: "location", value: location }, ...extra];
  return model;
}

function littleEndianBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return out;
}

function rejectsWith(code: PrunekitErrorCode, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "prunekit-external-"));
  await mkdir(join(dir, "model", "data"), { recursive: true });
  // 16 bytes of padding, then the weights: exercises "offset".
  await writeFile(
    join(dir, "model", "data", "w.bin"),
    new Uint8Array([...new Uint8Array(16), ...littleEndianBytes(weights)]),
  );
  await writeFile(join(dir, "secret.bin"), littleEndianBytes(weights));
  await symlink(join(dir, "secret.bin"), join(dir, "model", "link.bin"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("external data is read from the model's folder, with offset and length", async () => {
  const model = externalModel("data/w.bin", [
    { key: "offset", value: "16" },
    { key: "length", value: "32" },
  ]);
  const path = join(dir, "model", "m.onnx");
  await writeFile(path, encodeModel(model));
  const loaded = await loadOnnxFile(path);
  const w = loaded.model.graph?.initializer[0] as TensorProto;
  assert.deepStrictEqual(readFloat32(w, loaded.externalData), weights);
  // onnxruntime agrees on the same file (it resolves external data relative to the model path).
  const { InferenceSession } = await import("onnxruntime-node");
  const session = await InferenceSession.create(path);
  await session.release();
});

test("external data paths with '..', absolute paths and backslash escapes are refused", async () => {
  const reader = folderFileReader(join(dir, "model"));
  for (const location of [
    "../secret.bin",
    "data/../../secret.bin",
    "/etc/passwd",
    join(dir, "secret.bin"),
    "..\\secret.bin",
    "data\\..\\..\\secret.bin",
    "C:\\x.bin",
    "\\\\server\\share\\x.bin",
  ]) {
    await assert.rejects(
      loadOnnx(encodeModel(externalModel(location)), { readFile: reader }),
      rejectsWith("EXTERNAL_DATA", /outside the model's folder|":" character/),
      location,
    );
  }
});

test("a symbolic link leading out of the model's folder is refused", async () => {
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("link.bin")), { readFile: folderFileReader(join(dir, "model")) }),
    rejectsWith("EXTERNAL_DATA", /outside the model's folder/),
  );
});

test("without readFile (browsers) external data is refused with a clear message", async () => {
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("data/w.bin"))),
    rejectsWith("EXTERNAL_DATA", /model uses external data file "data\/w.bin".*Node or Deno/),
  );
});

test("external data past the end of the file, missing files and bad offsets are refused", async () => {
  const readFile = folderFileReader(join(dir, "model"));
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("data/w.bin", [{ key: "offset", value: "40" }])), { readFile }),
    rejectsWith("EXTERNAL_DATA", /tensor "w".*past the end of "data\/w.bin" \(48 bytes\)/),
  );
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("missing.bin")), { readFile }),
    rejectsWith("EXTERNAL_DATA", /missing.bin/),
  );
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("data/w.bin", [{ key: "offset", value: "-4" }])), { readFile }),
    rejectsWith("EXTERNAL_DATA", /"offset" is "-4"/),
  );
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("data/w.bin", [{ key: "length", value: "31" }])), { readFile }),
    rejectsWith("ONNX_INVALID", /tensor "w": external data "length" is 31 bytes, expected 32/),
  );
});

test("readFloat32 on an external tensor without its loaded bytes says what to do", () => {
  const w = externalModel("data/w.bin").graph?.initializer[0] as TensorProto;
  assert.equal(w.dataType, DataType.FLOAT);
  assert.throws(() => readFloat32(w), rejectsWith("EXTERNAL_DATA", /loadOnnx/));
});

test("a model with external data still runs in onnxruntime after our round trip", async () => {
  const model = externalModel("data/w.bin", [{ key: "offset", value: "16" }]);
  const path = join(dir, "model", "rt.onnx");
  await writeFile(path, encodeModel(model));
  const loaded = await loadOnnxFile(path);
  await writeFile(path, encodeModel(loaded.model));
  const inline = buildModel({
    inputs: [{ name: "x", shape: [1, 4] }],
    outputs: [{ name: "y", shape: [1, 2] }],
    initializers: [makeFloat32Tensor("w", [2, 4], weights)],
    nodes: [{ opType: "Gemm", name: "fc", inputs: ["x", "w"], outputs: ["y"], attributes: { transB: 1 } }],
  });
  const { InferenceSession, Tensor } = await import("onnxruntime-node");
  const session = await InferenceSession.create(path);
  const x = new Tensor("float32", seededFloats(9, 4), [1, 4]);
  const fromFile = (await session.run({ x })).y?.data;
  await session.release();
  const expected = (await runOrt(encodeModel(inline), { name: "x", shape: [1, 4] }, 9)).y;
  assert.deepStrictEqual(fromFile, expected);
});
