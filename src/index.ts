// prunekit's public API. Everything exported here is named; anything else is internal.
// Works unchanged in Node 20+, Deno 2 and browsers (file helpers for Node/Deno are in ./node/index.ts).

export {
  describeModel,
  type GroupSummary,
  type LayerReport,
  type LoadModelOptions,
  loadModel,
  MACS_CONVENTION,
  type MethodName,
  type Model,
  type ModelDescription,
  type PruneOptions,
  type PruneReport,
  type PruneResult,
  prune,
  type SizeReport,
} from "./api.ts";
export {
  type FashionMnistOptions,
  type FashionMnistSplit,
  fashionMnistDir,
  type ImageSet,
  loadFashionMnist,
  type ReadDataFile,
} from "./data/fashion-mnist.ts";
export { readIdx } from "./data/idx.ts";
export {
  isPrunekitError,
  PrunekitError,
  type PrunekitErrorCode,
  type PrunekitErrorDetails,
} from "./errors.ts";
export { type DependencyGroup, findDependencyGroups, isInner, pathIsMergeSafe } from "./graph/groups.ts";
export { buildGraph, type Graph } from "./graph/ir.ts";
export { applyPlan, type SurgeryResult } from "./graph/surgery.ts";
export { type Criterion, type KeptRounding, keptCount } from "./methods/criteria.ts";
export { MAGNITUDE_DEFAULTS, type MagnitudeOptions, planMagnitude } from "./methods/magnitude.ts";
export { MERGE_DEFAULTS, type MergeOptions, planMerge } from "./methods/merge.ts";
export type { ChannelMerge, GroupPlan, MethodContext, ProgressEvent, PrunePlan } from "./methods/plan.ts";
export { type WareOptions, type WareResult, ware } from "./methods/ware.ts";
export { decodeModel, encodeModel, type ModelProto } from "./onnx/index.ts";
export { type CreateWasmOptions, createWasm, getWasm, type Wasm } from "./wasm/kernels.ts";
export { relaxedSimdSupported, type SimdLevel, type WasmSource } from "./wasm/load.ts";
