// Conv (2-D, any groups, strides, pads, dilations, auto_pad) at inference, with the BatchNormalization
// that reads it folded into its weights and the activation after that fused into its epilogue:
//   groups = 1, 1x1, stride 1, no pads: one GEMM per image straight on the input (no im2col);
//   depthwise (groups = channels = filters): the direct conv_depthwise kernel;
//   otherwise, per image and group: conv_im2col then the packed GEMM.
//   3x3, stride 1, dilation 1, one group, >= 16 channels and filters: Winograd over chunks of the batch,
//   F(4x4, 3x3) where autoWinograd picks it (conv_winograd4_input_packed, 36 GEMMs,
//   conv_winograd4_output), F(2x2, 3x3) below (conv_winograd_input_packed, 16 gemm_nn_prepacked_ab GEMMs on
//   packed V, conv_winograd_output with bias and activation), unless CompileOptions.winograd says otherwise;
//   a residual Add reading the conv (and the activation after it) is fused into the output transform
//   (conv_winograd(4)_output_res) when its other input is computed before the conv.
// The epilogue (act_bias_rows) adds the bias and applies the activation in one pass over the output.
import { attrFloat, attrInt, attrInts, attrString, type GraphNode } from "../../graph/ir.ts";
import {
  convTapPixels,
  convTapSplitPackWeights,
  convTapSplitScratchLen,
  convTapsInside,
  convWinograd4Filter,
  convWinogradFilter,
  winograd4PadLen,
  winogradPackedPadLen,
} from "../../wasm/kernels/conv.ts";
import { gemmPackedALen, gemmPackedBLen, gemmScratchLen } from "../../wasm/kernels/gemm.ts";
import {
  exportFn,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  step,
  unsupported,
} from "../lower.ts";
import { fuseActivation, NO_ACTIVATION } from "./act.ts";
import { fuseResidual } from "./eltwise.ts";

/** Resolved 2-D window of a Conv or pool: kernel, strides, dilations and explicit pads. */
export interface Window2d {
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly padBottom: number;
  readonly padRight: number;
}

/**
 * The window of a 2-D Conv / pool node over an input of height x width producing outH x outW, with
 * auto_pad resolved to explicit pads (SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start).
 */
export function window2d(
  node: GraphNode,
  kernel: readonly number[],
  height: number,
  width: number,
  outH: number,
  outW: number,
): Window2d {
  if (kernel.length !== 2) throw unsupported(node, `only 2-D windows are supported, got ${kernel.length}-D`);
  const strides = attrInts(node, "strides", [1, 1]);
  const dilations = attrInts(node, "dilations", [1, 1]);
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  let pads = attrInts(node, "pads", [0, 0, 0, 0]);
  const bad = (what: string, v: readonly number[], n: number, min: number) =>
    v.length !== n || !v.every((x) => Number.isInteger(x) && x >= min)
      ? unsupported(node, `attribute ${what} must be ${n} integers >= ${min}, got [${v.join(", ")}]`)
      : undefined;
  const err = bad("strides", strides, 2, 1) ?? bad("dilations", dilations, 2, 1) ?? bad("pads", pads, 4, 0);
  if (err !== undefined) throw err;
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const total = (size: number, out: number, k: number, s: number, d: number) =>
      Math.max(0, (out - 1) * s + (k - 1) * d + 1 - size);
    const th = total(height, outH, kernel[0]!, strides[0]!, dilations[0]!);
    const tw = total(width, outW, kernel[1]!, strides[1]!, dilations[1]!);
    const begin = (t: number) => (autoPad === "SAME_UPPER" ? Math.floor(t / 2) : Math.ceil(t / 2));
    pads = [begin(th), begin(tw), th - begin(th), tw - begin(tw)];
  } else if (autoPad === "VALID") {
    pads = [0, 0, 0, 0];
  }
  return {
    kernelH: kernel[0]!,
    kernelW: kernel[1]!,
    strideH: strides[0]!,
    strideW: strides[1]!,
    dilationH: dilations[0]!,
    dilationW: dilations[1]!,
    padTop: pads[0]!,
    padLeft: pads[1]!,
    padBottom: pads[2]!,
    padRight: pads[3]!,
  };
}

