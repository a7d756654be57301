// Wrappers of assembly/merge.ts: Neuron Merging partner selection (docs/methods.md §2.4 / §2.5), from
// precomputed cosines or from a layer's filter vectors.
import { PrunekitError } from "../../errors.ts";
import type { Arena, Buf } from "../arena.ts";
import { checkIndices, checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";
import { distanceCosineCross } from "./distance.ts";
import { reduceRows } from "./reduce.ts";

/** BatchNorm formula of Neuron Merging (docs/methods.md §2.5): exact identity or the published variant. */
export type MergeBnFormula = "exact" | "reference";

/** BatchNorm entries of every filter of a layer, original order (conv bias already folded into mean, §0). */
export interface MergeBnParams {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  mean: ArrayLike<number>;
  var: ArrayLike<number>;
  /** BatchNorm epsilon (used by the exact formula only). */
  eps: number;
}

/** Per removed filter: the kept POSITION that absorbs it (or -1) and the scale z >= 0 (0 when -1). */
export interface MergePartners {
  partner: Int32Array;
  scale: Float64Array;
}

/** Arena buffers of one partner selection: cos R x P f32, norm N f32, removed R i32, kept P i32. */
export interface MergeSelectBufs {
  cos: Buf;
  norm: Buf;
  removed: Buf;
  kept: Buf;
  /** Out: R i32. */
  partner: Buf;
  /** Out: R f64. */
  scale: Buf;
}

function checkMergeBufs(what: string, b: MergeSelectBufs): void {
  const r = b.removed.length;
  const p = b.kept.length;
  checkSize(`${what} removed`, r);
  checkSize(`${what} kept`, p);
  checkLength(`${what} cos`, b.cos, r * p);
  checkLength(`${what} partner`, b.partner, r);
  checkLength(`${what} scale`, b.scale, r);
}

/**
 * Best partner per removed filter for layers without BatchNorm (docs/methods.md §2.4), on arena buffers.
 * Index contents are trusted here (validated by the array-level wrappers).
 * @param threshold t: no merge when the best cosine is below it.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function mergeSelectPlain(w: Wasm, b: MergeSelectBufs, threshold: number): void {
  checkMergeBufs("mergeSelectPlain", b);
  w.arena.checkLive("mergeSelectPlain", b.cos, b.norm, b.removed, b.kept, b.partner, b.scale);
  kernel(w, "merge_select_plain")(
    b.cos.ptr,
    b.norm.ptr,
    b.removed.ptr,
    b.removed.length,
    b.kept.ptr,
    b.kept.length,
    threshold,
    b.partner.ptr,
    b.scale.ptr,
  );
}

/**
 * Best partner per removed filter for conv -> BN -> activation (docs/methods.md §2.5), on arena buffers.
 * @param bn gamma, beta, mean, var: N f64 each; scratch: 2 f64.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function mergeSelectBn(
  w: Wasm,
  b: MergeSelectBufs,
  bn: { gamma: Buf; beta: Buf; mean: Buf; var: Buf; scratch: Buf; eps: number },
  threshold: number,
  lambda: number,
  formula: MergeBnFormula,
): void {
  checkMergeBufs("mergeSelectBn", b);
  for (const [name, buf] of [
    ["gamma", bn.gamma],
    ["beta", bn.beta],
    ["mean", bn.mean],
    ["var", bn.var],
  ] as const) {
    checkLength(`mergeSelectBn ${name}`, buf, b.norm.length);
  }
  checkLength("mergeSelectBn scratch", bn.scratch, 2);
  w.arena.checkLive(
    "mergeSelectBn",
    b.cos,
    b.norm,
    b.removed,
    b.kept,
    b.partner,
    b.scale,
    bn.gamma,
    bn.beta,
    bn.mean,
    bn.var,
    bn.scratch,
  );
  kernel(w, "merge_select_bn")(
    b.cos.ptr,
    b.norm.ptr,
    b.removed.ptr,
    b.removed.length,
    b.kept.ptr,
    b.kept.length,
    bn.gamma.ptr,
    bn.beta.ptr,
    bn.mean.ptr,
    bn.var.ptr,
    bn.eps,
    threshold,
    lambda,
    formula === "reference" ? 1 : 0,
    bn.scratch.ptr,
    b.partner.ptr,
    b.scale.ptr,
  );
}

function checkMergeArgs(
  what: string,
  cos: { length: number },
  norm: { length: number },
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  bn?: MergeBnParams,
): void {
  const n = norm.length;
  checkIndices(`${what} removed`, removed, n);
  checkIndices(`${what} kept`, kept, n);
  checkLength(`${what} cos`, cos, removed.length * kept.length);
  if (bn !== undefined) checkMergeBn(what, bn, n);
}

/**
 * Throw INVALID_ARGUMENT unless `bn` holds n entries of each parameter, a finite eps >= 0 and finite
 * variances >= 0 (what merge_select_bn assumes).
 */
export function checkMergeBn(what: string, bn: MergeBnParams, n: number): void {
  for (const key of ["gamma", "beta", "mean", "var"] as const) checkLength(`${what} ${key}`, bn[key], n);
  if (!(bn.eps >= 0) || !Number.isFinite(bn.eps)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: BatchNorm eps must be finite and >= 0, got ${bn.eps}`,
    );
  }
  for (let i = 0; i < n; i++) {
    const v = bn.var[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: BatchNorm variance of channel ${i} must be finite and >= 0, got ${v}`,
      );
    }
  }
}

