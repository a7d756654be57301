// Wrappers of assembly/norm.ts: folding an inference BatchNormalization into a conv, running a
// per-channel affine map (an unfoldable BatchNormalization, or a bias) over an NCHW batch, and the
// training passes (BatchNormalization with batch statistics, forward and backward; the per-channel
// affine map's backward).
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

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

/** The NCHW sizes of a training pass; `needValues` refuses an empty channel (M = batch*planeLen = 0). */
function checkNchw(
  what: string,
  batch: number,
  channels: number,
  planeLen: number,
  needValues: boolean,
): number {
  checkSize(`${what} batch`, batch);
  checkSize(`${what} channels`, channels);
  checkSize(`${what} planeLen`, planeLen);
  const len = batch * channels * planeLen;
  if (len > 0x7fffffff) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: batch x channels x planeLen = ${len} elements exceeds 2^31 - 1`,
    );
  }
  if (needValues && channels > 0 && batch * planeLen === 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: batch statistics need at least one value per channel, got batch ${batch} x planeLen ${planeLen}`,
    );
  }
  return len;
}

/** The per-channel batch statistics of a BatchNormalization in training mode, `channels` f32 each. */
export interface BnBatchStats {
  readonly mean: Float32Array;
  /** The biased variance (divided by M = batch*planeLen), as PyTorch normalises with. */
  readonly variance: Float32Array;
  /** 1 / sqrt(variance + epsilon), computed in f64. */
  readonly invStd: Float32Array;
}

/** Arena buffers of BnBatchStats. */
export interface BnBatchStatsBuffers {
  readonly mean: Buf;
  readonly variance: Buf;
  readonly invStd: Buf;
}

/**
 * BatchNormalization forward in training mode on arena buffers (one WASM call): per channel c over
 * its M = batch*planeLen values, mean and the biased variance (two-pass, f64), invStd =
 * 1/sqrt(var + epsilon) (f64), then y = (x - mean) * f32(invStd*gamma) + beta in f32.
 * @param x batch x channels x planeLen (NCHW). @param y the same shape; must not overlap x.
 * @param gamma, beta `channels` values. @param stats `channels` values each, written.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, an empty channel (M = 0), a bad
 *   epsilon or an overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function bnTrainForwardBuffers(
  w: Wasm,
  x: Buf,
  y: Buf,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: Buf,
  beta: Buf,
  stats: BnBatchStatsBuffers,
  epsilon: number,
): void {
  const what = "bnTrainForward";
  const len = checkNchw(what, batch, channels, planeLen, true);
  checkLength(`${what} x`, x, len);
  checkLength(`${what} y`, y, len);
  checkLength(`${what} gamma`, gamma, channels);
  checkLength(`${what} beta`, beta, channels);
  checkLength(`${what} mean`, stats.mean, channels);
  checkLength(`${what} variance`, stats.variance, channels);
  checkLength(`${what} invStd`, stats.invStd, channels);
  checkEpsilon(what, epsilon);
  if (overlaps(x, y)) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: y overlaps x; pass disjoint buffers`);
  }
  w.arena.checkLive(what, x, y, gamma, beta, stats.mean, stats.variance, stats.invStd);
  kernel(w, "norm_bn_train_forward")(
    x.ptr,
    y.ptr,
    gamma.ptr,
    beta.ptr,
    stats.mean.ptr,
    stats.variance.ptr,
    stats.invStd.ptr,
    batch,
    channels,
    planeLen,
    epsilon,
  );
}

/**
 * BatchNormalization forward in training mode on JS arrays (copies in, one kernel call, copies out).
 * @param x batch x channels x planeLen (NCHW, planeLen = H*W). @param gamma, beta `channels` values each.
 * @returns y (x's shape) and the batch statistics (biased variance; invStd = 1/sqrt(variance + epsilon)).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, an empty channel or a bad epsilon.
 * @example
 * bnTrainForward(w, Float32Array.of(1, 3), 2, 1, 1, Float32Array.of(1), Float32Array.of(0), 0);
 * // mean [2], variance [1], invStd [1], y [-1, 1]
 */
