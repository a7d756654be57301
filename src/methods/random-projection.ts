// EPruner's `random-projection` initialisation (docs/methods.md §3.4, §3.11.3): every consumer of a
// pruned layer gets, instead of its input-side weights sliced at the exemplars, a seeded very sparse
// random projection of each of its filters' input-side weights, from N·b down to P·b dimensions (N
// filters before, P after, b weight entries per channel: kh·kw for a conv, H·W for a linear layer
// after a flatten).
//
// The projection (Li, Hastie & Church, "Very sparse random projections", KDD 2006; Achlioptas 2003
// for s = 3): R is (P·b) x (N·b) with entries sqrt(s / (P·b)) · {+1 with probability 1/(2s), 0 with
// 1 - 1/s, -1 with 1/(2s)}, s = sqrt(N·b) ("very sparse"; at least 1). E[R_ij^2] = 1 / (P·b), so
// E|R v|^2 = |v|^2 for every v: the norm of each filter's input side is preserved in expectation.
// One R per (consumer, group), shared by the consumer's output units (a linear map of the features,
// as scikit-learn's SparseRandomProjection applies one matrix to every sample).
//
// The draws use integer arithmetic only (mulberry32), so a seed gives the same bytes in every runtime.
import { PrunekitError } from "../errors.ts";
import type { DependencyGroup, GroupConsumer } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import type { TensorValue } from "../surgery/model-patch.ts";

/** A sparse random projection: for each output row, its non-zero columns and their signs (±1). */
export interface SparseProjection {
  /** Output dimension (rows). */
  outDim: number;
  /** Input dimension (columns). */
  inDim: number;
  /** s of the distribution: P(non-zero) = 1/s. */
  s: number;
  /** The magnitude of every non-zero entry, sqrt(s / outDim). */
  scale: number;
  /** Row i's non-zero columns are cols[rowStart[i] .. rowStart[i+1]), with signs[] alongside. */
  rowStart: Int32Array;
  cols: Int32Array;
  signs: Int8Array;
}

/** The next 32-bit output of a mulberry32 state (as seededUniform, without the division). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * A seeded very sparse random projection from `inDim` to `outDim` dimensions (see the file comment):
 * s = max(1, sqrt(inDim)); entry (i, j) is non-zero when a 31-bit draw falls below 2^31/s, with the
 * sign from the draw's lowest bit; entries are drawn row by row.
 * @param seed any integer (its low 32 bits are used).
 * @example
 * const r = sparseRandomProjection(7, 18, 36); // 18 x 36, about 6 non-zeros per row
 */
export function sparseRandomProjection(seed: number, outDim: number, inDim: number): SparseProjection {
  const s = Math.max(1, Math.sqrt(inDim));
  const threshold = Math.floor(2 ** 31 / s);
  const next = mulberry32(seed);
  const rowStart = new Int32Array(outDim + 1);
  const cols: number[] = [];
  const signs: number[] = [];
  for (let i = 0; i < outDim; i++) {
    for (let j = 0; j < inDim; j++) {
      const u = next();
      if (u >>> 1 < threshold) {
        cols.push(j);
        signs.push(u & 1 ? -1 : 1);
      }
    }
    rowStart[i + 1] = cols.length;
  }
  return {
    outDim,
    inDim,
    s,
    scale: Math.sqrt(s / outDim),
    rowStart,
    cols: Int32Array.from(cols),
    signs: Int8Array.from(signs),
  };
}

/** u = R v (f64 sums). */
export function applyProjection(r: SparseProjection, v: ArrayLike<number>): Float64Array {
  const u = new Float64Array(r.outDim);
  for (let i = 0; i < r.outDim; i++) {
    let sum = 0;
    for (let q = r.rowStart[i]!; q < r.rowStart[i + 1]!; q++) sum += r.signs[q]! * v[r.cols[q]!]!;
    u[i] = sum * r.scale;
  }
  return u;
}

/** What the report records for one projected consumer. */
export interface ProjectedConsumer {
  /** The pruned layer (its producer node) whose channels the consumer reads. */
  layer: string;
  /** The consumer node. */
  node: string;
  /** Its weight tensor. */
  weight: string;
  /** N·b: input-side entries per output unit before. */
  from: number;
  /** P·b after. */
  to: number;
  /** s of the projection (P(non-zero) = 1/s). */
  s: number;
}

/**
 * Where the input-side weights of one consumer live: entry (o, c, j) of output unit o, group channel c
 * and position j < b inside the channel's block, as a flat index into the weight tensor.
 */
