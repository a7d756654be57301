/**
 * Plain references for assembly/conv.ts, plus a naive direct convolution for the array-level conv2d.
 *
 * Layouts are NCHW, row-major. Output pixel (oy, ox) and kernel tap (i, j) read input pixel
 *   iy = oy*strideH - padTop + i*dilationH,  ix = ox*strideW - padLeft + j*dilationW,
 * which is outside the image when iy is not in [0, height) or ix not in [0, width).
 * convIm2col and convDepthwise round exactly as the kernels do (Math.fround after every operation),
 * so they are bit-exact; conv2d sums in f64.
 */

import { actScalar } from "./act.ts";
import { gemmPackB } from "./gemm.ts";

/** The window geometry of one image (same fields as the wrappers' `ConvWindow`). */
export interface ConvWindowReference {
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/**
 * im2col of one image x (channels x height x width): a (channels*kernelH*kernelW) x (outH*outW)
 * matrix with col[((c*kernelH + i)*kernelW + j)*outH*outW + oy*outW + ox] = x[c, iy, ix], 0 outside.
 */
export function convIm2col(x: ArrayLike<number>, g: ConvWindowReference): Float32Array {
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const col = new Float32Array(channels * kernelH * kernelW * outH * outW);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kernelH; i++) {
      for (let j = 0; j < kernelW; j++) {
        const row = ((c * kernelH + i) * kernelW + j) * outH * outW;
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            const inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
            col[row + oy * outW + ox] = inside ? x[(c * height + iy) * width + ix]! : 0;
          }
        }
      }
    }
  }
  return col;
}

/**
 * Depthwise convolution of one image, no bias: y[c, oy, ox] = sum over i ascending, then j
 * ascending, of w[c, i, j] * x[c, iy, ix], skipping taps outside the image, starting from 0 and
 * rounding to f32 after every multiply and every add (the kernel's order, so the bits match).
 * @param x channels x height x width. @param w channels x kernelH x kernelW.
 * @returns channels x outH x outW.
 */
export function convDepthwise(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  g: ConvWindowReference,
): Float32Array {
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const y = new Float32Array(channels * outH * outW);
  for (let c = 0; c < channels; c++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let acc = 0;
        for (let i = 0; i < kernelH; i++) {
          for (let j = 0; j < kernelW; j++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            const term = Math.fround(
              w[(c * kernelH + i) * kernelW + j]! * x[(c * height + iy) * width + ix]!,
            );
            acc = Math.fround(acc + term);
          }
        }
        y[(c * outH + oy) * outW + ox] = acc;
      }
    }
  }
  return y;
}

/** A full 2-D convolution (ONNX Conv, NCHW, OIHW weights), every field given. */
export interface Conv2dReferenceSpec {
  batch: number;
  channels: number;
  height: number;
  width: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  /** [strideH, strideW] */
  strides: readonly [number, number];
  /** [top, left, bottom, right] */
  pads: readonly [number, number, number, number];
  /** [dilationH, dilationW] */
  dilations: readonly [number, number];
  groups: number;
}

/**
 * Naive direct convolution with f64 sums: y[n, m, oy, ox] = bias[m] + sum over the group's input
 * channels c, taps i, j (inside the image) of weight[m, c, i, j] * x[n, g*C/groups + c, iy, ix],
 * where g = floor(m / (outChannels/groups)).
 * @param x batch x channels x height x width. @param weight outChannels x channels/groups x kernelH x kernelW.
 * @param bias outChannels values, or undefined for none.
 * @returns batch x outChannels x outH x outW, outH = floor((height + top + bottom - dilationH*(kernelH-1) - 1)/strideH) + 1.
 */
