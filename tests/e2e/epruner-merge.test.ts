// Exemplar merging (docs/methods.md §3.9) is exact on a network built so that every cluster member is
// a positive multiple of its exemplar, BatchNorm included: the merged file gives the original outputs
// under onnxruntime-node (the independent referee), while plain EPruner, which drops the members, does not.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { loadModel, prune } from "../../src/api.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { rng } from "../methods/helpers.ts";

const CIN = 3;
const K = 3;
const HW = 8;
/** Filters 3, 4, 5 are s·(filters 0, 1, 2). */
const SCALES = [1.05, 0.9, 1.1];

function network(): Uint8Array {
  const r = rng(11);
  const d = CIN * K * K;
  const w1 = new Float32Array(6 * d);
  for (let i = 0; i < 3 * d; i++) w1[i] = r(-1, 1);
  for (let j = 0; j < 3; j++) for (let c = 0; c < d; c++) w1[(3 + j) * d + c] = SCALES[j]! * w1[j * d + c]!;
  const gamma = new Float32Array(6);
  const beta = new Float32Array(6);
  const mean = new Float32Array(6);
  const variance = new Float32Array(6);
  for (let j = 0; j < 3; j++) {
    gamma[j] = r(0.5, 1.5);
    beta[j] = r(-0.3, 0.3);
    mean[j] = r(-0.2, 0.2);
    variance[j] = r(0.3, 1.2);
    // Member p = 3 + j: μ_p = s·μ_e, var_p = var_e, γ_p = 1.3·γ_e, β_p = S·β_e with S = s·γ_p/γ_e,
    // so BN_p(s·u) = S·BN_e(u) exactly (B = 0 in §2.5) and ReLU keeps the factor.
    const s = SCALES[j]!;
    gamma[3 + j] = 1.3 * gamma[j]!;
    mean[3 + j] = s * mean[j]!;
    variance[3 + j] = variance[j]!;
    beta[3 + j] = s * 1.3 * beta[j]!;
  }
  const w2 = Float32Array.from({ length: 4 * 6 * K * K }, () => r(-1, 1));
  const b2 = Float32Array.from({ length: 4 }, () => r(-0.1, 0.1));
  const model = buildModel({
    inputs: [{ name: "x", shape: [1, CIN, HW, HW] }],
    outputs: [{ name: "y", shape: [1, 4, HW, HW] }],
    nodes: [
      {
        opType: "Conv",
        name: "conv1",
        inputs: ["x", "w1"],
        outputs: ["c1"],
        attributes: { pads: [1, 1, 1, 1] },
      },
      {
        opType: "BatchNormalization",
        name: "bn1",
        inputs: ["c1", "gamma", "beta", "mean", "var"],
        outputs: ["b1"],
        attributes: { epsilon: { f: 1e-5 } },
      },
      { opType: "Relu", name: "relu1", inputs: ["b1"], outputs: ["r1"] },
      {
        opType: "Conv",
        name: "conv2",
        inputs: ["r1", "w2", "b2"],
        outputs: ["y"],
        attributes: { pads: [1, 1, 1, 1] },
      },
    ],
    initializers: [
      { name: "w1", dims: [6, CIN, K, K], data: w1 },
      { name: "gamma", dims: [6], data: gamma },
      { name: "beta", dims: [6], data: beta },
      { name: "mean", dims: [6], data: mean },
      { name: "var", dims: [6], data: variance },
      { name: "w2", dims: [4, 6, K, K], data: w2 },
      { name: "b2", dims: [4], data: b2 },
    ],
  });
  return encodeModel(model);
}

async function run(bytes: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ x: new ort.Tensor("float32", x, [1, CIN, HW, HW]) });
    return out.y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test("exemplar merging keeps the outputs of a network whose members are positive multiples of their exemplars; plain EPruner does not", async () => {
  const bytes = network();
  const model = await loadModel(bytes);
  const merged = await prune(model, { method: "epruner", beta: 1, merge: true });
  const plain = await prune(model, { method: "epruner", beta: 1 });
  const [layer] = merged.report.layers;
  assert.equal(merged.report.layers.length, 1);
  // Three clusters, each a filter and its multiple.
  assert.equal(layer!.exemplars!.length, 3);
  for (let j = 0; j < 3; j++) assert.equal(layer!.labels![j], layer!.labels![3 + j]);
  assert.equal(layer!.merged, 3);
  assert.equal(layer!.dropped, 0);
  assert.equal(plain.report.layers[0]!.dropped, 3);
  const r = rng(5);
  let worstMerged = 0;
  let worstPlain = 0;
  for (let t = 0; t < 4; t++) {
    const x = Float32Array.from({ length: CIN * HW * HW }, () => r(-1, 1));
    const y = await run(bytes, x);
    worstMerged = Math.max(worstMerged, maxDiff(await run(merged.bytes, x), y));
    worstPlain = Math.max(worstPlain, maxDiff(await run(plain.bytes, x), y));
  }
  assert.ok(worstMerged < 1e-4, `merged max |diff| ${worstMerged}`);
  assert.ok(worstPlain > 1e-2, `plain max |diff| ${worstPlain}`);
});
