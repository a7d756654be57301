// EPruner (docs/methods.md §3): per conv layer, cluster the filters by affinity propagation on their
// negative squared distances; the exemplars are the kept filters and their number adapts per layer,
// steered by one coefficient β. Data-free. Beyond the paper: exemplar merging (§3.9) and a budget
// search on β (§3.10).
import { PrunekitError } from "../errors.ts";
import { type DependencyGroup, type GroupProducer, isInner, pathIsMergeSafe } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import { inferShapes } from "../graph/shapes.ts";
import { newFloat32Scratch, readFloat32 } from "../onnx/tensor.ts";
import type { TensorValue } from "../surgery/model-patch.ts";
import type { ChannelMerge, GroupPlan, PrunePlan } from "../surgery/plan.ts";
import {
  AFFINITY_DEFAULTS,
  type AffinityResult,
  affinityPropagation,
  checkAffinityOptions,
  type NoConvergenceMode,
} from "../wasm/kernels/affinity.ts";
import { pairwiseSqEuclideanGram } from "../wasm/kernels/distance.ts";
import { rowMedians } from "../wasm/kernels/select.ts";
import { seededNormals } from "../wasm/seeded-random.ts";
import {
  BUDGET_DEFAULTS,
  bisectForTarget,
  checkRoundTo,
  layerNodeName,
  plannedSize,
  roundKeptCount,
  type SizeTarget,
} from "./budget.ts";
import type { MethodContext } from "./context.ts";
import { readLayer } from "./merge.ts";
import { randomProjectionValues } from "./random-projection.ts";

/**
 * What the kept filters start from (§3.4): `exemplar` inherits the exemplars' kernels, BN entries and
 * biases; `reference` applies the published code's resets (referenceReset); `random` gives the
 * pruned widths fresh weights (§3.4 "scratch"); `random-projection` inherits like `exemplar` but
 * replaces each consumer's input-side weights by a seeded sparse random projection of them
 * (§3.4 ablation, src/methods/random-projection.ts).
 */
export type EPrunerInit = "exemplar" | "reference" | "random" | "random-projection";

const INITS: readonly EPrunerInit[] = ["exemplar", "reference", "random", "random-projection"];

/** The published "larger β for later blocks" rule (§3.5): layers from `fromIndex` on use `beta`. */
export interface LateBeta {
  /** 0-based index among the layers EPruner clusters, in model order (§3.11.1). */
  fromIndex: number;
  /** β from that layer on. */
  beta: number;
}

/** Options of {@link planEPruner}. Layer names are node names or weight tensor names. */
export interface EPrunerOptions {
  /** The global β of the preferences p_i = β·median_k s(i, k) (§3.2, §3.5: library default 0.75). */
  beta: number;
  /** β per layer, overriding `beta` and `lateBeta` (§3.5 per-layer override map). */
  layerBetas: Record<string, number>;
  /** Larger β for later layers (§3.5), or undefined. */
  lateBeta: LateBeta | undefined;
  /** Layers left unpruned. */
  exclude: string[];
  /** Initialisation of the pruned network (§3.4); `exemplar` by default. */
  init: EPrunerInit;
  /** Fold every cluster member into its exemplar in the consumers (§3.9); off by default (the paper). */
  merge: boolean;
  /** Search the global β for learnable parameters ≤ this fraction of the original (§3.10). */
  targetParams: number | undefined;
  /** Search the global β for MACs ≤ this fraction of the original (§3.10). */
  targetMacs: number | undefined;
  /** Without convergence within 200 iterations (§3.7): `lastIteration` (default), `keepAll`, `error`. */
  onNoConvergence: NoConvergenceMode;
  /** Seed of the optional tie-breaking noise of affinity propagation (§3.3 step 2); off when undefined. */
  noiseSeed: number | undefined;
  /**
   * Seed of the fresh weights of `init: "random"`, of the classifier re-initialised by `reference` and
   * of the projections of `random-projection`.
   */
  seed: number;
  /**
   * Hardware-friendly widths (beyond the paper): each layer's exemplar count rounded to the nearest
   * multiple of this (budget.ts roundKeptCount), by {@link roundExemplars}. 1: off.
   */
  roundTo: number;
}

