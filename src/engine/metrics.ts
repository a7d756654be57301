// WARE, the weighted average reconstruction error of Neuron Merging (docs/methods.md §2.8).
import { PrunekitError } from "../errors.ts";

/** What to do with terms whose original output y is exactly 0 (§2.8: "skip, or add a tiny ε"). */
export type WareZeroPolicy = "skip" | "epsilon";

/** Options of {@link ware}. */
export interface WareOptions {
  /** Importance w_i per output unit (`outputs` values, default all 1). */
  weights?: Float32Array;
  /** Terms with y = 0: `skip` them (default) or divide by `epsilon` instead of |y|. */
  zeroPolicy: WareZeroPolicy;
  /** Denominator used for y = 0 terms under `epsilon` (default {@link WARE_DEFAULT_EPSILON}); > 0. */
  epsilon?: number;
}

/** The metric and how zero outputs were treated. */
export interface WareResult {
  /** (1/(M·N)) Σ_m Σ_i w_i·|ŷ_mi − y_mi|/|y_mi|; lower is better. */
  ware: number;
  /** Terms left out because y = 0 (always 0 under the `epsilon` policy). */
  skippedTerms: number;
}

/** ε used for y = 0 terms under the `epsilon` policy when none is given. */
export const WARE_DEFAULT_EPSILON = 1e-8;

/**
 * Weighted average reconstruction error between original and compressed network outputs (logits),
 * docs/methods.md §2.8:  WARE = (1/(M·N)) · Σ_m Σ_i w_i · |ŷ_{m,i} − y_{m,i}| / |y_{m,i}|.
 * Accumulated in float64. Under `skip`, terms with y = 0 contribute nothing but the normaliser stays
 * M·N, exactly as the formula is written; `skippedTerms` says how many were left out, so a caller can
 * renormalise by M·N − skippedTerms if it prefers. Under `epsilon`, |y| = 0 is replaced by ε.
 *
 * @param original y, samples x outputs, row-major (M x N).
 * @param compressed ŷ, same shape.
 * @param samples M (> 0). @param outputs N (> 0).
 * @param options weights, zero policy (default `skip`) and ε.
 * @throws PrunekitError `INVALID_ARGUMENT` on shape mismatch, bad weights or ε <= 0.
 * @example
 * ware(Float32Array.of(1, -2, 4, 0), Float32Array.of(1.5, -2, 3, 1), 2, 2); // { ware: 0.1875, skippedTerms: 1 }
 */
export function ware(
  original: Float32Array,
  compressed: Float32Array,
  samples: number,
  outputs: number,
  options?: WareOptions,
): WareResult {
  for (const [name, v] of [
    ["samples", samples],
    ["outputs", outputs],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new PrunekitError("INVALID_ARGUMENT", `ware: ${name} must be a positive integer, got ${v}`);
    }
  }
  const len = samples * outputs;
  for (const [name, a] of [
    ["original", original],
    ["compressed", compressed],
  ] as const) {
    if (a.length !== len) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `ware: ${name} has ${a.length} values, expected samples x outputs = ${samples} x ${outputs} = ${len}`,
      );
    }
  }
  const weights = options?.weights;
  if (weights !== undefined && weights.length !== outputs) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `ware: weights has ${weights.length} values, expected one per output (${outputs})`,
    );
  }
  const policy = options?.zeroPolicy ?? "skip";
  if (policy !== "skip" && policy !== "epsilon") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `ware: zeroPolicy must be "skip" or "epsilon", got ${String(policy)}`,
    );
  }
  const epsilon = options?.epsilon ?? WARE_DEFAULT_EPSILON;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) {
    throw new PrunekitError("INVALID_ARGUMENT", `ware: epsilon must be a finite number > 0, got ${epsilon}`);
  }
  let sum = 0;
  let skippedTerms = 0;
  for (let m = 0; m < samples; m++) {
    for (let i = 0; i < outputs; i++) {
      const y = original[m * outputs + i]!;
      const err = Math.abs(compressed[m * outputs + i]! - y);
      let denom = Math.abs(y);
      if (denom === 0) {
        if (policy === "skip") {
          skippedTerms++;
          continue;
        }
        denom = epsilon;
      }
      sum += (weights === undefined ? 1 : weights[i]!) * (err / denom);
    }
  }
  return { ware: sum / len, skippedTerms };
}
