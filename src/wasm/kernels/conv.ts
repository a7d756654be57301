// Wrappers of assembly/conv.ts (im2col, depthwise, and their backward: col2im, depthwise input and
// weight gradients) and the array-level conv2d built on them and on the packed GEMM: groups = 1 as im2col + gemm (1x1 stride-1 unpadded convs as gemm on x directly),
// depthwise via conv_depthwise, other grouped convs as one im2col + gemm per group.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";
import { type Activation, activationCode } from "./act.ts";
import { gemmPackA, gemmPackedALen, gemmPackedBLen, gemmScratchLen } from "./gemm.ts";

/**
 * The window geometry of one NCHW image. Output pixel (oy, ox) and tap (i, j) read input pixel
 * iy = oy*strideH - padTop + i*dilationH, ix = ox*strideW - padLeft + j*dilationW (zero, or skipped,
 * outside the image). outH and outW are given, not derived: any value >= 0 is valid.
 */
export interface ConvWindow {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly outH: number;
  readonly outW: number;
}

const I32_MAX = 0x7fffffff;

function checkPositive(what: string, n: number): void {
  checkSize(what, n);
  if (n < 1) throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected an integer >= 1, got ${n}`);
}

/** Validate a window: sizes >= 0, kernel/stride/dilation >= 1, and every index the kernels form fits in i32. */
function checkWindow(what: string, g: ConvWindow): void {
  for (const key of ["channels", "height", "width", "padTop", "padLeft", "outH", "outW"] as const) {
    checkSize(`${what} ${key}`, g[key]);
  }
  for (const key of ["kernelH", "kernelW", "strideH", "strideW", "dilationH", "dilationW"] as const) {
    checkPositive(`${what} ${key}`, g[key]);
  }
  const reachH = Math.max(0, g.outH - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + g.padTop + g.height;
  const reachW = Math.max(0, g.outW - 1) * g.strideW + (g.kernelW - 1) * g.dilationW + g.padLeft + g.width;
  if (reachH > I32_MAX || reachW > I32_MAX) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: the window reaches ${Math.max(reachH, reachW)} pixels, beyond the int32 range of the kernels`,
    );
  }
}

/** Elements of the im2col matrix of one image: (channels*kernelH*kernelW) x (outH*outW). */
export function convIm2colLen(g: ConvWindow): number {
  return g.channels * g.kernelH * g.kernelW * g.outH * g.outW;
}

function windowArgs(g: ConvWindow): number[] {
  return [
    g.channels,
    g.height,
    g.width,
    g.kernelH,
    g.kernelW,
    g.strideH,
    g.strideW,
    g.padTop,
    g.padLeft,
    g.dilationH,
    g.dilationW,
    g.outH,
    g.outW,
  ];
}

/**
 * im2col on arena buffers (one WASM call): col[((c*kernelH + i)*kernelW + j)*outH*outW + oy*outW + ox]
 * = x[c, iy, ix], or 0 outside the image.
 * @param x at least channels x height x width elements (one image, or one group's channels of it).
 * @param col exactly `convIm2colLen(window)` elements; must not overlap x.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function convIm2colBuffers(w: Wasm, x: Buf, col: Buf, window: ConvWindow): void {
  checkWindow("convIm2col", window);
  const xLen = window.channels * window.height * window.width;
  if (x.length < xLen) checkLength("convIm2col x", x, xLen);
  checkLength("convIm2col col", col, convIm2colLen(window));
  w.arena.checkLive("convIm2col", x, col);
  kernel(w, "conv_im2col")(x.ptr, ...windowArgs(window), col.ptr);
}

/**
 * im2col of one image given as a JS array.
 * @param x channels x height x width.
 * @returns (channels*kernelH*kernelW) x (outH*outW), row-major.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length.
 * @example
 * // 1 channel 2x2, 2x2 kernel, pad 1 on top/left, 2x2 output: rows are taps, columns are pixels.
 * convIm2col(w, Float32Array.of(1, 2, 3, 4), { channels: 1, height: 2, width: 2, kernelH: 2, kernelW: 2,
 *   strideH: 1, strideW: 1, padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, outH: 2, outW: 2 });
 * // [0,0,0,1, 0,0,1,2, 0,1,0,3, 1,2,3,4]
 */
export function convIm2col(w: Wasm, x: Float32Array, window: ConvWindow): Float32Array {
  checkWindow("convIm2col", window);
  checkLength("convIm2col x", x, window.channels * window.height * window.width);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const col = arena.allocF32(convIm2colLen(window));
    convIm2colBuffers(w, xb, col, window);
    return arena.viewF32(col).slice();
  });
}

/** Floats of scratch `conv_tapsplit` needs (gathered pixels, one tap's products, the GEMM's scratch). */
export function convTapSplitScratchLen(channels: number, filters: number, ohw: number): number {
  return (
    4 * Math.ceil((channels * ohw) / 4) +
    4 * Math.ceil((filters * ohw) / 4) +
    gemmScratchLen(filters, ohw, channels)
  );
}

/**
 * Filters packed for conv_tapsplit: kernelH*kernelW blocks of gemmPackedALen(filters, channels) floats,
 * block i*kernelW + j the prepacked filters x channels matrix weight[:, :, i, j] (`pack` packs one
 * row-major matrix, e.g. gemmPackA or the engine's LowerContext.packGemmA).
 * @param weight filters x channels x kernelH x kernelW. @param taps when given, only these blocks are
 *   packed (the others stay 0: taps that reach no output pixel are never read).
 */