function runMergeSelect(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: { threshold: number; bn?: MergeBnParams; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  return withArena(w, (arena) => {
    const bufs: MergeSelectBufs = {
      cos: arena.copyInF32(cos),
      norm: arena.copyInF32(norm),
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(removed.length),
      scale: arena.allocF64(removed.length),
    };
    return selectMergePartners(w, arena, bufs, opts);
  });
}

/**
 * §2.4 partner selection from precomputed cosines (layers without BatchNorm).
 * @param cos removed.length x kept.length f32, row-major: cos(v_removed[r], v_kept[j]).
 * @param norm ‖v_n‖₂ of every filter of the layer (N values).
 * @param removed original indices of the removed filters. @param kept original indices of the kept ones.
 * @param threshold t of §2.4.
 * @returns partner kept positions (or -1) and scales.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or out-of-range indices.
 * @example
 * const { partner, scale } = mergePartnersPlain(w, Float32Array.of(1), Float32Array.of(2, 1), [1], [0], 0.1);
 * // partner [0], scale [0.5]
 */
export function mergePartnersPlain(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  threshold: number,
): MergePartners {
  checkMergeArgs("mergePartnersPlain", cos, norm, removed, kept);
  return runMergeSelect(w, cos, norm, removed, kept, { threshold });
}

/**
 * §2.5 partner selection from precomputed cosines (conv -> BN -> activation), either formula.
 * @param cos removed.length x kept.length f32. @param norm ‖F_n‖₂ of every filter (N values).
 * @param bn BatchNorm entries of every filter (N each); variances must be >= 0.
 * @param lambda weight of the cosine distance in the score. @param threshold t on the chosen candidate.
 * @returns partner kept positions (or -1) and scales S (or S_ref).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, out-of-range indices or a negative variance.
 * @example
 * const bn = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], var: [1, 1], eps: 0 };
 * mergePartnersBn(w, Float32Array.of(1), Float32Array.of(1, 2), [1], [0], bn, 0.1, 0.85, "exact");
 * // partner [0], scale [2]
 */
export function mergePartnersBn(
  w: Wasm,
  cos: Float32Array,
  norm: Float32Array,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  bn: MergeBnParams,
  threshold: number,
  lambda: number,
  formula: MergeBnFormula,
): MergePartners {
  checkMergeArgs("mergePartnersBn", cos, norm, removed, kept, bn);
  return runMergeSelect(w, cos, norm, removed, kept, { threshold, bn, lambda, formula });
}

/**
 * Full Neuron Merging partner search of one layer (docs/methods.md §2.4 / §2.5) inside one arena
 * session: row norms (reduce_row_l2), cosines of removed x kept rows (distance_cosine_cross), then
 * merge_select_plain, or merge_select_bn when `bn` is given.
 * @param vectors n x d f32, row-major: one flattened filter per row (bias appended when no BN, §2.4).
 * @returns partner kept positions (or -1) and scales, one per entry of `removed`.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, bad indices or bad BatchNorm entries.
 */
export function mergePartners(
  w: Wasm,
  vectors: Float32Array,
  n: number,
  d: number,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: { threshold: number; bn?: MergeBnParams; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  checkSize("mergePartners n", n);
  checkSize("mergePartners d", d);
  checkLength("mergePartners vectors", vectors, n * d);
  const r = removed.length;
  const p = kept.length;
  checkMergeArgs("mergePartners", { length: r * p }, { length: n }, removed, kept, opts.bn);
  return withArena(w, (arena) => {
    const x = arena.copyInF32(vectors);
    const norm = arena.allocF32(n);
    reduceRows(w, "l2", x, norm, n, d);
    const xr = arena.allocF32(r * d);
    const xk = arena.allocF32(p * d);
    const src = arena.viewF32(x);
    const dr = arena.viewF32(xr);
    for (let i = 0; i < r; i++) dr.set(src.subarray(removed[i]! * d, (removed[i]! + 1) * d), i * d);
    const dk = arena.viewF32(xk);
    for (let j = 0; j < p; j++) dk.set(src.subarray(kept[j]! * d, (kept[j]! + 1) * d), j * d);
    const cos = arena.allocF32(r * p);
    const scratch = arena.allocF32((r + p) * d);
    distanceCosineCross(w, xr, xk, cos, scratch, r, p, d);
    const bufs: MergeSelectBufs = {
      cos,
      norm,
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(r),
      scale: arena.allocF64(r),
    };
    return selectMergePartners(w, arena, bufs, opts);
  });
}

/**
 * The selection step shared by every partner search: merge_select_plain, or merge_select_bn with
 * the BatchNorm parameters copied into `arena`, over buffers whose cosines and norms are filled in;
 * returns the partners and scales copied out.
 * @throws PrunekitError `INVALID_ARGUMENT` on bad buffers or BatchNorm entries.
 */
export function selectMergePartners(
  w: Wasm,
  arena: Arena,
  bufs: MergeSelectBufs,
  opts: { threshold: number; bn?: MergeBnParams | undefined; lambda?: number; formula?: MergeBnFormula },
): MergePartners {
  const bn = opts.bn;
  if (bn === undefined) mergeSelectPlain(w, bufs, opts.threshold);
  else {
    mergeSelectBn(
      w,
      bufs,
      {
        gamma: arena.copyInF64(bn.gamma),
        beta: arena.copyInF64(bn.beta),
        mean: arena.copyInF64(bn.mean),
        var: arena.copyInF64(bn.var),
        scratch: arena.allocF64(2),
        eps: bn.eps,
      },
      opts.threshold,
      opts.lambda ?? 0.85,
      opts.formula ?? "exact",
    );
  }
  return { partner: arena.viewI32(bufs.partner).slice(), scale: arena.viewF64(bufs.scale).slice() };
}
