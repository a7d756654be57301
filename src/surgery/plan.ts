// The plan every method returns and surgery applies (docs/methods.md §1.2): kept channels per dependency
// group, plus optional compensation. Validation lives here, next to the types it checks, so every
// writer of plans (methods, tests, users) is held to the same rules.
import { PrunekitError } from "../errors.ts";
import { type DependencyGroup, pathIsMergeSafe, streamIsMergeSafe } from "../graph/group.ts";
import type { TensorValues } from "./model-patch.ts";

/**
 * How one removed channel is folded into a kept one by the consumers of its group
 * (Neuron Merging's scaling matrix Z, docs/methods.md §2.2, stored by rows: Z[from, into] = scale).
 * For every consumer weight W' with input axis over the group's channels:
 *   W'_new[.., into, ..] = W'[.., into, ..] + Σ scale · W'[.., from, ..]   (then `from` is removed).
 */
export interface ChannelMerge {
  /** Removed channel index in the group's original channel space. */
  from: number;
  /** Kept channel index (original channel space) that absorbs it. */
  into: number;
  /** Non-negative scale z. */
  scale: number;
}

/** What to do with one dependency group. Groups not listed in a plan are left unchanged. */
export interface GroupPlan {
  /** `DependencyGroup.id` from graph/find-groups.ts. */
  groupId: number;
  /** Kept channel indices of the group's original channel space, ascending, at least one. */
  keep: number[];
  /** Optional compensation; every `from` must be a removed channel and every `into` a kept one. */
  merges?: ChannelMerge[];
  /**
   * Facts the method reports about this group (EPruner: exemplars, labels, iterations, converged,
   * beta); copied into the report's layer entries. Surgery ignores them.
   */
  details?: Readonly<Record<string, unknown>>;
}

/** The output of every method: kept channels per group plus optional compensation. Surgery applies it. */
export interface PrunePlan {
  /** Name of the method that made the plan, e.g. "merge", "l1". */
  method: string;
  /** One entry per group to change. */
  groups: GroupPlan[];
  /**
   * New data for named tensors in their ORIGINAL shapes (re-initialised or trained weights), patched
   * before the slices (surgery/apply.ts SurgeryOptions.values).
   */
  values?: TensorValues;
  /** Facts the method reports about the whole plan (EPruner's budget search: the β it chose). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Check one group's plan against its group.
 * @returns the removed channels, ascending.
 * @throws PrunekitError `PLAN_INVALID` (frozen group, empty, unsorted or out-of-range kept set, unequal
 *   blocks, a merge whose source is kept or target removed, a merge across blocks, a negative or
 *   non-finite scale); `UNSAFE_MERGE` (merges across a path that is not positively homogeneous).
 */
export function validateGroupPlan(
  group: DependencyGroup,
  keep: number[],
  merges: ChannelMerge[] | undefined,
  inputsOf?: (node: string) => readonly string[],
): number[] {
  const where = `plan for group ${group.id} (${group.producers.map((p) => `"${p.node}"`).join(", ")})`;
  if (group.frozen) {
    throw new PrunekitError(
      "PLAN_INVALID",
      `${where}: the group is frozen and cannot be pruned: ${group.frozenReasons.join("; ")}`,
    );
  }
  if (keep.length === 0) {
    throw new PrunekitError("PLAN_INVALID", `${where}: keeps no channel; every layer must keep at least one`);
  }
  for (let i = 0; i < keep.length; i++) {
    const k = keep[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= group.channels) {
      throw new PrunekitError("PLAN_INVALID", `${where}: kept index ${k} is outside [0, ${group.channels})`);
    }
    if (i > 0 && k <= keep[i - 1]!) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `${where}: kept indices must be strictly ascending (at position ${i})`,
      );
    }
  }
  const kept = new Set(keep);
  const removed: number[] = [];
  for (let c = 0; c < group.channels; c++) if (!kept.has(c)) removed.push(c);
  const blockLen = group.channels / group.blocks;
  if (group.blocks > 1) {
    // Grouped convs (group.blocks): every block keeps the same count.
    const counts = new Array<number>(group.blocks).fill(0);
    for (const k of keep) counts[Math.floor(k / blockLen)]!++;
    if (counts.some((n) => n !== counts[0])) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `${where}: grouped convs split the ${group.channels} channels into ${group.blocks} blocks of ${blockLen}, and every block must keep the same count; the plan keeps [${counts.join(", ")}]`,
      );
    }
  }
  if (merges !== undefined && merges.length > 0) {
    // A residual stream's joins (Add of stream values) are safe when the graph says what they add.
    const stream = inputsOf !== undefined && (group.isResidual || group.producers.length > 1);
    if (!(stream ? streamIsMergeSafe(group, inputsOf) : pathIsMergeSafe(group))) {
      const bad = group.pathOps
        .filter((op) => !op.positivelyHomogeneous)
        .map((op) => `"${op.node}" (${op.opType})`);
      const why =
        bad.length > 0
          ? `ops ${bad.join(", ")} are not positively homogeneous`
          : "a consumer cannot absorb the merge";
      throw new PrunekitError(
        "UNSAFE_MERGE",
        `${where}: cannot fold removed channels into kept ones because ${why}; prune without merging or skip this layer`,
        { node: group.producers[0]?.node },
      );
    }
    const removedSet = new Set(removed);
    for (const m of merges) {
      if (!removedSet.has(m.from)) {
        throw new PrunekitError("PLAN_INVALID", `${where}: merge source ${m.from} is not a removed channel`);
      }
      if (!kept.has(m.into))
        throw new PrunekitError("PLAN_INVALID", `${where}: merge target ${m.into} is not a kept channel`);
      if (Math.floor(m.from / blockLen) !== Math.floor(m.into / blockLen)) {
        throw new PrunekitError(
          "PLAN_INVALID",
          `${where}: merge of channel ${m.from} into ${m.into} crosses a block of ${blockLen} channels; a grouped conv reads each block separately, so merges must stay inside one`,
        );
      }
      if (!Number.isFinite(m.scale) || m.scale < 0) {
        throw new PrunekitError(
          "PLAN_INVALID",
          `${where}: merge scale ${m.scale} for channel ${m.from} must be finite and >= 0`,
        );
      }
    }
  }
  return removed;
}

/**
 * Check a whole plan against the model's groups: every group id exists and appears once, and each
 * group plan passes {@link validateGroupPlan}.
 * @returns the removed channels of every planned group, by group id, in plan order.
 * @throws PrunekitError `PLAN_INVALID`, `UNSAFE_MERGE` (see validateGroupPlan).
 * @example
 * validatePlan(groups, { method: "l1", groups: [{ groupId: 0, keep: [0, 2] }] }); // Map { 0 => [1, ...] }
 */
export function validatePlan(
  groups: DependencyGroup[],
  plan: PrunePlan,
  inputsOf?: (node: string) => readonly string[],
): Map<number, number[]> {
  const removed = new Map<number, number[]>();
  for (const gp of plan.groups) {
    const group = groups[gp.groupId];
    if (group === undefined || group.id !== gp.groupId) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `plan names group ${gp.groupId}, but the model has groups 0..${groups.length - 1}`,
      );
    }
    if (removed.has(gp.groupId))
      throw new PrunekitError("PLAN_INVALID", `plan lists group ${gp.groupId} twice`);
    removed.set(gp.groupId, validateGroupPlan(group, gp.keep, gp.merges, inputsOf));
  }
  return removed;
}
