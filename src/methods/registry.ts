// The method table: every pruning method by name, with its planner, its defaults, the public option
// keys it accepts and whether it needs data. `prune()` and the CLI read this table; nothing else keeps a
// list of methods or of their options.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import type { PrunePlan } from "../surgery/plan.ts";
import { BUDGET_OPTION_KEYS } from "./budget.ts";
import type { MethodContext } from "./context.ts";
import { EPRUNER_DEFAULTS, type EPrunerOptions, planEPruner } from "./epruner.ts";
import { GATE_DEFAULTS, type GateOptions, planGate } from "./gate.ts";
import { MAGNITUDE_DEFAULTS, type MagnitudeOptions, planMagnitude } from "./magnitude.ts";
import { MERGE_DEFAULTS, type MergeOptions, planMerge } from "./merge.ts";

/** Names of the pruning methods. */
export type MethodName = "l1" | "l2" | "merge" | "epruner" | "gate";

/** Fine-tuning a method runs on its pruned model (Gate Decorator §4.7), as `finetune()` options. */
export interface MethodFinetune {
  epochs: number;
  lr: number;
  schedule: { kind: "triangular"; lrMin: number };
  momentum: number;
  weightDecay: number;
  batch: number;
  seed: number;
}

/** Options as the public API takes them (`PruneOptions` without `method` and the callbacks). */
export type PublicOptions = Readonly<Record<string, unknown>>;

/** One row of the method table. */
export interface MethodEntry {
  /** The method's name, as `--method` and `PruneOptions.method` spell it. */
  name: MethodName;
  /** One line for help texts. */
  summary: string;
  /** True if the method needs a dataset (scores from gradients, fine-tuning). */
  needsData: boolean;
  /** The method's `*_DEFAULTS`: the only place its defaults are written. */
  defaults: Readonly<Record<string, unknown>>;
  /** Public option keys the method accepts; any other given option is refused, never ignored. */
  optionKeys: readonly string[];
  /** The method's own options from the public ones (keys not given are left out, so defaults apply). */
  options(given: PublicOptions): Record<string, unknown>;
  /** The fine-tuning of the pruned model that belongs to the method, if any (options with defaults filled in). */
  finetune?: (used: Record<string, unknown>) => MethodFinetune | undefined;
  /** Plan the pruning (method options as {@link MethodEntry.options} returns them). */
  plan(
    graph: Graph,
    groups: DependencyGroup[],
    options: Record<string, unknown>,
    ctx: MethodContext,
  ): Promise<PrunePlan>;
}

/** The given public options among `keys`, undefined ones left out. */
function pick(given: PublicOptions, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (given[k] !== undefined) out[k] = given[k];
  return out;
}

/**
 * The budget options of a ratio method: with exact widths (`layers`) and no ratio given, the layers
 * not listed stay unpruned (ratio 0) rather than taking the default ratio.
 */
function budgetOptions(given: PublicOptions): Record<string, unknown> {
  const o = pick(given, BUDGET_OPTION_KEYS);
  const layers = given.layers as Record<string, number> | undefined;
  if (layers !== undefined && Object.keys(layers).length > 0 && given.ratio === undefined) o.ratio = 0;
  return o;
}

const EPRUNER_KEYS = [
  "beta",
  "layerBetas",
  "lateBeta",
  "exclude",
  "init",
  "merge",
  "targetParams",
  "targetMacs",
  "onNoConvergence",
  "noiseSeed",
  "seed",
  "roundTo",
] as const;

const GATE_KEYS = [
  "flopsTarget",
  "tickRatio",
  "sparseLambda",
  "tockEpochs",
  "ticksPerTock",
  "lrMin",
  "lrMax",
  "minRatio",
  "eta",
  "tickSubset",
  "batch",
  "seed",
  "augment",
  "evalLimit",
  "exclude",
  "finetuneEpochs",
  "tickFreezeLinear",
  "roundTo",
] as const;

const MERGE_KEYS = [
  "criterion",
  "threshold",
  "lambda",
  "bnFormula",
  "skipUnsafe",
  "pruneUnsafe",
  "workers",
  "mergeResidual",
] as const;

function magnitude(criterion: "l1" | "l2"): MethodEntry {
  return {
    name: criterion,
    summary: `magnitude pruning: keep the filters with the largest ${criterion === "l1" ? "L1" : "L2"} norm (Li et al. 2017)`,
    needsData: false,
    defaults: { ...MAGNITUDE_DEFAULTS, criterion },
    optionKeys: BUDGET_OPTION_KEYS,
    options: (given) => ({ ...budgetOptions(given), criterion }),
    plan: (graph, groups, options, ctx) =>
      planMagnitude(graph, groups, options as Partial<MagnitudeOptions>, ctx),
  };
}