/** BN parameters as a per-channel scale and shift: y = x*scale + shift, in f32 as norm_fold_bn_into_conv. */
export function batchNormScaleShift(
  ctx: LowerContext,
  bn: GraphNode,
  channels: number,
): { scale: Float32Array; shift: Float32Array } | undefined {
  const get = (i: number) => {
    const name = bn.inputs[i];
    return name === undefined || name === "" ? undefined : ctx.floatConst(name);
  };
  const gamma = get(1);
  const beta = get(2);
  const mean = get(3);
  const variance = get(4);
  if (gamma === undefined || beta === undefined || mean === undefined || variance === undefined)
    return undefined;
  if ([gamma, beta, mean, variance].some((t) => t.length !== channels)) return undefined;
  const eps = Math.fround(attrFloat(bn, "epsilon", 1e-5));
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = Math.fround(gamma[c]! / Math.fround(Math.sqrt(Math.fround(variance[c]! + eps))));
    scale[c] = s;
    shift[c] = Math.fround(beta[c]! - Math.fround(mean[c]! * s));
  }
  return { scale, shift };
}

/** True when a BatchNormalization node runs as inference (training_mode off, extra outputs unused). */
export function isInferenceBatchNorm(bn: GraphNode): boolean {
  if (bn.opType !== "BatchNormalization" || bn.domain !== "") return false;
  if (attrInt(bn, "training_mode", 0) !== 0) return false;
  return bn.outputs.slice(1).every((o) => o === "");
}

/** The shapes and window of a 2-D Conv, checked: what the inference and training lowerings share. */
export interface ConvGeometry {
  readonly x: string;
  readonly wName: string;
  readonly y: string;
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly filters: number;
  readonly groups: number;
  /** Input channels per group. */
  readonly cg: number;
  /** Filters per group. */
  readonly mg: number;
  readonly outH: number;
  readonly outW: number;
  readonly hw: number;
  readonly ohw: number;
  /** Rows of a group's im2col: cg·kernelH·kernelW. */
  readonly k: number;
  readonly win: Window2d;
  /** groups = channels = filters > 1: the direct depthwise kernels. */
  readonly depthwise: boolean;
  /** 1x1, stride 1, no pads, one group: the GEMM straight on the input. */
  readonly pointwise: boolean;
}

/**
 * Read and check a Conv node's input, weight and output shapes and its window.
 * @throws PrunekitError `ONNX_UNSUPPORTED` naming the node for anything the engine cannot run.
 */
