// Static shape inference for the ops CNN exports contain, plus evaluation of the small integer
// computations exporters put in front of Reshape (PyTorch's `x.view(x.size(0), -1)` becomes
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape). Symbolic dims (a named or unset dim_value, in
// practice the batch) are taken as 1: shapes here are for counting and channel analysis at batch 1.
// Formulas follow the ONNX operator spec (https://onnx.ai/onnx/operators/).
import { DataType, type TensorProto, type ValueInfoProto } from "../onnx/proto-types.ts";
import { readFloat32, readInt64 } from "../onnx/tensor.ts";
import {
  attrInt,
  attrInts,
  attrString,
  type Graph,
  type GraphNode,
  inputAt,
  numel,
  opTableEntry,
} from "./ir.ts";

/** What {@link inferShapes} knows about the values of a graph. */
export interface ShapeInfo {
  /** Dims of every value whose shape could be inferred (symbolic dims as 1). Missing = unknown. */
  shapes: Map<string, number[]>;
  /**
   * Integer values known before running the model, flattened row-major: INT64/INT32 constants with
   * at most {@link MAX_VALUE_ELEMENTS} elements and everything computed from them and from `Shape`.
   */
  values: Map<string, number[]>;
}

/** Largest integer constant (in elements) whose values shape inference reads. */
export const MAX_VALUE_ELEMENTS = 64;

/**
 * Infer the shape of every value of the graph, in topological order. Values of unknown ops (and of
 * ops whose inputs are unknown) are left out unless the file's value_info gives their shape.
 * @param graph The graph (src/graph/ir.ts).
 * @returns Shapes and known integer values.
 * @example
 * const { shapes } = inferShapes(graph);
 * shapes.get("output"); // [1, 10]
 */
export function inferShapes(graph: Graph): ShapeInfo {
  const shapes = new Map<string, number[]>();
  const values = new Map<string, number[]>();
  for (const vi of graph.inputs) {
    const dims = valueInfoDims(vi);
    if (dims !== undefined) shapes.set(vi.name ?? "", dims);
  }
  for (const [name, t] of graph.constants) {
    shapes.set(name, t.dims.slice());
    if (numel(t.dims) <= MAX_VALUE_ELEMENTS) {
      const v = readIntegers(t);
      if (v !== undefined) values.set(name, v);
    }
  }
  const ctx: ShapeContext = { graph, shapes, values };
  for (const node of graph.order) {
    if (node.opType === "Constant" && node.domain === "") continue; // already in graph.constants
    let outs: (number[] | undefined)[] = [];
    const rule = opTableEntry(SHAPE_RULES, node);
    if (rule !== undefined) {
      try {
        outs = rule(node, ctx);
      } catch (e) {
        if (!(e instanceof UnknownShape)) throw e;
        outs = [];
      }
    }
    node.outputs.forEach((out, i) => {
      if (out === "") return;
      const dims = outs[i] ?? hintedDims(graph, out);
      if (dims !== undefined) shapes.set(out, dims);
    });
  }
  return { shapes, values };
}

function hintedDims(graph: Graph, name: string): number[] | undefined {
  const vi = graph.valueInfo.get(name) ?? graph.outputs.find((o) => o.name === name);
  return vi === undefined ? undefined : valueInfoDims(vi);
}

/** Dims from a ValueInfoProto; symbolic or unset dims become 1. Undefined when no shape is given. */
function valueInfoDims(vi: ValueInfoProto): number[] | undefined {
  const shape = vi.type?.tensorType?.shape;
  if (shape === undefined) return undefined;
  return shape.dim.map((d) => (d.dimValue !== undefined && d.dimValue > 0 ? d.dimValue : 1));
}

/** Integer elements of an inline INT64/INT32 constant, or undefined for other types and external data. */
function readIntegers(t: TensorProto): number[] | undefined {
  if (t.dataLocation === 1) return undefined;
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return undefined;
  return readInt64(t);
}

/**
 * Elements of a small inline float constant (at most {@link MAX_VALUE_ELEMENTS}), or undefined for
 * other types, external data or larger tensors. Used for Resize scales, Pad and Clip constants.
 * @param t The tensor.
 * @returns Its values as numbers.
 */
export function readSmallFloats(t: TensorProto): number[] | undefined {
  if (numel(t.dims) > MAX_VALUE_ELEMENTS || t.dataLocation === 1) return undefined;
  if (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE && t.dataType !== DataType.FLOAT16) {
    return undefined;
  }
  return Array.from(readFloat32(t));
}

interface ShapeContext {
  graph: Graph;
  shapes: Map<string, number[]>;
  values: Map<string, number[]>;
}

/** Thrown inside a rule when a needed input value or attribute is not known statically. */
class UnknownShape extends Error {}

type ShapeRule = (node: GraphNode, ctx: ShapeContext) => (number[] | undefined)[];

function shapeOf(ctx: ShapeContext, node: GraphNode, i: number): number[] {
  const name = inputAt(node, i);
  const s = name === undefined ? undefined : ctx.shapes.get(name);
  if (s === undefined) throw new UnknownShape();
  return s;
}

function knownValue(ctx: ShapeContext, node: GraphNode, i: number): number[] | undefined {
  const name = inputAt(node, i);
  return name === undefined ? undefined : ctx.values.get(name);
}

function requireValue(ctx: ShapeContext, node: GraphNode, i: number): number[] {
  const v = knownValue(ctx, node, i);
  if (v === undefined) throw new UnknownShape();
  return v;
}

function setValue(ctx: ShapeContext, node: GraphNode, i: number, v: number[] | undefined): void {
  const name = node.outputs[i];
  if (v !== undefined && name && v.length <= MAX_VALUE_ELEMENTS) ctx.values.set(name, v);
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new UnknownShape();
  return a;
}

/** Numpy-style multidirectional broadcasting (ONNX Broadcasting.md). */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const v = s[k]!;
      if (v === 1) continue;
      if (d !== 1 && d !== v) return undefined;
      d = v;
    }
    out.push(d);
  }
  return out;
}

