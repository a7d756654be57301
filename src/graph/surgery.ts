// Structural surgery: apply a PrunePlan to a model (ALGORITHMS.md §1.2, DESIGN.md "Compensation is a
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
import type { ChannelMerge, PrunePlan } from "../methods/plan.ts";
import {
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../onnx/proto-types.ts";
import {
  type ExternalTensorData,
  type Float32Scratch,
  makeFloat32Tensor,
  makeInt64Tensor,
  newFloat32Scratch,
  readFloat32Scratch,
  readInt64,
  tensorElementCount,
} from "../onnx/tensor.ts";
import { type DependencyGroup, pathIsMergeSafe } from "./groups.ts";
import type { Graph, GraphNode } from "./ir.ts";

/** Options of {@link applyPlan}. */
export interface SurgeryOptions {
  /** External tensor bytes from loadOnnx, when the model stores weights outside the file. */
  externalData?: ExternalTensorData;
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

/** Pending edits of one constant tensor. */
interface TensorEdit {
  /** Removed indices per axis. */
  removed: Map<number, Set<number>>;
  /**
   * Compensation along an axis: target index += scale · source index (original indexing). `rows`
   * limits it to outer indices [rows[0], rows[1]) (a grouped conv's block of output rows, axis 1).
   */
  merges: { axis: number; from: number; into: number; scale: number; rows?: [number, number] }[];
  /**
   * A grouped conv consumer's input axis (1): `keep[b]` are the kept columns (local to block b) of the
   * rows of output block b, one list per block of `groups`, all of the same length.
   */
  blockGather?: { groups: number; keep: Int32Array[] };
  /** For Reshape literals: amount to subtract per vector index. */
  shrink: Map<number, number>;
  /** Who asked, for error messages. */
  node: string;
}

function editOf(edits: Map<string, TensorEdit>, tensor: string, node: string): TensorEdit {
  let e = edits.get(tensor);
  if (e === undefined) {
    e = { removed: new Map(), merges: [], shrink: new Map(), node };
    edits.set(tensor, e);
  }
  return e;
}

function removeAlong(e: TensorEdit, axis: number, index: number): void {
  let set = e.removed.get(axis);
  if (set === undefined) {
    set = new Set();
    e.removed.set(axis, set);
  }
  set.add(index);
}

/**
 * The edit of a grouped conv reading the group's channels directly (groups.ts only allows that):
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

/** Check a group plan against its group; returns the removed channels (ascending). */
function checkGroupPlan(
  group: DependencyGroup,
  keep: number[],
  merges: ChannelMerge[] | undefined,
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
    if (!pathIsMergeSafe(group)) {
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
 * Apply a prune plan: remove the channels each group does not keep from every producer, member and
 * consumer, fold the plan's compensation into consumer weights, and rewrite Reshape literals,
 * depthwise `group` attributes and value_info shapes. Everything else is shared unchanged.
 *
 * @param graph the indexed model (its `model` is not modified).
 * @param groups dependency groups of that graph.
 * @param plan kept channels (and optional merges) per group id.
 * @returns the new model and a per-group summary.
 * @throws PrunekitError `PLAN_INVALID` (unknown or frozen group, empty or bad kept set, a kept set that
 *   does not take the same count from every block of a grouped-conv group, bad merge or a merge across
 *   blocks),
 *   `UNSAFE_MERGE` (merges across a path that is not positively homogeneous), `ONNX_UNSUPPORTED`
 *   (a weight that is not float32, a parameter that is not a constant).
 * @example
 * const { model } = applyPlan(graph, groups, { method: "l1", groups: [{ groupId: 0, keep: [0, 2] }] });
 */
export function applyPlan(
  graph: Graph,
  groups: DependencyGroup[],
  plan: PrunePlan,
  options: SurgeryOptions = {},
): SurgeryResult {
  const edits = new Map<string, TensorEdit>();
  const results: SurgeryGroupResult[] = [];
  const seen = new Set<number>();

  for (const gp of plan.groups) {
    const group = groups[gp.groupId];
    if (group === undefined || group.id !== gp.groupId) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `plan names group ${gp.groupId}, but the model has groups 0..${groups.length - 1}`,
      );
    }
    if (seen.has(gp.groupId)) throw new PrunekitError("PLAN_INVALID", `plan lists group ${gp.groupId} twice`);
    seen.add(gp.groupId);
    const removed = checkGroupPlan(group, gp.keep, gp.merges);
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
        groupedConsumerEdit(graph, e, cons.weight, cons.group, group.channels, gp.keep, merges);
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
  // Weights are read and gathered in reused memory (sized once for the largest input, so it is
  // mapped once); makeFloat32Tensor copies each result out.
  const scratch = { input: newFloat32Scratch(), output: newFloat32Scratch() };
  let largest = 0;
  for (const name of edits.keys()) {
    const t = graph.constants.get(name);
    if (t !== undefined && t.dataType === DataType.FLOAT) largest = Math.max(largest, tensorElementCount(t));
  }
  scratch.input.buffer = new ArrayBuffer(largest * 4);
  for (const [name, edit] of edits) {
    const original = graph.constants.get(name);
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
        ? shrinkShape(original, edit, options)
        : sliceTensor(original, edit, options, scratch),
    );
  }

  // Assemble the new model: new initializer list, cloned nodes where attributes change.
  const g = graph.proto;
  const initializer = g.initializer.map((t) => withMeta(replaced.get(t.name ?? ""), t) ?? t);
  const dropped = unshareIdentityConstants(graph, replaced, initializer, options);
  const newDims = new Map<string, number[]>();
  for (const [name, t] of replaced) newDims.set(name, t.dims);
  const depthwise = new Set<NodeProto>();
  for (const gr of groups) {
    for (const m of gr.members) {
      const proto = m.kind === "depthwise" ? graph.nodeByName.get(m.node)?.proto : undefined;
      if (proto !== undefined) depthwise.add(proto);
    }
  }
  const node = g.node.filter((n) => !dropped.has(n)).map((n) => rewriteNode(n, replaced, depthwise));
  const valueDelta = channelDeltas(groups, plan);
  const input = g.input.map((v) => resizeValueInfo(v, newDims, valueDelta));
  const valueInfo = g.valueInfo.map((v) => resizeValueInfo(v, newDims, valueDelta));
  const model: ModelProto = { ...graph.model, graph: { ...g, node, initializer, input, valueInfo } };
  return { model, groups: results, changedTensors: [...replaced.keys()].sort() };
}

/**
 * PyTorch's export stores equal initializers once and hands the copies out through Identity nodes
 * (squeezenet's and efficientnet's zero biases): an edited constant may be such an Identity output, or
 * the source of Identity outputs that other layers read unedited. Each of those Identity nodes becomes an
 * initializer of the same name, holding the edited values or the original ones, so an edit never leaks
 * into another layer. Appends to `initializer` and returns the Identity nodes to drop.
 */
function unshareIdentityConstants(
  graph: Graph,
  replaced: Map<string, TensorProto>,
  initializer: TensorProto[],
  options: SurgeryOptions,
): Set<NodeProto> {
  const dropped = new Set<NodeProto>();
  const isConstantIdentity = (n: GraphNode | undefined): n is GraphNode =>
    n !== undefined && n.opType === "Identity" && n.domain === "" && graph.constants.has(n.outputs[0] ?? "");
  for (const [name, t] of replaced) {
    const producer = graph.tensors.get(name)?.producer;
    if (!isConstantIdentity(producer)) continue;
    dropped.add(producer.proto);
    initializer.push({ ...t, name });
  }
  for (const name of replaced.keys()) {
    for (const reader of graph.tensors.get(name)?.consumers ?? []) {
      const out = reader.outputs[0]!;
      if (!isConstantIdentity(reader) || replaced.has(out) || dropped.has(reader.proto)) continue;
      dropped.add(reader.proto);
      const original = graph.constants.get(out)!;
      const { dataLocation: _location, ...rest } = original;
      const bytes = options.externalData?.get(original);
      initializer.push(
        bytes === undefined
          ? { ...rest, name: out }
          : { ...rest, name: out, externalData: [], rawData: bytes },
      );
    }
  }
  return dropped;
}

/** Keep name, doc string and other metadata of the original tensor on its replacement. */
function withMeta(next: TensorProto | undefined, original: TensorProto): TensorProto | undefined {
  if (next === undefined) return undefined;
  const out: TensorProto = { ...next };
  if (original.docString !== undefined) out.docString = original.docString;
  return out;
}

function sliceTensor(
  t: TensorProto,
  edit: TensorEdit,
  options: SurgeryOptions,
  scratch: { input: Float32Scratch; output: Float32Scratch },
): TensorProto {
  const name = t.name ?? "";
  if (t.dataType !== DataType.FLOAT) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `node "${edit.node}": weight "${name}" has data type ${t.dataType}; prunekit prunes float32 weights only`,
      { node: edit.node, tensor: name },
    );
  }
  let data = readFloat32Scratch(t, options.externalData, scratch.input);
  let dims = [...t.dims];
  for (const m of edit.merges) {
    if (m.axis >= dims.length) {
      throw new PrunekitError("ONNX_INVALID", `node "${edit.node}": weight "${name}" has no axis ${m.axis}`, {
        tensor: name,
      });
    }
  }
  // Compensation first, on the original indexing (§2.2): W[.., into, ..] += z · W[.., from, ..].
  applyMerges(data, dims, edit.merges);
  if (edit.blockGather !== undefined) {
    data = gatherBlocks(data, dims, edit.blockGather);
    dims = [dims[0]!, edit.blockGather.keep[0]!.length, ...dims.slice(2)];
  }
  // Kept indices per axis (undefined: the axis keeps everything), gathered in one pass below.
  const keepByAxis: (Int32Array | undefined)[] = dims.map(() => undefined);
  for (const [axis, removed] of [...edit.removed].sort((a, b) => a[0] - b[0])) {
    const n = dims[axis];
    if (n === undefined) {
      throw new PrunekitError("ONNX_INVALID", `node "${edit.node}": weight "${name}" has no axis ${axis}`, {
        tensor: name,
      });
    }
    for (const r of removed) {
      if (r >= n) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `node "${edit.node}": weight "${name}" axis ${axis} has ${n} entries, cannot remove entry ${r}`,
          { tensor: name },
        );
      }
    }
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (!removed.has(i)) keep.push(i);
    if (keep.length === 0) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `node "${edit.node}": the plan removes every entry of "${name}" axis ${axis}`,
        {
          tensor: name,
        },
      );
    }
    keepByAxis[axis] = Int32Array.from(keep);
  }
  data = gatherKept(data, dims, keepByAxis, scratch.output);
  dims = dims.map((d, i) => keepByAxis[i]?.length ?? d);
  return makeFloat32Tensor(name, dims, data);
}

