/**
 * Plain references for assembly/act.ts: the same formulas, every operation rounded to f32 with
 * Math.fround in the kernel's order, so results are bit-exact with the kernel except for sigmoid and
 * tanh (Math.exp / Math.tanh in f64, then rounded: within a few f32 ulps of Mathf.exp / Mathf.tanh).
 * Codes: 0 none, 1 relu, 2 leaky relu (a0 = alpha), 3 clip (a0 = min, a1 = max), 4 sigmoid,
 * 5 hard sigmoid (a0 = alpha, a1 = beta), 6 hard swish, 7 tanh; other codes: none. The backward
 * (actBackward, at the end) computes in f64.
 */
const f = Math.fround;

/** One activation on one value (x is taken as an f32). */
export function actScalar(x: number, act: number, a0: number, a1: number): number {
  const v = f(x);
  switch (act) {
    case 1:
      return Math.max(v, 0);
    case 2:
      return v < 0 ? f(f(a0) * v) : v;
    case 3:
      return Math.min(Math.max(v, f(a0)), f(a1));
    case 4: {
      const e = f(Math.exp(-Math.abs(v)));
      return f((v >= 0 ? 1 : e) / f(1 + e));
    }
    case 5:
      return Math.max(0, Math.min(1, f(f(f(a0) * v) + f(a1))));
    case 6:
      return f(v * Math.max(0, Math.min(1, f(f(v * f(1 / 6)) + 0.5))));
    case 7:
      return f(Math.tanh(v));
    default:
      return v;
  }
}

/** y[i] = act(x[i]). */
export function actApply(x: ArrayLike<number>, act: number, a0: number, a1: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = actScalar(x[i]!, act, a0, a1);
  return y;
}

/** A new y (rows x cols) with y[r, j] = act(y[r, j] + bias[r]); no bias when `bias` is undefined. */
export function actBiasRows(
  y: ArrayLike<number>,
  rows: number,
  cols: number,
  bias: ArrayLike<number> | undefined,
  act: number,
  a0: number,
  a1: number,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const v = bias === undefined ? y[r * cols + j]! : f(y[r * cols + j]! + bias[r]!);
      out[r * cols + j] = actScalar(v, act, a0, a1);
    }
  }
  return out;
}

/** A new y (rows x cols) with y[r, j] = act(y[r, j] + bias[j]); no bias when `bias` is undefined. */
export function actBiasCols(
  y: ArrayLike<number>,
  rows: number,
  cols: number,
  bias: ArrayLike<number> | undefined,
  act: number,
  a0: number,
  a1: number,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const v = bias === undefined ? y[r * cols + j]! : f(y[r * cols + j]! + bias[j]!);
      out[r * cols + j] = actScalar(v, act, a0, a1);
    }
  }
  return out;
}

/**
 * dy * f'(x) for one value, in f64 (x the activation's input), with the kernel's (PyTorch's)
 * conventions at the kinks; sigmoid' and tanh' in the forms e/(1+e)^2 and 4e/(1+e)^2 (e = exp(-|x|),
 * exp(-2|x|)), accurate where they are tiny.
 */
export function actBackwardScalar(x: number, dy: number, act: number, a0: number, a1: number): number {
  switch (act) {
    case 1:
      return x > 0 ? dy : 0;
    case 2:
      return x > 0 ? dy : a0 * dy;
    case 3:
      return x > a0 && x < a1 ? dy : 0;
    case 4: {
      const e = Math.exp(-Math.abs(x));
      return dy * (e / ((1 + e) * (1 + e)));
    }
    case 5: {
      const v = a0 * x + a1;
      return v > 0 && v < 1 ? a0 * dy : 0;
    }
    case 6:
      return x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 0.5) : dy;
    case 7: {
      const e = Math.exp(-2 * Math.abs(x));
      return dy * ((4 * e) / ((1 + e) * (1 + e)));
    }
    default:
      return dy;
  }
}

/** dx[i] = dy[i] * f'(x[i]), in f64 (x the activation's input; codes as actScalar). */
export function actBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  act: number,
  a0: number,
  a1: number,
): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = actBackwardScalar(x[i]!, dy[i]!, act, a0, a1);
  return dx;
}
