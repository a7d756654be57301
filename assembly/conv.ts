// Convolution kernels over one NCHW f32 image (the engine loops over the batch).
//
// Window geometry, shared by every kernel here: output pixel (oy, ox) and kernel tap (i, j) read
//   iy = oy*strideH - padTop + i*dilationH,   ix = ox*strideW - padLeft + j*dilationW
// and the tap is outside the image when iy is not in [0, height) or ix not in [0, width).
//
//   x (one image): channels x height x width, row-major; plane c starts at x + c*height*width*4.
//   weights (depthwise): channels x kernelH x kernelW.
//   y / col: see each kernel.
//
// Every position set along one axis is a contiguous run: for a fixed offset `off` and step `stride`,
// the ox with 0 <= ox*stride + off < len are exactly [firstInside, endInside). The kernels split each
// row into that run (bulk copies, SIMD, no bounds checks) and the clipped ends.

import { ACT_NONE, actSpan, addSpan } from "./act";
import { gemm_nn_prepacked, gemm_packed_a_len, gemm_scratch_len, gemmSliceDepth } from "./gemm";

/** Smallest t in [0, count] with t*stride + off >= 0 (count if none). stride >= 1. */
function firstInside(off: i32, stride: i32, count: i32): i32 {
  if (off >= 0) return 0;
  if (stride === 1) return min(count, -off); // the common case, without a division
  return min(count, (stride - 1 - off) / stride);
}

/** One past the largest t < count with t*stride + off < len, but at least `lo`. stride >= 1. */
function endInside(off: i32, stride: i32, len: i32, count: i32, lo: i32): i32 {
  const room = len - 1 - off; // t*stride <= room
  if (room < 0) return lo;
  return max(lo, min(count, (stride === 1 ? room : room / stride) + 1));
}

/** Copy n f32 from src to dst (no overlap): SIMD for short runs, memory.copy for long ones. */
function copyF32(dst: usize, src: usize, n: i32): void {
  if (n >= 64) {
    memory.copy(dst, src, (<usize>n) << 2);
    return;
  }
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const off = (<usize>k) << 2;
    v128.store(dst + off, v128.load(src + off));
  }
  for (; k < n; k++) store<f32>(dst + ((<usize>k) << 2), load<f32>(src + ((<usize>k) << 2)));
}

/** Write n zeros (+0.0f) at dst: SIMD for short runs, memory.fill for long ones. */
function zeroF32(dst: usize, n: i32): void {
  if (n >= 64) {
    memory.fill(dst, 0, (<usize>n) << 2);
    return;
  }
  const z = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(dst + ((<usize>k) << 2), z);
  for (; k < n; k++) store<f32>(dst + ((<usize>k) << 2), 0);
}

/**
 * One output row of im2col for one (c, i, j): dst[ox] = src[ox*stride + off] for ox in [lo, hi),
 * 0 elsewhere in [0, outW). src is the input row; every read lies inside it.
 */
function im2colRow(src: usize, dst: usize, off: i32, stride: i32, lo: i32, hi: i32, outW: i32): void {
  zeroF32(dst, lo);
  if (stride === 1) {
    copyF32(dst + ((<usize>lo) << 2), src + ((<usize>(lo + off)) << 2), hi - lo);
  } else if (stride === 2) {
    // Lanes ix, ix+2 come from a load at ix; ix+4, ix+6 from a load at ix+3 (lanes 1 and 3), so no
    // read goes past ix+6, the last pixel this group needs.
    let ox = lo;
    for (; ox + 4 <= hi; ox += 4) {
      const p = src + ((<usize>(ox * 2 + off)) << 2);
      v128.store(dst + ((<usize>ox) << 2), f32x4.shuffle(v128.load(p), v128.load(p, 12), 0, 2, 5, 7));
    }
    for (; ox < hi; ox++)
      store<f32>(dst + ((<usize>ox) << 2), load<f32>(src + ((<usize>(ox * 2 + off)) << 2)));
  } else {
    for (let ox = lo; ox < hi; ox++) {
      store<f32>(dst + ((<usize>ox) << 2), load<f32>(src + ((<usize>(ox * stride + off)) << 2)));
    }
  }
  zeroF32(dst + ((<usize>hi) << 2), outW - hi);
}

/**
 * im2col of one image, for a convolution computed as gemm_nn(weights, col).
 *
 * Layout: x is channels x height x width (row-major). col is (channels*kernelH*kernelW) x (outH*outW),
 * row-major: row (c*kernelH + i)*kernelW + j holds, for every output pixel oy*outW + ox, the input
 * x[c, iy, ix] that tap (i, j) reads (geometry at the top of this file), or +0.0 where that pixel is
 * outside the image (zero padding).
 *
 *   col row (c,i,j):  [ 0 0 | x[c,iy,ix0] x[c,iy,ix0+s] ... | 0 0 ]  for each oy, outW wide
 *
 * For a grouped convolution, call once per group with xPtr at the group's first channel and
 * `channels` = channels per group. Stride 1 rows are block copies; stride 2 rows are SIMD gathers.
 * Sizes: all >= 0; kernel, strides and dilations >= 1. x and col must not overlap.
 */
export function conv_im2col(
  xPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
  colPtr: usize,
): void {
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const outRowBytes = (<usize>outW) << 2;
  let dst = colPtr;
  for (let c = 0; c < channels; c++) {
    const plane = xPtr + <usize>c * planeBytes;
    for (let i = 0; i < kernelH; i++) {
      const rowOff = i * dilationH - padTop;
      const oyLo = firstInside(rowOff, strideH, outH);
      const oyHi = endInside(rowOff, strideH, height, outH, oyLo);
      for (let j = 0; j < kernelW; j++) {
        const colOff = j * dilationW - padLeft;
        const oxLo = firstInside(colOff, strideW, outW);
        const oxHi = endInside(colOff, strideW, width, outW, oxLo);
        zeroF32(dst, oyLo * outW);
        dst += <usize>oyLo * outRowBytes;
        for (let oy = oyLo; oy < oyHi; oy++) {
          im2colRow(
            plane + <usize>(oy * strideH + rowOff) * rowBytes,
            dst,
            colOff,
            strideW,
            oxLo,
            oxHi,
            outW,
          );
          dst += outRowBytes;
        }
        zeroF32(dst, (outH - oyHi) * outW);
        dst += <usize>(outH - oyHi) * outRowBytes;
      }
    }
  }
}

/** Four input pixels p, p + stride, p + 2*stride, p + 3*stride (stride in elements, >= 1). */
function loadStrided(p: usize, stride: i32): v128 {
  if (stride === 1) return v128.load(p);
  if (stride === 2) return f32x4.shuffle(v128.load(p), v128.load(p, 12), 0, 2, 5, 7);
  const s = (<usize>stride) << 2;
  let v = v128.load32_zero(p);
  v = v128.load32_lane(p + s, v, 1);
  v = v128.load32_lane(p + 2 * s, v, 2);
  return v128.load32_lane(p + 3 * s, v, 3);
}

/**
 * One depthwise output pixel, scalar, skipping the taps outside the image: the sum over rows
 * i in [iLo, iHi) (already clipped) and every j whose column is inside, in ascending (i, j) order.
 */
function depthwisePixel(
  rowPtr: usize,
  wc: usize,
  width: i32,
  kernelW: i32,
  dilationH: i32,
  dilationW: i32,
  ix0: i32,
  iLo: i32,
  iHi: i32,
): f32 {
  const jLo = firstInside(ix0, dilationW, kernelW);
  const jHi = endInside(ix0, dilationW, width, kernelW, jLo);
  const rowStep = <usize>dilationH * ((<usize>width) << 2);
  let acc: f32 = 0;
  let row = rowPtr + <usize>iLo * rowStep;
  for (let i = iLo; i < iHi; i++) {
    const wr = wc + ((<usize>(i * kernelW)) << 2);
    for (let j = jLo; j < jHi; j++) {
      acc += load<f32>(wr + ((<usize>j) << 2)) * load<f32>(row + ((<usize>(ix0 + j * dilationW)) << 2));
    }
    row += rowStep;
  }
  return acc;
}

/**
 * 3x3 depthwise row where all three tap rows are inside (r0, r1, r2 point at them), stride 1 or 2,
 * columns [lo, hi) interior. Weights are hoisted; eight outputs per step for two independent chains.
 * Same order as depthwisePixel: acc = 0, then taps (0,0), (0,1), ..., (2,2).
 */
