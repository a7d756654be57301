// How many channels each group keeps: the one place that turns a method's width options (a global
// ratio, per-layer ratios, exact counts, exclusions, rounding) and a group's block constraint into a kept
// count (docs/methods.md §2.3). Every method reads its counts here; a global MACs or parameter target
// (Gate Decorator's FLOPs target, §4.5) will be one more budget kind next to these.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup } from "../graph/group.ts";
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
};

/** The keys of {@link BudgetOptions}, for option tables. */
export const BUDGET_OPTION_KEYS: readonly (keyof BudgetOptions)[] = [
  "ratio",
  "layerRatios",
  "layers",
  "exclude",
  "rounding",
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
      `${method}: ratio must be in [0, 1] (fraction removed), got ${o.ratio}`,
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
  checkLayerNames(groups, Object.keys(o.layerRatios), "layer ratio");
  checkLayerNames(groups, Object.keys(o.layers), "layers");
  checkLayerNames(groups, o.exclude, "exclude");
}

/** Check that every layer named in an option exists as a producer of some group. */
function checkLayerNames(groups: DependencyGroup[], names: string[], option: string): void {
  const known = new Set(groups.flatMap((g) => g.producers.map((p) => p.node)));
  for (const n of names) {
    if (!known.has(n)) {
      const sample = [...known].slice(0, 8).join(", ");
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${option}: no prunable layer named "${n}" (layers: ${sample}${known.size > 8 ? ", ..." : ""})`,
        { node: n },
      );
    }
  }
}

/** True if any producer of the group is excluded. */
export function isExcluded(group: DependencyGroup, o: BudgetOptions): boolean {
  return group.producers.some((p) => o.exclude.includes(p.node));
}

/**
 * P, the channels a group keeps: an exact count given for one of its producers, else N·(1 − r) with the
 * group's ratio (a per-layer ratio of one of its producers, the last listed one winning, else the global
 * ratio) and rounding, then down to a positive multiple of the group's `blocks` (grouped convs).
 *
 * @param group the group (not frozen, not excluded: the caller decides that).
 * @param o checked options ({@link checkBudget}).
 * @param method the method's name, for messages.
 * @returns P in [blocks, channels].
 * @throws PrunekitError `INVALID_ARGUMENT` for an exact count larger than the layer, not a multiple of
 *   its blocks, or two producers of one group given different exact counts.
 * @example
 * groupKeptCount(group, { ...BUDGET_DEFAULTS, ratio: 0.5 }, "l1"); // 32 of a 64-channel conv group
 */
export function groupKeptCount(group: DependencyGroup, o: BudgetOptions, method: string): number {
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
    return exact;
  }
  const rounding = o.rounding === "auto" ? defaultRounding(group) : o.rounding;
  return blockKeptCount(keptCount(n, ratio, rounding), group.blocks);
}
