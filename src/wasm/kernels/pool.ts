// Wrappers of assembly/pool.ts: MaxPool, AveragePool and global pooling over N*C planes in one call,
// and their backward.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

/**
 * One 2-D pooling call over `planes` = N*C planes of height x width (NCHW, row-major). Window position
 * (kh, kw) of output (oh, ow) is input (oh*strideH - padTop + kh*dilationH, ow*strideW - padLeft +
 * kw*dilationW); positions outside the image are padding and never read.
 */
export interface Pool2dSpec {
  readonly planes: number;
  readonly height: number;
  readonly width: number;
  readonly kernelH: number;
  readonly kernelW: number;
  /** Default 1. */
  readonly strideH?: number;
  /** Default 1. */
  readonly strideW?: number;
  /** Default 0. */
  readonly padTop?: number;
  /** Default 0. */
  readonly padLeft?: number;
  /** Default 0. Only sizes the output (and the count_include_pad divisor). */
  readonly padBottom?: number;
  /** Default 0. Only sizes the output (and the count_include_pad divisor). */
  readonly padRight?: number;
  /** Default 1 (MaxPool only: AveragePool refuses another value). */
  readonly dilationH?: number;
  /** Default 1 (MaxPool only). */
  readonly dilationW?: number;
  /**
   * Output rows; default the ONNX floor formula
   * floor((height + padTop + padBottom - dilationH*(kernelH-1) - 1) / strideH) + 1.
   */
  readonly outH?: number;
  /** Output columns; default as outH. */
  readonly outW?: number;
}

/** A Pool2dSpec with every default filled in. */
export interface ResolvedPool2d {
  readonly planes: number;
  readonly height: number;
  readonly width: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly padBottom: number;
  readonly padRight: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly outH: number;
  readonly outW: number;
}

function positive(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected a positive integer, got ${n}`);
  }
}

/** ONNX floor output size; 0 when the window does not fit even once. */
function floorOut(
  len: number,
  padBegin: number,
  padEnd: number,
  kernel: number,
  stride: number,
  dilation: number,
): number {
  const room = len + padBegin + padEnd - dilation * (kernel - 1) - 1;
  return room < 0 ? 0 : Math.floor(room / stride) + 1;
}

/**
 * Fill in the defaults of a pooling spec and check every size.
 * @throws PrunekitError `INVALID_ARGUMENT` naming the bad field.
 * @example
 * resolvePool2d("maxPool", { planes: 1, height: 4, width: 4, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2 }).outH; // 2
 */
export function resolvePool2d(what: string, spec: Pool2dSpec): ResolvedPool2d {
  const r = {
    planes: spec.planes,
    height: spec.height,
    width: spec.width,
    kernelH: spec.kernelH,
    kernelW: spec.kernelW,
    strideH: spec.strideH ?? 1,
    strideW: spec.strideW ?? 1,
    padTop: spec.padTop ?? 0,
    padLeft: spec.padLeft ?? 0,
    padBottom: spec.padBottom ?? 0,
    padRight: spec.padRight ?? 0,
    dilationH: spec.dilationH ?? 1,
    dilationW: spec.dilationW ?? 1,
  };
  for (const k of ["planes", "height", "width", "padTop", "padLeft", "padBottom", "padRight"] as const) {
    checkSize(`${what} ${k}`, r[k]);
  }
  for (const k of ["kernelH", "kernelW", "strideH", "strideW", "dilationH", "dilationW"] as const) {
    positive(`${what} ${k}`, r[k]);
  }
  const outH = spec.outH ?? floorOut(r.height, r.padTop, r.padBottom, r.kernelH, r.strideH, r.dilationH);
  const outW = spec.outW ?? floorOut(r.width, r.padLeft, r.padRight, r.kernelW, r.strideW, r.dilationW);
  checkSize(`${what} outH`, outH);
  checkSize(`${what} outW`, outW);
  // Keep every index computation of the kernel inside int32.
  const reach = (out: number, stride: number, kernel: number, dilation: number, len: number, pad: number) =>
    out * stride + kernel * dilation + len + pad;
  if (
    reach(outH, r.strideH, r.kernelH, r.dilationH, r.height, r.padTop) > 0x7fffffff ||
    reach(outW, r.strideW, r.kernelW, r.dilationW, r.width, r.padLeft) > 0x7fffffff
  ) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: the window positions overflow int32`);
  }
  return { ...r, outH, outW };
}

