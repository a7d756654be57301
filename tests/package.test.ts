// The built package as users get it: `import "prunekit"` resolves through package.json "exports" to
// the compiled dist/ (built by `npm ci` and `npm test`), not to the TypeScript sources.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as source from "../src/index.ts";

test('import "prunekit" loads the compiled dist/ with the same public names as src/index.ts', async () => {
  const specifier = "prunekit";
  const built = (await import(specifier)) as typeof source;
  assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort());
  assert.match(import.meta.resolve(specifier), /\/dist\/index\.js$/);
  const bytes = new Uint8Array(readFileSync(new URL("./fixtures/concat_bn.onnx", import.meta.url)));
  const fromDist = await built.prune(await built.loadModel(bytes), { method: "merge", ratio: 0.5 });
  const fromSrc = await source.prune(await source.loadModel(bytes), { method: "merge", ratio: 0.5 });
  assert.deepEqual(fromDist.bytes, fromSrc.bytes);
});

test('import "prunekit/node" gives the file helpers', async () => {
  const specifier = "prunekit/node";
  const node = (await import(specifier)) as typeof import("../src/node/index.ts");
  const model = await node.loadModelFile(new URL("./fixtures/mlp.onnx", import.meta.url).pathname);
  assert.equal(model.groups.length > 0, true);
});

test("the published package holds both wasm builds, and dist/ finds the relaxed one by itself", async () => {
  const root = fileURLToPath(new URL("../", import.meta.url));
  // Under `npm test`, npm_execpath is the npm that runs the tests (not the old npm that a dependency
  // puts in node_modules/.bin).
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] = npmCli?.endsWith(".js") ? [process.execPath, [npmCli]] : ["npm", []];
  const { stdout } = await promisify(execFile)(
    cmd,
    [...pre, "pack", "--dry-run", "--json", "--ignore-scripts"],
    {
      cwd: root,
      timeout: 120_000,
    },
  );
  const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  for (const want of ["build/prunekit.wasm", "build/prunekit.relaxed.wasm", "dist/index.js"]) {
    assert.ok(files.includes(want), `npm pack leaves out ${want}`);
  }
  const specifier = "prunekit";
  const built = (await import(specifier)) as typeof source;
  // The node test runner enables relaxed SIMD (scripts/run-node-tests.mjs).
  const relaxed = await built.createWasm({ simd: "relaxed" });
  assert.equal(relaxed.simd, "relaxed");
});
