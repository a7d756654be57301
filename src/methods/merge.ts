// Neuron Merging (docs/methods.md §2): data-free compensation of pruned neurons by folding each one into
// a kept neuron's column of the consumer (scaling matrix Z, §2.2).
import { PrunekitError } from "../errors.ts";
import {
  type DependencyGroup,
  type GroupPathOp,
  type GroupProducer,
  isInner,
  mainProducer,
  pathIsMergeSafe,
  streamIsMergeSafe,
  streamUnsafeOp,
  unsafePathOp,
} from "../graph/group.ts";
import { attrFloat, type Graph } from "../graph/ir.ts";
import { PATTERN_FORMULAS } from "../graph/patterns.ts";
import { type FilterScratch, producerFilters } from "../graph/weights.ts";
import { newFloat32Scratch, readFloat32 } from "../onnx/tensor.ts";
import type { GroupPlan, PrunePlan } from "../surgery/plan.ts";
import { createWasm, type Wasm } from "../wasm/instance.ts";
import { filterVectorPartners } from "../wasm/kernels/filter-vectors.ts";
import type { MergeBnFormula, MergeBnParams } from "../wasm/kernels/merge.ts";
import {
  BUDGET_DEFAULTS,
  type BudgetOptions,
  groupKeptCounts,
  isExcluded,
  resolveBudget,
  roundingDetails,
} from "./budget.ts";
import type { MethodContext } from "./context.ts";
import { type Criterion, selectKeptOfVectors } from "./criteria.ts";
import { decomposeLayerWith, type MergeMode, type PartnerSearch } from "./merge-layer.ts";
import { PartnerWorkers, resolveWorkerCount, startPartnerWorkers } from "./merge-workers.ts";

/** Cosine threshold for models with convolutions (docs/methods.md §2.7: VGG-16, ResNet-56, WRN recipes). */
export const MERGE_THRESHOLD_CONV = 0.1;
/** Cosine threshold for MLPs (docs/methods.md §2.7: LeNet-300-100, t = 0.45). */
export const MERGE_THRESHOLD_MLP = 0.45;

/** Options of {@link planMerge}: the widths (budget.ts) and the merge options. Layer names are producer node names. */
export interface MergeOptions extends BudgetOptions {
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
   * `ctx.onWarning` and leaves it unpruned; `false` (the default) throws `UNSAFE_MERGE`, naming the
   * node, so that nothing is skipped silently. Ignored in `prune` mode.
   */
  skipUnsafe: boolean;
  /**
   * §2.6's fallback for such a layer: prune it without merging (kept set as usual, removed channels
   * dropped) and warn through `ctx.onWarning`. Takes precedence over `skipUnsafe`. Ignored in
   * `prune` mode.
   */
  pruneUnsafe: boolean;
  /**
   * Threads for the partner search of wide layers (methods/merge-workers.ts): an integer in 1..64, or
   * `auto` (the default) for one per core. Layers below {@link PARALLEL_MIN_WORK} and runtimes without
   * worker threads (browsers) use one thread. The result is the same bit for bit whatever the count.
   */
  workers: number | "auto";
  /**
   * Beyond the paper (experimental): also prune residual streams, the groups that several layers add
   * into, and fold each removed stream channel into its most similar kept one (docs/methods.md §2.10).
   * The cosine and the scale come from the concatenation over the stream's producers of their
   * BN-scaled filters and effective biases; the kept set from the concatenated raw filters by
   * `criterion`. With `mode: "prune"` the same stream channels are pruned plainly.
   */
  mergeResidual: boolean;
}

/**
 * Defaults of {@link MergeOptions}: the shared widths (budget.ts) and §2.7's library defaults: l1-norm,
 * t = 0.1 (0.45 for MLPs), λ = 0.85, exact BN formula, merge mode; unsafe layers are an error.
 */
export const MERGE_DEFAULTS: MergeOptions = {
  ...BUDGET_DEFAULTS,
  criterion: "l1",
  threshold: "auto",
  lambda: 0.85,
  bnFormula: "exact",
  mode: "merge",
  skipUnsafe: false,
  pruneUnsafe: false,
  workers: "auto",
  mergeResidual: false,
};

/**
 * Multiply-adds (removed x kept x vector length) from which a layer's partner search runs on its own
 * module instance and, with `workers` > 1, on worker threads: about 30 ms on one core, several times
 * what starting the workers costs (smaller layers run on the shared instance, on one thread).
 */
export const PARALLEL_MIN_WORK: number = 2 ** 28;

const FC_OPS: ReadonlySet<string> = new Set(["Gemm", "MatMul"]);