const same: ShapeRule = (node, ctx) => node.outputs.map(() => shapeOf(ctx, node, 0));

const broadcast: ShapeRule = (node, ctx) => {
  const ins = node.inputs.map((_, i) => shapeOf(ctx, node, i));
  const out = broadcastShapes(ins);
  if (out === undefined) throw new UnknownShape();
  // Integer arithmetic on known shape values (e.g. C*H*W computed with Mul).
  const vals = node.inputs.map((_, i) => knownValue(ctx, node, i));
  if (
    vals.length === 2 &&
    vals[0] !== undefined &&
    vals[1] !== undefined &&
    numel(out) <= MAX_VALUE_ELEMENTS
  ) {
    const a = vals[0];
    const b = vals[1];
    const n = numel(out);
    if ((a.length === n || a.length === 1) && (b.length === n || b.length === 1)) {
      const f: Record<string, (x: number, y: number) => number> = {
        Add: (x, y) => x + y,
        Sub: (x, y) => x - y,
        Mul: (x, y) => x * y,
        Div: (x, y) => Math.trunc(x / y),
      };
      const op = f[node.opType];
      if (op !== undefined) {
        setValue(
          ctx,
          node,
          0,
          Array.from({ length: n }, (_, i) => op(a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!)),
        );
      }
    }
  }
  return [out];
};

/** Spatial attributes of Conv / ConvTranspose / pools, with ONNX defaults. */
function spatialAttrs(node: GraphNode, kernel: number[]) {
  const n = kernel.length;
  const strides = attrInts(node, "strides", new Array<number>(n).fill(1));
  const dilations = attrInts(node, "dilations", new Array<number>(n).fill(1));
  const pads = attrInts(node, "pads", new Array<number>(2 * n).fill(0));
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  return { strides, dilations, pads, autoPad };
}

