// Add for training: two activations of the same shape (a residual join: both get dY), or an activation
// plus a trained bias broadcast per channel ([C, 1, 1] on NCHW) or per column ([F] on [N, F], the bias of
// a MatMul export), whose gradient sums dY over the broadcast axes.
import { exportFn, outputName, product, unsupported } from "../lower.ts";
import type { ParamHandle, TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { trainInput } from "./common.ts";

export const trainAdd = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const a0 = trainInput(ctx, 0);
  const b0 = trainInput(ctx, 1);
  const y = outputName(node, 0);
  const yDims = ctx.dims(y);
  const len = product(yDims);
  const constA = ctx.isConst(a0);
  const constB = ctx.isConst(b0);
  if (constA && constB) throw unsupported(node, "adds two constants at run time");
  if (!constA && !constB) {
    if (ctx.dims(a0).join() !== yDims.join() || ctx.dims(b0).join() !== yDims.join()) {
      throw unsupported(
        node,
        `broadcasting between two activations ([${ctx.dims(a0).join(", ")}] + [${ctx.dims(b0).join(", ")}]) cannot be trained`,
      );
    }
    const same = a0 === b0; // x + x: one input, twice the gradient
    return {
      kind: "step",
      reads: same ? [a0] : [a0, b0],
      writes: [y],
      saved: [],
      gradOf: same ? [a0] : [a0, b0],
      scratchLen: 0,
      bind(b) {
        const acc = exportFn(b.exports, "eltwise_accumulate");
        const ap = b.ptr(a0);
        const bp = b.ptr(b0);
        const yp = b.ptr(y);
        const dyp = b.dy(y);
        return {
          forward: () => {
            b.f32().copyWithin(yp / 4, ap / 4, ap / 4 + len);
            acc(yp, bp, len);
          },
          backward: () => {
            const m = b.f32();
            for (const g of same ? [b.grad(a0)] : [b.grad(a0), b.grad(b0)]) {
              if (g !== 0) m.copyWithin(g / 4, dyp / 4, dyp / 4 + len);
            }
            if (same && b.grad(a0) !== 0) acc(b.grad(a0), dyp, len);
          },
        };
      },
    };
  }
  const x = constA ? b0 : a0;
  const c = constA ? a0 : b0;
  const cDims = ctx.dims(c);
  const xDims = ctx.dims(x);
  if (xDims.join() !== yDims.join()) throw unsupported(node, "the constant operand may not widen the output");
  const cLen = product(cDims);
  const rank = yDims.length;
  // Per channel on [N, C, ...]: dims [C, 1, ...] or [1, C, 1, ...]; per column on [N, F]: [F] or [1, F].
  const perChannel =
    rank >= 3 && cLen === yDims[1] && cDims.length <= rank && isChannelVector(cDims, rank, yDims[1]!);
  const perColumn = rank === 2 && cLen === yDims[1] && cDims.slice(0, -1).every((d) => d === 1);
  if (!perChannel && !perColumn) {
    throw unsupported(
      node,
      `a trained constant of dims [${cDims.join(", ")}] must be a per-channel or per-column bias of [${yDims.join(", ")}]`,
    );
  }
  const bias: ParamHandle = ctx.param(c, "bias");
  const batch = yDims[0]!;
  const channels = yDims[1]!;
  const plane = product(yDims, 2);
  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [],
    gradOf: [x],
    scratchLen: 0,
    bind(b) {
      const rows = exportFn(b.exports, "act_bias_rows");
      const cols = exportFn(b.exports, "act_bias_cols");
      const channelSum = exportFn(b.exports, "reduce_channel_sum");
      const colSum = exportFn(b.exports, "reduce_col_sum");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const cp = b.param(bias);
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      return {
        forward: () => {
          if (xp !== yp) b.f32().copyWithin(yp / 4, xp / 4, xp / 4 + len);
          if (perColumn) cols(yp, batch, channels, cp, 0, 0, 0);
          else
            for (let n = 0; n < batch; n++) rows(yp + n * channels * plane * 4, channels, plane, cp, 0, 0, 0);
        },
        backward: () => {
          if (b.wantsGrad(bias)) {
            if (perColumn) colSum(dyp, b.paramGrad(bias), batch, channels);
            else channelSum(dyp, b.paramGrad(bias), batch, channels, plane);
          }
          if (dxp !== 0) b.f32().copyWithin(dxp / 4, dyp / 4, dyp / 4 + len);
        },
      };
    },
  };
};

function isChannelVector(dims: readonly number[], rank: number, channels: number): boolean {
  // Right-aligned against [N, C, spatial...]: every dim 1 except the one at the channel axis.
  const offset = rank - dims.length;
  return dims.every((d, i) => (i + offset === 1 ? d === channels : d === 1));
}
