// How many channels each group keeps: the one place that turns a method's width options (a global
// ratio, per-layer ratios, exact counts, exclusions, rounding) and a group's block constraint into a kept
// count (docs/methods.md §2.3). Every method reads its counts here; a global MACs or parameter target
// (Gate Decorator's FLOPs target, §4.5) will be one more budget kind next to these.
import { PrunekitError } from "../errors.ts";
import { type AxisRemovals, countModel } from "../graph/count.ts";
import type { DependencyGroup } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import type { ShapeInfo } from "../graph/shapes.ts";
import { blockKeptCount, type KeptRounding, keptCount } from "./criteria.ts";

/** Rounding of N·(1 − r) (criteria.ts KeptRounding), or `auto`: the published recipes' choice per layer. */
export type BudgetRounding = KeptRounding | "auto";

/** Width options shared by every method that prunes by ratio. Layer names are producer node names. */
export interface BudgetOptions {
  /** Fraction of channels removed from every prunable group, in [0, 1]. */
  ratio: number;
  /** Per-layer ratios, overriding `ratio` for the group of that producer. */
  layerRatios: Record<string, number>;
  /**
   * Exact kept counts per layer (win over ratios), e.g. VGG-16's fixed widths (§2.7). A multiple of the
   * group's `blocks` (grouped convs), at most its channels.
   */
  layers: Record<string, number>;
  /** Layers whose groups are left unpruned. */
  exclude: string[];
  /**
   * How N·(1 − r) becomes an integer (§2.3). `auto`: `round` when every producer of the group is fully
   * connected (Gemm/MatMul, the LeNet recipe), `floor` otherwise (the ResNet stage configs).
   */
  rounding: BudgetRounding;
  /**
   * Hardware-friendly widths (beyond the papers): every pruned group's kept count rounded to the nearest
   * multiple of this (with grouped convs, of lcm(roundTo, blocks)), never above the original count and
   * at least one multiple ({@link roundKeptCount}). 1: no rounding.
   */
  roundTo: number;
}

/**
 * Defaults of {@link BudgetOptions}. The ratio has no published default; 0.5 is the first
 * LeNet-300-100 row of §5. Rounding follows the published recipes (`auto`).
 */
export const BUDGET_DEFAULTS: BudgetOptions = {
  ratio: 0.5,
  layerRatios: {},
  layers: {},
  exclude: [],
  rounding: "auto",
  roundTo: 1,
};

/** The keys of {@link BudgetOptions}, for option tables. */
export const BUDGET_OPTION_KEYS: readonly (keyof BudgetOptions)[] = [
  "ratio",
  "layerRatios",
  "layers",
  "exclude",
  "rounding",
  "roundTo",
];

const FC_OPS: ReadonlySet<string> = new Set(["Gemm", "MatMul"]);
const ROUNDINGS: readonly BudgetRounding[] = ["auto", "round", "floor", "corrected"];

/** The rounding `auto` means for a group: round for fully connected producers, floor for convs (§2.3). */
export function defaultRounding(group: DependencyGroup): KeptRounding {
  return group.producers.every((p) => FC_OPS.has(p.opType)) ? "round" : "floor";
}

/**
 * Check budget options against the model: ratios in [0, 1], kept counts positive integers, a known
 * rounding, and every named layer a producer of some group.
 *
 * @param groups the model's dependency groups.
 * @param o the options, defaults filled in.
 * @param method the method's name, for messages.
 * @throws PrunekitError `INVALID_ARGUMENT` naming the option and the value.
 * @example
 * checkBudget(groups, { ...BUDGET_DEFAULTS, ratio: 0.3 }, "l1");
 */
