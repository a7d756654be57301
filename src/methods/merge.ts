// Neuron Merging (ALGORITHMS.md §2): data-free compensation of pruned neurons by folding each one into
// a kept neuron's column of the consumer (scaling matrix Z, §2.2).
import { PrunekitError } from "../errors.ts";
import { type MergeBnFormula, type MergeBnParams, mergePartners, type Wasm } from "../wasm/kernels.ts";
import { type Criterion, selectKept } from "./criteria.ts";
import type { ChannelMerge } from "./plan.ts";

/** `merge`: fold removed neurons into partners (§2.2); `prune`: the plain-pruning baseline (Z rows 0). */
export type MergeMode = "merge" | "prune";

/** One layer to decompose (ALGORITHMS.md §2.2–§2.5). */
export interface LayerDecompositionInput {
  /** filters x D float32, row-major: filter n's incoming weights, flattened (any fixed order, §0). */
  weights: Float32Array;
  /** N, the number of filters (output channels / units). */
  filters: number;
  /** Per-filter bias (N), if the layer has one. With `bn` it is folded into the mean first (§0). */
  bias?: ArrayLike<number>;
  /** The BatchNorm directly after the layer, if any (§2.5); without it §2.4 applies. */
  bn?: MergeBnParams;
  /** P, the number of filters to keep (chosen by `criterion`). Give this or `keep`. */
  keptCount?: number;
  /** Exact kept filter indices (any order; duplicates refused). Give this or `keptCount`. */
  keep?: ArrayLike<number>;
  /** Kept-set criterion (§2.3), used with `keptCount`. */
  criterion: Criterion;
  /** Cosine threshold t (§2.4, §2.5 step 4). */
  threshold: number;
  /** λ, weight of the cosine distance against the normalised bias (§2.5 step 3). */
  lambda: number;
  /** BN formula (§2.5). */
  bnFormula: MergeBnFormula;
  /** Merge or plain prune. */
  mode: MergeMode;
}

/** The decomposition of one layer: its kept set K and the non-identity rows of Z. */
export interface LayerDecomposition {
  /** Kept filter indices, ascending (Z[keep[j], j] = 1). */
  keep: number[];
  /** Removed filters folded into kept ones: Z[from, position of into] = scale. */
  merges: ChannelMerge[];
  /** Removed filters that found a partner (= merges.length). */
  merged: number;
  /** Removed filters left at Z row 0 (plain pruning). */
  dropped: number;
}

/**
 * Decompose one layer (ALGORITHMS.md §2.2): choose the kept set, then for every removed filter the
 * kept partner and scale z ≥ 0, from the layer's ORIGINAL weights.
 * - Without BN (§2.4) the vectors are w̃_n = [weights_n ; bias_n] (bias omitted if absent); they are
 *   used both for the criterion (§2.3) and for the cosine / norm ratio.
 * - With BN (§2.5) the conv bias is folded into the mean (μ ← μ − bias, §0) and the vectors are
 *   the weights alone; partners follow `bnFormula`, `lambda` and the guards of §2.5.
 * Every row of Z has at most one non-negative entry (§2.2 validity); `mode: 'prune'` leaves all
 * removed rows at 0.
 *
 * @param input the layer and the decomposition options.
 * @param wasm loaded kernels (getWasm()).
 * @returns kept indices (ascending) and merges.
 * @throws PrunekitError `INVALID_ARGUMENT` on inconsistent sizes, bad kept sets or bad options.
 * @example
 * const d = decomposeLayer({ weights: Float32Array.of(1, 2, 2, 4), filters: 2, keptCount: 1,
 *   criterion: "l1", threshold: 0.45, lambda: 0.85, bnFormula: "exact", mode: "merge" }, await getWasm());
 * // d.keep = [1], d.merges = [{ from: 0, into: 1, scale: 0.5 }]
 */
