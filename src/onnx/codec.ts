// Internal: the protobufjs root built from ONNX_SCHEMA and, per message type, a conversion plan
// between protobufjs message instances and prunekit's plain objects (proto-types.ts).
//
// protobufjs is CommonJS. `protobufjs/light.js` (explicit extension: the package has no "exports"
// map, so Node's ESM resolver needs the file name) is imported as a default import, which yields
// `module.exports` in Node, Deno (npm: specifiers) and esbuild bundles alike. The light build has
// reflection and the code-generated codecs but no .proto parser, which we do not need.
import protobuf from "protobufjs/light.js";
import { PrunekitError } from "../errors.ts";
import { ONNX_SCHEMA } from "./onnx-schema.ts";

/**
 * How a field's values are converted: "scalar" (string, bool, float, double, int32, enums: copied),
 * "long" (int64/uint64: protobufjs Long or number to a safe JS integer), "bytes" (Uint8Array),
 * "message" (a sub-message).
 */
export type FieldKind = "scalar" | "long" | "bytes" | "message";

export interface FieldPlan {
  /** camelCase field name, the property name in both representations. */
  name: string;
  repeated: boolean;
  kind: FieldKind;
  /** For kind "message". */
  plan: MessagePlan | undefined;
  /** A repeated field that is left out of the plain object when it is empty (see proto-types.ts). */
  omitWhenEmpty: boolean;
}

export interface MessagePlan {
  /** Short type name, e.g. "TensorProto", "TensorShapeProto.Dimension". */
  typeName: string;
  fields: FieldPlan[];
  /** True when the message has a `name` field (used to name things in error messages). */
  hasName: boolean;
}

export interface OnnxCodec {
  modelType: protobuf.Type;
  modelPlan: MessagePlan;
  Reader: typeof protobuf.Reader;
  Writer: typeof protobuf.Writer;
}

/**
 * Repeated fields added to proto-types.ts after its first release are optional there, so decode
 * leaves them out when empty; all other repeated fields are always present.
 */
const OMIT_WHEN_EMPTY = new Set([
  "NodeProto.metadataProps",
  "ValueInfoProto.metadataProps",
  "GraphProto.metadataProps",
  "TensorProto.metadataProps",
  "AttributeProto.sparseTensors",
  "AttributeProto.typeProtos",
]);

const LONG_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

let codec: OnnxCodec | undefined;

/** The ONNX protobufjs types and conversion plans, built once on first use (nothing at import time). */
export function onnxCodec(): OnnxCodec {
  if (codec !== undefined) return codec;
  const root = protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace).resolveAll();
  const modelType = root.lookupType("onnx.ModelProto");
  const plans = new Map<protobuf.Type, MessagePlan>();
  const planFor = (type: protobuf.Type): MessagePlan => {
    const existing = plans.get(type);
    if (existing !== undefined) return existing;
    const typeName = type.fullName.replace(/^\.onnx\./, "");
    const plan: MessagePlan = { typeName, fields: [], hasName: type.fields.name !== undefined };
    plans.set(type, plan); // before recursing: the schema is recursive (GraphProto <-> AttributeProto)
    for (const field of type.fieldsArray) {
      const resolved = field.resolve().resolvedType;
      let kind: FieldKind;
      let sub: MessagePlan | undefined;
      if (resolved instanceof protobuf.Type) {
        kind = "message";
        sub = planFor(resolved);
      } else if (LONG_TYPES.has(field.type)) kind = "long";
      else if (field.type === "bytes") kind = "bytes";
      else kind = "scalar";
      plan.fields.push({
        name: field.name,
        repeated: field.repeated,
        kind,
        plan: sub,
        omitWhenEmpty: OMIT_WHEN_EMPTY.has(`${typeName}.${field.name}`),
      });
    }
    return plan;
  };
  const modelPlan = planFor(modelType);
  // protobufjs generates each type's encoder and decoder with `Function(source)` on first use. Do
  // it now, for every type, so that a Content-Security-Policy without 'unsafe-eval' fails here with
  // a clear message rather than inside decode, where it would look like a corrupt file.
  try {
    for (const type of plans.keys()) type.setup();
  } catch (e) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `the ONNX codec could not be set up (${e instanceof Error ? e.message : String(e)}); protobufjs generates code with Function(), so a page's Content-Security-Policy must allow 'unsafe-eval' (or run prunekit in a Worker whose policy does)`,
      { cause: e },
    );
  }
  codec = { modelType, modelPlan, Reader: protobuf.Reader, Writer: protobuf.Writer };
  return codec;
}