export function convGeometry(node: GraphNode, dims: (name: string) => readonly number[]): ConvGeometry {
  const need = (i: number) => {
    const name = node.inputs[i];
    if (name === undefined || name === "") throw unsupported(node, `input ${i} is missing`);
    return name;
  };
  const x = need(0);
  const wName = need(1);
  const xDims = dims(x);
  if (xDims.length !== 4)
    throw unsupported(node, `only 2-D convolutions (NCHW input) are supported, got rank ${xDims.length}`);
  const wDims = dims(wName);
  const [batch, channels, height, width] = xDims as [number, number, number, number];
  const filters = wDims[0]!;
  const groups = attrInt(node, "group", 1);
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0 || filters % groups !== 0) {
    throw unsupported(
      node,
      `group ${groups} does not divide ${channels} input channels and ${filters} filters`,
    );
  }
  const cg = channels / groups;
  if (wDims.length !== 4 || wDims[1] !== cg) {
    throw unsupported(
      node,
      `weight dims [${wDims.join(", ")}] do not fit ${channels} channels in ${groups} groups`,
    );
  }
  const kernel = attrInts(node, "kernel_shape", wDims.slice(2));
  const y = outputName(node, 0);
  const yDims = dims(y);
  const [outH, outW] = [yDims[2]!, yDims[3]!];
  const win = window2d(node, kernel, height, width, outH, outW);
  if (win.kernelH !== wDims[2] || win.kernelW !== wDims[3]) {
    throw unsupported(
      node,
      `kernel_shape [${kernel.join(", ")}] differs from the weight's [${wDims.slice(2).join(", ")}]`,
    );
  }
  const pointwise =
    groups === 1 &&
    win.kernelH === 1 &&
    win.kernelW === 1 &&
    win.strideH === 1 &&
    win.strideW === 1 &&
    win.padTop + win.padLeft + win.padBottom + win.padRight === 0 &&
    outH === height &&
    outW === width;
  return {
    x,
    wName,
    y,
    batch,
    channels,
    height,
    width,
    filters,
    groups,
    cg,
    mg: filters / groups,
    outH,
    outW,
    hw: height * width,
    ohw: outH * outW,
    k: cg * win.kernelH * win.kernelW,
    win,
    depthwise: groups === channels && filters === channels && groups > 1,
    pointwise,
  };
}

export const lowerConv = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const g = convGeometry(node, ctx.dims);
  const { x, wName, batch, channels, height, width, filters, groups, cg, outH, outW, win } = g;
  const y0 = g.y;
  const weight = ctx.floatConst(wName);
  if (weight === undefined) throw unsupported(node, "its weight must be a constant (initializer)");
  const biasName = node.inputs[2];
  let bias: Float32Array | undefined;
  if (biasName !== undefined && biasName !== "") {
    bias = ctx.floatConst(biasName);
    if (bias === undefined || bias.length !== filters)
      throw unsupported(node, "its bias must be a constant of one value per filter");
  }

  // Fold a BN that only this conv feeds.
  let w = weight;
  let output = y0;
  const bn = ctx.soleConsumer(y0);
  if (bn !== undefined && isInferenceBatchNorm(bn) && bn.inputs[0] === y0) {
    const ss = batchNormScaleShift(ctx, bn, filters);
    if (ss !== undefined) {
      ctx.fuse(bn);
      output = outputName(bn, 0);
      const per = w.length / filters;
      w = new Float32Array(w.length);
      const b = new Float32Array(filters);
      for (let f = 0; f < filters; f++) {
        const s = ss.scale[f]!;
        for (let i = 0; i < per; i++) w[f * per + i] = Math.fround(weight[f * per + i]! * s);
        b[f] = Math.fround(Math.fround((bias?.[f] ?? 0) * s) + ss.shift[f]!);
      }
      bias = b;
    }
  }
  const fusedAct = fuseActivation(ctx, output);
  output = fusedAct.output;
  const act = fusedAct.act;

  if (ctx.winograd !== false && isWinogradConv(g)) {
    const variant = ctx.winograd === "auto" ? autoWinograd(g) : ctx.winograd === "4x4" ? 4 : 2;
    // A residual block's Add (and the activation after it) goes into the output transform.
    const res = act.code === NO_ACTIVATION.code ? fuseResidual(ctx, output) : undefined;
    if (res !== undefined) return winogradConv(ctx, g, w, bias, res.act, res.output, variant, res.residual);
    return winogradConv(ctx, g, w, bias, act, output, variant);
  }
  if (isTapSplitConv(g)) return tapSplitConv(ctx, g, w, bias, act, output);
  const { hw, ohw, k, mg, depthwise, pointwise } = g;
  const geo = windowArgs(g);
  // Dense convs keep each group's filters (mg x k) packed for gemm_nn_prepacked, once, here.
  const packedLen = gemmPackedALen(mg, k);
  const wRef = ctx.param(depthwise ? w : packGroups(ctx, w, groups, mg, k));
  const bRef = bias === undefined ? undefined : ctx.param(bias);
  const colLen = depthwise || pointwise ? 0 : Math.ceil((k * ohw) / 4) * 4;
  const scratchLen = depthwise ? 0 : colLen + gemmScratchLen(mg, ohw, k);

  return step([x], [output], scratchLen, (b) => {
    const gemm = exportFn(b.exports, "gemm_nn_prepacked");
    const im2col = exportFn(b.exports, "conv_im2col");
    const dw = exportFn(b.exports, "conv_depthwise");
    const epilogue = exportFn(b.exports, "act_bias_rows");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    const wp = b.param(wRef);
    const bp = bRef === undefined ? 0 : b.param(bRef);
    const col = b.scratchPtr;
    const gemmScratch = b.scratchPtr + colLen * 4;
    return () => {
      for (let n = 0; n < batch; n++) {
        const xn = xp + n * channels * hw * 4;
        const yn = yp + n * filters * ohw * 4;
        if (depthwise) {
          dw(xn, wp, yn, channels, ...geo);
        } else if (pointwise) {
          gemm(wp, xn, yn, gemmScratch, filters, ohw, channels, ohw, ohw, 1, 0);
        } else {
          for (let g = 0; g < groups; g++) {
            im2col(xn + g * cg * hw * 4, cg, ...geo, col);
            gemm(wp + g * packedLen * 4, col, yn + g * mg * ohw * 4, gemmScratch, mg, ohw, k, ohw, ohw, 1, 0);
          }
        }
        if (bp !== 0 || act.code !== 0) epilogue(yn, filters, ohw, bp, act.code, act.a0, act.a1);
      }
    };
  });
};

