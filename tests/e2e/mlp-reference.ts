// An independent, plain-loop float64 Neuron Merging of a Gemm(transB=1)/ReLU MLP, written straight
// from docs/methods.md §2.2–§2.4 (and the reference code's LeNet branch): it shares no code with
// src/methods, so the end-to-end test can check the library against it on real trained weights.
import { loadModel } from "../../src/api.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";

/** One fully connected layer: y = W x + b, W is `out` x `in` row-major (Gemm transB = 1). */
export interface DenseLayer {
  weight: Float64Array;
  bias: Float64Array;
  out: number;
  in: number;
}

/** The Gemm layers of an ONNX MLP (Flatten → Gemm → Relu → … → Gemm), in graph order. */
export async function readMlp(bytes: Uint8Array): Promise<DenseLayer[]> {
  const { graph } = await loadModel(bytes);
  const layers: DenseLayer[] = [];
  for (const node of graph.nodes) {
    if (node.opType !== "Gemm") continue;
    const w = graph.constants.get(node.inputs[1]!)!;
    const b = graph.constants.get(node.inputs[2]!)!;
    layers.push({
      weight: Float64Array.from(readFloat32(w)),
      bias: Float64Array.from(readFloat32(b)),
      out: w.dims[0]!,
      in: w.dims[1]!,
    });
  }
  return layers;
}

/** A copy of `bytes` with the float32 initializer `name` replaced by `values` (same dims). */
export async function withInitializer(
  bytes: Uint8Array,
  name: string,
  values: Float32Array,
): Promise<Uint8Array> {
  const { proto } = await loadModel(bytes);
  const copy: ModelProto = structuredClone(proto);
  const t = copy.graph!.initializer.find((x) => x.name === name)!;
  t.rawData = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  t.floatData = [];
  return encodeModel(copy);
}

/** Python's round (half to even) of n·(1 − r) in float64 (§2.3), clamped to [1, n]. */
export function roundKept(n: number, ratioRemoved: number): number {
  const x = n * (1 - ratioRemoved);
  const f = Math.floor(x);
  const p = x - f > 0.5 ? f + 1 : x - f < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  return Math.min(n, Math.max(1, p));
}

/** Kept set and scaling matrix Z (n x p) of one layer, from its own ORIGINAL [W | b] rows. */
export interface ReferenceDecomposition {
  keep: number[];
  z: Float64Array;
  merged: number;
}

/**
 * §2.3 + §2.4: vectors w̃_n = [W_n ; b_n]; keep the P largest l1 / l2 / gm scores (ties by lower
 * index); each removed n goes to argmax_j cos(w̃_n, w̃_kj) if that cosine ≥ t, with
 * z = ‖w̃_n‖₂ / ‖w̃_kj‖₂ whatever the criterion.
 */
export function referenceDecompose(
  layer: DenseLayer,
  kept: number,
  criterion: "l1" | "l2" | "gm",
  threshold: number,
  merge: boolean,
): ReferenceDecomposition {
  const n = layer.out;
  const d = layer.in + 1;
  const v = (i: number, c: number) => (c < layer.in ? layer.weight[i * layer.in + c]! : layer.bias[i]!);
  const norm2 = new Float64Array(n);
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s1 = 0;
    let s2 = 0;
    for (let c = 0; c < d; c++) {
      s1 += Math.abs(v(i, c));
      s2 += v(i, c) ** 2;
    }
    norm2[i] = Math.sqrt(s2);
    score[i] = criterion === "l1" ? s1 : Math.sqrt(s2);
  }
  if (criterion === "gm") {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) {
        let q = 0;
        for (let c = 0; c < d; c++) q += (v(i, c) - v(j, c)) ** 2;
        s += Math.sqrt(q);
      }
      score[i] = s;
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || a - b);
  const keep = order.slice(0, kept).sort((a, b) => a - b);
  const z = new Float64Array(n * kept);
  keep.forEach((k, j) => {
    z[k * kept + j] = 1;
  });
  let merged = 0;
  if (merge) {
    for (let i = 0; i < n; i++) {
      if (keep.includes(i)) continue;
      let best = -1;
      let bestCos = Number.NEGATIVE_INFINITY;
      keep.forEach((k, j) => {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += v(i, c) * v(k, c);
        const cos = dot / (norm2[i]! * norm2[k]!);
        if (cos > bestCos) {
          bestCos = cos;
          best = j;
        }
      });
      if (best >= 0 && bestCos >= threshold) {
        z[i * kept + best] = norm2[i]! / norm2[keep[best]!]!;
        merged++;
      }
    }
  }
  return { keep, z, merged };
}

/**
 * Neuron Merging of a whole MLP (§2.2 order of operations): every hidden layer's kept set and Z come
 * from its original weights; then its input axis is mixed with the upstream Z, its output axis is
 * sliced to its own kept set, and the next layer's input axis is mixed with its Z.
 */
export function referenceMergeMlp(
  layers: DenseLayer[],
  ratioRemoved: number,
  criterion: "l1" | "l2" | "gm",
  threshold: number,
  merge: boolean,
): { layers: DenseLayer[]; decompositions: ReferenceDecomposition[] } {
  const decs = layers
    .slice(0, -1)
    .map((l) => referenceDecompose(l, roundKept(l.out, ratioRemoved), criterion, threshold, merge));
  const out: DenseLayer[] = [];
  layers.forEach((l, li) => {
    const up = li > 0 ? decs[li - 1]! : undefined;
    const own = decs[li];
    const rows = own?.keep ?? Array.from({ length: l.out }, (_, i) => i);
    const cols = up === undefined ? l.in : up.keep.length;
    const weight = new Float64Array(rows.length * cols);
    const bias = new Float64Array(rows.length);
    rows.forEach((r, ri) => {
      bias[ri] = l.bias[r]!;
      for (let j = 0; j < cols; j++) {
        if (up === undefined) weight[ri * cols + j] = l.weight[r * l.in + j]!;
        else {
          let s = 0;
          for (let c = 0; c < l.in; c++) s += l.weight[r * l.in + c]! * up.z[c * cols + j]!;
          weight[ri * cols + j] = s;
        }
      }
    });
    out.push({ weight, bias, out: rows.length, in: cols });
  });
  return { layers: out, decompositions: decs };
}

/** Logits of `count` flattened inputs (count x layers[0].in), float64, ReLU between layers. */
export function mlpForward(layers: DenseLayer[], x: Float32Array, count: number): Float64Array {
  const classes = layers[layers.length - 1]!.out;
  const logits = new Float64Array(count * classes);
  for (let m = 0; m < count; m++) {
    let a: ArrayLike<number> = x.subarray(m * layers[0]!.in, (m + 1) * layers[0]!.in);
    layers.forEach((l, li) => {
      const y = new Float64Array(l.out);
      for (let o = 0; o < l.out; o++) {
        let s = l.bias[o]!;
        for (let c = 0; c < l.in; c++) s += l.weight[o * l.in + c]! * a[c]!;
        y[o] = li < layers.length - 1 ? Math.max(0, s) : s;
      }
      a = y;
    });
    logits.set(a, m * classes);
  }
  return logits;
}
