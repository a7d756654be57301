import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { prune } from "../../src/api.ts";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { loadModelFile } from "../../src/node/index.ts";
import { folderFileReader, loadOnnxFile } from "../../src/node/model-files.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { inlineExternalData } from "../../src/onnx/external-data.ts";
import { loadOnnx, type ReadModelFile } from "../../src/onnx/load.ts";
import { DataType, type ModelProto, type TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, makeInt64Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { forEachTensor } from "../../src/onnx/validate.ts";
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

// Issue #10: hostile external data.

test("bug: a named pipe as external data is refused (isFile) instead of blocking forever", {
  timeout: 10_000,
}, async () => {
  const fifo = join(dir, "model", "pipe.bin");
  const made = spawnSync("mkfifo", [fifo]);
  if (made.status !== 0) return; // no mkfifo on this platform
  try {
    await assert.rejects(
      loadOnnx(encodeModel(externalModel("pipe.bin")), { readFile: folderFileReader(join(dir, "model")) }),
      rejectsWith("EXTERNAL_DATA", /tensor "w": external data file "pipe.bin" is not a regular file/),
    );
    // The model file itself too (`prunekit info some-fifo`).
    await assert.rejects(loadOnnxFile(fifo), rejectsWith("IO_ERROR", /is not a regular file/));
  } finally {
    await rm(fifo, { force: true });
  }
});

test("bug: a folder as external data is refused, not read", async () => {
  await assert.rejects(
    loadOnnx(encodeModel(externalModel("data")), { readFile: folderFileReader(join(dir, "model")) }),
    rejectsWith("EXTERNAL_DATA", /"data" is not a regular file/),
  );
});

test("bug: external data with a key given twice (a second location escaping the folder) is refused", async () => {
  for (const extra of [
    [{ key: "location", value: "../secret.bin" }],
    [{ key: "location", value: "data/w.bin" }],
    [
      { key: "offset", value: "16" },
      { key: "offset", value: "0" },
    ],
  ]) {
    await assert.rejects(
      loadOnnx(encodeModel(externalModel("data/w.bin", extra)), {
        readFile: folderFileReader(join(dir, "model")),
      }),
      rejectsWith("EXTERNAL_DATA", /tensor "w": external data has the key "(location|offset)" twice/),
    );
  }
});

test("bug: only offset .. offset + length of an external file is read (a 4 KB tensor in a 3 GB file)", async () => {
  const big = join(dir, "model", "big.bin");
  const fh = await open(big, "w");
  await fh.truncate(3 * 2 ** 30); // sparse: no disk space used
  await fh.write(littleEndianBytes(weights), 0, 32, 2 ** 31 + 8);
  await fh.close();
  const ranges: unknown[] = [];
  const folder = folderFileReader(join(dir, "model"));
  const spy: ReadModelFile = async (path, range) => {
    ranges.push(range);
    return folder(path, range);
  };
  try {
    const before = process.memoryUsage().rss;
    const loaded = await loadOnnx(
      encodeModel(externalModel("big.bin", [{ key: "offset", value: String(2 ** 31 + 8) }])),
      {
        readFile: spy,
      },
    );
    const w = loaded.model.graph?.initializer[0] as TensorProto;
    assert.deepStrictEqual(readFloat32(w, loaded.externalData), weights);
    assert.deepStrictEqual(ranges, [{ byteOffset: 2 ** 31 + 8, byteLength: 32 }]);
    assert.ok(process.memoryUsage().rss - before < 2 ** 28, "the 3 GB file was not read");
  } finally {
    await rm(big, { force: true });
  }
});

/** y = Gemm(x, c) where c is a Constant node whose tensor lives in data/w.bin at offset 16. */
function constantExternalModel(): ModelProto {
  const t = makeFloat32Tensor("c", [2, 4], weights);
  delete t.rawData;
  t.dataLocation = 1;
  t.externalData = [
    { key: "location", value: "data/w.bin" },
    { key: "offset", value: "16" },
  ];
  return buildModel({
    inputs: [{ name: "x", shape: [1, 4] }],
    outputs: [{ name: "y", shape: [1, 2] }],
    nodes: [
      { opType: "Constant", name: "const", inputs: [], outputs: ["w"], attributes: { value: t } },
      { opType: "Gemm", name: "fc", inputs: ["x", "w"], outputs: ["y"], attributes: { transB: 1 } },
    ],
  });
}

function externalTensors(model: ModelProto): string[] {
  const out: string[] = [];
  forEachTensor(model, (t) => {
    if (t.dataLocation === 1) out.push(t.name ?? "");
  });
  return out;
}

test("bug: a Constant node with external data is inlined in the written model, which onnxruntime runs alone", async () => {
  const path = join(dir, "model", "const.onnx");
  await writeFile(path, encodeModel(constantExternalModel()));
  const model = await loadModelFile(path);
  const bytes = encodeModel(inlineExternalData(model.proto, model.graph.externalData));
  assert.deepStrictEqual(externalTensors(decodeModel(bytes)), []);
  // Elsewhere, without data/w.bin next to it: it must not need it.
  const elsewhere = await mkdtemp(join(tmpdir(), "prunekit-inline-"));
  try {
    const out = join(elsewhere, "out.onnx");
    await writeFile(out, bytes);
    const { InferenceSession, Tensor } = await import("onnxruntime-node");
    const session = await InferenceSession.create(out);
    const y = (await session.run({ x: new Tensor("float32", Float32Array.of(1, 0, 0, 0), [1, 4]) })).y?.data;
    await session.release();
    assert.deepStrictEqual([...(y as Float32Array)], [weights[0], weights[4]]);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test("bug: prune writes a self-contained model when a Constant or a subgraph tensor uses external data", async () => {
  const model = constantExternalModel();
  // An If node whose then-branch holds an external initializer: a subgraph attribute tensor.
  const branch = (name: string) => {
    const t = makeFloat32Tensor(`${name}_t`, [1], Float32Array.of(1));
    if (name === "then") {
      delete t.rawData;
      t.dataLocation = 1;
      t.externalData = [
        { key: "location", value: "data/w.bin" },
        { key: "offset", value: "16" },
      ];
    }
    return buildModel({
      inputs: [],
      outputs: [{ name: `${name}_out`, shape: [1] }],
      initializers: [t],
      nodes: [{ opType: "Identity", name: `${name}_id`, inputs: [`${name}_t`], outputs: [`${name}_out`] }],
    }).graph!;
  };
  model.graph!.initializer.push(makeInt64Tensor("cond_i", [], [1]));
  model.graph!.node.push(
    {
      opType: "Cast",
      name: "cast",
      input: ["cond_i"],
      output: ["cond"],
      attribute: [{ name: "to", type: 2, i: 9, floats: [], ints: [], strings: [], tensors: [], graphs: [] }],
    },
    {
      opType: "If",
      name: "if",
      input: ["cond"],
      output: ["z"],
      attribute: [
        {
          name: "then_branch",
          type: 5,
          g: branch("then"),
          floats: [],
          ints: [],
          strings: [],
          tensors: [],
          graphs: [],
        },
        {
          name: "else_branch",
          type: 5,
          g: branch("else"),
          floats: [],
          ints: [],
          strings: [],
          tensors: [],
          graphs: [],
        },
      ],
    },
  );
  model.graph!.output.push({
    name: "z",
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }] } } },
  });
  const path = join(dir, "model", "sub.onnx");
  await writeFile(path, encodeModel(model));
  const loaded = await loadModelFile(path);
  const { bytes } = await prune(loaded, { method: "l1", ratio: 0.5, allowUnchanged: true });
  assert.deepStrictEqual(externalTensors(decodeModel(bytes)), []);
  const elsewhere = await mkdtemp(join(tmpdir(), "prunekit-inline-"));
  try {
    await writeFile(join(elsewhere, "out.onnx"), bytes);
    const { InferenceSession, Tensor } = await import("onnxruntime-node");
    const session = await InferenceSession.create(join(elsewhere, "out.onnx"));
    const r = await session.run({ x: new Tensor("float32", Float32Array.of(1, 0, 0, 0), [1, 4]) });
    await session.release();
    assert.deepStrictEqual([...(r.z!.data as Float32Array)], [weights[0]]);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test("bug: inlining refuses a tensor whose external bytes were not loaded instead of writing a dangling reference", () => {
  assert.throws(
    () => inlineExternalData(constantExternalModel(), new Map()),
    rejectsWith("EXTERNAL_DATA", /tensor "c": external data was not loaded/),
  );
});
