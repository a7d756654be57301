// Pooling for training: MaxPool (the gradient goes to the window's first maximum, as PyTorch),
// AveragePool (count_include_pad), GlobalAveragePool and GlobalMaxPool.
import { exportFn, outputName, product, unsupported } from "../lower.ts";
import { avgPoolArgs, maxPoolArgs } from "../ops/pool.ts";
import type { TrainLower, TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { needActivation, trainInput } from "./common.ts";

export const trainMaxPool = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const x = trainInput(ctx, 0);
  needActivation(ctx, x);
  const y = outputName(node, 0);
  const args = maxPoolArgs(node, ctx.dims, x, y);
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
  const args = avgPoolArgs(node, ctx.dims, x, y);
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
