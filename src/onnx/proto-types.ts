// TypeScript shapes of the ONNX protobuf messages (onnx.proto, IR version 3-10), as decoded by
// src/onnx/decode.ts: protobufjs camelCase field names, int64 fields as JS numbers (decode refuses
// values beyond 2^53), bytes as Uint8Array. Objects are plain (no prototype tricks), so they survive
// structuredClone (Web Workers) and compare with deepStrictEqual.
//
// Presence rules, which make decode -> encode reproduce the input:
// - Repeated fields declared required here are always present (possibly empty). Repeated fields
//   declared optional (`metadataProps?`, added in IR 10, and a few rare ones) are present only when
//   the message had at least one element, so older object literals stay valid.
// - Optional scalars and sub-messages are present only when set on the wire (proto2 presence), even
//   when the value equals the default: `dataType: 0` and "no dataType" encode differently.
// - `unknownFields`, present only when needed, holds fields this schema does not know (newer IR
//   versions), as raw wire bytes including their tags; encode writes them back after the known fields.
// - Bytes fields (rawData, s, stringData, ...) decoded from a buffer are views into that buffer:
//   do not mutate the input bytes while the model is in use.

/** TensorProto.DataType values used by prunekit. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
} as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** Raw wire bytes (tag included) of fields the schema does not know; see the header comment. */
export type UnknownFields = Uint8Array[];

export interface StringStringEntryProto {
  key?: string;
  value?: string;
  unknownFields?: UnknownFields;
}

export interface OperatorSetIdProto {
  /** "" or absent means the default domain "ai.onnx". */
  domain?: string;
  version?: number;
  unknownFields?: UnknownFields;
}

/** TensorProto.Segment: this tensor is a chunk [begin, end) of a larger one. */
export interface TensorSegment {
  begin?: number;
  end?: number;
  unknownFields?: UnknownFields;
}

export interface TensorProto {
  dims: number[];
  /** A DataType value; an int32 field on the wire, so unknown values are kept as they are. */
  dataType?: number;
  segment?: TensorSegment;
  floatData: number[];
  /** Also holds INT8/UINT8/INT16/UINT16/BOOL/FLOAT16/BFLOAT16/FLOAT8 values, one per element. */
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: number[];
  name?: string;
  docString?: string;
  /** Little-endian element bytes (the form PyTorch writes). */
  rawData?: Uint8Array;
  /** With dataLocation = EXTERNAL: keys "location", "offset", "length", "checksum". */
  externalData: StringStringEntryProto[];
  /** 0 = DEFAULT, 1 = EXTERNAL */
  dataLocation?: number;
  doubleData: number[];
  uint64Data: number[];
  /** IR 10. */
  metadataProps?: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

/** A COO sparse tensor (IR 6). */
export interface SparseTensorProto {
  values?: TensorProto;
  indices?: TensorProto;
  dims: number[];
  unknownFields?: UnknownFields;
}

export interface TensorShapeDimension {
  /** Exactly one of dimValue / dimParam is set (a protobuf oneof), or neither (unknown dim). */
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
  unknownFields?: UnknownFields;
}

export interface TensorShapeProto {
  dim: TensorShapeDimension[];
  unknownFields?: UnknownFields;
}

/** TypeProto.Tensor and TypeProto.SparseTensor. */
export interface TypeProtoTensor {
  elemType?: number;
  shape?: TensorShapeProto;
  unknownFields?: UnknownFields;
}

export interface TypeProto {
  /** At most one of tensorType, sequenceType, mapType, optionalType, sparseTensorType, opaqueType. */
  tensorType?: TypeProtoTensor;
  sequenceType?: { elemType?: TypeProto; unknownFields?: UnknownFields };
  mapType?: { keyType?: number; valueType?: TypeProto; unknownFields?: UnknownFields };
  optionalType?: { elemType?: TypeProto; unknownFields?: UnknownFields };
  sparseTensorType?: TypeProtoTensor;
  /** ONNX-ML only. */
  opaqueType?: { domain?: string; name?: string; unknownFields?: UnknownFields };
  denotation?: string;
  unknownFields?: UnknownFields;
  [other: string]: unknown;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
  /** IR 10. */
  metadataProps?: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

export interface AttributeProto {
  name?: string;
  refAttrName?: string;
  docString?: string;
  /** An AttributeType value. A closed proto2 enum: an unknown value lands in unknownFields. */
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors?: SparseTensorProto[];
  typeProtos?: TypeProto[];
  unknownFields?: UnknownFields;
  [other: string]: unknown;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  /** IR 10: selects an overload of a model-local function. */
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  /** IR 10. */
  metadataProps?: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

/** Maps a tensor to its quantization parameter tensors (IR 5). */
export interface TensorAnnotation {
  tensorName?: string;
  quantParameterTensorNames: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  /** Elements are SparseTensorProto. */
  sparseInitializer: unknown[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  /** Elements are TensorAnnotation. */
  quantizationAnnotation: unknown[];
  /** IR 10. */
  metadataProps?: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

/** Training information (IR 7); prunekit keeps it as it is. */
export interface TrainingInfoProto {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntryProto[];
  updateBinding: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

/** A model-local function (IR 8); prunekit keeps it as it is. */
export interface FunctionProto {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntryProto[];
  unknownFields?: UnknownFields;
}

export interface ModelProto {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps: StringStringEntryProto[];
  /** Elements are TrainingInfoProto. */
  trainingInfo: unknown[];
  /** Elements are FunctionProto. */
  functions: unknown[];
  unknownFields?: UnknownFields;
}
