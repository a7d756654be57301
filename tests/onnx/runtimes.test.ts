// The ONNX layer in the other runtimes: Deno imports protobufjs (CommonJS) from node_modules, and
// an esbuild browser bundle contains protobufjs and long.js but nothing from node:.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { runDenoJson } from "../helpers/runtimes.ts";
import { readFixture } from "./fixtures.ts";

test("Deno 2 decodes, re-encodes byte-identically and loads a fixture", async () => {
  const report = await runDenoJson("tests/onnx/deno-main.ts", 60_000);
  assert.deepStrictEqual(report, { byteIdentical: true, nodes: 29, nodesFromFile: 29 });
});

test("an esbuild browser bundle of src/onnx has no node: imports and round-trips a fixture", async () => {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../../src/onnx/index.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.text ?? "";
  assert.doesNotMatch(code, /from\s*["']node:|require\(["']node:|require\(["']fs["']\)/);
  const mod = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  const bytes = readFixture("resnet_bn.onnx");
  assert.deepStrictEqual(mod.encodeModel(mod.decodeModel(bytes)), bytes);
  await assert.rejects(mod.loadOnnx(new Uint8Array([1, 2, 3])), (e: Error) => e.name === "PrunekitError");
});
