// Normalisation kernels: folding an inference BatchNormalization (or any per-channel affine map,
// such as Gate Decorator's gates) into the conv before it, and running one when it cannot be folded.
//
// ONNX BatchNormalization (inference): y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per
// channel. With s = gamma / sqrt(var + epsilon) this is y = x*s + (beta - mean*s), so after a conv
// x = W*in + b it equals the conv with W' = W*s (row by row) and b' = (b - mean)*s + beta.
// Everything is computed in f32, one rounding per operation, in the order written.

/**
 * Fold a per-output-channel affine map (BatchNormalization at inference) into conv or linear
 * weights, in place.
 *
 * For each output channel c, in f32:
 *   s       = gamma[c] / sqrt(var[c] + epsilon)
 *   w[c, p] = w[c, p] * s                       for p < perChannelLen
 *   bias[c] = (bias[c] - mean[c]) * s + beta[c]
 *
 * Layout: w is outChannels x perChannelLen, row-major (a conv's OIHW weight has perChannelLen =
 * (inChannels/groups)*kernelH*kernelW; a Gemm/MatMul's rows work the same way). bias, gamma, beta,
 * mean and var hold outChannels f32 each. bias must be given: the caller zero-fills it when the conv
 * had none.
 *
 * Gate Decorator (docs/methods.md §4.1): a gated BN y = g*(xhat + b')*m with running statistics
 * folds with gamma = g*m, beta = g*b'*m and the BN's own mean and var. Plain per-channel factors g
 * fold exactly with gamma = g, beta = 0, mean = 0, var = 1, epsilon = 0: then s = g / sqrt(1) = g,
 * w[c, p] = w[c, p] * g[c] and bias[c] = bias[c] * g[c] + 0, one rounding each.
 *
 * None of w, bias and the four BN vectors may overlap (w and bias are written).
 */
export function norm_fold_bn_into_conv(
  wPtr: usize,
  biasPtr: usize,
  outChannels: i32,
  perChannelLen: i32,
  gammaPtr: usize,
  betaPtr: usize,
  meanPtr: usize,
  varPtr: usize,
  epsilon: f32,
): void {
  for (let c = 0; c < outChannels; c++) {
    const at = (<usize>c) << 2;
    const s: f32 = load<f32>(gammaPtr + at) / Mathf.sqrt(load<f32>(varPtr + at) + epsilon);
    const vs = f32x4.splat(s);
    const row = wPtr + <usize>c * ((<usize>perChannelLen) << 2);
    let p = 0;
    for (; p + 4 <= perChannelLen; p += 4) {
      const q = row + ((<usize>p) << 2);
      v128.store(q, f32x4.mul(v128.load(q), vs));
    }
    for (; p < perChannelLen; p++) {
      const q = row + ((<usize>p) << 2);
      store<f32>(q, load<f32>(q) * s);
    }
    store<f32>(
      biasPtr + at,
      (load<f32>(biasPtr + at) - load<f32>(meanPtr + at)) * s + load<f32>(betaPtr + at),
    );
  }
}

/**
 * Per-channel affine map of an NCHW batch: y[n, c, p] = x[n, c, p] * scale[c] + shift[c], one f32
 * multiply then one f32 add (no FMA). Runs an inference BatchNormalization that cannot be folded
 * (scale = gamma/sqrt(var+eps), shift = beta - mean*scale), or adds a bias (scale 1, shift = bias).
 *
 * Layout: x and y are batch x channels x planeLen (planeLen = H*W), row-major; scale and shift hold
 * `channels` f32. x and y may be the same buffer (in place), but must not partly overlap.
 */
export function norm_affine_channels(
  xPtr: usize,
  yPtr: usize,
  batch: i32,
  channels: i32,
  planeLen: i32,
  scalePtr: usize,
  shiftPtr: usize,
): void {
  const planeBytes = (<usize>planeLen) << 2;
  let plane: usize = 0;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const sc = load<f32>(scalePtr + ((<usize>c) << 2));
      const sh = load<f32>(shiftPtr + ((<usize>c) << 2));
      const vsc = f32x4.splat(sc);
      const vsh = f32x4.splat(sh);
      const xp = xPtr + plane;
      const yp = yPtr + plane;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const off = (<usize>p) << 2;
        v128.store(yp + off, f32x4.add(f32x4.mul(v128.load(xp + off), vsc), vsh));
      }
      for (; p < planeLen; p++) {
        const off = (<usize>p) << 2;
        store<f32>(yp + off, load<f32>(xp + off) * sc + sh);
      }
      plane += planeBytes;
    }
  }
}

