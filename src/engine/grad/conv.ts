// Conv for training: forward as at inference but without fusion (per image and group: conv_im2col and
// the packed GEMM; 1x1 stride 1 straight on the GEMM; depthwise on the direct kernel), and backward:
//   bias    dB[f] = Σ over images and pixels of dY            (reduce_channel_sum)
//   weight  dW_g = Σ_n dY_n,g · col_n,gᵀ                       (gemm_nt, accumulating from image 2 on)
//   input   dX_n,g = col2im(W_gᵀ · dY_n,g)                     (gemm_tn, then conv_col2im)
// with the depthwise grads on their direct kernels. The input's im2col is recomputed in the backward
// rather than kept, so a conv saves only its input.
import { gemmScratchLen } from "../../wasm/kernels/gemm.ts";
import { exportFn, unsupported } from "../lower.ts";
import { convGeometry } from "../ops/conv.ts";
import type { TrainLowerContext, TrainLowering } from "../train-lower.ts";

export const trainConv = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const g = convGeometry(node, ctx.dims);
  const { x, wName, y, batch, channels, height, width, filters, groups, cg, outH, outW, win } = g;
  if (!ctx.isConst(wName)) throw unsupported(node, "its weight must be an initializer to be trained");
  const wp = ctx.param(wName, "weight");
  const biasName = node.inputs[2];
  let bias: ReturnType<typeof ctx.param> | undefined;
  if (biasName !== undefined && biasName !== "") {
    if (!ctx.isConst(biasName) || ctx.dims(biasName).reduce((a, b) => a * b, 1) !== filters) {
      throw unsupported(node, "its bias must be an initializer of one value per filter");
    }
    bias = ctx.param(biasName, "bias");
  }
  const { hw, ohw, k, mg, depthwise, pointwise } = g;
  const colLen = depthwise || pointwise ? 0 : Math.ceil((k * ohw) / 4) * 4;
  const gemmLen = depthwise
    ? 0
    : Math.max(gemmScratchLen(mg, ohw, k), gemmScratchLen(mg, k, ohw), gemmScratchLen(k, ohw, mg));
  // Backward needs col (forward input's im2col) and dcol at once.
  const scratchLen = 2 * colLen + gemmLen;
  const geometry = [
    win.kernelH,
    win.kernelW,
    win.strideH,
    win.strideW,
    win.padTop,
    win.padLeft,
    win.dilationH,
    win.dilationW,
    outH,
    outW,
  ] as const;

  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [x],
    gradOf: [x],
    scratchLen,
    bind(b) {
      const gemmNN = exportFn(b.exports, "gemm_nn");
      const gemmNT = exportFn(b.exports, "gemm_nt");
      const gemmTN = exportFn(b.exports, "gemm_tn");
      const im2col = exportFn(b.exports, "conv_im2col");
      const col2im = exportFn(b.exports, "conv_col2im");
      const dwForward = exportFn(b.exports, "conv_depthwise");
      const dwGradInput = exportFn(b.exports, "conv_depthwise_grad_input");
      const dwGradWeight = exportFn(b.exports, "conv_depthwise_grad_weight");
      const epilogue = exportFn(b.exports, "act_bias_rows");
      const channelSum = exportFn(b.exports, "reduce_channel_sum");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      const w = b.param(wp);
      const dw = b.paramGrad(wp);
      const bp = bias === undefined ? 0 : b.param(bias);
      const col = b.scratchPtr;
      const dcol = col + colLen * 4;
      const gs = dcol + colLen * 4;
      const xImage = channels * hw * 4;
      const yImage = filters * ohw * 4;
      const forward = () => {
        for (let n = 0; n < batch; n++) {
          const xn = xp + n * xImage;
          const yn = yp + n * yImage;
          if (depthwise) dwForward(xn, w, yn, channels, height, width, ...geometry);
          else if (pointwise) gemmNN(w, xn, yn, gs, filters, ohw, channels, channels, ohw, ohw, 1, 0);
          else {
            for (let g = 0; g < groups; g++) {
              im2col(xn + g * cg * hw * 4, cg, height, width, ...geometry, col);
              gemmNN(w + g * mg * k * 4, col, yn + g * mg * ohw * 4, gs, mg, ohw, k, k, ohw, ohw, 1, 0);
            }
          }
          if (bp !== 0) epilogue(yn, filters, ohw, bp, 0, 0, 0);
        }
      };
      const backward = () => {
        if (bias !== undefined && b.wantsGrad(bias)) channelSum(dyp, b.paramGrad(bias), batch, filters, ohw);
        const wantW = b.wantsGrad(wp);
        if (!wantW && dxp === 0) return;
        if (depthwise && wantW) b.f32().fill(0, dw / 4, dw / 4 + filters * k);
        for (let n = 0; n < batch; n++) {
          const xn = xp + n * xImage;
          const dyn = dyp + n * yImage;
          const dxn = dxp + n * xImage;
          if (depthwise) {
            if (wantW) dwGradWeight(xn, dyn, dw, channels, height, width, ...geometry);
            if (dxp !== 0) dwGradInput(dyn, w, dxn, channels, height, width, ...geometry);
          } else if (pointwise) {
            // dW (F x C) += dY (F x P) · Xᵀ (P x C); dX (C x P) = Wᵀ (C x F) · dY.
            if (wantW)
              gemmNT(dyn, xn, dw, gs, filters, channels, ohw, ohw, ohw, channels, 1, n === 0 ? 0 : 1);
            if (dxp !== 0) gemmTN(w, dyn, dxn, gs, channels, ohw, filters, channels, ohw, ohw, 1, 0);
          } else {
            if (dxp !== 0) b.f32().fill(0, dxn / 4, dxn / 4 + channels * hw);
            for (let g = 0; g < groups; g++) {
              const dyg = dyn + g * mg * ohw * 4;
              const wg = w + g * mg * k * 4;
              if (wantW) {
                im2col(xn + g * cg * hw * 4, cg, height, width, ...geometry, col);
                gemmNT(dyg, col, dw + g * mg * k * 4, gs, mg, k, ohw, ohw, ohw, k, 1, n === 0 ? 0 : 1);
              }
              if (dxp !== 0) {
                gemmTN(wg, dyg, dcol, gs, k, ohw, mg, k, ohw, ohw, 1, 0);
                col2im(dcol, cg, height, width, ...geometry, dxn + g * cg * hw * 4);
              }
            }
          }
        }
      };
      return { forward, backward };
    },
  };
};