/** The kernels' window arguments after the channel count: height, width, kernel, strides, pads, dilations, out. */
function windowArgs(g: ConvGeometry): number[] {
  const { win } = g;
  return [
    g.height,
    g.width,
    win.kernelH,
    win.kernelW,
    win.strideH,
    win.strideW,
    win.padTop,
    win.padLeft,
    win.dilationH,
    win.dilationW,
    g.outH,
    g.outW,
  ];
}

/** Widest output map (pixels per image) on which a conv may run tap by tap: the thin-GEMM range. */
export const TAP_SPLIT_MAX_PIXELS = 16;
/** ...when at most this fraction of its im2col entries (tap x output pixel) is inside the image. */
export const TAP_SPLIT_MAX_INSIDE = 0.5;

/**
 * Dense one-group convs on maps of at most TAP_SPLIT_MAX_PIXELS outputs where padding is most of the
 * im2col matrix (a 3x3 pad-1 conv on a 2x2 map: 16 of 36 entries inside; on a 1x1 map 1 of 9): they run
 * tap by tap on only the pixels each tap reaches (conv_tapsplit), so the padding costs neither products
 * nor, for taps that reach nothing, filter bytes.
 */
function isTapSplitConv(g: ConvGeometry): boolean {
  if (g.groups !== 1 || g.depthwise || g.pointwise || g.ohw > TAP_SPLIT_MAX_PIXELS) return false;
  const window = {
    channels: g.channels,
    height: g.height,
    width: g.width,
    outH: g.outH,
    outW: g.outW,
    ...g.win,
  };
  const inside = convTapPixels(window).reduce((a, b) => a + b, 0);
  return inside <= TAP_SPLIT_MAX_INSIDE * g.win.kernelH * g.win.kernelW * g.ohw;
}

