// Neuron Merging on a very wide fully connected layer: a VGG-11-BN shaped model (torchvision's
// vgg11_bn: 224x224 input, 512x7x7 = 25088 features -> 4096 -> 4096 -> 1000) built in TS with seeded
// random weights, merged end to end through the public API (load, decomposition, surgery, encode),
// printing the phase timings and, for scale, the removed x kept cosine kernel of the widest layer
// alone (the floor of the decomposition). Results: bench/experiments/merge-wide.md.
//
//   node --import tsx bench/experiments/merge-wide.ts [--ratio R] [--planted F] [--matmul]
//        [--hidden N] [--runs N] [--skip-kernel]
//
// --planted F (default 0.25): a fraction F of the filters of conv8 and fc1 are positively scaled
// copies (plus a little noise) of other filters, so merging really happens and surgery folds Z into
// the consumers (fc1's 25088 input columns, fc2's 4096); random weights alone merge almost nothing.
// --matmul exports the classifier as MatMul with [in, out] weights and no bias (the transposed layout;
// an Add bias after MatMul is not positively homogeneous, §2.6) instead of Gemm transB=1. --hidden replaces 4096 (e.g. 512 for a quick smoke run). Prints one JSON
// line per run with the sha256 of the output bytes, so a change can be checked to leave them identical.
import { createHash } from "node:crypto";
import os from "node:os";
import { parseArgs } from "node:util";
import { loadModel, prune } from "../../src/api.ts";
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { cosineSimilarityCross } from "../../src/wasm/kernels/distance.ts";
import { seededRandom } from "../lib/vgg.ts";

const { values: flags } = parseArgs({
  options: {
    ratio: { type: "string", default: "0.3" },
    planted: { type: "string", default: "0.25" },
    matmul: { type: "boolean", default: false },
    hidden: { type: "string", default: "4096" },
    runs: { type: "string", default: "1" },
    "skip-kernel": { type: "boolean", default: false },
  },
});
const ratio = Number(flags.ratio);
const planted = Number(flags.planted);
const hidden = Number(flags.hidden);
const runs = Number(flags.runs);

/** torchvision's vgg11 features ("M": 2x2 max-pool). */
const VGG11_CFG: (number | "M")[] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"];