function inputSideLayout(
  consumer: GroupConsumer,
  dims: number[],
): { units: number; b: number; at: (o: number, c: number, j: number) => number } {
  const off = consumer.channelOffset;
  const bs = consumer.blockSize;
  if (consumer.opType === "Conv" && dims.length >= 3 && consumer.inputAxis === 1) {
    // OIHW: (o, i, spatial); channel c owns inputs off + c·bs + t (t < bs), each with S spatial entries.
    const inputs = dims[1]!;
    const spatial = dims.slice(2).reduce((a, b) => a * b, 1);
    return {
      units: dims[0]!,
      b: bs * spatial,
      at: (o, c, j) => (o * inputs + off + c * bs + Math.floor(j / spatial)) * spatial + (j % spatial),
    };
  }
  if ((consumer.opType === "Gemm" || consumer.opType === "MatMul") && dims.length === 2) {
    if (consumer.inputAxis === 1) {
      const inputs = dims[1]!;
      return { units: dims[0]!, b: bs, at: (o, c, j) => o * inputs + off + c * bs + j };
    }
    const outputs = dims[1]!;
    return { units: outputs, b: bs, at: (o, c, j) => (off + c * bs + j) * outputs + o };
  }
  throw new PrunekitError(
    "GRAPH_UNSUPPORTED",
    `${consumer.opType} "${consumer.node}": weight "${consumer.weight}" has dims [${dims.join(", ")}] with input axis ${consumer.inputAxis}; init "random-projection" projects OIHW conv and 2-D Gemm/MatMul weights`,
    { node: consumer.node, tensor: consumer.weight },
  );
}

/**
 * The consumer weights of init `random-projection` (§3.4), in the original shapes for surgery to slice:
 * for every group that loses channels and each of its consumers, each output unit's input-side weights
 * v (N·b entries, channel-major) become u = R v (P·b entries), written at the kept channels' positions
 * (kept channel p = keep[p] gets u[p·b .. p·b + b)); the removed channels' entries are left as they
 * were (surgery drops them). Everything else (BN entries, biases) is inherited as with `exemplar`.
 * Depthwise convs in a group are members, not consumers (one input channel per filter: nothing to
 * project), so they keep the exemplars' filters.
 *
 * @param plans kept channels per group id (ascending).
 * @param seed the method's `seed`; consumer k (in plan order) uses the stream seed·1000003 + 7919·(k+1).
 * @returns the tensor values and, per consumer, what the report records.
 * @throws PrunekitError `GRAPH_UNSUPPORTED` for a grouped-conv consumer (its input side is split in
 *   blocks; EPruner never clusters such layers, §3.11.1) or a weight layout other than OIHW / 2-D.
 * @example
 * const { values } = randomProjectionValues(graph, groups, [{ groupId: 3, keep: [0, 2, 5] }], 0);
 */
export function randomProjectionValues(
  graph: Graph,
  groups: DependencyGroup[],
  plans: readonly { groupId: number; keep: readonly number[] }[],
  seed: number,
): { values: Map<string, TensorValue>; consumers: ProjectedConsumer[] } {
  const values = new Map<string, TensorValue>();
  const consumers: ProjectedConsumer[] = [];
  let stream = 0;
  for (const gp of plans) {
    const group = groups[gp.groupId]!;
    const n = group.channels;
    const p = gp.keep.length;
    if (p >= n) continue;
    for (const consumer of group.consumers) {
      stream++;
      if (consumer.group !== undefined && consumer.group > 1) {
        throw new PrunekitError(
          "GRAPH_UNSUPPORTED",
          `Conv "${consumer.node}" is a grouped conv (group ${consumer.group}): init "random-projection" needs a dense input side; use init "exemplar"`,
          { node: consumer.node, tensor: consumer.weight },
        );
      }
      const t = graph.constants.get(consumer.weight)!;
      const dims = t.dims.map(Number);
      const current =
        values.get(consumer.weight) ??
        ({ data: readFloat32(t, graph.externalData).slice(), dims } satisfies TensorValue);
      const { units, b, at } = inputSideLayout(consumer, dims);
      const r = sparseRandomProjection((seed * 1000003 + stream * 7919) >>> 0, p * b, n * b);
      const v = new Float64Array(n * b);
      for (let o = 0; o < units; o++) {
        for (let c = 0; c < n; c++) for (let j = 0; j < b; j++) v[c * b + j] = current.data[at(o, c, j)]!;
        const u = applyProjection(r, v);
        for (let q = 0; q < p; q++) {
          for (let j = 0; j < b; j++) current.data[at(o, gp.keep[q]!, j)] = u[q * b + j]!;
        }
      }
      values.set(consumer.weight, current);
      consumers.push({
        layer: group.producers[0]?.node ?? "",
        node: consumer.node,
        weight: consumer.weight,
        from: n * b,
        to: p * b,
        s: r.s,
      });
    }
  }
  return { values, consumers };
}
