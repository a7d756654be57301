// The same network as an ONNX graph, rebuilt from prunekit's decoded graph with @tensorflow/tfjs-core
// ops, so that tfjs-backend-wasm (XNNPACK) can run it beside the engine in bench/engine.bench.ts.
// tfjs cannot read ONNX; this covers the ops of the bench models (Conv, BatchNormalization, Relu, Add,
// MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, MatMul, Identity) and refuses anything else.
//
// Layout: the wasm backend's convolutions and pools take NHWC only, so activations are NHWC and conv
// weights go from ONNX's OIHW to tfjs's [kH, kW, I, O] once, at build time. The network takes an NHWC
// input (nchwToNhwc converts one); the first Flatten after a spatial map goes back to NCHW order so
// that the Gemm weights read the features in ONNX's order.
//
// BatchNormalization (inference) has two treatments:
//   - "fold": folded into the producing Conv's weights and bias (w' = w·γ/√(σ²+ε),
//     b' = (b − μ)·γ/√(σ²+ε) + β), and a Relu that is the BN's only consumer fused into the conv's
//     epilogue (tf.fused.conv2d, XNNPACK's clamp), as a model converted for deployment is;
//   - "batchNorm": conv2d, then tf.batchNorm, then tf.relu, one op each, as the ONNX graph reads.
import type * as TfCore from "@tensorflow/tfjs-core";
import {
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  type Graph,
  type GraphNode,
  inputAt,
} from "../../src/graph/ir.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";

/** How BatchNormalization runs in the tfjs network. */
export type TfjsBatchNormMode = "fold" | "batchNorm";

/** A built tfjs network: constant tensors live until `dispose`. */
export interface TfjsNet {
  readonly mode: TfjsBatchNormMode;
  /** Number of tfjs ops per forward pass (after folding and fusion). */
  readonly opCount: number;
  /** One forward pass on an NHWC input; returns the graph's first output (the caller disposes it). */
  run(input: TfCore.Tensor4D): TfCore.Tensor;
  dispose(): void;
}

type Env = Map<string, TfCore.Tensor>;
type Step = (env: Env) => void;

/** `data` (N x C x H x W, row-major) reordered to N x H x W x C. */
export function nchwToNhwc(data: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x]!;
  return out;
}

function unsupported(node: GraphNode, what: string): Error {
  return new Error(
    `onnx-to-tfjs: ${node.opType} "${node.name}": ${what} is not supported by this bench converter`,
  );
}

/** The tfjs `pad` argument for ONNX pads [top, left, bottom, right]. */
function padOf(node: GraphNode): number | [[0, 0], [number, number], [number, number], [0, 0]] {
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  if (autoPad !== "NOTSET") throw unsupported(node, `auto_pad ${autoPad}`);
  const p = attrInts(node, "pads", [0, 0, 0, 0]);
  const [t, l, b, r] = p as [number, number, number, number];
  return t === l && l === b && b === r
    ? t
    : [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ];
}

/**
 * Build the tfjs network of `graph`. The wasm backend must already be set (`tf.setBackend("wasm")`).
 * @throws Error naming the node for an op, attribute or topology the converter does not handle.
 */