/**
 * W[.., into, ..] += z · W[.., from, ..] for every merge, in order. When every merge is along one axis
 * (always, in practice: a weight is a consumer along its input axis only), the outer index runs in the
 * outer loop, so a [4096, 25088] weight merged along axis 1 is swept once instead of once per merge
 * (one cache miss per row per merge). Each element still receives the same additions in the same
 * order, and reads only elements of its own outer index, so the result is bit-identical.
 */
function applyMerges(data: Float32Array, dims: number[], merges: TensorEdit["merges"]): void {
  const first = merges[0];
  if (first === undefined) return;
  const span = (axis: number) => {
    const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    return { outer, n: dims[axis]!, inner };
  };
  if (merges.some((m) => m.axis !== first.axis || m.rows !== undefined)) {
    for (const m of merges) {
      const { outer, n, inner } = span(m.axis);
      const [start, end] = m.rows ?? [0, outer];
      for (let o = start; o < end; o++) {
        const src = (o * n + m.from) * inner;
        const dst = (o * n + m.into) * inner;
        for (let i = 0; i < inner; i++) data[dst + i]! += m.scale * data[src + i]!;
      }
    }
    return;
  }
  const { outer, n, inner } = span(first.axis);
  const count = merges.length;
  const from = new Float64Array(count);
  const into = new Float64Array(count);
  const scale = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const m = merges[k]!;
    from[k] = m.from * inner;
    into[k] = m.into * inner;
    scale[k] = m.scale;
  }
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let k = 0; k < count; k++) {
      const src = base + from[k]!;
      const dst = base + into[k]!;
      const z = scale[k]!;
      for (let i = 0; i < inner; i++) data[dst + i]! += z * data[src + i]!;
    }
  }
}