/** Defaults of {@link EPrunerOptions}: §3.5's β = 0.75, §3.4's exemplar initialisation, §3.7's lastIteration. */
export const EPRUNER_DEFAULTS: EPrunerOptions = {
  beta: 0.75,
  layerBetas: {},
  lateBeta: undefined,
  exclude: [],
  init: "exemplar",
  merge: false,
  targetParams: undefined,
  targetMacs: undefined,
  onNoConvergence: AFFINITY_DEFAULTS.onNoConvergence,
  noiseSeed: undefined,
  seed: 0,
  roundTo: BUDGET_DEFAULTS.roundTo,
};

/** What EPruner reports per clustered layer (report `layers[]`, next to kept, merged, dropped). */
export interface EPrunerLayerDetails {
  /** Exemplar filter indices, ascending (= the kept filters). */
  exemplars: number[];
  /** Cluster label of every filter: the position of its exemplar in `exemplars`. */
  labels: number[];
  /** Iterations of affinity propagation (0 when no message passing was needed, §3.7). */
  iterations: number;
  /** Whether affinity propagation converged. */
  converged: boolean;
  /** The β this layer used. */
  beta: number;
  /** With `roundTo`: the exemplar count affinity propagation gave, when rounding changed it. */
  keptBeforeRounding?: number;
}

/** One layer EPruner clusters, with what every β needs precomputed (§3.2). */
interface Layer {
  group: DependencyGroup;
  producer: GroupProducer;
  /** Position among the clustered layers (late-β index). */
  index: number;
  n: number;
  /** s(i, k) = −‖x_i − x_k‖², n x n f64, zero diagonal. */
  s: Float64Array;
  /** Median of every row of s (diagonal included). */
  medians: Float64Array;
  /** β from layerBetas, if any. */
  fixedBeta: number | undefined;
  /** L1 norm of every filter (roundTo's choice of filters to add); empty when roundTo is 1. */
  l1: Float64Array;
}

const CONV = "Conv";

/**
 * The layers EPruner clusters by default (§3.5, §3.11.1): every inner conv (§0) whose path to its
 * consumers is merge-safe (§2.6), not frozen, without grouped-conv blocks (adaptive widths cannot keep
 * equal counts per block), in model order: the inner convs of residual blocks, every conv of a plain
 * chain except one whose output is a model output.
 */
export function epLayers(graph: Graph, groups: DependencyGroup[]): DependencyGroup[] {
  const pos = new Map(graph.order.map((node, i) => [node.name, i]));
  return groups
    .filter(
      (g) =>
        !g.frozen &&
        isInner(g) &&
        pathIsMergeSafe(g) &&
        g.blocks === 1 &&
        g.producers[0]?.opType === CONV &&
        g.channels >= 1,
    )
    .sort((a, b) => pos.get(a.producers[0]!.node)! - pos.get(b.producers[0]!.node)!);
}

