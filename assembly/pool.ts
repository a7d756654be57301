// 2-D pooling (MaxPool, AveragePool) and global pooling over `planes` = N*C planes in one call.
//
// Layout: x is planes x height x width, row-major (plane p starts at x + p*height*width*4 bytes);
// y is planes x outH x outW. Output (oh, ow) reads the window positions
//   ih = oh*strideH - padTop + kh*dilationH,  iw = ow*strideW - padLeft + kw*dilationW
// for kh < kernelH, kw < kernelW; only positions inside the image are read (padding is never read).
//
//        iw: -padLeft ........ 0 ............. width-1 ...... width-1+padRight
//   edge columns (window crosses the left/right border): scalar, with bounds checks;
//   interior columns (whole window inside the row): 4 output columns per f32x4, for strides 1 and 2
//   (stride 2 loads 8 inputs and keeps the even lanes).
//
// Max: the maximum of the in-image positions (IEEE maximum: NaN wins, -0 < +0; order-independent); a
// window with no in-image position gives -Inf.
// Average: the in-image values summed in a fixed order, kh ascending then kw ascending, from 0, in f32,
// then one division by the count (each SIMD lane follows exactly that order for its own output):
//   countIncludePad = 0: the number of in-image positions (0 gives NaN);
//   countIncludePad = 1: the number of positions inside the padded input
//     [-padTop, height+padBottom) x [-padLeft, width+padRight) (ONNX: window positions past the pads,
//     which ceil_mode can create, are not counted).
// Global: y[p] = mean / max of plane p. The mean sums four lane accumulators over i = 0,4,8,...,
// combined as (l0 + l1) + (l2 + l3), then the scalar tail in index order, then divides by planeLen
// (as f32); planeLen 0 gives NaN (mean) and -Inf (max).
//
// x and y must not overlap.

function at(ptr: usize, i: i32): usize {
  return ptr + ((<usize>i) << 2);
}

/** The first output column whose window starts at or right of column 0. */
function interiorStart(padLeft: i32, strideW: i32, outW: i32): i32 {
  return min(outW, (padLeft + strideW - 1) / strideW);
}

/**
 * One past the last output column ow >= start whose window, plus `extra` columns, ends inside the row:
 * ow*strideW - padLeft + span + extra <= width - 1, with span = (kernelW - 1)*dilationW.
 */
function interiorEnd(
  width: i32,
  padLeft: i32,
  span: i32,
  extra: i32,
  strideW: i32,
  outW: i32,
  start: i32,
): i32 {
  const room = width - 1 + padLeft - span - extra;
  if (room < 0) return start;
  return max(start, min(outW, room / strideW + 1));
}

/** Four input values at columns c, c+s, c+2s, c+3s of a row (s = 1 or 2; s = 2 reads c..c+7). */
function load4(ptr: usize, stride2: bool): v128 {
  if (!stride2) return v128.load(ptr);
  return v128.shuffle<f32>(v128.load(ptr), v128.load(ptr + 16), 0, 2, 4, 6);
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

function hmax(v: v128): f32 {
  return Mathf.max(
    Mathf.max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    Mathf.max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)),
  );
}

/**
 * MaxPool over every plane (layout and rules above). Sizes: kernel, stride and dilation >= 1, pads >= 0;
 * outH x outW outputs per plane (any value is memory-safe: out-of-image positions are never read).
 */
