// Validation of the attributes and weight ranks of the ops prunekit reads (ONNX operator spec,
// https://onnx.ai/onnx/operators/): shape inference, MAC counts, the op table and surgery trust what
// is checked here, so a hostile file is refused with ONNX_INVALID naming the node instead of giving
// Infinity MACs, NaN shapes, a hang on an empty channel axis or a pruned model onnxruntime refuses.
import { PrunekitError, quoteName } from "../errors.ts";
import { type AttributeProto, AttributeType, type GraphProto, type NodeProto } from "./proto-types.ts";

/** What a node's checks can see: the dims of constant inputs (initializers, Constant and Identity outputs). */
interface OpCheckContext {
  /** Dims of a constant value, undefined for run-time values. */
  constantDims(name: string | undefined): readonly number[] | undefined;
}

type OpCheck = (node: NodeProto, label: string, ctx: OpCheckContext) => void;

/**
 * Check the attributes and constant-weight ranks of every default-domain node of the main graph that
 * prunekit interprets (Conv, ConvTranspose, pools, Gemm, MatMul, BatchNormalization, InstanceNormalization,
 * PRelu, Concat, Transpose, Flatten, Softmax-like axes are left to the runtime), and that non-empty node
 * names are unique.
 *
 * @param graph the main graph (already structurally checked).
 * @param nodeLabel how messages name node i.
 * @throws PrunekitError `ONNX_INVALID` naming the node.
 */
export function validateOps(graph: GraphProto, nodeLabel: (node: NodeProto, index: number) => string): void {
  const dims = constantDimsOf(graph);
  const ctx: OpCheckContext = { constantDims: (name) => (name ? dims.get(name) : undefined) };
  const names = new Map<string, number>();
  graph.node.forEach((node, index) => {
    const label = nodeLabel(node, index);
    const name = node.name ?? "";
    if (name !== "") {
      const first = names.get(name);
      if (first !== undefined) {
        throw invalid(
          node,
          `${label}: node name is also used by node #${first}; node names must be unique (rename one of them)`,
        );
      }
      names.set(name, index);
    }
    const seen = new Set<string>();
    for (const a of node.attribute) {
      const key = a.name ?? "";
      if (seen.has(key)) throw invalid(node, `${label}: attribute ${quoteName(key)} is given twice`);
      seen.add(key);
    }
    if (node.domain !== undefined && node.domain !== "" && node.domain !== "ai.onnx") return;
    const check = Object.hasOwn(OP_CHECKS, node.opType ?? "") ? OP_CHECKS[node.opType ?? ""] : undefined;
    check?.(node, label, ctx);
  });
}

/** Dims of initializers and of Constant / Identity-of-constant outputs. */
function constantDimsOf(graph: GraphProto): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const t of graph.initializer) out.set(t.name ?? "", t.dims);
  // Node order may not be topological here; two passes reach Identity chains in file order, and a
  // missed one only skips a check (the op table then treats the weight as unknown).
  for (let pass = 0; pass < 2; pass++) {
    for (const node of graph.node) {
      const output = node.output[0];
      if (!output || (node.domain !== undefined && node.domain !== "" && node.domain !== "ai.onnx")) continue;
      if (node.opType === "Constant") {
        const d = constantNodeDims(node);
        if (d !== undefined) out.set(output, d);
      } else if (node.opType === "Identity") {
        const d = node.input[0] ? out.get(node.input[0]) : undefined;
        if (d !== undefined) out.set(output, d);
      }
    }
  }
  return out;
}

function constantNodeDims(node: NodeProto): readonly number[] | undefined {
  for (const a of node.attribute) {
    if (a.name === "value") return a.t?.dims;
    if (a.name === "value_float" || a.name === "value_int") return [];
    if (a.name === "value_floats") return [a.floats.length];
    if (a.name === "value_ints") return [a.ints.length];
  }
  return undefined;
}

function invalid(node: NodeProto, message: string): PrunekitError {
  return new PrunekitError("ONNX_INVALID", message, node.name ? { node: node.name } : {});
}