function depthwise3x3Row(
  r0: usize,
  r1: usize,
  r2: usize,
  wc: usize,
  yRow: usize,
  strideW: i32,
  padLeft: i32,
  dilationW: i32,
  lo: i32,
  hi: i32,
): i32 {
  const w0 = v128.load32_splat(wc);
  const w1 = v128.load32_splat(wc, 4);
  const w2 = v128.load32_splat(wc, 8);
  const w3 = v128.load32_splat(wc, 12);
  const w4 = v128.load32_splat(wc, 16);
  const w5 = v128.load32_splat(wc, 20);
  const w6 = v128.load32_splat(wc, 24);
  const w7 = v128.load32_splat(wc, 28);
  const w8 = v128.load32_splat(wc, 32);
  const d1 = (<usize>dilationW) << 2;
  const d2 = d1 << 1;
  const zero = f32x4.splat(0);
  let ox = lo;
  if (strideW === 1) {
    for (; ox + 8 <= hi; ox += 8) {
      const off = (<usize>(ox - padLeft)) << 2;
      let a = f32x4.add(zero, f32x4.mul(w0, v128.load(r0 + off)));
      let b = f32x4.add(zero, f32x4.mul(w0, v128.load(r0 + off, 16)));
      a = f32x4.add(a, f32x4.mul(w1, v128.load(r0 + off + d1)));
      b = f32x4.add(b, f32x4.mul(w1, v128.load(r0 + off + d1, 16)));
      a = f32x4.add(a, f32x4.mul(w2, v128.load(r0 + off + d2)));
      b = f32x4.add(b, f32x4.mul(w2, v128.load(r0 + off + d2, 16)));
      a = f32x4.add(a, f32x4.mul(w3, v128.load(r1 + off)));
      b = f32x4.add(b, f32x4.mul(w3, v128.load(r1 + off, 16)));
      a = f32x4.add(a, f32x4.mul(w4, v128.load(r1 + off + d1)));
      b = f32x4.add(b, f32x4.mul(w4, v128.load(r1 + off + d1, 16)));
      a = f32x4.add(a, f32x4.mul(w5, v128.load(r1 + off + d2)));
      b = f32x4.add(b, f32x4.mul(w5, v128.load(r1 + off + d2, 16)));
      a = f32x4.add(a, f32x4.mul(w6, v128.load(r2 + off)));
      b = f32x4.add(b, f32x4.mul(w6, v128.load(r2 + off, 16)));
      a = f32x4.add(a, f32x4.mul(w7, v128.load(r2 + off + d1)));
      b = f32x4.add(b, f32x4.mul(w7, v128.load(r2 + off + d1, 16)));
      a = f32x4.add(a, f32x4.mul(w8, v128.load(r2 + off + d2)));
      b = f32x4.add(b, f32x4.mul(w8, v128.load(r2 + off + d2, 16)));
      v128.store(yRow + ((<usize>ox) << 2), a);
      v128.store(yRow + ((<usize>ox) << 2), b, 16);
    }
    // The last group may overlap the previous one (it recomputes the same bits), so no interior
    // pixel is left to the scalar path.
    for (; ox < hi && hi - lo >= 4; ox += 4) {
      if (ox > hi - 4) ox = hi - 4;
      const off = (<usize>(ox - padLeft)) << 2;
      let a = f32x4.add(zero, f32x4.mul(w0, v128.load(r0 + off)));
      a = f32x4.add(a, f32x4.mul(w1, v128.load(r0 + off + d1)));
      a = f32x4.add(a, f32x4.mul(w2, v128.load(r0 + off + d2)));
      a = f32x4.add(a, f32x4.mul(w3, v128.load(r1 + off)));
      a = f32x4.add(a, f32x4.mul(w4, v128.load(r1 + off + d1)));
      a = f32x4.add(a, f32x4.mul(w5, v128.load(r1 + off + d2)));
      a = f32x4.add(a, f32x4.mul(w6, v128.load(r2 + off)));
      a = f32x4.add(a, f32x4.mul(w7, v128.load(r2 + off + d1)));
      a = f32x4.add(a, f32x4.mul(w8, v128.load(r2 + off + d2)));
      v128.store(yRow + ((<usize>ox) << 2), a);
    }
  } else {
    // Stride 2: four outputs read pixels ix, ix+2, ix+4, ix+6 of each tap (see loadStrided).
    for (; ox < hi && hi - lo >= 4; ox += 4) {
      if (ox > hi - 4) ox = hi - 4; // overlapping last group, as above
      const off = (<usize>(ox * 2 - padLeft)) << 2;
      let a = f32x4.add(zero, f32x4.mul(w0, loadStrided(r0 + off, 2)));
      a = f32x4.add(a, f32x4.mul(w1, loadStrided(r0 + off + d1, 2)));
      a = f32x4.add(a, f32x4.mul(w2, loadStrided(r0 + off + d2, 2)));
      a = f32x4.add(a, f32x4.mul(w3, loadStrided(r1 + off, 2)));
      a = f32x4.add(a, f32x4.mul(w4, loadStrided(r1 + off + d1, 2)));
      a = f32x4.add(a, f32x4.mul(w5, loadStrided(r1 + off + d2, 2)));
      a = f32x4.add(a, f32x4.mul(w6, loadStrided(r2 + off, 2)));
      a = f32x4.add(a, f32x4.mul(w7, loadStrided(r2 + off + d1, 2)));
      a = f32x4.add(a, f32x4.mul(w8, loadStrided(r2 + off + d2, 2)));
      v128.store(yRow + ((<usize>ox) << 2), a);
    }
  }
  return ox;
}

/**
 * Depthwise convolution of one image (groups = channels, one filter per channel), no bias.
 *
 * Layout: x is channels x height x width, w is channels x kernelH x kernelW, y is channels x outH x
 * outW, all row-major. y[c, oy, ox] = sum of w[c, i, j] * x[c, iy, ix] over the taps inside the
 * image (geometry at the top of this file), in ascending i then ascending j, starting from +0.0f,
 * one f32 multiply then one f32 add per term (no FMA). Taps outside the image are skipped, not added
 * as zero, so a plain-TS reference can reproduce the bits.
 *
 * Where every tap of a row of outputs is inside (the interior), four output columns are computed per
 * f32x4 in the same order; 3x3 kernels with stride 1 or 2 take a path with the weights in registers.
 * Sizes: all >= 0; kernel, strides and dilations >= 1. x and y must not overlap; w must not overlap y.
 */
export function conv_depthwise(
  xPtr: usize,
  wPtr: usize,
  yPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
): void {
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const taps = kernelH * kernelW;
  // Interior columns: the first tap (j = 0) and the last (j = kernelW-1) are both inside.
  const oxLo = firstInside(-padLeft, strideW, outW);
  const oxHi = endInside((kernelW - 1) * dilationW - padLeft, strideW, width, outW, oxLo);
  const fast3x3 = kernelH === 3 && kernelW === 3 && (strideW === 1 || strideW === 2);
  const rowStep = <usize>dilationH * rowBytes;
  const zero = f32x4.splat(0);
  for (let c = 0; c < channels; c++) {
    const plane = xPtr + <usize>c * planeBytes;
    const wc = wPtr + ((<usize>(c * taps)) << 2);
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * strideH - padTop;
      const iLo = firstInside(iy0, dilationH, kernelH);
      const iHi = endInside(iy0, dilationH, height, kernelH, iLo);
      // rowPtr is the (possibly outside) tap row i = 0; only rows iLo..iHi-1 are ever read.
      const rowPtr = plane + <usize>iy0 * rowBytes;
      const yRow = yPtr + (<usize>c * <usize>outH + <usize>oy) * ((<usize>outW) << 2);
      let ox = 0;
      for (; ox < oxLo; ox++) {
        const v = depthwisePixel(
          rowPtr,
          wc,
          width,
          kernelW,
          dilationH,
          dilationW,
          ox * strideW - padLeft,
          iLo,
          iHi,
        );
        store<f32>(yRow + ((<usize>ox) << 2), v);
      }
      if (fast3x3 && iLo === 0 && iHi === 3) {
        ox = depthwise3x3Row(
          rowPtr,
          rowPtr + rowStep,
          rowPtr + 2 * rowStep,
          wc,
          yRow,
          strideW,
          padLeft,
          dilationW,
          ox,
          oxHi,
        );
      } else {
        for (; ox < oxHi && oxHi - oxLo >= 4; ox += 4) {
          if (ox > oxHi - 4) ox = oxHi - 4; // overlapping last group (same bits), see depthwise3x3Row
          const ix0 = ox * strideW - padLeft;
          let acc = zero;
          let row = rowPtr + <usize>iLo * rowStep;
          for (let i = iLo; i < iHi; i++) {
            const wr = wc + ((<usize>(i * kernelW)) << 2);
            for (let j = 0; j < kernelW; j++) {
              const xv = loadStrided(row + ((<usize>(ix0 + j * dilationW)) << 2), strideW);
              acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(wr + ((<usize>j) << 2)), xv));
            }
            row += rowStep;
          }
          v128.store(yRow + ((<usize>ox) << 2), acc);
        }
      }
      for (; ox < outW; ox++) {
        const v = depthwisePixel(
          rowPtr,
          wc,
          width,
          kernelW,
          dilationH,
          dilationW,
          ox * strideW - padLeft,
          iLo,
          iHi,
        );
        store<f32>(yRow + ((<usize>ox) << 2), v);
      }
    }
  }
}

// ---- backward (training) ----
//
// The adjoints of the forward kernels above, with the same geometry. Each input pixel a tap reads is
// a contiguous run per (c, i, j, oy) row (see firstInside / endInside), so every kernel below walks
// (c, i, j, oy) and scatters or gathers along that run: SIMD where the run is contiguous in both
// buffers (stride 1), scalar otherwise. A pixel receives at most one term per (i, j), so the order of
// the terms each output element sums is (i, j) ascending (col2im: (i, j, oy, ox) ascending), fixed.

/** dst[k] += src[k] for k < n (no overlap): f32x4 main loop, scalar tail. */
function addSpanF32(dst: usize, src: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const off = (<usize>k) << 2;
    v128.store(dst + off, f32x4.add(v128.load(dst + off), v128.load(src + off)));
  }
  for (; k < n; k++) {
    const off = (<usize>k) << 2;
    store<f32>(dst + off, load<f32>(dst + off) + load<f32>(src + off));
  }
}

/** dst[k] += s * src[k] for k < n (no overlap), one f32 multiply then one add (no FMA). */
function addScaledSpanF32(dst: usize, src: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const off = (<usize>k) << 2;
    v128.store(dst + off, f32x4.add(v128.load(dst + off), f32x4.mul(vs, v128.load(src + off))));
  }
  for (; k < n; k++) {
    const off = (<usize>k) << 2;
    store<f32>(dst + off, load<f32>(dst + off) + s * load<f32>(src + off));
  }
}

/**
 * col2im of one image, the adjoint of conv_im2col (same geometry and parameter meaning, col last in
 * im2col, first here): x[c, iy, ix] += every col entry that conv_im2col would have copied from
 * x[c, iy, ix]; entries of padding positions are dropped.
 *
 *   col row (c,i,j), output row oy:  [ dropped | scattered onto x[c, iy, ix0 : ix0 + s*(n-1)] | dropped ]
 *
 * ACCUMULATES into x (the caller zeroes it first for a plain col2im). Each x element sums its terms
 * in (i, j, oy, ox) ascending order (c, i, j, oy, ox is the loop order), one f32 add each; stride-1 rows
 * are f32x4 adds. With gemm_tn (dcol = W^T dy) this gives the input gradient of a conv; for a grouped
 * conv, call once per group with the group's pointers. Sizes: as conv_im2col. x and col must not overlap.
 */
export function conv_col2im(
  colPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
  xPtr: usize,
): void {
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const outRowBytes = (<usize>outW) << 2;
  const colRowBytes = <usize>outH * outRowBytes;
  let src = colPtr;
  for (let c = 0; c < channels; c++) {
    const plane = xPtr + <usize>c * planeBytes;
    for (let i = 0; i < kernelH; i++) {
      const rowOff = i * dilationH - padTop;
      const oyLo = firstInside(rowOff, strideH, outH);
      const oyHi = endInside(rowOff, strideH, height, outH, oyLo);
      for (let j = 0; j < kernelW; j++) {
        const colOff = j * dilationW - padLeft;
        const oxLo = firstInside(colOff, strideW, outW);
        const oxHi = endInside(colOff, strideW, width, outW, oxLo);
        for (let oy = oyLo; oy < oyHi; oy++) {
          const xRow = plane + <usize>(oy * strideH + rowOff) * rowBytes;
          const colRow = src + <usize>oy * outRowBytes;
          if (strideW === 1) {
            addSpanF32(xRow + ((<usize>(oxLo + colOff)) << 2), colRow + ((<usize>oxLo) << 2), oxHi - oxLo);
          } else {
            for (let ox = oxLo; ox < oxHi; ox++) {
              const p = xRow + ((<usize>(ox * strideW + colOff)) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(colRow + ((<usize>ox) << 2)));
            }
          }
        }
        src += colRowBytes;
      }
    }
  }
}