export function convTapSplitPackWeights(
  weight: Float32Array,
  filters: number,
  channels: number,
  kernelH: number,
  kernelW: number,
  pack: (a: Float32Array, m: number, k: number) => Float32Array,
  taps?: readonly number[],
): Float32Array {
  checkLength("convTapSplitPackWeights weight", weight, filters * channels * kernelH * kernelW);
  const taps2 = kernelH * kernelW;
  const block = gemmPackedALen(filters, channels);
  const out = new Float32Array(taps2 * block);
  const a = new Float32Array(filters * channels);
  for (const t of taps ?? Array.from({ length: taps2 }, (_, q) => q)) {
    for (let f = 0; f < filters; f++) {
      for (let c = 0; c < channels; c++) a[f * channels + c] = weight[(f * channels + c) * taps2 + t]!;
    }
    out.set(pack(a, filters, channels), t * block);
  }
  return out;
}

/**
 * Per kernel tap (index i*kernelW + j), how many output pixels it reaches inside the image (its row of the
 * im2col matrix without the padding): the tap-split conv's GEMM width for that tap.
 */
export function convTapPixels(g: ConvWindow): number[] {
  const inside = (off: number, stride: number, len: number, count: number) => {
    let c = 0;
    for (let o = 0; o < count; o++) if (o * stride + off >= 0 && o * stride + off < len) c++;
    return c;
  };
  const pixels: number[] = [];
  for (let i = 0; i < g.kernelH; i++) {
    const rows = inside(i * g.dilationH - g.padTop, g.strideH, g.height, g.outH);
    for (let j = 0; j < g.kernelW; j++) {
      pixels.push(rows * inside(j * g.dilationW - g.padLeft, g.strideW, g.width, g.outW));
    }
  }
  return pixels;
}

/** The kernel taps (i*kernelW + j) that reach at least one output pixel inside the image. */
export function convTapsInside(g: ConvWindow): number[] {
  return convTapPixels(g).flatMap((n, t) => (n > 0 ? [t] : []));
}

/**
 * Tap-split convolution of one image, one group (conv_tapsplit): y (filters x outH x outW) = the sum over
 * the kernel's taps in order of W_ij times the input pixels the tap reaches, the padding skipped (each tap
 * one GEMM on only its output pixels), no bias. Not bit-identical to im2col + GEMM (another summation
 * order); bit-exact with the reference convTapSplit in the default build.
 * @param x channels x height x width. @param weight filters x channels x kernelH x kernelW.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window, size or length.
 * @example
 * // 1 channel 2x2 of ones, one 3x3 filter of ones, pad 1: each output pixel sums its 4 in-image taps.
 * convTapSplit(w, new Float32Array(4).fill(1), new Float32Array(9).fill(1), { channels: 1, height: 2,
 *   width: 2, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, dilationH: 1,
 *   dilationW: 1, outH: 2, outW: 2 }, 1); // [4, 4, 4, 4]
 */
export function convTapSplit(
  w: Wasm,
  x: Float32Array,
  weight: Float32Array,
  window: ConvWindow,
  filters: number,
): Float32Array {
  checkWindow("convTapSplit", window);
  checkPositive("convTapSplit filters", filters);
  for (const key of ["channels", "outH", "outW"] as const) checkPositive(`convTapSplit ${key}`, window[key]);
  checkLength("convTapSplit x", x, window.channels * window.height * window.width);
  const packed = convTapSplitPackWeights(
    weight,
    filters,
    window.channels,
    window.kernelH,
    window.kernelW,
    (a, m, k) => gemmPackA(w, { m, k }, a),
  );
  const ohw = window.outH * window.outW;
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const wb = arena.copyInF32(packed);
    const yb = arena.allocF32(filters * ohw);
    const scratch = arena.allocF32(convTapSplitScratchLen(window.channels, filters, ohw));
    kernel(w, "conv_tapsplit")(xb.ptr, ...windowArgs(window), wb.ptr, filters, yb.ptr, scratch.ptr);
    return arena.viewF32(yb).slice();
  });
}

/**
 * Depthwise convolution of one image on arena buffers (one WASM call), no bias:
 * y[c, oy, ox] = sum over in-image taps (i ascending, then j) of weight[c, i, j] * x[c, iy, ix], in f32.
 * @param x channels x height x width. @param weight channels x kernelH x kernelW.
 * @param y channels x outH x outW; must not overlap x or weight.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window, length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function convDepthwiseBuffers(w: Wasm, x: Buf, weight: Buf, y: Buf, window: ConvWindow): void {
  checkWindow("convDepthwise", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwise x", x, channels * height * width);
  checkLength("convDepthwise weight", weight, channels * kernelH * kernelW);
  checkLength("convDepthwise y", y, channels * outH * outW);
  if (overlaps(y, x) || overlaps(y, weight)) {
    throw new PrunekitError("INVALID_ARGUMENT", "convDepthwise: y must not overlap x or weight");
  }
  w.arena.checkLive("convDepthwise", x, weight, y);
  kernel(w, "conv_depthwise")(x.ptr, weight.ptr, y.ptr, ...windowArgs(window));
}

/**
 * Depthwise convolution of one image given as JS arrays, no bias.
 * @param x channels x height x width. @param weight channels x kernelH x kernelW.
 * @returns channels x outH x outW.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length.
 * @example
 * // One 3x3 channel of ones, 3x3 kernel of ones, pad 1: each output counts its in-image taps.
 * convDepthwise(w, new Float32Array(9).fill(1), new Float32Array(9).fill(1), { channels: 1, height: 3,
 *   width: 3, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, dilationH: 1,
 *   dilationW: 1, outH: 3, outW: 3 }); // [4,6,4, 6,9,6, 4,6,4]
 */
export function convDepthwise(
  w: Wasm,
  x: Float32Array,
  weight: Float32Array,
  window: ConvWindow,
): Float32Array {
  checkWindow("convDepthwise", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwise x", x, channels * height * width);
  checkLength("convDepthwise weight", weight, channels * kernelH * kernelW);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const wb = arena.copyInF32(weight);
    const yb = arena.allocF32(channels * outH * outW);
    convDepthwiseBuffers(w, xb, wb, yb, window);
    return arena.viewF32(yb).slice();
  });
}