/**
 * Plan Neuron Merging for a whole model (docs/methods.md §2): for every inner group (§0, §2.6) with a
 * merge-safe path, choose the kept filters of its producer and the scaling matrix Z from the
 * producer's ORIGINAL weights (§2.2 order of operations), folding a following BatchNorm in (§2.5).
 * Groups that are frozen, not inner, excluded or left at full width get no entry.
 *
 * @param graph the model graph (graph/ir.ts buildGraph).
 * @param groups its dependency groups (graph/find-groups.ts findDependencyGroups).
 * @param options overrides of {@link MERGE_DEFAULTS}.
 * @param ctx kernels, progress and warnings (external weights come from `graph.externalData`).
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
  const given: MergeOptions = { ...MERGE_DEFAULTS, ...options };
  checkMergeOptions(given);
  // Layer names may be node or weight tensor names; from here on they are node names.
  const o = resolveBudget(groups, given, "merge");
  const threshold =
    o.threshold === "auto"
      ? groups.every((g) => g.producers.every((p) => FC_OPS.has(p.opType)))
        ? MERGE_THRESHOLD_MLP
        : MERGE_THRESHOLD_CONV
      : o.threshold;
  const warn = (m: string) => ctx.onWarning?.(m);
  const named = new Set([...Object.keys(o.layerRatios), ...Object.keys(o.layers), ...o.exclude]);
  const plans: GroupPlan[] = [];
  const skippedUnsafe: { group: number; reason: string }[] = [];
  const search = partnerSearch(ctx, resolveWorkerCount(o.workers), warn);
  try {
    // Each layer's weights are read into the same memory (decomposeLayer only reads them during its call).
    const scratch: FilterScratch = { input: newFloat32Scratch(), output: newFloat32Scratch() };
    for (let gi = 0; gi < groups.length; gi++) {
      const group = groups[gi]!;
      ctx.onProgress?.({ phase: "decomposition", done: gi, total: groups.length });
      // A squeeze-excitation excite conv gates the channels; the other producer's filters stand for them.
      const producer = mainProducer(group);
      if (producer === undefined) continue;
      const name = producer.node;
      const stream = o.mergeResidual && isResidualStream(group);
      const why = group.frozen
        ? group.frozenReasons.join("; ")
        : !isInner(group) && !stream
          ? notInnerReason(group)
          : "";
      if (why !== "") {
        if (named.has(name) && !isExcluded(group, o)) warn(`merge: layer "${name}" is not pruned: ${why}`);
        continue;
      }
      if (isExcluded(group, o)) continue;
      const counts = groupKeptCounts(group, o, "merge");
      const p = counts.kept;
      if (p >= group.channels) continue;
      let mode = o.mode;
      const inputsOf = (node: string) => graph.nodeByName.get(node)?.inputs ?? [];
      const bad = stream ? streamUnsafeOp(group, inputsOf) : unsafePathOp(group);
      const safe = stream ? streamIsMergeSafe(group, inputsOf) : pathIsMergeSafe(group);
      if (o.mode === "merge" && !safe) {
        const msg = `merge: ${stream ? "residual stream of layer" : "layer"} "${name}" (${producer.opType}) cannot be merged: ${unsafeReason(group, bad)} (docs/methods.md §2.6)`;
        if (o.pruneUnsafe) {
          warn(`${msg}; pruned without merging`);
          mode = "prune";
        } else if (!o.skipUnsafe) {
          throw new PrunekitError(
            "UNSAFE_MERGE",
            `${msg}; prune such layers without merging with --prune-unsafe (pruneUnsafe: true), skip them with --skip-unsafe (skipUnsafe: true), or prune every layer without merging with --no-merge (merge: false)`,
            {
              node: unsafeNode(group, bad) ?? name,
            },
          );
        } else {
          warn(`${msg}; left unpruned`);
          skippedUnsafe.push({ group: group.id, reason: unsafeReason(group, bad) });
          continue;
        }
      }
      const layer = stream
        ? readStream(graph, group, scratch, ctx.wasm, o.criterion, p)
        : { ...readLayer(graph, group, producer, scratch), keptCount: p };
      const dec = await decomposeLayerWith(
        {
          ...layer,
          blocks: group.blocks,
          criterion: o.criterion,
          threshold,
          lambda: o.lambda,
          bnFormula: o.bnFormula,
          mode,
        },
        ctx.wasm,
        search.run,
      );
      const rounding = roundingDetails(counts);
      // A residual stream (mergeResidual) says so, with the layers adding into it.
      const details = stream ? { ...rounding, residualStream: group.producers.map((q) => q.node) } : rounding;
      plans.push({
        groupId: group.id,
        keep: dec.keep,
        ...(dec.merges.length > 0 ? { merges: dec.merges } : {}),
        ...(details === undefined ? {} : { details }),
      });
    }
  } finally {
    await search.close();
  }
  ctx.onProgress?.({ phase: "decomposition", done: groups.length, total: groups.length });
  // skippedUnsafe: the groups skipUnsafe left whole, for the report's `unpruned` list.
  const details = {
    threshold,
    workers: search.threads(),
    ...(skippedUnsafe.length > 0 ? { skippedUnsafe } : {}),
    ...(o.mergeResidual ? { mergeResidual: true } : {}),
  };
  return { method: o.mode, groups: plans, details };
}

/**
 * The partner search of planMerge: small layers on the shared instance (ctx.wasm); layers of at least
 * PARALLEL_MIN_WORK multiply-adds on a private instance (its memory goes when planning ends) and, with
 * `threads` > 1, on worker threads started at the first such layer. `threads()` is the count used.
 */