export function checkBudget(groups: DependencyGroup[], o: BudgetOptions, method: string): void {
  const ratioOk = (r: unknown) => typeof r === "number" && r >= 0 && r <= 1;
  if (!ratioOk(o.ratio)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      typeof o.ratio === "number"
        ? `${method}: ratio must be in [0, 1] (fraction removed), got ${o.ratio}`
        : `${method}: ratio must be a number in [0, 1] (fraction removed), got the ${typeof o.ratio} ${JSON.stringify(o.ratio)}`,
    );
  }
  for (const [name, r] of Object.entries(o.layerRatios)) {
    if (!ratioOk(r)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${method}: layerRatios["${name}"] must be in [0, 1], got ${r}`,
        { node: name },
      );
    }
  }
  for (const [name, k] of Object.entries(o.layers)) {
    if (!Number.isInteger(k) || k < 1) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${method}: layers["${name}"] must be a kept count >= 1, got ${k}`,
        { node: name },
      );
    }
  }
  if (!ROUNDINGS.includes(o.rounding)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${method}: rounding must be "auto", "round", "floor" or "corrected", got ${String(o.rounding)}`,
    );
  }
  if (!Array.isArray(o.exclude)) {
    throw new PrunekitError("INVALID_ARGUMENT", `${method}: exclude must be a list of layer names`);
  }
  checkRoundTo(o.roundTo, method);
  for (const n of Object.keys(o.layerRatios)) layerNodeName(groups, n, "layer ratio");
  for (const n of Object.keys(o.layers)) layerNodeName(groups, n, "layers");
  for (const n of o.exclude) layerNodeName(groups, n, "exclude");
}

/**
 * The producer node a layer name means: the node's own name (as `prunekit info` shows it) or the name
 * of its weight tensor (the PyTorch parameter name, e.g. `features.24.weight`).
 *
 * @param groups the model's dependency groups (their producers are the layers that can be named).
 * @param name a node or weight tensor name.
 * @param option the option or flag that named it, for the message.
 * @returns the producer's node name.
 * @throws PrunekitError `INVALID_ARGUMENT` for an unknown name, listing the layers that exist.
 * @example
 * layerNodeName(groups, "features.24.weight", "exclude"); // "/features/features.24/Conv"
 */
export function layerNodeName(groups: DependencyGroup[], name: string, option: string): string {
  const producers = groups.flatMap((g) => g.producers);
  const hit = producers.find((p) => p.node === name) ?? producers.find((p) => p.weight === name);
  if (hit !== undefined) return hit.node;
  const seen = new Set<string>();
  const names: string[] = [];
  for (const p of producers) {
    if (seen.has(p.node)) continue;
    seen.add(p.node);
    names.push(p.node === p.weight ? p.node : `${p.node} (weight ${p.weight})`);
  }
  const shown = names.slice(0, 12).join(", ");
  throw new PrunekitError(
    "INVALID_ARGUMENT",
    `${option}: no prunable layer named "${name}" (a layer is named by its node name or its weight tensor name); the ${names.length} prunable layers are ${shown}${names.length > 12 ? ", ... (prunekit info lists them all)" : ""}`,
    { node: name },
  );
}

/**
 * Check budget options ({@link checkBudget}) and return them with every layer name turned into its
 * producer's node name ({@link layerNodeName}), so that the rest of a method can compare node names.
 *
 * @param groups the model's dependency groups.
 * @param o the options, defaults filled in (not modified).
 * @param method the method's name, for messages.
 * @throws PrunekitError `INVALID_ARGUMENT` as {@link checkBudget}.
 * @example
 * const o = resolveBudget(groups, { ...BUDGET_DEFAULTS, exclude: ["conv1.weight"] }, "l1");
 * o.exclude; // ["/conv1/Conv"]
 */
export function resolveBudget<T extends BudgetOptions>(groups: DependencyGroup[], o: T, method: string): T {
  checkBudget(groups, o, method);
  const byNode = <V>(rec: Record<string, V>, option: string): Record<string, V> => {
    const out: Record<string, V> = {};
    for (const [n, v] of Object.entries(rec)) out[layerNodeName(groups, n, option)] = v;
    return out;
  };
  return {
    ...o,
    layerRatios: byNode(o.layerRatios, "layer ratio"),
    layers: byNode(o.layers, "layers"),
    exclude: o.exclude.map((n) => layerNodeName(groups, n, "exclude")),
  };
}

/** True if any producer of the group is excluded. */
export function isExcluded(group: DependencyGroup, o: BudgetOptions): boolean {
  return group.producers.some((p) => o.exclude.includes(p.node));
}

/**
 * Check `roundTo` (every method takes it): a positive integer.
 * @throws PrunekitError `INVALID_ARGUMENT` naming the value.
 * @example
 * checkRoundTo(8, "l1"); // fine; checkRoundTo(0, "l1") throws
 */
export function checkRoundTo(roundTo: unknown, method: string): void {
  if (!(typeof roundTo === "number" && Number.isInteger(roundTo) && roundTo >= 1 && roundTo <= 2 ** 20)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${method}: roundTo must be an integer >= 1 (kept counts become multiples of it; 1 is off), got ${JSON.stringify(roundTo)}`,
    );
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The step kept counts are rounded to: lcm(roundTo, blocks), so a result suits both constraints. */
export function roundingStep(roundTo: number, blocks: number): number {
  return (roundTo / gcd(roundTo, blocks)) * blocks;
}

