// One pruning step of Gate Decorator, "prune num filters globally" (docs/methods.md §4.4): a pure
// function of the group scores and masks, so that every edge case is tested on plain arrays.

/** One group as the pruning step sees it. */
export interface StepGroup {
  /** Per-channel score (§4.2, summed over members §4.3); 0 for masked channels. */
  scores: Float64Array;
  /** 1 live, 0 pruned. Not modified. */
  mask: Uint8Array;
  /** Protected minimum `max(1, floor(0.1·C))`. */
  minimal: number;
  /** Number of gated BNs sharing the mask (§4.3); its candidates are listed that many times. */
  count: number;
}

/** What {@link pruneGlobally} did. */
export interface StepResult {
  /** The new masks (each the old one multiplied by the step's mask), in input order. */
  masks: Uint8Array[];
  /** `floor(p·remaining)` (or at least 1 with `atLeastOne`), before clamping. */
  num: number;
  /** Live channels over all GBNs, members counted separately. */
  remaining: number;
  /** The threshold τ, or undefined when there was no candidate. */
  threshold: number | undefined;
  /** Group channels masked by this step (each group channel once). */
  removed: number;
  /** Of those, live channels whose score was exactly 0 (§4.4: they fall below τ). */
  removedZeroScore: number;
  /** Why nothing was pruned, when nothing was. */
  stopped?: "no-candidates" | "num-zero";
}

/**
 * §4.4: `num = floor(p·remaining)`; every group's scores sorted ascending, its `minimal` highest
 * protected, zeros (masked) dropped, the rest appended `count` times to one global list; num clamped to
 * `len − 1`, τ = sorted[num]; a channel stays where score ≥ the group's smallest protected score or
 * score > τ. Masks never come back.
 * @param groups the gate groups' scores and masks.
 * @param ratio p, the fraction of the remaining channels to prune (0..1).
 * @param options `atLeastOne`: use max(1, num) (§4.9, when a FLOPs target is set).
 * @example
 * pruneGlobally([{ scores: Float64Array.of(3, 1, 2), mask: Uint8Array.of(1, 1, 1), minimal: 1, count: 1 }], 0.5);
 * // masks [[1, 0, 0]]: num = floor(0.5·3) = 1, candidates [1, 2], τ = 2; the protected 3 stays
 */
export function pruneGlobally(
  groups: readonly StepGroup[],
  ratio: number,
  options: { atLeastOne?: boolean } = {},
): StepResult {
  let remaining = 0;
  for (const g of groups) {
    let live = 0;
    for (const m of g.mask) live += m;
    remaining += live * g.count;
  }
  let num = Math.floor(ratio * remaining);
  if (options.atLeastOne === true) num = Math.max(1, num);
  const unchanged = (stopped: StepResult["stopped"]): StepResult => ({
    masks: groups.map((g) => g.mask.slice()),
    num,
    remaining,
    threshold: undefined,
    removed: 0,
    removedZeroScore: 0,
    ...(stopped === undefined ? {} : { stopped }),
  });
  if (num === 0) return unchanged("num-zero");
  const candidates: number[] = [];
  const protectedMin: number[] = [];
  for (const g of groups) {
    const sorted = Array.from(g.scores).sort((a, b) => a - b);
    const keep = Math.min(g.minimal, sorted.length);
    protectedMin.push(keep > 0 ? sorted[sorted.length - keep]! : Number.POSITIVE_INFINITY);
    const rest = sorted.slice(0, sorted.length - keep).filter((s) => s !== 0);
    for (let k = 0; k < g.count; k++) candidates.push(...rest);
  }
  if (candidates.length === 0) return unchanged("no-candidates");
  candidates.sort((a, b) => a - b);
  num = Math.min(num, candidates.length - 1);
  const tau = candidates[num]!;
  let removed = 0;
  let removedZeroScore = 0;
  const masks = groups.map((g, i) => {
    const out = g.mask.slice();
    const floor = protectedMin[i]!;
    for (let c = 0; c < out.length; c++) {
      const s = g.scores[c]!;
      const keep = s >= floor || s > tau;
      if (!keep && out[c] === 1) {
        out[c] = 0;
        removed++;
        if (s === 0) removedZeroScore++;
      }
    }
    return out;
  });
  return { masks, num, remaining, threshold: tau, removed, removedZeroScore };
}