/** Output size of one spatial axis of Conv / MaxPool / AveragePool. */
function windowOut(
  inSize: number,
  k: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): number {
  const effK = (k - 1) * dilation + 1;
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.ceil(inSize / stride);
  if (autoPad === "VALID") return Math.floor((inSize - effK) / stride) + 1;
  const span = inSize + padBegin + padEnd - effK;
  if (!ceilMode) return Math.floor(span / stride) + 1;
  let out = Math.ceil(span / stride) + 1;
  // The last window must start inside the input or the left padding (ONNX/PyTorch ceil_mode rule).
  if ((out - 1) * stride >= inSize + padBegin) out--;
  return out;
}

const conv: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const w = shapeOf(ctx, node, 1);
  const kernel = attrInts(node, "kernel_shape", w.slice(2));
  const { strides, dilations, pads, autoPad } = spatialAttrs(node, kernel);
  const n = kernel.length;
  const spatial = kernel.map((k, i) =>
    windowOut(x[2 + i]!, k, strides[i]!, dilations[i]!, pads[i]!, pads[i + n]!, autoPad, false),
  );
  return [[x[0]!, w[0]!, ...spatial]];
};

const convTranspose: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const w = shapeOf(ctx, node, 1);
  const group = attrInt(node, "group", 1);
  const kernel = attrInts(node, "kernel_shape", w.slice(2));
  const n = kernel.length;
  const { strides, dilations, pads, autoPad } = spatialAttrs(node, kernel);
  const outputPadding = attrInts(node, "output_padding", new Array<number>(n).fill(0));
  const outputShape = attrInts(node, "output_shape");
  const cout = w[1]! * group;
  if (outputShape !== undefined) return [[x[0]!, cout, ...outputShape.slice(-n)]];
  const spatial = kernel.map((k, i) => {
    const inSize = x[2 + i]!;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return inSize * strides[i]!;
    const p = autoPad === "VALID" ? 0 : pads[i]! + pads[i + n]!;
    return strides[i]! * (inSize - 1) + outputPadding[i]! + (k - 1) * dilations[i]! + 1 - p;
  });
  return [[x[0]!, cout, ...spatial]];
};

const pool: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const kernel = attrInts(node, "kernel_shape");
  if (kernel === undefined) throw new UnknownShape();
  const { strides, dilations, pads, autoPad } = spatialAttrs(node, kernel);
  const ceilMode = attrInt(node, "ceil_mode", 0) === 1;
  const n = kernel.length;
  const spatial = kernel.map((k, i) =>
    windowOut(x[2 + i]!, k, strides[i]!, dilations[i]!, pads[i]!, pads[i + n]!, autoPad, ceilMode),
  );
  const out = [x[0]!, x[1]!, ...spatial];
  return node.outputs.map(() => out);
};

const globalPool: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  return [[x[0]!, x[1]!, ...x.slice(2).map(() => 1)]];
};

const gemm: ShapeRule = (node, ctx) => {
  const a = shapeOf(ctx, node, 0);
  const b = shapeOf(ctx, node, 1);
  if (a.length !== 2 || b.length !== 2) throw new UnknownShape();
  const m = attrInt(node, "transA", 0) ? a[1]! : a[0]!;
  const n = attrInt(node, "transB", 0) ? b[0]! : b[1]!;
  return [[m, n]];
};

const matMul: ShapeRule = (node, ctx) => {
  let a = shapeOf(ctx, node, 0);
  let b = shapeOf(ctx, node, 1);
  const dropA = a.length === 1;
  const dropB = b.length === 1;
  if (dropA) a = [1, ...a];
  if (dropB) b = [...b, 1];
  const batch = broadcastShapes([a.slice(0, -2), b.slice(0, -2)]);
  if (batch === undefined) throw new UnknownShape();
  const out = [...batch, a[a.length - 2]!, b[b.length - 1]!];
  if (dropB) out.splice(out.length - 1, 1);
  if (dropA) out.splice(out.length - (dropB ? 1 : 2), 1);
  return [out];
};