export function conv2d(
  spec: Conv2dReferenceSpec,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const { batch, channels, height, width, outChannels, kernelH, kernelW, groups } = spec;
  const [strideH, strideW] = spec.strides;
  const [padTop, padLeft, padBottom, padRight] = spec.pads;
  const [dilationH, dilationW] = spec.dilations;
  const outH = Math.floor((height + padTop + padBottom - dilationH * (kernelH - 1) - 1) / strideH) + 1;
  const outW = Math.floor((width + padLeft + padRight - dilationW * (kernelW - 1) - 1) / strideW) + 1;
  const cPerGroup = channels / groups;
  const mPerGroup = outChannels / groups;
  const y = new Float64Array(batch * outChannels * outH * outW);
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < outChannels; m++) {
      const c0 = Math.floor(m / mPerGroup) * cPerGroup;
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          let s = bias === undefined ? 0 : bias[m]!;
          for (let c = 0; c < cPerGroup; c++) {
            for (let i = 0; i < kernelH; i++) {
              for (let j = 0; j < kernelW; j++) {
                const iy = oy * strideH - padTop + i * dilationH;
                const ix = ox * strideW - padLeft + j * dilationW;
                if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
                const wv = weight[((m * cPerGroup + c) * kernelH + i) * kernelW + j]!;
                s += wv * x[((n * channels + c0 + c) * height + iy) * width + ix]!;
              }
            }
          }
          y[((n * outChannels + m) * outH + oy) * outW + ox] = s;
        }
      }
    }
  }
  return y;
}

// ---- backward (training): plain loops in f64 over the same geometry, returning Float64Array ----

/**
 * col2im, the adjoint of convIm2col: x[c, iy, ix] = sum of the col entries copied from it (padding
 * entries dropped), from zero, in f64.
 * @param col (channels*kernelH*kernelW) x (outH*outW). @returns channels x height x width.
 */
export function convCol2im(col: ArrayLike<number>, g: ConvWindowReference): Float64Array {
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const x = new Float64Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kernelH; i++) {
      for (let j = 0; j < kernelW; j++) {
        const row = ((c * kernelH + i) * kernelW + j) * outH * outW;
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            x[(c * height + iy) * width + ix]! += col[row + oy * outW + ox]!;
          }
        }
      }
    }
  }
  return x;
}

/**
 * Input gradient of convDepthwise, in f64: dx[c, iy, ix] = sum over the (i, j, oy, ox) reading
 * x[c, iy, ix] of w[c, i, j] * dy[c, oy, ox].
 * @param dy channels x outH x outW. @param w channels x kernelH x kernelW. @returns channels x height x width.
 */
export function convDepthwiseGradInput(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  g: ConvWindowReference,
): Float64Array {
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const dx = new Float64Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const d = dy[(c * outH + oy) * outW + ox]!;
        for (let i = 0; i < kernelH; i++) {
          for (let j = 0; j < kernelW; j++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            dx[(c * height + iy) * width + ix]! += w[(c * kernelH + i) * kernelW + j]! * d;
          }
        }
      }
    }
  }
  return dx;
}

/**
 * Weight gradient of convDepthwise for one image, from zero, in f64: dw[c, i, j] = sum over the
 * in-image (oy, ox) of x[c, iy, ix] * dy[c, oy, ox].
 * @param x channels x height x width. @param dy channels x outH x outW. @returns channels x kernelH x kernelW.
 */
export function convDepthwiseGradWeight(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  g: ConvWindowReference,
): Float64Array {
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const dw = new Float64Array(channels * kernelH * kernelW);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < kernelH; i++) {
      for (let j = 0; j < kernelW; j++) {
        let s = 0;
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            s += x[(c * height + iy) * width + ix]! * dy[(c * outH + oy) * outW + ox]!;
          }
        }
        dw[(c * kernelH + i) * kernelW + j] = s;
      }
    }
  }
  return dw;
}