export function pool_max_2d(
  xPtr: usize,
  yPtr: usize,
  planes: i32,
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
  const span = (kernelW - 1) * dilationW;
  const lo = interiorStart(padLeft, strideW, outW);
  const simd = strideW === 1 || strideW === 2;
  const hi = simd ? interiorEnd(width, padLeft, span, strideW - 1, strideW, outW, lo) : lo;
  const stride2 = strideW === 2;
  // The common 2x2 window at stride 2 (VGG's pools): the two rows' maximum first, then of its even and
  // odd lanes: 4 loads, 3 maxima and 2 shuffles per 4 outputs (the maximum is order-independent).
  const pair2 = stride2 && kernelH === 2 && kernelW === 2 && dilationH === 1 && dilationW === 1;
  const ninf = -Infinity as f32;
  for (let p = 0; p < planes; p++) {
    const xPlane = xPtr + <usize>p * <usize>height * <usize>width * 4;
    const yPlane = yPtr + <usize>p * <usize>outH * <usize>outW * 4;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      const yRow = yPlane + <usize>oh * <usize>outW * 4;
      const rowsInside = pair2 && ih0 >= 0 && ih0 + 1 < height;
      let ow = 0;
      while (ow < outW) {
        if (ow >= lo && ow + 4 <= hi) {
          const iw0 = ow * strideW - padLeft;
          if (rowsInside) {
            const r0 = at(xPlane + <usize>ih0 * <usize>width * 4, iw0);
            const r1 = r0 + <usize>width * 4;
            const lo4 = f32x4.max(v128.load(r0), v128.load(r1));
            const hi4 = f32x4.max(v128.load(r0, 16), v128.load(r1, 16));
            v128.store(
              at(yRow, ow),
              f32x4.max(v128.shuffle<f32>(lo4, hi4, 0, 2, 4, 6), v128.shuffle<f32>(lo4, hi4, 1, 3, 5, 7)),
            );
            ow += 4;
            continue;
          }
          let acc = f32x4.splat(ninf);
          for (let kh = 0; kh < kernelH; kh++) {
            const ih = ih0 + kh * dilationH;
            if (ih < 0 || ih >= height) continue;
            const xRow = xPlane + <usize>ih * <usize>width * 4;
            for (let kw = 0; kw < kernelW; kw++) {
              acc = f32x4.max(acc, load4(at(xRow, iw0 + kw * dilationW), stride2));
            }
          }
          v128.store(at(yRow, ow), acc);
          ow += 4;
          continue;
        }
        const iw0 = ow * strideW - padLeft;
        let m = ninf;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = ih0 + kh * dilationH;
          if (ih < 0 || ih >= height) continue;
          const xRow = xPlane + <usize>ih * <usize>width * 4;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = iw0 + kw * dilationW;
            if (iw >= 0 && iw < width) m = Mathf.max(m, load<f32>(at(xRow, iw)));
          }
        }
        store<f32>(at(yRow, ow), m);
        ow++;
      }
    }
  }
}

/**
 * AveragePool over every plane (layout, summation order and divisor above); no dilation. Sizes: kernel
 * and stride >= 1, pads >= 0; outH x outW outputs per plane; countIncludePad 0 or 1.
 */
export function pool_avg_2d(
  xPtr: usize,
  yPtr: usize,
  planes: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  padBottom: i32,
  padRight: i32,
  outH: i32,
  outW: i32,
  countIncludePad: i32,
): void {
  const lo = interiorStart(padLeft, strideW, outW);
  const simd = strideW === 1 || strideW === 2;
  const hi = simd ? interiorEnd(width, padLeft, kernelW - 1, strideW - 1, strideW, outW, lo) : lo;
  const stride2 = strideW === 2;
  const includePad = countIncludePad !== 0;
  for (let p = 0; p < planes; p++) {
    const xPlane = xPtr + <usize>p * <usize>height * <usize>width * 4;
    const yPlane = yPtr + <usize>p * <usize>outH * <usize>outW * 4;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      // Rows of the window inside the image [khLo, khHi) and inside the padded input (counted rows).
      const khLo = max(0, -ih0);
      const khHi = min(kernelH, height - ih0);
      const rowsIn = max(0, khHi - khLo);
      const rowsCounted = includePad
        ? max(0, min(kernelH, height + padBottom - ih0) - max(0, -padTop - ih0))
        : rowsIn;
      const yRow = yPlane + <usize>oh * <usize>outW * 4;
      let ow = 0;
      while (ow < outW) {
        const iw0 = ow * strideW - padLeft;
        if (ow >= lo && ow + 4 <= hi) {
          let acc = f32x4.splat(0);
          for (let kh = khLo; kh < khHi; kh++) {
            const xRow = xPlane + <usize>(ih0 + kh) * <usize>width * 4;
            for (let kw = 0; kw < kernelW; kw++) acc = f32x4.add(acc, load4(at(xRow, iw0 + kw), stride2));
          }
          // Interior windows lie inside the row, so every column is counted.
          v128.store(at(yRow, ow), f32x4.div(acc, f32x4.splat(<f32>(rowsCounted * kernelW))));
          ow += 4;
          continue;
        }
        const kwLo = max(0, -iw0);
        const kwHi = min(kernelW, width - iw0);
        const colsIn = max(0, kwHi - kwLo);
        const colsCounted = includePad
          ? max(0, min(kernelW, width + padRight - iw0) - max(0, -padLeft - iw0))
          : colsIn;
        let s: f32 = 0;
        for (let kh = khLo; kh < khHi; kh++) {
          const xRow = xPlane + <usize>(ih0 + kh) * <usize>width * 4;
          for (let kw = kwLo; kw < kwHi; kw++) s += load<f32>(at(xRow, iw0 + kw));
        }
        store<f32>(at(yRow, ow), s / <f32>(rowsCounted * colsCounted));
        ow++;
      }
    }
  }
}