// BatchNormalization in training mode (batch statistics) and the backward passes of training.
//
// Layout: x, y, dy, dx are batch x channels x planeLen (NCHW, planeLen = H*W), row-major, so channel
// c of sample n is the plane starting at element (n*channels + c)*planeLen. Each channel reduces over
// its M = batch*planeLen values. Per-channel vectors hold `channels` f32.
//
// Channel sums are f64, in one fixed order: the planes n = 0, 1, ... in turn; in each plane the
// multiple-of-4 prefix goes into two f64x2 accumulators (lanes 0,1 and lanes 2,3, promoted from f32),
// the tail into a scalar; at the end (a0 + a1) + (a2 + a3) + tail. Same input, same bits, everywhere.

function lanesHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 2, 3));
}

function hsum2(lo: v128, hi: v128): f64 {
  return (
    f64x2.extract_lane(lo, 0) +
    f64x2.extract_lane(lo, 1) +
    (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1))
  );
}

/** sum over n and p of x[n, c, p] in f64, in the fixed order above. */
function channelSumF64(xPtr: usize, c: i32, batch: i32, channels: i32, planeLen: i32): f64 {
  const planeBytes = (<usize>planeLen) << 2;
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let tail: f64 = 0;
  for (let n = 0; n < batch; n++) {
    const xp = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
    let p = 0;
    for (; p + 4 <= planeLen; p += 4) {
      const v = v128.load(xp + ((<usize>p) << 2));
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, lanesHigh(v));
    }
    for (; p < planeLen; p++) tail += <f64>load<f32>(xp + ((<usize>p) << 2));
  }
  return hsum2(lo, hi) + tail;
}

/** sum over n and p of (x[n, c, p] - mean)^2 in f64, in the fixed order above. */
function channelSqDevF64(xPtr: usize, c: i32, batch: i32, channels: i32, planeLen: i32, mean: f64): f64 {
  const planeBytes = (<usize>planeLen) << 2;
  const vm = f64x2.splat(mean);
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let tail: f64 = 0;
  for (let n = 0; n < batch; n++) {
    const xp = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
    let p = 0;
    for (; p + 4 <= planeLen; p += 4) {
      const v = v128.load(xp + ((<usize>p) << 2));
      const dl = f64x2.sub(f64x2.promote_low_f32x4(v), vm);
      const dh = f64x2.sub(lanesHigh(v), vm);
      lo = f64x2.add(lo, f64x2.mul(dl, dl));
      hi = f64x2.add(hi, f64x2.mul(dh, dh));
    }
    for (; p < planeLen; p++) {
      const d = <f64>load<f32>(xp + ((<usize>p) << 2)) - mean;
      tail += d * d;
    }
  }
  return hsum2(lo, hi) + tail;
}

/**
 * BatchNormalization forward in training mode (batch statistics; PyTorch `BatchNorm2d.train()`).
 *
 * For each channel c, over its M = batch*planeLen values (f64 sums in the fixed order above):
 *   mean[c]   = sum x / M
 *   var[c]    = sum (x - mean)^2 / M              (biased, two-pass)
 *   invStd[c] = 1 / sqrt(var + eps)               (in f64, stored f32)
 *   y         = (x - mean[c]) * s + beta[c]       with s = f32(invStd * gamma[c]), in f32 (no FMA)
 * mean, var and invStd are stored as f32. M = 1 gives var 0 (and invStd = 1/sqrt(eps)); M = 0
 * writes mean = var = 0 (the wrapper refuses it).
 *
 * Layout: x and y are batch x channels x planeLen (NCHW); gamma, beta, mean, var, invStd hold
 * `channels` f32. x and y must not overlap; the per-channel outputs overlap nothing.
 */