/** The tiling of a Winograd F(2x2, 3x3) convolution (assembly/conv.ts): tilesH = ceil(outH/2), tilesW = ceil(outW/2). */
export interface WinogradTilesReference {
  /** Elements between the 16 blocks of v / m (default channels (or filters) x tiles). */
  eLen?: number;
  images: number;
  channels: number;
  height: number;
  width: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/**
 * Winograd F(2x2, 3x3) input transform: v[e*eLen + c*tiles + t] = (B^T d B)[e] of the 4x4 patch of
 * tile t = (n*tilesH + ty)*tilesW + tx of channel c (rows 2ty - padTop.., columns 2tx - padLeft.., 0 outside),
 * rows first, then columns, each step rounded to f32 as the kernel does.
 */
export function convWinogradInput(x: ArrayLike<number>, g: WinogradTilesReference): Float32Array {
  const f = Math.fround;
  const { images, channels, height, width, padTop, padLeft } = g;
  const tilesH = Math.ceil(g.outH / 2);
  const tilesW = Math.ceil(g.outW / 2);
  const tiles = images * tilesH * tilesW;
  const eLen = g.eLen ?? channels * tiles;
  const v = new Float32Array(16 * eLen);
  const px = (n: number, c: number, iy: number, ix: number) =>
    iy < 0 || iy >= height || ix < 0 || ix >= width ? 0 : x[((n * channels + c) * height + iy) * width + ix]!;
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const t = (n * tilesH + ty) * tilesW + tx;
          const d = (r: number, k: number) => px(n, c, 2 * ty - padTop + r, 2 * tx - padLeft + k);
          const tm: number[][] = [[], [], [], []];
          for (let k = 0; k < 4; k++) {
            tm[0]![k] = f(d(0, k) - d(2, k));
            tm[1]![k] = f(d(1, k) + d(2, k));
            tm[2]![k] = f(d(2, k) - d(1, k));
            tm[3]![k] = f(d(1, k) - d(3, k));
          }
          for (let i = 0; i < 4; i++) {
            const [t0, t1, t2, t3] = tm[i]! as [number, number, number, number];
            const row = [f(t0 - t2), f(t1 + t2), f(t2 - t1), f(t1 - t3)];
            for (let j = 0; j < 4; j++) v[(4 * i + j) * eLen + c * tiles + t] = row[j]!;
          }
        }
      }
    }
  }
  return v;
}

/**
 * Reference for conv_winograd_input_packed: `convWinogradInput`'s 16 blocks (channels x tiles each), each
 * laid out as `gemmPackB` packs a channels x tiles matrix, eLen apart (default gemmPackB's length; the rest 0).
 */
export function convWinogradInputPacked(x: ArrayLike<number>, g: WinogradTilesReference): Float32Array {
  const { channels } = g;
  const tiles = g.images * Math.ceil(g.outH / 2) * Math.ceil(g.outW / 2);
  const plain = convWinogradInput(x, { ...g, eLen: channels * tiles });
  const blockLen = Math.ceil(tiles / 8) * 8 * channels;
  const eLen = g.eLen ?? blockLen;
  const v = new Float32Array(16 * eLen);
  for (let e = 0; e < 16; e++) {
    const block = plain.subarray(e * channels * tiles, (e + 1) * channels * tiles);
    v.set(gemmPackB({ k: channels, n: tiles, ldb: tiles }, block), e * eLen);
  }
  return v;
}

/**
 * Winograd F(2x2, 3x3) output transform: for m laid out as 16 blocks of filters x tiles (eLen apart), y (images x filters x outH x
 * outW) = act((A^T m A) + bias[f]) (no add without a bias), or act(((A^T m A) + bias[f]) + r) with a
 * residual r shaped like y, rows first, f32 after every step; outputs past outH x outW are dropped.
 */
export function convWinogradOutput(
  m: ArrayLike<number>,
  g: WinogradTilesReference,
  filters: number,
  bias: ArrayLike<number> | undefined,
  act: number,
  a0: number,
  a1: number,
  residual?: ArrayLike<number>,
): Float32Array {
  const f = Math.fround;
  const { images, outH, outW } = g;
  const tilesH = Math.ceil(outH / 2);
  const tilesW = Math.ceil(outW / 2);
  const tiles = images * tilesH * tilesW;
  const eLen = g.eLen ?? filters * tiles;
  const y = new Float32Array(images * filters * outH * outW);
  for (let n = 0; n < images; n++) {
    for (let o = 0; o < filters; o++) {
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const t = (n * tilesH + ty) * tilesW + tx;
          const me = (i: number, j: number) => m[(4 * i + j) * eLen + o * tiles + t]!;
          const s: number[][] = [[], []];
          for (let j = 0; j < 4; j++) {
            s[0]![j] = f(f(me(0, j) + me(1, j)) + me(2, j));
            s[1]![j] = f(f(me(1, j) - me(2, j)) - me(3, j));
          }
          for (let i = 0; i < 2; i++) {
            const [s0, s1, s2, s3] = s[i]! as [number, number, number, number];
            const out = [f(f(s0 + s1) + s2), f(f(s1 - s2) - s3)];
            for (let j = 0; j < 2; j++) {
              const oy = 2 * ty + i;
              const ox = 2 * tx + j;
              if (oy >= outH || ox >= outW) continue;
              const at = ((n * filters + o) * outH + oy) * outW + ox;
              const v = bias === undefined ? out[j]! : f(out[j]! + bias[o]!);
              y[at] = actScalar(residual === undefined ? v : f(v + residual[at]!), act, a0, a1);
            }
          }
        }
      }
    }
  }
  return y;
}