function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** An INTS attribute (type INTS, or untyped with ints), undefined when absent. */
function ints(node: NodeProto, label: string, name: string): number[] | undefined {
  const a = attribute(node, name);
  if (a === undefined) return undefined;
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED && a.type !== AttributeType.INTS) {
    throw invalid(node, `${label}: attribute "${name}" has type ${a.type}, expected INTS`);
  }
  return a.ints;
}

/** An INT attribute, `fallback` when absent. */
function int(node: NodeProto, label: string, name: string, fallback: number): number {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED && a.type !== AttributeType.INT) {
    throw invalid(node, `${label}: attribute "${name}" has type ${a.type}, expected INT`);
  }
  return a.i ?? fallback;
}

/** A FLOAT attribute, `fallback` when absent. */
function float(node: NodeProto, label: string, name: string, fallback: number): number {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED && a.type !== AttributeType.FLOAT) {
    throw invalid(node, `${label}: attribute "${name}" has type ${a.type}, expected FLOAT`);
  }
  return a.f ?? fallback;
}

function str(node: NodeProto, label: string, name: string, fallback: string): string {
  const a = attribute(node, name);
  if (a === undefined) return fallback;
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED && a.type !== AttributeType.STRING) {
    throw invalid(node, `${label}: attribute "${name}" has type ${a.type}, expected STRING`);
  }
  return a.s === undefined ? fallback : new TextDecoder().decode(a.s);
}

function listText(values: readonly number[]): string {
  return `[${values.slice(0, 16).join(", ")}${values.length > 16 ? ", ..." : ""}]`;
}

/** `name` has exactly `length` entries, each >= `min`. */
function checkInts(
  node: NodeProto,
  label: string,
  name: string,
  values: readonly number[] | undefined,
  length: number,
  min: number,
): void {
  if (values === undefined) return;
  if (values.length !== length) {
    throw invalid(
      node,
      `${label}: attribute "${name}" has ${values.length} values ${listText(values)}, expected ${length}`,
    );
  }
  const bad = values.findIndex((v) => !(v >= min));
  if (bad >= 0) {
    throw invalid(
      node,
      `${label}: attribute "${name}" ${listText(values)} has ${values[bad]} at position ${bad}, expected values >= ${min}`,
    );
  }
}

function oneOf(node: NodeProto, label: string, name: string, value: number, allowed: number[]): void {
  if (!allowed.includes(value)) {
    throw invalid(node, `${label}: attribute "${name}" is ${value}, expected one of ${allowed.join(", ")}`);
  }
}

/** Every dim of a constant the op needs channels from is > 0 (an empty channel axis has nothing to prune). */
function checkNonEmpty(
  node: NodeProto,
  label: string,
  what: string,
  tensor: string,
  dims: readonly number[],
): void {
  const zero = dims.indexOf(0);
  if (zero >= 0) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${label}: ${what} ${quoteName(tensor)} has dims ${listText(dims)}, with 0 entries on axis ${zero}; a layer needs at least one channel and one weight per axis`,
      { ...(node.name ? { node: node.name } : {}), tensor },
    );
  }
}

function checkRank(
  node: NodeProto,
  label: string,
  what: string,
  tensor: string,
  dims: readonly number[],
  ok: boolean,
  expected: string,
): void {
  if (!ok) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${label}: ${what} ${quoteName(tensor)} has ${dims.length} dims ${listText(dims)}, expected ${expected}`,
      { ...(node.name ? { node: node.name } : {}), tensor },
    );
  }
}

function requireInputs(node: NodeProto, label: string, count: number): void {
  for (let i = 0; i < count; i++) {
    if (!node.input[i]) throw invalid(node, `${label}: has no input ${i}, which the op requires`);
  }
}

const AUTO_PADS = ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"];

/** strides, dilations, pads and auto_pad of a windowed op with `n` spatial axes. */
function checkWindow(node: NodeProto, label: string, n: number): void {
  checkInts(node, label, "strides", ints(node, label, "strides"), n, 1);
  checkInts(node, label, "dilations", ints(node, label, "dilations"), n, 1);
  checkInts(node, label, "pads", ints(node, label, "pads"), 2 * n, 0);
  const autoPad = str(node, label, "auto_pad", "NOTSET");
  if (!AUTO_PADS.includes(autoPad)) {
    throw invalid(
      node,
      `${label}: auto_pad is ${quoteName(autoPad)}, expected one of ${AUTO_PADS.join(", ")}`,
    );
  }
}

