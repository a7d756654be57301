// Wrappers of assembly/norm.ts: folding an inference BatchNormalization into a conv, and running a
// per-channel affine map (an unfoldable BatchNormalization, or a bias) over an NCHW batch.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

/** The four per-channel vectors of an ONNX BatchNormalization (inference), `channels` values each. */
export interface BatchNormParams {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

/** Arena buffers of a BatchNormalization's four vectors. */
export interface BatchNormBuffers {
  readonly gamma: Buf;
  readonly beta: Buf;
  readonly mean: Buf;
  readonly variance: Buf;
}

function checkEpsilon(what: string, epsilon: number): void {
  if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: epsilon must be a finite number >= 0, got ${epsilon}`,
    );
  }
}

/**
 * Fold a BatchNormalization into conv weights and bias on arena buffers, in place (one WASM call):
 * s = gamma[c] / sqrt(var[c] + epsilon); weight[c, :] *= s; bias[c] = (bias[c] - mean[c]) * s + beta[c],
 * all in f32. See assembly/norm.ts for folding Gate Decorator's gates.
 * @param weight outChannels x perChannelLen (OIHW flattened per output channel), written.
 * @param bias outChannels values (zero-fill it if the conv had none), written.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a bad epsilon; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function normFoldBnIntoConvBuffers(
  w: Wasm,
  weight: Buf,
  bias: Buf,
  outChannels: number,
  perChannelLen: number,
  bn: BatchNormBuffers,
  epsilon: number,
): void {
  checkSize("normFoldBnIntoConv outChannels", outChannels);
  checkSize("normFoldBnIntoConv perChannelLen", perChannelLen);
  checkLength("normFoldBnIntoConv weight", weight, outChannels * perChannelLen);
  checkLength("normFoldBnIntoConv bias", bias, outChannels);
  checkLength("normFoldBnIntoConv gamma", bn.gamma, outChannels);
  checkLength("normFoldBnIntoConv beta", bn.beta, outChannels);
  checkLength("normFoldBnIntoConv mean", bn.mean, outChannels);
  checkLength("normFoldBnIntoConv variance", bn.variance, outChannels);
  checkEpsilon("normFoldBnIntoConv", epsilon);
  w.arena.checkLive("normFoldBnIntoConv", weight, bias, bn.gamma, bn.beta, bn.mean, bn.variance);
  kernel(w, "norm_fold_bn_into_conv")(
    weight.ptr,
    bias.ptr,
    outChannels,
    perChannelLen,
    bn.gamma.ptr,
    bn.beta.ptr,
    bn.mean.ptr,
    bn.variance.ptr,
    epsilon,
  );
}

/**
 * Fold a BatchNormalization into conv weights and bias given as JS arrays (copies in, one kernel
 * call, copies out); the inputs are not modified.
 * @param weight outChannels x perChannelLen, row-major. @param bias outChannels values, or undefined for a conv without bias (zeros).
 * @returns the folded weight and bias.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a bad epsilon.
 * @example
 * const folded = normFoldBnIntoConv(w, weight, undefined, 1, 2,
 *   { gamma: Float32Array.of(2), beta: Float32Array.of(1), mean: Float32Array.of(0.5), variance: Float32Array.of(1) }, 0);
 * // folded.weight = weight * 2, folded.bias = [(0 - 0.5) * 2 + 1] = [0]
 */
export function normFoldBnIntoConv(
  w: Wasm,
  weight: Float32Array,
  bias: Float32Array | undefined,
  outChannels: number,
  perChannelLen: number,
  bn: BatchNormParams,
  epsilon: number,
): { weight: Float32Array; bias: Float32Array } {
  checkSize("normFoldBnIntoConv outChannels", outChannels);
  checkSize("normFoldBnIntoConv perChannelLen", perChannelLen);
  checkLength("normFoldBnIntoConv weight", weight, outChannels * perChannelLen);
  if (bias !== undefined) checkLength("normFoldBnIntoConv bias", bias, outChannels);
  return withArena(w, (arena) => {
    const wb = arena.copyInF32(weight);
    const bb = bias === undefined ? arena.copyInF32(new Float32Array(outChannels)) : arena.copyInF32(bias);
    const bnb: BatchNormBuffers = {
      gamma: arena.copyInF32(bn.gamma),
      beta: arena.copyInF32(bn.beta),
      mean: arena.copyInF32(bn.mean),
      variance: arena.copyInF32(bn.variance),
    };
    normFoldBnIntoConvBuffers(w, wb, bb, outChannels, perChannelLen, bnb, epsilon);
    return { weight: arena.viewF32(wb).slice(), bias: arena.viewF32(bb).slice() };
  });
}

/**
 * y[n, c, p] = x[n, c, p] * scale[c] + shift[c] on arena buffers (one f32 multiply, one add; one WASM call).
 * @param x batch x channels x planeLen. @param y the same shape; may be `x` itself (in place), not a partial overlap.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or a partial overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function normAffineChannelsBuffers(
  w: Wasm,
  x: Buf,
  y: Buf,
  batch: number,
  channels: number,
  planeLen: number,
  scale: Buf,
  shift: Buf,
): void {
  checkSize("normAffineChannels batch", batch);
  checkSize("normAffineChannels channels", channels);
  checkSize("normAffineChannels planeLen", planeLen);
  const len = batch * channels * planeLen;
  checkLength("normAffineChannels x", x, len);
  checkLength("normAffineChannels y", y, len);
  checkLength("normAffineChannels scale", scale, channels);
  checkLength("normAffineChannels shift", shift, channels);
  if (len > 0 && x.ptr !== y.ptr && x.ptr < y.ptr + len * 4 && y.ptr < x.ptr + len * 4) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "normAffineChannels: y partly overlaps x; pass the same buffer (in place) or disjoint ones",
    );
  }
  w.arena.checkLive("normAffineChannels", x, y, scale, shift);
  kernel(w, "norm_affine_channels")(x.ptr, y.ptr, batch, channels, planeLen, scale.ptr, shift.ptr);
}

/**
 * Per-channel affine map of a JS array: y[n, c, p] = x[n, c, p] * scale[c] + shift[c].
 * @param x batch x channels x planeLen (planeLen = H*W). @param scale, shift `channels` values each.
 * @returns a new array of x's shape.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch.
 * @example
 * normAffineChannels(w, Float32Array.of(1, 2, 3, 4), 1, 2, 2, Float32Array.of(2, 1), Float32Array.of(0, 1)); // [2, 4, 4, 5]
 */
export function normAffineChannels(
  w: Wasm,
  x: Float32Array,
  batch: number,
  channels: number,
  planeLen: number,
  scale: Float32Array,
  shift: Float32Array,
): Float32Array {
  checkSize("normAffineChannels batch", batch);
  checkSize("normAffineChannels channels", channels);
  checkSize("normAffineChannels planeLen", planeLen);
  checkLength("normAffineChannels x", x, batch * channels * planeLen);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const sc = arena.copyInF32(scale);
    const sh = arena.copyInF32(shift);
    normAffineChannelsBuffers(w, xb, xb, batch, channels, planeLen, sc, sh);
    return arena.viewF32(xb).slice();
  });
}
