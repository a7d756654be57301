// Compensation never writes non-finite values: extreme but finite BatchNorm scales (1e-34 next to 1e28)
// overflow the merged weights, so that layer is pruned without merging, with a warning.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadModel, prune } from "../../src/api.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { NetBuilder } from "../graph/net-builder.ts";
import { runOrt } from "../onnx/fixtures.ts";

test("merge with extreme BN scales falls back to plain pruning for that layer: finite output equal to --no-merge", async () => {
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.bn(nb.conv("x", 8)));
  const out = nb.gemm(nb.flatten(nb.gap(nb.conv(a, 4))), 3);
  const m = nb.model([out], false);
  const initializer = m.graph!.initializer.map((t) => {
    const name = t.name ?? "";
    const dims = (t.dims ?? []).map(Number);
    const d = readFloat32(t);
    if (name.startsWith("g"))
      return makeFloat32Tensor(
        name,
        dims,
        Array.from(d, (_, i) => (i % 2 ? 1e28 : 1e-34)),
      );
    if (name.startsWith("var"))
      return makeFloat32Tensor(
        name,
        dims,
        Array.from(d, () => 1),
      );
    return t;
  });
  const model = await loadModel(encodeModel({ ...m, graph: { ...m.graph!, initializer } }));
  const warnings: string[] = [];
  const merged = await prune(model, { method: "merge", ratio: 0.5, onWarning: (w) => warnings.push(w) });
  const plain = await prune(model, { method: "merge", ratio: 0.5, merge: false });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /non-finite values into .*pruned without merging/);
  assert.deepEqual(merged.report.warnings, warnings);
  for (const t of merged.model.proto.graph!.initializer) {
    if (t.dataType === 1) assert.ok(readFloat32(t).every(Number.isFinite), t.name);
  }
  const x = { name: "x", shape: [1, 3, 6, 6] };
  const ya = Object.values(await runOrt(merged.bytes, x))[0]!;
  const yb = Object.values(await runOrt(plain.bytes, x))[0]!;
  assert.ok(Array.from(ya).every(Number.isFinite));
  assert.deepEqual(Array.from(ya), Array.from(yb));
});
