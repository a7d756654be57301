// prunekit's public API. Everything exported here is named; anything else is internal.
// Works unchanged in Node 20+, Deno 2 and browsers (file helpers for Node/Deno are in ./node/index.ts).

export {
  type CommonPruneOptions,
  type CompareModelsResult,
  type CriterionScores,
  type CriterionScoresOptions,
  compare,
  criterionScores,
  describeModel,
  type EPrunerPruneOptions,
  type EvaluateModelOptions,
  type EvaluateModelResult,
  evaluate,
  type FinetuneOptions,
  type FinetuneReport,
  type FinetuneResult,
  finetune,
  type GatePruneOptions,
  type GateScoresOptions,
  type GroupSummary,
  gateScores,
  type LayerReport,
  type LoadModelOptions,
  loadModel,
  MACS_CONVENTION,
  type MagnitudePruneOptions,
  type MergePruneOptions,
  type MethodName,
  type Model,
  type ModelDescription,
  type PlannedLayer,
  type PruneOptionKey,
  type PruneOptions,
  type PrunePlanReport,
  type PruneReport,
  type PruneResult,
  planPrune,
  prune,
  type SizeReport,
  type TaylorScores,
  type WidthPruneOptions,
} from "./api.ts";
export {
  DATA_CACHE_DIR_ENV,
  DATASET_FILES,
  type DatasetFile,
  DOWNLOAD_NAMES,
  type DownloadedFile,
  type DownloadIo,
  type DownloadName,
  type DownloadOptions,
  type DownloadResult,
  downloadDataset,
} from "./data/download.ts";
export {
  FASHION_MNIST_DEFAULT_DIR,
  FASHION_MNIST_DIR_ENV,
  type FashionMnistOptions,
  type FashionMnistSplit,
  fashionMnistDir,
  type ImageSet,
  loadFashionMnist,
  type ReadDataFile,
} from "./data/fashion-mnist.ts";
export { readIdx } from "./data/idx.ts";
export {
  type DataSplit,
  type ImagesFromArraysInit,
  imagesFromArrays,
  limitImages,
  type RawImages,
} from "./data/images.ts";
export {
  type Preprocessing,
  type PreprocessOptions,
  planPreprocessing,
  preprocessBatch,
} from "./data/preprocess.ts";
export {
  DATA_SPEC_FORMS,
  type DataKind,
  type DataSpec,
  type LoadImagesOptions,
  loadImages,
  parseDataSpec,
} from "./data/spec.ts";
export type { EpochRecord } from "./engine/checkpoint.ts";
export { type CompiledModel, type CompileOptions, compileModel, type StepTiming } from "./engine/compile.ts";
export { type WareOptions, type WareResult, ware } from "./engine/metrics.ts";
export { SCHEDULES, type Schedule } from "./engine/optim.ts";
export { compileTrainer, type Trainer, type TrainerOptions, type TrainParam } from "./engine/tape.ts";
export {
  isPrunekitError,
  PrunekitError,
  type PrunekitErrorCode,
  type PrunekitErrorDetails,
} from "./errors.ts";
export { findDependencyGroups } from "./graph/find-groups.ts";
export { type DependencyGroup, isInner, pathIsMergeSafe } from "./graph/group.ts";
export { buildGraph, type Graph } from "./graph/ir.ts";
export { BUDGET_DEFAULTS, type BudgetOptions, type BudgetRounding } from "./methods/budget.ts";
export type { MethodContext, MethodData } from "./methods/context.ts";
export { type Criterion, type KeptRounding, keptCount } from "./methods/criteria.ts";
export {
  GATE_DEFAULTS,
  type GateOptions,
  type GateTrajectoryPoint,
  planGate,
} from "./methods/gate.ts";
export { MAGNITUDE_DEFAULTS, type MagnitudeOptions, planMagnitude } from "./methods/magnitude.ts";
export { MERGE_DEFAULTS, type MergeOptions, planMerge } from "./methods/merge.ts";
export { METHOD_NAMES, METHODS, type MethodEntry } from "./methods/registry.ts";
export { decodeModel, encodeModel, type ModelProto } from "./onnx/index.ts";
export type { ProgressEvent } from "./progress.ts";
export { applyPlan, type SurgeryOptions, type SurgeryResult } from "./surgery/apply.ts";
export { patchValues, type TensorValue, type TensorValues } from "./surgery/model-patch.ts";
export { type ChannelMerge, type GroupPlan, type PrunePlan, validatePlan } from "./surgery/plan.ts";
export { type CreateWasmOptions, createWasm, getWasm, type Wasm } from "./wasm/instance.ts";
export {
  relaxedSimdSupported,
  type SimdLevel,
  setWasmSource,
  type WasmSource,
  type WasmSources,
} from "./wasm/load.ts";