/**
 * col2im on arena buffers (one WASM call), the adjoint of convIm2colBuffers with the same window:
 * x[c, iy, ix] += every col entry that im2col would have copied from x[c, iy, ix] (padding entries
 * are dropped), each element summing its terms in (i, j, oy, ox) order. ACCUMULATES into x: zero it
 * first for a plain col2im. With dcol = W^T dy it gives the input gradient of a conv.
 * @param col exactly `convIm2colLen(window)` elements, (channels*kernelH*kernelW) x (outH*outW).
 * @param x at least channels x height x width elements (one image, or one group's channels of it);
 *   must not overlap col.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window, length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function convCol2imBuffers(w: Wasm, col: Buf, x: Buf, window: ConvWindow): void {
  checkWindow("convCol2im", window);
  const xLen = window.channels * window.height * window.width;
  if (x.length < xLen) checkLength("convCol2im x", x, xLen);
  checkLength("convCol2im col", col, convIm2colLen(window));
  if (overlaps({ ptr: x.ptr, length: xLen }, col)) {
    throw new PrunekitError("INVALID_ARGUMENT", "convCol2im: x must not overlap col");
  }
  w.arena.checkLive("convCol2im", col, x);
  kernel(w, "conv_col2im")(col.ptr, ...windowArgs(window), x.ptr);
}

/**
 * col2im of one image given as a JS array: the adjoint of `convIm2col`, into a zeroed image.
 * @param col (channels*kernelH*kernelW) x (outH*outW), row-major.
 * @returns channels x height x width.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length.
 * @example
 * // 1 channel 2x2, 2x2 kernel, pad 1 on top/left, 2x2 output: each pixel sums the entries copied from it.
 * convCol2im(w, new Float32Array(16).fill(1), { channels: 1, height: 2, width: 2, kernelH: 2, kernelW: 2,
 *   strideH: 1, strideW: 1, padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, outH: 2, outW: 2 });
 * // [4, 2, 2, 1]
 */
export function convCol2im(w: Wasm, col: Float32Array, window: ConvWindow): Float32Array {
  checkWindow("convCol2im", window);
  checkLength("convCol2im col", col, convIm2colLen(window));
  return withArena(w, (arena) => {
    const cb = arena.copyInF32(col);
    const xb = arena.allocF32(window.channels * window.height * window.width);
    arena.viewF32(xb).fill(0);
    convCol2imBuffers(w, cb, xb, window);
    return arena.viewF32(xb).slice();
  });
}

/**
 * Input gradient of a depthwise convolution of one image on arena buffers (one WASM call):
 * dx[c, iy, ix] = sum over the taps and outputs that read x[c, iy, ix] of weight[c, i, j] * dy[c, oy, ox]
 * (f32, terms in (i, j) order). dx is overwritten.
 * @param dy channels x outH x outW. @param weight channels x kernelH x kernelW.
 * @param dx channels x height x width; must not overlap dy or weight.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window, length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function convDepthwiseGradInputBuffers(
  w: Wasm,
  dy: Buf,
  weight: Buf,
  dx: Buf,
  window: ConvWindow,
): void {
  checkWindow("convDepthwiseGradInput", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwiseGradInput dy", dy, channels * outH * outW);
  checkLength("convDepthwiseGradInput weight", weight, channels * kernelH * kernelW);
  checkLength("convDepthwiseGradInput dx", dx, channels * height * width);
  if (overlaps(dx, dy) || overlaps(dx, weight)) {
    throw new PrunekitError("INVALID_ARGUMENT", "convDepthwiseGradInput: dx must not overlap dy or weight");
  }
  w.arena.checkLive("convDepthwiseGradInput", dy, weight, dx);
  kernel(w, "conv_depthwise_grad_input")(dy.ptr, weight.ptr, dx.ptr, ...windowArgs(window));
}

/**
 * Input gradient of a depthwise convolution of one image given as JS arrays.
 * @param dy channels x outH x outW. @param weight channels x kernelH x kernelW.
 * @returns dx, channels x height x width.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length.
 * @example
 * // One 3x3 channel, 3x3 kernel of ones, pad 1, dy of ones: each pixel counts the outputs that read it.
 * convDepthwiseGradInput(w, new Float32Array(9).fill(1), new Float32Array(9).fill(1), { channels: 1,
 *   height: 3, width: 3, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1,
 *   dilationH: 1, dilationW: 1, outH: 3, outW: 3 }); // [4,6,4, 6,9,6, 4,6,4]
 */