export function decomposeLayer(input: LayerDecompositionInput, wasm: Wasm): LayerDecomposition {
  const n = input.filters;
  if (!Number.isInteger(n) || n < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: filters must be a positive integer, got ${n}`,
    );
  }
  if (input.weights.length % n !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: ${input.weights.length} weights do not split into ${n} filters of equal length`,
    );
  }
  const d = input.weights.length / n;
  if (input.bias !== undefined && input.bias.length !== n) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: bias has ${input.bias.length} entries, expected ${n} (one per filter)`,
    );
  }
  if (!Number.isFinite(input.threshold)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: threshold must be finite, got ${input.threshold}`,
    );
  }
  if (!(input.lambda >= 0 && input.lambda <= 1)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: lambda must be in [0, 1], got ${input.lambda}`,
    );
  }
  if (input.mode !== "merge" && input.mode !== "prune") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: mode must be "merge" or "prune", got ${String(input.mode)}`,
    );
  }

  let vectors: Float32Array;
  let vd: number;
  let bn: MergeBnParams | undefined;
  if (input.bn !== undefined) {
    const b = input.bn;
    for (const key of ["gamma", "beta", "mean", "var"] as const) {
      if (b[key].length !== n) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `decomposeLayer: BatchNorm ${key} has ${b[key].length} entries, expected ${n}`,
        );
      }
    }
    // §0: conv bias followed by BN is folded into the running mean, then dropped.
    const bias = input.bias;
    const mean = bias === undefined ? b.mean : Float64Array.from(b.mean, (m, i) => m - bias[i]!);
    bn = { gamma: b.gamma, beta: b.beta, mean, var: b.var, eps: b.eps };
    vectors = input.weights;
    vd = d;
  } else if (input.bias !== undefined) {
    // §2.4: w̃_n = [weights_n ; bias_n].
    vd = d + 1;
    vectors = new Float32Array(n * vd);
    for (let i = 0; i < n; i++) {
      vectors.set(input.weights.subarray(i * d, (i + 1) * d), i * vd);
      vectors[i * vd + d] = input.bias[i]!;
    }
  } else {
    vectors = input.weights;
    vd = d;
  }

  const keep = resolveKeep(input, wasm, vectors, n, vd);
  const kept = new Set(keep);
  const removed: number[] = [];
  for (let i = 0; i < n; i++) if (!kept.has(i)) removed.push(i);

  const merges: ChannelMerge[] = [];
  if (input.mode === "merge" && removed.length > 0) {
    const found = mergePartners(wasm, vectors, n, vd, removed, keep, {
      threshold: input.threshold,
      bn,
      lambda: input.lambda,
      formula: input.bnFormula,
    });
    for (let r = 0; r < removed.length; r++) {
      const j = found.partner[r]!;
      if (j >= 0) merges.push({ from: removed[r]!, into: keep[j]!, scale: found.scale[r]! });
    }
  }
  return { keep, merges, merged: merges.length, dropped: removed.length - merges.length };
}

function resolveKeep(
  input: LayerDecompositionInput,
  wasm: Wasm,
  vectors: Float32Array,
  n: number,
  d: number,
): number[] {
  if ((input.keep === undefined) === (input.keptCount === undefined)) {
    throw new PrunekitError("INVALID_ARGUMENT", "decomposeLayer: give exactly one of keptCount and keep");
  }
  if (input.keep !== undefined) {
    const keep = Array.from(input.keep).sort((a, b) => a - b);
    if (keep.length === 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        "decomposeLayer: keep is empty; every layer keeps >= 1 filter",
      );
    }
    for (let i = 0; i < keep.length; i++) {
      const k = keep[i]!;
      if (!Number.isInteger(k) || k < 0 || k >= n || (i > 0 && keep[i - 1] === k)) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `decomposeLayer: keep must hold distinct integers in [0, ${n}), found ${k}`,
        );
      }
    }
    return keep;
  }
  return selectKept(wasm, input.criterion, vectors, n, d, input.keptCount!);
}
