// The built package as users get it: `import "prunekit"` resolves through package.json "exports" to
// the compiled dist/ (built by `npm ci` and `npm test`), not to the TypeScript sources.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
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
  const node = (await import(specifier)) as typeof import("../src/node.ts");
  const model = await node.loadModelFile(new URL("./fixtures/mlp.onnx", import.meta.url).pathname);
  assert.equal(model.groups.length > 0, true);
});
