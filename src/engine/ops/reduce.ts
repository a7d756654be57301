// Softmax and LogSoftmax (WASM rows kernels when the axis is innermost, TS otherwise) and the Reduce*
// ops (TS, float64 accumulation rounded once to f32).
import { attrInt } from "../../graph/ir.ts";
import {
  exportFn,
  inputName,
  type Lower,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  quoteName,
  step,
  unsupported,
} from "../lower.ts";

function softmaxLowering(log: boolean) {
  return (ctx: LowerContext): Lowering => {
    const node = ctx.node;
    const x = inputName(ctx, 0);
    const y = outputName(node, 0);
    const dims = ctx.dims(x);
    const rank = dims.length;
    const legacy = ctx.opset < 13;
    let axis = attrInt(node, "axis", legacy ? 1 : -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank)
      throw unsupported(node, `axis ${attrInt(node, "axis", -1)} is out of range for rank ${rank}`);
    // Before opset 13 the input is coerced to 2-D at the axis; from 13 the axis alone is normalised.
    const cols = legacy ? product(dims, axis) : dims[axis]!;
    const inner = legacy ? 1 : product(dims, axis + 1);
    const rows = product(dims) / (cols * inner);
    return step([x], [y], 0, (b) => {
      const kernel = exportFn(b.exports, log ? "reduce_row_log_softmax" : "reduce_row_softmax");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      if (inner === 1) return () => kernel(xp, yp, rows, cols);
      const xo = xp / 4;
      const yo = yp / 4;
      return () => {
        const m = b.f32();
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < inner; i++) {
            const base = r * cols * inner + i;
            let max = Number.NEGATIVE_INFINITY;
            for (let c = 0; c < cols; c++) max = Math.max(max, m[xo + base + c * inner]!);
            let sum = 0;
            for (let c = 0; c < cols; c++) sum += Math.exp(m[xo + base + c * inner]! - max);
            for (let c = 0; c < cols; c++) {
              const v = m[xo + base + c * inner]! - max;
              m[yo + base + c * inner] = log ? v - Math.log(sum) : Math.exp(v) / sum;
            }
          }
        }
      };
    });
  };
}

export const lowerSoftmax: Lower = softmaxLowering(false);
export const lowerLogSoftmax: Lower = softmaxLowering(true);

type Reducer = {
  init: number;
  add: (acc: number, x: number) => number;
  finish: (acc: number, n: number) => number;
};

const REDUCERS: Readonly<Record<string, Reducer>> = {
  ReduceMean: { init: 0, add: (a, x) => a + x, finish: (a, n) => a / n },
  ReduceSum: { init: 0, add: (a, x) => a + x, finish: (a) => a },
  ReduceMax: {
    init: Number.NEGATIVE_INFINITY,
    add: (a, x) => (Number.isNaN(x) || x > a ? x : a),
    finish: (a) => a,
  },
  ReduceMin: {
    init: Number.POSITIVE_INFINITY,
    add: (a, x) => (Number.isNaN(x) || x < a ? x : a),
    finish: (a) => a,
  },
  ReduceL2: { init: 0, add: (a, x) => a + x * x, finish: (a) => Math.sqrt(a) },
};

/** Op types of the TS reduce lowering. */
export const REDUCE_OPS: readonly string[] = Object.keys(REDUCERS);

export const lowerReduce = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const r = REDUCERS[node.opType];
  if (r === undefined) throw unsupported(node, "not a reduce op");
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const dims = ctx.dims(x);
  const rank = dims.length;
  let axes: readonly number[] | undefined = node.attributes.get("axes")?.ints;
  const axesInput = node.inputs[1];
  if (axes === undefined && axesInput !== undefined && axesInput !== "") {
    axes = ctx.intValue(axesInput);
    if (axes === undefined)
      throw unsupported(node, `its axes ${quoteName(axesInput)} must be known at compile time`);
  }
  if (axes === undefined || axes.length === 0) {
    if (attrInt(node, "noop_with_empty_axes", 0) !== 0)
      throw unsupported(node, "noop_with_empty_axes is not supported");
    axes = dims.map((_, i) => i);
  }
  const reduced = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  if ([...reduced].some((a) => a < 0 || a >= rank))
    throw unsupported(node, `axes [${axes.join(", ")}] out of range`);
  const keptDims = dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const count = dims.reduce((n, d, i) => (reduced.has(i) ? n * d : n), 1);
  const total = product(dims);
  const outLen = product(keptDims);
  const outStrides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    outStrides[i] = reduced.has(i) ? 0 : s;
    s *= keptDims[i]!;
  }
  return step([x], [y], 0, (b) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => {
      const m = b.f32();
      const acc = new Float64Array(outLen).fill(r.init);
      const idx = new Array<number>(rank).fill(0);
      let o = 0;
      for (let e = 0; e < total; e++) {
        acc[o] = r.add(acc[o]!, m[xo + e]!);
        for (let a = rank - 1; a >= 0; a--) {
          idx[a] = idx[a]! + 1;
          o += outStrides[a]!;
          if (idx[a]! < dims[a]!) break;
          o -= outStrides[a]! * dims[a]!;
          idx[a] = 0;
        }
      }
      for (let i = 0; i < outLen; i++) m[yo + i] = r.finish(acc[i]!, count);
    };
  });
};
