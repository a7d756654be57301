// Activations for training: act_apply forward, act_backward (dx = dy·f'(x), PyTorch's values at the
// kinks) on the saved input.
import { exportFn, outputName, product, unsupported } from "../lower.ts";
import { activationOf } from "../ops/act.ts";
import type { TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { needActivation, trainInput } from "./common.ts";

export const trainActivation = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const act = activationOf(ctx, node);
  if (act === undefined) throw unsupported(node, "its parameters must be constants");
  const x = trainInput(ctx, 0);
  needActivation(ctx, x);
  const y = outputName(node, 0);
  const len = product(ctx.dims(x));
  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [x],
    gradOf: [x],
    scratchLen: 0,
    bind(b) {
      const apply = exportFn(b.exports, "act_apply");
      const back = exportFn(b.exports, "act_backward");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      return {
        forward: () => apply(xp, yp, len, act.code, act.a0, act.a1),
        backward: () => {
          if (dxp !== 0) back(xp, dyp, dxp, len, act.code, act.a0, act.a1);
        },
      };
    },
  };
};