/**
 * Input gradient of conv_depthwise for one image (same layout and geometry): dx is OVERWRITTEN with
 *   dx[c, iy, ix] = sum over the (i, j, oy, ox) that read x[c, iy, ix] of w[c, i, j] * dy[c, oy, ox],
 * starting from +0.0f, terms in (i, j) ascending order, one f32 multiply then one add each (no FMA).
 * Stride-1 rows are f32x4. dy is channels x outH x outW, w channels x kernelH x kernelW, dx channels x
 * height x width. Sizes: as conv_depthwise. dx must not overlap dy or w.
 */
export function conv_depthwise_grad_input(
  dyPtr: usize,
  wPtr: usize,
  dxPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
): void {
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const outRowBytes = (<usize>outW) << 2;
  const taps = kernelH * kernelW;
  zeroF32(dxPtr, channels * height * width);
  for (let c = 0; c < channels; c++) {
    const plane = dxPtr + <usize>c * planeBytes;
    const dyPlane = dyPtr + <usize>c * <usize>outH * outRowBytes;
    const wc = wPtr + ((<usize>(c * taps)) << 2);
    for (let i = 0; i < kernelH; i++) {
      const rowOff = i * dilationH - padTop;
      const oyLo = firstInside(rowOff, strideH, outH);
      const oyHi = endInside(rowOff, strideH, height, outH, oyLo);
      for (let j = 0; j < kernelW; j++) {
        const colOff = j * dilationW - padLeft;
        const oxLo = firstInside(colOff, strideW, outW);
        const oxHi = endInside(colOff, strideW, width, outW, oxLo);
        const wv = load<f32>(wc + ((<usize>(i * kernelW + j)) << 2));
        for (let oy = oyLo; oy < oyHi; oy++) {
          const dxRow = plane + <usize>(oy * strideH + rowOff) * rowBytes;
          const dyRow = dyPlane + <usize>oy * outRowBytes;
          if (strideW === 1) {
            addScaledSpanF32(
              dxRow + ((<usize>(oxLo + colOff)) << 2),
              dyRow + ((<usize>oxLo) << 2),
              wv,
              oxHi - oxLo,
            );
          } else {
            for (let ox = oxLo; ox < oxHi; ox++) {
              const p = dxRow + ((<usize>(ox * strideW + colOff)) << 2);
              store<f32>(p, load<f32>(p) + wv * load<f32>(dyRow + ((<usize>ox) << 2)));
            }
          }
        }
      }
    }
  }
}

/**
 * Weight gradient of conv_depthwise for one image (same layout and geometry), ACCUMULATED:
 *   dw[c, i, j] += sum over the in-image (oy, ox) of x[c, iy, ix] * dy[c, oy, ox],
 * so calling it once per image sums over the batch (the caller zeroes dw first). The sum for one
 * (c, i, j) runs over its rows oy ascending: the first multiple of 4 of each row's run of ox into four
 * f32x4 lanes (strided loads for stride > 1, as conv_depthwise), the rest into a scalar s in ox order;
 * then dw += ((l0 + l1) + (l2 + l3)) + s. dw is channels x kernelH x kernelW. Sizes: as conv_depthwise.
 * dw must not overlap x or dy.
 */
export function conv_depthwise_grad_weight(
  xPtr: usize,
  dyPtr: usize,
  dwPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
): void {
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const outRowBytes = (<usize>outW) << 2;
  const taps = kernelH * kernelW;
  const step = (<usize>(strideW * 4)) << 2; // bytes between x pixels of 4 consecutive outputs
  for (let c = 0; c < channels; c++) {
    const plane = xPtr + <usize>c * planeBytes;
    const dyPlane = dyPtr + <usize>c * <usize>outH * outRowBytes;
    const wc = dwPtr + ((<usize>(c * taps)) << 2);
    for (let i = 0; i < kernelH; i++) {
      const rowOff = i * dilationH - padTop;
      const oyLo = firstInside(rowOff, strideH, outH);
      const oyHi = endInside(rowOff, strideH, height, outH, oyLo);
      for (let j = 0; j < kernelW; j++) {
        const colOff = j * dilationW - padLeft;
        const oxLo = firstInside(colOff, strideW, outW);
        const oxHi = endInside(colOff, strideW, width, outW, oxLo);
        let acc = f32x4.splat(0);
        let s: f32 = 0;
        for (let oy = oyLo; oy < oyHi; oy++) {
          const xRow = plane + <usize>(oy * strideH + rowOff) * rowBytes;
          const dyRow = dyPlane + <usize>oy * outRowBytes;
          let ox = oxLo;
          let xp = xRow + ((<usize>(ox * strideW + colOff)) << 2);
          for (; ox + 4 <= oxHi; ox += 4) {
            acc = f32x4.add(acc, f32x4.mul(loadStrided(xp, strideW), v128.load(dyRow + ((<usize>ox) << 2))));
            xp += step;
          }
          for (; ox < oxHi; ox++) {
            s +=
              load<f32>(xRow + ((<usize>(ox * strideW + colOff)) << 2)) *
              load<f32>(dyRow + ((<usize>ox) << 2));
          }
        }
        const p = wc + ((<usize>(i * kernelW + j)) << 2);
        const lanes =
          f32x4.extract_lane(acc, 0) +
          f32x4.extract_lane(acc, 1) +
          (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
        store<f32>(p, load<f32>(p) + (lanes + s));
      }
    }
  }
}

// ---- Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016, §4.1) ----
//
// A 3x3, stride-1, dilation-1 convolution as 16 GEMMs: each 2x2 output tile comes from a 4x4 input patch d,
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],  A^T = [1 1 1 0; 0 1 -1 -1].
// The filter transform U = G g G^T is done once at compile time (src/engine/ops/winograd.ts); the element-wise
// product summed over channels is, for each of the 16 positions e = 4*row + col, one GEMM
//   M[e] (filters x tiles) = U[e] (filters x channels) * V[e] (channels x tiles).
// Tile t = (n*tilesH + ty)*tilesW + tx covers output rows 2ty, 2ty+1 and columns 2tx, 2tx+1, and reads input rows
// 2ty - padTop + 0..3 and columns 2tx - padLeft + 0..3 (+0.0 outside the image).
//
//   v / m: 16 blocks of channels (or filters) x tileLen, row-major, eLen >= channels*tileLen apart:
//   v[e*eLen + c*tileLen + t]. A few floats more than channels*tileLen keep the 16 streams a kernel
//   writes (or reads) per tile off the same cache sets when channels*tileLen*4 is a power of two.
//
// Both transforms run rows first, then columns, in the order written below (one f32 add or subtract per
// term, no FMA), four tiles per f32x4 where a whole group of four is inside, scalar elsewhere (same bits).

/** x[iy, ix] of one plane, +0.0 outside height x width. */
function pixelOrZero(plane: usize, width: i32, height: i32, iy: i32, ix: i32): f32 {
  if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0;
  return load<f32>(plane + ((<usize>(iy * width + ix)) << 2));
}

/**
 * Winograd F(2x2, 3x3) input transform of `images` NCHW images: V = B^T d B for every channel and tile
 * (layout and order above): per column k, t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3 over the
 * rows; then per row i, V[i][0] = t_i0 - t_i2, V[i][1] = t_i1 + t_i2, V[i][2] = t_i2 - t_i1,
 * V[i][3] = t_i1 - t_i3. x is images x channels x height x width; v has 16*eLen f32, tileLen >=
 * images*tilesH*tilesW and eLen >= channels*tileLen. Sizes >= 0. x and v must not overlap. padPtr, when
 * not 0, is winograd_pad_len(tilesH, tilesW) floats of scratch (overlapping neither): each plane is then
 * copied there with its zero border first, and every tile runs on the four-at-a-time path (same bits;
 * the bounds-checked scalar tiles at the borders were up to all of a small map's tiles). Ignored when
 * tilesW < 4 (no group of four; the copy measured slower than the checks there).
 */
export function conv_winograd_input(
  xPtr: usize,
  images: i32,
  channels: i32,
  height: i32,
  width: i32,
  padTop: i32,
  padLeft: i32,
  tilesH: i32,
  tilesW: i32,
  vPtr: usize,
  tileLen: i32,
  eLen: i32,
  padPtr: usize = 0,
): void {
  if (padPtr !== 0 && tilesW >= 4) {
    winogradInputPadded(
      xPtr,
      images,
      channels,
      height,
      width,
      padTop,
      padLeft,
      tilesH,
      tilesW,
      vPtr,
      tileLen,
      eLen,
      padPtr,
    );
    return;
  }
  const rowBytes = (<usize>width) << 2;
  const planeBytes = <usize>height * rowBytes;
  const eBytes = (<usize>eLen) << 2; // from v[e] to v[e + 1]
  // Tiles tx in [txLo, txHi) read columns 2tx - padLeft .. 2tx - padLeft + 3, all inside.
  const txLo = min(tilesW, (padLeft + 1) / 2);
  const room = width - 4 + padLeft; // 2tx <= room for the last such tile
  const txHi = room < 0 ? txLo : max(txLo, min(tilesW, room / 2 + 1));
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      const plane = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
      const vc = vPtr + ((<usize>c * <usize>tileLen) << 2);
      for (let ty = 0; ty < tilesH; ty++) {
        const iy = 2 * ty - padTop;
        const tRow = (n * tilesH + ty) * tilesW;
        let tx = 0;
        const rowsInside = iy >= 0 && iy + 3 < height;
        if (rowsInside) {
          for (; tx < txLo; tx++)
            winogradInputTile(
              plane,
              width,
              height,
              iy,
              2 * tx - padLeft,
              vc + ((<usize>(tRow + tx)) << 2),
              eBytes,
            );
          // Four tiles read columns ix0 .. ix0 + 9; loadStrided(p, 2) reads p .. p + 6.
          for (; tx + 4 <= txHi; tx += 4) {
            winogradInputQuad(
              plane + <usize>iy * rowBytes + ((<usize>(2 * tx - padLeft)) << 2),
              rowBytes,
              vc + ((<usize>(tRow + tx)) << 2),
              eBytes,
            );
          }
        }
        for (; tx < tilesW; tx++)
          winogradInputTile(
            plane,
            width,
            height,
            iy,
            2 * tx - padLeft,
            vc + ((<usize>(tRow + tx)) << 2),
            eBytes,
          );
      }
    }
  }
}

/**
 * Four horizontally adjacent tiles of conv_winograd_input, all inside the plane: the patches' first row
 * starts at r0 (tile 0's column 0), rows rowBytes apart; tile j's 16 values go to dst + 4j, eBytes apart.
 */
