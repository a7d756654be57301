// Magnitude pruning: the baseline that keeps the filters with the largest L1 or L2 norm
// (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017). Data-free, no compensation.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup } from "../graph/groups.ts";
import type { Graph } from "../graph/ir.ts";
import { producerFilters } from "../graph/weights.ts";
import type { ExternalTensorData } from "../onnx/tensor.ts";
import { rowReduce } from "../wasm/kernels/reduce.ts";
import { blockKeptCount, type KeptRounding, keptCount, topIndicesInBlocks } from "./criteria.ts";
import type { MethodContext, PrunePlan } from "./plan.ts";

/** Options of {@link planMagnitude}. */
export interface MagnitudeOptions {
  /** Norm of each filter: "l1" (Li et al.'s choice) or "l2". */
  criterion: "l1" | "l2";
  /** Fraction of channels removed from every prunable group, 0..1. */
  ratio: number;
  /** Per-layer ratios by producer node name; override `ratio`. */
  layerRatios: Record<string, number>;
  /** Producer node names whose groups are left unpruned. */
  exclude: string[];
  /** How N·(1 − r) becomes an integer; default: "round" for linear layers, "floor" for convs (ALGORITHMS.md §2.3). */
  rounding: KeptRounding | undefined;
  /** External tensor bytes, when the model stores weights outside the file. */
  externalData: ExternalTensorData | undefined;
}

/** Defaults of {@link planMagnitude}. */
export const MAGNITUDE_DEFAULTS: MagnitudeOptions = {
  criterion: "l1",
  ratio: 0.5,
  layerRatios: {},
  exclude: [],
  rounding: undefined,
  externalData: undefined,
};

/** The rounding the published recipes use for a group: round for linear layers, floor for convs (§2.3). */
export function defaultRounding(group: DependencyGroup): KeptRounding {
  return group.producers.every((p) => p.opType === "Gemm" || p.opType === "MatMul") ? "round" : "floor";
}

/**
 * Ratio for a group: a per-layer ratio given for any of its producers, else the global one.
 * @throws PrunekitError `INVALID_ARGUMENT` for a ratio outside [0, 1].
 */
export function groupRatio(
  group: DependencyGroup,
  ratio: number,
  layerRatios: Record<string, number>,
): number {
  let r = ratio;
  for (const p of group.producers) {
    const own = layerRatios[p.node];
    if (own !== undefined) r = own;
  }
  if (!(r >= 0 && r <= 1)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `ratio for layer "${group.producers[0]?.node}" must be in [0, 1], got ${r}`,
    );
  }
  return r;
}

/** Check that every layer named in an option exists as a producer of some group. */
export function checkLayerNames(groups: DependencyGroup[], names: string[], option: string): void {
  const known = new Set(groups.flatMap((g) => g.producers.map((p) => p.node)));
  for (const n of names) {
    if (!known.has(n)) {
      const sample = [...known].slice(0, 8).join(", ");
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${option}: no prunable layer named "${n}" (layers: ${sample}${known.size > 8 ? ", ..." : ""})`,
      );
    }
  }
}

/**
 * Plan magnitude pruning over every prunable group. A residual group's channel score is the sum of
 * its producers' filter norms, so all tied layers keep the same channels.
 *
 * @param graph the model graph.
 * @param groups its dependency groups; frozen ones are skipped.
 * @param options criterion, ratio and per-layer overrides.
 * @param ctx the WASM kernels (norms) and progress reporting.
 * @returns the plan.
 * @throws PrunekitError `INVALID_ARGUMENT` for a bad ratio or an unknown layer name.
 * @example
 * const plan = await planMagnitude(graph, groups, { criterion: "l1", ratio: 0.5 }, { wasm: await getWasm() });
 */
export async function planMagnitude(
  graph: Graph,
  groups: DependencyGroup[],
  options: Partial<MagnitudeOptions>,
  ctx: MethodContext,
): Promise<PrunePlan> {
  const o: MagnitudeOptions = { ...MAGNITUDE_DEFAULTS, ...options };
  checkLayerNames(groups, Object.keys(o.layerRatios), "layer ratio");
  checkLayerNames(groups, o.exclude, "exclude");
  const plan: PrunePlan = { method: o.criterion, groups: [] };
  const candidates = groups.filter((g) => !g.frozen && !g.producers.some((p) => o.exclude.includes(p.node)));
  let done = 0;
  for (const group of candidates) {
    const r = groupRatio(group, o.ratio, o.layerRatios);
    // Grouped convs: a multiple of the group's blocks, the same number from each (criteria.ts).
    const count = blockKeptCount(
      keptCount(group.channels, r, o.rounding ?? defaultRounding(group)),
      group.blocks,
    );
    const scores = new Float64Array(group.channels);
    for (const producer of group.producers) {
      const f = producerFilters(graph, producer, o.externalData);
      const norms = rowReduce(ctx.wasm, o.criterion, f.data, f.rows, f.cols);
      for (let c = 0; c < group.channels; c++) scores[c]! += norms[c]!;
    }
    plan.groups.push({ groupId: group.id, keep: topIndicesInBlocks(scores, count, group.blocks) });
    ctx.onProgress?.({ phase: "scoring", done: ++done, total: candidates.length });
  }
  return plan;
}
