// The engine's op table: op type (default ONNX domain) -> its lowering. It sits next to the graph's op
// rules and shape rules; tests/graph/op-tables.test.ts keeps the three in step (an op one table knows and
// another does not is either added or listed there as deliberately absent, with the reason). An op outside
// this table is refused by compile with ONNX_UNSUPPORTED naming the node and op type.
import { type GraphNode, opTableEntry } from "../graph/ir.ts";
import type { Lower } from "./lower.ts";
import { lowerKernelActivation, lowerUnary, UNARY_OPS } from "./ops/act.ts";
import { lowerBatchNorm, lowerConv } from "./ops/conv.ts";
import { lowerConvTranspose } from "./ops/conv-transpose.ts";
import { lowerBinary, lowerNary, NARY_OPS } from "./ops/eltwise.ts";
import {
  lowerAlias,
  lowerConcat,
  lowerExpand,
  lowerFoldOnly,
  lowerPad,
  lowerSlice,
  lowerSplit,
  lowerTranspose,
} from "./ops/layout.ts";
import { lowerGemm, lowerMatMul } from "./ops/linear.ts";
import { lowerAveragePool, lowerGlobalAveragePool, lowerGlobalMaxPool, lowerMaxPool } from "./ops/pool.ts";
import { lowerLogSoftmax, lowerReduce, lowerSoftmax, REDUCE_OPS } from "./ops/reduce.ts";

const fromList = (ops: readonly string[], lower: Lower): Record<string, Lower> =>
  Object.fromEntries(ops.map((op) => [op, lower]));

/** Op type -> lowering. */
export const ENGINE_OP_TABLE: Readonly<Record<string, Lower>> = {
  Conv: lowerConv,
  ConvTranspose: lowerConvTranspose,
  BatchNormalization: lowerBatchNorm,
  Gemm: lowerGemm,
  MatMul: lowerMatMul,
  Relu: lowerKernelActivation,
  LeakyRelu: lowerKernelActivation,
  Clip: lowerKernelActivation,
  Sigmoid: lowerKernelActivation,
  HardSigmoid: lowerKernelActivation,
  HardSwish: lowerKernelActivation,
  Tanh: lowerKernelActivation,
  ...fromList(UNARY_OPS, lowerUnary),
  Add: lowerBinary,
  Sub: lowerBinary,
  Mul: lowerBinary,
  Div: lowerBinary,
  ...fromList(NARY_OPS, lowerNary),
  MaxPool: lowerMaxPool,
  AveragePool: lowerAveragePool,
  GlobalAveragePool: lowerGlobalAveragePool,
  GlobalMaxPool: lowerGlobalMaxPool,
  Softmax: lowerSoftmax,
  LogSoftmax: lowerLogSoftmax,
  ...fromList(REDUCE_OPS, lowerReduce),
  Identity: lowerAlias,
  Dropout: lowerAlias,
  Reshape: lowerAlias,
  Flatten: lowerAlias,
  Squeeze: lowerAlias,
  Unsqueeze: lowerAlias,
  Cast: lowerAlias,
  Concat: lowerConcat,
  Transpose: lowerTranspose,
  Split: lowerSplit,
  Slice: lowerSlice,
  Expand: lowerExpand,
  Pad: lowerPad,
  // Shape arithmetic: compile folds these when every output is a known integer value.
  ...fromList(
    [
      "Shape",
      "Size",
      "Gather",
      "ConstantOfShape",
      "Equal",
      "Less",
      "Greater",
      "Where",
      "Not",
      "Floor",
      "Ceil",
      "Round",
    ],
    lowerFoldOnly,
  ),
  Constant: lowerFoldOnly,
};

/** The op types the engine runs (the keys of its table). */
export const ENGINE_OPS: ReadonlySet<string> = new Set(Object.keys(ENGINE_OP_TABLE));

/** The lowering of a node's op, or undefined when the engine has none (or the domain is not ONNX's). */
export function engineLowering(node: GraphNode): Lower | undefined {
  return opTableEntry(ENGINE_OP_TABLE, node);
}