function winogradInputQuad(r0: usize, rowBytes: usize, dst: usize, eBytes: usize): void {
  const r1 = r0 + rowBytes;
  const r2 = r1 + rowBytes;
  const r3 = r2 + rowBytes;
  // t = B^T d for the four tiles, kept in registers (V8 spills some to the stack, which stays
  // in L1; writing t to v and reading it back touched 16 far-apart streams twice).
  const t00 = f32x4.sub(loadStrided(r0, 2), loadStrided(r2, 2));
  const t10 = f32x4.add(loadStrided(r1, 2), loadStrided(r2, 2));
  const t20 = f32x4.sub(loadStrided(r2, 2), loadStrided(r1, 2));
  const t30 = f32x4.sub(loadStrided(r1, 2), loadStrided(r3, 2));
  const t01 = f32x4.sub(loadStrided(r0 + 4, 2), loadStrided(r2 + 4, 2));
  const t11 = f32x4.add(loadStrided(r1 + 4, 2), loadStrided(r2 + 4, 2));
  const t21 = f32x4.sub(loadStrided(r2 + 4, 2), loadStrided(r1 + 4, 2));
  const t31 = f32x4.sub(loadStrided(r1 + 4, 2), loadStrided(r3 + 4, 2));
  const t02 = f32x4.sub(loadStrided(r0 + 8, 2), loadStrided(r2 + 8, 2));
  const t12 = f32x4.add(loadStrided(r1 + 8, 2), loadStrided(r2 + 8, 2));
  const t22 = f32x4.sub(loadStrided(r2 + 8, 2), loadStrided(r1 + 8, 2));
  const t32 = f32x4.sub(loadStrided(r1 + 8, 2), loadStrided(r3 + 8, 2));
  const t03 = f32x4.sub(loadStrided(r0 + 12, 2), loadStrided(r2 + 12, 2));
  const t13 = f32x4.add(loadStrided(r1 + 12, 2), loadStrided(r2 + 12, 2));
  const t23 = f32x4.sub(loadStrided(r2 + 12, 2), loadStrided(r1 + 12, 2));
  const t33 = f32x4.sub(loadStrided(r1 + 12, 2), loadStrided(r3 + 12, 2));
  v128.store(dst, f32x4.sub(t00, t02));
  v128.store(dst + eBytes, f32x4.add(t01, t02));
  v128.store(dst + 2 * eBytes, f32x4.sub(t02, t01));
  v128.store(dst + 3 * eBytes, f32x4.sub(t01, t03));
  v128.store(dst + 4 * eBytes, f32x4.sub(t10, t12));
  v128.store(dst + 5 * eBytes, f32x4.add(t11, t12));
  v128.store(dst + 6 * eBytes, f32x4.sub(t12, t11));
  v128.store(dst + 7 * eBytes, f32x4.sub(t11, t13));
  v128.store(dst + 8 * eBytes, f32x4.sub(t20, t22));
  v128.store(dst + 9 * eBytes, f32x4.add(t21, t22));
  v128.store(dst + 10 * eBytes, f32x4.sub(t22, t21));
  v128.store(dst + 11 * eBytes, f32x4.sub(t21, t23));
  v128.store(dst + 12 * eBytes, f32x4.sub(t30, t32));
  v128.store(dst + 13 * eBytes, f32x4.add(t31, t32));
  v128.store(dst + 14 * eBytes, f32x4.sub(t32, t31));
  v128.store(dst + 15 * eBytes, f32x4.sub(t31, t33));
}

/**
 * Fills the padded plane of conv_winograd_input's padded path (ph = 2*tilesH + 2 rows by pw = 2*tilesW + 2
 * columns: the window every tile reads, starting at row -padTop and column -padLeft), +0.0 outside the image.
 */
function padPlane(
  plane: usize,
  height: i32,
  width: i32,
  padTop: i32,
  padLeft: i32,
  ph: i32,
  pw: i32,
  padPtr: usize,
): void {
  const pwBytes = (<usize>pw) << 2;
  const c0 = max(0, padLeft);
  const c1 = min(pw, width + padLeft);
  for (let r = 0; r < ph; r++) {
    const iy = r - padTop;
    const dst = padPtr + <usize>r * pwBytes;
    if (iy < 0 || iy >= height || c1 <= c0) {
      memory.fill(dst, 0, pwBytes);
      continue;
    }
    if (c0 > 0) memory.fill(dst, 0, (<usize>c0) << 2);
    memory.copy(
      dst + ((<usize>c0) << 2),
      plane + ((<usize>(iy * width + c0 - padLeft)) << 2),
      (<usize>(c1 - c0)) << 2,
    );
    if (c1 < pw) memory.fill(dst + ((<usize>c1) << 2), 0, (<usize>(pw - c1)) << 2);
  }
}

/**
 * conv_winograd_input through a zero-padded copy of each plane (padPtr, winograd_pad_len floats), for
 * tilesW >= 4: every tile is then inside, so all run four at a time (a last partial group is recomputed from tilesW - 4;
 * its repeated tiles get the same values). Same values as the bounds-checked path: +0.0 outside.
 */
function winogradInputPadded(
  xPtr: usize,
  images: i32,
  channels: i32,
  height: i32,
  width: i32,
  padTop: i32,
  padLeft: i32,
  tilesH: i32,
  tilesW: i32,
  vPtr: usize,
  tileLen: i32,
  eLen: i32,
  padPtr: usize,
): void {
  const ph = 2 * tilesH + 2;
  const pw = 2 * tilesW + 2;
  const pwBytes = (<usize>pw) << 2;
  const planeBytes = <usize>height * ((<usize>width) << 2);
  const eBytes = (<usize>eLen) << 2;
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      const plane = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
      padPlane(plane, height, width, padTop, padLeft, ph, pw, padPtr);
      const vc = vPtr + ((<usize>c * <usize>tileLen) << 2);
      for (let ty = 0; ty < tilesH; ty++) {
        const tRow = (n * tilesH + ty) * tilesW;
        const row = padPtr + <usize>(2 * ty) * pwBytes;
        for (let tx = 0; tx < tilesW; tx += 4) {
          const t = min(tx, tilesW - 4);
          winogradInputQuad(row + ((<usize>(2 * t)) << 2), pwBytes, vc + ((<usize>(tRow + t)) << 2), eBytes);
        }
      }
    }
  }
}

/** Floats of the padded plane conv_winograd_input's padPtr holds: (2*tilesH + 2) * (2*tilesW + 2). */
export function winograd_pad_len(tilesH: i32, tilesW: i32): i32 {
  return (2 * tilesH + 2) * (2 * tilesW + 2);
}

/**
 * Floats of the scratch conv_winograd_input_packed's padPtr holds: the padded plane (winograd_pad_len)
 * plus 64 for a group of four tiles that does not start on a 4-tile boundary of the packed panels.
 */
export function winograd_packed_pad_len(tilesH: i32, tilesW: i32): i32 {
  return winograd_pad_len(tilesH, tilesW) + 64;
}

/**
 * conv_winograd_input with each of the 16 blocks written in gemm_pack_b's layout of the channels x tileLen
 * matrix (NR = 8 tiles per panel, K slices of gemmSliceDepth(channels) channels), so that
 * gemm_nn_prepacked_ab reads V in place: with kc the depth of channel c's slice starting at pc and
 * nPadded = tileLen rounded up to 8,
 *   v[e*eLen + pc*nPadded + ((t >> 3)*kc + c - pc)*8 + (t & 7)] = (B^T d B)[e] of tile t, channel c,
 * the same values (same bits) as conv_winograd_input; the columns t in [tileLen, nPadded) are +0.0.
 * eLen >= gemm_packed_b_len(channels, tileLen); padPtr (not 0) holds winograd_packed_pad_len(tilesH,
 * tilesW) floats. x, v and the scratch must not overlap. With tilesW >= 4 every plane goes through the
 * padded copy and four tiles at a time; below, one bounds-checked tile at a time.
 */
export function conv_winograd_input_packed(
  xPtr: usize,
  images: i32,
  channels: i32,
  height: i32,
  width: i32,
  padTop: i32,
  padLeft: i32,
  tilesH: i32,
  tilesW: i32,
  vPtr: usize,
  tileLen: i32,
  eLen: i32,
  padPtr: usize,
): void {
  if (channels <= 0 || tileLen <= 0) return;
  const ph = 2 * tilesH + 2;
  const pw = 2 * tilesW + 2;
  const pwBytes = (<usize>pw) << 2;
  const quadPtr = padPtr + ((<usize>winograd_pad_len(tilesH, tilesW)) << 2);
  const planeBytes = <usize>height * ((<usize>width) << 2);
  const eBytes = (<usize>eLen) << 2;
  const kcMax = gemmSliceDepth(channels);
  const nPadded = ((tileLen + 7) >> 3) << 3;
  const padded = tilesW >= 4;
  for (let c = 0; c < channels; c++) {
    const pc = (c / kcMax) * kcMax;
    const kc = min(kcMax, channels - pc);
    // Channel c's row of each block: tile t at cBase + (t >> 3) * panelBytes + (t & 7) * 4.
    const cBase = vPtr + ((<usize>(pc * nPadded + (c - pc) * 8)) << 2);
    const panelBytes = <usize>kc * 32;
    for (let n = 0; n < images; n++) {
      const plane = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
      if (padded) padPlane(plane, height, width, padTop, padLeft, ph, pw, padPtr);
      for (let ty = 0; ty < tilesH; ty++) {
        const tRow = (n * tilesH + ty) * tilesW;
        if (!padded) {
          for (let tx = 0; tx < tilesW; tx++) {
            const t = tRow + tx;
            const dst = cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2);
            winogradInputTile(plane, width, height, 2 * ty - padTop, 2 * tx - padLeft, dst, eBytes);
          }
          continue;
        }
        const row = padPtr + <usize>(2 * ty) * pwBytes;
        for (let tx = 0; tx < tilesW; tx += 4) {
          const tq = min(tx, tilesW - 4);
          const t = tRow + tq;
          const src = row + ((<usize>(2 * tq)) << 2);
          if ((t & 3) === 0) {
            // Four tiles in one half of a panel: one f32x4 per position.
            winogradInputQuad(
              src,
              pwBytes,
              cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2),
              eBytes,
            );
            continue;
          }
          winogradInputQuad(src, pwBytes, quadPtr, 16);
          for (let j = 0; j < 4; j++) {
            const tj = t + j;
            const dst = cBase + <usize>(tj >> 3) * panelBytes + ((<usize>(tj & 7)) << 2);
            const from = quadPtr + ((<usize>j) << 2);
            for (let e = 0; e < 16; e++)
              store<f32>(dst + <usize>e * eBytes, load<f32>(from + ((<usize>e) << 4)));
          }
        }
      }
    }
    // The last panel's columns past tileLen: +0.0 (the GEMM computes them and drops them).
    for (let t = tileLen; t < nPadded; t++) {
      const dst = cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2);
      for (let e = 0; e < 16; e++) store<f32>(dst + <usize>e * eBytes, 0);
    }
  }
}

