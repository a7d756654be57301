// Neuron Merging (ALGORITHMS.md §2): data-free compensation of pruned neurons by folding each one into
// a kept neuron's column of the consumer (scaling matrix Z, §2.2).
import { PrunekitError } from "../errors.ts";
import {
  type DependencyGroup,
  type GroupProducer,
  isInner,
  pathIsMergeSafe,
  unsafePathOp,
} from "../graph/groups.ts";
import { attrFloat, type Graph } from "../graph/ir.ts";
import { type FilterScratch, producerFilters } from "../graph/weights.ts";
import { type ExternalTensorData, newFloat32Scratch, readFloat32 } from "../onnx/tensor.ts";
import type { Wasm } from "../wasm/instance.ts";
import { type FilterVectors, filterVectorPartners } from "../wasm/kernels/filter-vectors.ts";
import type { MergeBnFormula, MergeBnParams } from "../wasm/kernels/merge.ts";
import {
  blockKeptCount,
  type Criterion,
  type KeptRounding,
  keptCount,
  selectKeptOfVectors,
} from "./criteria.ts";
import type { ChannelMerge, GroupPlan, MethodContext, PrunePlan } from "./plan.ts";

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

  // The vectors are weights_n (BN, or no bias) or [weights_n ; bias_n] (§2.4); filter-vectors copies
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

  const merges: ChannelMerge[] = [];
  if (input.mode === "merge" && removed.length > 0) {
    // Partners come from the removed filter's own block (one search for the whole layer when blocks = 1).
    const blocks = input.blocks ?? 1;
    const len = n / blocks;
    for (let b = 0; b < blocks; b++) {
      const inBlock = (i: number) => Math.floor(i / len) === b;
      const from = blocks === 1 ? removed : removed.filter(inBlock);
      const into = blocks === 1 ? keep : keep.filter(inBlock);
      if (from.length === 0) continue;
      const found = filterVectorPartners(wasm, vectors, from, into, {
        threshold: input.threshold,
        bn,
        lambda: input.lambda,
        formula: input.bnFormula,
      });
      for (let r = 0; r < from.length; r++) {
        const j = found.partner[r]!;
        if (j >= 0) merges.push({ from: from[r]!, into: into[j]!, scale: found.scale[r]! });
      }
    }
    if (blocks > 1) merges.sort((x, y) => x.from - y.from);
  }
  return { keep, merges, merged: merges.length, dropped: removed.length - merges.length };
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

// --- whole model ------------------------------------------------------------------------------

/** Cosine threshold for models with convolutions (ALGORITHMS.md §2.7: VGG-16, ResNet-56, WRN recipes). */
export const MERGE_THRESHOLD_CONV = 0.1;
/** Cosine threshold for MLPs (ALGORITHMS.md §2.7: LeNet-300-100, t = 0.45). */
export const MERGE_THRESHOLD_MLP = 0.45;

/** Options of {@link planMerge}. Layer names are the producer node names (GraphNode.name). */
export interface MergeOptions {
  /** Fraction of filters removed from every prunable layer, in [0, 1]. */
  ratio: number;
  /** Per-layer ratio overrides. */
  layerRatios: Record<string, number>;
  /**
   * Exact per-layer kept counts (win over ratios); e.g. VGG-16's fixed widths of §2.7. A multiple of the
   * group's `blocks` (grouped convs), else `INVALID_ARGUMENT`.
   */
  layers: Record<string, number>;
  /** Layers never pruned. */
  exclude: string[];
  /**
   * How N·(1 − r) becomes P (§2.3). `auto`: `round` for fully connected producers (Gemm/MatMul,
   * the LeNet recipe) and `floor` for convolutions (the ResNet stage configs).
   */
  rounding: KeptRounding | "auto";
  /** Kept-set criterion (§2.3, §2.7 default l1-norm). */
  criterion: Criterion;
  /**
   * Cosine threshold t (§2.4, §2.5). `auto`: {@link MERGE_THRESHOLD_MLP} (0.45) when every producer of
   * the model is Gemm/MatMul (an MLP, like LeNet-300-100), else {@link MERGE_THRESHOLD_CONV} (0.1), §2.7.
   */
  threshold: number | "auto";
  /** λ of the BN score (§2.5, §2.7: 0.85 for VGG-16/CIFAR-10 and ResNet-56). */
  lambda: number;
  /** BN formula (§2.5, §2.7: exact by default, `reference` reproduces the published numbers). */
  bnFormula: MergeBnFormula;
  /** `merge`, or `prune` for the plain-pruning baseline (§2.7). */
  mode: MergeMode;
  /**
   * A layer whose path to its consumers is not positively homogeneous (§2.6): `true` warns through
   * `ctx.onWarning` and leaves it unpruned; `false` throws `UNSAFE_MERGE`. Ignored in `prune` mode.
   */
  skipUnsafe: boolean;
  /**
   * §2.6's fallback for such a layer: prune it without merging (kept set as usual, removed channels
   * dropped) and warn through `ctx.onWarning`. Takes precedence over `skipUnsafe`. Ignored in
   * `prune` mode.
   */
  pruneUnsafe: boolean;
}

