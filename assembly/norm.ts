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
