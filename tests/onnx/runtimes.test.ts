// The ONNX layer in the other runtimes: Deno imports protobufjs (CommonJS) from node_modules, and
// an esbuild browser bundle contains protobufjs and long.js but nothing from node:.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { readFixture } from "./fixtures.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("Deno 2 decodes, re-encodes byte-identically and loads a fixture", async () => {
  const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
  const { stdout } = await promisify(execFile)(
    denoBin,
    [
      "run",
      "--no-lock",
      "--node-modules-dir=manual",
      "--cached-only",
      `--allow-read=${root}`,
      "tests/onnx/deno-main.ts",
    ],
    { cwd: root, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 60_000 },
  );
  const report = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
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
