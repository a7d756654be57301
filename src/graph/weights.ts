// Reading a producer's filters as rows: the form every criterion and decomposition works on.
import { PrunekitError } from "../errors.ts";
import type { TensorProto } from "../onnx/proto-types.ts";
import { type Float32Scratch, readFloat32, readFloat32Scratch } from "../onnx/tensor.ts";
import type { GroupProducer } from "./group.ts";
import type { Graph } from "./ir.ts";

/** A producer's filters as a row-major matrix: row c = every incoming weight of output channel c. */
export interface FilterMatrix {
  /** rows x cols values. */
  data: Float32Array;
  /** Output channels. */
  rows: number;
  /** Incoming weights per channel (Cin/groups·kh·kw for a conv, inputs for a linear layer). */
  cols: number;
  /** Bias per output channel, if the producer has one. */
  bias: Float32Array | undefined;
}

/**
 * Reusable memory for {@link producerFilters} in loops over layers: `input` receives the raw weight,
 * `output` the transposed rows of an [in, out] weight.
 */
export interface FilterScratch {
  input: Float32Scratch;
  output: Float32Scratch;
}

/** The constant tensor `name` (the producer's weight or bias), or ONNX_INVALID naming both. */
function producerConstant(graph: Graph, producer: GroupProducer, role: string, name: string): TensorProto {
  const t = graph.constants.get(name);
  if (t === undefined) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${producer.opType} "${producer.node}": ${role} "${name}" is not a constant`,
      { node: producer.node, tensor: name },
    );
  }
  return t;
}

/**
 * The filters of a producer, one row per output channel, whatever the weight layout (Conv OIHW,
 * Gemm with or without transB, MatMul [in, out]).
 * @param scratch when given, `data` is a view of its memory, valid until its next use (and may be
 *   modified); without it `data` is a new array.
 * @throws PrunekitError `ONNX_INVALID` when the weight or bias is missing or has the wrong shape.
 */
export function producerFilters(
  graph: Graph,
  producer: GroupProducer,
  scratch?: FilterScratch,
): FilterMatrix {
  const external = graph.externalData;
  const w = producerConstant(graph, producer, "weight", producer.weight);
  const values =
    scratch === undefined ? readFloat32(w, external) : readFloat32Scratch(w, external, scratch.input);
  const dims = w.dims;
  const rows = dims[producer.outputAxis] ?? 0;
  const total = values.length;
  const cols = rows === 0 ? 0 : total / rows;
  let data: Float32Array;
  if (producer.outputAxis === 0) {
    data = values;
  } else if (producer.outputAxis === 1 && dims.length === 2) {
    // [in, out] → rows of `in` values per output.
    if (scratch === undefined) data = new Float32Array(total);
    else {
      if (scratch.output.buffer.byteLength < total * 4) scratch.output.buffer = new ArrayBuffer(total * 4);
      data = new Float32Array(scratch.output.buffer, 0, total);
    }
    transpose(values, dims[0]!, rows, data);
  } else {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `${producer.opType} "${producer.node}": output axis ${producer.outputAxis} of a ${dims.length}-d weight is not supported`,
      { node: producer.node },
    );
  }
  let bias: Float32Array | undefined;
  if (producer.bias !== undefined) {
    const b = producerConstant(graph, producer, "bias", producer.bias);
    bias = readFloat32(b, external);
    if (bias.length !== rows) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${producer.opType} "${producer.node}": bias "${producer.bias}" has ${bias.length} values, expected ${rows}`,
        { node: producer.node, tensor: producer.bias },
      );
    }
  }
  return { data, rows, cols, bias };
}

/** Tile edge of {@link transpose}: a 64 x 64 float tile is 16 KB, so source and target tiles stay in L1. */
const TILE = 64;

/**
 * out (cols x rows) = the transpose of x (rows x cols), both row-major, tile by tile: the plain double
 * loop writes one cache line per element when rows is large (a 25088 x 4096 classifier: seconds).
 */
export function transpose(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let r = r0; r < r1; r++) {
        const src = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = x[src + c]!;
      }
    }
  }
}