/** y[p] = mean of plane p (planeLen f32 each), summed in the fixed order above. */
export function pool_global_avg(xPtr: usize, yPtr: usize, planes: i32, planeLen: i32): void {
  for (let p = 0; p < planes; p++) {
    const plane = xPtr + <usize>p * <usize>planeLen * 4;
    let acc = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= planeLen; i += 4) acc = f32x4.add(acc, v128.load(at(plane, i)));
    let s = hsum(acc);
    for (; i < planeLen; i++) s += load<f32>(at(plane, i));
    store<f32>(at(yPtr, p), s / <f32>planeLen);
  }
}

/** y[p] = max of plane p (planeLen f32 each); -Inf for an empty plane. */
export function pool_global_max(xPtr: usize, yPtr: usize, planes: i32, planeLen: i32): void {
  for (let p = 0; p < planes; p++) {
    const plane = xPtr + <usize>p * <usize>planeLen * 4;
    let acc = f32x4.splat(-Infinity as f32);
    let i = 0;
    for (; i + 4 <= planeLen; i += 4) acc = f32x4.max(acc, v128.load(at(plane, i)));
    let m = hmax(acc);
    for (; i < planeLen; i++) m = Mathf.max(m, load<f32>(at(plane, i)));
    store<f32>(at(yPtr, p), m);
  }
}

// ---- backward (training) ----
//
// dx has x's layout (planes x height x width), dy has y's (planes x outH x outW). Every kernel here
// writes all of dx: it is zeroed (or overwritten), then outputs are visited in (p, oh, ow) order and
// each adds its share of dy into dx, so the sums are in a fixed order.
//
// Max: the gradient of output (oh, ow) goes to its window's argmax, PyTorch's rule (max_pool2d's
// backward, adaptive_max_pool2d's for the global pool): scan the in-image positions kh then kw
// ascending, starting from the first in-image position with best = -Inf, and move to a position when
// its value is > best or is NaN. Without NaN that is the first maximum, the element whose value the
// forward returned; with NaN the forward returns NaN and the last NaN of the window takes the gradient,
// as in PyTorch. A window with no in-image position passes no gradient.
// Average: output (oh, ow) adds g = dy / count, with the forward's count, to every in-image position
// of its window (the adjoint of the forward: padding positions drop their share).

/** Write n zeros at dst (f32x4, scalar tail). */
function zeroSpan(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(dst, i), z);
  for (; i < n; i++) store<f32>(at(dst, i), 0);
}

/** dst[i] += g for i < n (f32x4, scalar tail). */
function addScalarSpan(dst: usize, n: i32, g: f32): void {
  const vg = f32x4.splat(g);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(dst, i), f32x4.add(v128.load(at(dst, i)), vg));
  for (; i < n; i++) store<f32>(at(dst, i), load<f32>(at(dst, i)) + g);
}

/**
 * MaxPool backward (layout, argmax rule and order above): dx is zeroed, then dx[argmax] += dy[out]
 * for every output. Same parameters as pool_max_2d plus dy and dx. dx must not overlap x or dy.
 */
export function pool_max_2d_backward(
  xPtr: usize,
  dyPtr: usize,
  dxPtr: usize,
  planes: i32,
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
  const planeLen = height * width;
  zeroSpan(dxPtr, planes * planeLen);
  for (let p = 0; p < planes; p++) {
    const xPlane = xPtr + <usize>p * <usize>planeLen * 4;
    const dxPlane = dxPtr + <usize>p * <usize>planeLen * 4;
    const dyPlane = dyPtr + <usize>p * <usize>outH * <usize>outW * 4;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      for (let ow = 0; ow < outW; ow++) {
        const iw0 = ow * strideW - padLeft;
        let best = -Infinity as f32;
        let arg = -1;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = ih0 + kh * dilationH;
          if (ih < 0 || ih >= height) continue;
          const row = ih * width;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = iw0 + kw * dilationW;
            if (iw < 0 || iw >= width) continue;
            const v = load<f32>(at(xPlane, row + iw));
            if (arg < 0) arg = row + iw; // the first in-image position, in case all are -Inf
            if (v > best || F32.isNaN(v)) {
              best = v;
              arg = row + iw;
            }
          }
        }
        if (arg >= 0) {
          const d = at(dxPlane, arg);
          store<f32>(d, load<f32>(d) + load<f32>(at(dyPlane, oh * outW + ow)));
        }
      }
    }
  }
}

