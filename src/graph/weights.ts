// Reading a producer's filters as rows: the form every criterion and decomposition works on.
import { PrunekitError } from "../errors.ts";
import { type ExternalTensorData, readFloat32 } from "../onnx/tensor.ts";
import type { GroupProducer } from "./groups.ts";
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
 * The filters of a producer, one row per output channel, whatever the weight layout (Conv OIHW,
 * Gemm with or without transB, MatMul [in, out]).
 * @throws PrunekitError `ONNX_INVALID` when the weight or bias is missing or has the wrong shape.
 */
export function producerFilters(
  graph: Graph,
  producer: GroupProducer,
  external?: ExternalTensorData,
): FilterMatrix {
  const w = graph.constants.get(producer.weight);
  if (w === undefined) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${producer.opType} "${producer.node}": weight "${producer.weight}" is not a constant`,
      {
        node: producer.node,
        tensor: producer.weight,
      },
    );
  }
  const values = readFloat32(w, external);
  const dims = w.dims;
  const rows = dims[producer.outputAxis] ?? 0;
  const total = values.length;
  const cols = rows === 0 ? 0 : total / rows;
  let data: Float32Array;
  if (producer.outputAxis === 0) {
    data = values;
  } else if (producer.outputAxis === 1 && dims.length === 2) {
    // [in, out] → rows of `in` values per output.
    const inF = dims[0]!;
    data = new Float32Array(total);
    for (let i = 0; i < inF; i++) for (let o = 0; o < rows; o++) data[o * inF + i] = values[i * rows + o]!;
  } else {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `${producer.opType} "${producer.node}": output axis ${producer.outputAxis} of a ${dims.length}-d weight is not supported`,
      { node: producer.node },
    );
  }
  let bias: Float32Array | undefined;
  if (producer.bias !== undefined) {
    const b = graph.constants.get(producer.bias);
    if (b === undefined) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${producer.opType} "${producer.node}": bias "${producer.bias}" is not a constant`,
        {
          node: producer.node,
          tensor: producer.bias,
        },
      );
    }
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