export function bnTrainForward(
  w: Wasm,
  x: Float32Array,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: Float32Array,
  beta: Float32Array,
  epsilon: number,
): BnBatchStats & { y: Float32Array } {
  const len = checkNchw("bnTrainForward", batch, channels, planeLen, true);
  checkLength("bnTrainForward x", x, len);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const yb = arena.allocF32(len);
    const stats: BnBatchStatsBuffers = {
      mean: arena.allocF32(channels),
      variance: arena.allocF32(channels),
      invStd: arena.allocF32(channels),
    };
    bnTrainForwardBuffers(
      w,
      xb,
      yb,
      batch,
      channels,
      planeLen,
      arena.copyInF32(gamma),
      arena.copyInF32(beta),
      stats,
      epsilon,
    );
    return {
      y: arena.viewF32(yb).slice(),
      mean: arena.viewF32(stats.mean).slice(),
      variance: arena.viewF32(stats.variance).slice(),
      invStd: arena.viewF32(stats.invStd).slice(),
    };
  });
}

/**
 * BatchNormalization backward in training mode on arena buffers (one WASM call): with xhat =
 * (x - mean)*invStd, dBeta = sum dy and dGamma = sum dy*xhat per channel (f64 sums, overwritten), and
 * dx = gamma*invStd*(dy - dBeta/M - xhat*dGamma/M), M = batch*planeLen (the batch statistics'
 * gradients included).
 * @param x, dy batch x channels x planeLen (NCHW). @param dx the same shape; may be `dy` itself (in
 *   place), must not otherwise overlap dy or x. @param mean, invStd as written by bnTrainForward.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch, an empty channel or an overlap;
 *   `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function bnTrainBackwardBuffers(
  w: Wasm,
  x: Buf,
  dy: Buf,
  dx: Buf,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: Buf,
  mean: Buf,
  invStd: Buf,
  dGamma: Buf,
  dBeta: Buf,
): void {
  const what = "bnTrainBackward";
  const len = checkNchw(what, batch, channels, planeLen, true);
  checkLength(`${what} x`, x, len);
  checkLength(`${what} dy`, dy, len);
  checkLength(`${what} dx`, dx, len);
  checkLength(`${what} gamma`, gamma, channels);
  checkLength(`${what} mean`, mean, channels);
  checkLength(`${what} invStd`, invStd, channels);
  checkLength(`${what} dGamma`, dGamma, channels);
  checkLength(`${what} dBeta`, dBeta, channels);
  if (overlaps(dx, x) || (dx.ptr !== dy.ptr && overlaps(dx, dy))) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: dx overlaps x or partly overlaps dy; pass dy itself (in place) or a disjoint buffer`,
    );
  }
  w.arena.checkLive(what, x, dy, dx, gamma, mean, invStd, dGamma, dBeta);
  kernel(w, "norm_bn_train_backward")(
    x.ptr,
    dy.ptr,
    gamma.ptr,
    mean.ptr,
    invStd.ptr,
    dx.ptr,
    dGamma.ptr,
    dBeta.ptr,
    batch,
    channels,
    planeLen,
  );
}

/**
 * BatchNormalization backward in training mode on JS arrays (copies in, one kernel call, copies out).
 * @param x the forward input, batch x channels x planeLen (NCHW). @param dy the gradient of the loss
 *   w.r.t. y, the same shape. @param stats the forward's mean and invStd.
 * @returns dx (x's shape), dGamma and dBeta (`channels` values each).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or an empty channel.
 * @example
 * bnTrainBackward(w, Float32Array.of(1, 3), Float32Array.of(1, 1), 2, 1, 1, Float32Array.of(1), {
 *   mean: Float32Array.of(2), invStd: Float32Array.of(1),
 * }); // dBeta [2], dGamma [0], dx [0, 0]
 */
