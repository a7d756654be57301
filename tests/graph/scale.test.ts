// Bug (issue #10): dependency-group assembly was quadratic in the length of a chain of
// channel-preserving nodes (20,000 Relus after one conv: 20 s for info, 36 s for prune) and in the
// fan-out of one tensor (topological sort by sorted insertion, frozen-reason de-duplication by
// Array.includes). These tests build such graphs in memory and bound the time generously: a
// quadratic pass takes over a minute at these sizes, the linear one well under a second.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeModel, loadModel, prune } from "../../src/api.ts";
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";

const ramp = (len: number, mod: number) => Float32Array.from({ length: len }, (_, i) => (i % mod) - 2);

function reluChain(length: number): Uint8Array {
  const nodes: BuildNode[] = [
    {
      opType: "Conv",
      inputs: ["x", "w"],
      outputs: ["r0"],
      name: "conv",
      attributes: { kernel_shape: [1, 1] },
    },
  ];
  for (let i = 0; i < length; i++)
    nodes.push({ opType: "Relu", inputs: [`r${i}`], outputs: [`r${i + 1}`], name: `relu${i}` });
  nodes.push({
    opType: "Conv",
    inputs: [`r${length}`, "w2"],
    outputs: ["y"],
    name: "conv2",
    attributes: { kernel_shape: [1, 1] },
  });
  return encodeModel(
    buildModel({
      inputs: [{ name: "x", shape: [1, 4, 4, 4] }],
      outputs: [{ name: "y", shape: [1, 2, 4, 4] }],
      initializers: [
        { name: "w", dims: [8, 4, 1, 1], data: ramp(32, 5) },
        { name: "w2", dims: [2, 8, 1, 1], data: ramp(16, 3) },
      ],
      nodes,
    }),
  );
}

function fanOut(width: number): Uint8Array {
  const nodes: BuildNode[] = [
    {
      opType: "Conv",
      inputs: ["x", "w"],
      outputs: ["c"],
      name: "conv",
      attributes: { kernel_shape: [1, 1] },
    },
  ];
  const outputs = [];
  for (let i = 0; i < width; i++)
    nodes.push({ opType: "Relu", inputs: ["c"], outputs: [`r${i}`], name: `relu${i}` });
  for (let i = 0; i < width; i++) {
    nodes.push({
      opType: "Conv",
      inputs: [`r${i}`, "w2"],
      outputs: [`y${i}`],
      name: `conv${i}`,
      attributes: { kernel_shape: [1, 1] },
    });
    outputs.push({ name: `y${i}`, shape: [1, 2, 4, 4] });
  }
  return encodeModel(
    buildModel({
      inputs: [{ name: "x", shape: [1, 4, 4, 4] }],
      outputs,
      initializers: [
        { name: "w", dims: [8, 4, 1, 1], data: ramp(32, 5) },
        { name: "w2", dims: [2, 8, 1, 1], data: ramp(16, 3) },
      ],
      nodes,
    }),
  );
}

test("bug: a chain of 50,000 Relu nodes after one conv loads, describes and prunes in seconds, not minutes", async () => {
  const bytes = reluChain(50_000);
  const started = performance.now();
  const model = await loadModel(bytes);
  const info = describeModel(model);
  const loaded = performance.now() - started;
  assert.equal(info.groups.length, 2);
  assert.equal(info.groups[0]!.channels, 8);
  assert.equal(model.groups[0]!.pathOps.length, 50_000);
  const { report } = await prune(model, { method: "l1", ratio: 0.5 });
  const total = performance.now() - started;
  assert.equal(report.layers[0]!.channelsAfter, 4);
  // Measured about 1 s for loading and 1 s for pruning on a shared 2-core machine (before: > 60 s).
  assert.ok(loaded < 15_000, `load + describe took ${loaded.toFixed(0)} ms`);
  assert.ok(total < 30_000, `load + describe + prune took ${total.toFixed(0)} ms`);
});

test("bug: one tensor read by 5,000 branches (topological sort, shared-weight freezes) stays near-linear", async () => {
  const started = performance.now();
  const model = await loadModel(fanOut(5_000));
  const elapsed = performance.now() - started;
  const first = model.groups[0]!;
  assert.equal(first.consumers.length, 5_000);
  assert.ok(first.frozen, "w2 is shared by every branch");
  assert.ok(elapsed < 15_000, `load took ${elapsed.toFixed(0)} ms`);
});