/** B^T of F(4x4, 3x3) on six values, f32 after every step, in assembly/conv.ts's winograd4In order. */
function winograd4In(d: readonly number[]): number[] {
  const f = Math.fround;
  const [d0, d1, d2, d3, d4, d5] = d as [number, number, number, number, number, number];
  return [
    f(f(f(4 * d0) - f(5 * d2)) + d4),
    f(f(d4 + d3) - f(4 * f(d1 + d2))),
    f(f(d4 - d3) + f(4 * f(d1 - d2))),
    f(f(d4 - d2) + f(2 * f(d3 - d1))),
    f(f(d4 - d2) - f(2 * f(d3 - d1))),
    f(f(f(4 * d1) - f(5 * d3)) + d5),
  ];
}

/** A^T of F(4x4, 3x3) on six values (four results), f32 after every step, in winograd4Out's order. */
function winograd4Out(m: readonly number[]): number[] {
  const f = Math.fround;
  const [m0, m1, m2, m3, m4, m5] = m as [number, number, number, number, number, number];
  const [p, q, r, s] = [f(m1 + m2), f(m1 - m2), f(m3 + m4), f(m3 - m4)];
  return [f(f(m0 + p) + r), f(q + f(2 * s)), f(p + f(4 * r)), f(f(q + f(8 * s)) + m5)];
}

/**
 * Winograd F(4x4, 3x3) input transform, plain layout: v[e*eLen + c*tiles + t] = (B^T d B)[e], e = 6*row + col,
 * of the 6x6 patch of tile t = (n*tilesH + ty)*tilesW + tx of channel c (rows 4ty - padTop.., columns
 * 4tx - padLeft.., 0 outside), tilesH = ceil(outH/4), rows first, f32 after every step.
 */
export function convWinograd4Input(x: ArrayLike<number>, g: WinogradTilesReference): Float32Array {
  const { images, channels, height, width, padTop, padLeft } = g;
  const tilesH = Math.ceil(g.outH / 4);
  const tilesW = Math.ceil(g.outW / 4);
  const tiles = images * tilesH * tilesW;
  const eLen = g.eLen ?? channels * tiles;
  const v = new Float32Array(36 * eLen);
  const px = (n: number, c: number, iy: number, ix: number) =>
    iy < 0 || iy >= height || ix < 0 || ix >= width ? 0 : x[((n * channels + c) * height + iy) * width + ix]!;
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const t = (n * tilesH + ty) * tilesW + tx;
          const d = (r: number, k: number) => px(n, c, 4 * ty - padTop + r, 4 * tx - padLeft + k);
          // cols[k][i] = (B^T d)[i][k]
          const cols = [0, 1, 2, 3, 4, 5].map((k) => winograd4In([0, 1, 2, 3, 4, 5].map((r) => d(r, k))));
          for (let i = 0; i < 6; i++) {
            const row = winograd4In(cols.map((col) => col[i]!));
            for (let j = 0; j < 6; j++) v[(6 * i + j) * eLen + c * tiles + t] = row[j]!;
          }
        }
      }
    }
  }
  return v;
}

/**
 * Reference for conv_winograd4_input_packed: `convWinograd4Input`'s 36 blocks, each laid out as `gemmPackB`
 * packs a channels x tiles matrix, eLen apart (default gemmPackB's length; the rest 0).
 */
export function convWinograd4InputPacked(x: ArrayLike<number>, g: WinogradTilesReference): Float32Array {
  const { channels } = g;
  const tiles = g.images * Math.ceil(g.outH / 4) * Math.ceil(g.outW / 4);
  const plain = convWinograd4Input(x, { ...g, eLen: channels * tiles });
  const blockLen = Math.ceil(tiles / 8) * 8 * channels;
  const eLen = g.eLen ?? blockLen;
  const v = new Float32Array(36 * eLen);
  for (let e = 0; e < 36; e++) {
    const block = plain.subarray(e * channels * tiles, (e + 1) * channels * tiles);
    v.set(gemmPackB({ k: channels, n: tiles, ldb: tiles }, block), e * eLen);
  }
  return v;
}

