// The memory limit (maxMemory, --max-memory): a model whose tensors times the measured peak factor
// exceed it is refused before any external data is read; the default fits a 24 GB machine and replaced
// the fixed 4 GiB total-tensor limit.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseBytesFlag } from "../../src/cli/args.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { loadOnnx } from "../../src/onnx/load.ts";
import type { ModelProto, TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { DEFAULT_MAX_MEMORY, PEAK_MEMORY_FACTOR, validateModel } from "../../src/onnx/validate.ts";

const GIB = 2 ** 30;

/** x [1, 4] -> Gemm with a weight [rows, 4] declared in an external file (never written). */
function declaredExternal(rows: number): ModelProto {
  const model = buildModel({
    inputs: [{ name: "x", shape: [1, 4] }],
    outputs: [{ name: "y", shape: [1, rows] }],
    initializers: [makeFloat32Tensor("w", [1, 4], new Float32Array(4))],
    nodes: [{ opType: "Gemm", name: "fc", inputs: ["x", "w"], outputs: ["y"], attributes: { transB: 1 } }],
  });
  const w = model.graph?.initializer[0] as TensorProto;
  delete w.rawData;
  w.dims = [rows, 4];
  w.dataLocation = 1;
  w.externalData = [{ key: "location", value: "w.bin" }];
  return model;
}

function refusedFor(bytes: number, limit: number) {
  return (e: unknown) => {
    assert.ok(isPrunekitError(e), String(e));
    assert.equal(e.code, "ONNX_INVALID");
    assert.match(e.message, new RegExp(`tensors hold ${bytes} bytes`));
    assert.match(e.message, new RegExp(`memory limit of ${limit} bytes`));
    assert.match(e.message, /--max-memory \(API: maxMemory\)/);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  };
}

test("the default memory limit fits a 24 GB machine: 5 GiB of tensors pass (the old 4 GiB cap refused them), 7 GiB do not", () => {
  assert.equal(PEAK_MEMORY_FACTOR * 6 * GIB, DEFAULT_MAX_MEMORY);
  assert.ok(DEFAULT_MAX_MEMORY < 24e9 - 4e9, "leaves the system 4 GB or more");
  // A [rows, 4] float weight holds 16 * rows bytes (plus nothing else in this model).
  validateModel(declaredExternal((5 * GIB) / 16));
  assert.throws(
    () => validateModel(declaredExternal((7 * GIB) / 16)),
    refusedFor(7 * GIB, DEFAULT_MAX_MEMORY),
  );
});

test("maxMemory refuses a model before reading its external data", async () => {
  const MIB = 2 ** 20;
  const bytes = encodeModel(declaredExternal(MIB / 16));
  let reads = 0;
  const readFile = async () => {
    reads++;
    return new Uint8Array(MIB);
  };
  await assert.rejects(loadOnnx(bytes, { readFile, maxMemory: 2 * MIB }), refusedFor(MIB, 2 * MIB));
  assert.equal(reads, 0, "nothing was read");
  // 1 MiB x 3 fits in 3 MiB: the model loads.
  const loaded = await loadOnnx(bytes, { readFile, maxMemory: 3 * MIB });
  assert.equal(reads, 1);
  assert.equal([...loaded.externalData.values()][0]?.length, MIB);
  assert.throws(() => validateModel(declaredExternal(4), { maxMemory: 0 }), { code: "INVALID_ARGUMENT" });
});

test("parseBytesFlag takes bytes with K, M, G, T suffixes (binary multiples)", () => {
  assert.equal(parseBytesFlag("--max-memory", "8G"), 8 * GIB);
  assert.equal(parseBytesFlag("--max-memory", "512M"), 512 * 2 ** 20);
  assert.equal(parseBytesFlag("--max-memory", "1.5g"), 1.5 * GIB);
  assert.equal(parseBytesFlag("--max-memory", "64KiB"), 65536);
  assert.equal(parseBytesFlag("--max-memory", "2TB"), 2 * 2 ** 40);
  assert.equal(parseBytesFlag("--max-memory", "1000"), 1000);
  for (const bad of ["", "G", "8X", "-1G", "0", "1e9", "8 G B"]) {
    assert.throws(
      () => parseBytesFlag("--max-memory", bad),
      (e) => {
        return isPrunekitError(e) && e.code === "USAGE" && e.message.includes("--max-memory");
      },
    );
  }
});

test("prune --max-memory: a model above the limit is a one-line ONNX_INVALID error, exit 1; a bad size is USAGE", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "prunekit-maxmem-"));
  const input = join(dir, "m.onnx");
  const model = buildModel({
    inputs: [{ name: "x", shape: [1, 64] }],
    outputs: [{ name: "y", shape: [1, 2] }],
    initializers: [
      makeFloat32Tensor("w1", [32, 64], new Float32Array(32 * 64).fill(0.5)),
      makeFloat32Tensor("w2", [2, 32], new Float32Array(64).fill(0.25)),
    ],
    nodes: [
      { opType: "Gemm", name: "fc1", inputs: ["x", "w1"], outputs: ["h"], attributes: { transB: 1 } },
      { opType: "Relu", name: "relu", inputs: ["h"], outputs: ["r"] },
      { opType: "Gemm", name: "fc2", inputs: ["r", "w2"], outputs: ["y"], attributes: { transB: 1 } },
    ],
  });
  writeFileSync(input, encodeModel(model));
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [join(root, "bin/prunekit.js"), "prune", input, "-o", join(dir, "o.onnx"), ...args],
      {
        encoding: "utf8",
      },
    );
  const tensorBytes = (32 * 64 + 2 * 32) * 4;
  const small = run("--method", "l1", "--ratio", "0.5", "--max-memory", "16K");
  assert.equal(small.status, 1, small.stderr);
  assert.match(small.stderr, /^prunekit: ONNX_INVALID: the model's tensors hold 8448 bytes/);
  assert.ok(
    small.stderr.includes(`${tensorBytes} bytes`) && small.stderr.includes("16384 bytes"),
    small.stderr,
  );
  assert.equal(small.stderr.trim().split("\n").length, 1);
  const ok = run("--method", "l1", "--ratio", "0.5", "--max-memory", "1M", "--quiet");
  assert.equal(ok.status, 0, ok.stderr);
  const bad = run("--method", "l1", "--max-memory", "lots");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^prunekit: USAGE: --max-memory expects a size/);
});
