// Ops that move data without arithmetic. Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
// (inference) and a float-to-float Cast are aliases: the same memory under other dims. Concat, Split,
// Slice, Transpose, Pad and Expand copy in TS over the engine's memory (strided odometer loops).
// Shape arithmetic (Shape, Gather of a shape, ...) never reaches here: compile folds it.
import { attrInt, attrString, type GraphNode } from "../../graph/ir.ts";
import { DataType } from "../../onnx/proto-types.ts";
import {
  type Alias,
  type Binding,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  quoteName,
  step,
  unsupported,
} from "../lower.ts";

function contiguousStrides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
}

/** Output aliases input 0 (same element count). */
export const lowerAlias = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  if (node.opType === "Dropout" && node.outputs.length > 1 && node.outputs[1] !== "") {
    const mask = node.outputs[1]!;
    if (mask !== "")
      throw unsupported(
        node,
        `its mask output ${quoteName(mask)} is used; only inference Dropout is supported`,
      );
  }
  if (node.opType === "Cast" && attrInt(node, "to", DataType.FLOAT) !== DataType.FLOAT) {
    throw unsupported(node, "casts an activation to a non-float type; the engine runs float32 only");
  }
  if (product(ctx.dims(x)) !== product(ctx.dims(y))) {
    throw unsupported(
      node,
      `changes the element count from [${ctx.dims(x).join(", ")}] to [${ctx.dims(y).join(", ")}]`,
    );
  }
  if (ctx.isConst(x)) throw unsupported(node, "reshapes a float constant at run time");
  const alias: Alias = { kind: "alias", output: y, input: x };
  return alias;
};

/** Nodes whose outputs compile folds to known integers; reaching the lowering means it could not. */
export const lowerFoldOnly = (ctx: LowerContext): Lowering => {
  throw unsupported(
    ctx.node,
    "computes values at run time that the engine can only fold at compile time (shape arithmetic on known shapes)",
  );
};

/**
 * A strided copy: out[i] = src[base + Σ idx[a]*strides[a]] over an output of `dims` (contiguous), with an
 * output offset; the innermost axis with stride 1 becomes one copyWithin.
 */
function stridedCopy(
  m: Float32Array,
  src: number,
  strides: readonly number[],
  dims: readonly number[],
  dst: number,
): void {
  const rank = dims.length;
  if (rank === 0) {
    m[dst] = m[src]!;
    return;
  }
  const inner = dims[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const outer = product(dims, 0, rank - 1);
  const idx = new Array<number>(rank - 1).fill(0);
  let off = src;
  let o = dst;
  for (let r = 0; r < outer; r++) {
    if (innerStride === 1) m.copyWithin(o, off, off + inner);
    else for (let j = 0; j < inner; j++) m[o + j] = m[off + j * innerStride]!;
    o += inner;
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax] = idx[ax]! + 1;
      off += strides[ax]!;
      if (idx[ax]! < dims[ax]!) break;
      off -= strides[ax]! * dims[ax]!;
      idx[ax] = 0;
    }
  }
}

function normAxis(node: GraphNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw unsupported(node, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export const lowerConcat = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const inputs = node.inputs.filter((i) => i !== "");
  const y = outputName(node, 0);
  const outDims = ctx.dims(y);
  const axis = normAxis(node, attrInt(node, "axis", 1), outDims.length);
  const outer = product(outDims, 0, axis);
  const chunks = inputs.map((i) => product(ctx.dims(i), axis));
  const row = product(outDims, axis);
  return step(inputs, [y], 0, (b: Binding) => {
    const srcs = inputs.map((i) => b.ptr(i) / 4);
    const yo = b.ptr(y) / 4;
    return () => {
      const m = b.f32();
      let at = 0;
      for (let k = 0; k < inputs.length; k++) {
        const c = chunks[k]!;
        const s = srcs[k]!;
        for (let o = 0; o < outer; o++) m.copyWithin(yo + o * row + at, s + o * c, s + o * c + c);
        at += c;
      }
    };
  });
};

export const lowerTranspose = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const xDims = ctx.dims(x);
  const rank = xDims.length;
  const permAttr = node.attributes.get("perm")?.ints;
  const perm = permAttr ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort().some((p, i) => p !== i)) {
    throw unsupported(node, `perm [${perm.join(", ")}] is not a permutation of ${rank} axes`);
  }
  const xs = contiguousStrides(xDims);
  const strides = perm.map((p) => xs[p]!);
  const outDims = perm.map((p) => xDims[p]!);
  return step([x], [y], 0, (b) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => stridedCopy(b.f32(), xo, strides, outDims, yo);
  });
};

export const lowerSplit = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const xDims = ctx.dims(x);
  const axis = normAxis(node, attrInt(node, "axis", 0), xDims.length);
  const xs = contiguousStrides(xDims);
  const outs = node.outputs.filter((o) => o !== "");
  const parts: { name: string; start: number; dims: readonly number[] }[] = [];
  let start = 0;
  for (const o of node.outputs) {
    if (o === "") continue;
    const d = ctx.dims(o);
    parts.push({ name: o, start, dims: d });
    start += d[axis]!;
  }
  if (start !== xDims[axis])
    throw unsupported(node, `outputs cover ${start} of ${xDims[axis]} along axis ${axis}`);
  return step([x], outs, 0, (b) => {
    const xo = b.ptr(x) / 4;
    const ptrs = parts.map((p) => b.ptr(p.name) / 4);
    return () => {
      const m = b.f32();
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        stridedCopy(m, xo + p.start * xs[axis]!, xs, p.dims, ptrs[i]!);
      }
    };
  });
};