/**
 * Winograd F(4x4, 3x3) output transform: for m laid out as 36 blocks of filters x tiles (eLen apart),
 * y (images x filters x outH x outW) = act((A^T m A) + bias[f]) (no add without a bias), or
 * act(((A^T m A) + bias[f]) + r) with a residual r shaped like y, rows first, f32 after every step; outputs
 * past outH x outW are dropped.
 */
export function convWinograd4Output(
  m: ArrayLike<number>,
  g: WinogradTilesReference,
  filters: number,
  bias: ArrayLike<number> | undefined,
  act: number,
  a0: number,
  a1: number,
  residual?: ArrayLike<number>,
): Float32Array {
  const f = Math.fround;
  const { images, outH, outW } = g;
  const tilesH = Math.ceil(outH / 4);
  const tilesW = Math.ceil(outW / 4);
  const tiles = images * tilesH * tilesW;
  const eLen = g.eLen ?? filters * tiles;
  const y = new Float32Array(images * filters * outH * outW);
  for (let n = 0; n < images; n++) {
    for (let o = 0; o < filters; o++) {
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx++) {
          const t = (n * tilesH + ty) * tilesW + tx;
          const me = (i: number, j: number) => m[(6 * i + j) * eLen + o * tiles + t]!;
          // cols[j][i] = (A^T m)[i][j]
          const cols = [0, 1, 2, 3, 4, 5].map((j) => winograd4Out([0, 1, 2, 3, 4, 5].map((r) => me(r, j))));
          for (let i = 0; i < 4; i++) {
            const out = winograd4Out(cols.map((col) => col[i]!));
            for (let j = 0; j < 4; j++) {
              const oy = 4 * ty + i;
              const ox = 4 * tx + j;
              if (oy >= outH || ox >= outW) continue;
              const at = ((n * filters + o) * outH + oy) * outW + ox;
              const v = bias === undefined ? out[j]! : f(out[j]! + bias[o]!);
              y[at] = actScalar(residual === undefined ? v : f(v + residual[at]!), act, a0, a1);
            }
          }
        }
      }
    }
  }
  return y;
}

/**
 * Tap-split convolution of one image (conv_tapsplit), no bias: y (filters x outH x outW) starts at +0 and,
 * tap by tap ((i, j) in order), adds the tap's sum over channels for every output pixel the tap reaches
 * inside the image: s = sum_c w[f, c, i, j] * x[c, iy, ix], the default build's thin-GEMM order (f32
 * products added in increasing c from 0, per K slice of at most 512 channels split evenly, each later
 * slice's sum added to the earlier total), then y = y + s. Bit-exact with the default build.
 * @param weight filters x channels x kernelH x kernelW.
 */
export function convTapSplit(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  g: ConvWindowReference,
  filters: number,
): Float32Array {
  const f32 = Math.fround;
  const { channels, height, width, kernelH, kernelW, outH, outW } = g;
  const y = new Float32Array(filters * outH * outW);
  const blocks = Math.ceil(channels / 512);
  const kc = Math.ceil(channels / blocks);
  for (let i = 0; i < kernelH; i++) {
    for (let j = 0; j < kernelW; j++) {
      for (let f = 0; f < filters; f++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const iy = oy * g.strideH - g.padTop + i * g.dilationH;
            const ix = ox * g.strideW - g.padLeft + j * g.dilationW;
            if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
            let total = 0;
            for (let pc = 0; pc < channels; pc += kc) {
              let acc = 0;
              for (let c = pc; c < Math.min(channels, pc + kc); c++) {
                const wv = weight[((f * channels + c) * kernelH + i) * kernelW + j]!;
                acc = f32(acc + f32(wv * x[(c * height + iy) * width + ix]!));
              }
              total = pc === 0 ? acc : f32(acc + total);
            }
            const at = (f * outH + oy) * outW + ox;
            y[at] = f32(y[at]! + total);
          }
        }
      }
    }
  }
  return y;
}
