// The vocabulary of dependency groups (docs/methods.md §1.1): what a group of coupled channels is made
// of (producers, members, consumers, path ops, Reshape literals), and the questions every method asks
// of one (is it inner, may a merge cross its path). find-groups.ts builds them from a graph.
import type { ChannelKind, ChannelParam } from "./op-rules.ts";
import type { PatternName } from "./patterns.ts";

/** A node whose weight creates the group's channels (one of them, for residual groups). */
export interface GroupProducer {
  /** Stable node name (GraphNode.name). */
  node: string;
  /** "Conv", "Gemm" or "MatMul". */
  opType: string;
  /** Weight tensor (a constant). Remove slices along `outputAxis` to remove channels. */
  weight: string;
  /** Axis of `weight` indexing output channels: Conv OIHW 0; Gemm 0 if transB else 1; MatMul 1. */
  outputAxis: number;
  /** Bias tensor (axis 0 = output channel), if the node has one per output channel. */
  bias: string | undefined;
  /** For a grouped Conv (ResNeXt, RegNet): its `group` attribute G > 1. Absent otherwise. */
  group?: number;
  /**
   * For the excite conv of a squeeze-excitation block: the Mul node where its output, through the gate
   * activation, scales the group's other channels (y_c = x_c·s_c). Its output channel c is the gate of
   * channel c, so it is pruned with the group; it is not a second layer adding into the channels (not a
   * residual producer). Absent otherwise.
   */
  squeezeExcitation?: string;
}

/**
 * A node with per-channel parameters inside the group: their slices along `params[].axis` go with the
 * group's channels. Channel c of the group owns entries `channelOffset + c·blockSize + j`,
 * `0 ≤ j < blockSize`, of each parameter axis.
 */
export interface GroupMember {
  /** Stable node name. */
  node: string;
  /** "BatchNormalization", "Conv" (depthwise), "Mul", "Add", "PRelu", ... */
  opType: string;
  /** `depthwise` for a depthwise Conv, `channelwise-param` otherwise. */
  kind: "channelwise-param" | "depthwise";
  /**
   * Per-channel constants: BN scale/B/mean/var (axis 0); depthwise weight (OIHW axis 0) and bias;
   * Mul/Add/Sub/Div constant (the axis aligned with channels); PRelu slope.
   * A parameter tensor may be shared with other groups (a BN after a Concat): each group owns its slice.
   */
  params: ChannelParam[];
  /** Offset of this group's channels in the member's channel axis (non-zero after a Concat). */
  channelOffset: number;
  /** Entries per channel in the member's channel axis (> 1 only after a Flatten, e.g. BatchNorm1d). */
  blockSize: number;
  /**
   * For a depthwise Conv: its `group` attribute (= its total channel count). After a Concat one depthwise
   * conv is a member of several groups; surgery sets `group` to the channels kept over all of them.
   */
  group?: number;
  /**
   * The producer whose output this member reads directly (e.g. the BN right after a conv), else
   * undefined. Neuron Merging folds exactly this BN into its merge formula (docs/methods.md §2.5).
   */
  follows: string | undefined;
}

/** A node that reads the group's channels with a weight (removes input slices of it). */
export interface GroupConsumer {
  /** Stable node name. */
  node: string;
  /** "Conv" (not depthwise), "Gemm" or "MatMul". */
  opType: string;
  /** Weight tensor (a constant). */
  weight: string;
  /**
   * For a grouped Conv: its `group` attribute G > 1 (absent otherwise). Its weight's input axis holds
   * C_in/G entries; output row o reads block floor(o / (C_out/G)) of the group's channels, so surgery
   * gathers each block's kept channels for that block's rows. Only read directly (no Concat on the way).
   */
  group?: number;
  /** Axis of `weight` indexing input features: Conv OIHW 1; Gemm 1 if transB else 0; MatMul [in, out] 0. */
  inputAxis: number;
  /**
   * Where this group's channels start in `inputAxis` (in weight units): the Concat offset, times the
   * Flatten block size when both apply. A consumer reading the group twice (concat([a, a])) appears twice.
   */
  channelOffset: number;
  /**
   * Weight entries per channel: 1 for a conv, H·W after a Flatten/Reshape of an NCHW tensor. Channel c
   * owns entries `channelOffset + c·blockSize + j` for `0 ≤ j < blockSize` (NCHW order).
   */
  blockSize: number;
  /** Layout of the features after a flatten; always "NCHW" (channel-major) for ONNX. */
  layout: "NCHW";
  /** The Concat, Flatten and Reshape nodes between the group's channels and this consumer, in order. */
  via: string[];
  /**
   * Always true: consumers are normal or grouped convs or linear layers, which mix channels (a grouped
   * conv within each block; depthwise convs are members).
   */
  mixesChannels: boolean;
}

