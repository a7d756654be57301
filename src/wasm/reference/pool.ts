/**
 * Plain references for assembly/pool.ts. The forward ones are bit-exact with it (the backward ones,
 * at the end, compute in f64): x is planes x height x width, y is
 * planes x outH x outW; window position (kh, kw) of output (oh, ow) is the input
 * (oh*strideH - padTop + kh*dilationH, ow*strideW - padLeft + kw*dilationW), read only inside the image.
 */
const f = Math.fround;

/** MaxPool: the maximum of the in-image window positions (-Inf if there are none). */
export function poolMax2d(
  x: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  padTop: number,
  padLeft: number,
  dilationH: number,
  dilationW: number,
  outH: number,
  outW: number,
): Float32Array {
  const y = new Float32Array(planes * outH * outW);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * strideH - padTop + kh * dilationH;
          if (ih < 0 || ih >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * strideW - padLeft + kw * dilationW;
            if (iw >= 0 && iw < width) m = Math.max(m, f(x[(p * height + ih) * width + iw]!));
          }
        }
        y[(p * outH + oh) * outW + ow] = m;
      }
    }
  }
  return y;
}

/**
 * AveragePool: the in-image values summed in f32 (kh ascending, then kw), divided once by the count:
 * in-image positions, or with countIncludePad positions inside
 * [-padTop, height+padBottom) x [-padLeft, width+padRight).
 */
export function poolAvg2d(
  x: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  padTop: number,
  padLeft: number,
  padBottom: number,
  padRight: number,
  outH: number,
  outW: number,
  countIncludePad: boolean,
): Float32Array {
  const y = new Float32Array(planes * outH * outW);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let s = 0;
        let inImage = 0;
        let inPadded = 0;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * strideH - padTop + kh;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * strideW - padLeft + kw;
            if (ih >= -padTop && ih < height + padBottom && iw >= -padLeft && iw < width + padRight)
              inPadded++;
            if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
            s = f(s + x[(p * height + ih) * width + iw]!);
            inImage++;
          }
        }
        y[(p * outH + oh) * outW + ow] = f(s / (countIncludePad ? inPadded : inImage));
      }
    }
  }
  return y;
}

/** y[p] = mean of plane p: lanes l = i mod 4 over the multiple-of-4 prefix, (l0+l1)+(l2+l3), tail, divide. */
export function poolGlobalAvg(x: ArrayLike<number>, planes: number, planeLen: number): Float32Array {
  const y = new Float32Array(planes);
  const body = planeLen - (planeLen % 4);
  for (let p = 0; p < planes; p++) {
    const lanes = [0, 0, 0, 0];
    for (let i = 0; i < body; i++) lanes[i % 4] = f(lanes[i % 4]! + x[p * planeLen + i]!);
    let s = f(f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!)));
    for (let i = body; i < planeLen; i++) s = f(s + x[p * planeLen + i]!);
    y[p] = f(s / f(planeLen));
  }
  return y;
}

/** y[p] = max of plane p (-Inf for an empty plane). */
export function poolGlobalMax(x: ArrayLike<number>, planes: number, planeLen: number): Float32Array {
  const y = new Float32Array(planes);
  for (let p = 0; p < planes; p++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < planeLen; i++) m = Math.max(m, f(x[p * planeLen + i]!));
    y[p] = m;
  }
  return y;
}

// ---- backward (training): f64, returning Float64Array ----

/**
 * MaxPool backward: dx zero, then for each output dx[argmax] += dy, the argmax scanned kh then kw
 * ascending over in-image positions from the first one with best = -Inf, moving on > best or NaN
 * (PyTorch's rule: the first maximum; the last NaN). No in-image position: no gradient.
 */
export function poolMax2dBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  padTop: number,
  padLeft: number,
  dilationH: number,
  dilationW: number,
  outH: number,
  outW: number,
): Float64Array {
  const dx = new Float64Array(planes * height * width);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let best = Number.NEGATIVE_INFINITY;
        let arg = -1;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * strideH - padTop + kh * dilationH;
          if (ih < 0 || ih >= height) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * strideW - padLeft + kw * dilationW;
            if (iw < 0 || iw >= width) continue;
            const idx = (p * height + ih) * width + iw;
            const v = x[idx]!;
            if (arg < 0) arg = idx;
            if (v > best || Number.isNaN(v)) {
              best = v;
              arg = idx;
            }
          }
        }
        if (arg >= 0) dx[arg]! += dy[(p * outH + oh) * outW + ow]!;
      }
    }
  }
  return dx;
}

/**
 * AveragePool backward, the adjoint of poolAvg2d: each output adds dy / count (the forward's count) to
 * every in-image position of its window.
 */
export function poolAvg2dBackward(
  dy: ArrayLike<number>,
  planes: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  padTop: number,
  padLeft: number,
  padBottom: number,
  padRight: number,
  outH: number,
  outW: number,
  countIncludePad: boolean,
): Float64Array {
  const dx = new Float64Array(planes * height * width);
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const inside: number[] = [];
        let inPadded = 0;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * strideH - padTop + kh;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * strideW - padLeft + kw;
            if (ih >= -padTop && ih < height + padBottom && iw >= -padLeft && iw < width + padRight)
              inPadded++;
            if (ih >= 0 && ih < height && iw >= 0 && iw < width) inside.push((p * height + ih) * width + iw);
          }
        }
        if (inside.length === 0) continue;
        const g = dy[(p * outH + oh) * outW + ow]! / (countIncludePad ? inPadded : inside.length);
        for (const idx of inside) dx[idx]! += g;
      }
    }
  }
  return dx;
}

/** GlobalAveragePool backward: dx[p, i] = dy[p] / planeLen. */
export function poolGlobalAvgBackward(dy: ArrayLike<number>, planes: number, planeLen: number): Float64Array {
  const dx = new Float64Array(planes * planeLen);
  for (let p = 0; p < planes; p++) dx.fill(dy[p]! / planeLen, p * planeLen, (p + 1) * planeLen);
  return dx;
}

/** GlobalMaxPool backward: dy[p] at each plane's argmax (first maximum; the last NaN), zero elsewhere. */
export function poolGlobalMaxBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  planes: number,
  planeLen: number,
): Float64Array {
  const dx = new Float64Array(planes * planeLen);
  for (let p = 0; p < planes; p++) {
    if (planeLen === 0) continue;
    let best = Number.NEGATIVE_INFINITY;
    let arg = 0;
    for (let i = 0; i < planeLen; i++) {
      const v = x[p * planeLen + i]!;
      if (v > best || Number.isNaN(v)) {
        best = v;
        arg = i;
      }
    }
    dx[p * planeLen + arg] = dy[p]!;
  }
  return dx;
}
