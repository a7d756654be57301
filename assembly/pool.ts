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
  const ninf = -Infinity as f32;
  for (let p = 0; p < planes; p++) {
    const xPlane = xPtr + <usize>p * <usize>height * <usize>width * 4;
    const yPlane = yPtr + <usize>p * <usize>outH * <usize>outW * 4;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      const yRow = yPlane + <usize>oh * <usize>outW * 4;
      let ow = 0;
      while (ow < outW) {
        if (ow >= lo && ow + 4 <= hi) {
          const iw0 = ow * strideW - padLeft;
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