/**
 * Defaults of {@link MergeOptions}. The ratio has no published default; 0.5 is the first LeNet-300-100
 * row of §5. Everything else is §2.7's library defaults: l1-norm, t = 0.1 (0.45 for MLPs), λ = 0.85,
 * exact BN formula, merge mode.
 */
export const MERGE_DEFAULTS: MergeOptions = {
  ratio: 0.5,
  layerRatios: {},
  layers: {},
  exclude: [],
  rounding: "auto",
  criterion: "l1",
  threshold: "auto",
  lambda: 0.85,
  bnFormula: "exact",
  mode: "merge",
  skipUnsafe: true,
  pruneUnsafe: false,
};

const FC_OPS: ReadonlySet<string> = new Set(["Gemm", "MatMul"]);

/**
 * Plan Neuron Merging for a whole model (ALGORITHMS.md §2): for every inner group (§0, §2.6) with a
 * merge-safe path, choose the kept filters of its producer and the scaling matrix Z from the
 * producer's ORIGINAL weights (§2.2 order of operations), folding a following BatchNorm in (§2.5).
 * Groups that are frozen, not inner, excluded or left at full width get no entry.
 *
 * @param graph the model graph (graph/ir.ts buildGraph).
 * @param groups its dependency groups (graph/groups.ts findDependencyGroups).
 * @param options overrides of {@link MERGE_DEFAULTS}.
 * @param ctx kernels, progress and warnings; `externalData` when weights live outside the file.
 * @returns a plan with `method: "merge"` (or `"prune"` in prune mode).
 * @throws PrunekitError `INVALID_ARGUMENT` for bad options; `UNSAFE_MERGE` when `skipUnsafe` is false
 *   and a layer's path is not positively homogeneous (the message names the node and op);
 *   `ONNX_UNSUPPORTED` / `ONNX_INVALID` for weights that cannot be read as float32 matrices.
 * @example
 * const graph = buildGraph(model);
 * const plan = await planMerge(graph, findDependencyGroups(graph), { ratio: 0.5 }, { wasm: await getWasm() });
 * const { model: small } = applyPlan(graph, groups, plan);
 */
