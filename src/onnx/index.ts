// The ONNX layer's exports, named one by one (src/index.ts picks the public ones). Node-only file
// helpers live in src/node/model-files.ts, outside this folder, so browser bundles that import this
// file never pull in node:fs.
export {
  type BuildAttribute,
  type BuildFloatInitializer,
  type BuildModelSpec,
  type BuildNode,
  type BuildValue,
  buildModel,
} from "./build.ts";
export { DEFAULT_MAX_MODEL_BYTES, type DecodeOptions, decodeModel } from "./decode.ts";
export { encodeModel } from "./encode.ts";
export { type ExternalDataRef, externalDataRef, usesExternalData } from "./external-data.ts";
export { type LoadedOnnx, type LoadOnnxOptions, loadOnnx, type ReadModelFile } from "./load.ts";
export {
  type AttributeProto,
  AttributeType,
  DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./proto-types.ts";
export {
  dataTypeName,
  type ExternalTensorData,
  makeFloat32Tensor,
  makeInt64Tensor,
  readFloat32,
  readInt64,
  tensorElementCount,
} from "./tensor.ts";
export {
  DEFAULT_MAX_MEMORY,
  DEFAULT_MAX_TENSOR_ELEMENTS,
  nodeLabel,
  PEAK_MEMORY_FACTOR,
  type ValidatedModel,
  type ValidateOptions,
  validateModel,
} from "./validate.ts";