/** One tile of conv_winograd_input, scalar (same order), with the patch's outside pixels read as +0.0. */
function winogradInputTile(
  plane: usize,
  width: i32,
  height: i32,
  iy: i32,
  ix: i32,
  dst: usize,
  eBytes: usize,
): void {
  // Column k of t = B^T d from the patch's rows a, b, c, d.
  const a0 = pixelOrZero(plane, width, height, iy, ix + 0);
  const b0 = pixelOrZero(plane, width, height, iy + 1, ix + 0);
  const c0 = pixelOrZero(plane, width, height, iy + 2, ix + 0);
  const d0 = pixelOrZero(plane, width, height, iy + 3, ix + 0);
  const t00 = a0 - c0;
  const t10 = b0 + c0;
  const t20 = c0 - b0;
  const t30 = b0 - d0;
  const a1 = pixelOrZero(plane, width, height, iy, ix + 1);
  const b1 = pixelOrZero(plane, width, height, iy + 1, ix + 1);
  const c1 = pixelOrZero(plane, width, height, iy + 2, ix + 1);
  const d1 = pixelOrZero(plane, width, height, iy + 3, ix + 1);
  const t01 = a1 - c1;
  const t11 = b1 + c1;
  const t21 = c1 - b1;
  const t31 = b1 - d1;
  const a2 = pixelOrZero(plane, width, height, iy, ix + 2);
  const b2 = pixelOrZero(plane, width, height, iy + 1, ix + 2);
  const c2 = pixelOrZero(plane, width, height, iy + 2, ix + 2);
  const d2 = pixelOrZero(plane, width, height, iy + 3, ix + 2);
  const t02 = a2 - c2;
  const t12 = b2 + c2;
  const t22 = c2 - b2;
  const t32 = b2 - d2;
  const a3 = pixelOrZero(plane, width, height, iy, ix + 3);
  const b3 = pixelOrZero(plane, width, height, iy + 1, ix + 3);
  const c3 = pixelOrZero(plane, width, height, iy + 2, ix + 3);
  const d3 = pixelOrZero(plane, width, height, iy + 3, ix + 3);
  const t03 = a3 - c3;
  const t13 = b3 + c3;
  const t23 = c3 - b3;
  const t33 = b3 - d3;
  // Then each row of t: V[i][0..3].
  store<f32>(dst + 0 * eBytes, t00 - t02);
  store<f32>(dst + 1 * eBytes, t01 + t02);
  store<f32>(dst + 2 * eBytes, t02 - t01);
  store<f32>(dst + 3 * eBytes, t01 - t03);
  store<f32>(dst + 4 * eBytes, t10 - t12);
  store<f32>(dst + 5 * eBytes, t11 + t12);
  store<f32>(dst + 6 * eBytes, t12 - t11);
  store<f32>(dst + 7 * eBytes, t11 - t13);
  store<f32>(dst + 8 * eBytes, t20 - t22);
  store<f32>(dst + 9 * eBytes, t21 + t22);
  store<f32>(dst + 10 * eBytes, t22 - t21);
  store<f32>(dst + 11 * eBytes, t21 - t23);
  store<f32>(dst + 12 * eBytes, t30 - t32);
  store<f32>(dst + 13 * eBytes, t31 + t32);
  store<f32>(dst + 14 * eBytes, t32 - t31);
  store<f32>(dst + 15 * eBytes, t31 - t33);
}

/**
 * Winograd F(2x2, 3x3) output transform, bias and activation: for every filter f and tile, Y = A^T m A,
 * rows first: per column j, s0 = (m0 + m1) + m2, s1 = (m1 - m2) - m3; then per row i,
 * Y[i][0] = (s_i0 + s_i1) + s_i2, Y[i][1] = (s_i1 - s_i2) - s_i3; then y = Y + bias[f] (no add when
 * biasPtr is 0), and once a whole output plane is written, y = act(y) with the codes of act.ts (the same
 * bits as act_bias_rows on the same sums). Outputs past outH x outW (odd sizes) are dropped.
 * m is 16 blocks of filters x tileLen, eLen apart (layout above), y is images x filters x outH x outW, tilesH = ceil(outH/2),
 * tilesW = ceil(outW/2). Sizes >= 0. m and y must not overlap.
 */
export function conv_winograd_output(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
): void {
  winogradOutput(
    mPtr,
    tileLen,
    eLen,
    filters,
    images,
    tilesH,
    tilesW,
    outH,
    outW,
    biasPtr,
    act,
    a0,
    a1,
    yPtr,
    0,
  );
}

/**
 * conv_winograd_output with a residual (the Add after the conv, fused): once a plane is written,
 * y = y + r (r images x filters x outH x outW like y, one f32 add per output), then the activation: the
 * same bits as conv_winograd_output, then an elementwise Add, then the activation. r must not overlap m
 * or y.
 */
export function conv_winograd_output_res(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
  resPtr: usize,
): void {
  winogradOutput(
    mPtr,
    tileLen,
    eLen,
    filters,
    images,
    tilesH,
    tilesW,
    outH,
    outW,
    biasPtr,
    act,
    a0,
    a1,
    yPtr,
    resPtr,
  );
}

function winogradOutput(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
  resPtr: usize,
): void {
  const outRowBytes = (<usize>outW) << 2;
  const planeLen = outH * outW;
  const eBytes = (<usize>eLen) << 2;
  // Tiles tx < txFull write both of their columns.
  const txFull = outW / 2;
  for (let n = 0; n < images; n++) {
    for (let f = 0; f < filters; f++) {
      const yPlane = yPtr + ((<usize>(n * filters + f) * <usize>planeLen) << 2);
      const mf = mPtr + ((<usize>f * <usize>tileLen) << 2);
      const hasBias = biasPtr !== 0;
      const b: f32 = hasBias ? load<f32>(biasPtr + ((<usize>f) << 2)) : 0;
      const vb = f32x4.splat(b);
      for (let ty = 0; ty < tilesH; ty++) {
        const tRow = (n * tilesH + ty) * tilesW;
        const yRow = yPlane + <usize>(2 * ty) * outRowBytes;
        const twoRows = 2 * ty + 1 < outH;
        let tx = 0;
        if (twoRows) {
          for (; tx + 4 <= txFull; tx += 4) {
            const src = mf + ((<usize>(tRow + tx)) << 2);
            // Column j of A^T m: s0j = (m0j + m1j) + m2j, s1j = (m1j - m2j) - m3j (m_ij at e = 4i + j).
            const m4 = v128.load(src + 4 * eBytes);
            const m8 = v128.load(src + 8 * eBytes);
            const s00 = f32x4.add(f32x4.add(v128.load(src), m4), m8);
            const s10 = f32x4.sub(f32x4.sub(m4, m8), v128.load(src + 12 * eBytes));
            const m5 = v128.load(src + 5 * eBytes);
            const m9 = v128.load(src + 9 * eBytes);
            const s01 = f32x4.add(f32x4.add(v128.load(src + eBytes), m5), m9);
            const s11 = f32x4.sub(f32x4.sub(m5, m9), v128.load(src + 13 * eBytes));
            const m6 = v128.load(src + 6 * eBytes);
            const m10 = v128.load(src + 10 * eBytes);
            const s02 = f32x4.add(f32x4.add(v128.load(src + 2 * eBytes), m6), m10);
            const s12 = f32x4.sub(f32x4.sub(m6, m10), v128.load(src + 14 * eBytes));
            const m7 = v128.load(src + 7 * eBytes);
            const m11 = v128.load(src + 11 * eBytes);
            const s03 = f32x4.add(f32x4.add(v128.load(src + 3 * eBytes), m7), m11);
            const s13 = f32x4.sub(f32x4.sub(m7, m11), v128.load(src + 15 * eBytes));
            let y00 = f32x4.add(f32x4.add(s00, s01), s02);
            let y01 = f32x4.sub(f32x4.sub(s01, s02), s03);
            let y10 = f32x4.add(f32x4.add(s10, s11), s12);
            let y11 = f32x4.sub(f32x4.sub(s11, s12), s13);
            if (hasBias) {
              y00 = f32x4.add(y00, vb);
              y01 = f32x4.add(y01, vb);
              y10 = f32x4.add(y10, vb);
              y11 = f32x4.add(y11, vb);
            }
            // Tile lanes 0..3 hold columns 2tx + 2*lane (y_i0) and 2tx + 2*lane + 1 (y_i1): interleave.
            const top = yRow + ((<usize>(2 * tx)) << 2);
            const bottom = top + outRowBytes;
            v128.store(top, f32x4.shuffle(y00, y01, 0, 4, 1, 5));
            v128.store(top, f32x4.shuffle(y00, y01, 2, 6, 3, 7), 16);
            v128.store(bottom, f32x4.shuffle(y10, y11, 0, 4, 1, 5));
            v128.store(bottom, f32x4.shuffle(y10, y11, 2, 6, 3, 7), 16);
          }
        }
        for (; tx < tilesW; tx++)
          winogradOutputTile(
            mf + ((<usize>(tRow + tx)) << 2),
            eBytes,
            yRow,
            outRowBytes,
            2 * tx,
            outW,
            twoRows,
            hasBias,
            b,
          );
      }
      if (resPtr !== 0) addSpan(yPlane, resPtr + (yPlane - yPtr), planeLen);
      if (act !== ACT_NONE) actSpan(yPlane, yPlane, planeLen, act, a0, a1);
    }
  }
}

