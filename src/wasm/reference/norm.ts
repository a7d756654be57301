/**
 * Plain references for assembly/norm.ts. Both round to f32 after every operation, in the kernels'
 * order (Math.fround), so they are bit-exact with the WASM results.
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