function checkOptions(o: EPrunerOptions): void {
  const betaOk = (b: unknown) => typeof b === "number" && Number.isFinite(b) && b >= 0;
  if (!betaOk(o.beta)) {
    throw new PrunekitError("INVALID_ARGUMENT", `epruner: beta must be a number >= 0, got ${o.beta}`);
  }
  for (const [name, b] of Object.entries(o.layerBetas)) {
    if (!betaOk(b)) {
      throw new PrunekitError("INVALID_ARGUMENT", `epruner: layerBetas["${name}"] must be >= 0, got ${b}`, {
        node: name,
      });
    }
  }
  if (
    o.lateBeta !== undefined &&
    (!Number.isInteger(o.lateBeta.fromIndex) || o.lateBeta.fromIndex < 0 || !betaOk(o.lateBeta.beta))
  ) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `epruner: lateBeta must be { fromIndex: integer >= 0, beta: number >= 0 }, got ${JSON.stringify(o.lateBeta)}`,
    );
  }
  if (!INITS.includes(o.init)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `epruner: init must be "exemplar", "reference", "random" or "random-projection", got ${String(o.init)}`,
    );
  }
  if (typeof o.merge !== "boolean") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `epruner: merge must be true or false, got ${String(o.merge)}`,
    );
  }
  if (o.targetParams !== undefined && o.targetMacs !== undefined) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "epruner: give targetParams or targetMacs, not both (the search has one budget)",
    );
  }
  for (const key of ["targetParams", "targetMacs"] as const) {
    const f = o[key];
    if (f !== undefined && !(typeof f === "number" && f > 0 && f <= 1)) {
      throw new PrunekitError("INVALID_ARGUMENT", `epruner: ${key} must be a fraction in (0, 1], got ${f}`);
    }
  }
  if (!Array.isArray(o.exclude)) {
    throw new PrunekitError("INVALID_ARGUMENT", "epruner: exclude must be a list of layer names");
  }
  if (!Number.isInteger(o.seed)) {
    throw new PrunekitError("INVALID_ARGUMENT", `epruner: seed must be an integer, got ${o.seed}`);
  }
  checkRoundTo(o.roundTo, "epruner");
  checkAffinityOptions({ ...AFFINITY_DEFAULTS, onNoConvergence: o.onNoConvergence, noiseSeed: o.noiseSeed });
}

/**
 * Plan EPruner for a whole model (docs/methods.md §3): for every clustered layer (see
 * {@link epLayers}), affinity propagation on its filters' negative squared distances with preferences
 * β·(row median); the exemplars are the kept filters. With `merge`, every member is folded into its
 * exemplar (§3.9); with a target, the global β is searched (§3.10); `init` picks the starting weights
 * (§3.4).
 *
 * @param graph the model graph.
 * @param groups its dependency groups.
 * @param options overrides of {@link EPRUNER_DEFAULTS}.
 * @param ctx kernels, progress and warnings.
 * @returns a plan with `method: "epruner"`, per-group {@link EPrunerLayerDetails} in `details`, the
 *   plan-level β (and the search) in `details`, and `values` for the `reference`, `random` and
 *   `random-projection` inits (the last also lists its projected consumers in
 *   `details.randomProjection`).
 * @throws PrunekitError `INVALID_ARGUMENT` for bad options or unknown layer names; `NOT_CONVERGED`
 *   with `onNoConvergence: "error"`; `ONNX_UNSUPPORTED` / `ONNX_INVALID` for unreadable weights;
 *   `GRAPH_UNSUPPORTED` when `random-projection` meets a consumer it cannot project.
 * @example
 * const plan = await planEPruner(graph, groups, { beta: 0.75 }, { wasm: await getWasm() });
 */