/** An op on the way from the producers to the consumers. */
export interface GroupPathOp {
  /** Stable node name. */
  node: string;
  /** ONNX op_type. */
  opType: string;
  /** Channel behaviour from the op table. */
  kind: ChannelKind;
  /** Same positively homogeneous function on every channel (op-rules.ts; docs/methods.md §2.6). */
  positivelyHomogeneous: boolean;
  /**
   * When the op is part of a decomposed activation (SiLU, HardSwish, GELU, ...) or of a
   * squeeze-excitation block (graph/patterns.ts): what it computes and the node computing its result.
   */
  pattern?: { name: PatternName; node: string };
}

/** An activation value carrying the group's channels. */
export interface GroupTensor {
  /** Value name. */
  name: string;
  /** Axis holding channels (1 for NCHW tensors and [N, features] matrices). */
  channelAxis: number;
  /** Offset of the group's channels on that axis (see GroupMember.channelOffset). */
  channelOffset: number;
  /** Entries per channel on that axis. */
  blockSize: number;
}

/** A Reshape whose literal target shape holds a size that depends on the group's channel count. */
export interface ReshapeRewrite {
  /** Stable node name of the Reshape. */
  node: string;
  /** The constant holding the target shape (an initializer or a Constant node output). */
  shapeTensor: string;
  /** Index in the target shape vector whose value shrinks by `blockSize` per removed channel. */
  index: number;
  /** Entries of that size per channel of the group. */
  blockSize: number;
}

/**
 * One set of coupled channels: removing channel c removes output channel c of every producer, entry c
 * of every member's parameters and input slice c of every consumer (docs/methods.md §1.2).
 */
export interface DependencyGroup {
  /** Index in the array returned by {@link findDependencyGroups} (stable for a given model). */
  id: number;
  /** Number of channels (every producer's output width). */
  channels: number;
  /**
   * Block constraint from grouped convs producing or reading the channels: they split into `blocks`
   * contiguous equal blocks (the lcm of those convs' `group`), and a kept set takes the same number
   * from each. 1 when unconstrained.
   */
  blocks: number;
  /** Nodes creating the channels; more than one when residual joins tie several layers. */
  producers: GroupProducer[];
  /** Nodes with per-channel parameters (BN, depthwise conv, per-channel Mul/Add, PRelu). */
  members: GroupMember[];
  /** Nodes reading the channels with a weight. */
  consumers: GroupConsumer[];
  /**
   * Every op between producers and consumers other than producers, consumers and a BN directly after
   * a producer (that BN is a member with `follows` set).
   */
  pathOps: GroupPathOp[];
  /** Activation values carrying the channels. */
  tensors: GroupTensor[];
  /** Reshapes whose literal shape must be rewritten when channels are removed. */
  reshapes: ReshapeRewrite[];
  /** True if an element-wise op of two or more activations (residual Add) joins the channels. */
  isResidual: boolean;
  /** True if the channels reach a graph output (the model's output width would change). */
  reachesGraphOutput: boolean;
  /** True if the group must not be pruned; `frozenReasons` says why. */
  frozen: boolean;
  /** Human-readable reasons, each starting with "frozen: ". Empty when not frozen. */
  frozenReasons: string[];
}

const CHANNELWISE_KINDS: ReadonlySet<ChannelKind> = new Set<ChannelKind>([
  "elementwise",
  "channelwise-param",
  "depthwise",
  "concat",
  "flatten",
]);

/**
 * True iff Neuron Merging may fold removed channels into kept ones across this group (docs/methods.md
 * §2.6): every path op is channel-wise and positively homogeneous, the same on every channel, and every
 * consumer mixes channels (a normal conv or a linear layer). The BN right after the producer is handled
 * by the merge formula and is not a path op.
 * @param group A dependency group.
 * @returns Whether compensation is exact.
 */
export function pathIsMergeSafe(group: DependencyGroup): boolean {
  return (
    group.consumers.length > 0 &&
    group.consumers.every((c) => c.mixesChannels) &&
    group.producers.every((p) => p.squeezeExcitation === undefined) &&
    unsafePathOp(group) === undefined
  );
}