export function buildTfjsNet(tf: typeof TfCore, graph: Graph, mode: TfjsBatchNormMode): TfjsNet {
  const constants: TfCore.Tensor[] = [];
  const keep = <T extends TfCore.Tensor>(t: T): T => {
    constants.push(t);
    return t;
  };
  const constant = (node: GraphNode, name: string | undefined): Float32Array => {
    const t = name === undefined ? undefined : graph.constants.get(name);
    if (t === undefined) throw unsupported(node, `a non-constant input ${JSON.stringify(name)}`);
    return readFloat32(t);
  };
  const dimsOf = (name: string): number[] => graph.constants.get(name)!.dims.map(Number);
  const consumers = (value: string): GraphNode[] => graph.tensors.get(value)?.consumers ?? [];
  const isOutput = (value: string): boolean => graph.tensors.get(value)?.isGraphOutput ?? false;
  /** The one node reading `value` when it has exactly one reader and is not a graph output. */
  const soleConsumer = (value: string, opType: string): GraphNode | undefined => {
    const c = consumers(value);
    return c.length === 1 && c[0]!.opType === opType && !isOutput(value) ? c[0] : undefined;
  };

  const steps: Step[] = [];
  const skipped = new Set<GraphNode>();
  /** Names that alias another value (Identity, folded BN and fused Relu outputs). */
  const alias = new Map<string, string>();
  const resolve = (name: string): string => alias.get(name) ?? name;
  const get = (env: Env, name: string): TfCore.Tensor => env.get(resolve(name))!;
  /** Values known to be NHWC feature maps (rank 4). */
  const spatial = new Set<string>(graph.inputs.map((v) => v.name ?? ""));

  for (const node of graph.order) {
    if (skipped.has(node)) continue;
    const x = inputAt(node, 0);
    const y = node.outputs[0]!;
    switch (node.opType) {
      case "Identity": {
        if (x !== undefined && !graph.constants.has(x)) alias.set(y, resolve(x));
        if (x !== undefined && spatial.has(resolve(x))) spatial.add(y);
        break;
      }
      case "Conv": {
        if (attrInt(node, "group", 1) !== 1) throw unsupported(node, "group != 1");
        const dil = attrInts(node, "dilations", [1, 1]);
        if (dil.some((d) => d !== 1)) throw unsupported(node, "dilation");
        const wName = inputAt(node, 1)!;
        const [o, i, kh, kw] = dimsOf(wName) as [number, number, number, number];
        const w = constant(node, wName);
        const bias = inputAt(node, 2) === undefined ? new Float32Array(o) : constant(node, inputAt(node, 2));
        let out = y;
        let activation: "linear" | "relu" = "linear";
        const bn = mode === "fold" ? soleConsumer(y, "BatchNormalization") : undefined;
        if (bn !== undefined) {
          // w' = w·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε) per output channel.
          const gamma = constant(bn, inputAt(bn, 1));
          const beta = constant(bn, inputAt(bn, 2));
          const mean = constant(bn, inputAt(bn, 3));
          const variance = constant(bn, inputAt(bn, 4));
          const eps = attrFloat(bn, "epsilon", 1e-5);
          for (let oc = 0; oc < o; oc++) {
            const s = gamma[oc]! / Math.sqrt(variance[oc]! + eps);
            for (let j = oc * i * kh * kw; j < (oc + 1) * i * kh * kw; j++) w[j] = w[j]! * s;
            bias[oc] = (bias[oc]! - mean[oc]!) * s + beta[oc]!;
          }
          skipped.add(bn);
          out = bn.outputs[0]!;
          const relu = soleConsumer(out, "Relu");
          if (relu !== undefined) {
            skipped.add(relu);
            out = relu.outputs[0]!;
            activation = "relu";
          }
        }
        // OIHW -> [kH, kW, I, O].
        const hwio = new Float32Array(w.length);
        for (let oc = 0; oc < o; oc++)
          for (let ic = 0; ic < i; ic++)
            for (let r = 0; r < kh * kw; r++) hwio[(r * i + ic) * o + oc] = w[(oc * i + ic) * kh * kw + r]!;
        const filter = keep(tf.tensor4d(hwio, [kh, kw, i, o]));
        const b = keep(tf.tensor1d(bias));
        const strides = attrInts(node, "strides", [1, 1]) as [number, number];
        const pad = padOf(node);
        const input = x!;
        spatial.add(out);
        steps.push((env) => {
          const v = get(env, input) as TfCore.Tensor4D;
          env.set(
            out,
            tf.fused.conv2d({ x: v, filter, strides, pad, dataFormat: "NHWC", bias: b, activation }),
          );
        });
        break;
      }
      case "BatchNormalization": {
        const mean = keep(tf.tensor1d(constant(node, inputAt(node, 3))));
        const variance = keep(tf.tensor1d(constant(node, inputAt(node, 4))));
        const offset = keep(tf.tensor1d(constant(node, inputAt(node, 2))));
        const scale = keep(tf.tensor1d(constant(node, inputAt(node, 1))));
        const eps = attrFloat(node, "epsilon", 1e-5);
        const input = x!;
        if (spatial.has(resolve(input))) spatial.add(y);
        steps.push((env) => env.set(y, tf.batchNorm(get(env, input), mean, variance, offset, scale, eps)));
        break;
      }
      case "Relu": {
        const input = x!;
        if (spatial.has(resolve(input))) spatial.add(y);
        steps.push((env) => env.set(y, tf.relu(get(env, input))));
        break;
      }
      case "Add": {
        const a = x!;
        const b = inputAt(node, 1)!;
        if (graph.constants.has(a) || graph.constants.has(b)) throw unsupported(node, "a constant operand");
        if (spatial.has(resolve(a))) spatial.add(y);
        steps.push((env) => env.set(y, tf.add(get(env, a), get(env, b))));
        break;
      }
      case "MaxPool":
      case "AveragePool": {
        const k = attrInts(node, "kernel_shape", [1, 1]) as [number, number];
        const strides = attrInts(node, "strides", [1, 1]) as [number, number];
        const pad = padOf(node);
        if (typeof pad !== "number") throw unsupported(node, "asymmetric pads");
        if (node.opType === "AveragePool" && pad !== 0) throw unsupported(node, "padded average pooling");
        if (attrInt(node, "ceil_mode", 0) !== 0) throw unsupported(node, "ceil_mode");
        const input = x!;
        const max = node.opType === "MaxPool";
        spatial.add(y);
        steps.push((env) => {
          const v = get(env, input) as TfCore.Tensor4D;
          env.set(y, max ? tf.maxPool(v, k, strides, pad) : tf.avgPool(v, k, strides, pad));
        });
        break;
      }
      case "GlobalAveragePool": {
        const input = x!;
        spatial.add(y);
        steps.push((env) => env.set(y, tf.mean(get(env, input), [1, 2], true)));
        break;
      }
      case "Flatten": {
        if (attrInt(node, "axis", 1) !== 1) throw unsupported(node, "axis != 1");
        const input = x!;
        const nchwOrder = spatial.has(resolve(input));
        steps.push((env) => {
          const v = get(env, input);
          const [n, h, w, c] = v.shape as [number, number, number, number];
          // NHWC [N, 1, 1, C] is already in NCHW feature order; otherwise go back to NCHW first.
          const ordered = nchwOrder && h * w > 1 ? tf.transpose(v, [0, 3, 1, 2]) : v;
          env.set(y, tf.reshape(ordered, [n, nchwOrder ? h * w * c : v.size / n]));
        });
        break;
      }
      case "Gemm":
      case "MatMul": {
        const isGemm = node.opType === "Gemm";
        if (isGemm && (attrInt(node, "transA", 0) !== 0 || attrFloat(node, "alpha", 1) !== 1))
          throw unsupported(node, "transA or alpha != 1");
        if (isGemm && attrFloat(node, "beta", 1) !== 1 && inputAt(node, 2) !== undefined)
          throw unsupported(node, "beta != 1");
        const wName = inputAt(node, 1)!;
        const [rows, cols] = dimsOf(wName) as [number, number];
        const transB = isGemm && attrInt(node, "transB", 0) === 1;
        // The weight goes in as K x N. tfjs-backend-wasm 4.22's fused matMul adds the bias twice
        // when transposeB is set (checked against tf.matMul + tf.add), so transB is applied here, once.
        let w = constant(node, wName);
        if (transB) {
          const t = new Float32Array(w.length);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
          w = t;
        }
        const weight = keep(tf.tensor2d(w, transB ? [cols, rows] : [rows, cols]));
        const biasName = isGemm ? inputAt(node, 2) : undefined;
        const bias = biasName === undefined ? undefined : keep(tf.tensor1d(constant(node, biasName)));
        let out = y;
        let activation: "linear" | "relu" = "linear";
        const relu = mode === "fold" ? soleConsumer(y, "Relu") : undefined;
        if (relu !== undefined) {
          skipped.add(relu);
          out = relu.outputs[0]!;
          activation = "relu";
        }
        const input = x!;
        steps.push((env) => {
          const a = get(env, input) as TfCore.Tensor2D;
          env.set(out, tf.fused.matMul({ a, b: weight, bias, activation }));
        });
        break;
      }
      default:
        throw unsupported(node, "this op");
    }
  }

  const inputName = graph.inputs[0]?.name ?? "";
  const outputName = resolve(graph.proto.output[0]?.name ?? "");
  return {
    mode,
    opCount: steps.length,
    run(input) {
      return tf.tidy(() => {
        const env: Env = new Map([[inputName, input]]);
        for (const step of steps) step(env);
        const out = env.get(outputName);
        if (out === undefined)
          throw new Error(`onnx-to-tfjs: the graph output "${outputName}" was never computed`);
        return out;
      });
    },
    dispose() {
      for (const t of constants) t.dispose();
      constants.length = 0;
    },
  };
}