export async function planMerge(
  graph: Graph,
  groups: DependencyGroup[],
  options: Partial<MergeOptions>,
  ctx: MethodContext,
): Promise<PrunePlan> {
  const o: MergeOptions = { ...MERGE_DEFAULTS, ...options };
  checkMergeOptions(o);
  const threshold =
    o.threshold === "auto"
      ? groups.every((g) => g.producers.every((p) => FC_OPS.has(p.opType)))
        ? MERGE_THRESHOLD_MLP
        : MERGE_THRESHOLD_CONV
      : o.threshold;
  const warn = (m: string) => ctx.onWarning?.(m);
  const named = new Set([...Object.keys(o.layerRatios), ...Object.keys(o.layers), ...o.exclude]);
  const seen = new Set<string>();
  const plans: GroupPlan[] = [];
  // Each layer's weights are read into the same memory (decomposeLayer only reads them during its call).
  const scratch: FilterScratch = { input: newFloat32Scratch(), output: newFloat32Scratch() };
  for (let gi = 0; gi < groups.length; gi++) {
    const group = groups[gi]!;
    ctx.onProgress?.({ phase: "decomposition", done: gi, total: groups.length });
    for (const p of group.producers) seen.add(p.node);
    const producer = group.producers[0];
    if (producer === undefined) continue;
    const name = producer.node;
    const why = group.frozen ? group.frozenReasons.join("; ") : !isInner(group) ? notInnerReason(group) : "";
    if (why !== "") {
      if (named.has(name) && !o.exclude.includes(name)) warn(`merge: layer "${name}" is not pruned: ${why}`);
      continue;
    }
    if (o.exclude.includes(name)) continue;
    const n = group.channels;
    const p = keptFor(o, name, n, producer, group.blocks);
    if (p >= n) continue;
    let mode = o.mode;
    if (o.mode === "merge" && !pathIsMergeSafe(group)) {
      const msg = `merge: layer "${name}" (${producer.opType}) cannot be merged: ${unsafeReason(group)} (ALGORITHMS.md §2.6)`;
      if (o.pruneUnsafe) {
        warn(`${msg}; pruned without merging`);
        mode = "prune";
      } else if (!o.skipUnsafe) {
        throw new PrunekitError(
          "UNSAFE_MERGE",
          `${msg}; prune such layers without merging with --prune-unsafe (pruneUnsafe: true), skip them with --skip-unsafe (skipUnsafe: true), or prune every layer without merging with --no-merge (merge: false)`,
          {
            node: unsafeNode(group) ?? name,
          },
        );
      } else {
        warn(`${msg}; left unpruned`);
        continue;
      }
    }
    const layer = readLayer(graph, group, producer, ctx.externalData, scratch);
    const dec = decomposeLayer(
      {
        ...layer,
        keptCount: p,
        blocks: group.blocks,
        criterion: o.criterion,
        threshold,
        lambda: o.lambda,
        bnFormula: o.bnFormula,
        mode,
      },
      ctx.wasm,
    );
    plans.push(
      dec.merges.length > 0
        ? { groupId: group.id, keep: dec.keep, merges: dec.merges }
        : { groupId: group.id, keep: dec.keep },
    );
  }
  ctx.onProgress?.({ phase: "decomposition", done: groups.length, total: groups.length });
  for (const name of named) {
    if (!seen.has(name))
      warn(`merge: option names layer "${name}", but no Conv/Gemm/MatMul node has that name`);
  }
  return { method: o.mode, groups: plans };
}