const flatten: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const raw = attrInt(node, "axis", 1);
  const axis = raw < 0 ? raw + x.length : raw;
  if (axis < 0 || axis > x.length) throw new UnknownShape();
  return [[numel(x.slice(0, axis)), numel(x.slice(axis))]];
};

const reshape: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const target = requireValue(ctx, node, 1);
  const allowZero = attrInt(node, "allowzero", 0) === 1;
  const out = target.map((d, i) => (d === 0 && !allowZero ? x[i]! : d));
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = numel(out.filter((_, i) => i !== unknown));
    out[unknown] = known === 0 ? 0 : numel(x) / known;
  }
  if (numel(out) !== numel(x) || !out.every(Number.isInteger)) throw new UnknownShape();
  setValue(ctx, node, 0, knownValue(ctx, node, 0));
  return [out];
};

const concat: ShapeRule = (node, ctx) => {
  const ins = node.inputs.map((_, i) => shapeOf(ctx, node, i));
  const first = ins[0];
  if (first === undefined) throw new UnknownShape();
  const axis = normAxis(attrInt(node, "axis", 0), first.length);
  const out = first.slice();
  out[axis] = ins.reduce((s, d) => s + d[axis]!, 0);
  const vals = node.inputs.map((_, i) => knownValue(ctx, node, i));
  if (out.length === 1 && vals.every((v) => v !== undefined)) setValue(ctx, node, 0, vals.flat());
  return [out];
};

const shape: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const r = x.length;
  const clamp = (v: number) => Math.min(r, Math.max(0, v < 0 ? v + r : v));
  const start = clamp(attrInt(node, "start", 0));
  const end = clamp(attrInt(node, "end", r));
  const v = x.slice(start, Math.max(start, end));
  setValue(ctx, node, 0, v);
  return [[v.length]];
};

const gather: ShapeRule = (node, ctx) => {
  const data = shapeOf(ctx, node, 0);
  const indices = shapeOf(ctx, node, 1);
  const axis = normAxis(attrInt(node, "axis", 0), data.length);
  const out = [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)];
  const dv = knownValue(ctx, node, 0);
  const iv = knownValue(ctx, node, 1);
  if (dv !== undefined && iv !== undefined && data.length === 1) {
    const n = data[0]!;
    setValue(
      ctx,
      node,
      0,
      iv.map((i) => dv[i < 0 ? i + n : i]!),
    );
  }
  return [out];
};

function axesOf(
  node: GraphNode,
  ctx: ShapeContext,
  inputIndex: number,
  sinceOpset: number,
): number[] | undefined {
  if (ctx.graph.opsetVersion >= sinceOpset) {
    if (inputAt(node, inputIndex) === undefined) return undefined;
    return requireValue(ctx, node, inputIndex);
  }
  return attrInts(node, "axes");
}

const unsqueeze: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const axes = axesOf(node, ctx, 1, 13);
  if (axes === undefined) throw new UnknownShape();
  const rank = x.length + axes.length;
  const norm = new Set(axes.map((a) => normAxis(a, rank)));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(norm.has(i) ? 1 : x[k++]!);
  setValue(ctx, node, 0, knownValue(ctx, node, 0));
  return [out];
};

const squeeze: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const axes = axesOf(node, ctx, 1, 13);
  const drop =
    axes === undefined
      ? new Set(x.flatMap((d, i) => (d === 1 ? [i] : [])))
      : new Set(axes.map((a) => normAxis(a, x.length)));
  setValue(ctx, node, 0, knownValue(ctx, node, 0));
  return [x.filter((_, i) => !drop.has(i))];
};

