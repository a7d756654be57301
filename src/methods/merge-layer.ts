// Neuron Merging for one layer (docs/methods.md §2.2–§2.5): choose the kept filters, then fold every
// removed filter into its most similar kept one (the non-identity rows of the scaling matrix Z).
import { PrunekitError } from "../errors.ts";
import type { ChannelMerge } from "../surgery/plan.ts";
import type { Wasm } from "../wasm/instance.ts";
import {
  type FilterVectors,
  filterVectorPartners,
  type PartnerOptions,
} from "../wasm/kernels/filter-vectors.ts";
import type { MergeBnFormula, MergeBnParams, MergePartners } from "../wasm/kernels/merge.ts";
import { type Criterion, selectKeptOfVectors } from "./criteria.ts";

/** `merge`: fold removed neurons into partners (§2.2); `prune`: the plain-pruning baseline (Z rows 0). */
export type MergeMode = "merge" | "prune";

/** One layer to decompose (docs/methods.md §2.2–§2.5). */
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
  /**
   * Contiguous equal blocks of filters (DependencyGroup.blocks, from grouped convs; default 1): each
   * block keeps the same number of filters, and a removed filter's partner is searched in its own
   * block only, because a grouped conv reads (or, as the producer, computes) each block separately.
   */
  blocks?: number;
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
 * Decompose one layer (docs/methods.md §2.2): choose the kept set, then for every removed filter the
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
  const layer = prepareLayer(input, wasm);
  return finishLayer(
    layer,
    layer.searches.map(({ from, into }) =>
      filterVectorPartners(wasm, layer.vectors, from, into, layer.options),
    ),
  );
}

function prepareLayer(input: LayerDecompositionInput, wasm: Wasm): PreparedLayer {
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
  const blocks = input.blocks ?? 1;
  if (!Number.isInteger(blocks) || blocks < 1 || n % blocks !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: blocks must be a positive integer dividing the ${n} filters, got ${blocks}`,
    );
  }
  if (input.mode !== "merge" && input.mode !== "prune") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: mode must be "merge" or "prune", got ${String(input.mode)}`,
    );
  }

  // The vectors are weights_n (BN, or no bias) or [weights_n ; bias_n] (§2.4); wasm/kernels/filter-vectors.ts copies
  // them into wasm memory row by row, so the N x (D + 1) matrix is never built in JS.
  const vectors: FilterVectors = { weights: input.weights, rows: n, cols: d };
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
  } else if (input.bias !== undefined) {
    vectors.appended = input.bias;
  }

  const keep = resolveKeep(input, wasm, vectors);
  const kept = new Set(keep);
  const removed: number[] = [];
  for (let i = 0; i < n; i++) if (!kept.has(i)) removed.push(i);

  const searches: PreparedLayer["searches"] = [];
  if (input.mode === "merge" && removed.length > 0) {
    // Partners come from the removed filter's own block (one search for the whole layer when blocks = 1).
    const len = n / blocks;
    for (let b = 0; b < blocks; b++) {
      const inBlock = (i: number) => Math.floor(i / len) === b;
      const from = blocks === 1 ? removed : removed.filter(inBlock);
      const into = blocks === 1 ? keep : keep.filter(inBlock);
      if (from.length > 0) searches.push({ from, into });
    }
  }
  const options: PartnerOptions = {
    threshold: input.threshold,
    bn,
    lambda: input.lambda,
    formula: input.bnFormula,
  };
  return { keep, removed: removed.length, vectors, options, searches, blocks };
}

function finishLayer(layer: PreparedLayer, found: MergePartners[]): LayerDecomposition {
  const merges: ChannelMerge[] = [];
  layer.searches.forEach(({ from, into }, s) => {
    const f = found[s]!;
    for (let r = 0; r < from.length; r++) {
      const j = f.partner[r]!;
      if (j >= 0) merges.push({ from: from[r]!, into: into[j]!, scale: f.scale[r]! });
    }
  });
  if (layer.blocks > 1) merges.sort((x, y) => x.from - y.from);
  return { keep: layer.keep, merges, merged: merges.length, dropped: layer.removed - merges.length };
}

/** A layer ready for its partner searches: the kept set, and one search per block of filters. */
interface PreparedLayer {
  keep: number[];
  /** Number of removed filters. */
  removed: number;
  vectors: FilterVectors;
  options: PartnerOptions;
  /** Removed filters `from` and their candidates `into` (original indices), per block. */
  searches: { from: number[]; into: number[] }[];
  blocks: number;
}

/**
 * Finds the partners of removed filters among kept ones (kernels/filter-vectors.ts filterVectorPartners,
 * or the same on several threads, methods/merge-workers.ts): partner kept positions and scales.
 */
export type PartnerSearch = (
  vectors: FilterVectors,
  removed: readonly number[],
  kept: readonly number[],
  options: PartnerOptions,
) => Promise<MergePartners>;

/**
 * {@link decomposeLayer} with the partner searches made by `search` (for instance on worker threads);
 * the same result whenever `search` gives filterVectorPartners' result.
 * @throws PrunekitError as {@link decomposeLayer}, and whatever `search` throws.
 */
export async function decomposeLayerWith(
  input: LayerDecompositionInput,
  wasm: Wasm,
  search: PartnerSearch,
): Promise<LayerDecomposition> {
  const layer = prepareLayer(input, wasm);
  const found: MergePartners[] = [];
  for (const { from, into } of layer.searches)
    found.push(await search(layer.vectors, from, into, layer.options));
  return finishLayer(layer, found);
}

function resolveKeep(input: LayerDecompositionInput, wasm: Wasm, vectors: FilterVectors): number[] {
  const n = vectors.rows;
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
    const blocks = input.blocks ?? 1;
    const counts = new Array<number>(blocks).fill(0);
    for (const k of keep) counts[Math.floor(k / (n / blocks))]!++;
    if (counts.some((c) => c !== counts[0])) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `decomposeLayer: keep must take the same number of filters from each of the ${blocks} blocks, got [${counts.join(", ")}]`,
      );
    }
    return keep;
  }
  const blocks = input.blocks ?? 1;
  if (input.keptCount! % blocks !== 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `decomposeLayer: keptCount ${input.keptCount} is not a multiple of the ${blocks} blocks`,
    );
  }
  return selectKeptOfVectors(wasm, input.criterion, vectors, input.keptCount!, blocks);
}