/** One tile of conv_winograd_output, scalar (same order), writing only the outputs inside the image. */
function winogradOutputTile(
  src: usize,
  eBytes: usize,
  yRow: usize,
  outRowBytes: usize,
  ox: i32,
  outW: i32,
  twoRows: bool,
  hasBias: bool,
  b: f32,
): void {
  const twoCols = ox + 1 < outW;
  for (let i = 0; i < 2; i++) {
    if (i === 1 && !twoRows) return;
    // Row i of A^T m at column j: i = 0: (m0j + m1j) + m2j; i = 1: (m1j - m2j) - m3j.
    let s0: f32;
    let s1: f32;
    let s2: f32;
    let s3: f32;
    if (i === 0) {
      s0 = load<f32>(src) + load<f32>(src + 4 * eBytes) + load<f32>(src + 8 * eBytes);
      s1 = load<f32>(src + eBytes) + load<f32>(src + 5 * eBytes) + load<f32>(src + 9 * eBytes);
      s2 = load<f32>(src + 2 * eBytes) + load<f32>(src + 6 * eBytes) + load<f32>(src + 10 * eBytes);
      s3 = load<f32>(src + 3 * eBytes) + load<f32>(src + 7 * eBytes) + load<f32>(src + 11 * eBytes);
    } else {
      s0 = load<f32>(src + 4 * eBytes) - load<f32>(src + 8 * eBytes) - load<f32>(src + 12 * eBytes);
      s1 = load<f32>(src + 5 * eBytes) - load<f32>(src + 9 * eBytes) - load<f32>(src + 13 * eBytes);
      s2 = load<f32>(src + 6 * eBytes) - load<f32>(src + 10 * eBytes) - load<f32>(src + 14 * eBytes);
      s3 = load<f32>(src + 7 * eBytes) - load<f32>(src + 11 * eBytes) - load<f32>(src + 15 * eBytes);
    }
    let y0 = s0 + s1 + s2;
    let y1 = s1 - s2 - s3;
    if (hasBias) {
      y0 += b;
      y1 += b;
    }
    const at = yRow + <usize>i * outRowBytes + ((<usize>ox) << 2);
    store<f32>(at, y0);
    if (twoCols) store<f32>(at, y1, 4);
  }
}

// ---- Winograd F(4x4, 3x3) (Lavin & Gray 2016, §4.2: the points 0, ±1, ±2, ∞) ----
//
// Each 4x4 output tile from a 6x6 input patch d: Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, 36 GEMMs
// (e = 6*row + col), 2.25 products per output pixel against 4 for F(2x2, 3x3). Tile
// t = (n*tilesH + ty)*tilesW + tx covers output rows 4ty..4ty+3 and columns 4tx..4tx+3 and reads input rows
// 4ty - padTop + 0..5 and columns 4tx - padLeft + 0..5 (+0.0 outside the image).
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// Both transforms run rows first, then columns, one f32 operation at a time in the order written in
// winograd4In / winograd4Out (no FMA); the multiplications by 2, 4 and 8 are exact.

/** B^T of six values d0..d5, stored `stride` bytes apart from dst. */
function winograd4In(d0: f32, d1: f32, d2: f32, d3: f32, d4: f32, d5: f32, dst: usize, stride: usize): void {
  store<f32>(dst, <f32>4 * d0 - <f32>5 * d2 + d4);
  store<f32>(dst + stride, d4 + d3 - <f32>4 * (d1 + d2));
  store<f32>(dst + 2 * stride, d4 - d3 + <f32>4 * (d1 - d2));
  store<f32>(dst + 3 * stride, d4 - d2 + <f32>2 * (d3 - d1));
  store<f32>(dst + 4 * stride, d4 - d2 - <f32>2 * (d3 - d1));
  store<f32>(dst + 5 * stride, <f32>4 * d1 - <f32>5 * d3 + d5);
}

/**
 * Floats of the scratch conv_winograd4_input_packed's padPtr holds: the padded plane
 * (4*tilesH + 2) x (4*tilesW + 2), then the tile rows' half-transformed values, 6 rows of
 * 4*tilesW + 4 per tile row (at least the 36 of one tile).
 */
export function winograd4_pad_len(tilesH: i32, tilesW: i32): i32 {
  return (4 * tilesH + 2) * (4 * tilesW + 2) + max(36, 6 * (4 * tilesW + 4) * max(1, tilesH));
}

/**
 * B^T of six f32x4 (four tiles, one per lane), stored `stride` bytes apart from dst (same order as
 * winograd4In). Binaryen inlines it, so the six results go straight to their destination.
 */
function winograd4InV(
  d0: v128,
  d1: v128,
  d2: v128,
  d3: v128,
  d4: v128,
  d5: v128,
  dst: usize,
  stride: usize,
): void {
  const four = f32x4.splat(4);
  const five = f32x4.splat(5);
  const two = f32x4.splat(2);
  const e = f32x4.sub(d4, d2);
  const h = f32x4.mul(two, f32x4.sub(d3, d1));
  v128.store(dst, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4));
  v128.store(dst + stride, f32x4.sub(f32x4.add(d4, d3), f32x4.mul(four, f32x4.add(d1, d2))));
  v128.store(dst + 2 * stride, f32x4.add(f32x4.sub(d4, d3), f32x4.mul(four, f32x4.sub(d1, d2))));
  v128.store(dst + 3 * stride, f32x4.add(e, h));
  v128.store(dst + 4 * stride, f32x4.sub(e, h));
  v128.store(dst + 5 * stride, f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5));
}

/** Six f32x4 of winograd4InV's results (four tiles, 16-byte aligned). */
const W4_QUAD: usize = memory.data(6 * 16, 16);

/**
 * Rows first for the tile row starting at padded row `row` (pwBytes apart), four columns at a time: the
 * six rows of B^T d over columns 0 .. 4*tilesW + 3 into buf (rows bufRowBytes apart). The last group
 * reads up to 2 floats past the padded row (the next row, or buf): lanes no tile uses.
 */
function winograd4RowsFirst(row: usize, pwBytes: usize, tilesW: i32, buf: usize, bufRowBytes: usize): void {
  for (let x = 0; x < 4 * tilesW + 4; x += 4) {
    const p = row + ((<usize>x) << 2);
    winograd4InV(
      v128.load(p),
      v128.load(p + pwBytes),
      v128.load(p + 2 * pwBytes),
      v128.load(p + 3 * pwBytes),
      v128.load(p + 4 * pwBytes),
      v128.load(p + 5 * pwBytes),
      buf + ((<usize>x) << 2),
      bufRowBytes,
    );
  }
}

/**
 * Then per row i of the four tiles tq..tq+3 (buf's columns 4tq..4tq+19, transposed so that lane j is tile
 * tq + j): V[6i + j] into dst(tile) + (6i + j)*eBytes, one f32x4 when the four tiles are one half-panel
 * (`aligned`: dst0 holds all four), else lane by lane at dst0..dst3.
 */
function winograd4ColsQuad(
  buf: usize,
  bufRowBytes: usize,
  tq: i32,
  eBytes: usize,
  aligned: bool,
  dst0: usize,
  dst1: usize,
  dst2: usize,
  dst3: usize,
): void {
  for (let i = 0; i < 6; i++) {
    const base = buf + <usize>i * bufRowBytes + ((<usize>(4 * tq)) << 2);
    const v0 = v128.load(base);
    const v1 = v128.load(base, 16);
    const v2 = v128.load(base, 32);
    const v3 = v128.load(base, 48);
    const v4 = v128.load(base, 64);
    const t0 = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
    const t1 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t2 = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
    const t3 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
    const c0 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
    const c1 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
    const c2 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
    const c3 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
    const c4 = f32x4.shuffle(c0, v4, 1, 2, 3, 4);
    const c5 = f32x4.shuffle(c1, v4, 1, 2, 3, 5);
    const off = <usize>(6 * i) * eBytes;
    if (aligned) {
      winograd4InV(c0, c1, c2, c3, c4, c5, dst0 + off, eBytes);
      continue;
    }
    winograd4InV(c0, c1, c2, c3, c4, c5, W4_QUAD, 16);
    for (let j = 0; j < 6; j++) {
      const q = W4_QUAD + ((<usize>j) << 4);
      const o = off + <usize>j * eBytes;
      store<f32>(dst0 + o, load<f32>(q));
      store<f32>(dst1 + o, load<f32>(q, 4));
      store<f32>(dst2 + o, load<f32>(q, 8));
      store<f32>(dst3 + o, load<f32>(q, 12));
    }
  }
}

/** Where tile `tile` of a plane (row-major, tilesW per row) starts in the rows-first values at buf. */
function winograd4TileSrc(buf: usize, tileRowBytes: usize, tilesW: i32, tile: i32): usize {
  const ty = tile / tilesW;
  return buf + <usize>ty * tileRowBytes + ((<usize>(4 * (tile - ty * tilesW))) << 2);
}

/**
 * Then per row i of four tiles anywhere in the half-transformed rows (tile j's 6 columns of row 0 at
 * srcj, rows bufRowBytes apart; transposed so that lane j is tile j): V[6i + j] as winograd4ColsQuad
 * stores it. For maps under four tiles wide, where four consecutive tiles span tile rows.
 */
function winograd4ColsGroup(
  bufRowBytes: usize,
  src0: usize,
  src1: usize,
  src2: usize,
  src3: usize,
  eBytes: usize,
  aligned: bool,
  dst0: usize,
  dst1: usize,
  dst2: usize,
  dst3: usize,
): void {
  for (let i = 0; i < 6; i++) {
    const o = <usize>i * bufRowBytes;
    const a0 = v128.load(src0 + o);
    const a1 = v128.load(src1 + o);
    const a2 = v128.load(src2 + o);
    const a3 = v128.load(src3 + o);
    const u0 = f32x4.shuffle(v128.load64_zero(src0 + o + 16), v128.load64_zero(src1 + o + 16), 0, 4, 1, 5);
    const u1 = f32x4.shuffle(v128.load64_zero(src2 + o + 16), v128.load64_zero(src3 + o + 16), 0, 4, 1, 5);
    const t0 = f32x4.shuffle(a0, a1, 0, 4, 1, 5);
    const t1 = f32x4.shuffle(a0, a1, 2, 6, 3, 7);
    const t2 = f32x4.shuffle(a2, a3, 0, 4, 1, 5);
    const t3 = f32x4.shuffle(a2, a3, 2, 6, 3, 7);
    const c0 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
    const c1 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
    const c2 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
    const c3 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
    const c4 = f32x4.shuffle(u0, u1, 0, 1, 4, 5);
    const c5 = f32x4.shuffle(u0, u1, 2, 3, 6, 7);
    const off = <usize>(6 * i) * eBytes;
    if (aligned) {
      winograd4InV(c0, c1, c2, c3, c4, c5, dst0 + off, eBytes);
      continue;
    }
    winograd4InV(c0, c1, c2, c3, c4, c5, W4_QUAD, 16);
    for (let j = 0; j < 6; j++) {
      const q = W4_QUAD + ((<usize>j) << 4);
      const oj = off + <usize>j * eBytes;
      store<f32>(dst0 + oj, load<f32>(q));
      store<f32>(dst1 + oj, load<f32>(q, 4));
      store<f32>(dst2 + oj, load<f32>(q, 8));
      store<f32>(dst3 + oj, load<f32>(q, 12));
    }
  }
}