/**
 * AveragePool backward, the adjoint of pool_avg_2d (same parameters, divisor and countIncludePad
 * rules, incl. ceil-mode windows past the pads): dx is zeroed, then each output adds dy / count to the
 * in-image positions of its window (each window row is one f32x4 run). dx must not overlap dy.
 */
export function pool_avg_2d_backward(
  dyPtr: usize,
  dxPtr: usize,
  planes: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padTop: i32,
  padLeft: i32,
  padBottom: i32,
  padRight: i32,
  outH: i32,
  outW: i32,
  countIncludePad: i32,
): void {
  const includePad = countIncludePad !== 0;
  const planeLen = height * width;
  zeroSpan(dxPtr, planes * planeLen);
  for (let p = 0; p < planes; p++) {
    const dxPlane = dxPtr + <usize>p * <usize>planeLen * 4;
    const dyPlane = dyPtr + <usize>p * <usize>outH * <usize>outW * 4;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      const khLo = max(0, -ih0);
      const khHi = min(kernelH, height - ih0);
      if (khHi <= khLo) continue;
      const rowsCounted = includePad
        ? max(0, min(kernelH, height + padBottom - ih0) - max(0, -padTop - ih0))
        : khHi - khLo;
      for (let ow = 0; ow < outW; ow++) {
        const iw0 = ow * strideW - padLeft;
        const kwLo = max(0, -iw0);
        const kwHi = min(kernelW, width - iw0);
        if (kwHi <= kwLo) continue;
        const colsCounted = includePad
          ? max(0, min(kernelW, width + padRight - iw0) - max(0, -padLeft - iw0))
          : kwHi - kwLo;
        const g = load<f32>(at(dyPlane, oh * outW + ow)) / <f32>(rowsCounted * colsCounted);
        for (let kh = khLo; kh < khHi; kh++) {
          addScalarSpan(at(dxPlane, (ih0 + kh) * width + iw0 + kwLo), kwHi - kwLo, g);
        }
      }
    }
  }
}

/** GlobalAveragePool backward: dx[p, i] = dy[p] / planeLen (as f32) for i < planeLen (overwrites dx). */
export function pool_global_avg_backward(dyPtr: usize, dxPtr: usize, planes: i32, planeLen: i32): void {
  for (let p = 0; p < planes; p++) {
    const g = load<f32>(at(dyPtr, p)) / <f32>planeLen;
    const vg = f32x4.splat(g);
    const plane = dxPtr + <usize>p * <usize>planeLen * 4;
    let i = 0;
    for (; i + 4 <= planeLen; i += 4) v128.store(at(plane, i), vg);
    for (; i < planeLen; i++) store<f32>(at(plane, i), g);
  }
}

/**
 * GlobalMaxPool backward: dx is zero except at the argmax of each plane (the rule above: the first
 * maximum, or the last NaN), which gets dy[p]. dx must not overlap x or dy.
 */
export function pool_global_max_backward(
  xPtr: usize,
  dyPtr: usize,
  dxPtr: usize,
  planes: i32,
  planeLen: i32,
): void {
  zeroSpan(dxPtr, planes * planeLen);
  for (let p = 0; p < planes; p++) {
    if (planeLen <= 0) continue;
    const plane = xPtr + <usize>p * <usize>planeLen * 4;
    let best = -Infinity as f32;
    let arg = 0;
    for (let i = 0; i < planeLen; i++) {
      const v = load<f32>(at(plane, i));
      if (v > best || F32.isNaN(v)) {
        best = v;
        arg = i;
      }
    }
    store<f32>(at(dxPtr + <usize>p * <usize>planeLen * 4, arg), load<f32>(at(dyPtr, p)));
  }
}
