// Merging across residual streams (docs/methods.md §2.10, `mergeResidual`) is exact on a network built so
// that one stream channel is, in every layer adding into the stream jointly, a positive multiple of
// another (BN-scaled filters and effective biases): the merged file gives the original outputs under
// onnxruntime-node, while plain pruning of the same stream channel does not.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { loadModel, prune } from "../../src/api.ts";
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { rng } from "../methods/helpers.ts";

const CIN = 3;
const C = 4;
const MID = 5;
const HW = 6;
/** Stream channel 3 is S times stream channel 1 (S below every other channel's size, so l1 drops it). */
const S = 0.3;

interface Init {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** `preact`: a per-channel BN on the stream after the first join (not right after a layer), as in pre-activation ResNets. */
function network(preact = false): Uint8Array {
  const r = rng(23);
  const nodes: BuildNode[] = [];
  const inits: Init[] = [];
  const conv = (name: string, input: string, cin: number, cout: number) => {
    const data = Float32Array.from({ length: cout * cin * 9 }, () => r(-1, 1));
    inits.push({ name: `${name}.w`, dims: [cout, cin, 3, 3], data });
    nodes.push({
      opType: "Conv",
      name,
      inputs: [input, `${name}.w`],
      outputs: [`${name}.y`],
      attributes: { pads: [1, 1, 1, 1] },
    });
    return data;
  };
  const bn = (name: string, input: string, n: number) => {
    const p = {
      gamma: Float32Array.from({ length: n }, () => r(0.5, 1.5)),
      beta: Float32Array.from({ length: n }, () => r(-0.3, 0.3)),
      mean: Float32Array.from({ length: n }, () => r(-0.2, 0.2)),
      var: Float32Array.from({ length: n }, () => r(0.3, 1.2)),
    };
    for (const [k, data] of Object.entries(p)) inits.push({ name: `${name}.${k}`, dims: [n], data });
    nodes.push({
      opType: "BatchNormalization",
      name,
      inputs: [input, `${name}.gamma`, `${name}.beta`, `${name}.mean`, `${name}.var`],
      outputs: [`${name}.y`],
      attributes: { epsilon: { f: 1e-5 } },
    });
    return p;
  };
  const relu = (name: string, input: string) => {
    nodes.push({ opType: "Relu", name, inputs: [input], outputs: [`${name}.y`] });
    return `${name}.y`;
  };
  /**
   * Producer `w` + BN `p` of the stream: channel 3 becomes S times channel 1 after the BN. `g` is the
   * ratio γ_3/γ_1 (the raw filter is then S/g times filter 1, so BN scaling matters).
   */
  const tie = (w: Float32Array, p: ReturnType<typeof bn>, cin: number, g: number) => {
    const d = cin * 9;
    for (let k = 0; k < d; k++) w[3 * d + k] = (S / g) * w[d + k]!;
    p.gamma[3] = g * p.gamma[1]!;
    p.var[3] = p.var[1]!;
    p.mean[3] = (S / g) * p.mean[1]!;
    p.beta[3] = S * p.beta[1]!;
  };
  // Stem, then two basic blocks adding into the stream.
  tie(conv("stem", "x", CIN, C), bn("stem_bn", "stem.y", C), CIN, 1);
  let stream = relu("stem_relu", "stem_bn.y");
  for (const b of [1, 2]) {
    conv(`b${b}c1`, stream, C, MID);
    bn(`b${b}bn1`, `b${b}c1.y`, MID);
    const h = relu(`b${b}r1`, `b${b}bn1.y`);
    tie(conv(`b${b}c2`, h, MID, C), bn(`b${b}bn2`, `b${b}c2.y`, C), MID, b === 1 ? 1.3 : 0.8);
    nodes.push({ opType: "Add", name: `b${b}add`, inputs: [`b${b}bn2.y`, stream], outputs: [`b${b}add.y`] });
    if (preact && b === 1) {
      bn("stream_bn", "b1add.y", C);
      stream = relu(`b${b}r2`, "stream_bn.y");
    } else stream = relu(`b${b}r2`, `b${b}add.y`);
  }
  nodes.push({ opType: "GlobalAveragePool", name: "gap", inputs: [stream], outputs: ["gap.y"] });
  nodes.push({ opType: "Flatten", name: "flat", inputs: ["gap.y"], outputs: ["flat.y"] });
  inits.push({ name: "fc.w", dims: [3, C], data: Float32Array.from({ length: 3 * C }, () => r(-1, 1)) });
  inits.push({ name: "fc.b", dims: [3], data: Float32Array.from({ length: 3 }, () => r(-0.1, 0.1)) });
  nodes.push({
    opType: "Gemm",
    name: "fc",
    inputs: ["flat.y", "fc.w", "fc.b"],
    outputs: ["y"],
    attributes: { transB: 1 },
  });
  return encodeModel(
    buildModel({
      inputs: [{ name: "x", shape: [1, CIN, HW, HW] }],
      outputs: [{ name: "y", shape: [1, 3] }],
      nodes,
      initializers: inits,
    }),
  );
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

test("mergeResidual folds a stream channel that is a multiple of another over every producer: exact under onnxruntime; plain pruning of it is not", async () => {
  const bytes = network();
  const model = await loadModel(bytes);
  // Only the stream: the inner convs are not listed, so they stay whole.
  const options = { method: "merge", layers: { stem: 3 }, mergeResidual: true } as const;
  const merged = await prune(model, options);
  const plain = await prune(model, { ...options, merge: false });
  // One entry per layer adding into the stream, the same kept set in each.
  assert.deepEqual(
    merged.report.layers.map((l) => l.node),
    ["stem", "b1c2", "b2c2"],
  );
  const layer = merged.report.layers[0]!;
  assert.equal(layer.channelsAfter, 3);
  assert.equal(layer.merged, 1);
  assert.equal(layer.dropped, 0);
  assert.deepEqual(layer.residualStream, ["stem", "b1c2", "b2c2"]);
  assert.equal(plain.report.layers[0]!.dropped, 1);
  assert.deepEqual(plain.report.layers[0]!.kept, layer.kept);
  assert.deepEqual(layer.kept, [0, 1, 2]);
  const r = rng(5);
  let worstMerged = 0;
  let worstPlain = 0;
  let scale = 0;
  for (let t = 0; t < 4; t++) {
    const x = Float32Array.from({ length: CIN * HW * HW }, () => r(-1, 1));
    const y = await run(bytes, x);
    scale = Math.max(scale, ...y.map(Math.abs));
    worstMerged = Math.max(worstMerged, maxDiff(await run(merged.bytes, x), y));
    worstPlain = Math.max(worstPlain, maxDiff(await run(plain.bytes, x), y));
  }
  assert.ok(worstMerged < 1e-4 * Math.max(1, scale), `merged max |diff| ${worstMerged}`);
  assert.ok(worstPlain > 1e-2, `plain max |diff| ${worstPlain}`);
});

test("without mergeResidual, merge leaves the stream whole and lists it as unpruned", async () => {
  const model = await loadModel(network());
  const out = await prune(model, { method: "merge", ratio: 0.25 });
  const names = out.report.layers.map((l) => l.node);
  assert.deepEqual(names.sort(), ["b1c1", "b2c1"]);
  assert.ok(out.report.unpruned.some((u) => u.kind === "residual" && u.layers.includes("stem")));
});

test("mergeResidual refuses a stream whose path has a per-channel BN not right after a layer, naming it; pruneUnsafe prunes it plainly", async () => {
  const model = await loadModel(network(true));
  const options = { method: "merge", layers: { stem: 3 }, mergeResidual: true } as const;
  await assert.rejects(prune(model, options), (e: Error & { code?: string; node?: string }) => {
    assert.equal(e.code, "UNSAFE_MERGE");
    assert.equal(e.node, "stream_bn");
    assert.match(e.message, /residual stream of layer "stem"/);
    assert.match(e.message, /"stream_bn" \(op BatchNormalization\)/);
    return true;
  });
  const pruned = await prune(model, { ...options, pruneUnsafe: true });
  assert.equal(pruned.report.layers[0]!.channelsAfter, 3);
  assert.equal(pruned.report.layers[0]!.merged, 0);
  assert.ok(pruned.report.warnings.some((w) => w.includes("pruned without merging")));
  const skipped = await prune(model, { ...options, skipUnsafe: true, allowUnchanged: true });
  assert.equal(skipped.report.layers.length, 0);
  assert.ok(skipped.report.unpruned.some((u) => u.kind === "unsafe" && u.layers.includes("stem")));
});