/**
 * A grouped conv weight [C_out, C_in/G, ...] (`dims`) with the kept input columns of each block:
 * row o of block b = floor(o / (C_out/G)) keeps columns `gather.keep[b]`. Returns a new
 * [C_out, k, ...] array (k = kept columns per block).
 */
function gatherBlocks(
  data: Float32Array,
  dims: number[],
  gather: { groups: number; keep: Int32Array[] },
): Float32Array {
  const rows = dims[0]!;
  const cols = dims[1]!;
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const k = gather.keep[0]!.length;
  const rowsPerBlock = rows / gather.groups;
  const out = new Float32Array(rows * k * inner);
  for (let o = 0; o < rows; o++) {
    const keep = gather.keep[Math.floor(o / rowsPerBlock)]!;
    for (let j = 0; j < k; j++) {
      const src = (o * cols + keep[j]!) * inner;
      out.set(data.subarray(src, src + inner), (o * k + j) * inner);
    }
  }
  return out;
}

/**
 * Gather the kept indices of every axis of a row-major tensor in one pass (`keep[axis]` undefined:
 * the whole axis) into `out`, a view of `scratch` (valid until its next use). Axes after the last
 * pruned one form contiguous runs; an odometer walks the kept indices of the axes before.
 */
function gatherKept(
  data: Float32Array,
  dims: number[],
  keep: (Int32Array | undefined)[],
  scratch: Float32Scratch,
): Float32Array {
  let last = -1;
  for (let a = 0; a < dims.length; a++) if (keep[a] !== undefined) last = a;
  if (last < 0) return data;
  let run = 1;
  for (let a = last + 1; a < dims.length; a++) run *= dims[a]!;
  // Element strides of axes 0..last, and their kept indices (every index when unpruned).
  const strides: number[] = new Array(last + 1);
  const index: Int32Array[] = new Array(last + 1);
  let outLen = run;
  for (let a = last, stride = run; a >= 0; a--) {
    strides[a] = stride;
    const k = keep[a] ?? Int32Array.from({ length: dims[a]! }, (_, i) => i);
    index[a] = k;
    outLen *= k.length;
    stride *= dims[a]!;
  }
  if (scratch.buffer.byteLength < outLen * 4) scratch.buffer = new ArrayBuffer(outLen * 4);
  const out = new Float32Array(scratch.buffer, 0, outLen);
  // Consecutive kept indices of the last pruned axis are one contiguous block (a flattened conv
  // feeding a linear layer keeps runs of 49+ columns): blockStart/blockLen in elements.
  const lastKeep = index[last]!;
  const lastStride = strides[last]!;
  const blockStart: number[] = [];
  const blockLen: number[] = [];
  for (let j = 0; j < lastKeep.length; ) {
    let k = j + 1;
    while (k < lastKeep.length && lastKeep[k] === lastKeep[k - 1]! + 1) k++;
    blockStart.push(lastKeep[j]! * lastStride);
    blockLen.push((k - j) * run);
    j = k;
  }
  const blocks = blockStart.length;
  // pos[a]: position in index[a] for the outer axes 0..last-1.
  const pos = new Int32Array(last);
  let w = 0;
  for (;;) {
    let base = 0;
    for (let a = 0; a < last; a++) base += index[a]![pos[a]!]! * strides[a]!;
    for (let b = 0; b < blocks; b++) {
      const start = base + blockStart[b]!;
      const len = blockLen[b]!;
      if (len >= 64) {
        out.set(data.subarray(start, start + len), w);
        w += len;
      } else {
        // Short blocks (a 3x3 conv's input axis: 9 values) cost more as subarray objects than as copies.
        for (let i = 0; i < len; i++) out[w++] = data[start + i]!;
      }
    }
    let a = last - 1;
    while (a >= 0 && ++pos[a]! === index[a]!.length) pos[a--] = 0;
    if (a < 0) break;
  }
  return out;
}