export function norm_bn_train_forward(
  xPtr: usize,
  yPtr: usize,
  gammaPtr: usize,
  betaPtr: usize,
  meanPtr: usize,
  varPtr: usize,
  invStdPtr: usize,
  batch: i32,
  channels: i32,
  planeLen: i32,
  eps: f32,
): void {
  const count = <f64>batch * <f64>planeLen;
  const planeBytes = (<usize>planeLen) << 2;
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    let mean: f64 = 0;
    let variance: f64 = 0;
    if (count > 0) {
      mean = channelSumF64(xPtr, c, batch, channels, planeLen) / count;
      variance = channelSqDevF64(xPtr, c, batch, channels, planeLen, mean) / count;
    }
    const invStd: f64 = 1 / Math.sqrt(variance + <f64>eps);
    store<f32>(meanPtr + at, <f32>mean);
    store<f32>(varPtr + at, <f32>variance);
    store<f32>(invStdPtr + at, <f32>invStd);
    const m32 = <f32>mean;
    const s = <f32>(invStd * <f64>load<f32>(gammaPtr + at));
    const b = load<f32>(betaPtr + at);
    const vm = f32x4.splat(m32);
    const vs = f32x4.splat(s);
    const vb = f32x4.splat(b);
    for (let n = 0; n < batch; n++) {
      const off = (<usize>n * <usize>channels + <usize>c) * planeBytes;
      const xp = xPtr + off;
      const yp = yPtr + off;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const q = (<usize>p) << 2;
        v128.store(yp + q, f32x4.add(f32x4.mul(f32x4.sub(v128.load(xp + q), vm), vs), vb));
      }
      for (; p < planeLen; p++) {
        const q = (<usize>p) << 2;
        store<f32>(yp + q, (load<f32>(xp + q) - m32) * s + b);
      }
    }
  }
}

/**
 * BatchNormalization backward in training mode: the gradients of a loss L through
 * y = xhat*gamma + beta, xhat = (x - mean)*invStd, with mean and invStd the batch statistics of x
 * (as written by norm_bn_train_forward). For each channel c, over its M = batch*planeLen values:
 *   dBeta[c]  = sum dy                         (f64, fixed order above; overwritten)
 *   dGamma[c] = sum dy * xhat                  (f64, xhat in f64; overwritten)
 *   dx        = k * ((dy - a) - xhat * b)      in f32 (no FMA), xhat = (x - mean[c]) * invStd[c],
 *               with k = f32(gamma*invStd), a = f32(dBeta/M), b = f32(dGamma/M)
 * which is gamma*invStd*(dy - dBeta/M - xhat*dGamma/M), the statistics' own gradients included.
 *
 * Layout: x, dy, dx are batch x channels x planeLen (NCHW); gamma, mean, invStd, dGamma, dBeta
 * hold `channels` f32. dx may be the same buffer as dy (in place: every dy of a channel is summed
 * before its dx is written); otherwise no overlap.
 */
export function norm_bn_train_backward(
  xPtr: usize,
  dyPtr: usize,
  gammaPtr: usize,
  meanPtr: usize,
  invStdPtr: usize,
  dxPtr: usize,
  dGammaPtr: usize,
  dBetaPtr: usize,
  batch: i32,
  channels: i32,
  planeLen: i32,
): void {
  const count = <f64>batch * <f64>planeLen;
  const planeBytes = (<usize>planeLen) << 2;
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    const m32 = load<f32>(meanPtr + at);
    const is32 = load<f32>(invStdPtr + at);
    const mean = <f64>m32;
    const invStd = <f64>is32;
    const vm64 = f64x2.splat(mean);
    const vis64 = f64x2.splat(invStd);
    let sLo = f64x2.splat(0);
    let sHi = f64x2.splat(0);
    let gLo = f64x2.splat(0);
    let gHi = f64x2.splat(0);
    let sTail: f64 = 0;
    let gTail: f64 = 0;
    for (let n = 0; n < batch; n++) {
      const off = (<usize>n * <usize>channels + <usize>c) * planeBytes;
      const xp = xPtr + off;
      const dp = dyPtr + off;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const q = (<usize>p) << 2;
        const x = v128.load(xp + q);
        const dy = v128.load(dp + q);
        const dyLo = f64x2.promote_low_f32x4(dy);
        const dyHi = lanesHigh(dy);
        const hLo = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(x), vm64), vis64);
        const hHi = f64x2.mul(f64x2.sub(lanesHigh(x), vm64), vis64);
        sLo = f64x2.add(sLo, dyLo);
        sHi = f64x2.add(sHi, dyHi);
        gLo = f64x2.add(gLo, f64x2.mul(dyLo, hLo));
        gHi = f64x2.add(gHi, f64x2.mul(dyHi, hHi));
      }
      for (; p < planeLen; p++) {
        const q = (<usize>p) << 2;
        const dy = <f64>load<f32>(dp + q);
        sTail += dy;
        gTail += dy * ((<f64>load<f32>(xp + q) - mean) * invStd);
      }
    }
    const dBeta = hsum2(sLo, sHi) + sTail;
    const dGamma = hsum2(gLo, gHi) + gTail;
    store<f32>(dBetaPtr + at, <f32>dBeta);
    store<f32>(dGammaPtr + at, <f32>dGamma);
    if (count === 0) continue;
    const k = <f32>(<f64>load<f32>(gammaPtr + at) * invStd);
    const a = <f32>(dBeta / count);
    const b = <f32>(dGamma / count);
    const vm = f32x4.splat(m32);
    const vis = f32x4.splat(is32);
    const vk = f32x4.splat(k);
    const va = f32x4.splat(a);
    const vb = f32x4.splat(b);
    for (let n = 0; n < batch; n++) {
      const off = (<usize>n * <usize>channels + <usize>c) * planeBytes;
      const xp = xPtr + off;
      const dp = dyPtr + off;
      const gp = dxPtr + off;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const q = (<usize>p) << 2;
        const h = f32x4.mul(f32x4.sub(v128.load(xp + q), vm), vis);
        const t = f32x4.sub(f32x4.sub(v128.load(dp + q), va), f32x4.mul(h, vb));
        v128.store(gp + q, f32x4.mul(vk, t));
      }
      for (; p < planeLen; p++) {
        const q = (<usize>p) << 2;
        const h = (load<f32>(xp + q) - m32) * is32;
        store<f32>(gp + q, k * (load<f32>(dp + q) - a - h * b));
      }
    }
  }
}

