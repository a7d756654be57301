// Neuron Merging: pick, for every removed filter, the kept filter that absorbs it and the scale
// (docs/methods.md §2.2 scaling matrix Z, §2.4 layers without BN, §2.5 conv -> BN -> activation).
//
// Layout (all row-major, indices are original filter indices of the layer, 0..N-1):
//
//   removed  i32[R]   original index of removed filter r           kept  i32[P]
//   cos      f32[R*P] cos[r*P + j] = cos(v_removed[r], v_kept[j])   (distance_cosine_cross)
//   norm     f32[N]   ||v_n||_2 of every filter                     (reduce_row_l2)
//   gamma, beta, mean, var   f64[N]   BatchNorm entries of every filter (conv bias already folded into mean)
//
//   partner  i32[R]   out: kept POSITION j in 0..P-1 of the partner, or -1 (no merge)
//   scale    f64[R]   out: Z[removed[r], kept[j]] = scale[r] >= 0; 0 when partner is -1
//
// The cosines come from the distance family; these kernels only do the O(R*P) selection, which is
// branchy per candidate (guards, argmin with lowest-index ties), so it stays scalar: at P <= 512 it
// costs far less than the O(R*P*D) cosines. Every BN quantity is computed in f64. Outputs must not
// alias any input. Candidates are scanned in ascending j, so ties go to the lowest kept position.

/** `formula` value of merge_select_bn: exact BN identity with sigma = sqrt(var + eps) (§2.5). */
export const MERGE_BN_EXACT: i32 = 0;
/** `formula` value of merge_select_bn: the published variant with raw variances (§2.5 "reference"). */
export const MERGE_BN_REFERENCE: i32 = 1;

/** True unless x is NaN or infinite (x - x is NaN exactly then). */
function finite(x: f64): bool {
  return x - x === 0;
}

/**
 * Affine relation z_p = S * z_k + B between the BN outputs of pruned filter p and candidate k when
 * F_p = s * F_k (docs/methods.md §2.5). Writes S to out and B to out + 8 (f64) and returns true, or
 * returns false when the candidate is invalid:
 * - both modes: gamma_p = 0 or gamma_k = 0 (constant channel), S or B not finite;
 * - exact: sigma = sqrt(var + eps) is 0 for either side (var = 0 uses sqrt(eps)), or S <= 0;
 * - reference: var_p = 0 or var_k = 0; no sign check on S.
 */
export function bnAffine(
  formula: i32,
  s: f64,
  gp: f64,
  gk: f64,
  bp: f64,
  bk: f64,
  mp: f64,
  mk: f64,
  vp: f64,
  vk: f64,
  eps: f64,
  out: usize,
): bool {
  if (gp === 0 || gk === 0) return false;
  let S: f64 = 0;
  let B: f64 = 0;
  if (formula === MERGE_BN_REFERENCE) {
    // S_ref = s (g_k/g_p)(var_p/var_k); B_ref = (g_k/var_k)(s (mu_p - var_p b_p/g_p) - mu_k) + b_k
    if (vp === 0 || vk === 0) return false;
    S = s * (gk / gp) * (vp / vk);
    B = (gk / vk) * (s * (mp - (vp * bp) / gp) - mk) + bk;
  } else {
    // S = s (g_p/g_k)(sigma_k/sigma_p); B = b_p + (g_p/sigma_p)(s (mu_k - sigma_k b_k/g_k) - mu_p)
    const sp = Math.sqrt(vp + eps);
    const sk = Math.sqrt(vk + eps);
    if (!(sp > 0) || !(sk > 0)) return false;
    S = s * (gp / gk) * (sk / sp);
    B = bp + (gp / sp) * (s * (mk - (sk * bk) / gk) - mp);
    if (!(S > 0)) return false;
  }
  if (!finite(S) || !finite(B) || S === 0 || !finite(Math.abs(B) / S)) return false;
  store<f64>(out, S);
  store<f64>(out, B, 8);
  return true;
}

/**
 * Best partner for layers without BatchNorm (docs/methods.md §2.4): j* = argmax_j cos[r, j] over kept
 * filters with non-zero norm (lowest j on ties); no merge if cos < threshold or the removed filter
 * has zero norm; otherwise scale = norm[removed[r]] / norm[kept[j*]] (in f64).
 */
export function merge_select_plain(
  cosPtr: usize,
  normPtr: usize,
  removedPtr: usize,
  removedLen: i32,
  keptPtr: usize,
  keptLen: i32,
  threshold: f64,
  partnerPtr: usize,
  scalePtr: usize,
): void {
  for (let r = 0; r < removedLen; r++) {
    const p = load<i32>(removedPtr + ((<usize>r) << 2));
    const normP = <f64>load<f32>(normPtr + ((<usize>p) << 2));
    const row = cosPtr + <usize>r * <usize>keptLen * 4;
    let best = -1;
    let bestCos: f64 = 0;
    if (normP > 0) {
      for (let j = 0; j < keptLen; j++) {
        const k = load<i32>(keptPtr + ((<usize>j) << 2));
        if (!(load<f32>(normPtr + ((<usize>k) << 2)) > 0)) continue; // zero-norm kept: never a partner
        const c = <f64>load<f32>(row + ((<usize>j) << 2));
        if (best < 0 || c > bestCos) {
          best = j;
          bestCos = c;
        }
      }
    }
    let scale: f64 = 0;
    if (best >= 0 && bestCos >= threshold) {
      const k = load<i32>(keptPtr + ((<usize>best) << 2));
      scale = normP / <f64>load<f32>(normPtr + ((<usize>k) << 2));
    } else {
      best = -1;
    }
    store<i32>(partnerPtr + ((<usize>r) << 2), best);
    store<f64>(scalePtr + ((<usize>r) << 3), scale);
  }
}

