// Elementwise ops with numpy broadcasting. Add / Sub / Mul / Div run on the WASM eltwise_binary kernel
// (with the activation after them fused: the residual Add + Relu); the rarer n-ary ones (Sum, Mean, Max,
// Min, Pow, PRelu) in TS over the engine's memory.
import {
  type Binding,
  exportFn,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  step,
  unsupported,
} from "../lower.ts";
import { type Activation, fuseActivation } from "./act.ts";

/** Op codes of assembly/eltwise.ts (ELTWISE_*). */
export const ELTWISE = { Add: 0, Sub: 1, Mul: 2, Div: 3 } as const;

/**
 * Strides (in elements) of an operand of `dims` read at every index of an output of `outDims` under
 * numpy broadcasting: right-aligned, 0 where the operand's dim is 1 or missing.
 */
export function broadcastReadStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const rank = outDims.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let j = dims.length - 1, i = rank - 1; j >= 0; j--, i--) {
    const d = dims[j]!;
    if (i < 0 || (d !== 1 && d !== outDims[i])) {
      throw new RangeError(`dims [${dims.join(", ")}] do not broadcast to [${outDims.join(", ")}]`);
    }
    strides[i] = d === 1 ? 0 : s;
    s *= d;
  }
  return strides;
}

/** Merge adjacent output axes where every operand's strides stay contiguous (fewer, longer loops). */
function coalesce(
  outDims: readonly number[],
  strides: readonly number[][],
): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  for (let i = 0; i < outDims.length; i++) {
    const d = outDims[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (
      last >= 0 &&
      strides.every((s, o) => {
        const prev = out[o]![last]!;
        const cur = s[i]!;
        return (prev === 0 && cur === 0) || (cur !== 0 && prev === cur * d);
      })
    ) {
      dims[last] = dims[last]! * d;
      strides.forEach((s, o) => {
        out[o]![last] = s[i]!;
      });
    } else {
      dims.push(d);
      for (let o = 0; o < strides.length; o++) out[o]!.push(strides[o]![i]!);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    for (const s of out) s.push(0);
  }
  return { dims, strides: out };
}

/**
 * The residual Add after a layer, for its step to fuse: when `value`'s only reader is an Add whose other
 * input is an activation already computed (the block input of a residual block, or a shortcut lowered
 * earlier) with exactly value's dims, the Add is fused and its output (and the activation after it, if
 * any) become the layer's. The layer then computes act(value + residual) per element, one f32 add after
 * its own epilogue: the bits of the unfused Add. Undefined when the pattern does not match.
 */
export function fuseResidual(
  ctx: LowerContext,
  value: string,
): { residual: string; act: Activation; output: string } | undefined {
  const add = ctx.soleConsumer(value);
  if (add === undefined || add.opType !== "Add" || add.domain !== "" || add.inputs.length !== 2)
    return undefined;
  const residual = add.inputs[0] === value ? add.inputs[1] : add.inputs[0];
  const y = add.outputs[0];
  if (residual === undefined || residual === "" || residual === value || y === undefined || y === "") {
    return undefined;
  }
  if (!ctx.computed(residual)) return undefined;
  const vd = ctx.dims(value);
  const rd = ctx.dims(residual);
  if (vd.length !== rd.length || vd.some((d, i) => d !== rd[i])) {
    return undefined;
  }
  ctx.fuse(add);
  const { act, output } = fuseActivation(ctx, y);
  return { residual, act, output };
}

export const lowerBinary = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const op = ELTWISE[node.opType as keyof typeof ELTWISE];
  if (op === undefined) throw unsupported(node, "not a binary arithmetic op");
  const a = inputName(ctx, 0);
  const b = inputName(ctx, 1);
  const y = outputName(node, 0);
  const outDims = ctx.dims(y);
  let strides: number[][];
  try {
    strides = [broadcastReadStrides(ctx.dims(a), outDims), broadcastReadStrides(ctx.dims(b), outDims)];
  } catch (e) {
    throw unsupported(node, (e as Error).message);
  }
  const c = coalesce(outDims, strides);
  if (c.dims.length > 8) throw unsupported(node, "more than 8 broadcast axes");
  const shapeRef = ctx.paramI32(Int32Array.from(c.dims));
  const aRef = ctx.paramI32(Int32Array.from(c.strides[0]!));
  const bRef = ctx.paramI32(Int32Array.from(c.strides[1]!));
  const { act, output } = fuseActivation(ctx, y);
  const rank = c.dims.length;
  return step([a, b], [output], 0, (bind) => {
    const binary = exportFn(bind.exports, "eltwise_binary");
    const ap = bind.ptr(a);
    const bp = bind.ptr(b);
    const yp = bind.ptr(output);
    const sp = bind.param(shapeRef);
    const asp = bind.param(aRef);
    const bsp = bind.param(bRef);
    return () => binary(op, ap, bp, yp, rank, sp, asp, bsp, act.code, act.a0, act.a1);
  });
};

type Combine = (acc: number, x: number) => number;

const NARY: Readonly<Record<string, { combine: Combine; finish?: (acc: number, n: number) => number }>> = {
  Sum: { combine: (s, x) => s + x },
  Mean: { combine: (s, x) => s + x, finish: (s, n) => s / n },
  Max: { combine: (s, x) => (Number.isNaN(s) || Number.isNaN(x) ? Number.NaN : Math.max(s, x)) },
  Min: { combine: (s, x) => (Number.isNaN(s) || Number.isNaN(x) ? Number.NaN : Math.min(s, x)) },
  Pow: { combine: (s, x) => s ** x },
  PRelu: { combine: (x, slope) => (x < 0 ? slope * x : x) },
};

/** Op types of the TS n-ary lowering. */
export const NARY_OPS: readonly string[] = Object.keys(NARY);

/** Sum / Mean / Max / Min (any number of inputs), Pow and PRelu (two), broadcast, in TS. */
export const lowerNary = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const spec = NARY[node.opType];
  if (spec === undefined) throw unsupported(node, "not an n-ary elementwise op");
  const inputs = node.inputs.filter((i) => i !== "");
  if (inputs.length === 0) throw unsupported(node, "needs at least one input");
  const y = outputName(node, 0);
  const outDims = ctx.dims(y);
  let strides: number[][];
  try {
    strides = inputs.map((i) => broadcastReadStrides(ctx.dims(i), outDims));
  } catch (e) {
    throw unsupported(node, (e as Error).message);
  }
  const total = product(outDims);
  const rank = outDims.length;
  return step(inputs, [y], 0, (b: Binding) => {
    const bases = inputs.map((i) => b.ptr(i) / 4);
    const yo = b.ptr(y) / 4;
    return () => {
      const m = b.f32();
      const idx = new Array<number>(rank).fill(0);
      const offs = new Array<number>(inputs.length).fill(0);
      for (let e = 0; e < total; e++) {
        let acc = m[bases[0]! + offs[0]!]!;
        for (let o = 1; o < inputs.length; o++) acc = spec.combine(acc, m[bases[o]! + offs[o]!]!);
        m[yo + e] = spec.finish === undefined ? acc : spec.finish(acc, inputs.length);
        for (let ax = rank - 1; ax >= 0; ax--) {
          idx[ax]!++;
          for (let o = 0; o < inputs.length; o++) offs[o]! += strides[o]![ax]!;
          if (idx[ax]! < outDims[ax]!) break;
          for (let o = 0; o < inputs.length; o++) offs[o]! -= strides[o]![ax]! * outDims[ax]!;
          idx[ax] = 0;
        }
      }
    };
  });
};
