/**
 * Plain references for assembly/norm.ts. The inference ones (normFoldBnIntoConv, normAffineChannels)
 * round to f32 after every operation, in the kernels' order (Math.fround), so they are bit-exact with
 * the WASM results. The training ones (bnTrainForward, bnTrainBackward, channelAffineBackward) compute
 * in f64 straight from the definitions and return Float64Array: the kernels match them within f32
 * tolerance, and the tests differentiate them by finite differences.
 */

/**
 * Fold an inference BatchNormalization into the conv before it: for each output channel c,
 * s = gamma[c] / sqrt(var[c] + epsilon), weight[c, :] *= s, bias[c] = (bias[c] - mean[c]) * s + beta[c].
 * @param weight outChannels x perChannelLen, row-major. @param bias outChannels values.
 * @returns new copies; the inputs are only read.
 */
export function normFoldBnIntoConv(
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  outChannels: number,
  perChannelLen: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  epsilon: number,
): { weight: Float32Array; bias: Float32Array } {
  const f = Math.fround;
  const w = Float32Array.from(weight);
  const b = Float32Array.from(bias);
  const eps = f(epsilon);
  for (let c = 0; c < outChannels; c++) {
    const s = f(gamma[c]! / f(Math.sqrt(f(variance[c]! + eps))));
    for (let p = 0; p < perChannelLen; p++) w[c * perChannelLen + p] = f(w[c * perChannelLen + p]! * s);
    b[c] = f(f(f(b[c]! - mean[c]!) * s) + beta[c]!);
  }
  return { weight: w, bias: b };
}

/**
 * y[n, c, p] = x[n, c, p] * scale[c] + shift[c], rounded after the multiply and after the add.
 * @param x batch x channels x planeLen. @returns a new array of the same shape.
 */
export function normAffineChannels(
  x: ArrayLike<number>,
  batch: number,
  channels: number,
  planeLen: number,
  scale: ArrayLike<number>,
  shift: ArrayLike<number>,
): Float32Array {
  const f = Math.fround;
  const y = new Float32Array(batch * channels * planeLen);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < planeLen; p++) {
        const at = (n * channels + c) * planeLen + p;
        y[at] = f(f(x[at]! * scale[c]!) + shift[c]!);
      }
    }
  }
  return y;
}

/** Index of x[n, c, p] in an NCHW batch of `channels` channels of planeLen values. */
function nchw(n: number, c: number, p: number, channels: number, planeLen: number): number {
  return (n * channels + c) * planeLen + p;
}

/**
 * BatchNormalization forward in training mode, in f64: per channel c over its M = batch*planeLen
 * values, mean = sum x / M, variance = sum (x - mean)^2 / M (biased), invStd = 1 / sqrt(variance + eps),
 * y = (x - mean) * invStd * gamma[c] + beta[c].
 * @param x batch x channels x planeLen (NCHW). @param gamma, beta `channels` values each.
 * @returns y (x's shape) and the per-channel mean, variance and invStd.
 */
export function bnTrainForward(
  x: ArrayLike<number>,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
): { y: Float64Array; mean: Float64Array; variance: Float64Array; invStd: Float64Array } {
  const count = batch * planeLen;
  const y = new Float64Array(batch * channels * planeLen);
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  const invStd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let n = 0; n < batch; n++)
      for (let p = 0; p < planeLen; p++) s += x[nchw(n, c, p, channels, planeLen)]!;
    const m = s / count;
    let q = 0;
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < planeLen; p++) q += (x[nchw(n, c, p, channels, planeLen)]! - m) ** 2;
    }
    const v = q / count;
    const is = 1 / Math.sqrt(v + eps);
    mean[c] = m;
    variance[c] = v;
    invStd[c] = is;
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < planeLen; p++) {
        const at = nchw(n, c, p, channels, planeLen);
        y[at] = (x[at]! - m) * is * gamma[c]! + beta[c]!;
      }
    }
  }
  return { y, mean, variance, invStd };
}

/**
 * BatchNormalization backward in training mode, in f64: with xhat = (x - mean[c]) * invStd[c],
 * dBeta[c] = sum dy, dGamma[c] = sum dy * xhat and
 * dx = gamma[c] * invStd[c] * (dy - dBeta[c] / M - xhat * dGamma[c] / M), M = batch*planeLen.
 * @param x, dy batch x channels x planeLen (NCHW). @param mean, invStd the batch statistics of x.
 */
export function bnTrainBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: ArrayLike<number>,
  mean: ArrayLike<number>,
  invStd: ArrayLike<number>,
): { dx: Float64Array; dGamma: Float64Array; dBeta: Float64Array } {
  const count = batch * planeLen;
  const dx = new Float64Array(batch * channels * planeLen);
  const dGamma = new Float64Array(channels);
  const dBeta = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const xhat = (at: number) => (x[at]! - mean[c]!) * invStd[c]!;
    let sb = 0;
    let sg = 0;
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < planeLen; p++) {
        const at = nchw(n, c, p, channels, planeLen);
        sb += dy[at]!;
        sg += dy[at]! * xhat(at);
      }
    }
    dBeta[c] = sb;
    dGamma[c] = sg;
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < planeLen; p++) {
        const at = nchw(n, c, p, channels, planeLen);
        dx[at] = gamma[c]! * invStd[c]! * (dy[at]! - sb / count - (xhat(at) * sg) / count);
      }
    }
  }
  return { dx, dGamma, dBeta };
}

/**
 * Backward of y = x * scale[c] + shift[c], in f64: dShift[c] = sum dy, dScale[c] = sum dy * x,
 * dx = dy * scale[c].
 * @param x, dy batch x channels x planeLen (NCHW). @param scale `channels` values.
 */
export function channelAffineBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  batch: number,
  channels: number,
  planeLen: number,
  scale: ArrayLike<number>,
): { dx: Float64Array; dScale: Float64Array; dShift: Float64Array } {
  const dx = new Float64Array(batch * channels * planeLen);
  const dScale = new Float64Array(channels);
  const dShift = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < planeLen; p++) {
        const at = nchw(n, c, p, channels, planeLen);
        dShift[c] = dShift[c]! + dy[at]!;
        dScale[c] = dScale[c]! + dy[at]! * x[at]!;
        dx[at] = dy[at]! * scale[c]!;
      }
    }
  }
  return { dx, dScale, dShift };
}