/**
 * MaxPool on arena buffers: the maximum over the in-image window positions (padding never wins; a
 * window with none gives -Inf).
 * @param x planes*height*width f32. @param y planes*outH*outW f32 (no overlap with x).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function poolMax2dBuffers(w: Wasm, x: Buf, y: Buf, spec: Pool2dSpec): ResolvedPool2d {
  const s = resolvePool2d("poolMax2dBuffers", spec);
  checkLength("poolMax2dBuffers x", x, s.planes * s.height * s.width);
  checkLength("poolMax2dBuffers y", y, s.planes * s.outH * s.outW);
  w.arena.checkLive("poolMax2dBuffers", x, y);
  kernel(w, "pool_max_2d")(
    x.ptr,
    y.ptr,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.dilationH,
    s.dilationW,
    s.outH,
    s.outW,
  );
  return s;
}

/**
 * AveragePool on arena buffers: the in-image values summed (kh ascending, then kw) and divided once by
 * the in-image count, or with `countIncludePad` by the count of positions inside the padded input
 * (positions past the pads, from ceil mode, are not counted).
 * @param x planes*height*width f32. @param y planes*outH*outW f32 (no overlap with x).
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or a dilation other than 1; `ARENA_MISUSE`.
 */
export function poolAvg2dBuffers(
  w: Wasm,
  x: Buf,
  y: Buf,
  spec: Pool2dSpec,
  countIncludePad: boolean,
): ResolvedPool2d {
  const s = resolvePool2d("poolAvg2dBuffers", spec);
  if (s.dilationH !== 1 || s.dilationW !== 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `poolAvg2dBuffers: dilation ${s.dilationH} x ${s.dilationW} is not supported; expected 1 x 1`,
    );
  }
  checkLength("poolAvg2dBuffers x", x, s.planes * s.height * s.width);
  checkLength("poolAvg2dBuffers y", y, s.planes * s.outH * s.outW);
  w.arena.checkLive("poolAvg2dBuffers", x, y);
  kernel(w, "pool_avg_2d")(
    x.ptr,
    y.ptr,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.padBottom,
    s.padRight,
    s.outH,
    s.outW,
    countIncludePad ? 1 : 0,
  );
  return s;
}

/**
 * MaxPool of a JS array (NCHW with N*C = spec.planes); returns planes*outH*outW values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size.
 * @example
 * poolMax2d(w, Float32Array.of(1, 2, 3, 4), { planes: 1, height: 2, width: 2, kernelH: 2, kernelW: 2 }); // [4]
 */
export function poolMax2d(w: Wasm, x: Float32Array, spec: Pool2dSpec): Float32Array {
  const s = resolvePool2d("poolMax2d", spec);
  checkLength("poolMax2d x", x, s.planes * s.height * s.width);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const y = arena.allocF32(s.planes * s.outH * s.outW);
    poolMax2dBuffers(w, xb, y, s);
    return arena.viewF32(y).slice();
  });
}

/**
 * AveragePool of a JS array (NCHW with N*C = spec.planes); returns planes*outH*outW values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or a dilation other than 1.
 * @example
 * poolAvg2d(w, Float32Array.of(1, 2, 3, 4), { planes: 1, height: 2, width: 2, kernelH: 2, kernelW: 2 }); // [2.5]
 */
export function poolAvg2d(
  w: Wasm,
  x: Float32Array,
  spec: Pool2dSpec,
  options: { readonly countIncludePad?: boolean } = {},
): Float32Array {
  const s = resolvePool2d("poolAvg2d", spec);
  checkLength("poolAvg2d x", x, s.planes * s.height * s.width);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const y = arena.allocF32(s.planes * s.outH * s.outW);
    poolAvg2dBuffers(w, xb, y, s, options.countIncludePad ?? false);
    return arena.viewF32(y).slice();
  });
}