/**
 * Winograd F(4x4, 3x3) input transform V = B^T d B (see above) of `images` NCHW images, each of the 36
 * blocks written in gemm_pack_b's layout of the channels x tileLen matrix like conv_winograd_input_packed:
 *   v[e*eLen + pc*nPadded + ((t >> 3)*kc + c - pc)*8 + (t & 7)] = (B^T d B)[e] of tile t, channel c,
 * the columns t in [tileLen, nPadded) +0.0. tileLen >= images*tilesH*tilesW, eLen >=
 * gemm_packed_b_len(channels, tileLen); padPtr holds winograd4_pad_len(tilesH, tilesW) floats. Each plane
 * is copied there with its zero border first; with tilesW >= 4 each tile row then runs four tiles per
 * f32x4, on narrower maps of at least four tiles four consecutive tiles of the plane (across tile rows)
 * per f32x4, on smaller ones one tile at a time (same bits every way). x, v and the scratch must not
 * overlap. Sizes >= 0.
 */
export function conv_winograd4_input_packed(
  xPtr: usize,
  images: i32,
  channels: i32,
  height: i32,
  width: i32,
  padTop: i32,
  padLeft: i32,
  tilesH: i32,
  tilesW: i32,
  vPtr: usize,
  tileLen: i32,
  eLen: i32,
  padPtr: usize,
): void {
  if (channels <= 0 || tileLen <= 0) return;
  const ph = 4 * tilesH + 2;
  const pw = 4 * tilesW + 2;
  const pwBytes = (<usize>pw) << 2;
  const tmp = padPtr + ((<usize>(ph * pw)) << 2);
  const bufRowBytes = (<usize>(4 * tilesW + 4)) << 2;
  const quads = tilesW >= 4;
  const perPlane = tilesH * tilesW;
  // Narrower maps with four tiles or more: all tile rows' rows-first values, then four consecutive tiles
  // (across tile rows) per f32x4.
  const groups = !quads && perPlane >= 4;
  const tileRowBytes = bufRowBytes * 6;
  const planeBytes = <usize>height * ((<usize>width) << 2);
  const eBytes = (<usize>eLen) << 2;
  const kcMax = gemmSliceDepth(channels);
  const nPadded = ((tileLen + 7) >> 3) << 3;
  for (let c = 0; c < channels; c++) {
    const pc = (c / kcMax) * kcMax;
    const kc = min(kcMax, channels - pc);
    const cBase = vPtr + ((<usize>(pc * nPadded + (c - pc) * 8)) << 2);
    const panelBytes = <usize>kc * 32;
    for (let n = 0; n < images; n++) {
      const plane = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
      padPlane(plane, height, width, padTop, padLeft, ph, pw, padPtr);
      if (groups) {
        for (let ty = 0; ty < tilesH; ty++) {
          const rowsAt = tmp + <usize>ty * tileRowBytes;
          winograd4RowsFirst(padPtr + <usize>(4 * ty) * pwBytes, pwBytes, tilesW, rowsAt, bufRowBytes);
        }
        for (let g = 0; g < perPlane; g += 4) {
          // A last partial group recomputed from perPlane - 4: same values.
          const gq = min(g, perPlane - 4);
          const t = n * perPlane + gq;
          winograd4ColsGroup(
            bufRowBytes,
            winograd4TileSrc(tmp, tileRowBytes, tilesW, gq),
            winograd4TileSrc(tmp, tileRowBytes, tilesW, gq + 1),
            winograd4TileSrc(tmp, tileRowBytes, tilesW, gq + 2),
            winograd4TileSrc(tmp, tileRowBytes, tilesW, gq + 3),
            eBytes,
            (t & 3) === 0,
            cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2),
            cBase + <usize>((t + 1) >> 3) * panelBytes + ((<usize>((t + 1) & 7)) << 2),
            cBase + <usize>((t + 2) >> 3) * panelBytes + ((<usize>((t + 2) & 7)) << 2),
            cBase + <usize>((t + 3) >> 3) * panelBytes + ((<usize>((t + 3) & 7)) << 2),
          );
        }
        continue;
      }
      for (let ty = 0; ty < tilesH; ty++) {
        const tRow = (n * tilesH + ty) * tilesW;
        const row = padPtr + <usize>(4 * ty) * pwBytes;
        if (quads) {
          // Four tiles at a time (a last partial group recomputed from tilesW - 4: same values).
          winograd4RowsFirst(row, pwBytes, tilesW, tmp, bufRowBytes);
          for (let tx = 0; tx < tilesW; tx += 4) {
            const tq = min(tx, tilesW - 4);
            const t = tRow + tq;
            const d0 = cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2);
            const d1 = cBase + <usize>((t + 1) >> 3) * panelBytes + ((<usize>((t + 1) & 7)) << 2);
            const d2 = cBase + <usize>((t + 2) >> 3) * panelBytes + ((<usize>((t + 2) & 7)) << 2);
            const d3 = cBase + <usize>((t + 3) >> 3) * panelBytes + ((<usize>((t + 3) & 7)) << 2);
            winograd4ColsQuad(tmp, bufRowBytes, tq, eBytes, (t & 3) === 0, d0, d1, d2, d3);
          }
          continue;
        }
        for (let tx = 0; tx < tilesW; tx++) {
          const t = tRow + tx;
          // Rows first: column k of B^T d into tmp[i*6 + k].
          const src = row + ((<usize>(4 * tx)) << 2);
          for (let k = 0; k < 6; k++) {
            const p = src + ((<usize>k) << 2);
            winograd4In(
              load<f32>(p),
              load<f32>(p + pwBytes),
              load<f32>(p + 2 * pwBytes),
              load<f32>(p + 3 * pwBytes),
              load<f32>(p + 4 * pwBytes),
              load<f32>(p + 5 * pwBytes),
              tmp + ((<usize>k) << 2),
              24,
            );
          }
          // Then each row i of it: V[6i + j].
          const dst = cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2);
          for (let i = 0; i < 6; i++) {
            const r = tmp + <usize>i * 24;
            winograd4In(
              load<f32>(r),
              load<f32>(r, 4),
              load<f32>(r, 8),
              load<f32>(r, 12),
              load<f32>(r, 16),
              load<f32>(r, 20),
              dst + <usize>(6 * i) * eBytes,
              eBytes,
            );
          }
        }
      }
    }
    for (let t = tileLen; t < nPadded; t++) {
      const dst = cBase + <usize>(t >> 3) * panelBytes + ((<usize>(t & 7)) << 2);
      for (let e = 0; e < 36; e++) store<f32>(dst + <usize>e * eBytes, 0);
    }
  }
}

/**
 * Winograd F(4x4, 3x3) output transform, bias and activation: for every filter f and tile, Y = A^T m A
 * (rows first, see winograd4Out), y = Y + bias[f] (no add when biasPtr is 0), and once a whole output plane
 * is written, y = act(y) (act.ts codes). Outputs past outH x outW are dropped. m is 36 blocks of
 * filters x tileLen, row-major, eLen apart; y is images x filters x outH x outW, tilesH = ceil(outH/4),
 * tilesW = ceil(outW/4). Sizes >= 0. m and y must not overlap.
 */
export function conv_winograd4_output(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
): void {
  winograd4Output(
    mPtr,
    tileLen,
    eLen,
    filters,
    images,
    tilesH,
    tilesW,
    outH,
    outW,
    biasPtr,
    act,
    a0,
    a1,
    yPtr,
    0,
  );
}

/** conv_winograd4_output with a residual, as conv_winograd_output_res: y = act((Y + bias) + r). */
export function conv_winograd4_output_res(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
  resPtr: usize,
): void {
  winograd4Output(
    mPtr,
    tileLen,
    eLen,
    filters,
    images,
    tilesH,
    tilesW,
    outH,
    outW,
    biasPtr,
    act,
    a0,
    a1,
    yPtr,
    resPtr,
  );
}

function winograd4Output(
  mPtr: usize,
  tileLen: i32,
  eLen: i32,
  filters: i32,
  images: i32,
  tilesH: i32,
  tilesW: i32,
  outH: i32,
  outW: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
  yPtr: usize,
  resPtr: usize,
): void {
  const planeLen = outH * outW;
  const eBytes = (<usize>eLen) << 2;
  const hasBias = biasPtr !== 0;
  // Rows 0..3 of A^T m (6 floats each), then one row of Y.
  const tmp = memory.data(28 * 4);
  // Tiles tx < txFull write all four of their columns.
  const txFull = outW / 4;
  // Maps under four tiles wide, every tile whole, at least four tiles: four consecutive tiles of the plane
  // (across tile rows) per f32x4, each stored at its own place.
  const perPlane = tilesH * tilesW;
  const groups = tilesW < 4 && perPlane >= 4 && outW === 4 * tilesW && outH === 4 * tilesH;
  for (let n = 0; n < images; n++) {
    for (let f = 0; f < filters; f++) {
      const yPlane = yPtr + ((<usize>(n * filters + f) * <usize>planeLen) << 2);
      const mf = mPtr + ((<usize>f * <usize>tileLen) << 2);
      const b: f32 = hasBias ? load<f32>(biasPtr + ((<usize>f) << 2)) : 0;
      if (groups) {
        for (let g = 0; g < perPlane; g += 4) {
          // A last partial group recomputed from perPlane - 4: same values.
          const gq = min(g, perPlane - 4);
          winograd4OutQuad(
            mf + ((<usize>(n * perPlane + gq)) << 2),
            eBytes,
            winograd4TileDst(yPlane, outW, tilesW, gq),
            winograd4TileDst(yPlane, outW, tilesW, gq + 1),
            winograd4TileDst(yPlane, outW, tilesW, gq + 2),
            winograd4TileDst(yPlane, outW, tilesW, gq + 3),
            outW,
            4,
            hasBias,
            b,
          );
        }
        if (resPtr !== 0) addSpan(yPlane, resPtr + (yPlane - yPtr), planeLen);
        if (act !== ACT_NONE) actSpan(yPlane, yPlane, planeLen, act, a0, a1);
        continue;
      }
      for (let ty = 0; ty < tilesH; ty++) {
        const rows = min(4, outH - 4 * ty);
        let tx = 0;
        for (; tx + 4 <= txFull; tx += 4) {
          const src = mf + ((<usize>((n * tilesH + ty) * tilesW + tx)) << 2);
          const y0p = yPlane + ((<usize>(4 * ty * outW + 4 * tx)) << 2);
          winograd4OutQuad(src, eBytes, y0p, y0p + 16, y0p + 32, y0p + 48, outW, rows, hasBias, b);
        }
        for (; tx < tilesW; tx++) {
          const src = mf + ((<usize>((n * tilesH + ty) * tilesW + tx)) << 2);
          // Rows first: column j of A^T m into tmp[i*6 + j].
          for (let j = 0; j < 6; j++) {
            const p = src + <usize>j * eBytes;
            winograd4Out(
              load<f32>(p),
              load<f32>(p + 6 * eBytes),
              load<f32>(p + 12 * eBytes),
              load<f32>(p + 18 * eBytes),
              load<f32>(p + 24 * eBytes),
              load<f32>(p + 30 * eBytes),
              tmp + ((<usize>j) << 2),
              24,
            );
          }
          const cols = min(4, outW - 4 * tx);
          for (let i = 0; i < rows; i++) {
            const r = tmp + <usize>i * 24;
            const out = tmp + 24 * 4;
            winograd4Out(
              load<f32>(r),
              load<f32>(r, 4),
              load<f32>(r, 8),
              load<f32>(r, 12),
              load<f32>(r, 16),
              load<f32>(r, 20),
              out,
              4,
            );
            const at = yPlane + ((<usize>((4 * ty + i) * outW + 4 * tx)) << 2);
            for (let j = 0; j < cols; j++) {
              let y = load<f32>(out + ((<usize>j) << 2));
              if (hasBias) y += b;
              store<f32>(at + ((<usize>j) << 2), y);
            }
          }
        }
      }
      if (resPtr !== 0) addSpan(yPlane, resPtr + (yPlane - yPtr), planeLen);
      if (act !== ACT_NONE) actSpan(yPlane, yPlane, planeLen, act, a0, a1);
    }
  }
}

