// ConvTranspose (2-D, any groups): per image and group, the packed GEMM computes the columns
// W_gᵀ · x_g ((filters/g·kH·kW) x (H·W)), then a TS col2im scatters them into the output, which starts
// from the bias; the activation after it is fused into the same epilogue pass as a conv's.
import { attrInt, attrInts } from "../../graph/ir.ts";
import { gemmScratchLen } from "../../wasm/kernels/gemm.ts";
import {
  exportFn,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  step,
  unsupported,
} from "../lower.ts";
import { fuseActivation } from "./act.ts";

export const lowerConvTranspose = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const x = inputName(ctx, 0);
  const wName = inputName(ctx, 1);
  const xDims = ctx.dims(x);
  if (xDims.length !== 4)
    throw unsupported(node, `only 2-D transposed convolutions are supported, got rank ${xDims.length}`);
  const weight = ctx.floatConst(wName);
  if (weight === undefined) throw unsupported(node, "its weight must be a constant (initializer)");
  const wDims = ctx.dims(wName);
  const [batch, channels, height, width] = xDims as [number, number, number, number];
  const groups = attrInt(node, "group", 1);
  if (wDims.length !== 4 || wDims[0] !== channels || channels % groups !== 0) {
    throw unsupported(
      node,
      `weight dims [${wDims.join(", ")}] do not fit ${channels} channels in ${groups} groups`,
    );
  }
  const cg = channels / groups;
  const mg = wDims[1]!;
  const filters = mg * groups;
  const [kh, kw] = [wDims[2]!, wDims[3]!];
  const strides = attrInts(node, "strides", [1, 1]);
  const dilations = attrInts(node, "dilations", [1, 1]);
  const autoPad = node.attributes.get("auto_pad");
  if (autoPad !== undefined && new TextDecoder().decode(autoPad.s ?? new Uint8Array()) !== "NOTSET") {
    throw unsupported(node, "auto_pad is not supported for ConvTranspose; export with explicit pads");
  }
  if (node.attributes.has("output_shape"))
    throw unsupported(node, "output_shape is not supported; export with pads");
  const pads = attrInts(node, "pads", [0, 0, 0, 0]);
  const y0 = outputName(node, 0);
  const yDims = ctx.dims(y0);
  const [outH, outW] = [yDims[2]!, yDims[3]!];
  const biasName = node.inputs[2];
  let bias: Float32Array | undefined;
  if (biasName !== undefined && biasName !== "") {
    bias = ctx.floatConst(biasName);
    if (bias === undefined || bias.length !== filters)
      throw unsupported(node, "its bias must be a constant of one value per filter");
  }
  const { act, output } = fuseActivation(ctx, y0);
  const wRef = ctx.param(weight);
  const bRef = bias === undefined ? undefined : ctx.param(bias);
  const hw = height * width;
  const rowsG = mg * kh * kw;
  const colLen = Math.ceil((rowsG * hw) / 4) * 4;
  const ohw = outH * outW;
  const [sh, sw] = [strides[0]!, strides[1]!];
  const [dh, dw] = [dilations[0]!, dilations[1]!];
  const [pt, pl] = [pads[0]!, pads[1]!];
  return step([x], [output], colLen + gemmScratchLen(rowsG, hw, cg), (b) => {
    const gemm = exportFn(b.exports, "gemm_tn");
    const epilogue = exportFn(b.exports, "act_bias_rows");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    const wp = b.param(wRef);
    const bp = bRef === undefined ? 0 : b.param(bRef);
    const col = b.scratchPtr;
    const gemmScratch = col + colLen * 4;
    return () => {
      for (let n = 0; n < batch; n++) {
        const yo = yp / 4 + n * filters * ohw;
        b.f32().fill(0, yo, yo + filters * ohw);
        for (let g = 0; g < groups; g++) {
          // op(A) = W_gᵀ: W_g is stored cg x (mg·kh·kw).
          gemm(
            wp + g * cg * rowsG * 4,
            xp + (n * channels + g * cg) * hw * 4,
            col,
            gemmScratch,
            rowsG,
            hw,
            cg,
            rowsG,
            hw,
            hw,
            1,
            0,
          );
          const m = b.f32();
          const co = col / 4;
          for (let f = 0; f < mg; f++) {
            const yBase = yo + (g * mg + f) * ohw;
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const row = co + ((f * kh + i) * kw + j) * hw;
                for (let iy = 0; iy < height; iy++) {
                  const oy = iy * sh - pt + i * dh;
                  if (oy < 0 || oy >= outH) continue;
                  for (let ix = 0; ix < width; ix++) {
                    const ox = ix * sw - pl + j * dw;
                    if (ox < 0 || ox >= outW) continue;
                    m[yBase + oy * outW + ox] = m[yBase + oy * outW + ox]! + m[row + iy * width + ix]!;
                  }
                }
              }
            }
          }
        }
        if (bp !== 0 || act.code !== 0)
          epilogue(yp + n * filters * ohw * 4, filters, ohw, bp, act.code, act.a0, act.a1);
      }
    };
  });
};
