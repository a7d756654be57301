// Edits of one constant tensor: removing entries along axes, folding merges into kept entries, the
// per-block gather of a grouped conv's input axis, and shrinking Reshape literals. Pure array work on
// one tensor at a time; apply.ts decides what to edit, model-patch.ts puts the results in the model.
import { PrunekitError } from "../errors.ts";
import { DataType, type TensorProto } from "../onnx/proto-types.ts";
import {
  type ExternalTensorData,
  type Float32Scratch,
  float32TensorOwning,
  makeFloat32Tensor,
  makeInt64Tensor,
  readFloat32Scratch,
  readInt64,
  viewFloat32,
} from "../onnx/tensor.ts";

/** Pending edits of one constant tensor. */
export interface TensorEdit {
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

/** The pending edit of `tensor`, created empty on first use; `node` is who asked (for messages). */
export function editOf(edits: Map<string, TensorEdit>, tensor: string, node: string): TensorEdit {
  let e = edits.get(tensor);
  if (e === undefined) {
    e = { removed: new Map(), merges: [], shrink: new Map(), node };
    edits.set(tensor, e);
  }
  return e;
}

/** Mark entry `index` of `axis` as removed. */
export function removeAlong(e: TensorEdit, axis: number, index: number): void {
  let set = e.removed.get(axis);
  if (set === undefined) {
    set = new Set();
    e.removed.set(axis, set);
  }
  set.add(index);
}

/**
 * A float32 tensor with `edit` applied: merges first, on the original indexing (§2.2), then the
 * grouped-conv gather, then every axis's kept entries in one pass. Returns a new TensorProto.
 * @throws PrunekitError `ONNX_UNSUPPORTED` (not float32), `ONNX_INVALID` (axis or index out of range),
 *   `PLAN_INVALID` (an axis would lose every entry).
 */
export function sliceTensor(
  t: TensorProto,
  edit: TensorEdit,
  external: ExternalTensorData,
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
  // Merges and the block gather change values in place, so they work on a copy; plain slicing reads
  // the model's bytes directly (no copy of a 1 GiB weight).
  const inPlace = edit.merges.length > 0 || edit.blockGather !== undefined;
  let data = inPlace ? readFloat32Scratch(t, external, scratch.input) : viewFloat32(t, external);
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
  // The gather writes straight into the new tensor's memory (sized exactly, owned by the tensor).
  const own: Float32Scratch = { buffer: new ArrayBuffer(0) };
  const gathered = gatherKept(data, dims, keepByAxis, own);
  dims = dims.map((d, i) => keepByAxis[i]?.length ?? d);
  if (gathered.buffer === own.buffer) return float32TensorOwning(name, dims, gathered);
  return makeFloat32Tensor(name, dims, gathered);
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
  // An empty axis (validation refuses them in weights, but this must terminate on any input): nothing
  // to copy, and the odometer below would never wrap.
  if (outLen === 0) return new Float32Array(0);
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
export function shrinkShape(t: TensorProto, edit: TensorEdit, external: ExternalTensorData): TensorProto {
  const name = t.name ?? "";
  const values = readInt64(t, external);
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