export function convDepthwiseGradInput(
  w: Wasm,
  dy: Float32Array,
  weight: Float32Array,
  window: ConvWindow,
): Float32Array {
  checkWindow("convDepthwiseGradInput", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwiseGradInput dy", dy, channels * outH * outW);
  checkLength("convDepthwiseGradInput weight", weight, channels * kernelH * kernelW);
  return withArena(w, (arena) => {
    const dyb = arena.copyInF32(dy);
    const wb = arena.copyInF32(weight);
    const dxb = arena.allocF32(channels * height * width);
    convDepthwiseGradInputBuffers(w, dyb, wb, dxb, window);
    return arena.viewF32(dxb).slice();
  });
}

/**
 * Weight gradient of a depthwise convolution of one image on arena buffers (one WASM call),
 * ACCUMULATED: dw[c, i, j] += sum over in-image (oy, ox) of x[c, iy, ix] * dy[c, oy, ox] (f32), so one
 * call per image sums over the batch; zero dw first.
 * @param x channels x height x width. @param dy channels x outH x outW.
 * @param dw channels x kernelH x kernelW; must not overlap x or dy.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window, length or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function convDepthwiseGradWeightBuffers(w: Wasm, x: Buf, dy: Buf, dw: Buf, window: ConvWindow): void {
  checkWindow("convDepthwiseGradWeight", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwiseGradWeight x", x, channels * height * width);
  checkLength("convDepthwiseGradWeight dy", dy, channels * outH * outW);
  checkLength("convDepthwiseGradWeight dw", dw, channels * kernelH * kernelW);
  if (overlaps(dw, x) || overlaps(dw, dy)) {
    throw new PrunekitError("INVALID_ARGUMENT", "convDepthwiseGradWeight: dw must not overlap x or dy");
  }
  w.arena.checkLive("convDepthwiseGradWeight", x, dy, dw);
  kernel(w, "conv_depthwise_grad_weight")(x.ptr, dy.ptr, dw.ptr, ...windowArgs(window));
}

/**
 * Weight gradient of a depthwise convolution of one image given as JS arrays (from zero).
 * @param x channels x height x width. @param dy channels x outH x outW.
 * @returns dw, channels x kernelH x kernelW.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad window or length.
 * @example
 * // A 2x2 image 1..4, 1x1 kernel, dy of ones: dw is the sum of the image.
 * convDepthwiseGradWeight(w, Float32Array.of(1, 2, 3, 4), new Float32Array(4).fill(1), { channels: 1,
 *   height: 2, width: 2, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0,
 *   dilationH: 1, dilationW: 1, outH: 2, outW: 2 }); // [10]
 */
export function convDepthwiseGradWeight(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  window: ConvWindow,
): Float32Array {
  checkWindow("convDepthwiseGradWeight", window);
  const { channels, height, width, kernelH, kernelW, outH, outW } = window;
  checkLength("convDepthwiseGradWeight x", x, channels * height * width);
  checkLength("convDepthwiseGradWeight dy", dy, channels * outH * outW);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const dyb = arena.copyInF32(dy);
    const dwb = arena.allocF32(channels * kernelH * kernelW);
    arena.viewF32(dwb).fill(0);
    convDepthwiseGradWeightBuffers(w, xb, dyb, dwb, window);
    return arena.viewF32(dwb).slice();
  });
}

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

/** A 2-D convolution as ONNX Conv defines it: NCHW input, OIHW weights (outChannels x channels/groups x kernelH x kernelW). */
export interface Conv2dSpec {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly outChannels: number;
  readonly kernelH: number;
  readonly kernelW: number;
  /** [strideH, strideW]; default [1, 1]. */
  readonly strides?: readonly [number, number];
  /** [top, left, bottom, right] (ONNX order: begins, then ends); default zeros. */
  readonly pads?: readonly [number, number, number, number];
  /** [dilationH, dilationW]; default [1, 1]. */
  readonly dilations?: readonly [number, number];
  /** Divides channels and outChannels; default 1. */
  readonly groups?: number;
}

/**
 * Output length along one axis (ONNX Conv, explicit pads):
 * floor((len + padBegin + padEnd - dilation*(kernel - 1) - 1) / stride) + 1.
 * May be <= 0 when the dilated kernel does not fit the padded input.
 */