export function bnTrainBackward(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  batch: number,
  channels: number,
  planeLen: number,
  gamma: Float32Array,
  stats: Pick<BnBatchStats, "mean" | "invStd">,
): { dx: Float32Array; dGamma: Float32Array; dBeta: Float32Array } {
  const len = checkNchw("bnTrainBackward", batch, channels, planeLen, true);
  checkLength("bnTrainBackward x", x, len);
  checkLength("bnTrainBackward dy", dy, len);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const db = arena.copyInF32(dy);
    const dGamma = arena.allocF32(channels);
    const dBeta = arena.allocF32(channels);
    bnTrainBackwardBuffers(
      w,
      xb,
      db,
      db,
      batch,
      channels,
      planeLen,
      arena.copyInF32(gamma),
      arena.copyInF32(stats.mean),
      arena.copyInF32(stats.invStd),
      dGamma,
      dBeta,
    );
    return {
      dx: arena.viewF32(db).slice(),
      dGamma: arena.viewF32(dGamma).slice(),
      dBeta: arena.viewF32(dBeta).slice(),
    };
  });
}

/**
 * Backward of the per-channel affine map y = x*scale[c] + shift[c] (normAffineChannels: an inference
 * BatchNormalization, or per-channel gates) on arena buffers (one WASM call): dShift = sum dy and
 * dScale = sum dy*x per channel (f64 sums, overwritten), dx = dy*scale (f32).
 * @param x, dy batch x channels x planeLen (NCHW). @param dx the same shape, or undefined to skip dx;
 *   may be `dy` itself (in place), must not otherwise overlap dy or x.
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch or an overlap; `ARENA_MISUSE` on a dead
 *   or foreign buffer.
 */
export function channelAffineBackwardBuffers(
  w: Wasm,
  x: Buf,
  dy: Buf,
  dx: Buf | undefined,
  batch: number,
  channels: number,
  planeLen: number,
  scale: Buf,
  dScale: Buf,
  dShift: Buf,
): void {
  const what = "channelAffineBackward";
  const len = checkNchw(what, batch, channels, planeLen, false);
  checkLength(`${what} x`, x, len);
  checkLength(`${what} dy`, dy, len);
  if (dx !== undefined) checkLength(`${what} dx`, dx, len);
  checkLength(`${what} scale`, scale, channels);
  checkLength(`${what} dScale`, dScale, channels);
  checkLength(`${what} dShift`, dShift, channels);
  if (dx !== undefined && (overlaps(dx, x) || (dx.ptr !== dy.ptr && overlaps(dx, dy)))) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: dx overlaps x or partly overlaps dy; pass dy itself (in place) or a disjoint buffer`,
    );
  }
  w.arena.checkLive(what, x, dy, scale, dScale, dShift, ...(dx === undefined ? [] : [dx]));
  kernel(w, "norm_channel_affine_backward")(
    x.ptr,
    dy.ptr,
    scale.ptr,
    dx === undefined ? 0 : dx.ptr,
    dScale.ptr,
    dShift.ptr,
    batch,
    channels,
    planeLen,
  );
}

/**
 * Backward of y = x*scale[c] + shift[c] on JS arrays (copies in, one kernel call, copies out).
 * @param x the forward input, batch x channels x planeLen (NCHW). @param dy the gradient w.r.t. y.
 * @param scale `channels` values.
 * @returns dx (x's shape), dScale and dShift (`channels` values each).
 * @throws PrunekitError `INVALID_ARGUMENT` on a size mismatch.
 * @example
 * channelAffineBackward(w, Float32Array.of(1, 2), Float32Array.of(3, 4), 1, 1, 2, Float32Array.of(0.5));
 * // dShift [7], dScale [11], dx [1.5, 2]
 */
export function channelAffineBackward(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  batch: number,
  channels: number,
  planeLen: number,
  scale: Float32Array,
): { dx: Float32Array; dScale: Float32Array; dShift: Float32Array } {
  const len = checkNchw("channelAffineBackward", batch, channels, planeLen, false);
  checkLength("channelAffineBackward x", x, len);
  checkLength("channelAffineBackward dy", dy, len);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const db = arena.copyInF32(dy);
    const dScale = arena.allocF32(channels);
    const dShift = arena.allocF32(channels);
    channelAffineBackwardBuffers(
      w,
      xb,
      db,
      db,
      batch,
      channels,
      planeLen,
      arena.copyInF32(scale),
      dScale,
      dShift,
    );
    return {
      dx: arena.viewF32(db).slice(),
      dScale: arena.viewF32(dScale).slice(),
      dShift: arena.viewF32(dShift).slice(),
    };
  });
}