function partnerSearch(
  ctx: MethodContext,
  threads: number,
  warn: (message: string) => void,
): { run: PartnerSearch; close: () => Promise<void>; threads: () => number } {
  let own: Wasm | undefined;
  let pool: PartnerWorkers | null | undefined;
  let used = 1;
  const run: PartnerSearch = async (v, from, into, options) => {
    const len = v.appended === undefined ? v.cols : v.cols + 1;
    if (from.length * into.length * len < PARALLEL_MIN_WORK) {
      return filterVectorPartners(ctx.wasm, v, from, into, options);
    }
    own ??= await createWasm();
    if (pool === undefined && threads > 1) {
      try {
        const ports = await startPartnerWorkers(threads - 1);
        pool = ports === undefined ? null : new PartnerWorkers(ports);
      } catch (e) {
        warn(
          `merge: worker threads did not start (${e instanceof Error ? e.message : String(e)}); the partner search runs on one thread`,
        );
        pool = null;
      }
    }
    if (pool) {
      used = pool.threads;
      return pool.search(own, v, from, into, options);
    }
    return filterVectorPartners(own, v, from, into, options);
  };
  return { run, close: async () => pool?.close(), threads: () => used };
}

function checkMergeOptions(o: MergeOptions): void {
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
  if (o.workers !== "auto") resolveWorkerCount(o.workers);
  if (!["l1", "l2", "gm"].includes(o.criterion)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `merge: criterion must be "l1", "l2" or "gm", got ${String(o.criterion)}`,
    );
  }
}

function notInnerReason(g: DependencyGroup): string {
  if (g.producers.length > 1)
    return `its channels are shared by ${g.producers.length} layers (residual coupling, §2.6)`;
  if (g.isResidual) return "its channels are joined by a residual connection (§2.6)";
  if (g.reachesGraphOutput) return "its output is a model output (§2.6)";
  if (g.consumers.length === 0) return "no conv or linear layer reads it";
  return "a consumer cannot absorb merged channels (depthwise)";
}

function unsafeNode(g: DependencyGroup, op: GroupPathOp | undefined = unsafePathOp(g)): string | undefined {
  return op?.pattern?.node ?? op?.node ?? g.consumers.find((c) => !c.mixesChannels)?.node;
}

/**
 * Why Neuron Merging cannot fold removed channels through the group's path (docs/methods.md §2.6), naming
 * the node: a decomposed activation or a squeeze-excitation block by its result node (graph/patterns.ts).
 * @param g A group whose path is not merge-safe.
 * @param op The op that blocks (default: graph/group.ts unsafePathOp).
 */
