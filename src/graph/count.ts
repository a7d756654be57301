// Parameter and MAC counts, with the convention of docs/methods.md §0: multiply-accumulates of conv and
// linear layers only, batch 1 (symbolic dims count as 1):
//   Conv          kh·kw·(C_in/groups)·C_out·H_out·W_out   (any number of spatial dims)
//   ConvTranspose kh·kw·(C_out/groups)·C_in·H_in·W_in
//   Gemm          in·out·rows                             (rows = 1 at batch 1)
//   MatMul        K·(number of output elements)
// Bias, BN, activations, pooling and Add are not counted.
import { DataType } from "../onnx/proto-types.ts";
import { attrInt, type Graph, type GraphNode, inputAt, numel } from "./ir.ts";
import { inferShapes, type ShapeInfo } from "./shapes.ts";

/** Counts of one conv or linear layer. */
export interface LayerCount {
  /** Stable node name. */
  node: string;
  /** "Conv", "ConvTranspose", "Gemm" or "MatMul". */
  opType: string;
  /** Multiply-accumulates for one sample (0 when a shape is unknown; see `shapeKnown`). */
  macs: number;
  /** Elements of the constant weight input (input 1). */
  weightParams: number;
  /** Elements of the constant bias input (input 2 of Conv/ConvTranspose/Gemm). */
  biasParams: number;
  /** Output shape at batch 1, when known. */
  outputShape: number[] | undefined;
  /** False when a shape needed for the MAC count could not be inferred. */
  shapeKnown: boolean;
}

/** Parameter and MAC totals of a model. */
export interface ModelCounts {
  /** One entry per Conv / ConvTranspose / Gemm / MatMul node, in topological order. */
  layers: LayerCount[];
  /** Sum of `layers[].macs`. */
  macs: number;
  /** Weights and biases of conv and linear layers: elements of the constant inputs 1.. of those nodes. */
  convLinearParams: number;
  /**
   * Learnable parameters as a training framework counts them: `convLinearParams` plus BN scale and B,
   * InstanceNormalization scale and B, and PRelu slopes (not BN running mean/var). Each tensor once.
   */
  learnableParams: number;
  /** Elements of every FLOAT initializer (includes BN running statistics). */
  floatInitializerParams: number;
}

/**
 * Entries removed from constant tensors by a hypothetical pruning: tensor name → axis → entries
 * removed along it (methods/budget.ts builds it from kept counts per group).
 */
export type AxisRemovals = ReadonlyMap<string, ReadonlyMap<number, number>>;

/** MACs of one layer from its input, weight and output dims (batch 1; see the file comment). */
type LayerMacs = (node: GraphNode, x: number[], w: number[], y: number[]) => number;

/** The layer table: op_type → its MAC formula. Its keys are the ops counted as conv or linear layers. */
const LAYER_MACS: ReadonlyMap<string, LayerMacs> = new Map<string, LayerMacs>([
  // W is [C_out, C_in/groups, k...]: numel(W) = C_out·(C_in/groups)·Πk.
  ["Conv", (_node, _x, w, y) => numel(w) * numel(y.slice(2))],
  // W is [C_in, C_out/groups, k...]: every input pixel scatters into C_out/groups·Πk outputs.
  ["ConvTranspose", (_node, x, w) => numel(w) * numel(x.slice(2))],
  ["Gemm", (node, x, _w, y) => (attrInt(node, "transA", 0) ? x[0]! : x[1]!) * numel(y)],
  ["MatMul", (_node, x, _w, y) => (x.length === 1 ? x[0]! : x[x.length - 1]!) * numel(y)],
]);

/** The op_types counted as conv or linear layers (MACs, weight and bias): the keys of the layer table. */
export const COUNT_LAYER_OPS: ReadonlySet<string> = new Set(LAYER_MACS.keys());

/**
 * Learnable per-channel parameters outside layers: op_type → the constant inputs a training framework
 * counts (BN scale and B but not the running mean and var; Instance- and LayerNormalization scale and B; PRelu slope).
 */