/**
 * The hardware-friendly kept count (`roundTo`, beyond the papers): `raw` (a method's kept count, a
 * multiple of `blocks`) rounded to the nearest multiple of step = lcm(roundTo, blocks), halves up (the
 * larger width). Never above `channels` (then the multiple below), never below one step. Two cases keep
 * `raw` as it is: a group the method keeps whole (`raw` = `channels`: rounding never prunes a layer), and
 * a group with fewer channels than one step (no multiple fits; such a layer is too narrow to matter).
 *
 * @param raw the kept count before rounding, in [1, channels].
 * @param channels the group's channels.
 * @param roundTo the multiple asked for (1: no rounding).
 * @param blocks the group's block count (grouped convs), dividing `channels` and `raw`.
 * @returns the rounded kept count.
 * @example
 * roundKeptCount(11, 16, 8); // 8 (11 is nearer 8 than 16)
 * roundKeptCount(12, 16, 8); // 16 (a tie goes up)
 * roundKeptCount(19, 20, 8); // 16 (24 would exceed the layer)
 * roundKeptCount(3, 6, 8); // 3 (6 channels: no multiple of 8 fits)
 */
export function roundKeptCount(raw: number, channels: number, roundTo: number, blocks = 1): number {
  const step = roundingStep(roundTo, blocks);
  if (raw >= channels || channels < step) return raw;
  const lo = Math.max(step, Math.floor(raw / step) * step);
  const hi = Math.ceil(raw / step) * step;
  if (hi > channels) return lo;
  return hi - raw <= raw - lo ? hi : lo;
}

/** A group's kept count before and after `roundTo` ({@link groupKeptCounts}). */
export interface KeptCounts {
  /** The count from ratios, exact counts and blocks. */
  raw: number;
  /** After {@link roundKeptCount} (equal to `raw` without `roundTo`, and for exact counts). */
  kept: number;
}

/**
 * P, the channels a group keeps: an exact count given for one of its producers, else N·(1 − r) with the
 * group's ratio (a per-layer ratio of one of its producers, the last listed one winning, else the global
 * ratio) and rounding, then down to a positive multiple of the group's `blocks` (grouped convs), then to
 * a multiple of `roundTo` ({@link roundKeptCount}). Exact counts are used as given: with `roundTo`, an
 * exact count below the layer's width must already be a multiple of lcm(roundTo, blocks) (unless the
 * layer is narrower than that step).
 *
 * @param group the group (not frozen, not excluded: the caller decides that).
 * @param o checked options ({@link checkBudget}).
 * @param method the method's name, for messages.
 * @returns the count before `roundTo` (`raw`) and the count to keep (`kept`), in [blocks, channels].
 * @throws PrunekitError `INVALID_ARGUMENT` for an exact count larger than the layer, not a multiple of
 *   its blocks or of `roundTo`, or two producers of one group given different exact counts.
 * @example
 * groupKeptCounts(group, { ...BUDGET_DEFAULTS, ratio: 0.3, roundTo: 8 }, "l1"); // { raw: 44, kept: 48 } of 64
 */
