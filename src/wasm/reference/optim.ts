/**
 * Plain references for assembly/optim.ts: every operation rounded to f32 (Math.fround) in the kernels'
 * order, so they are bit-exact with the WASM results. The inputs are only read; each returns copies.
 */

const f = Math.fround;

/** Options of one SGD step, as torch.optim.SGD (dampening 0). */
export interface SgdReferenceOptions {
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
}

/**
 * One torch.optim.SGD step in f32: d = g + wd*w; with momentum, v = momentum*v + d and
 * d = nesterov ? d + momentum*v : v; w = w - lr*d.
 * @param velocity the momentum buffer (zeros before the first step); ignored when momentum is 0.
 * @returns the new weights and velocity (the velocity is a copy of the input when momentum is 0).
 */
export function sgdStep(
  weights: ArrayLike<number>,
  grads: ArrayLike<number>,
  velocity: ArrayLike<number> | undefined,
  options: SgdReferenceOptions,
): { weights: Float32Array; velocity: Float32Array } {
  const lr = f(options.lr);
  const mom = f(options.momentum);
  const wd = f(options.weightDecay);
  const w = Float32Array.from(weights);
  const v = velocity === undefined ? new Float32Array(w.length) : Float32Array.from(velocity);
  for (let i = 0; i < w.length; i++) {
    let d = f(f(grads[i]!) + f(wd * w[i]!));
    if (mom !== 0) {
      v[i] = f(f(mom * v[i]!) + d);
      d = options.nesterov ? f(d + f(mom * v[i]!)) : v[i]!;
    }
    w[i] = f(w[i]! - f(lr * d));
  }
  return { weights: w, velocity: v };
}

/** x[i] * s in f32. */
export function scaleInPlace(x: ArrayLike<number>, s: number): Float32Array {
  return Float32Array.from(x, (v) => f(v * f(s)));
}

/** g[i] + lambda * sign(w[i]) in f32, sign(+-0) = sign(NaN) = 0. */
export function addL1Grad(
  weights: ArrayLike<number>,
  grads: ArrayLike<number>,
  lambda: number,
): Float32Array {
  const l = f(lambda);
  return Float32Array.from(grads, (g, i) => {
    const w = weights[i]!;
    const sign = w > 0 ? 1 : w < 0 ? -1 : 0;
    return f(g + f(l * sign));
  });
}