/**
 * An op between the group's producers and its consumers that a merge cannot be folded through (not
 * channel-wise, or not the same positively homogeneous function on every channel, docs/methods.md
 * §2.6): the first one inside a decomposed activation or squeeze-excitation block if any, else the
 * first one; undefined when there is none.
 * @param group A dependency group.
 */
export function unsafePathOp(group: DependencyGroup): GroupPathOp | undefined {
  // A decomposed activation or SE block is named first: it is what a user recognises (a Linear's bias
  // Add before a GELU would otherwise be the op reported).
  return group.pathOps.find((p) => p.pattern !== undefined && isUnsafe(p)) ?? group.pathOps.find(isUnsafe);
}

/** Joins that are positively homogeneous in their inputs jointly: f(s·a, s·b) = s·f(a, b) for s > 0. */
const LINEAR_JOINS: ReadonlySet<string> = new Set(["Add", "Sub", "Sum", "Mean", "Max", "Min"]);

/**
 * For a residual stream (docs/methods.md §2.10): the first op a merge of stream channels cannot be folded
 * through, like {@link unsafePathOp}, except that a join adding stream values (Add, Sub, Sum, Mean, Max,
 * Min whose every input carries the group's channels at the same place) is safe: when a removed channel
 * is s times a kept one in every input, it is s times it in the output too.
 * @param group A dependency group.
 * @param inputsOf The input value names of a node, by node name.
 */
export function streamUnsafeOp(
  group: DependencyGroup,
  inputsOf: (node: string) => readonly string[],
): GroupPathOp | undefined {
  const tensors = new Map(group.tensors.map((t) => [t.name, t]));
  const tiedJoin = (p: GroupPathOp) => {
    if (p.kind !== "join" || !LINEAR_JOINS.has(p.opType)) return false;
    const ins = inputsOf(p.node).filter((n) => n !== "");
    const first = tensors.get(ins[0] ?? "");
    return (
      first !== undefined &&
      ins.every((n) => {
        const t = tensors.get(n);
        return t !== undefined && t.channelOffset === first.channelOffset && t.blockSize === first.blockSize;
      })
    );
  };
  const bad = (p: GroupPathOp) => isUnsafe(p) && !tiedJoin(p);
  return group.pathOps.find((p) => p.pattern !== undefined && bad(p)) ?? group.pathOps.find(bad);
}

/**
 * {@link pathIsMergeSafe} for a residual stream: the same, with {@link streamUnsafeOp}'s joins allowed.
 * @param group A dependency group.
 * @param inputsOf The input value names of a node, by node name.
 */
export function streamIsMergeSafe(
  group: DependencyGroup,
  inputsOf: (node: string) => readonly string[],
): boolean {
  return (
    group.consumers.length > 0 &&
    group.consumers.every((c) => c.mixesChannels) &&
    group.producers.every((p) => p.squeezeExcitation === undefined) &&
    streamUnsafeOp(group, inputsOf) === undefined
  );
}

function isUnsafe(p: GroupPathOp): boolean {
  return !CHANNELWISE_KINDS.has(p.kind) || !p.positivelyHomogeneous;
}

/**
 * True iff the group is an inner layer (docs/methods.md §0): one producer (besides squeeze-excitation
 * excite convs, whose outputs only gate the channels), no residual join, its
 * channels do not reach a graph output, and every consumer is a conv or linear layer. Neuron Merging
 * and EPruner prune only these.
 * @param group A dependency group.
 * @returns Whether the group is inner.
 */
export function isInner(group: DependencyGroup): boolean {
  return (
    group.producers.filter((p) => p.squeezeExcitation === undefined).length === 1 &&
    !group.isResidual &&
    !group.reachesGraphOutput &&
    group.consumers.length > 0 &&
    group.consumers.every((c) => c.mixesChannels)
  );
}

/**
 * The decomposed activations and squeeze-excitation blocks on the group's path, once each, in path
 * order (graph/patterns.ts).
 * @param group A dependency group.
 */
export function groupPatterns(group: DependencyGroup): { name: PatternName; node: string }[] {
  const seen = new Map<string, { name: PatternName; node: string }>();
  for (const p of group.pathOps)
    if (p.pattern && !seen.has(p.pattern.node)) seen.set(p.pattern.node, p.pattern);
  return [...seen.values()];
}

/**
 * The layer whose filters stand for the group's channels: its producer that is not a
 * squeeze-excitation gate (the first such, in graph order).
 * @param group A dependency group.
 */
export function mainProducer(group: DependencyGroup): GroupProducer | undefined {
  return group.producers.find((p) => p.squeezeExcitation === undefined) ?? group.producers[0];
}
