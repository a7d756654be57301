// Gate Decorator's groups and folding (docs/methods.md §4.3, §4.6): which gated BNs share one mask (read
// from the dependency groups, never from names), the group scores, and the gates folded back into the
// BN initializers. Pure functions over the graph analysis; the training lives in gate.ts.
import type { DependencyGroup } from "../graph/group.ts";
import type { TensorValues } from "../surgery/model-patch.ts";

/** One gated BN's share of a group: its channels `offset .. offset + group.channels`. */
export interface GateMember {
  /** The BatchNormalization node's name (its gate parameters are `<node>#gate`, `#shift`, `#mask`). */
  node: string;
  /** Offset of the group's channels in the BN's channels (non-zero after a Concat). */
  offset: number;
  /** The BN's scale and B initializer names. */
  scale: string;
  bias: string;
}

/** A set of gated BNs sharing one mask (§4.3): one dependency group with every member a BN. */
export interface GateGroup {
  /** `DependencyGroup.id`. */
  groupId: number;
  /** Channels of the group (the same for every member). */
  channels: number;
  /** The gated BNs of the group; `count(group)` of §4.3 is their number. */
  members: GateMember[];
  /** Protected minimum `max(1, floor(minRatio·C))` (§4.3). */
  minimal: number;
}

/** Ops after a masked BN that keep a zero channel at zero (so removing it is exact, §4.1). */
const ZERO_PRESERVING: ReadonlySet<string> = new Set([
  "Relu",
  "LeakyRelu",
  "PRelu",
  "Tanh",
  "HardSwish",
  "Clip",
  "MaxPool",
  "AveragePool",
  "GlobalAveragePool",
  "GlobalMaxPool",
  "Flatten",
  "Reshape",
  "Squeeze",
  "Unsqueeze",
  "Identity",
  "Dropout",
  "Add",
  "Sum",
  "Concat",
  "Pad",
  "Transpose",
  "BatchNormalization",
]);

/**
 * The gate groups of a model (§4.3): every prunable dependency group whose producers are each followed
 * by a BatchNormalization, with all of its BN members gated and sharing the group's mask. Residual adds
 * join BNs through the dependency graph, so a stage's last block BNs, its shortcut BN (and the stem BN
 * of the first stage) come out as one group.
 * @param groups the model's dependency groups (graph/find-groups.ts).
 * @param minRatio the protected minimum ratio (§4.8: 0.1).
 * @returns the gate groups and, for every other group, why it is not gated.
 */
export function findGateGroups(
  groups: readonly DependencyGroup[],
  minRatio: number,
): { gateGroups: GateGroup[]; skipped: { groupId: number; reason: string }[] } {
  const gateGroups: GateGroup[] = [];
  const skipped: { groupId: number; reason: string }[] = [];
  for (const g of groups) {
    const why = ungatedReason(g);
    if (why !== undefined) {
      skipped.push({ groupId: g.id, reason: why });
      continue;
    }
    const members = g.members
      .filter((m) => m.opType === "BatchNormalization")
      .map((m) => ({
        node: m.node,
        offset: m.channelOffset,
        scale: m.params.find((p) => p.role === "bn-scale")!.tensor,
        bias: m.params.find((p) => p.role === "bn-bias")!.tensor,
      }));
    gateGroups.push({
      groupId: g.id,
      channels: g.channels,
      members,
      minimal: Math.max(1, Math.floor(minRatio * g.channels)),
    });
  }
  return { gateGroups, skipped };
}

function ungatedReason(g: DependencyGroup): string | undefined {
  if (g.frozen) return g.frozenReasons.join("; ");
  if (g.blocks > 1) return "grouped convs split its channels into blocks (not gated)";
  if (g.producers.length === 0) return "no producer";
  const bnOf = new Set(
    g.members
      .filter((m) => m.opType === "BatchNormalization" && m.follows !== undefined)
      .map((m) => m.follows),
  );
  const bare = g.producers.find((p) => !bnOf.has(p.node));
  if (bare !== undefined) {
    return `producer "${bare.node}" has no BatchNormalization right after it (conv gates, docs/methods.md §4.9, are not implemented)`;
  }
  const other = g.members.find((m) => m.opType !== "BatchNormalization" && m.kind !== "depthwise");
  if (other !== undefined) return `member "${other.node}" (${other.opType}) is not a BatchNormalization`;
  if (g.members.some((m) => m.blockSize !== 1)) return "a BN member spans flattened features";
  const bad = g.pathOps.find((p) => !ZERO_PRESERVING.has(p.opType) && p.opType !== "Conv");
  if (bad !== undefined) {
    return `"${bad.node}" (${bad.opType}) would not keep a masked channel at zero`;
  }
  return undefined;
}

/** The BN nodes of the gate groups (TrainerOptions.gatedBatchNorms). A BN after a Concat is in several. */
export function gatedBatchNorms(gateGroups: readonly GateGroup[]): Set<string> {
  return new Set(gateGroups.flatMap((g) => g.members.map((m) => m.node)));
}

/**
 * A group's per-channel score: the sum of its members' scores (§4.3), 0 where the mask is 0.
 * @param scores each gated BN's per-channel score, by node name.
 * @param mask the group's mask (1 live, 0 pruned).
 */
export function groupScores(
  group: GateGroup,
  scores: ReadonlyMap<string, Float64Array>,
  mask: Uint8Array,
): Float64Array {
  const out = new Float64Array(group.channels);
  for (const m of group.members) {
    const s = scores.get(m.node);
    if (s === undefined) continue;
    for (let c = 0; c < group.channels; c++) out[c]! += s[m.offset + c]!;
  }
  for (let c = 0; c < group.channels; c++) if (mask[c] === 0) out[c] = 0;
  return out;
}

/** The trained state of one gated BN. */
export interface GateState {
  gate: Float32Array;
  shift: Float32Array;
  mask: Float32Array;
}

/**
 * Fold the gates into the BN initializers (§4.6): γ := m·g and β := m·g·b', running statistics kept
 * (they are trained values of their own). The BN then computes exactly the gated BN in evaluation mode.
 * @param gates each gated BN's state, by node name.
 * @param members the BN members (scale and B tensor names), by node name.
 */
export function foldGates(
  gates: ReadonlyMap<string, GateState>,
  members: ReadonlyMap<string, GateMember>,
): TensorValues {
  const out = new Map<string, { data: Float32Array }>();
  for (const [node, s] of gates) {
    const m = members.get(node);
    if (m === undefined) continue;
    const gamma = new Float32Array(s.gate.length);
    const beta = new Float32Array(s.gate.length);
    for (let c = 0; c < gamma.length; c++) {
      const mg = Math.fround(s.mask[c]! * s.gate[c]!);
      gamma[c] = mg;
      beta[c] = Math.fround(mg * s.shift[c]!);
    }
    out.set(m.scale, { data: gamma });
    out.set(m.bias, { data: beta });
  }
  return out;
}