function globalBuffers(
  name: "poolGlobalAvgBuffers" | "poolGlobalMaxBuffers",
  w: Wasm,
  x: Buf,
  y: Buf,
  planes: number,
  planeLen: number,
): void {
  checkSize(`${name} planes`, planes);
  checkSize(`${name} planeLen`, planeLen);
  checkLength(`${name} x`, x, planes * planeLen);
  checkLength(`${name} y`, y, planes);
  w.arena.checkLive(name, x, y);
  kernel(w, name === "poolGlobalAvgBuffers" ? "pool_global_avg" : "pool_global_max")(
    x.ptr,
    y.ptr,
    planes,
    planeLen,
  );
}

/**
 * GlobalAveragePool on arena buffers: y[p] = mean of plane p, summed as four lane partial sums
 * combined (l0 + l1) + (l2 + l3), then the tail, then one division (planeLen 0 gives NaN).
 * @param x planes*planeLen f32. @param y planes f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE`.
 */
export function poolGlobalAvgBuffers(w: Wasm, x: Buf, y: Buf, planes: number, planeLen: number): void {
  globalBuffers("poolGlobalAvgBuffers", w, x, y, planes, planeLen);
}

/**
 * GlobalMaxPool on arena buffers: y[p] = max of plane p (-Inf for planeLen 0).
 * @param x planes*planeLen f32. @param y planes f32.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE`.
 */
export function poolGlobalMaxBuffers(w: Wasm, x: Buf, y: Buf, planes: number, planeLen: number): void {
  globalBuffers("poolGlobalMaxBuffers", w, x, y, planes, planeLen);
}

function globalPool(
  name: "poolGlobalAvg" | "poolGlobalMax",
  w: Wasm,
  x: Float32Array,
  planes: number,
  planeLen: number,
): Float32Array {
  checkSize(`${name} planes`, planes);
  checkSize(`${name} planeLen`, planeLen);
  checkLength(`${name} x`, x, planes * planeLen);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const y = arena.allocF32(planes);
    if (name === "poolGlobalAvg") poolGlobalAvgBuffers(w, xb, y, planes, planeLen);
    else poolGlobalMaxBuffers(w, xb, y, planes, planeLen);
    return arena.viewF32(y).slice();
  });
}

/**
 * GlobalAveragePool of a JS array: one mean per plane.
 * @param x planes*planeLen values (NCHW: planes = N*C, planeLen = H*W).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * poolGlobalAvg(w, Float32Array.of(1, 2, 3, 4), 2, 2); // [1.5, 3.5]
 */
export function poolGlobalAvg(w: Wasm, x: Float32Array, planes: number, planeLen: number): Float32Array {
  return globalPool("poolGlobalAvg", w, x, planes, planeLen);
}

/**
 * GlobalMaxPool of a JS array: one max per plane.
 * @param x planes*planeLen values (NCHW: planes = N*C, planeLen = H*W).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * poolGlobalMax(w, Float32Array.of(1, 2, 3, 4), 2, 2); // [2, 4]
 */
export function poolGlobalMax(w: Wasm, x: Float32Array, planes: number, planeLen: number): Float32Array {
  return globalPool("poolGlobalMax", w, x, planes, planeLen);
}

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

function checkNoDilation(what: string, s: ResolvedPool2d): void {
  if (s.dilationH !== 1 || s.dilationW !== 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: dilation ${s.dilationH} x ${s.dilationW} is not supported; expected 1 x 1`,
    );
  }
}

function checkNoOverlap(what: string, dx: Buf, ...inputs: Buf[]): void {
  if (inputs.some((b) => overlaps(dx, b))) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: dx must not overlap its inputs`);
  }
}

