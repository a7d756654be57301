// Structural surgery: turn a PrunePlan into per-tensor edits and apply them (docs/methods.md §1.2, DESIGN.md "Compensation is a
// first-class step"). Methods decide which channels to keep; this is the one place that edits tensors.
//
// For every planned group, channel c removed means: slice c of every producer's weight (output axis)
// and bias, entries channelOffset + c·blockSize + j of every member's per-channel parameters, the same
// entries of every consumer weight's input axis, and blockSize entries of every Reshape literal that
// spans the group. Compensation (Neuron Merging's Z, §2.2) is folded into consumer weights *before*
// slicing: W'[.., into, ..] += z · W'[.., from, ..]. Edits from several groups to one tensor (a conv
// weight is a producer along axis 0 and a consumer along axis 1) are collected first and applied once.
// A grouped conv consumer (W [C_out, C_in/G, kH, kW]) is the exception on its input axis: output row o in
// block b reads only input block b, so column j of the new weight is that block's j-th kept channel
// (a per-block gather), and merges touch only the rows of their block.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup } from "../graph/group.ts";
import { buildGraph, type Graph } from "../graph/ir.ts";
import { DataType, type ModelProto, type NodeProto, type TensorProto } from "../onnx/proto-types.ts";
import { newFloat32Scratch, tensorElementCount } from "../onnx/tensor.ts";
import { patchValues, rewriteModel, type TensorValues } from "./model-patch.ts";
import { type ChannelMerge, type PrunePlan, validatePlan } from "./plan.ts";
import { editOf, removeAlong, shrinkShape, sliceTensor, type TensorEdit } from "./tensor-edit.ts";

/** Options of {@link applyPlan}. */
export interface SurgeryOptions {
  /**
   * New data for named tensors (trained weights, folded gates), patched before the plan's slices; a
   * tensor the plan edits must keep its shape.
   */
  values?: TensorValues;
}

/** What surgery changed, per group, for reports. */
export interface SurgeryGroupResult {
  /** Group id. */
  groupId: number;
  /** Channels before. */
  channelsBefore: number;
  /** Channels after. */
  channelsAfter: number;
  /** Removed channels folded into kept ones. */
  merged: number;
  /** Removed channels dropped without compensation. */
  dropped: number;
}

/** The pruned model and a summary. */
export interface SurgeryResult {
  /** A new ModelProto; the input model is not modified. Untouched messages are shared with it. */
  model: ModelProto;
  /** One entry per planned group. */
  groups: SurgeryGroupResult[];
  /** Names of tensors whose contents changed. */
  changedTensors: string[];
}

/**
 * The edit of a grouped conv reading the group's channels directly (find-groups.ts only allows that):
 * channel c is column c mod (C/G) of the rows of block floor(c / (C/G)). Merges stay inside a block
 * (checkGroupPlan), so each one is confined to its block's rows.
 */
function groupedConsumerEdit(
  graph: Graph,
  e: TensorEdit,
  weight: string,
  groups: number,
  channels: number,
  keep: number[],
  merges: ChannelMerge[],
): void {
  const inLen = channels / groups;
  const rows = (graph.constants.get(weight)?.dims[0] ?? 0) / groups;
  for (const m of merges) {
    const b = Math.floor(m.from / inLen);
    const local = { from: m.from - b * inLen, into: m.into - b * inLen };
    e.merges.push({ axis: 1, ...local, scale: m.scale, rows: [b * rows, (b + 1) * rows] });
  }
  const perBlock: number[][] = Array.from({ length: groups }, () => []);
  for (const k of keep) {
    const b = Math.floor(k / inLen);
    perBlock[b]!.push(k - b * inLen);
  }
  e.blockGather = { groups, keep: perBlock.map((l) => Int32Array.from(l)) };
}

/**
 * Apply a prune plan: remove the channels each group does not keep from every producer, member and
 * consumer, fold the plan's compensation into consumer weights, and rewrite Reshape literals,
 * depthwise `group` attributes and value_info shapes. Everything else is shared unchanged.
 *
 * @param graph the indexed model (its `model` is not modified).
 * @param groups dependency groups of that graph.
 * @param plan kept channels (and optional merges) per group id.
 * @param options `values`: new data for named tensors, patched before slicing (model-patch.ts).
 * @returns the new model and a per-group summary.
 * @throws PrunekitError `PLAN_INVALID` (unknown or frozen group, empty or bad kept set, a kept set that
 *   does not take the same count from every block of a grouped-conv group, bad merge or a merge across
 *   blocks),
 *   `UNSAFE_MERGE` (merges across a path that is not positively homogeneous), `ONNX_UNSUPPORTED`
 *   (a weight that is not float32, a parameter that is not a constant), `INVALID_ARGUMENT` (a bad values
 *   patch, see patchValues).
 * @example
 * const { model } = applyPlan(graph, groups, { method: "l1", groups: [{ groupId: 0, keep: [0, 2] }] });
 */