const slice: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.graph.opsetVersion >= 10) {
    starts = requireValue(ctx, node, 1);
    ends = requireValue(ctx, node, 2);
    axes = inputAt(node, 3) === undefined ? undefined : requireValue(ctx, node, 3);
    steps = inputAt(node, 4) === undefined ? undefined : requireValue(ctx, node, 4);
  } else {
    starts = attrInts(node, "starts") ?? [];
    ends = attrInts(node, "ends") ?? [];
    axes = attrInts(node, "axes");
  }
  const out = x.slice();
  const ranges = x.map((d) => ({ start: 0, step: 1, count: d }));
  starts.forEach((s0, j) => {
    const axis = normAxis(axes?.[j] ?? j, x.length);
    const d = x[axis]!;
    const step = steps?.[j] ?? 1;
    if (step === 0) throw new UnknownShape();
    let s = s0 < 0 ? s0 + d : s0;
    let e = ends[j]! < 0 ? ends[j]! + d : ends[j]!;
    let count: number;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
      count = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = Math.min(Math.max(s, -1), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      count = Math.max(0, Math.ceil((s - e) / -step));
    }
    out[axis] = count;
    ranges[axis] = { start: s, step, count };
  });
  const v = knownValue(ctx, node, 0);
  if (v !== undefined && x.length === 1) {
    const r = ranges[0]!;
    setValue(
      ctx,
      node,
      0,
      Array.from({ length: r.count }, (_, i) => v[r.start + i * r.step]!),
    );
  }
  return [out];
};

const cast: ShapeRule = (node, ctx) => {
  setValue(ctx, node, 0, knownValue(ctx, node, 0));
  return [shapeOf(ctx, node, 0)];
};

const identity: ShapeRule = (node, ctx) => {
  setValue(ctx, node, 0, knownValue(ctx, node, 0));
  return [shapeOf(ctx, node, 0)];
};

const pad: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const pads = ctx.graph.opsetVersion >= 11 ? requireValue(ctx, node, 1) : attrInts(node, "pads");
  if (pads === undefined) throw new UnknownShape();
  const axesIn =
    ctx.graph.opsetVersion >= 18 && inputAt(node, 3) !== undefined ? requireValue(ctx, node, 3) : undefined;
  const axes = axesIn?.map((a) => normAxis(a, x.length)) ?? x.map((_, i) => i);
  const n = axes.length;
  if (pads.length !== 2 * n) throw new UnknownShape();
  const out = x.slice();
  axes.forEach((a, j) => {
    out[a] = out[a]! + pads[j]! + pads[j + n]!;
  });
  return [out];
};

const transpose: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const perm = attrInts(
    node,
    "perm",
    x.map((_, i) => x.length - 1 - i),
  );
  return [perm.map((p) => x[p]!)];
};

const reduce: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const fromInput = node.opType === "ReduceSum" ? 13 : 18;
  const axes = axesOf(node, ctx, 1, fromInput);
  const keep = attrInt(node, "keepdims", 1) === 1;
  const noop = attrInt(node, "noop_with_empty_axes", 0) === 1;
  let set: Set<number>;
  if (axes === undefined || axes.length === 0) {
    if (noop) return [x];
    set = new Set(x.map((_, i) => i));
  } else set = new Set(axes.map((a) => normAxis(a, x.length)));
  const out: number[] = [];
  x.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [out];
};

const split: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const axis = normAxis(attrInt(node, "axis", 0), x.length);
  let sizes: number[] | undefined =
    ctx.graph.opsetVersion >= 13 ? knownValue(ctx, node, 1) : attrInts(node, "split");
  if (ctx.graph.opsetVersion >= 13 && inputAt(node, 1) !== undefined && sizes === undefined)
    throw new UnknownShape();
  if (sizes === undefined) {
    const k = node.outputs.length;
    const chunk = Math.ceil(x[axis]! / k);
    sizes = Array.from({ length: k }, (_, i) => Math.max(0, Math.min(chunk, x[axis]! - i * chunk)));
  }
  return sizes.map((s) => {
    const out = x.slice();
    out[axis] = s;
    return out;
  });
};