/**
 * MaxPool backward on arena buffers: dx is zeroed, then each output's dy goes to its window's argmax,
 * PyTorch's choice: the first maximum (kh, then kw ascending, in-image positions only), i.e. the
 * element the forward returned; with NaN in the window, its last NaN. A window with no in-image
 * position passes nothing.
 * @param x planes*height*width f32 (the forward's input). @param dy planes*outH*outW f32.
 * @param dx planes*height*width f32; must not overlap x or dy.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function poolMax2dBackwardBuffers(
  w: Wasm,
  x: Buf,
  dy: Buf,
  dx: Buf,
  spec: Pool2dSpec,
): ResolvedPool2d {
  const s = resolvePool2d("poolMax2dBackwardBuffers", spec);
  checkLength("poolMax2dBackwardBuffers x", x, s.planes * s.height * s.width);
  checkLength("poolMax2dBackwardBuffers dy", dy, s.planes * s.outH * s.outW);
  checkLength("poolMax2dBackwardBuffers dx", dx, s.planes * s.height * s.width);
  checkNoOverlap("poolMax2dBackwardBuffers", dx, x, dy);
  w.arena.checkLive("poolMax2dBackwardBuffers", x, dy, dx);
  kernel(w, "pool_max_2d_backward")(
    x.ptr,
    dy.ptr,
    dx.ptr,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.dilationH,
    s.dilationW,
    s.outH,
    s.outW,
  );
  return s;
}

/**
 * AveragePool backward on arena buffers, the adjoint of `poolAvg2dBuffers` (same divisor rules): dx
 * is zeroed, then each output adds dy / count to the in-image positions of its window.
 * @param dy planes*outH*outW f32. @param dx planes*height*width f32; must not overlap dy.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size, a dilation other than 1 or an overlap; `ARENA_MISUSE`.
 */
export function poolAvg2dBackwardBuffers(
  w: Wasm,
  dy: Buf,
  dx: Buf,
  spec: Pool2dSpec,
  countIncludePad: boolean,
): ResolvedPool2d {
  const s = resolvePool2d("poolAvg2dBackwardBuffers", spec);
  checkNoDilation("poolAvg2dBackwardBuffers", s);
  checkLength("poolAvg2dBackwardBuffers dy", dy, s.planes * s.outH * s.outW);
  checkLength("poolAvg2dBackwardBuffers dx", dx, s.planes * s.height * s.width);
  checkNoOverlap("poolAvg2dBackwardBuffers", dx, dy);
  w.arena.checkLive("poolAvg2dBackwardBuffers", dy, dx);
  kernel(w, "pool_avg_2d_backward")(
    dy.ptr,
    dx.ptr,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.padBottom,
    s.padRight,
    s.outH,
    s.outW,
    countIncludePad ? 1 : 0,
  );
  return s;
}

/**
 * MaxPool backward of JS arrays (NCHW with N*C = spec.planes); returns dx, planes*height*width values.
 * @param x the forward's input. @param dy planes*outH*outW values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size.
 * @example
 * poolMax2dBackward(w, Float32Array.of(1, 4, 3, 2), Float32Array.of(7), { planes: 1, height: 2, width: 2, kernelH: 2, kernelW: 2 }); // [0, 7, 0, 0]
 */
export function poolMax2dBackward(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  spec: Pool2dSpec,
): Float32Array {
  const s = resolvePool2d("poolMax2dBackward", spec);
  checkLength("poolMax2dBackward x", x, s.planes * s.height * s.width);
  checkLength("poolMax2dBackward dy", dy, s.planes * s.outH * s.outW);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const dyb = arena.copyInF32(dy);
    const dx = arena.allocF32(x.length);
    poolMax2dBackwardBuffers(w, xb, dyb, dx, s);
    return arena.viewF32(dx).slice();
  });
}

/**
 * AveragePool backward of JS arrays (NCHW with N*C = spec.planes); returns dx, planes*height*width values.
 * @param dy planes*outH*outW values.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad size or a dilation other than 1.
 * @example
 * poolAvg2dBackward(w, Float32Array.of(8), { planes: 1, height: 2, width: 2, kernelH: 2, kernelW: 2 }); // [2, 2, 2, 2]
 */
export function poolAvg2dBackward(
  w: Wasm,
  dy: Float32Array,
  spec: Pool2dSpec,
  options: { readonly countIncludePad?: boolean } = {},
): Float32Array {
  const s = resolvePool2d("poolAvg2dBackward", spec);
  checkNoDilation("poolAvg2dBackward", s);
  checkLength("poolAvg2dBackward dy", dy, s.planes * s.outH * s.outW);
  return withArena(w, (arena) => {
    const dyb = arena.copyInF32(dy);
    const dx = arena.allocF32(s.planes * s.height * s.width);
    poolAvg2dBackwardBuffers(w, dyb, dx, s, options.countIncludePad ?? false);
    return arena.viewF32(dx).slice();
  });
}