export function convOutputLen(
  len: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
): number {
  return Math.floor((len + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** A validated Conv2dSpec with the defaults filled in and the output size derived. */
interface ResolvedConv2d {
  readonly batch: number;
  readonly channels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly height: number;
  readonly width: number;
  readonly outH: number;
  readonly outW: number;
  /** The window of one group: channels = channels/groups. */
  readonly window: ConvWindow;
}

function resolveConv2d(spec: Conv2dSpec): ResolvedConv2d {
  const what = "conv2d";
  const { batch, channels, height, width, outChannels, kernelH, kernelW } = spec;
  const [strideH, strideW] = spec.strides ?? [1, 1];
  const [padTop, padLeft, padBottom, padRight] = spec.pads ?? [0, 0, 0, 0];
  const [dilationH, dilationW] = spec.dilations ?? [1, 1];
  const groups = spec.groups ?? 1;
  checkSize(`${what} batch`, batch);
  checkSize(`${what} channels`, channels);
  checkSize(`${what} height`, height);
  checkSize(`${what} width`, width);
  checkSize(`${what} outChannels`, outChannels);
  checkPositive(`${what} groups`, groups);
  checkPositive(`${what} kernelH`, kernelH);
  checkPositive(`${what} kernelW`, kernelW);
  checkPositive(`${what} strideH (strides[0])`, strideH);
  checkPositive(`${what} strideW (strides[1])`, strideW);
  checkPositive(`${what} dilationH (dilations[0])`, dilationH);
  checkPositive(`${what} dilationW (dilations[1])`, dilationW);
  checkSize(`${what} padTop (pads[0])`, padTop);
  checkSize(`${what} padLeft (pads[1])`, padLeft);
  checkSize(`${what} pads[2] (bottom)`, padBottom);
  checkSize(`${what} pads[3] (right)`, padRight);
  if (channels % groups !== 0 || outChannels % groups !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: groups ${groups} must divide channels ${channels} and outChannels ${outChannels}`,
    );
  }
  const outH = convOutputLen(height, kernelH, strideH, padTop, padBottom, dilationH);
  const outW = convOutputLen(width, kernelW, strideW, padLeft, padRight, dilationW);
  const window: ConvWindow = {
    channels: channels / groups,
    height,
    width,
    kernelH,
    kernelW,
    strideH,
    strideW,
    padTop,
    padLeft,
    dilationH,
    dilationW,
    outH: Math.max(outH, 0),
    outW: Math.max(outW, 0),
  };
  checkWindow(what, window);
  if (outH < 1 || outW < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: the dilated ${kernelH}x${kernelW} kernel does not fit the padded ${height}x${width} input (output ${outH}x${outW}); use smaller dilations or more padding`,
    );
  }
  return { batch, channels, outChannels, groups, height, width, outH, outW, window };
}

/** Output shape [batch, outChannels, outH, outW] of a conv2d. @throws PrunekitError `INVALID_ARGUMENT` on a bad spec. */
export function conv2dOutputShape(spec: Conv2dSpec): [number, number, number, number] {
  const r = resolveConv2d(spec);
  return [r.batch, r.outChannels, r.outH, r.outW];
}

/**
 * A full 2-D convolution (ONNX Conv) of a batch given as JS arrays, with optional bias.
 *
 * Paths: depthwise (groups = channels = outChannels) runs conv_depthwise per image; groups = 1
 * runs im2col + gemm_nn per image, except 1x1 stride-1 unpadded kernels, which run gemm_nn on the
 * image directly; any other grouping runs im2col + gemm_nn per image and group on the group's
 * channel block. The bias is added afterwards by norm_affine_channels (scale 1).
 *
 * @param x batch x channels x height x width. @param weight outChannels x channels/groups x kernelH x kernelW.
 * @param bias outChannels values, or undefined for none.
 * @returns batch x outChannels x outH x outW (see `conv2dOutputShape`).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad spec or array length.
 * @example
 * // 3x3 image 1..9, one 2x2 filter of ones, no padding: sums of each 2x2 block.
 * conv2d(w, { batch: 1, channels: 1, height: 3, width: 3, outChannels: 1, kernelH: 2, kernelW: 2 },
 *   Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9), new Float32Array(4).fill(1)); // [12, 16, 24, 28]
 */
export function conv2d(
  w: Wasm,
  spec: Conv2dSpec,
  x: Float32Array,
  weight: Float32Array,
  bias?: Float32Array,
): Float32Array {
  const r = resolveConv2d(spec);
  const { batch, channels, outChannels, groups, height, width, outH, outW, window } = r;
  const cPerGroup = window.channels;
  const mPerGroup = outChannels / groups;
  const depth = cPerGroup * window.kernelH * window.kernelW; // K of each GEMM
  const pixels = outH * outW; // N of each GEMM
  checkLength("conv2d x", x, batch * channels * height * width);
  checkLength("conv2d weight", weight, outChannels * depth);
  if (bias !== undefined) checkLength("conv2d bias", bias, outChannels);
  const inImage = channels * height * width * 4; // bytes
  const outImage = outChannels * pixels * 4;
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const wb = arena.copyInF32(weight);
    const yb = arena.allocF32(batch * outChannels * pixels);
    if (groups > 1 && groups === channels && groups === outChannels) {
      const depthwise = kernel(w, "conv_depthwise");
      const args = windowArgs({ ...window, channels }); // one depthwise call covers every channel
      for (let n = 0; n < batch; n++) depthwise(xb.ptr + n * inImage, wb.ptr, yb.ptr + n * outImage, ...args);
    } else {
      const gemmNN = kernel(w, "gemm_nn");
      const scratch = arena.allocF32(gemmScratchLen(mPerGroup, pixels, depth));
      const g = window;
      const direct =
        groups === 1 &&
        g.kernelH === 1 &&
        g.kernelW === 1 &&
        g.strideH === 1 &&
        g.strideW === 1 &&
        g.padTop === 0 &&
        g.padLeft === 0 &&
        outH === height &&
        outW === width;
      if (direct) {
        // A 1x1 unpadded stride-1 conv is Y (M x HW) = W (M x C) * X (C x HW): X is already the col matrix.
        for (let n = 0; n < batch; n++) {
          gemmNN(
            wb.ptr,
            xb.ptr + n * inImage,
            yb.ptr + n * outImage,
            scratch.ptr,
            outChannels,
            pixels,
            channels,
            channels,
            pixels,
            pixels,
            1,
            0,
          );
        }
      } else {
        const im2col = kernel(w, "conv_im2col");
        const col = arena.allocF32(depth * pixels);
        const args = windowArgs(window);
        const groupIn = cPerGroup * height * width * 4;
        const groupWeight = mPerGroup * depth * 4;
        const groupOut = mPerGroup * pixels * 4;
        for (let n = 0; n < batch; n++) {
          for (let grp = 0; grp < groups; grp++) {
            im2col(xb.ptr + n * inImage + grp * groupIn, ...args, col.ptr);
            gemmNN(
              wb.ptr + grp * groupWeight,
              col.ptr,
              yb.ptr + n * outImage + grp * groupOut,
              scratch.ptr,
              mPerGroup,
              pixels,
              depth,
              depth,
              pixels,
              pixels,
              1,
              0,
            );
          }
        }
      }
    }
    if (bias !== undefined) {
      const ones = arena.copyInF32(new Float32Array(outChannels).fill(1));
      const shift = arena.copyInF32(bias);
      kernel(w, "norm_affine_channels")(yb.ptr, yb.ptr, batch, outChannels, pixels, ones.ptr, shift.ptr);
    }
    return arena.viewF32(yb).slice();
  });
}

/**
 * The tiling of a Winograd F(2x2, 3x3) convolution (3x3 kernel, stride 1, dilation 1, one group) of
 * `images` NCHW images: 2x2 output tiles, tilesH = ceil(outH/2) by tilesW = ceil(outW/2) per image.
 */
export interface WinogradTiles {
  /**
   * Elements from one transform position's block to the next in v / m (default channels (or filters)
   * times tiles, packed); a few more keep the kernels' 16 streams off the same cache sets.
   */
  readonly eLen?: number;
  readonly images: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly outH: number;
  readonly outW: number;
}

/** Tiles of all images: images * ceil(outH/2) * ceil(outW/2). */
export function winogradTileCount(g: WinogradTiles): number {
  return g.images * Math.ceil(g.outH / 2) * Math.ceil(g.outW / 2);
}

