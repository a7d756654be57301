// Gate Decorator's groups and folding (docs/methods.md §4.3, §4.6): which gates share one mask (read
// from the dependency groups, never from names), the group scores, and the gates folded back into the
// model's tensors. A gate is a gated BN (§4.1) where the channels have a BatchNormalization, else a gate
// on the conv's output, bias included (§4.9, experimental: BN-free models and BN-fused exports). Pure
// functions over the graph analysis; the training lives in gate.ts.
import type { DependencyGroup, GroupMember } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import type { TensorValues } from "../surgery/model-patch.ts";

/** One gate's share of a group: its channels `offset .. offset + group.channels`. */
export interface GateMember {
  /**
   * `bn`: a gated BatchNormalization (§4.1); `conv`: a gate on a Conv's output, bias included,
   * y = m·g·(W∗x + b) (§4.9, experimental).
   */
  kind: "bn" | "conv";
  /** The BN or Conv node's name (its gate parameters are `<node>#gate`, `#mask`, and for a BN `#shift`). */
  node: string;
  /** Offset of the group's channels in the node's output channels (non-zero after a Concat). */
  offset: number;
  /** The tensor the gate folds into: a BN's scale initializer, a conv's weight (output channels on axis 0). */
  scale: string;
  /** A BN's B initializer; a conv's bias, or undefined when it has none. */
  bias: string | undefined;
}

/** A set of gates sharing one mask (§4.3): one dependency group, a gate on every path of its channels. */
export interface GateGroup {
  /** `DependencyGroup.id`. */
  groupId: number;
  /** Channels of the group (the same for every member). */
  channels: number;
  /** The gates of the group; `count(group)` of §4.3 is their number. */
  members: GateMember[];
  /** Protected minimum `max(1, floor(minRatio·C))` (§4.3). */
  minimal: number;
}

