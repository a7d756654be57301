// Plain-loop networks and the scaling matrix Z for Neuron Merging tests (docs/methods.md §2.2).
import type { ChannelMerge } from "../../src/surgery/plan.ts";

/** Deterministic floats in [lo, hi) (mulberry32). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let a = seed >>> 0;
  return (lo = -1, hi = 1) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * (hi - lo);
  };
}

/** Z ∈ R^{N×P}, row-major: Z[keep[j], j] = 1, Z[from, pos(into)] = scale. */
export function scalingMatrix(n: number, keep: number[], merges: ChannelMerge[]): Float64Array {
  const p = keep.length;
  const z = new Float64Array(n * p);
  keep.forEach((k, j) => {
    z[k * p + j] = 1;
  });
  for (const m of merges) z[m.from * p + keep.indexOf(m.into)] = m.scale;
  return z;
}

export const relu = (x: number): number => Math.max(0, x);

/** y = W x + b for W rows x cols. */
export function dense(
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  x: ArrayLike<number>,
): number[] {
  const cols = x.length;
  const rows = w.length / cols;
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    let s = b === undefined ? 0 : b[r]!;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    y.push(s);
  }
  return y;
}

/** W'·Z for a consumer W' (m x n, row-major) and Z (n x p): m x p. */
export function absorbDense(w2: ArrayLike<number>, m: number, n: number, z: Float64Array): Float64Array {
  const p = z.length / n;
  const out = new Float64Array(m * p);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += w2[i * n + k]! * z[k * p + j]!;
      out[i * p + j] = s;
    }
  return out;
}

/** Rows `keep` of a rows x cols matrix. */
export function sliceRows(x: ArrayLike<number>, cols: number, keep: number[]): Float64Array {
  const out = new Float64Array(keep.length * cols);
  keep.forEach((k, j) => {
    for (let c = 0; c < cols; c++) out[j * cols + c] = x[k * cols + c]!;
  });
  return out;
}

/**
 * Valid (no padding), stride-1 conv: x is cin x h x w, weights cout x cin x kh x kw (OIHW).
 * Returns cout x (h-kh+1) x (w-kw+1).
 */
export function conv2d(
  x: ArrayLike<number>,
  cin: number,
  h: number,
  wd: number,
  weights: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  cout: number,
  kh: number,
  kw: number,
): number[] {
  const ho = h - kh + 1;
  const wo = wd - kw + 1;
  const out: number[] = [];
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++) {
        let s = bias === undefined ? 0 : bias[o]!;
        for (let c = 0; c < cin; c++)
          for (let u = 0; u < kh; u++)
            for (let v = 0; v < kw; v++)
              s += weights[((o * cin + c) * kh + u) * kw + v]! * x[(c * h + i + u) * wd + j + v]!;
        out.push(s);
      }
  return out;
}

/**
 * Absorb Z into a conv consumer's input axis (§2.2): W_new[m, j, :, :] = Σ_n Z[n, j]·W[m, n, :, :].
 * w is m x n x kk (kk = kh·kw); returns m x p x kk.
 */
export function absorbConv(
  w: ArrayLike<number>,
  m: number,
  n: number,
  kk: number,
  z: Float64Array,
): Float64Array {
  const p = z.length / n;
  const out = new Float64Array(m * p * kk);
  for (let o = 0; o < m; o++)
    for (let j = 0; j < p; j++)
      for (let q = 0; q < kk; q++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += z[c * p + j]! * w[(o * n + c) * kk + q]!;
        out[(o * p + j) * kk + q] = s;
      }
  return out;
}

/** Max |a − b| over two equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