/** F(4x4, 3x3) tiles of all images: images * ceil(outH/4) * ceil(outW/4). */
export function winograd4TileCount(g: WinogradTiles): number {
  return g.images * Math.ceil(g.outH / 4) * Math.ceil(g.outW / 4);
}

function checkTiles(what: string, g: WinogradTiles, variant: 2 | 4 = 2): void {
  for (const key of ["images", "channels", "height", "width", "padTop", "padLeft", "outH", "outW"] as const) {
    checkSize(`${what} ${key}`, g[key]);
  }
  const count = variant === 2 ? winogradTileCount(g) : winograd4TileCount(g);
  const eLen = g.eLen ?? g.channels * count;
  checkSize(`${what} eLen`, eLen);
  if (eLen < g.channels * count) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: eLen ${eLen} is less than ${g.channels} x ${count} tiles`,
    );
  }
  const len = (variant === 2 ? 16 : 36) * eLen;
  if (len > I32_MAX || g.images * g.channels * g.height * g.width > I32_MAX) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: ${len} transformed values exceed the int32 range`);
  }
}

/**
 * Winograd F(2x2, 3x3) input transform of JS arrays (assembly/conv.ts, conv_winograd_input).
 * @param x images x channels x height x width.
 * @param options padded (default true): through a zero-padded copy of each plane (the engine's path);
 *   false: the bounds-checked border tiles. Same bits.
 * @returns 16 blocks of channels x tiles, eLen apart: v[e*eLen + c*tiles + t] = (B^T d B)[e] of tile t's
 *   4x4 patch of channel c (elements between blocks are left 0).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or length.
 * @example
 * // One 4x4 channel, no pad, one 2x2 output tile: v[5] = (x5 + x9) + (x6 + x10) (rows first).
 * convWinogradInput(w, new Float32Array(16).map((_, i) => i), { images: 1, channels: 1, height: 4,
 *   width: 4, padTop: 0, padLeft: 0, outH: 2, outW: 2 })[5]; // 30
 */
/**
 * f32 elements of the padded-plane scratch of the Winograd input transform (conv_winograd_input's padPtr):
 * (2 * tilesH + 2) * (2 * tilesW + 2), the window of one plane that the tiles read.
 */
export function winogradPadLen(tilesH: number, tilesW: number): number {
  return (2 * tilesH + 2) * (2 * tilesW + 2);
}

export function convWinogradInput(
  w: Wasm,
  x: Float32Array,
  tiles: WinogradTiles,
  options: { readonly padded?: boolean } = {},
): Float32Array {
  checkTiles("convWinogradInput", tiles);
  const { images, channels, height, width, padTop, padLeft, outH, outW } = tiles;
  checkLength("convWinogradInput x", x, images * channels * height * width);
  const count = winogradTileCount(tiles);
  const eLen = tiles.eLen ?? channels * count;
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const vb = arena.allocF32(16 * eLen);
    arena.viewF32(vb).fill(0);
    const [tilesH, tilesW] = [Math.ceil(outH / 2), Math.ceil(outW / 2)];
    const pad = options.padded === false ? 0 : arena.allocF32(winogradPadLen(tilesH, tilesW)).ptr;
    kernel(w, "conv_winograd_input")(
      xb.ptr,
      images,
      channels,
      height,
      width,
      padTop,
      padLeft,
      tilesH,
      tilesW,
      vb.ptr,
      count,
      eLen,
      pad,
    );
    return arena.viewF32(vb).slice();
  });
}

/**
 * f32 elements of the scratch of the packed Winograd input transform (conv_winograd_input_packed's padPtr):
 * `winogradPadLen(tilesH, tilesW)` plus 64 for a group of four tiles that straddles a packed panel.
 */
export function winogradPackedPadLen(tilesH: number, tilesW: number): number {
  return winogradPadLen(tilesH, tilesW) + 64;
}

/**
 * The Winograd input transform of `convWinogradInput` with each of the 16 blocks laid out as `gemmPackB`
 * lays out the channels x tiles matrix (8-tile panels, K slices of at most 512 channels), so that the GEMMs
 * read it in place (assembly/conv.ts, conv_winograd_input_packed). Same values, same bits.
 * @param x images x channels x height x width.
 * @returns 16 blocks of `gemmPackedBLen(channels, tiles)` elements, eLen apart (default that length; padded
 *   columns and elements between blocks are 0).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or length.
 * @example
 * const v = convWinogradInputPacked(w, x, { images: 1, channels: 16, height: 32, width: 32, padTop: 1,
 *   padLeft: 1, outH: 32, outW: 32 }); // 16 blocks of 16 x 256, each as gemmPackB(w, { k: 16, n: 256 }, ...)
 */
export function convWinogradInputPacked(w: Wasm, x: Float32Array, tiles: WinogradTiles): Float32Array {
  const { images, channels, height, width, padTop, padLeft, outH, outW } = tiles;
  const count = winogradTileCount(tiles);
  const blockLen = gemmPackedBLen(channels, count);
  const eLen = tiles.eLen ?? blockLen;
  checkTiles("convWinogradInputPacked", { ...tiles, eLen });
  if (eLen < blockLen) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `convWinogradInputPacked: eLen ${eLen} is less than the packed block of ${channels} x ${count} tiles (${blockLen})`,
    );
  }
  checkLength("convWinogradInputPacked x", x, images * channels * height * width);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const vb = arena.allocF32(16 * eLen);
    arena.viewF32(vb).fill(0);
    const [tilesH, tilesW] = [Math.ceil(outH / 2), Math.ceil(outW / 2)];
    const pad = arena.allocF32(winogradPackedPadLen(tilesH, tilesW));
    kernel(w, "conv_winograd_input_packed")(
      xb.ptr,
      images,
      channels,
      height,
      width,
      padTop,
      padLeft,
      tilesH,
      tilesW,
      vb.ptr,
      count,
      eLen,
      pad.ptr,
    );
    return arena.viewF32(vb).slice();
  });
}