export function applyPlan(
  graph: Graph,
  groups: DependencyGroup[],
  plan: PrunePlan,
  options: SurgeryOptions = {},
): SurgeryResult {
  const removedByGroup = validatePlan(groups, plan, (n) => graph.nodeByName.get(n)?.inputs ?? []);
  // Values first, then slices (DESIGN.md): slicing reads the patched tensors.
  const g0 =
    options.values !== undefined && options.values.size > 0 ? patchedGraph(graph, options.values) : graph;
  const edits = new Map<string, TensorEdit>();
  const results: SurgeryGroupResult[] = [];

  for (const gp of plan.groups) {
    const group = groups[gp.groupId]!;
    const removed = removedByGroup.get(gp.groupId)!;
    const merges = gp.merges ?? [];
    results.push({
      groupId: group.id,
      channelsBefore: group.channels,
      channelsAfter: gp.keep.length,
      merged: new Set(merges.map((m) => m.from)).size,
      dropped: removed.length - new Set(merges.map((m) => m.from)).size,
    });
    if (removed.length === 0) continue;

    for (const p of group.producers) {
      const e = editOf(edits, p.weight, p.node);
      for (const c of removed) removeAlong(e, p.outputAxis, c);
      if (p.bias !== undefined) {
        const b = editOf(edits, p.bias, p.node);
        for (const c of removed) removeAlong(b, 0, c);
      }
    }
    for (const m of group.members) {
      for (const param of m.params) {
        const e = editOf(edits, param.tensor, m.node);
        for (const c of removed) {
          for (let j = 0; j < m.blockSize; j++)
            removeAlong(e, param.axis, m.channelOffset + c * m.blockSize + j);
        }
      }
    }
    for (const cons of group.consumers) {
      const e = editOf(edits, cons.weight, cons.node);
      if (cons.group !== undefined) {
        groupedConsumerEdit(g0, e, cons.weight, cons.group, group.channels, gp.keep, merges);
        continue;
      }
      const at = (c: number, j: number) => cons.channelOffset + c * cons.blockSize + j;
      for (const m of merges) {
        for (let j = 0; j < cons.blockSize; j++) {
          e.merges.push({ axis: cons.inputAxis, from: at(m.from, j), into: at(m.into, j), scale: m.scale });
        }
      }
      for (const c of removed)
        for (let j = 0; j < cons.blockSize; j++) removeAlong(e, cons.inputAxis, at(c, j));
    }
    for (const r of group.reshapes) {
      const e = editOf(edits, r.shapeTensor, r.node);
      e.shrink.set(r.index, (e.shrink.get(r.index) ?? 0) + removed.length * r.blockSize);
    }
  }

  // Build the new tensors.
  const replaced = new Map<string, TensorProto>();
  // Weights that merges or a block gather change are copied into reused memory (sized once for the
  // largest of them, so it is mapped once); plain slices read the model's bytes and gather straight
  // into each new tensor (tensor-edit.ts sliceTensor), so no weight is copied twice.
  const scratch = { input: newFloat32Scratch(), output: newFloat32Scratch() };
  let largest = 0;
  for (const [name, edit] of edits) {
    const t = g0.constants.get(name);
    const inPlace = edit.merges.length > 0 || edit.blockGather !== undefined;
    if (t !== undefined && t.dataType === DataType.FLOAT && inPlace)
      largest = Math.max(largest, tensorElementCount(t));
  }
  scratch.input.buffer = new ArrayBuffer(largest * 4);
  if (g0 !== graph) {
    for (const [name, edit] of edits) {
      const before = graph.constants.get(name)?.dims.map(Number) ?? [];
      const after = g0.constants.get(name)?.dims.map(Number) ?? [];
      if (before.join(",") !== after.join(",")) {
        throw new PrunekitError(
          "PLAN_INVALID",
          `node "${edit.node}": the values patch changes the shape of "${name}" from [${before.join(", ")}] to [${after.join(", ")}], but the plan slices it; a tensor the plan edits must keep its shape`,
          { node: edit.node, tensor: name },
        );
      }
    }
  }
  for (const [name, edit] of edits) {
    const original = g0.constants.get(name);
    if (original === undefined) {
      throw new PrunekitError(
        "ONNX_UNSUPPORTED",
        `node "${edit.node}": tensor "${name}" is computed at run time, so its channels cannot be removed; only constant weights can be pruned`,
        { node: edit.node, tensor: name },
      );
    }
    replaced.set(
      name,
      edit.shrink.size > 0
        ? shrinkShape(original, edit, g0.externalData)
        : sliceTensor(original, edit, g0.externalData, scratch),
    );
  }

  const depthwise = new Set<NodeProto>();
  for (const gr of groups) {
    for (const m of gr.members) {
      const proto = m.kind === "depthwise" ? g0.nodeByName.get(m.node)?.proto : undefined;
      if (proto !== undefined) depthwise.add(proto);
    }
  }
  const model = rewriteModel(g0, replaced, depthwise, channelDeltas(groups, plan));
  const changed = new Set([...replaced.keys(), ...(options.values?.keys() ?? [])]);
  return { model, groups: results, changedTensors: [...changed].sort() };
}

/** The graph of the model with `values` patched in (same external data). */
function patchedGraph(graph: Graph, values: TensorValues): Graph {
  return buildGraph(patchValues(graph, values), graph.externalData);
}

/** Removed channels (times block size) per activation value name and axis, summed over planned groups. */
function channelDeltas(groups: DependencyGroup[], plan: PrunePlan): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const gp of plan.groups) {
    const group = groups[gp.groupId]!;
    const removed = group.channels - gp.keep.length;
    if (removed === 0) continue;
    for (const t of group.tensors) {
      let m = out.get(t.name);
      if (m === undefined) {
        m = new Map();
        out.set(t.name, m);
      }
      m.set(t.channelAxis, (m.get(t.channelAxis) ?? 0) + removed * t.blockSize);
    }
  }
  return out;
}
