/**
 * Plain references for assembly/merge.ts (Neuron Merging partner selection, docs/methods.md §2.4, §2.5).
 * Same inputs as the kernels: cos is removed x kept (row-major), norm and the BN arrays are indexed
 * by original filter index, removed/kept hold original indices. Everything is computed in float64.
 * Partner values are kept POSITIONS (0..kept.length-1) or -1.
 */

/** BatchNorm formula of §2.5. */
export type BnFormula = "exact" | "reference";

/** BatchNorm entries of every filter of a layer (conv bias already folded into the mean, §0). */
export interface ReferenceBn {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  mean: ArrayLike<number>;
  var: ArrayLike<number>;
  eps: number;
}

/** Partner position (or -1) and scale per removed filter. */
export interface ReferencePartners {
  partner: Int32Array;
  scale: Float64Array;
}

/**
 * z_p = S z_k + B for F_p = s F_k (§2.5), or undefined when the candidate is invalid
 * (gamma 0; exact: sigma 0 or S <= 0; reference: a variance of 0; anything not finite).
 */
export function bnAffine(
  formula: BnFormula,
  s: number,
  p: { gamma: number; beta: number; mean: number; var: number },
  k: { gamma: number; beta: number; mean: number; var: number },
  eps: number,
): { S: number; B: number } | undefined {
  if (p.gamma === 0 || k.gamma === 0) return undefined;
  let S: number;
  let B: number;
  if (formula === "reference") {
    if (p.var === 0 || k.var === 0) return undefined;
    S = s * (k.gamma / p.gamma) * (p.var / k.var);
    B = (k.gamma / k.var) * (s * (p.mean - (p.var * p.beta) / p.gamma) - k.mean) + k.beta;
  } else {
    const sp = Math.sqrt(p.var + eps);
    const sk = Math.sqrt(k.var + eps);
    if (!(sp > 0) || !(sk > 0)) return undefined;
    S = s * (p.gamma / k.gamma) * (sk / sp);
    B = p.beta + (p.gamma / sp) * (s * (k.mean - (sk * k.beta) / k.gamma) - p.mean);
    if (!(S > 0)) return undefined;
  }
  if (!Number.isFinite(S) || !Number.isFinite(B) || S === 0 || !Number.isFinite(Math.abs(B) / S)) {
    return undefined;
  }
  return { S, B };
}

/** §2.4: argmax cosine over non-zero-norm kept filters, threshold, scale = norm ratio. */
export function mergePartnersPlain(
  cos: ArrayLike<number>,
  norm: ArrayLike<number>,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  threshold: number,
): ReferencePartners {
  const R = removed.length;
  const P = kept.length;
  const partner = new Int32Array(R).fill(-1);
  const scale = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const np = norm[removed[r]!]!;
    if (!(np > 0)) continue;
    let best = -1;
    for (let j = 0; j < P; j++) {
      if (!(norm[kept[j]!]! > 0)) continue;
      if (best < 0 || cos[r * P + j]! > cos[r * P + best]!) best = j;
    }
    if (best >= 0 && cos[r * P + best]! >= threshold) {
      partner[r] = best;
      scale[r] = np / norm[kept[best]!]!;
    }
  }
  return { partner, scale };
}

/** §2.5 partner selection steps 1–5 with the guards, in either formula. */
export function mergePartnersBn(
  cos: ArrayLike<number>,
  norm: ArrayLike<number>,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  bn: ReferenceBn,
  threshold: number,
  lambda: number,
  formula: BnFormula,
): ReferencePartners {
  const R = removed.length;
  const P = kept.length;
  const partner = new Int32Array(R).fill(-1);
  const scale = new Float64Array(R);
  const entry = (i: number) => ({
    gamma: bn.gamma[i]!,
    beta: bn.beta[i]!,
    mean: bn.mean[i]!,
    var: bn.var[i]!,
  });
  for (let r = 0; r < R; r++) {
    const p = removed[r]!;
    const np = norm[p]!;
    if (!(np > 0) || bn.gamma[p] === 0) continue;
    const candidates: { j: number; S: number; bias: number }[] = [];
    for (let j = 0; j < P; j++) {
      const k = kept[j]!;
      if (!(norm[k]! > 0)) continue;
      const a = bnAffine(formula, np / norm[k]!, entry(p), entry(k), bn.eps);
      if (a !== undefined) candidates.push({ j, S: a.S, bias: Math.abs(a.B) / a.S });
    }
    if (candidates.length === 0) continue;
    const lo = Math.min(...candidates.map((c) => c.bias));
    const hi = Math.max(...candidates.map((c) => c.bias));
    let best: { j: number; S: number; score: number } | undefined;
    for (const c of candidates) {
      const bhat = hi - lo > 0 ? (c.bias - lo) / (hi - lo) : 0;
      const score = lambda * (1 - cos[r * P + c.j]!) + (1 - lambda) * bhat;
      if (best === undefined || score < best.score) best = { j: c.j, S: c.S, score };
    }
    if (best !== undefined && cos[r * P + best.j]! >= threshold && best.S > 0) {
      partner[r] = best.j;
      scale[r] = best.S;
    }
  }
  return { partner, scale };
}