function buildWideVgg(): Uint8Array {
  const rand = seededRandom(11);
  const uniform = (len: number, bound: number, offset = 0) => {
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) out[i] = offset + (2 * rand() - 1) * bound;
    return out;
  };
  /** Rows [0, copies) of an n x d matrix become scaled noisy copies of rows [n - copies, n). */
  const plant = (w: Float32Array, n: number, d: number) => {
    const copies = Math.floor(n * planted);
    for (let r = 0; r < copies; r++) {
      const src = n - 1 - r;
      const scale = 0.5 + rand();
      for (let i = 0; i < d; i++) w[r * d + i] = scale * w[src * d + i]! * (1 + 0.05 * (2 * rand() - 1));
    }
    return w;
  };
  const nodes: BuildNode[] = [];
  const initializers: TensorProto[] = [];
  const init = (name: string, dims: number[], data: Float32Array) => {
    initializers.push(makeFloat32Tensor(name, dims, data));
    return name;
  };
  let x = "input";
  let c = 3;
  let conv = 0;
  let pool = 0;
  for (const v of VGG11_CFG) {
    if (v === "M") {
      pool++;
      nodes.push({
        opType: "MaxPool",
        name: `pool${pool}`,
        inputs: [x],
        outputs: [`pool${pool}`],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      });
      x = `pool${pool}`;
      continue;
    }
    conv++;
    const name = `conv${conv}`;
    const fanIn = c * 9;
    let weights: Float32Array = uniform(v * fanIn, Math.sqrt(6 / fanIn));
    if (conv === 8) weights = plant(weights, v, fanIn);
    const w = init(`${name}.weight`, [v, c, 3, 3], weights);
    const b = init(`${name}.bias`, [v], uniform(v, 1 / Math.sqrt(fanIn)));
    nodes.push({
      opType: "Conv",
      name,
      inputs: [x, w, b],
      outputs: [name],
      attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] },
    });
    const bn = `bn${conv}`;
    const bnInputs = [
      init(`${bn}.weight`, [v], uniform(v, 0.2, 1)),
      init(`${bn}.bias`, [v], uniform(v, 0.1)),
      init(`${bn}.running_mean`, [v], uniform(v, 0.2)),
      init(`${bn}.running_var`, [v], uniform(v, 0.5, 0.7)),
    ];
    nodes.push({
      opType: "BatchNormalization",
      name: bn,
      inputs: [name, ...bnInputs],
      outputs: [bn],
      attributes: { epsilon: { f: 1e-5 } },
    });
    nodes.push({ opType: "Relu", name: `relu${conv}`, inputs: [bn], outputs: [`relu${conv}`] });
    x = `relu${conv}`;
    c = v;
  }
  nodes.push({
    opType: "Flatten",
    name: "flatten",
    inputs: [x],
    outputs: ["flatten"],
    attributes: { axis: 1 },
  });
  const linear = (name: string, input: string, inF: number, outF: number, plantRows: boolean) => {
    const bound = 1 / Math.sqrt(inF);
    let weights: Float32Array = uniform(outF * inF, bound);
    if (plantRows) weights = plant(weights, outF, inF);
    if (!flags.matmul) {
      const b = init(`${name}.bias`, [outF], uniform(outF, bound));
      const w = init(`${name}.weight`, [outF, inF], weights);
      nodes.push({ opType: "Gemm", name, inputs: [input, w, b], outputs: [name], attributes: { transB: 1 } });
      return name;
    }
    const t = new Float32Array(outF * inF);
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) t[i * outF + o] = weights[o * inF + i]!;
    const w = init(`${name}.weight`, [inF, outF], t);
    nodes.push({ opType: "MatMul", name, inputs: [input, w], outputs: [name] });
    return name;
  };
  const features = c * 7 * 7;
  linear("fc1", "flatten", features, hidden, true);
  nodes.push({ opType: "Relu", name: "relu_fc1", inputs: ["fc1"], outputs: ["relu_fc1"] });
  linear("fc2", "relu_fc1", hidden, hidden, false);
  nodes.push({ opType: "Relu", name: "relu_fc2", inputs: ["fc2"], outputs: ["relu_fc2"] });
  linear("fc3", "relu_fc2", hidden, 1000, false);
  const model = buildModel({
    inputs: [{ name: "input", shape: ["batch", 3, 224, 224] }],
    outputs: [{ name: "fc3", shape: ["batch", 1000] }],
    nodes,
    initializers,
    opset: 13,
    name: "vgg11_bn_wide",
  });
  return encodeModel(model);
}

const ms = (x: number) => Math.round(x);
let t = performance.now();
const bytes = buildWideVgg();
console.log(
  JSON.stringify({
    node: process.version,
    cores: os.availableParallelism(),
    hidden,
    ratio,
    planted,
    matmul: flags.matmul,
    modelBytes: bytes.length,
    buildMs: ms(performance.now() - t),
  }),
);
const wasm = await getWasm();
for (let run = 0; run < runs; run++) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  t = start;
  const model = await loadModel(bytes);
  const loadMs = performance.now() - t;
  const { bytes: out, report } = await prune(model, { method: "merge", ratio });
  const totalMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const fc1 = report.layers.find((l) => l.node === "fc1");
  console.log(
    JSON.stringify({
      run,
      totalMs: ms(totalMs),
      cpuMs: ms((used.user + used.system) / 1000),
      loadMs: ms(loadMs),
      ...Object.fromEntries(Object.entries(report.timings).map(([k, v]) => [`${k}Ms`, ms(v)])),
      merged: report.layers.reduce((s, l) => s + l.merged, 0),
      fc1: fc1 === undefined ? undefined : `${fc1.channelsBefore}->${fc1.channelsAfter} merged ${fc1.merged}`,
      outBytes: out.length,
      sha256: createHash("sha256").update(out).digest("hex").slice(0, 16),
    }),
  );
}
if (flags["skip-kernel"]) process.exit(0);
// The floor: the cosine kernel alone on fc1's removed x kept shape (random rows of the same length).
const features = 512 * 7 * 7;
const kept = Math.round(hidden * (1 - ratio));
const removed = hidden - kept;
const rand = seededRandom(5);
const rows = (n: number) => Float32Array.from({ length: n * (features + 1) }, () => 2 * rand() - 1);
const a = rows(removed);
const b = rows(kept);
t = performance.now();
cosineSimilarityCross(wasm, a, b, removed, kept, features + 1);
console.log(
  JSON.stringify({
    kernel: `cosine cross ${removed}x${kept}x${features + 1}`,
    ms: ms(performance.now() - t),
  }),
);
