// Pooling on the WASM pool family: MaxPool, AveragePool (count_include_pad, ceil_mode through the output
// size compile infers), GlobalAveragePool and GlobalMaxPool; every call covers all N*C planes.
import { attrInt, attrInts } from "../../graph/ir.ts";
import {
  exportFn,
  inputName,
  type Lower,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  step,
  unsupported,
} from "../lower.ts";
import { fuseActivation } from "./act.ts";
import { window2d } from "./conv.ts";

function planes(ctx: LowerContext, x: string): { dims: readonly number[]; planes: number } {
  const dims = ctx.dims(x);
  if (dims.length !== 4)
    throw unsupported(ctx.node, `only 2-D pooling (NCHW input) is supported, got rank ${dims.length}`);
  return { dims, planes: dims[0]! * dims[1]! };
}

export const lowerMaxPool = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  if (node.outputs.length > 1 && node.outputs[1] !== "")
    throw unsupported(node, "the Indices output is not supported");
  if (attrInt(node, "storage_order", 0) !== 0) throw unsupported(node, "storage_order=1 is not supported");
  const x = inputName(ctx, 0);
  const { dims, planes: p } = planes(ctx, x);
  const y0 = outputName(node, 0);
  const yDims = ctx.dims(y0);
  const kernel = attrInts(node, "kernel_shape");
  if (kernel === undefined) throw unsupported(node, "kernel_shape is required");
  const win = window2d(node, kernel, dims[2]!, dims[3]!, yDims[2]!, yDims[3]!);
  const { act, output } = fuseActivation(ctx, y0);
  const len = product(yDims);
  return step([x], [output], 0, (b) => {
    const pool = exportFn(b.exports, "pool_max_2d");
    const actApply = exportFn(b.exports, "act_apply");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    return () => {
      pool(
        xp,
        yp,
        p,
        dims[2]!,
        dims[3]!,
        win.kernelH,
        win.kernelW,
        win.strideH,
        win.strideW,
        win.padTop,
        win.padLeft,
        win.dilationH,
        win.dilationW,
        yDims[2]!,
        yDims[3]!,
      );
      if (act.code !== 0) actApply(yp, yp, len, act.code, act.a0, act.a1);
    };
  });
};

export const lowerAveragePool = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const { dims, planes: p } = planes(ctx, x);
  const y = outputName(node, 0);
  const yDims = ctx.dims(y);
  const kernel = attrInts(node, "kernel_shape");
  if (kernel === undefined) throw unsupported(node, "kernel_shape is required");
  const win = window2d(node, kernel, dims[2]!, dims[3]!, yDims[2]!, yDims[3]!);
  if (win.dilationH !== 1 || win.dilationW !== 1)
    throw unsupported(node, "dilated average pooling is not supported");
  const includePad = attrInt(node, "count_include_pad", 0) !== 0 ? 1 : 0;
  return step([x], [y], 0, (b) => {
    const pool = exportFn(b.exports, "pool_avg_2d");
    const xp = b.ptr(x);
    const yp = b.ptr(y);
    return () =>
      pool(
        xp,
        yp,
        p,
        dims[2]!,
        dims[3]!,
        win.kernelH,
        win.kernelW,
        win.strideH,
        win.strideW,
        win.padTop,
        win.padLeft,
        win.padBottom,
        win.padRight,
        yDims[2]!,
        yDims[3]!,
        includePad,
      );
  });
};

function lowerGlobal(exportName: string) {
  return (ctx: LowerContext): Lowering => {
    const x = inputName(ctx, 0);
    const dims = ctx.dims(x);
    if (dims.length < 3) throw unsupported(ctx.node, "needs an input of rank >= 3 (N, C, spatial...)");
    const p = dims[0]! * dims[1]!;
    const planeLen = product(dims, 2);
    const y = outputName(ctx.node, 0);
    return step([x], [y], 0, (b) => {
      const pool = exportFn(b.exports, exportName);
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      return () => pool(xp, yp, p, planeLen);
    });
  };
}

export const lowerGlobalAveragePool: Lower = lowerGlobal("pool_global_avg");
export const lowerGlobalMaxPool: Lower = lowerGlobal("pool_global_max");