/** A tap-split conv step (see isTapSplitConv): per image conv_tapsplit, then the bias and activation. */
function tapSplitConv(
  ctx: LowerContext,
  g: ConvGeometry,
  w: Float32Array,
  bias: Float32Array | undefined,
  act: { code: number; a0: number; a1: number },
  output: string,
): Lowering {
  const { x, batch, channels, height, width, filters, outH, outW, win, ohw, hw } = g;
  const window = { channels, height, width, outH, outW, ...win };
  const geo = windowArgs(g);
  const taps = convTapsInside(window);
  const packed = convTapSplitPackWeights(w, filters, channels, win.kernelH, win.kernelW, ctx.packGemmA, taps);
  const wRef = ctx.param(packed);
  const bRef = bias === undefined ? undefined : ctx.param(bias);
  return step([x], [output], convTapSplitScratchLen(channels, filters, ohw), (b) => {
    const conv = exportFn(b.exports, "conv_tapsplit");
    const epilogue = exportFn(b.exports, "act_bias_rows");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    const wp = b.param(wRef);
    const bp = bRef === undefined ? 0 : b.param(bRef);
    const scratch = b.scratchPtr;
    return () => {
      for (let n = 0; n < batch; n++) {
        const yn = yp + n * filters * ohw * 4;
        conv(xp + n * channels * hw * 4, channels, ...geo, wp, filters, yn, scratch);
        if (bp !== 0 || act.code !== 0) epilogue(yn, filters, ohw, bp, act.code, act.a0, act.a1);
      }
    };
  });
}

/**
 * Convs that run as Winograd F(2x2, 3x3): 3x3, stride 1, dilation 1, one group, with at least 16 input
 * channels and filters and WINOGRAD_MIN_TILES tiles in the batch. The gate was 64 channels and 256 tiles
 * while every GEMM repacked its filter block; with the blocks prepacked at compile time, Winograd measured
 * faster than im2col down to ResNet-20's 16-channel stage and VGG's 8x8 maps at batch 1 (16 tiles), and
 * slower at 4 tiles (bench/README.md, "Engine speed, round 2"). Since the thin-GEMM path (round 3) runs
 * both sides' few-column GEMMs, 4 tiles (VGG's 4x4 maps at batch 1: 16 GEMMs of 4 columns on 16/9 the
 * filter bytes, against one of 16 columns with 2.25x the products) measured 1.3-1.8x faster than
 * im2col; 1 tile (2x2 maps) stays on im2col, where F(2x2) would only add filter bytes (round 6).
 */
export const WINOGRAD_MIN_TILES = 4;

function isWinogradConv(g: ConvGeometry): boolean {
  const { win } = g;
  return (
    g.groups === 1 &&
    g.channels >= 16 &&
    g.filters >= 16 &&
    g.batch * Math.ceil(g.outH / 2) * Math.ceil(g.outW / 2) >= WINOGRAD_MIN_TILES &&
    win.kernelH === 3 &&
    win.kernelW === 3 &&
    win.strideH === 1 &&
    win.strideW === 1 &&
    win.dilationH === 1 &&
    win.dilationW === 1
  );
}

/**
 * Where the default picks F(4x4, 3x3) over F(2x2, 3x3): when it needs fewer products for the whole map
 * (36 per 4x4 tile against 16 per 2x2 tile: not on 2x2 maps, where a 4x4 tile is mostly padding) and its
 * 36 GEMMs have at least WINOGRAD4_MIN_TILES 4x4 tiles in the batch. Round 5 (bench/README.md) set 64
 * tiles, or 16 with at most 32 channels, on an Intel host where VGG-16-BN's 64-128-channel convs on 16x16
 * maps at batch 1 (16 tiles) ran 5 % slower on F(4x4); on an AMD Zen 3 host (512 KB L2, which F(2x2)'s
 * 1 MB of transformed tiles and products there overflows) the same convs ran 1.5-1.6x faster on F(4x4),
 * so from round 6 16 tiles suffice at any width. Under 16 tiles (VGG's 8x8 maps at batch 1, 4 tiles)
 * F(2x2) stays: 20 % faster on the Intel host, 10-20 % slower on the AMD one.
 */
export const WINOGRAD4_MIN_TILES = 16;