export function groupKeptCounts(group: DependencyGroup, o: BudgetOptions, method: string): KeptCounts {
  const n = group.channels;
  let exact: number | undefined;
  let exactName = "";
  let ratio = o.ratio;
  for (const p of group.producers) {
    const k = o.layers[p.node];
    if (k !== undefined) {
      if (exact !== undefined && exact !== k) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `${method}: layers["${exactName}"] = ${exact} and layers["${p.node}"] = ${k}, but the two layers share their channels (one group) and must keep the same count`,
          { node: p.node },
        );
      }
      exact = k;
      exactName = p.node;
    }
    const r = o.layerRatios[p.node];
    if (r !== undefined) ratio = r;
  }
  const roundTo = o.roundTo ?? 1;
  if (exact !== undefined) {
    if (exact > n) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${method}: layers["${exactName}"] keeps ${exact} filters, but the layer has ${n}`,
        { node: exactName },
      );
    }
    if (exact % group.blocks !== 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${method}: layers["${exactName}"] keeps ${exact} filters, but grouped convs split its ${n} channels into ${group.blocks} blocks that must keep the same count; use a multiple of ${group.blocks}`,
        { node: exactName },
      );
    }
    const step = roundingStep(roundTo, group.blocks);
    if (exact < n && n >= step && exact % step !== 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${method}: layers["${exactName}"] keeps ${exact} filters, not a multiple of roundTo ${roundTo}${step === roundTo ? "" : ` and the ${group.blocks} blocks (${step})`}; give a multiple of ${step} or leave roundTo out`,
        { node: exactName },
      );
    }
    return { raw: exact, kept: exact };
  }
  const rounding = o.rounding === "auto" ? defaultRounding(group) : o.rounding;
  const raw = blockKeptCount(keptCount(n, ratio, rounding), group.blocks);
  return { raw, kept: roundKeptCount(raw, n, roundTo, group.blocks) };
}

/**
 * The kept count of {@link groupKeptCounts} (after `roundTo`).
 * @example
 * groupKeptCount(group, { ...BUDGET_DEFAULTS, ratio: 0.5 }, "l1"); // 32 of a 64-channel conv group
 */
export function groupKeptCount(group: DependencyGroup, o: BudgetOptions, method: string): number {
  return groupKeptCounts(group, o, method).kept;
}

/**
 * What a plan's group records when `roundTo` changed its count (the report's `keptBeforeRounding`).
 * @example
 * roundingDetails({ raw: 44, kept: 48 }); // { keptBeforeRounding: 44 }
 */
export function roundingDetails(c: KeptCounts): { keptBeforeRounding: number } | undefined {
  return c.raw === c.kept ? undefined : { keptBeforeRounding: c.raw };
}

/**
 * `roundTo` on a final channel mask (Gate Decorator's, whose widths come from a global ranking): the
 * live count rounded by {@link roundKeptCount} (one step more when that would fall below `minimal` and
 * the mask has room). Rounding up makes live the masked channels with the largest score; rounding down
 * masks the live channels with the smallest; ties by index (the lower one stays live).
 *
 * @param mask 1 for a live channel, 0 for a masked one (not modified).
 * @param scores one score per channel (larger: more important).
 * @param roundTo the multiple.
 * @param minimal the fewest live channels allowed (a protected minimum), default 1.
 * @returns the new mask.
 * @example
 * roundMask(Uint8Array.of(1, 1, 1, 1, 1, 0, 0, 0), [5, 4, 3, 2, 1, 0, 0, 0], 4); // [1, 1, 1, 1, 0, 0, 0, 0]
 */
export function roundMask(
  mask: Uint8Array,
  scores: ArrayLike<number>,
  roundTo: number,
  minimal = 1,
): Uint8Array {
  const n = mask.length;
  const live = mask.reduce((a, b) => a + b, 0);
  let target = roundKeptCount(live, n, roundTo);
  if (target < live && target < minimal && target + roundTo <= n) target += roundTo;
  const out = mask.slice();
  if (target === live) return out;
  const order = Array.from({ length: n }, (_, c) => c);
  if (target > live) {
    const up = order.filter((c) => out[c] === 0).sort((a, b) => scores[b]! - scores[a]! || a - b);
    for (const c of up.slice(0, target - live)) out[c] = 1;
  } else {
    const down = order.filter((c) => out[c] === 1).sort((a, b) => scores[a]! - scores[b]! || b - a);
    for (const c of down.slice(0, live - target)) out[c] = 0;
  }
  return out;
}

/** A global size target: the pruned model's parameters or MACs as a fraction of the original's. */
export interface SizeTarget {
  /** `params`: learnable parameters (graph/count.ts learnableParams); `macs`: conv and linear MACs. */
  kind: "params" | "macs";
  /** Fraction of the original, in (0, 1]. */
  fraction: number;
}

/**
 * The entries a plan would remove from each tensor, from kept counts per group (the same slices
 * surgery makes, docs/methods.md §1.2): producers' output axes and biases, members' parameter axes,
 * consumers' input axes (a grouped consumer loses the same share from each of its blocks).
 *
 * @param groups the model's dependency groups.
 * @param kept kept channel count by group id (groups not listed keep all).
 */
export function keptRemovals(groups: DependencyGroup[], kept: ReadonlyMap<number, number>): AxisRemovals {
  const out = new Map<string, Map<number, number>>();
  const cut = (tensor: string, axis: number, n: number) => {
    let m = out.get(tensor);
    if (m === undefined) {
      m = new Map();
      out.set(tensor, m);
    }
    m.set(axis, (m.get(axis) ?? 0) + n);
  };
  for (const [id, k] of kept) {
    const g = groups[id];
    if (g === undefined || k >= g.channels) continue;
    const r = g.channels - k;
    for (const p of g.producers) {
      cut(p.weight, p.outputAxis, r);
      if (p.bias !== undefined) cut(p.bias, 0, r);
    }
    for (const m of g.members) for (const q of m.params) cut(q.tensor, q.axis, r * m.blockSize);
    for (const c of g.consumers) cut(c.weight, c.inputAxis, (r * c.blockSize) / (c.group ?? 1));
  }
  return out;
}

/**
 * Parameters and MACs of the model a set of kept counts would give, without building it.
 *
 * @param graph the model graph.
 * @param shapes its shapes (graph/shapes.ts inferShapes; computed once by the caller).
 * @param groups its dependency groups.
 * @param kept kept channel count by group id.
 * @returns learnable parameters and MACs, as graph/count.ts counts them for the pruned model.
 * @example
 * plannedSize(graph, shapes, groups, new Map([[0, 16]])); // { params, macs } with group 0 at 16
 */
export function plannedSize(
  graph: Graph,
  shapes: ShapeInfo,
  groups: DependencyGroup[],
  kept: ReadonlyMap<number, number>,
): { params: number; macs: number } {
  const c = countModel(graph, shapes, keptRemovals(groups, kept));
  return { params: c.learnableParams, macs: c.macs };
}

/** The outcome of {@link bisectForTarget}. */
export interface BisectResult<T> {
  /** The chosen value of the searched knob. */
  x: number;
  /** What the evaluation gave there. */
  value: T;
  /** The size fraction reached there (≤ the target unless `met` is false). */
  fraction: number;
  /** False when even the strongest pruning searched does not reach the target. */
  met: boolean;
  /** Evaluations made. */
  evaluations: number;
}

/**
 * Bisection on a pruning knob x ≥ 0 (EPruner's global β; a ratio for other methods) whose size
 * fraction falls as x grows: the smallest x (to `tolerance`) whose fraction is ≤ `target`, i.e. the
 * least pruning that meets the budget. The upper end starts at `start` and doubles until the
 * target is met or `limit` is passed. The size need not fall strictly; where it does not, the search
 * returns one x that meets the target with a smaller-x neighbour that does not.
 *
 * @param evaluate plans at x: the plan's value and its size fraction of the original.
 * @param target the fraction to reach, in (0, 1].
 * @param options start of the upper end, its limit, and the tolerance on x.
 * @throws PrunekitError `INVALID_ARGUMENT` for a target outside (0, 1].
 * @example
 * const r = await bisectForTarget(async (beta) => { const p = plan(beta); return { value: p, fraction: size(p) }; }, 0.5);
 */
export async function bisectForTarget<T>(
  evaluate: (x: number) => Promise<{ value: T; fraction: number }> | { value: T; fraction: number },
  target: number,
  options: { start?: number; limit?: number; tolerance?: number; lower?: number } = {},
): Promise<BisectResult<T>> {
  if (!(target > 0 && target <= 1)) {
    throw new PrunekitError("INVALID_ARGUMENT", `size target must be a fraction in (0, 1], got ${target}`);
  }
  const tolerance = options.tolerance ?? 1e-3;
  const limit = options.limit ?? 64;
  let evaluations = 0;
  const at = async (x: number) => {
    evaluations++;
    return { x, ...(await evaluate(x)) };
  };
  let lo = await at(options.lower ?? 0);
  if (lo.fraction <= target) return { ...lo, met: true, evaluations };
  let hi = await at(options.start ?? 1);
  while (hi.fraction > target) {
    if (hi.x >= limit) return { ...hi, met: false, evaluations };
    lo = hi;
    hi = await at(Math.min(limit, hi.x * 2));
  }
  while (hi.x - lo.x > tolerance) {
    const mid = await at((lo.x + hi.x) / 2);
    if (mid.fraction <= target) hi = mid;
    else lo = mid;
  }
  return { ...hi, met: true, evaluations };
}