/**
 * Winograd F(2x2, 3x3) output transform with bias and activation, of JS arrays (conv_winograd_output):
 * y = act(A^T m A + bias[f]) per filter and tile, or with a residual act((A^T m A + bias[f]) + r)
 * (conv_winograd_output_res: the Add after the conv, fused).
 * @param m 16 blocks of filters x tiles, eLen apart (the 16 GEMM products). @param bias filters values,
 *   or undefined. @param residual images x filters x outH x outW values, or undefined.
 * @returns images x filters x outH x outW.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, length or activation.
 * @example
 * // One tile whose 16 products are all 1: Y = A^T 1 A = [[9, -3], [-3, 1]], then ReLU.
 * convWinogradOutput(w, new Float32Array(16).fill(1), { images: 1, channels: 1, height: 4, width: 4,
 *   padTop: 0, padLeft: 0, outH: 2, outW: 2 }, 1, undefined, { kind: "relu" }); // [9, 0, 0, 1]
 */
export function convWinogradOutput(
  w: Wasm,
  m: Float32Array,
  tiles: WinogradTiles,
  filters: number,
  bias: Float32Array | undefined,
  activation: Activation | undefined,
  residual?: Float32Array,
): Float32Array {
  checkTiles("convWinogradOutput", { ...tiles, channels: filters });
  return winogradOutput(
    w,
    "convWinogradOutput",
    2,
    winogradTileCount(tiles),
    m,
    tiles,
    filters,
    bias,
    activation,
    residual,
  );
}

/**
 * The Winograd F(2x2, 3x3) filter transform U = G g G^T (Lavin & Gray 2016, §4.1) of 3x3 filters, in f64
 * rounded once to f32, laid out for the 16 GEMMs: u[(e*filters + f)*channels + c], e = 4*row + col.
 * Plain TS: it runs once per conv, at compile time.
 * @param weight filters x channels x 3 x 3.
 * @returns 16 x filters x channels.
 * @throws PrunekitError `INVALID_ARGUMENT` when weight is not filters*channels*9 long.
 * @example
 * convWinogradFilter(Float32Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0), 1, 1);
 * // [0, 0, 0, 0,  0, 0.25, -0.25, 0,  0, -0.25, 0.25, 0,  0, 0, 0, 0]
 */
export function convWinogradFilter(weight: Float32Array, filters: number, channels: number): Float32Array {
  checkSize("convWinogradFilter filters", filters);
  checkSize("convWinogradFilter channels", channels);
  checkLength("convWinogradFilter weight", weight, filters * channels * 9);
  const gRow = (a: number, b: number, c: number): number[] => [a, (a + b + c) / 2, (a - b + c) / 2, c];
  return transformFilters(weight, filters, channels, 4, gRow);
}

/**
 * f32 elements of the scratch of the F(4x4, 3x3) input transform (conv_winograd4_input_packed's padPtr):
 * the padded plane (4 * tilesH + 2) * (4 * tilesW + 2) plus one row of tiles' half-transformed values,
 * max(36, 6 * (4 * tilesW + 4)).
 */
export function winograd4PadLen(tilesH: number, tilesW: number): number {
  return (4 * tilesH + 2) * (4 * tilesW + 2) + Math.max(36, 6 * (4 * tilesW + 4) * Math.max(1, tilesH));
}

/**
 * Winograd F(4x4, 3x3) input transform (Lavin & Gray 2016, §4.2) of JS arrays, written in the GEMM's packed-B
 * panels like `convWinogradInputPacked` (assembly/conv.ts, conv_winograd4_input_packed): 36 blocks of
 * channels x tiles (4x4 output tiles, 6x6 input patches), e = 6*row + col.
 * @param x images x channels x height x width.
 * @returns 36 blocks of `gemmPackedBLen(channels, tiles)` elements, eLen apart (default that length; padded
 *   columns and elements between blocks are 0).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or length.
 * @example
 * const v = convWinograd4InputPacked(w, x, { images: 1, channels: 16, height: 32, width: 32, padTop: 1,
 *   padLeft: 1, outH: 32, outW: 32 }); // 36 blocks of 16 x 64, each as gemmPackB(w, { k: 16, n: 64 }, ...)
 */
export function convWinograd4InputPacked(w: Wasm, x: Float32Array, tiles: WinogradTiles): Float32Array {
  const { images, channels, height, width, padTop, padLeft, outH, outW } = tiles;
  const count = winograd4TileCount(tiles);
  const blockLen = gemmPackedBLen(channels, count);
  const eLen = tiles.eLen ?? blockLen;
  checkTiles("convWinograd4InputPacked", { ...tiles, eLen }, 4);
  if (eLen < blockLen) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `convWinograd4InputPacked: eLen ${eLen} is less than the packed block of ${channels} x ${count} tiles (${blockLen})`,
    );
  }
  checkLength("convWinograd4InputPacked x", x, images * channels * height * width);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const vb = arena.allocF32(36 * eLen);
    arena.viewF32(vb).fill(0);
    const [tilesH, tilesW] = [Math.ceil(outH / 4), Math.ceil(outW / 4)];
    const pad = arena.allocF32(winograd4PadLen(tilesH, tilesW));
    kernel(w, "conv_winograd4_input_packed")(
      xb.ptr,
      images,
      channels,
      height,
      width,
      padTop,
      padLeft,
      tilesH,
      tilesW,
      vb.ptr,
      count,
      eLen,
      pad.ptr,
    );
    return arena.viewF32(vb).slice();
  });
}