export async function planEPruner(
  graph: Graph,
  groups: DependencyGroup[],
  options: Partial<EPrunerOptions>,
  ctx: MethodContext,
): Promise<PrunePlan> {
  const o: EPrunerOptions = { ...EPRUNER_DEFAULTS, ...options };
  checkOptions(o);
  const warn = (m: string) => ctx.onWarning?.(m);
  const exclude = new Set(o.exclude.map((n) => layerNodeName(groups, n, "exclude")));
  const layerBetas = new Map<string, number>();
  for (const [n, b] of Object.entries(o.layerBetas))
    layerBetas.set(layerNodeName(groups, n, "layer beta"), b);

  const candidates = epLayers(graph, groups);
  const clustered = new Set(candidates.map((g) => g.producers[0]!.node));
  for (const name of layerBetas.keys()) {
    if (!clustered.has(name))
      warn(`epruner: layer "${name}" has a layer beta but is not clustered: ${whyNot(groups, name)}`);
  }
  for (const name of exclude) {
    if (!clustered.has(name))
      warn(`epruner: excluded layer "${name}" is not clustered anyway: ${whyNot(groups, name)}`);
  }

  // §3.2: similarities and row medians once per layer; every β reuses them.
  const layers: Layer[] = [];
  for (let index = 0; index < candidates.length; index++) {
    const group = candidates[index]!;
    const producer = group.producers[0]!;
    ctx.onProgress?.({ phase: "similarity", done: index, total: candidates.length });
    if (exclude.has(producer.node)) continue;
    const f = readFilters(graph, producer, group.channels);
    // §3.2 in float64 by the norm trick, as scikit-learn's euclidean_distances (docs/methods.md
    // §3.11.5: the same exemplars as the direct differences and as scikit-learn on every fixture layer).
    const d = pairwiseSqEuclideanGram(ctx.wasm, f.data, f.rows, f.cols);
    for (let q = 0; q < d.length; q++) d[q] = -d[q]!;
    const medians = rowMedians(ctx.wasm, d, f.rows, f.rows);
    // Only roundTo's rounding up reads the L1 norms (a pass over the weights: skip it otherwise).
    const l1 = new Float64Array(o.roundTo > 1 ? f.rows : 0);
    for (let i = 0; i < l1.length; i++) {
      let a = 0;
      for (let c = 0; c < f.cols; c++) a += Math.abs(f.data[i * f.cols + c]!);
      l1[i] = a;
    }
    layers.push({
      l1,
      group,
      producer,
      index,
      n: f.rows,
      s: d,
      medians,
      fixedBeta: layerBetas.get(producer.node),
    });
  }
  ctx.onProgress?.({ phase: "similarity", done: candidates.length, total: candidates.length });

  const betaOf = (layer: Layer, global: number) =>
    layer.fixedBeta ??
    (o.lateBeta !== undefined && layer.index >= o.lateBeta.fromIndex ? o.lateBeta.beta : global);
  const cache = new Map<string, AffinityResult>();
  const cluster = (layer: Layer, beta: number): AffinityResult => {
    const key = `${layer.index}:${beta}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const prefs = Float64Array.from(layer.medians, (m) => beta * m);
    let r: AffinityResult;
    try {
      r = affinityPropagation(ctx.wasm, layer.s, prefs, layer.n, {
        onNoConvergence: o.onNoConvergence,
        ...(o.noiseSeed === undefined ? {} : { noiseSeed: o.noiseSeed }),
      });
    } catch (e) {
      if (e instanceof PrunekitError && e.code === "NOT_CONVERGED") {
        throw new PrunekitError(
          "NOT_CONVERGED",
          `epruner: layer "${layer.producer.node}" (beta ${beta}): ${e.message}`,
          {
            node: layer.producer.node,
            cause: e,
          },
        );
      }
      throw e;
    }
    cache.set(key, r);
    return r;
  };
  const clusterAll = (global: number) => {
    const out: AffinityResult[] = [];
    for (let i = 0; i < layers.length; i++) {
      ctx.onProgress?.({ phase: "clustering", done: i, total: layers.length });
      out.push(cluster(layers[i]!, betaOf(layers[i]!, global)));
    }
    ctx.onProgress?.({ phase: "clustering", done: layers.length, total: layers.length });
    return out;
  };

  // §3.10: bisection on the global β for a size target.
  let beta = o.beta;
  let results: AffinityResult[];
  let search: Record<string, unknown> | undefined;
  const target: SizeTarget | undefined =
    o.targetParams !== undefined
      ? { kind: "params", fraction: o.targetParams }
      : o.targetMacs !== undefined
        ? { kind: "macs", fraction: o.targetMacs }
        : undefined;
  if (target !== undefined) {
    const shapes = inferShapes(graph);
    const full = plannedSize(graph, shapes, groups, new Map());
    const fullValue = target.kind === "params" ? full.params : full.macs;
    const r = await bisectForTarget(
      (b) => {
        const rs = clusterAll(b);
        const kept = new Map(
          layers.map((l, i) => [l.group.id, roundKeptCount(rs[i]!.exemplars.length, l.n, o.roundTo)]),
        );
        const size = plannedSize(graph, shapes, groups, kept);
        return { value: rs, fraction: (target.kind === "params" ? size.params : size.macs) / fullValue };
      },
      target.fraction,
      { start: 1, limit: 64, tolerance: 1e-3 },
    );
    if (!r.met) {
      warn(
        `epruner: no beta up to ${r.x} brings ${target.kind} to ${target.fraction} of the original (reached ${r.fraction.toFixed(4)}); used beta ${r.x}`,
      );
    }
    beta = r.x;
    results = r.value;
    search = {
      target: target.kind,
      fraction: target.fraction,
      reached: r.fraction,
      met: r.met,
      evaluations: r.evaluations,
    };
  } else {
    results = clusterAll(beta);
  }

  const plans: GroupPlan[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const r = results[i]!;
    const b = betaOf(layer, beta);
    if (!r.converged) {
      warn(
        `epruner: layer "${layer.producer.node}": affinity propagation did not converge in ${r.iterations} iterations; ${
          r.outcome === "keepAll"
            ? "kept every filter (onNoConvergence keepAll)"
            : "used the last iteration's exemplars"
        }`,
      );
    }
    if (r.outcome === "noExemplar") {
      warn(
        `epruner: layer "${layer.producer.node}": no exemplar emerged; kept the filter with the largest preference (§3.7)`,
      );
    }
    const raw = r.exemplars.length;
    const rounded = roundExemplars(layer.s, layer.l1, layer.n, r.exemplars, r.labels, o.roundTo);
    const details: EPrunerLayerDetails = {
      exemplars: rounded.exemplars,
      labels: rounded.labels,
      iterations: r.iterations,
      converged: r.converged,
      beta: b,
      ...(rounded.exemplars.length === raw ? {} : { keptBeforeRounding: raw }),
    };
    const plan: GroupPlan = {
      groupId: layer.group.id,
      keep: [...rounded.exemplars],
      details: { ...details },
    };
    if (o.merge && rounded.exemplars.length < layer.n) {
      const merges = exemplarMerges(graph, layer, rounded);
      if (merges.length > 0) plan.merges = merges;
    }
    plans.push(plan);
  }
  const out: PrunePlan = {
    method: "epruner",
    groups: plans,
    details: { beta, ...(search ? { search } : {}) },
  };
  if (o.init === "random-projection") {
    const r = randomProjectionValues(graph, groups, plans, o.seed);
    if (r.values.size > 0) out.values = r.values;
    out.details = { ...out.details, randomProjection: r.consumers };
  } else if (o.init !== "exemplar") {
    out.values = initValues(graph, groups, plans, o);
  }
  return out;
}

/**
 * `roundTo` for one layer (beyond the paper): the exemplar count rounded to the nearest multiple
 * (budget.ts roundKeptCount, never above the layer's filters). Rounding down drops the exemplars of the
 * smallest clusters (ties: the higher index first), and their members join the remaining exemplar most
 * similar to them (largest s(i, e), ties: the lower index). Rounding up makes the non-exemplars with the
 * largest L1 norm (ties: the lower index) exemplars of their own one-member clusters.
 *
 * @param s n x n similarities s(i, k) = −‖x_i − x_k‖², row-major.
 * @param l1 the L1 norm of every filter.
 * @param n filters.
 * @param exemplars affinity propagation's exemplars, ascending; labels: the position of each filter's.
 * @returns the new exemplars (ascending) and labels, the given ones when nothing changes.
 * @example
 * roundExemplars(s, l1, 16, exemplars, labels, 8); // 8 or 16 exemplars
 */
export function roundExemplars(
  s: Float64Array,
  l1: Float64Array,
  n: number,
  exemplars: readonly number[],
  labels: readonly number[],
  roundTo: number,
): { exemplars: number[]; labels: number[] } {
  const target = roundKeptCount(exemplars.length, n, roundTo);
  if (target === exemplars.length) return { exemplars: [...exemplars], labels: [...labels] };
  const of = labels.map((l) => exemplars[l]!);
  let kept = [...exemplars];
  if (target < kept.length) {
    const size = new Map<number, number>(kept.map((e) => [e, 0]));
    for (const e of of) size.set(e, size.get(e)! + 1);
    const drop = new Set(
      [...kept].sort((a, b) => size.get(a)! - size.get(b)! || b - a).slice(0, kept.length - target),
    );
    kept = kept.filter((e) => !drop.has(e));
    for (let i = 0; i < n; i++) {
      if (!drop.has(of[i]!)) continue;
      let best = kept[0]!;
      for (const e of kept) if (s[i * n + e]! > s[i * n + best]!) best = e;
      of[i] = best;
    }
  } else {
    const isExemplar = new Set(kept);
    const added = Array.from({ length: n }, (_, i) => i)
      .filter((i) => !isExemplar.has(i))
      .sort((a, b) => l1[b]! - l1[a]! || a - b)
      .slice(0, target - kept.length);
    for (const i of added) of[i] = i;
    kept = [...kept, ...added].sort((a, b) => a - b);
  }
  const pos = new Map(kept.map((e, i) => [e, i]));
  return { exemplars: kept, labels: of.map((e) => pos.get(e)!) };
}

function whyNot(groups: DependencyGroup[], node: string): string {
  const g = groups.find((x) => x.producers.some((p) => p.node === node));
  if (g === undefined) return "unknown layer";
  if (g.frozen) return g.frozenReasons.join("; ");
  if (!isInner(g)) return "it is not an inner layer (residual, shared, or a model output; §0)";
  if (!pathIsMergeSafe(g)) return "its path to the consumers is not merge-safe (§2.6)";
  if (g.blocks > 1) return "grouped convs split its channels into blocks";
  return `it is a ${g.producers[0]?.opType} layer; EPruner clusters convolutions`;
}

/** The producer's filters as rows (n x d f32). */
function readFilters(
  graph: Graph,
  producer: GroupProducer,
  n: number,
): { data: Float32Array; rows: number; cols: number } {
  const t = graph.constants.get(producer.weight);
  if (t === undefined) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `Conv "${producer.node}": weight "${producer.weight}" is not a constant; EPruner needs the weights`,
      { node: producer.node, tensor: producer.weight },
    );
  }
  const data = readFloat32(t, graph.externalData);
  if (Number(t.dims[0]) !== n || data.length % n !== 0) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `Conv "${producer.node}": weight "${producer.weight}" has dims [${t.dims.join(", ")}], expected ${n} output channels on axis 0`,
      { node: producer.node, tensor: producer.weight },
    );
  }
  return { data, rows: n, cols: data.length / n };
}

/**
 * §3.9: Z[p, e] = S for every member p of exemplar e's cluster. Without BN, S = ‖w̃_p‖/‖w̃_e‖ with
 * w̃ = [weights; bias] (§2.4); with BN, S = s·(γ_p/γ_e)·(σ_e/σ_p), s = ‖F_p‖/‖F_e‖ (§2.5 exact).
 * Members with S ≤ 0 or a non-finite S are dropped (surgery counts them).
 */
function exemplarMerges(
  graph: Graph,
  layer: Layer,
  r: { exemplars: number[]; labels: number[] },
): ChannelMerge[] {
  const l = readLayer(graph, layer.group, layer.producer, {
    input: newFloat32Scratch(),
    output: newFloat32Scratch(),
  });
  const n = layer.n;
  const d = l.weights.length / n;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += l.weights[i * d + c]! ** 2;
    if (l.bn === undefined && l.bias !== undefined) s += l.bias[i]! ** 2;
    norms[i] = Math.sqrt(s);
  }
  const merges: ChannelMerge[] = [];
  for (let p = 0; p < n; p++) {
    const e = r.exemplars[r.labels[p]!]!;
    if (e === p) continue;
    let scale = norms[p]! / norms[e]!;
    if (l.bn !== undefined) {
      const bn = l.bn;
      const sigma = (i: number) => Math.sqrt(Number(bn.var[i]) + bn.eps);
      scale *= (Number(bn.gamma[p]) / Number(bn.gamma[e])) * (sigma(e) / sigma(p));
    }
    if (Number.isFinite(scale) && scale > 0) merges.push({ from: p, into: e, scale });
  }
  return merges;
}

/** The float32 data of a constant, a copy. */
function tensorData(graph: Graph, name: string): { data: Float32Array; dims: number[] } {
  const t = graph.constants.get(name)!;
  return { data: readFloat32(t, graph.externalData).slice(), dims: t.dims.map(Number) };
}

/**
 * Tensor values for the `reference` and `random` initialisations (§3.4), in the original shapes
 * (surgery patches them, then slices).
 * - reference: the BN after each pruned conv γ = 1, β = 0, mean 0, var 1 on the group's channels;
 *   the pruned conv's bias 0; a linear consumer of a pruned conv (the classifier) N(0, 0.01²), bias 0.
 * - random: every Conv weight N(0, 2/fan_out) with fan_out = kept outputs·kh·kw (He init, fan_out mode,
 *   as torchvision's VGG and ResNet), every Gemm/MatMul weight N(0, 0.01²), every bias 0, every BN
 *   γ = 1, β = 0, mean 0, var 1.
 */
function initValues(
  graph: Graph,
  groups: DependencyGroup[],
  plans: GroupPlan[],
  o: EPrunerOptions,
): Map<string, TensorValue> {
  const values = new Map<string, TensorValue>();
  let stream = 0;
  const normal = (len: number, std: number) => {
    stream++;
    return Float32Array.from(seededNormals((o.seed * 1000003 + stream * 7919) >>> 0, len), (g) => g * std);
  };
  const setAll = (name: string, v: number) => {
    const t = tensorData(graph, name);
    t.data.fill(v);
    values.set(name, t);
  };
  if (o.init === "reference") {
    for (const gp of plans) {
      const group = groups[gp.groupId]!;
      if (gp.keep.length >= group.channels) continue;
      const producer = group.producers[0]!;
      if (producer.bias !== undefined) setAll(producer.bias, 0);
      const bn = group.members.find((m) => m.opType === "BatchNormalization" && m.follows === producer.node);
      for (const q of bn?.params ?? []) {
        const t = values.get(q.tensor) ?? tensorData(graph, q.tensor);
        const v = q.role === "bn-scale" || q.role === "bn-var" ? 1 : 0;
        t.data.fill(v, bn!.channelOffset, bn!.channelOffset + group.channels);
        values.set(q.tensor, t);
      }
      for (const c of group.consumers) {
        if (c.opType !== "Gemm" && c.opType !== "MatMul") continue;
        const w = tensorData(graph, c.weight);
        values.set(c.weight, { data: normal(w.data.length, 0.01), dims: w.dims });
        const bias = graph.nodeByName.get(c.node)?.inputs[2];
        if (bias !== undefined && bias !== "" && graph.constants.has(bias)) setAll(bias, 0);
      }
    }
    return values;
  }
  // random: fresh weights at the pruned widths.
  const keptOut = new Map<string, number>();
  for (const gp of plans) for (const p of groups[gp.groupId]!.producers) keptOut.set(p.node, gp.keep.length);
  for (const node of graph.order) {
    if (node.domain !== "") continue;
    const w = node.inputs[1];
    const isLayer = node.opType === "Conv" || node.opType === "Gemm" || node.opType === "MatMul";
    if (isLayer && w !== undefined && graph.constants.has(w) && graph.constants.get(w)!.dataType === 1) {
      const t = tensorData(graph, w);
      let std = 0.01;
      if (node.opType === "Conv") {
        const out = keptOut.get(node.name) ?? t.dims[0]!;
        const k = t.dims.slice(2).reduce((a, b) => a * b, 1);
        std = Math.sqrt(2 / (out * k));
      }
      values.set(w, { data: normal(t.data.length, std), dims: t.dims });
      const b = node.inputs[2];
      if (b !== undefined && b !== "" && graph.constants.has(b)) setAll(b, 0);
    }
    if (node.opType === "BatchNormalization") {
      node.inputs.slice(1, 5).forEach((name, i) => {
        if (graph.constants.has(name)) setAll(name, i === 0 || i === 3 ? 1 : 0);
      });
    }
  }
  return values;
}
