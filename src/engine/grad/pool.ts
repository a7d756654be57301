// Pooling for training: MaxPool (the gradient goes to the window's first maximum, as PyTorch),
// AveragePool (count_include_pad), GlobalAveragePool and GlobalMaxPool.
import { attrInt, attrInts } from "../../graph/ir.ts";
import { exportFn, outputName, product, unsupported } from "../lower.ts";
import { window2d } from "../ops/conv.ts";
import type { TrainLower, TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { needActivation, trainInput } from "./common.ts";

function geometry(ctx: TrainLowerContext, x: string, y: string) {
  const node = ctx.node;
  const dims = ctx.dims(x);
  if (dims.length !== 4)
    throw unsupported(node, `only 2-D pooling (NCHW input) is supported, got rank ${dims.length}`);
  const yDims = ctx.dims(y);
  const kernel = attrInts(node, "kernel_shape");
  if (kernel === undefined) throw unsupported(node, "kernel_shape is required");
  const win = window2d(node, kernel, dims[2]!, dims[3]!, yDims[2]!, yDims[3]!);
  return { dims, yDims, win, planes: dims[0]! * dims[1]! };
}

export const trainMaxPool = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  if (node.outputs.length > 1 && node.outputs[1] !== "")
    throw unsupported(node, "the Indices output is not supported");
  if (attrInt(node, "storage_order", 0) !== 0) throw unsupported(node, "storage_order=1 is not supported");
  const x = trainInput(ctx, 0);
  needActivation(ctx, x);
  const y = outputName(node, 0);
  const { dims, yDims, win, planes } = geometry(ctx, x, y);
  const args = [
    planes,
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
  ];
  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [x],
    gradOf: [x],
    scratchLen: 0,
    bind(b) {
      const fwd = exportFn(b.exports, "pool_max_2d");
      const back = exportFn(b.exports, "pool_max_2d_backward");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      return {
        forward: () => fwd(xp, yp, ...args),
        backward: () => {
          if (dxp !== 0) back(xp, dyp, dxp, ...args);
        },
      };
    },
  };
};

export const trainAveragePool = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const x = trainInput(ctx, 0);
  needActivation(ctx, x);
  const y = outputName(node, 0);
  const { dims, yDims, win, planes } = geometry(ctx, x, y);
  if (win.dilationH !== 1 || win.dilationW !== 1)
    throw unsupported(node, "dilated average pooling is not supported");
  const includePad = attrInt(node, "count_include_pad", 0) !== 0 ? 1 : 0;
  const args = [
    planes,
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
  ];
  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [],
    gradOf: [x],
    scratchLen: 0,
    bind(b) {
      const fwd = exportFn(b.exports, "pool_avg_2d");
      const back = exportFn(b.exports, "pool_avg_2d_backward");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      return {
        forward: () => fwd(xp, yp, ...args),
        backward: () => {
          if (dxp !== 0) back(dyp, dxp, ...args);
        },
      };
    },
  };
};

function trainGlobal(max: boolean) {
  return (ctx: TrainLowerContext): TrainLowering => {
    const x = trainInput(ctx, 0);
    needActivation(ctx, x);
    const dims = ctx.dims(x);
    if (dims.length < 3) throw unsupported(ctx.node, "needs an input of rank >= 3 (N, C, spatial...)");
    const planes = dims[0]! * dims[1]!;
    const planeLen = product(dims, 2);
    const y = outputName(ctx.node, 0);
    return {
      kind: "step",
      reads: [x],
      writes: [y],
      saved: max ? [x] : [],
      gradOf: [x],
      scratchLen: 0,
      bind(b) {
        const fwd = exportFn(b.exports, max ? "pool_global_max" : "pool_global_avg");
        const back = exportFn(b.exports, max ? "pool_global_max_backward" : "pool_global_avg_backward");
        const xp = b.ptr(x);
        const yp = b.ptr(y);
        const dyp = b.dy(y);
        const dxp = b.grad(x);
        return {
          forward: () => fwd(xp, yp, planes, planeLen),
          backward: () => {
            if (dxp === 0) return;
            if (max) back(xp, dyp, dxp, planes, planeLen);
            else back(dyp, dxp, planes, planeLen);
          },
        };
      },
    };
  };
}

export const trainGlobalAveragePool: TrainLower = trainGlobal(false);
export const trainGlobalMaxPool: TrainLower = trainGlobal(true);
