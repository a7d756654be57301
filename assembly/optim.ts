// Optimiser steps for training, element-wise over flat f32 parameter buffers. Every element is
// computed in f32, one rounding per operation in the order written (no FMA), so the SIMD main loop
// and the scalar tail give exactly the bits of the scalar formula, in every runtime.

/**
 * One step of SGD exactly as PyTorch's `torch.optim.SGD` with dampening 0, per element i < len:
 *   d = g + weightDecay * w
 *   if momentum != 0:  v = momentum * v + d;  d = nesterov ? d + momentum * v : v
 *   w = w - lr * d
 * The momentum buffer v must start at 0: the first step then gives v = d (PyTorch's clone).
 * When momentum == 0, v is not touched and vPtr may be 0. nesterov is 0 or 1.
 *
 * Layout: w, g, v hold len f32 each; w and v are updated in place. No two of them may overlap.
 */
export function optim_sgd(
  wPtr: usize,
  gPtr: usize,
  vPtr: usize,
  len: i32,
  lr: f32,
  momentum: f32,
  weightDecay: f32,
  nesterov: i32,
): void {
  const vLr = f32x4.splat(lr);
  const vMom = f32x4.splat(momentum);
  const vWd = f32x4.splat(weightDecay);
  const useMomentum = momentum !== 0;
  const useNesterov = nesterov !== 0;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const off = (<usize>i) << 2;
    const w = v128.load(wPtr + off);
    let d = f32x4.add(v128.load(gPtr + off), f32x4.mul(vWd, w));
    if (useMomentum) {
      const v = f32x4.add(f32x4.mul(vMom, v128.load(vPtr + off)), d);
      v128.store(vPtr + off, v);
      d = useNesterov ? f32x4.add(d, f32x4.mul(vMom, v)) : v;
    }
    v128.store(wPtr + off, f32x4.sub(w, f32x4.mul(vLr, d)));
  }
  for (; i < len; i++) {
    const off = (<usize>i) << 2;
    const w = load<f32>(wPtr + off);
    let d = load<f32>(gPtr + off) + weightDecay * w;
    if (useMomentum) {
      const v = momentum * load<f32>(vPtr + off) + d;
      store<f32>(vPtr + off, v);
      d = useNesterov ? d + momentum * v : v;
    }
    store<f32>(wPtr + off, w - lr * d);
  }
}

/** x[i] = x[i] * s for i < len, in place (one f32 multiply each). */
export function optim_scale(xPtr: usize, len: i32, s: f32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const off = (<usize>i) << 2;
    v128.store(xPtr + off, f32x4.mul(v128.load(xPtr + off), vs));
  }
  for (; i < len; i++) {
    const off = (<usize>i) << 2;
    store<f32>(xPtr + off, load<f32>(xPtr + off) * s);
  }
}

/**
 * The L1 penalty's gradient (Gate Decorator's Tock loss, docs/methods.md §4.5):
 * g[i] = g[i] + lambda * sign(w[i]) for i < len, in f32, with sign(w) = 1 for w > 0, -1 for w < 0,
 * and 0 for +-0 and NaN. w and g hold len f32 each and must not overlap; g is updated in place.
 */
export function optim_add_l1_grad(wPtr: usize, gPtr: usize, len: i32, lambda: f32): void {
  const vl = f32x4.splat(lambda);
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const off = (<usize>i) << 2;
    const w = v128.load(wPtr + off);
    const sign = f32x4.sub(v128.and(f32x4.gt(w, zero), one), v128.and(f32x4.lt(w, zero), one));
    v128.store(gPtr + off, f32x4.add(v128.load(gPtr + off), f32x4.mul(vl, sign)));
  }
  for (; i < len; i++) {
    const off = (<usize>i) << 2;
    const w = load<f32>(wPtr + off);
    const sign: f32 = w > 0 ? 1 : w < 0 ? -1 : 0;
    store<f32>(gPtr + off, load<f32>(gPtr + off) + lambda * sign);
  }
}
