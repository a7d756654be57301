// The ONNX protobuf schema (onnx/onnx-ml.proto, package `onnx`, syntax proto2, IR versions 3-10)
// as a protobufjs JSON descriptor, loaded with `Root.fromJSON` from `protobufjs/light`.
//
// Why a TS module and not a .proto or .json file: it needs no file read and no JSON import
// attribute, so the same code runs in Node, Deno and bundled browser code.
//
// Field numbers, labels and types are transcribed from the official onnx.proto (IR_VERSION 10,
// onnx 1.16/1.17); `[packed = true]` is kept exactly where onnx.proto declares it (TensorProto's
// numeric data fields) because proto2 repeated scalars are otherwise written unpacked, and byte-exact
// re-encoding depends on it. Every message carries `edition: "proto2"` so that protobufjs applies
// proto2 semantics: explicit presence for optional scalars, closed enums, unpacked repeated fields.
// `TypeProto.opaque_type` (7) is from onnx-ml.proto; the onnx wheel is built with ONNX_ML on.
//
// Fields newer than IR 10 (for example NodeProto.device_configurations = 10, IR 11) are not in this
// schema; decode keeps them as raw `unknownFields` and encode writes them back (see decode.ts).

const P2 = "proto2";

const stringStringEntries = (id: number) => ({ rule: "repeated", type: "StringStringEntryProto", id });