const resize: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  // Upsample: X, scales. Resize (opset 11+): X, roi, scales, sizes. Resize opset 10: X, scales.
  const sizesIndex = node.opType === "Resize" && ctx.graph.opsetVersion >= 11 ? 3 : -1;
  const scalesIndex = node.opType === "Resize" && ctx.graph.opsetVersion >= 11 ? 2 : 1;
  if (sizesIndex > 0 && inputAt(node, sizesIndex) !== undefined) return [requireValue(ctx, node, sizesIndex)];
  const scalesName = inputAt(node, scalesIndex);
  const t = scalesName === undefined ? undefined : ctx.graph.constants.get(scalesName);
  const scales = t === undefined ? undefined : readSmallFloats(t);
  if (scales === undefined || scales.length !== x.length) throw new UnknownShape();
  return [x.map((d, i) => Math.floor(d * scales[i]!))];
};

const constantOfShape: ShapeRule = (node, ctx) => [requireValue(ctx, node, 0)];

const expand: ShapeRule = (node, ctx) => {
  const out = broadcastShapes([shapeOf(ctx, node, 0), requireValue(ctx, node, 1)]);
  if (out === undefined) throw new UnknownShape();
  return [out];
};

const size: ShapeRule = (node, ctx) => {
  setValue(ctx, node, 0, [numel(shapeOf(ctx, node, 0))]);
  return [[]];
};

/** LayerNormalization: Y is X's shape; Mean and InvStdDev keep the axes before `axis` and are 1 from it on. */
const layerNorm: ShapeRule = (node, ctx) => {
  const x = shapeOf(ctx, node, 0);
  const axis = normAxis(attrInt(node, "axis", -1), x.length);
  const stats = x.map((d, i) => (i < axis ? d : 1));
  return node.outputs.map((_, i) => (i === 0 ? x : stats));
};

/** Output shapes per op_type (default domain). */
const SHAPE_RULES: Record<string, ShapeRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  BatchNormalization: same,
  InstanceNormalization: same,
  LayerNormalization: layerNorm,
  GroupNormalization: same,
  LRN: same,
  Relu: same,
  LeakyRelu: same,
  PRelu: same,
  Elu: same,
  Selu: same,
  Celu: same,
  Clip: same,
  Sigmoid: same,
  HardSigmoid: same,
  HardSwish: same,
  Tanh: same,
  Softplus: same,
  Softsign: same,
  Mish: same,
  Gelu: same,
  Erf: same,
  Exp: same,
  Log: same,
  Sqrt: same,
  Reciprocal: same,
  Neg: same,
  Abs: same,
  Floor: same,
  Ceil: same,
  Round: same,
  Not: same,
  Softmax: same,
  LogSoftmax: same,
  Hardmax: same,
  Dropout: same,
  Identity: identity,
  Cast: cast,
  Add: broadcast,
  Sub: broadcast,
  Mul: broadcast,
  Div: broadcast,
  Pow: broadcast,
  Max: broadcast,
  Min: broadcast,
  Sum: broadcast,
  Mean: broadcast,
  Equal: broadcast,
  Less: broadcast,
  Greater: broadcast,
  Where: broadcast,
  Gemm: gemm,
  MatMul: matMul,
  Flatten: flatten,
  Reshape: reshape,
  Concat: concat,
  Shape: shape,
  Size: size,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Slice: slice,
  Pad: pad,
  Transpose: transpose,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceSum: reduce,
  ReduceL2: reduce,
  Split: split,
  Resize: resize,
  Upsample: resize,
  ConstantOfShape: constantOfShape,
  Expand: expand,
};

/**
 * The op_types (default domain) {@link inferShapes} has a rule for: the keys of the table it dispatches
 * on. `Constant` is not among them: its value is already in `graph.constants`.
 */
export const SHAPE_RULE_OPS: ReadonlySet<string> = new Set(Object.keys(SHAPE_RULES));