const conv: OpCheck = (node, label, ctx) => {
  requireInputs(node, label, 2);
  const transposed = node.opType === "ConvTranspose";
  const group = int(node, label, "group", 1);
  if (!(group >= 1)) throw invalid(node, `${label}: attribute "group" is ${group}, expected >= 1`);
  const kernel = ints(node, label, "kernel_shape");
  const w = node.input[1]!;
  const wDims = ctx.constantDims(w);
  let n = kernel?.length;
  if (wDims !== undefined) {
    checkRank(
      node,
      label,
      "weight",
      w,
      wDims,
      wDims.length >= 3,
      `at least 3 ([${transposed ? "C_in, C_out/group" : "C_out, C_in/group"}, kernel...])`,
    );
    checkNonEmpty(node, label, "weight", w, wDims);
    n = wDims.length - 2;
    if (kernel !== undefined) {
      checkInts(node, label, "kernel_shape", kernel, n, 1);
      const spatial = wDims.slice(2);
      if (kernel.some((k, i) => k !== spatial[i])) {
        throw invalid(
          node,
          `${label}: kernel_shape ${listText(kernel)} does not match weight ${quoteName(w)} dims ${listText(wDims)}`,
        );
      }
    }
    // W is [C_out, C_in/group, k...] for Conv and [C_in, C_out/group, k...] for ConvTranspose.
    const grouped = wDims[0]!;
    if (grouped % group !== 0) {
      throw invalid(
        node,
        `${label}: group=${group} does not divide the ${grouped} ${transposed ? "input" : "output"} channels of weight ${quoteName(w)}`,
      );
    }
    const b = node.input[2];
    const bDims = ctx.constantDims(b);
    const outChannels = transposed ? wDims[1]! * group : wDims[0]!;
    if (b && bDims !== undefined && (bDims.length !== 1 || bDims[0] !== outChannels)) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: bias ${quoteName(b)} has dims ${listText(bDims)}, expected [${outChannels}] (one per output channel)`,
        { ...(node.name ? { node: node.name } : {}), tensor: b },
      );
    }
  } else if (kernel !== undefined) {
    checkInts(node, label, "kernel_shape", kernel, kernel.length, 1);
  }
  if (n === undefined) return;
  if (n < 1) throw invalid(node, `${label}: kernel_shape is empty, expected at least one spatial axis`);
  checkWindow(node, label, n);
  if (transposed) {
    checkInts(node, label, "output_padding", ints(node, label, "output_padding"), n, 0);
    const outputShape = ints(node, label, "output_shape");
    if (outputShape !== undefined && outputShape.length !== n && outputShape.length !== n + 2) {
      throw invalid(
        node,
        `${label}: output_shape ${listText(outputShape)} has ${outputShape.length} values, expected ${n}`,
      );
    }
    checkInts(node, label, "output_shape", outputShape?.slice(-n), n, 1);
  }
};

const pool: OpCheck = (node, label) => {
  requireInputs(node, label, 1);
  const kernel = ints(node, label, "kernel_shape");
  if (kernel === undefined || kernel.length === 0) {
    throw invalid(node, `${label}: has no kernel_shape, which ${node.opType} requires`);
  }
  const n = kernel.length;
  checkInts(node, label, "kernel_shape", kernel, n, 1);
  checkWindow(node, label, n);
  oneOf(node, label, "ceil_mode", int(node, label, "ceil_mode", 0), [0, 1]);
  if (node.opType === "AveragePool")
    oneOf(node, label, "count_include_pad", int(node, label, "count_include_pad", 0), [0, 1]);
  // onnxruntime refuses padding as large as the kernel (PoolAttributes).
  const pads = ints(node, label, "pads");
  if (pads !== undefined) {
    for (let i = 0; i < n; i++) {
      if (pads[i]! >= kernel[i]! || pads[i + n]! >= kernel[i]!) {
        throw invalid(
          node,
          `${label}: pads ${listText(pads)} are not smaller than kernel_shape ${listText(kernel)}`,
        );
      }
    }
  }
};

const gemm: OpCheck = (node, label, ctx) => {
  requireInputs(node, label, 2);
  const transA = int(node, label, "transA", 0);
  const transB = int(node, label, "transB", 0);
  oneOf(node, label, "transA", transA, [0, 1]);
  oneOf(node, label, "transB", transB, [0, 1]);
  for (const name of ["alpha", "beta"]) {
    const v = float(node, label, name, 1);
    if (!Number.isFinite(v))
      throw invalid(node, `${label}: attribute "${name}" is ${v}, expected a finite number`);
  }
  for (const i of [0, 1]) {
    const t = node.input[i]!;
    const d = ctx.constantDims(t);
    if (d === undefined) continue;
    checkRank(node, label, i === 0 ? "input A" : "weight", t, d, d.length === 2, "2 ([rows, columns])");
    checkNonEmpty(node, label, i === 0 ? "input A" : "weight", t, d);
  }
  const c = node.input[2];
  const cDims = ctx.constantDims(c);
  if (c && cDims !== undefined) checkRank(node, label, "bias C", c, cDims, cDims.length <= 2, "at most 2");
};

const matMul: OpCheck = (node, label, ctx) => {
  requireInputs(node, label, 2);
  for (const i of [0, 1]) {
    const t = node.input[i]!;
    const d = ctx.constantDims(t);
    if (d === undefined) continue;
    checkRank(node, label, i === 0 ? "input A" : "weight", t, d, d.length >= 1, "at least 1");
    checkNonEmpty(node, label, i === 0 ? "input A" : "weight", t, d);
  }
};

/** BatchNormalization / InstanceNormalization / PRelu: per-channel constants of rank 1 (PRelu: any), equal lengths, not empty. */
const channelParams =
  (first: number, count: number, rank1: boolean): OpCheck =>
  (node, label, ctx) => {
    requireInputs(node, label, first + count);
    let length: number | undefined;
    for (let i = first; i < first + count; i++) {
      const t = node.input[i]!;
      const d = ctx.constantDims(t);
      if (d === undefined) continue;
      if (rank1) checkRank(node, label, `input ${i}`, t, d, d.length === 1, "1 (one value per channel)");
      checkNonEmpty(node, label, `input ${i}`, t, d);
      if (!rank1) continue;
      if (length !== undefined && d[0] !== length) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `${label}: input ${i} ${quoteName(t)} has ${d[0]} values, but the previous parameters have ${length}`,
          { ...(node.name ? { node: node.name } : {}), tensor: t },
        );
      }
      length = d[0];
    }
    if (node.opType === "BatchNormalization" || node.opType === "InstanceNormalization") {
      const epsilon = float(node, label, "epsilon", 1e-5);
      if (!(epsilon >= 0) || !Number.isFinite(epsilon)) {
        throw invalid(node, `${label}: epsilon is ${epsilon}, expected a finite number >= 0`);
      }
    }
  };

const concat: OpCheck = (node, label) => {
  if (attribute(node, "axis") === undefined)
    throw invalid(node, `${label}: has no "axis" attribute, which Concat requires`);
  int(node, label, "axis", 0);
};

const transpose: OpCheck = (node, label) => {
  const perm = ints(node, label, "perm");
  if (perm === undefined) return;
  const seen = new Set(perm);
  if (seen.size !== perm.length || perm.some((p) => !(p >= 0 && p < perm.length))) {
    throw invalid(node, `${label}: perm ${listText(perm)} is not a permutation of 0..${perm.length - 1}`);
  }
};

const axisInt =
  (name: string): OpCheck =>
  (node, label) => {
    int(node, label, name, 0);
  };

/** The checks per default-domain op_type. */
const OP_CHECKS: Readonly<Record<string, OpCheck>> = {
  Conv: conv,
  ConvTranspose: conv,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  Gemm: gemm,
  MatMul: matMul,
  BatchNormalization: channelParams(1, 4, true),
  InstanceNormalization: channelParams(1, 2, true),
  PRelu: channelParams(1, 1, false),
  Concat: concat,
  Transpose: transpose,
  Flatten: axisInt("axis"),
  Gather: axisInt("axis"),
  Split: axisInt("axis"),
};