/** Every method, in the order help texts list them. */
export const METHODS: Readonly<Record<MethodName, MethodEntry>> = {
  l1: magnitude("l1"),
  l2: magnitude("l2"),
  merge: {
    name: "merge",
    summary:
      "Neuron Merging (Kim et al. 2020): prune, then fold each removed filter into its most similar kept one; data-free",
    needsData: false,
    defaults: { ...MERGE_DEFAULTS },
    // `merge: false` is the public spelling of MergeOptions.mode "prune" (plain pruning, same kept sets).
    optionKeys: [...BUDGET_OPTION_KEYS, ...MERGE_KEYS, "merge"],
    options: (given) => {
      const o = { ...budgetOptions(given), ...pick(given, MERGE_KEYS) };
      if (given.merge !== undefined) o.mode = given.merge === false ? "prune" : "merge";
      return o;
    },
    plan: (graph, groups, options, ctx) => planMerge(graph, groups, options as Partial<MergeOptions>, ctx),
  },
  epruner: {
    name: "epruner",
    summary:
      "EPruner (Lin et al., TNNLS): affinity propagation on each conv's filters keeps the exemplars, so widths adapt per layer (beta); data-free",
    needsData: false,
    defaults: { ...EPRUNER_DEFAULTS },
    optionKeys: EPRUNER_KEYS,
    options: (given) => pick(given, EPRUNER_KEYS),
    plan: (graph, groups, options, ctx) =>
      planEPruner(graph, groups, options as Partial<EPrunerOptions>, ctx),
  },
  gate: {
    name: "gate",
    summary:
      "Gate Decorator (You et al. 2019): gated BNs scored by |g·dL/dg| (Tick), L1-sparse training (Tock), global pruning to a MACs target; needs --data",
    needsData: true,
    defaults: { ...GATE_DEFAULTS },
    optionKeys: GATE_KEYS,
    options: (given) => pick(given, GATE_KEYS),
    // §4.7: triangular 1e-3 → 1e-2 → 1e-3, momentum 0, weight decay 5e-4, on the pruned model.
    finetune: (used) => {
      const o = used as unknown as GateOptions;
      if (!(o.finetuneEpochs > 0)) return undefined;
      return {
        epochs: o.finetuneEpochs,
        lr: o.lrMax,
        schedule: { kind: "triangular", lrMin: o.lrMin },
        momentum: 0,
        weightDecay: 5e-4,
        batch: o.batch,
        seed: o.seed,
      };
    },
    plan: (graph, groups, options, ctx) => planGate(graph, groups, options as Partial<GateOptions>, ctx),
  },
};

/** The method names, in table order. */
export const METHOD_NAMES: readonly MethodName[] = Object.keys(METHODS) as MethodName[];

/**
 * The table row of a method.
 * @throws PrunekitError `INVALID_ARGUMENT` for an unknown name, listing the known ones.
 * @example
 * methodEntry("merge").defaults.lambda; // 0.85
 */
export function methodEntry(name: unknown): MethodEntry {
  if (typeof name === "string" && Object.hasOwn(METHODS, name)) return METHODS[name as MethodName];
  throw new PrunekitError(
    "INVALID_ARGUMENT",
    `unknown method "${String(name)}"; expected ${METHOD_NAMES.slice(0, -1).join(", ")} or ${METHOD_NAMES.at(-1)}`,
  );
}

/**
 * Refuse given options that the method does not take, naming the methods that do.
 * @param entry the chosen method.
 * @param given the public options (only keys with defined values count).
 * @param ignore keys that every method takes (method, callbacks).
 * @throws PrunekitError `INVALID_ARGUMENT`, e.g. `option threshold apply to method "merge" only, not "l1"`.
 */
export function refuseForeignOptions(
  entry: MethodEntry,
  given: PublicOptions,
  ignore: readonly string[],
): void {
  const foreign = Object.keys(given).filter(
    (k) => given[k] !== undefined && !ignore.includes(k) && !entry.optionKeys.includes(k),
  );
  if (foreign.length === 0) return;
  // Report in table order (the order the options are documented in).
  const order = [...new Set(METHOD_NAMES.flatMap((m) => METHODS[m].optionKeys))];
  const unknown = foreign.filter((k) => !order.includes(k));
  if (unknown.length > 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} for method "${entry.name}"; it takes ${entry.optionKeys.join(", ")}`,
    );
  }
  foreign.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const owners = (k: string) => METHOD_NAMES.filter((m) => METHODS[m].optionKeys.includes(k));
  const byOwners = new Map<string, string[]>();
  for (const k of foreign) {
    const who = owners(k)
      .map((m) => `"${m}"`)
      .join(", ");
    byOwners.set(who, [...(byOwners.get(who) ?? []), k]);
  }
  const parts = [...byOwners].map(
    ([who, keys]) => `option${keys.length > 1 ? "s" : ""} ${keys.join(", ")} apply to method ${who} only`,
  );
  throw new PrunekitError("INVALID_ARGUMENT", `${parts.join("; ")}, not "${entry.name}"`);
}