function checkMergeOptions(o: MergeOptions): void {
  const ratioOk = (r: number) => r >= 0 && r <= 1;
  if (!ratioOk(o.ratio)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: ratio must be in [0, 1] (fraction removed), got ${o.ratio}`,
    );
  }
  for (const [name, r] of Object.entries(o.layerRatios)) {
    if (!ratioOk(r)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `merge: layerRatios["${name}"] must be in [0, 1], got ${r}`,
      );
    }
  }
  for (const [name, k] of Object.entries(o.layers)) {
    if (!Number.isInteger(k) || k < 1) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `merge: layers["${name}"] must be a kept count >= 1, got ${k}`,
      );
    }
  }
  if (o.threshold !== "auto" && !Number.isFinite(o.threshold)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: threshold must be a number or "auto", got ${o.threshold}`,
    );
  }
  if (!(o.lambda >= 0 && o.lambda <= 1)) {
    throw new PrunekitError("INVALID_ARGUMENT", `merge: lambda must be in [0, 1], got ${o.lambda}`);
  }
  if (o.bnFormula !== "exact" && o.bnFormula !== "reference") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: bnFormula must be "exact" or "reference", got ${String(o.bnFormula)}`,
    );
  }
  if (!["l1", "l2", "gm"].includes(o.criterion)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: criterion must be "l1", "l2" or "gm", got ${String(o.criterion)}`,
    );
  }
  if (!["auto", "round", "floor", "corrected"].includes(o.rounding)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: rounding must be "auto", "round", "floor" or "corrected", got ${String(o.rounding)}`,
    );
  }
}

/**
 * P for one layer: exact count, else ratio (§2.3) with the layer kind's rounding, then down to a
 * multiple of the group's `blocks` (grouped convs, criteria.ts blockKeptCount).
 */
function keptFor(o: MergeOptions, name: string, n: number, producer: GroupProducer, blocks: number): number {
  const exact = o.layers[name];
  if (exact !== undefined) {
    if (exact > n) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `merge: layers["${name}"] keeps ${exact} filters, but the layer has ${n}`,
        { node: name },
      );
    }
    if (exact % blocks !== 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `merge: layers["${name}"] keeps ${exact} filters, but grouped convs split its ${n} channels into ${blocks} blocks that must keep the same count; use a multiple of ${blocks}`,
        { node: name },
      );
    }
    return exact;
  }
  const ratio = o.layerRatios[name] ?? o.ratio;
  const rounding = o.rounding === "auto" ? (FC_OPS.has(producer.opType) ? "round" : "floor") : o.rounding;
  return blockKeptCount(keptCount(n, ratio, rounding), blocks);
}

function notInnerReason(g: DependencyGroup): string {
  if (g.producers.length > 1)
    return `its channels are shared by ${g.producers.length} layers (residual coupling, §2.6)`;
  if (g.isResidual) return "its channels are joined by a residual connection (§2.6)";
  if (g.reachesGraphOutput) return "its output is a model output (§2.6)";
  if (g.consumers.length === 0) return "no conv or linear layer reads it";
  return "a consumer cannot absorb merged channels (depthwise)";
}

function unsafeNode(g: DependencyGroup): string | undefined {
  return unsafePathOp(g)?.node ?? g.consumers.find((c) => !c.mixesChannels)?.node;
}

function unsafeReason(g: DependencyGroup): string {
  const op = unsafePathOp(g);
  if (op !== undefined) {
    const what =
      op.kind === "depthwise"
        ? "is depthwise (each channel has its own filter), so a removed channel cannot be folded through it"
        : op.positivelyHomogeneous
          ? "does not act on each channel separately"
          : "is not positively homogeneous per channel";
    return `node "${op.node}" (op ${op.opType}) between it and its consumers ${what}`;
  }
  const c = g.consumers.find((x) => !x.mixesChannels);
  if (c !== undefined) return `consumer "${c.node}" (op ${c.opType}) does not mix channels`;
  return "it has no consumer that can absorb Z";
}

/**
 * The producer's filters as an N x D matrix (graph/weights.ts producerFilters: one row per output
 * channel), its bias, and the BN right after it (§2.5), sliced to the group's channels. `weights` may
 * be a view of `scratch`.
 */
function readLayer(
  graph: Graph,
  group: DependencyGroup,
  producer: GroupProducer,
  external: ExternalTensorData | undefined,
  scratch: FilterScratch,
): { weights: Float32Array; filters: number; bias?: Float32Array; bn?: MergeBnParams } {
  const n = group.channels;
  const filters = producerFilters(graph, producer, external, scratch);
  if (filters.rows !== n) {
    const dims = graph.constants.get(producer.weight)?.dims ?? [];
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `${producer.opType} "${producer.node}": weight "${producer.weight}" has dims [${dims.join(", ")}], expected ${n} output channels on axis ${producer.outputAxis}`,
      { node: producer.node, tensor: producer.weight },
    );
  }
  const out: { weights: Float32Array; filters: number; bias?: Float32Array; bn?: MergeBnParams } = {
    weights: filters.data,
    filters: n,
  };
  if (filters.bias !== undefined) out.bias = filters.bias;
  const bnMember = group.members.find(
    (m) => m.opType === "BatchNormalization" && m.follows === producer.node,
  );
  if (bnMember !== undefined) {
    const node = graph.nodeByName.get(bnMember.node)!;
    const role = (r: string) => {
      const param = bnMember.params.find((q) => q.role === r);
      if (param === undefined) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `BatchNormalization "${bnMember.node}": missing ${r} parameter`,
          {
            node: bnMember.node,
          },
        );
      }
      return readVector(graph, param.tensor, bnMember.node, n, bnMember.channelOffset, external);
    };
    out.bn = {
      gamma: role("bn-scale"),
      beta: role("bn-bias"),
      mean: role("bn-mean"),
      var: role("bn-var"),
      eps: attrFloat(node, "epsilon", 1e-5),
    };
  }
  return out;
}

function constant(graph: Graph, name: string, node: string) {
  const t = graph.constants.get(name);
  if (t === undefined) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `node "${node}": "${name}" is not a constant; Neuron Merging needs the weights`,
      {
        node,
        tensor: name,
      },
    );
  }
  return t;
}

function readVector(
  graph: Graph,
  name: string,
  node: string,
  n: number,
  offset: number,
  external: ExternalTensorData | undefined,
): Float32Array {
  const v = readFloat32(constant(graph, name, node), external);
  if (v.length < offset + n) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `node "${node}": "${name}" has ${v.length} values, expected at least ${offset + n}`,
      { node, tensor: name },
    );
  }
  return v.slice(offset, offset + n);
}