/**
 * GlobalAveragePool backward on arena buffers: dx[p, i] = dy[p] / planeLen (f32 division; overwrites dx).
 * @param dy planes f32. @param dx planes*planeLen f32; must not overlap dy.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or overlap; `ARENA_MISUSE`.
 */
export function poolGlobalAvgBackwardBuffers(
  w: Wasm,
  dy: Buf,
  dx: Buf,
  planes: number,
  planeLen: number,
): void {
  checkSize("poolGlobalAvgBackwardBuffers planes", planes);
  checkSize("poolGlobalAvgBackwardBuffers planeLen", planeLen);
  checkLength("poolGlobalAvgBackwardBuffers dy", dy, planes);
  checkLength("poolGlobalAvgBackwardBuffers dx", dx, planes * planeLen);
  checkNoOverlap("poolGlobalAvgBackwardBuffers", dx, dy);
  w.arena.checkLive("poolGlobalAvgBackwardBuffers", dy, dx);
  kernel(w, "pool_global_avg_backward")(dy.ptr, dx.ptr, planes, planeLen);
}

/**
 * GlobalMaxPool backward on arena buffers: dx is zero except at each plane's argmax (the first
 * maximum; with NaN, the last NaN), which gets dy[p].
 * @param x planes*planeLen f32 (the forward's input). @param dy planes f32.
 * @param dx planes*planeLen f32; must not overlap x or dy.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or overlap; `ARENA_MISUSE`.
 */
export function poolGlobalMaxBackwardBuffers(
  w: Wasm,
  x: Buf,
  dy: Buf,
  dx: Buf,
  planes: number,
  planeLen: number,
): void {
  checkSize("poolGlobalMaxBackwardBuffers planes", planes);
  checkSize("poolGlobalMaxBackwardBuffers planeLen", planeLen);
  checkLength("poolGlobalMaxBackwardBuffers x", x, planes * planeLen);
  checkLength("poolGlobalMaxBackwardBuffers dy", dy, planes);
  checkLength("poolGlobalMaxBackwardBuffers dx", dx, planes * planeLen);
  checkNoOverlap("poolGlobalMaxBackwardBuffers", dx, x, dy);
  w.arena.checkLive("poolGlobalMaxBackwardBuffers", x, dy, dx);
  kernel(w, "pool_global_max_backward")(x.ptr, dy.ptr, dx.ptr, planes, planeLen);
}

/**
 * GlobalAveragePool backward of a JS array: dx[p, i] = dy[p] / planeLen.
 * @param dy planes values. @returns planes*planeLen values.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * poolGlobalAvgBackward(w, Float32Array.of(2, 8), 2, 2); // [1, 1, 4, 4]
 */
export function poolGlobalAvgBackward(
  w: Wasm,
  dy: Float32Array,
  planes: number,
  planeLen: number,
): Float32Array {
  checkSize("poolGlobalAvgBackward planes", planes);
  checkSize("poolGlobalAvgBackward planeLen", planeLen);
  checkLength("poolGlobalAvgBackward dy", dy, planes);
  return withArena(w, (arena) => {
    const dyb = arena.copyInF32(dy);
    const dx = arena.allocF32(planes * planeLen);
    poolGlobalAvgBackwardBuffers(w, dyb, dx, planes, planeLen);
    return arena.viewF32(dx).slice();
  });
}

/**
 * GlobalMaxPool backward of JS arrays: dy[p] at each plane's first maximum, zeros elsewhere.
 * @param x planes*planeLen values (the forward's input). @param dy planes values.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * poolGlobalMaxBackward(w, Float32Array.of(1, 7, 7, -4, -5, -6), Float32Array.of(2, 3), 2, 3); // [0, 2, 0, 3, 0, 0]
 */
export function poolGlobalMaxBackward(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  planes: number,
  planeLen: number,
): Float32Array {
  checkSize("poolGlobalMaxBackward planes", planes);
  checkSize("poolGlobalMaxBackward planeLen", planeLen);
  checkLength("poolGlobalMaxBackward x", x, planes * planeLen);
  checkLength("poolGlobalMaxBackward dy", dy, planes);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const dyb = arena.copyInF32(dy);
    const dx = arena.allocF32(planes * planeLen);
    poolGlobalMaxBackwardBuffers(w, xb, dyb, dx, planes, planeLen);
    return arena.viewF32(dx).slice();
  });
}
