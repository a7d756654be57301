// Pooling on the WASM pool family: MaxPool, AveragePool (count_include_pad, ceil_mode through the output
// size compile infers), GlobalAveragePool and GlobalMaxPool; every call covers all N*C planes.
import { attrInt, attrInts, type GraphNode } from "../../graph/ir.ts";
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

/** The dims of a 2-D pooling input and the window of the node over it (auto_pad resolved). */
function poolWindow(node: GraphNode, dims: (name: string) => readonly number[], x: string, y: string) {
  const xDims = dims(x);
  if (xDims.length !== 4)
    throw unsupported(node, `only 2-D pooling (NCHW input) is supported, got rank ${xDims.length}`);
  const yDims = dims(y);
  const kernel = attrInts(node, "kernel_shape");
  if (kernel === undefined) throw unsupported(node, "kernel_shape is required");
  const win = window2d(node, kernel, xDims[2]!, xDims[3]!, yDims[2]!, yDims[3]!);
  return { xDims, yDims, win, planes: xDims[0]! * xDims[1]! };
}

/**
 * The arguments of pool_max_2d (and pool_max_2d_backward) after the pointers, checked: what the
 * inference and training lowerings share.
 */
export function maxPoolArgs(
  node: GraphNode,
  dims: (name: string) => readonly number[],
  x: string,
  y: string,
): number[] {
  if (node.outputs.length > 1 && node.outputs[1] !== "")
    throw unsupported(node, "the Indices output is not supported");
  if (attrInt(node, "storage_order", 0) !== 0) throw unsupported(node, "storage_order=1 is not supported");
  const { xDims, yDims, win, planes } = poolWindow(node, dims, x, y);
  return [
    planes,
    xDims[2]!,
    xDims[3]!,
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
  ];
}

/** The arguments of pool_avg_2d (and pool_avg_2d_backward) after the pointers, checked. */
export function avgPoolArgs(
  node: GraphNode,
  dims: (name: string) => readonly number[],
  x: string,
  y: string,
): number[] {
  const { xDims, yDims, win, planes } = poolWindow(node, dims, x, y);
  if (win.dilationH !== 1 || win.dilationW !== 1)
    throw unsupported(node, "dilated average pooling is not supported");
  return [
    planes,
    xDims[2]!,
    xDims[3]!,
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
    attrInt(node, "count_include_pad", 0) !== 0 ? 1 : 0,
  ];
}

export const lowerMaxPool = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y0 = outputName(node, 0);
  const args = maxPoolArgs(node, ctx.dims, x, y0);
  const { act, output } = fuseActivation(ctx, y0);
  const len = product(ctx.dims(y0));
  return step([x], [output], 0, (b) => {
    const pool = exportFn(b.exports, "pool_max_2d");
    const actApply = exportFn(b.exports, "act_apply");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    return () => {
      pool(xp, yp, ...args);
      if (act.code !== 0) actApply(yp, yp, len, act.code, act.a0, act.a1);
    };
  });
};

export const lowerAveragePool = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const y = outputName(node, 0);
  const args = avgPoolArgs(node, ctx.dims, x, y);
  return step([x], [y], 0, (b) => {
    const pool = exportFn(b.exports, "pool_avg_2d");
    const xp = b.ptr(x);
    const yp = b.ptr(y);
    return () => pool(xp, yp, ...args);
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