/** protobufjs JSON descriptor of onnx.proto (IR version <= 10). */
export const ONNX_SCHEMA: Record<string, unknown> = {
  nested: {
    onnx: {
      nested: {
        Version: {
          edition: P2,
          values: {
            _START_VERSION: 0,
            IR_VERSION_2017_10_10: 1,
            IR_VERSION_2017_10_30: 2,
            IR_VERSION_2017_11_3: 3,
            IR_VERSION_2019_1_22: 4,
            IR_VERSION_2019_3_18: 5,
            IR_VERSION_2019_9_19: 6,
            IR_VERSION_2020_5_8: 7,
            IR_VERSION_2021_7_30: 8,
            IR_VERSION_2023_5_5: 9,
            IR_VERSION: 10,
          },
        },
        AttributeProto: {
          edition: P2,
          fields: {
            name: { type: "string", id: 1 },
            refAttrName: { type: "string", id: 21 },
            docString: { type: "string", id: 13 },
            type: { type: "AttributeType", id: 20 },
            f: { type: "float", id: 2 },
            i: { type: "int64", id: 3 },
            s: { type: "bytes", id: 4 },
            t: { type: "TensorProto", id: 5 },
            g: { type: "GraphProto", id: 6 },
            sparseTensor: { type: "SparseTensorProto", id: 22 },
            tp: { type: "TypeProto", id: 14 },
            floats: { rule: "repeated", type: "float", id: 7 },
            ints: { rule: "repeated", type: "int64", id: 8 },
            strings: { rule: "repeated", type: "bytes", id: 9 },
            tensors: { rule: "repeated", type: "TensorProto", id: 10 },
            graphs: { rule: "repeated", type: "GraphProto", id: 11 },
            sparseTensors: { rule: "repeated", type: "SparseTensorProto", id: 23 },
            typeProtos: { rule: "repeated", type: "TypeProto", id: 15 },
          },
          reserved: [[12, 12], [16, 19], "v"],
          nested: {
            AttributeType: {
              edition: P2,
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                INT: 2,
                STRING: 3,
                TENSOR: 4,
                GRAPH: 5,
                SPARSE_TENSOR: 11,
                TYPE_PROTO: 13,
                FLOATS: 6,
                INTS: 7,
                STRINGS: 8,
                TENSORS: 9,
                GRAPHS: 10,
                SPARSE_TENSORS: 12,
                TYPE_PROTOS: 14,
              },
            },
          },
        },
        ValueInfoProto: {
          edition: P2,
          fields: {
            name: { type: "string", id: 1 },
            type: { type: "TypeProto", id: 2 },
            docString: { type: "string", id: 3 },
            metadataProps: stringStringEntries(4),
          },
        },
        NodeProto: {
          edition: P2,
          fields: {
            input: { rule: "repeated", type: "string", id: 1 },
            output: { rule: "repeated", type: "string", id: 2 },
            name: { type: "string", id: 3 },
            opType: { type: "string", id: 4 },
            domain: { type: "string", id: 7 },
            overload: { type: "string", id: 8 },
            attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
            docString: { type: "string", id: 6 },
            metadataProps: stringStringEntries(9),
          },
        },
        TrainingInfoProto: {
          edition: P2,
          fields: {
            initialization: { type: "GraphProto", id: 1 },
            algorithm: { type: "GraphProto", id: 2 },
            initializationBinding: stringStringEntries(3),
            updateBinding: stringStringEntries(4),
          },
        },
        ModelProto: {
          edition: P2,
          fields: {
            irVersion: { type: "int64", id: 1 },
            opsetImport: { rule: "repeated", type: "OperatorSetIdProto", id: 8 },
            producerName: { type: "string", id: 2 },
            producerVersion: { type: "string", id: 3 },
            domain: { type: "string", id: 4 },
            modelVersion: { type: "int64", id: 5 },
            docString: { type: "string", id: 6 },
            graph: { type: "GraphProto", id: 7 },
            metadataProps: stringStringEntries(14),
            trainingInfo: { rule: "repeated", type: "TrainingInfoProto", id: 20 },
            functions: { rule: "repeated", type: "FunctionProto", id: 25 },
          },
        },
        StringStringEntryProto: {
          edition: P2,
          fields: {
            key: { type: "string", id: 1 },
            value: { type: "string", id: 2 },
          },
        },
        TensorAnnotation: {
          edition: P2,
          fields: {
            tensorName: { type: "string", id: 1 },
            quantParameterTensorNames: stringStringEntries(2),
          },
        },
        GraphProto: {
          edition: P2,
          fields: {
            node: { rule: "repeated", type: "NodeProto", id: 1 },
            name: { type: "string", id: 2 },
            initializer: { rule: "repeated", type: "TensorProto", id: 5 },
            sparseInitializer: { rule: "repeated", type: "SparseTensorProto", id: 15 },
            docString: { type: "string", id: 10 },
            input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
            output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
            valueInfo: { rule: "repeated", type: "ValueInfoProto", id: 13 },
            quantizationAnnotation: { rule: "repeated", type: "TensorAnnotation", id: 14 },
            metadataProps: stringStringEntries(16),
          },
          reserved: [[3, 4], [6, 9], "ir_version", "producer_version", "producer_tag", "domain"],
        },
        TensorProto: {
          edition: P2,
          fields: {
            dims: { rule: "repeated", type: "int64", id: 1 },
            dataType: { type: "int32", id: 2 },
            segment: { type: "Segment", id: 3 },
            floatData: { rule: "repeated", type: "float", id: 4, options: { packed: true } },
            int32Data: { rule: "repeated", type: "int32", id: 5, options: { packed: true } },
            stringData: { rule: "repeated", type: "bytes", id: 6 },
            int64Data: { rule: "repeated", type: "int64", id: 7, options: { packed: true } },
            name: { type: "string", id: 8 },
            docString: { type: "string", id: 12 },
            rawData: { type: "bytes", id: 9 },
            externalData: stringStringEntries(13),
            dataLocation: { type: "DataLocation", id: 14 },
            doubleData: { rule: "repeated", type: "double", id: 10, options: { packed: true } },
            uint64Data: { rule: "repeated", type: "uint64", id: 11, options: { packed: true } },
            metadataProps: stringStringEntries(16),
          },
          nested: {
            DataType: {
              edition: P2,
              values: {
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
              },
            },
            Segment: {
              edition: P2,
              fields: {
                begin: { type: "int64", id: 1 },
                end: { type: "int64", id: 2 },
              },
            },
            DataLocation: {
              edition: P2,
              values: { DEFAULT: 0, EXTERNAL: 1 },
            },
          },
        },
        SparseTensorProto: {
          edition: P2,
          fields: {
            values: { type: "TensorProto", id: 1 },
            indices: { type: "TensorProto", id: 2 },
            dims: { rule: "repeated", type: "int64", id: 3 },
          },
        },
        TensorShapeProto: {
          edition: P2,
          fields: {
            dim: { rule: "repeated", type: "Dimension", id: 1 },
          },
          nested: {
            Dimension: {
              edition: P2,
              oneofs: { value: { oneof: ["dimValue", "dimParam"] } },
              fields: {
                dimValue: { type: "int64", id: 1 },
                dimParam: { type: "string", id: 2 },
                denotation: { type: "string", id: 3 },
              },
            },
          },
        },
        TypeProto: {
          edition: P2,
          oneofs: {
            value: {
              oneof: [
                "tensorType",
                "sequenceType",
                "mapType",
                "optionalType",
                "sparseTensorType",
                "opaqueType",
              ],
            },
          },
          fields: {
            tensorType: { type: "Tensor", id: 1 },
            sequenceType: { type: "Sequence", id: 4 },
            mapType: { type: "Map", id: 5 },
            optionalType: { type: "Optional", id: 9 },
            sparseTensorType: { type: "SparseTensor", id: 8 },
            opaqueType: { type: "Opaque", id: 7 },
            denotation: { type: "string", id: 6 },
          },
          nested: {
            Tensor: {
              edition: P2,
              fields: {
                elemType: { type: "int32", id: 1 },
                shape: { type: "TensorShapeProto", id: 2 },
              },
            },
            Sequence: {
              edition: P2,
              fields: { elemType: { type: "TypeProto", id: 1 } },
            },
            Map: {
              edition: P2,
              fields: {
                keyType: { type: "int32", id: 1 },
                valueType: { type: "TypeProto", id: 2 },
              },
            },
            Optional: {
              edition: P2,
              fields: { elemType: { type: "TypeProto", id: 1 } },
            },
            SparseTensor: {
              edition: P2,
              fields: {
                elemType: { type: "int32", id: 1 },
                shape: { type: "TensorShapeProto", id: 2 },
              },
            },
            Opaque: {
              edition: P2,
              fields: {
                domain: { type: "string", id: 1 },
                name: { type: "string", id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          edition: P2,
          fields: {
            domain: { type: "string", id: 1 },
            version: { type: "int64", id: 2 },
          },
        },
        OperatorStatus: {
          edition: P2,
          values: { EXPERIMENTAL: 0, STABLE: 1 },
        },
        FunctionProto: {
          edition: P2,
          fields: {
            name: { type: "string", id: 1 },
            input: { rule: "repeated", type: "string", id: 4 },
            output: { rule: "repeated", type: "string", id: 5 },
            attribute: { rule: "repeated", type: "string", id: 6 },
            attributeProto: { rule: "repeated", type: "AttributeProto", id: 11 },
            node: { rule: "repeated", type: "NodeProto", id: 7 },
            docString: { type: "string", id: 8 },
            opsetImport: { rule: "repeated", type: "OperatorSetIdProto", id: 9 },
            domain: { type: "string", id: 10 },
            overload: { type: "string", id: 13 },
            valueInfo: { rule: "repeated", type: "ValueInfoProto", id: 12 },
            metadataProps: stringStringEntries(14),
          },
          reserved: [[2, 2], [3, 3], "since_version", "status"],
        },
      },
    },
  },
};