/**
 * Backward of the per-channel affine map y = x*scale[c] + shift[c] (norm_affine_channels: an
 * inference BatchNormalization, or Gate Decorator's per-channel gates). For each channel c:
 *   dShift[c] = sum dy                  (f64, fixed order above; overwritten)
 *   dScale[c] = sum dy * x              (f64, the product in f64; overwritten)
 *   dx        = dy * scale[c]           (f32), only when dxPtr != 0
 *
 * Layout: x, dy, dx are batch x channels x planeLen (NCHW); scale, dScale, dShift hold `channels`
 * f32. dxPtr = 0 means "do not compute dx". dx may be the same buffer as dy (each dy is read before
 * the dx at its place is written); otherwise no overlap.
 */
export function norm_channel_affine_backward(
  xPtr: usize,
  dyPtr: usize,
  scalePtr: usize,
  dxPtr: usize,
  dScalePtr: usize,
  dShiftPtr: usize,
  batch: i32,
  channels: i32,
  planeLen: i32,
): void {
  const planeBytes = (<usize>planeLen) << 2;
  const withDx = dxPtr !== 0;
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    const sc = load<f32>(scalePtr + at);
    const vsc = f32x4.splat(sc);
    let sLo = f64x2.splat(0);
    let sHi = f64x2.splat(0);
    let gLo = f64x2.splat(0);
    let gHi = f64x2.splat(0);
    let sTail: f64 = 0;
    let gTail: f64 = 0;
    for (let n = 0; n < batch; n++) {
      const off = (<usize>n * <usize>channels + <usize>c) * planeBytes;
      const xp = xPtr + off;
      const dp = dyPtr + off;
      const gp = dxPtr + off;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const q = (<usize>p) << 2;
        const dy = v128.load(dp + q);
        const x = v128.load(xp + q);
        const dyLo = f64x2.promote_low_f32x4(dy);
        const dyHi = lanesHigh(dy);
        sLo = f64x2.add(sLo, dyLo);
        sHi = f64x2.add(sHi, dyHi);
        gLo = f64x2.add(gLo, f64x2.mul(dyLo, f64x2.promote_low_f32x4(x)));
        gHi = f64x2.add(gHi, f64x2.mul(dyHi, lanesHigh(x)));
        if (withDx) v128.store(gp + q, f32x4.mul(dy, vsc));
      }
      for (; p < planeLen; p++) {
        const q = (<usize>p) << 2;
        const dy = load<f32>(dp + q);
        sTail += <f64>dy;
        gTail += <f64>dy * <f64>load<f32>(xp + q);
        if (withDx) store<f32>(gp + q, dy * sc);
      }
    }
    store<f32>(dShiftPtr + at, <f32>(hsum2(sLo, sHi) + sTail));
    store<f32>(dScalePtr + at, <f32>(hsum2(gLo, gHi) + gTail));
  }
}
