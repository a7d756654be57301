/**
 * Plain reference for assembly/affinity.ts and the whole of affinity propagation as
 * src/wasm/kernels/affinity.ts runs it (docs/methods.md §3.3, §3.7): simplest loops, float64, every
 * step written as the specification states it. Matrices are n x n, row-major.
 */
import {
  AFFINITY_DEFAULTS,
  type AffinityIterateResult,
  type AffinityOptions,
  type AffinityResult,
  allEqualSimilarities,
  degenerateResult,
  finishAffinity,
  TIE_EPS,
  TIE_TINY,
} from "../kernels/affinity.ts";
import { seededNormals } from "../seeded-random.ts";

/**
 * §3.3 steps 3-4 from R = A = 0 on S (preferences on the diagonal).
 * @param s n x n similarities, preferences on the diagonal.
 */
export function affinityIterate(
  s: ArrayLike<number>,
  n: number,
  maxIter: number,
  convIter: number,
  damping: number,
): AffinityIterateResult {
  const r = new Float64Array(n * n);
  const a = new Float64Array(n * n);
  const ring: Int32Array[] = Array.from({ length: convIter }, () => new Int32Array(n));
  const flags = new Int32Array(n);
  for (let it = 0; it < maxIter; it++) {
    // Responsibilities.
    for (let i = 0; i < n; i++) {
      let m1 = -Infinity;
      let m2 = -Infinity;
      let c1 = 0;
      for (let k = 0; k < n; k++) {
        const t = a[i * n + k]! + s[i * n + k]!;
        if (t > m1) {
          m2 = m1;
          m1 = t;
          c1 = k;
        } else if (t > m2) {
          m2 = t;
        }
      }
      for (let k = 0; k < n; k++) {
        const rnew = s[i * n + k]! - (k === c1 ? m2 : m1);
        r[i * n + k] = damping * r[i * n + k]! + (1 - damping) * rnew;
      }
    }
    // Availabilities.
    const colsum = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const v = r[i * n + k]!;
        colsum[k] = colsum[k]! + (i === k ? v : Math.max(0, v));
      }
    }
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const v = r[i * n + k]!;
        const anew = i === k ? colsum[k]! - v : Math.min(0, colsum[k]! - Math.max(0, v));
        a[i * n + k] = damping * a[i * n + k]! + (1 - damping) * anew;
      }
    }
    // Flags, window, convergence.
    for (let k = 0; k < n; k++) flags[k] = a[k * n + k]! + r[k * n + k]! > 0 ? 1 : 0;
    ring[it % convIter]!.set(flags);
    if (it >= convIter) {
      let steady = true;
      for (let k = 0; k < n && steady; k++) {
        let count = 0;
        for (const slot of ring) count += slot[k]!;
        steady = count === 0 || count === convIter;
      }
      if (steady && flags.some((f) => f === 1)) return { flags, iterations: it + 1, converged: true };
    }
  }
  return { flags, iterations: maxIter, converged: false };
}

/** argmax over positions j of s[i][ex[j]], lowest j on ties; exemplars to themselves. */
function assign(s: ArrayLike<number>, n: number, ex: number[]): number[] {
  const c: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let bestJ = 0;
    ex.forEach((e, j) => {
      if (s[i * n + e]! > best) {
        best = s[i * n + e]!;
        bestJ = j;
      }
    });
    c.push(bestJ);
  }
  ex.forEach((e, j) => {
    c[e] = j;
  });
  return c;
}

/**
 * §3.3 steps 5-9: assign, refine (column sums inside each cluster, preferences included),
 * re-assign; exemplars ascending, labels = position of each point's exemplar. Empty when no flag is set.
 */
export function affinityExemplars(
  s: ArrayLike<number>,
  flags: ArrayLike<number>,
  n: number,
): { exemplars: number[]; labels: number[] } {
  const ex: number[] = [];
  for (let k = 0; k < n; k++) if (flags[k] !== 0) ex.push(k);
  if (ex.length === 0) return { exemplars: [], labels: [] };
  const c = assign(s, n, ex);
  for (let k = 0; k < ex.length; k++) {
    const members: number[] = [];
    for (let i = 0; i < n; i++) if (c[i] === k) members.push(i);
    let best = -Infinity;
    let bestJ = members[0]!;
    for (const j of members) {
      let sum = 0;
      for (const i of members) sum += s[i * n + j]!;
      if (sum > best) {
        best = sum;
        bestJ = j;
      }
    }
    ex[k] = bestJ;
  }
  const c2 = assign(s, n, ex);
  const exemplars = [...ex].sort((x, y) => x - y);
  const labels = c2.map((j) => exemplars.indexOf(ex[j]!));
  return { exemplars, labels };
}

/**
 * Affinity propagation, whole (docs/methods.md §3.3 and §3.7), in plain TS: the same policy
 * (degenerate cases, noise, §3.7 modes) as src/wasm/kernels/affinity.ts around the plain core above.
 * @param similarities n x n (the diagonal is replaced by the preferences).
 * @param preferences n values.
 * @throws PrunekitError `NOT_CONVERGED` with `onNoConvergence: "error"`.
 */
export function affinityPropagation(
  similarities: ArrayLike<number>,
  preferences: ArrayLike<number>,
  n: number,
  options: Partial<AffinityOptions> = {},
): AffinityResult {
  const o = { ...AFFINITY_DEFAULTS, ...options };
  if (n === 1 || allEqualSimilarities(similarities, preferences, n)) {
    return degenerateResult(similarities, preferences, n);
  }
  const s = Float64Array.from(similarities);
  for (let i = 0; i < n; i++) s[i * n + i] = preferences[i]!;
  if (o.noiseSeed !== undefined) {
    const g = seededNormals(o.noiseSeed, n * n);
    for (let q = 0; q < n * n; q++) s[q] = s[q]! + (TIE_EPS * s[q]! + TIE_TINY) * g[q]!;
  }
  const run = affinityIterate(s, n, o.maxIterations, o.convergenceIterations, o.damping);
  const diagonal = Array.from({ length: n }, (_, i) => s[i * n + i]!);
  return finishAffinity(diagonal, n, run, o, () => affinityExemplars(s, run.flags, n));
}