/** Rewrite a Reshape literal: entry i shrinks by the removed features. */
function shrinkShape(t: TensorProto, edit: TensorEdit, options: SurgeryOptions): TensorProto {
  const name = t.name ?? "";
  const values = readInt64(t, options.externalData);
  for (const [index, amount] of edit.shrink) {
    const v = values[index];
    if (v === undefined || v <= 0) {
      // -1 (inferred) and 0 (copy) need no change: the runtime derives them from the pruned input.
      if (v === -1 || v === 0) continue;
      throw new PrunekitError(
        "ONNX_INVALID",
        `Reshape "${edit.node}": shape "${name}" has no usable entry ${index}`,
        {
          node: edit.node,
          tensor: name,
        },
      );
    }
    if (v - amount <= 0) {
      throw new PrunekitError(
        "PLAN_INVALID",
        `Reshape "${edit.node}": shape entry ${index} would become ${v - amount}`,
        {
          node: edit.node,
        },
      );
    }
    values[index] = v - amount;
  }
  return makeInt64Tensor(name, t.dims, values);
}

/** Clone a node whose Constant value or depthwise group count changes. */
function rewriteNode(n: NodeProto, replaced: Map<string, TensorProto>, depthwise: Set<NodeProto>): NodeProto {
  if (n.opType === "Constant") {
    const out = n.output[0];
    const next = out === undefined ? undefined : replaced.get(out);
    if (next === undefined) return n;
    const attribute = n.attribute.map((a) => {
      if (a.name !== "value") {
        throw new PrunekitError(
          "ONNX_UNSUPPORTED",
          `Constant "${n.name ?? out}": its value is stored as "${a.name}", which prunekit cannot slice; store it as a tensor`,
          { node: n.name },
        );
      }
      return { ...a, t: { ...next, name: a.t?.name ?? "" } };
    });
    return { ...n, attribute };
  }
  if (depthwise.has(n)) {
    // A depthwise conv (group = channels) keeps one group per channel; a grouped conv keeps its G.
    const weight = n.input[1];
    const next = weight === undefined ? undefined : replaced.get(weight);
    const groupAttr = n.attribute.find((a) => a.name === "group");
    if (next === undefined || groupAttr === undefined) return n;
    const newOut = next.dims[0] ?? 0;
    const attribute = n.attribute.map((a) =>
      a === groupAttr ? { ...a, type: AttributeType.INT, i: newOut } : a,
    );
    return { ...n, attribute };
  }
  return n;
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

/** Update a value_info (or initializer-listing graph input) whose tensor changed shape. */
function resizeValueInfo(
  v: ValueInfoProto,
  newDims: Map<string, number[]>,
  deltas: Map<string, Map<number, number>>,
): ValueInfoProto {
  const name = v.name ?? "";
  const shape = v.type?.tensorType?.shape;
  if (shape === undefined) return v;
  const dims = newDims.get(name);
  const delta = deltas.get(name);
  if (dims === undefined && delta === undefined) return v;
  const dim = shape.dim.map((d, i) => {
    if (dims !== undefined) return dims[i] === undefined ? d : { ...d, dimValue: dims[i] };
    const minus = delta?.get(i);
    if (minus === undefined || d.dimValue === undefined) return d;
    return { ...d, dimValue: d.dimValue - minus };
  });
  return { ...v, type: { ...v.type, tensorType: { ...v.type!.tensorType, shape: { ...shape, dim } } } };
}