const PARAM_INPUTS: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ["BatchNormalization", [1, 2]],
  ["InstanceNormalization", [1, 2]],
  ["LayerNormalization", [1, 2]],
  ["PRelu", [1]],
]);

/** The op_types whose per-channel parameters count as learnable: the keys of the parameter table. */
export const COUNT_PARAM_OPS: ReadonlySet<string> = new Set(PARAM_INPUTS.keys());

/**
 * Count parameters and MACs of a graph.
 * @param graph The graph (src/graph/ir.ts).
 * @param shapes Shapes from {@link inferShapes}; computed when omitted.
 * @param removed Count as if these entries were removed (a plan not applied yet): parameters from
 *   the shrunk dims, MACs scaled like the layer's weight.
 * @returns Per-layer and total counts.
 * @example
 * const { macs, convLinearParams } = countModel(buildGraph(model));
 */
export function countModel(
  graph: Graph,
  shapes: ShapeInfo = inferShapes(graph),
  removed?: AxisRemovals,
): ModelCounts {
  const dims = (name: string | undefined) => (name === undefined ? undefined : shapes.shapes.get(name));
  const constSize = (name: string | undefined) => {
    const t = name === undefined ? undefined : graph.constants.get(name);
    if (t === undefined) return 0;
    const cut = name === undefined ? undefined : removed?.get(name);
    if (cut === undefined) return numel(t.dims);
    return t.dims.reduce((p: number, d, axis) => p * Math.max(0, Number(d) - (cut.get(axis) ?? 0)), 1);
  };
  const layers: LayerCount[] = [];
  const learnable = new Set<string>();
  for (const node of graph.order) {
    if (node.domain !== "") continue;
    for (const i of PARAM_INPUTS.get(node.opType) ?? []) {
      const t = inputAt(node, i);
      if (t !== undefined && graph.constants.has(t)) learnable.add(t);
    }
    const layerMacs = LAYER_MACS.get(node.opType);
    if (layerMacs === undefined) continue;
    let weightParams = 0;
    let biasParams = 0;
    node.inputs.forEach((name, i) => {
      if (i === 0 || name === "" || !graph.constants.has(name)) return;
      learnable.add(name);
      if (i === 1) weightParams += constSize(name);
      else biasParams += constSize(name);
    });
    const x = dims(inputAt(node, 0));
    const w = dims(inputAt(node, 1));
    const y = dims(node.outputs[0]);
    const fullMacs =
      x !== undefined && w !== undefined && y !== undefined ? layerMacs(node, x, w, y) : undefined;
    // Every formula of the layer table is numel(W) times dims that pruning leaves alone (output
    // pixels, batch rows), so removed weight entries scale MACs by the same factor.
    const wName = inputAt(node, 1);
    const wFull = wName === undefined ? 0 : numel(graph.constants.get(wName)?.dims ?? []);
    const macs =
      fullMacs !== undefined &&
      removed !== undefined &&
      wName !== undefined &&
      removed.has(wName) &&
      wFull > 0
        ? (fullMacs * constSize(wName)) / wFull
        : fullMacs;
    layers.push({
      node: node.name,
      opType: node.opType,
      macs: macs ?? 0,
      weightParams,
      biasParams,
      outputShape: y?.slice(),
      shapeKnown: macs !== undefined,
    });
  }
  let floatInitializerParams = 0;
  for (const t of graph.initializers.values()) {
    if (t.dataType === DataType.FLOAT) floatInitializerParams += numel(t.dims);
  }
  const convLinearParams = layers.reduce((s, l) => s + l.weightParams + l.biasParams, 0);
  let learnableParams = 0;
  for (const name of learnable) learnableParams += constSize(name);
  return {
    layers,
    macs: layers.reduce((s, l) => s + l.macs, 0),
    convLinearParams,
    learnableParams,
    floatInitializerParams,
  };
}