export function unsafeReason(g: DependencyGroup, op: GroupPathOp | undefined = unsafePathOp(g)): string {
  if (op?.pattern !== undefined) {
    const { name, node } = op.pattern;
    const opType = g.pathOps.find((p) => p.node === node)?.opType ?? op.opType;
    const what =
      name === "squeeze-excitation"
        ? "scales each channel by a gate computed from all channels"
        : "is an activation that is not positively homogeneous";
    return `node "${node}" (op ${opType}, ${PATTERN_FORMULAS[name]}) between it and its consumers ${what}`;
  }
  if (op?.opType === "LayerNormalization") {
    return `node "${op.node}" (op LayerNormalization) between it and its consumers normalises across the channels (mean and variance over them), so a channel cannot be folded into another through it`;
  }
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
export function readLayer(
  graph: Graph,
  group: DependencyGroup,
  producer: GroupProducer,
  scratch: FilterScratch,
): { weights: Float32Array; filters: number; bias?: Float32Array; bn?: MergeBnParams } {
  const n = group.channels;
  const filters = producerFilters(graph, producer, scratch);
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
  const bn = readBn(graph, group, producer);
  if (bn !== undefined) out.bn = bn;
  return out;
}

/** The BatchNorm right after `producer` in the group (§2.5), sliced to the group's channels, if any. */
function readBn(graph: Graph, group: DependencyGroup, producer: GroupProducer): MergeBnParams | undefined {
  const bnMember = group.members.find(
    (m) => m.opType === "BatchNormalization" && m.follows === producer.node,
  );
  if (bnMember === undefined) return undefined;
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
    return readVector(graph, param.tensor, bnMember.node, group.channels, bnMember.channelOffset);
  };
  return {
    gamma: role("bn-scale"),
    beta: role("bn-bias"),
    mean: role("bn-mean"),
    var: role("bn-var"),
    eps: attrFloat(node, "epsilon", 1e-5),
  };
}

/**
 * True iff `mergeResidual` may prune the group as a residual stream (docs/methods.md §2.10): it is not
 * inner only because several layers add into its channels, its channels do not reach a graph output,
 * and every reader is a conv or linear layer.
 */
function isResidualStream(g: DependencyGroup): boolean {
  return (
    !isInner(g) &&
    (g.isResidual || g.producers.length > 1) &&
    !g.reachesGraphOutput &&
    g.consumers.length > 0 &&
    g.consumers.every((c) => c.mixesChannels)
  );
}

/**
 * A residual stream as one layer for {@link decomposeLayerWith} (docs/methods.md §2.10). Channel c of
 * the stream is the sum over its producers of a_c·(W_c·x) + b_c, with a = γ/σ and b = β − a·(μ − bias)
 * after a BN (a = 1, b = bias or 0 without one); the stream channel is a positive multiple s of another
 * when these affine maps are, jointly over the producers. So the vectors are the concatenations of
 * [a_c·W_c ; b_c] (the §2.4 formula finds the partners and s on them), and the kept set comes from the
 * concatenated raw filters (their bias appended when no BN follows) by `criterion`.
 */
function readStream(
  graph: Graph,
  group: DependencyGroup,
  scratch: FilterScratch,
  wasm: Wasm,
  criterion: Criterion,
  keptCount: number,
): { weights: Float32Array; filters: number; keep: number[] } {
  const n = group.channels;
  const parts = group.producers.map((producer) => {
    const layer = readLayer(graph, group, producer, scratch);
    const d = layer.weights.length / n;
    // Copied out: the next producer's read reuses the scratch memory.
    return { d, weights: layer.weights.slice(0, n * d), bias: layer.bias, bn: layer.bn };
  });
  const rawLen = parts.reduce((t, q) => t + q.d + (q.bn === undefined && q.bias !== undefined ? 1 : 0), 0);
  const jointLen = parts.reduce((t, q) => t + q.d + 1, 0);
  const raw = new Float32Array(n * rawLen);
  const joint = new Float32Array(n * jointLen);
  for (let c = 0; c < n; c++) {
    let r = c * rawLen;
    let j = c * jointLen;
    for (const q of parts) {
      const row = q.weights.subarray(c * q.d, (c + 1) * q.d);
      raw.set(row, r);
      r += q.d;
      const bias = q.bias === undefined ? 0 : q.bias[c]!;
      if (q.bn === undefined) {
        if (q.bias !== undefined) raw[r++] = bias;
        joint.set(row, j);
        joint[j + q.d] = bias;
      } else {
        const a = q.bn.gamma[c]! / Math.sqrt(q.bn.var[c]! + q.bn.eps);
        for (let k = 0; k < q.d; k++) joint[j + k] = a * row[k]!;
        joint[j + q.d] = q.bn.beta[c]! - a * (q.bn.mean[c]! - bias);
      }
      j += q.d + 1;
    }
  }
  const keep = selectKeptOfVectors(
    wasm,
    criterion,
    { weights: raw, rows: n, cols: rawLen },
    keptCount,
    group.blocks,
  );
  return { weights: joint, filters: n, keep };
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

function readVector(graph: Graph, name: string, node: string, n: number, offset: number): Float32Array {
  const v = readFloat32(constant(graph, name, node), graph.externalData);
  if (v.length < offset + n) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `node "${node}": "${name}" has ${v.length} values, expected at least ${offset + n}`,
      { node, tensor: name },
    );
  }
  return v.slice(offset, offset + n);
}
