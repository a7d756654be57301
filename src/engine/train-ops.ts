// The training engine's op table: which ONNX ops compileTrainer can differentiate, and their lowerings
// (grad/*.ts). Ops outside it are ONNX_UNSUPPORTED naming the node, never silently skipped.
import type { GraphNode } from "../graph/ir.ts";
import { trainActivation } from "./grad/act.ts";
import { trainConv } from "./grad/conv.ts";
import { trainAdd } from "./grad/eltwise.ts";
import { trainAlias, trainConcat } from "./grad/layout.ts";
import { trainGemm, trainMatMul } from "./grad/linear.ts";
import { trainBatchNorm } from "./grad/norm.ts";
import { trainAveragePool, trainGlobalAveragePool, trainGlobalMaxPool, trainMaxPool } from "./grad/pool.ts";
import type { TrainLower } from "./train-lower.ts";

export const TRAIN_OP_TABLE: Readonly<Record<string, TrainLower>> = {
  Conv: trainConv,
  BatchNormalization: trainBatchNorm,
  Relu: trainActivation,
  LeakyRelu: trainActivation,
  Clip: trainActivation,
  Sigmoid: trainActivation,
  HardSigmoid: trainActivation,
  HardSwish: trainActivation,
  Tanh: trainActivation,
  MaxPool: trainMaxPool,
  AveragePool: trainAveragePool,
  GlobalAveragePool: trainGlobalAveragePool,
  GlobalMaxPool: trainGlobalMaxPool,
  Gemm: trainGemm,
  MatMul: trainMatMul,
  Add: trainAdd,
  Concat: trainConcat,
  Flatten: trainAlias,
  Reshape: trainAlias,
  Squeeze: trainAlias,
  Unsqueeze: trainAlias,
  Identity: trainAlias,
  Dropout: trainAlias,
};

/** Op types the training engine differentiates (default ONNX domain). */
export const TRAIN_OPS: readonly string[] = Object.keys(TRAIN_OP_TABLE);

/** The training lowering of a node, or undefined when the engine cannot differentiate it. */
export function trainLowering(node: GraphNode): TrainLower | undefined {
  if (node.domain !== "" && node.domain !== "ai.onnx") return undefined;
  return Object.hasOwn(TRAIN_OP_TABLE, node.opType) ? TRAIN_OP_TABLE[node.opType] : undefined;
}