/** A^T of six values m0..m5 (four results), stored `stride` bytes apart from dst. */
function winograd4Out(m0: f32, m1: f32, m2: f32, m3: f32, m4: f32, m5: f32, dst: usize, stride: usize): void {
  const p = m1 + m2;
  const q = m1 - m2;
  const r = m3 + m4;
  const s = m3 - m4;
  store<f32>(dst, m0 + p + r);
  store<f32>(dst + stride, q + <f32>2 * s);
  store<f32>(dst + 2 * stride, p + <f32>4 * r);
  store<f32>(dst + 3 * stride, q + <f32>8 * s + m5);
}

/** A^T of six f32x4 (four tiles, one per lane), the four results 16 bytes apart from dst (winograd4Out's order). */
function winograd4OutV(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, dst: usize): void {
  const p = f32x4.add(m1, m2);
  const q = f32x4.sub(m1, m2);
  const r = f32x4.add(m3, m4);
  const s = f32x4.sub(m3, m4);
  v128.store(dst, f32x4.add(f32x4.add(m0, p), r));
  v128.store(dst, f32x4.add(q, f32x4.mul(f32x4.splat(2), s)), 16);
  v128.store(dst, f32x4.add(p, f32x4.mul(f32x4.splat(4), r)), 32);
  v128.store(dst, f32x4.add(f32x4.add(q, f32x4.mul(f32x4.splat(8), s)), m5), 48);
}

/** Rows 0..3 of A^T m for four tiles (4 x 6 f32x4); 16-byte aligned. */
const W4_OUT: usize = memory.data(24 * 16, 16);

/** The top-left output pixel of tile `tile` of a plane (row-major, tilesW per row) in yPlane. */
function winograd4TileDst(yPlane: usize, outW: i32, tilesW: i32, tile: i32): usize {
  const ty = tile / tilesW;
  return yPlane + ((<usize>(4 * ty * outW + 4 * (tile - ty * tilesW))) << 2);
}

/**
 * Four consecutive tiles of conv_winograd4_output (columns src.. of m), all four columns inside the image,
 * rows 0..rows-1 written at y0p..y3p (rows outW floats apart): the same operations lane by lane, then
 * each row transposed to the tiles' pixels.
 */
function winograd4OutQuad(
  src: usize,
  eBytes: usize,
  y0p: usize,
  y1p: usize,
  y2p: usize,
  y3p: usize,
  outW: i32,
  rows: i32,
  hasBias: bool,
  b: f32,
): void {
  for (let j = 0; j < 6; j++) {
    const p = src + <usize>j * eBytes;
    winograd4OutV(
      v128.load(p),
      v128.load(p + 6 * eBytes),
      v128.load(p + 12 * eBytes),
      v128.load(p + 18 * eBytes),
      v128.load(p + 24 * eBytes),
      v128.load(p + 30 * eBytes),
      W4_OUT + ((<usize>j) << 6),
    );
  }
  // (A^T m)[i][j] of the four tiles is at W4_OUT + 64*j + 16*i.
  const vb = f32x4.splat(b);
  const rowBytes = (<usize>outW) << 2;
  for (let i = 0; i < rows; i++) {
    const r = W4_OUT + ((<usize>i) << 4);
    // winograd4OutV's operations, kept in registers.
    const m0 = v128.load(r);
    const m1 = v128.load(r, 64);
    const m2 = v128.load(r, 128);
    const m3 = v128.load(r, 192);
    const m4 = v128.load(r, 256);
    const m5 = v128.load(r, 320);
    const p = f32x4.add(m1, m2);
    const q = f32x4.sub(m1, m2);
    const rr = f32x4.add(m3, m4);
    const ss = f32x4.sub(m3, m4);
    let y0 = f32x4.add(f32x4.add(m0, p), rr);
    let y1 = f32x4.add(q, f32x4.mul(f32x4.splat(2), ss));
    let y2 = f32x4.add(p, f32x4.mul(f32x4.splat(4), rr));
    let y3 = f32x4.add(f32x4.add(q, f32x4.mul(f32x4.splat(8), ss)), m5);
    if (hasBias) {
      y0 = f32x4.add(y0, vb);
      y1 = f32x4.add(y1, vb);
      y2 = f32x4.add(y2, vb);
      y3 = f32x4.add(y3, vb);
    }
    // Lane l of y_j is tile l's Y[i][j]: transpose to each tile's four pixels.
    const t0 = f32x4.shuffle(y0, y1, 0, 4, 1, 5);
    const t1 = f32x4.shuffle(y0, y1, 2, 6, 3, 7);
    const t2 = f32x4.shuffle(y2, y3, 0, 4, 1, 5);
    const t3 = f32x4.shuffle(y2, y3, 2, 6, 3, 7);
    const at = <usize>i * rowBytes;
    v128.store(y0p + at, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(y1p + at, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
    v128.store(y2p + at, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
    v128.store(y3p + at, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
  }
}

// ---- Tap-split convolution for small maps ----
// On a small output map most of an im2col column is padding (a 3x3 pad-1 conv on a 2x2 map: 5 of every 9
// taps of each output pixel). Here each tap (i, j) of the kernel runs as its own GEMM on only the output
// pixels it reaches: the rectangle oy in [oyLo, oyHi), ox in [oxLo, oxHi) whose input pixel
// (oy*strideH + i*dilationH - padTop, ox*strideW + j*dilationW - padLeft) is inside the image. Per tap:
// gather those input pixels (channels x n), C = W_ij (filters x channels, prepacked) x B with
// gemm_nn_prepacked, then add C into y. y starts at +0 and the taps add in (i, j) order; each tap's sum
// over channels is the GEMM's.

/** Floats of scratch conv_tapsplit needs: the gathered pixels, one tap's products, the GEMM's scratch. */
export function conv_tapsplit_scratch_len(channels: i32, filters: i32, ohw: i32): i32 {
  const g = gemm_scratch_len(filters, ohw, channels);
  return ((channels * ohw + 3) & ~3) + ((filters * ohw + 3) & ~3) + g;
}

/**
 * One image of a convolution (one group) by taps: y (filters x outH x outW) = sum over the kernel's taps
 * (i, j) in order of W_ij x (the tap's input pixels), padding skipped. wPtr holds kernelH*kernelW blocks of
 * gemm_packed_a_len(filters, channels) floats, block i*kernelW + j the prepacked filters x channels
 * matrix W[:, :, i, j] (a block of a tap that reaches no output pixel is never read). scratchPtr holds
 * conv_tapsplit_scratch_len(channels, filters, outH*outW) floats. No bias, no activation. Sizes >= 1;
 * x, y, w and the scratch must not overlap.
 */
export function conv_tapsplit(
  xPtr: usize,
  channels: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
  wPtr: usize,
  filters: i32,
  yPtr: usize,
  scratchPtr: usize,
): void {
  const ohw = outH * outW;
  const bPtr = scratchPtr;
  const cPtr = bPtr + ((<usize>((channels * ohw + 3) & ~3)) << 2);
  const gPtr = cPtr + ((<usize>((filters * ohw + 3) & ~3)) << 2);
  const blockBytes = (<usize>gemm_packed_a_len(filters, channels)) << 2;
  const planeLen = <usize>height * <usize>width;
  const yLen = <usize>filters * <usize>ohw;
  for (let q: usize = 0; q < yLen; q++) store<f32>(yPtr + (q << 2), 0);
  for (let i = 0; i < kernelH; i++) {
    const rowOff = i * dilationH - padTop;
    const oyLo = firstInside(rowOff, strideH, outH);
    const oyHi = endInside(rowOff, strideH, height, outH, oyLo);
    if (oyHi <= oyLo) continue;
    for (let j = 0; j < kernelW; j++) {
      const colOff = j * dilationW - padLeft;
      const oxLo = firstInside(colOff, strideW, outW);
      const oxHi = endInside(colOff, strideW, width, outW, oxLo);
      if (oxHi <= oxLo) continue;
      const cols = oxHi - oxLo;
      const n = (oyHi - oyLo) * cols;
      // Gather: b[c, (oy - oyLo)*cols + ox - oxLo] = x[c, oy*strideH + rowOff, ox*strideW + colOff].
      let dst = bPtr;
      for (let c = 0; c < channels; c++) {
        const plane = xPtr + ((<usize>c * planeLen) << 2);
        for (let oy = oyLo; oy < oyHi; oy++) {
          const row = plane + ((<usize>((oy * strideH + rowOff) * width + colOff)) << 2);
          for (let ox = oxLo; ox < oxHi; ox++) {
            store<f32>(dst, load<f32>(row + ((<usize>(ox * strideW)) << 2)));
            dst += 4;
          }
        }
      }
      gemm_nn_prepacked(
        wPtr + <usize>(i * kernelW + j) * blockBytes,
        bPtr,
        cPtr,
        gPtr,
        filters,
        n,
        channels,
        n,
        n,
        1,
        0,
      );
      // y[f, oy, ox] += c[f, (oy - oyLo)*cols + ox - oxLo].
      let src = cPtr;
      for (let f = 0; f < filters; f++) {
        const yPlane = yPtr + ((<usize>f * <usize>ohw) << 2);
        for (let oy = oyLo; oy < oyHi; oy++) {
          const at = yPlane + ((<usize>(oy * outW + oxLo)) << 2);
          for (let ox = 0; ox < cols; ox++) {
            const p = at + ((<usize>ox) << 2);
            store<f32>(p, load<f32>(p) + load<f32>(src));
            src += 4;
          }
        }
      }
    }
  }
}