/**
 * Best partner for conv -> BN -> activation (docs/methods.md §2.5), `formula` MERGE_BN_EXACT or
 * MERGE_BN_REFERENCE. For removed p and each valid kept candidate j (non-zero norm, bnAffine valid):
 * bias_j = |B_j| / S_j, min-max normalised over the valid candidates (all 0 when max = min),
 * score_j = lambda (1 - cos[r, j]) + (1 - lambda) bhat_j, j* = argmin (lowest j on ties).
 * No merge if p has zero norm or gamma_p = 0, if no candidate is valid, if cos[r, j*] < threshold
 * (threshold on the chosen candidate, step 4), or if S_{j*} <= 0 (reference mode applies no sign
 * check in the selection; a negative scale would break Z validity, §2.2, so it is not merged).
 * `scratchPtr` is 2 f64 of workspace.
 */
export function merge_select_bn(
  cosPtr: usize,
  normPtr: usize,
  removedPtr: usize,
  removedLen: i32,
  keptPtr: usize,
  keptLen: i32,
  gammaPtr: usize,
  betaPtr: usize,
  meanPtr: usize,
  varPtr: usize,
  eps: f64,
  threshold: f64,
  lambda: f64,
  formula: i32,
  scratchPtr: usize,
  partnerPtr: usize,
  scalePtr: usize,
): void {
  for (let r = 0; r < removedLen; r++) {
    const p = load<i32>(removedPtr + ((<usize>r) << 2));
    const po = (<usize>p) << 3;
    const normP = <f64>load<f32>(normPtr + ((<usize>p) << 2));
    const gp = load<f64>(gammaPtr + po);
    const bp = load<f64>(betaPtr + po);
    const mp = load<f64>(meanPtr + po);
    const vp = load<f64>(varPtr + po);
    const row = cosPtr + <usize>r * <usize>keptLen * 4;
    let best = -1;
    let bestScore: f64 = 0;
    let bestS: f64 = 0;
    if (normP > 0 && gp !== 0) {
      // Pass 1: range of bias_j = |B_j| / S_j over the valid candidates (step 2).
      let lo: f64 = Infinity;
      let hi: f64 = -Infinity;
      for (let j = 0; j < keptLen; j++) {
        const k = load<i32>(keptPtr + ((<usize>j) << 2));
        const ko = (<usize>k) << 3;
        const normK = <f64>load<f32>(normPtr + ((<usize>k) << 2));
        if (!(normK > 0)) continue;
        const ok = bnAffine(
          formula,
          normP / normK,
          gp,
          load<f64>(gammaPtr + ko),
          bp,
          load<f64>(betaPtr + ko),
          mp,
          load<f64>(meanPtr + ko),
          vp,
          load<f64>(varPtr + ko),
          eps,
          scratchPtr,
        );
        if (!ok) continue;
        const bias = Math.abs(load<f64>(scratchPtr, 8)) / load<f64>(scratchPtr);
        if (bias < lo) lo = bias;
        if (bias > hi) hi = bias;
      }
      // Pass 2: score and argmin (step 3). Recomputing bnAffine is O(1) per candidate.
      const range = hi - lo;
      for (let j = 0; j < keptLen; j++) {
        const k = load<i32>(keptPtr + ((<usize>j) << 2));
        const ko = (<usize>k) << 3;
        const normK = <f64>load<f32>(normPtr + ((<usize>k) << 2));
        if (!(normK > 0)) continue;
        const ok = bnAffine(
          formula,
          normP / normK,
          gp,
          load<f64>(gammaPtr + ko),
          bp,
          load<f64>(betaPtr + ko),
          mp,
          load<f64>(meanPtr + ko),
          vp,
          load<f64>(varPtr + ko),
          eps,
          scratchPtr,
        );
        if (!ok) continue;
        const S = load<f64>(scratchPtr);
        const bias = Math.abs(load<f64>(scratchPtr, 8)) / S;
        const bhat: f64 = range > 0 ? (bias - lo) / range : 0;
        const cosdist: f64 = 1 - <f64>load<f32>(row + ((<usize>j) << 2));
        const score = lambda * cosdist + (1 - lambda) * bhat;
        if (best < 0 || score < bestScore) {
          best = j;
          bestScore = score;
          bestS = S;
        }
      }
    }
    let scale: f64 = 0;
    if (best >= 0 && <f64>load<f32>(row + ((<usize>best) << 2)) >= threshold && bestS > 0) {
      scale = bestS;
    } else {
      best = -1;
    }
    store<i32>(partnerPtr + ((<usize>r) << 2), best);
    store<f64>(scalePtr + ((<usize>r) << 3), scale);
  }
}
