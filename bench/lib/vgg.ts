// A CIFAR-style VGG-16-BN as ONNX bytes with seeded random weights, built in TS (no Python): the model
// of the Neuron Merging VGG-16 recipe (docs/methods.md §2.7). Node names are conv1..conv13, bn1..bn13,
// relu1..relu13, pool1..pool5, flatten, fc1, relu14, fc2, so recipes name layers as the paper does.
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";

/** VGG-16 feature widths ("M" is a 2x2 max-pool), as in the CIFAR VGG of the Neuron Merging code. */
export const VGG16_CFG: (number | "M")[] = [
  64,
  64,
  "M",
  128,
  128,
  "M",
  256,
  256,
  256,
  "M",
  512,
  512,
  512,
  "M",
  512,
  512,
  512,
  "M",
];

/** A tiny variant (same topology, 1/16 of the widths, 3x32x32 input) for smoke runs. */
export const VGG16_SMOKE_CFG: (number | "M")[] = VGG16_CFG.map((c) => (c === "M" ? c : c / 16));

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface VggModel {
  /** The encoded .onnx bytes. */
  bytes: Uint8Array;
  /** Learnable parameters (conv/linear weights and biases, BN scale and shift). */
  params: number;
  /** Conv node names in order: conv1..conv13. */
  convs: string[];
  /** The first classifier layer's width (512 for VGG-16). */
  hidden: number;
}

/**
 * Build VGG-16-BN for 3x32x32 inputs: per entry of `cfg`, conv3x3 (pad 1, bias) -> BN -> ReLU, or a
 * 2x2 max-pool; then Flatten, Linear(C, hidden), ReLU, Linear(hidden, 10). Weights are Kaiming-uniform
 * like PyTorch's init; BN statistics are realistic (γ ≈ 1, small β and μ, variances in [0.2, 1.2]).
 */
export function buildVgg16(cfg: (number | "M")[] = VGG16_CFG, hidden = 512, seed = 1): VggModel {
  const rand = seededRandom(seed);
  const uniform = (len: number, bound: number, offset = 0) => {
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) out[i] = offset + (2 * rand() - 1) * bound;
    return out;
  };
  const nodes: BuildNode[] = [];
  const initializers: TensorProto[] = [];
  let params = 0;
  const init = (name: string, dims: number[], data: Float32Array, learnable = true) => {
    initializers.push(makeFloat32Tensor(name, dims, data));
    if (learnable) params += data.length;
    return name;
  };
  const convs: string[] = [];
  let x = "input";
  let c = 3;
  let hw = 32;
  let conv = 0;
  let pool = 0;
  for (const v of cfg) {
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
      hw /= 2;
      continue;
    }
    conv++;
    const name = `conv${conv}`;
    convs.push(name);
    const fanIn = c * 9;
    const w = init(`${name}.weight`, [v, c, 3, 3], uniform(v * fanIn, Math.sqrt(6 / fanIn)));
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
      init(`${bn}.running_mean`, [v], uniform(v, 0.2), false),
      init(`${bn}.running_var`, [v], uniform(v, 0.5, 0.7), false),
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
  const features = c * hw * hw;
  nodes.push({
    opType: "Flatten",
    name: "flatten",
    inputs: [x],
    outputs: ["flatten"],
    attributes: { axis: 1 },
  });
  const linear = (name: string, input: string, inF: number, outF: number) => {
    const bound = 1 / Math.sqrt(inF);
    const w = init(`${name}.weight`, [outF, inF], uniform(outF * inF, bound));
    const b = init(`${name}.bias`, [outF], uniform(outF, bound));
    nodes.push({ opType: "Gemm", name, inputs: [input, w, b], outputs: [name], attributes: { transB: 1 } });
    return name;
  };
  linear("fc1", "flatten", features, hidden);
  nodes.push({ opType: "Relu", name: `relu${conv + 1}`, inputs: ["fc1"], outputs: [`relu${conv + 1}`] });
  linear("fc2", `relu${conv + 1}`, hidden, 10);
  const model = buildModel({
    inputs: [{ name: "input", shape: ["batch", 3, 32, 32] }],
    outputs: [{ name: "fc2", shape: ["batch", 10] }],
    nodes,
    initializers,
    opset: 13,
    name: "vgg16_bn_cifar",
  });
  return { bytes: encodeModel(model), params, convs, hidden };
}