/** Starts/ends/axes/steps of a Slice (inputs from opset 10, attributes before). */
function sliceArgs(ctx: LowerContext): {
  starts: number[];
  ends: number[];
  axes?: number[];
  steps?: number[];
} {
  const node = ctx.node;
  const value = (i: number): number[] | undefined => {
    const name = node.inputs[i];
    if (name === undefined || name === "") return undefined;
    const v = ctx.intValue(name);
    if (v === undefined)
      throw unsupported(node, `input ${i} (${quoteName(name)}) must be known at compile time`);
    return [...v];
  };
  if (node.inputs.length > 1) {
    return { starts: value(1)!, ends: value(2)!, axes: value(3), steps: value(4) };
  }
  const ints = (n: string) => node.attributes.get(n)?.ints;
  return { starts: ints("starts") ?? [], ends: ints("ends") ?? [], axes: ints("axes") };
}

export const lowerSlice = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const xDims = ctx.dims(x);
  const rank = xDims.length;
  const { starts, ends, axes, steps } = sliceArgs(ctx);
  const xs = contiguousStrides(xDims);
  let base = 0;
  const strides = [...xs];
  const outDims = [...xDims];
  (axes ?? starts.map((_, i) => i)).forEach((a0, i) => {
    const a = normAxis(node, a0, rank);
    const d = xDims[a]!;
    const st = steps?.[i] ?? 1;
    if (st === 0) throw unsupported(node, "a step of 0");
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    const n = Math.max(0, Math.ceil((e - s) / st));
    base += s * xs[a]!;
    strides[a] = xs[a]! * st;
    outDims[a] = n;
  });
  if (outDims.join() !== ctx.dims(y).join()) {
    throw unsupported(
      node,
      `computed dims [${outDims.join(", ")}] differ from inferred [${ctx.dims(y).join(", ")}]`,
    );
  }
  return step([x], [y], 0, (b) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => {
      if (product(outDims) > 0) stridedCopy(b.f32(), xo + base, strides, outDims, yo);
    };
  });
};

export const lowerExpand = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const xDims = ctx.dims(x);
  const outDims = ctx.dims(y);
  const xs = contiguousStrides(xDims);
  const strides = new Array<number>(outDims.length).fill(0);
  for (let j = xDims.length - 1, i = outDims.length - 1; j >= 0; j--, i--)
    strides[i] = xDims[j] === 1 ? 0 : xs[j]!;
  return step([x], [y], 0, (b) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => stridedCopy(b.f32(), xo, strides, outDims, yo);
  });
};

export const lowerPad = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const xDims = ctx.dims(x);
  const outDims = ctx.dims(y);
  const rank = xDims.length;
  const mode = attrString(node, "mode", "constant");
  if (mode !== "constant" && mode !== "edge" && mode !== "reflect")
    throw unsupported(node, `mode ${mode} is not supported`);
  let value = 0;
  const vName = node.inputs[2];
  if (vName !== undefined && vName !== "") {
    const v = ctx.floatConst(vName);
    if (v === undefined || v.length !== 1)
      throw unsupported(node, "constant_value must be a scalar constant");
    value = v[0]!;
  } else if (node.attributes.has("value")) {
    value = node.attributes.get("value")?.f ?? 0;
  }
  const before = outDims.map((d, a) => {
    // pads are [begin_0..begin_r, end_0..end_r]; the output dims give begin + end, so only begins are needed.
    return d - xDims[a]!;
  });
  let pads: readonly number[] | undefined = node.attributes.get("pads")?.ints;
  if (pads === undefined) {
    const pName = node.inputs[1];
    pads = pName === undefined || pName === "" ? undefined : ctx.intValue(pName);
  }
  if (pads === undefined || (node.inputs[3] !== undefined && node.inputs[3] !== "")) {
    throw unsupported(node, "pads must be known at compile time, over every axis");
  }
  const begins = pads.slice(0, rank);
  if (begins.length !== rank || before.some((t, a) => begins[a]! > t))
    throw unsupported(node, "pads do not match the output dims");
  const xs = contiguousStrides(xDims);
  const total = product(outDims);
  return step([x], [y], 0, (b) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => {
      const m = b.f32();
      const idx = new Array<number>(rank).fill(0);
      for (let e = 0; e < total; e++) {
        let off = 0;
        let inside = true;
        for (let a = 0; a < rank; a++) {
          let i = idx[a]! - begins[a]!;
          const d = xDims[a]!;
          if (i < 0 || i >= d) {
            if (mode === "constant") {
              inside = false;
              break;
            }
            if (mode === "edge") i = i < 0 ? 0 : d - 1;
            else {
              const period = 2 * (d - 1);
              i = period === 0 ? 0 : ((i % period) + period) % period;
              if (i >= d) i = period - i;
            }
          }
          off += i * xs[a]!;
        }
        m[yo + e] = inside ? m[xo + off]! : value;
        for (let a = rank - 1; a >= 0; a--) {
          idx[a] = idx[a]! + 1;
          if (idx[a]! < outDims[a]!) break;
          idx[a] = 0;
        }
      }
    };
  });
};