/** Ops after a masked gate that keep a zero channel at zero (so removing it is exact, §4.1). */
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
 * The gate groups of a model (§4.3): every prunable dependency group whose producers are convs (or
 * followed by a BatchNormalization), with a gate on each of its channel paths sharing the group's mask:
 * every BN member gated (§4.1), and a conv gate (§4.9) on each producer conv with no BN right after it
 * and on each depthwise member with no BN right after it (its bias would otherwise revive a masked
 * channel). Residual adds join gates through the dependency graph, so a stage's last block BNs, its
 * shortcut BN (and the stem BN of the first stage) come out as one group, and so do the convs of a
 * BN-fused residual stream.
 * @param groups the model's dependency groups (graph/find-groups.ts).
 * @param minRatio the protected minimum ratio (§4.8: 0.1).
 * @param graph the model (to see which node reads a depthwise conv's output).
 * @returns the gate groups and, for every other group, why it is not gated.
 */
export function findGateGroups(
  groups: readonly DependencyGroup[],
  minRatio: number,
  graph: Graph,
): { gateGroups: GateGroup[]; skipped: { groupId: number; reason: string }[] } {
  const gateGroups: GateGroup[] = [];
  const skipped: { groupId: number; reason: string }[] = [];
  for (const g of groups) {
    const why = ungatedReason(g);
    if (why !== undefined) {
      skipped.push({ groupId: g.id, reason: why });
      continue;
    }
    const bnOf = bnFollowed(g);
    const members: GateMember[] = [];
    for (const p of g.producers) {
      if (!bnOf.has(p.node))
        members.push({ kind: "conv", node: p.node, offset: 0, scale: p.weight, bias: p.bias });
    }
    for (const m of g.members) {
      if (m.opType === "BatchNormalization") {
        members.push({
          kind: "bn",
          node: m.node,
          offset: m.channelOffset,
          scale: m.params.find((p) => p.role === "bn-scale")!.tensor,
          bias: m.params.find((p) => p.role === "bn-bias")!.tensor,
        });
      } else if (!readByBn(graph, m)) {
        members.push({
          kind: "conv",
          node: m.node,
          offset: m.channelOffset,
          scale: m.params.find((p) => p.role === "depthwise-weight")!.tensor,
          bias: m.params.find((p) => p.role === "depthwise-bias")?.tensor,
        });
      }
    }
    gateGroups.push({
      groupId: g.id,
      channels: g.channels,
      members,
      minimal: Math.max(1, Math.floor(minRatio * g.channels)),
    });
  }
  return { gateGroups, skipped };
}

/** The producers of the group with a BatchNormalization member right after them. */
function bnFollowed(g: DependencyGroup): Set<string> {
  return new Set(
    g.members
      .filter((m) => m.opType === "BatchNormalization" && m.follows !== undefined)
      .map((m) => m.follows!),
  );
}

/** True when the member's output is read by one node only, a BatchNormalization (which is then gated). */
function readByBn(graph: Graph, m: GroupMember): boolean {
  const out = graph.nodeByName.get(m.node)?.outputs[0];
  const readers = out === undefined ? [] : (graph.tensors.get(out)?.consumers ?? []);
  return readers.length === 1 && readers[0]!.opType === "BatchNormalization";
}

function ungatedReason(g: DependencyGroup): string | undefined {
  if (g.frozen) return g.frozenReasons.join("; ");
  if (g.blocks > 1) return "grouped convs split its channels into blocks (not gated)";
  if (g.producers.length === 0) return "no producer";
  const bnOf = bnFollowed(g);
  const linear = g.producers.find((p) => !bnOf.has(p.node) && p.opType !== "Conv");
  if (linear !== undefined) {
    return `producer "${linear.node}" (${linear.opType}) has no BatchNormalization right after it, and gates on linear outputs are not implemented`;
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
  return new Set(gateGroups.flatMap((g) => g.members.filter((m) => m.kind === "bn").map((m) => m.node)));
}

/** The conv nodes of the gate groups whose outputs are gated (TrainerOptions.gatedConvs, §4.9). */
export function gatedConvs(gateGroups: readonly GateGroup[]): Set<string> {
  return new Set(gateGroups.flatMap((g) => g.members.filter((m) => m.kind === "conv").map((m) => m.node)));
}

/** "bn" when every gate is a gated BN, "conv" when every one is a conv gate (§4.9), else "mixed". */
export function gateMode(gateGroups: readonly GateGroup[]): "bn" | "conv" | "mixed" {
  const kinds = new Set(gateGroups.flatMap((g) => g.members.map((m) => m.kind)));
  return kinds.size === 2 ? "mixed" : kinds.has("conv") ? "conv" : "bn";
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

/** The trained state of one gate (`shift` only for a gated BN). */
export interface GateState {
  gate: Float32Array;
  shift?: Float32Array;
  mask: Float32Array;
}

/**
 * Fold the gates into the model's tensors (§4.6), so that the model computes exactly the gated network
 * in evaluation mode:
 * - gated BN: γ := m·g and β := m·g·b', running statistics kept (they are trained values of their own);
 * - conv gate (§4.9): W_c := m_c·g_c·W_c and b_c := m_c·g_c·b_c, every weight of output channel c.
 * @param gates each gate's state, by node name.
 * @param members the gates (kind, tensor names), by node name.
 * @param trained the trained values of the conv weights and biases, by tensor name.
 */
export function foldGates(
  gates: ReadonlyMap<string, GateState>,
  members: ReadonlyMap<string, GateMember>,
  trained: (tensor: string) => Float32Array,
): TensorValues {
  const out = new Map<string, { data: Float32Array }>();
  for (const [node, s] of gates) {
    const m = members.get(node);
    if (m === undefined) continue;
    const k = s.gate.map((g, c) => Math.fround(s.mask[c]! * g));
    if (m.kind === "bn") {
      const beta = k.map((mg, c) => Math.fround(mg * s.shift![c]!));
      out.set(m.scale, { data: k });
      out.set(m.bias!, { data: beta });
      continue;
    }
    const w = trained(m.scale).slice();
    const per = w.length / k.length;
    for (let c = 0; c < k.length; c++) {
      for (let j = c * per; j < (c + 1) * per; j++) w[j] = Math.fround(w[j]! * k[c]!);
    }
    out.set(m.scale, { data: w });
    if (m.bias !== undefined)
      out.set(m.bias, { data: trained(m.bias).map((b, c) => Math.fround(b * k[c]!)) });
  }
  return out;
}