/** The Winograd variant (output tile side) the default picks for an eligible conv. */
function autoWinograd(g: ConvGeometry): 2 | 4 {
  const tiles2 = g.batch * Math.ceil(g.outH / 2) * Math.ceil(g.outW / 2);
  const tiles4 = g.batch * Math.ceil(g.outH / 4) * Math.ceil(g.outW / 4);
  if (36 * tiles4 >= 16 * tiles2) return 2;
  return tiles4 >= WINOGRAD4_MIN_TILES ? 4 : 2;
}

/** Transformed tiles (V) plus products (M) of one chunk of the batch never exceed about 8 MB. */
const WINOGRAD_CHUNK_VALUES = 1 << 21;
/**
 * Preferred size of V plus M: about 1 MB, so that they stay in L2 between the transforms and the GEMMs
 * (ResNet-20 at batch 64, 16 images per chunk before: 4 MB each; about 10-15% faster with 2 images).
 */
const WINOGRAD_CACHED_VALUES = 1 << 18;
/** ...unless the chunk would then have fewer tiles than this: a GEMM needs columns to be efficient. */
const WINOGRAD_MIN_CHUNK_TILES = 256;

/**
 * A Winograd conv step, F(2x2, 3x3) or F(4x4, 3x3) (`tile` = 2 or 4; Lavin & Gray 2016, §4.1-4.2): the
 * filters transformed once here, then per chunk of images the input transform, one GEMM per transform
 * position ((tile + 2)^2 of them: filters x tiles x channels) and the output transform with the bias and
 * activation fused.
 */
function winogradConv(
  ctx: LowerContext,
  g: ConvGeometry,
  w: Float32Array,
  bias: Float32Array | undefined,
  act: { code: number; a0: number; a1: number },
  output: string,
  tile: 2 | 4,
  residual?: string,
): Lowering {
  const { x, batch, channels, height, width, filters, outH, outW, win } = g;
  const positions = (tile + 2) * (tile + 2);
  // The transformed filter blocks (filters x channels each), packed for gemm_nn_prepacked once here.
  const u = tile === 2 ? convWinogradFilter(w, filters, channels) : convWinograd4Filter(w, filters, channels);
  const uRef = ctx.param(packGroups(ctx, u, positions, filters, channels));
  const uPackedLen = gemmPackedALen(filters, channels);
  const bRef = bias === undefined ? undefined : ctx.param(bias);
  const tilesH = Math.ceil(outH / tile);
  const tilesW = Math.ceil(outW / tile);
  const perImage = tilesH * tilesW;
  const perImageValues = positions * (channels + filters) * perImage;
  const wanted = Math.max(
    Math.ceil(WINOGRAD_MIN_CHUNK_TILES / perImage),
    Math.floor(WINOGRAD_CACHED_VALUES / perImageValues),
  );
  const chunk = Math.max(1, Math.min(batch, wanted, Math.floor(WINOGRAD_CHUNK_VALUES / perImageValues)));
  const maxTiles = chunk * perImage;
  // 16 floats between the blocks keep their streams off the same cache sets (assembly/conv.ts). V is
  // written in the GEMM's packed-B panels (conv_winograd(4)_input_packed), read in place by the GEMMs.
  const vLen = positions * (gemmPackedBLen(channels, maxTiles) + 16);
  const mLen = positions * (filters * maxTiles + 16);
  const padLen =
    Math.ceil((tile === 2 ? winogradPackedPadLen(tilesH, tilesW) : winograd4PadLen(tilesH, tilesW)) / 4) * 4;
  const scratchLen = vLen + mLen + padLen + gemmScratchLen(filters, maxTiles, channels);
  return step(residual === undefined ? [x] : [x, residual], [output], scratchLen, (b) => {
    const input = exportFn(
      b.exports,
      tile === 2 ? "conv_winograd_input_packed" : "conv_winograd4_input_packed",
    );
    const outputTransform = exportFn(
      b.exports,
      `${tile === 2 ? "conv_winograd_output" : "conv_winograd4_output"}${residual === undefined ? "" : "_res"}`,
    );
    const rp = residual === undefined ? 0 : b.ptr(residual);
    const gemm = exportFn(b.exports, "gemm_nn_prepacked_ab");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    const up = b.param(uRef);
    const bp = bRef === undefined ? 0 : b.param(bRef);
    const vp = b.scratchPtr;
    const mp = vp + vLen * 4;
    const padp = mp + mLen * 4;
    const gemmScratch = padp + padLen * 4;
    return () => {
      for (let n0 = 0; n0 < batch; n0 += chunk) {
        const images = Math.min(chunk, batch - n0);
        const tiles = images * perImage;
        const vStride = (gemmPackedBLen(channels, tiles) + 16) * 4;
        const mStride = (filters * tiles + 16) * 4;
        input(
          xp + n0 * channels * height * width * 4,
          images,
          channels,
          height,
          width,
          win.padTop,
          win.padLeft,
          tilesH,
          tilesW,
          vp,
          tiles,
          vStride / 4,
          padp,
        );
        for (let e = 0; e < positions; e++) {
          gemm(
            up + e * uPackedLen * 4,
            vp + e * vStride,
            mp + e * mStride,
            gemmScratch,
            filters,
            tiles,
            channels,
            tiles,
            1,
            0,
          );
        }
        outputTransform(
          mp,
          tiles,
          mStride / 4,
          filters,
          images,
          tilesH,
          tilesW,
          outH,
          outW,
          bp,
          act.code,
          act.a0,
          act.a1,
          yp + n0 * filters * outH * outW * 4,
          rp === 0 ? 0 : rp + n0 * filters * outH * outW * 4,
        );
      }
    };
  });
}

