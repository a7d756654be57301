// Magnitude pruning: the baseline that keeps the filters with the largest L1 or L2 norm
// (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017). Data-free, no compensation.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup, GroupProducer } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import { producerFilters } from "../graph/weights.ts";
import { viewFloat32 } from "../onnx/tensor.ts";
import type { PrunePlan } from "../surgery/plan.ts";
import { filterVectorNorms } from "../wasm/kernels/filter-vectors.ts";
import {
  BUDGET_DEFAULTS,
  type BudgetOptions,
  groupKeptCounts,
  isExcluded,
  resolveBudget,
  roundingDetails,
} from "./budget.ts";
import type { MethodContext } from "./context.ts";
import { topIndicesInBlocks } from "./criteria.ts";

/** Options of {@link planMagnitude}: the criterion and the widths (budget.ts). */
export interface MagnitudeOptions extends BudgetOptions {
  /** Norm of each filter: "l1" (Li et al.'s choice) or "l2". */
  criterion: "l1" | "l2";
}

/** Defaults of {@link planMagnitude}: Li et al.'s l1-norm and the shared width defaults. */
export const MAGNITUDE_DEFAULTS: MagnitudeOptions = { ...BUDGET_DEFAULTS, criterion: "l1" };

/**
 * Plan magnitude pruning over every prunable group. A residual group's channel score is the sum of
 * its producers' filter norms, so all tied layers keep the same channels.
 *
 * @param graph the model graph.
 * @param groups its dependency groups; frozen ones are skipped.
 * @param options criterion and widths (budget.ts: ratio, per-layer ratios, exact counts, exclusions).
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
  const given: MagnitudeOptions = { ...MAGNITUDE_DEFAULTS, ...options };
  if (given.criterion !== "l1" && given.criterion !== "l2") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `magnitude: criterion must be "l1" or "l2", got ${String(given.criterion)}`,
    );
  }
  // Layer names may be node or weight tensor names; from here on they are node names.
  const o = resolveBudget(groups, given, given.criterion);
  const plan: PrunePlan = { method: o.criterion, groups: [] };
  const candidates = groups.filter((g) => !g.frozen && !isExcluded(g, o));
  let done = 0;
  for (const group of candidates) {
    // Grouped convs: a multiple of the group's blocks, the same number from each (budget.ts).
    const counts = groupKeptCounts(group, o, o.criterion);
    const count = counts.kept;
    const scores = new Float64Array(group.channels);
    for (const producer of group.producers) {
      const f = filtersToRead(graph, producer);
      // The rows stream through wasm memory in blocks (the bits of rowReduce on the whole matrix).
      const norms = filterVectorNorms(ctx.wasm, o.criterion, { weights: f.data, rows: f.rows, cols: f.cols });
      for (let c = 0; c < group.channels; c++) scores[c]! += norms[c]!;
    }
    const details = roundingDetails(counts);
    plan.groups.push({
      groupId: group.id,
      keep: topIndicesInBlocks(scores, count, group.blocks),
      ...(details === undefined ? {} : { details }),
    });
    ctx.onProgress?.({ phase: "scoring", done: ++done, total: candidates.length });
  }
  return plan;
}

/**
 * The producer's filters for reading only: a weight with its filters on axis 0 (Conv, Gemm transB=1)
 * is a view of the model's bytes when they allow it (onnx/tensor.ts viewFloat32, no copy of a 1 GiB
 * weight); other layouts go through producerFilters' transposed copy.
 */
function filtersToRead(
  graph: Graph,
  producer: GroupProducer,
): { data: Float32Array; rows: number; cols: number } {
  const w = graph.constants.get(producer.weight);
  const rows = w?.dims[0];
  if (producer.outputAxis !== 0 || w === undefined || rows === undefined || rows === 0) {
    return producerFilters(graph, producer);
  }
  const data = viewFloat32(w, graph.externalData);
  return { data, rows, cols: data.length / rows };
}