/**
 * Winograd F(4x4, 3x3) output transform with bias and activation, of JS arrays (conv_winograd4_output):
 * y = act(A^T m A + bias[f]) per filter and 4x4 tile, or with a residual act((A^T m A + bias[f]) + r)
 * (conv_winograd4_output_res).
 * @param m 36 blocks of filters x tiles, eLen apart (the 36 GEMM products). @param bias filters values,
 *   or undefined. @param residual images x filters x outH x outW values, or undefined.
 * @returns images x filters x outH x outW.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, length or activation.
 * @example
 * // One tile whose 36 products are all 1: A^T 1 A = s s^T with s = (5, 0, 10, 1), the row sums of A^T.
 * convWinograd4Output(w, new Float32Array(36).fill(1), { images: 1, channels: 1, height: 4, width: 4,
 *   padTop: 0, padLeft: 0, outH: 4, outW: 4 }, 1, undefined, undefined); // [25, 0, 50, 5, 0, 0, 0, 0, 50, 0, 100, 10, 5, 0, 10, 1]
 */
export function convWinograd4Output(
  w: Wasm,
  m: Float32Array,
  tiles: WinogradTiles,
  filters: number,
  bias: Float32Array | undefined,
  activation: Activation | undefined,
  residual?: Float32Array,
): Float32Array {
  checkTiles("convWinograd4Output", { ...tiles, channels: filters }, 4);
  return winogradOutput(
    w,
    "convWinograd4Output",
    4,
    winograd4TileCount(tiles),
    m,
    tiles,
    filters,
    bias,
    activation,
    residual,
  );
}

/**
 * The output transform wrappers' shared body (tiles already checked): F(2x2) (`tile` 2, 16 positions,
 * conv_winograd_output) or F(4x4) (`tile` 4, 36 positions, conv_winograd4_output).
 */
function winogradOutput(
  w: Wasm,
  what: string,
  tile: 2 | 4,
  count: number,
  m: Float32Array,
  tiles: WinogradTiles,
  filters: number,
  bias: Float32Array | undefined,
  activation: Activation | undefined,
  residual: Float32Array | undefined,
): Float32Array {
  const { images, outH, outW } = tiles;
  const positions = (tile + 2) * (tile + 2);
  const eLen = tiles.eLen ?? filters * count;
  checkLength(`${what} m`, m, positions * eLen);
  if (bias !== undefined) checkLength(`${what} bias`, bias, filters);
  if (residual !== undefined) checkLength(`${what} residual`, residual, images * filters * outH * outW);
  const { act, a0, a1 } = activationCode(activation, what);
  return withArena(w, (arena) => {
    const mb = arena.copyInF32(m);
    const bb = bias === undefined ? undefined : arena.copyInF32(bias);
    const yb = arena.allocF32(images * filters * outH * outW);
    const rb = residual === undefined ? undefined : arena.copyInF32(residual);
    const name = tile === 2 ? "conv_winograd_output" : "conv_winograd4_output";
    kernel(w, rb === undefined ? name : `${name}_res`)(
      mb.ptr,
      count,
      eLen,
      filters,
      images,
      Math.ceil(outH / tile),
      Math.ceil(outW / tile),
      outH,
      outW,
      bb === undefined ? 0 : bb.ptr,
      act,
      a0,
      a1,
      yb.ptr,
      rb === undefined ? 0 : rb.ptr,
    );
    return arena.viewF32(yb).slice();
  });
}

/**
 * The Winograd F(4x4, 3x3) filter transform U = G g G^T (Lavin & Gray 2016, §4.2; points 0, ±1, ±2, ∞) of
 * 3x3 filters, in f64 rounded once to f32, laid out for the 36 GEMMs: u[(e*filters + f)*channels + c],
 * e = 6*row + col, G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
 * Plain TS: it runs once per conv, at compile time.
 * @param weight filters x channels x 3 x 3.
 * @returns 36 x filters x channels.
 * @throws PrunekitError `INVALID_ARGUMENT` when weight is not filters*channels*9 long.
 * @example
 * convWinograd4Filter(Float32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1), 1, 1)[35]; // 1 (g[2][2] * 1 * 1)
 */
export function convWinograd4Filter(weight: Float32Array, filters: number, channels: number): Float32Array {
  checkSize("convWinograd4Filter filters", filters);
  checkSize("convWinograd4Filter channels", channels);
  checkLength("convWinograd4Filter weight", weight, filters * channels * 9);
  const gRow = (a: number, b: number, c: number): number[] => [
    a / 4,
    -(a + b + c) / 6,
    -(a - b + c) / 6,
    a / 24 + b / 12 + c / 6,
    a / 24 - b / 12 + c / 6,
    c,
  ];
  return transformFilters(weight, filters, channels, 6, gRow);
}

/**
 * U = G g G^T for every filter and channel, G given by `gRow` (G times one kernel column, in f64), with
 * `alpha` rows: u[(e*filters + f)*channels + c], e = alpha*row + col, rounded once to f32.
 */
function transformFilters(
  weight: Float32Array,
  filters: number,
  channels: number,
  alpha: number,
  gRow: (a: number, b: number, c: number) => number[],
): Float32Array {
  const u = new Float32Array(alpha * alpha * filters * channels);
  for (let f = 0; f < filters; f++) {
    for (let c = 0; c < channels; c++) {
      const g = (i: number, j: number) => weight[(f * channels + c) * 9 + 3 * i + j]!;
      // G g: alpha x 3, column j = gRow of the kernel's column j; then (G g) G^T row by row.
      const cols = [0, 1, 2].map((j) => gRow(g(0, j), g(1, j), g(2, j)));
      for (let i = 0; i < alpha; i++) {
        const row = gRow(cols[0]![i]!, cols[1]![i]!, cols[2]![i]!);
        for (let j = 0; j < alpha; j++) u[((alpha * i + j) * filters + f) * channels + c] = row[j]!;
      }
    }
  }
  return u;
}