/** `count` row-major rows x k matrices stored back to back, each packed by ctx.packGemmA, back to back. */
function packGroups(
  ctx: LowerContext,
  a: Float32Array,
  count: number,
  rows: number,
  k: number,
): Float32Array {
  const packedLen = gemmPackedALen(rows, k);
  const out = new Float32Array(count * packedLen);
  for (let g = 0; g < count; g++) {
    out.set(ctx.packGemmA(a.subarray(g * rows * k, (g + 1) * rows * k), rows, k), g * packedLen);
  }
  return out;
}

/** A BatchNormalization that could not be folded into a conv: a per-channel affine step. */
export const lowerBatchNorm = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  if (!isInferenceBatchNorm(node)) {
    throw unsupported(
      node,
      "training-mode BatchNormalization (training_mode=1 or mean/var outputs) cannot run at inference; re-export with model.eval()",
    );
  }
  const x = inputName(ctx, 0);
  const dims = ctx.dims(x);
  if (dims.length < 2) throw unsupported(node, "its input needs a channel axis");
  const channels = dims[1]!;
  const ss = batchNormScaleShift(ctx, node, channels);
  if (ss === undefined)
    throw unsupported(node, `its scale, bias, mean and var must be constants of ${channels} values`);
  const scaleRef = ctx.param(ss.scale);
  const shiftRef = ctx.param(ss.shift);
  const { act, output } = fuseActivation(ctx, outputName(node, 0));
  const batch = dims[0]!;
  const plane = product(dims, 2);
  return step([x], [output], 0, (b) => {
    const affine = exportFn(b.exports, "norm_affine_channels");
    const actApply = exportFn(b.exports, "act_apply");
    const xp = b.ptr(x);
    const yp = b.ptr(output);
    const sp = b.param(scaleRef);
    const hp = b.param(shiftRef);
    return () => {
      affine(xp, yp, batch, channels, plane, sp, hp);
      if (act.code !== 0) actApply(yp, yp, batch * channels * plane, act.code, act.a0, act.a1);
    };
  });
};
