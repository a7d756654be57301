import { PrunekitError } from "../errors.ts";
import { type MessagePlan, onnxCodec } from "./codec.ts";
import type { ModelProto } from "./proto-types.ts";

/** Limits for {@link decodeModel}. */
export interface DecodeOptions {
  /**
   * Largest accepted input, in bytes (default 2^31 - 1, protobuf's own 2 GiB limit; larger models
   * keep their weights in external data files).
   */
  maxBytes?: number;
}

/** protobuf messages cannot exceed 2 GiB. */
export const DEFAULT_MAX_MODEL_BYTES: number = 2 ** 31 - 1;

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/** Where the converter is, for error messages: field names, indices and object names. */
type PathStep = { field: string; index?: number; typeName?: string; name?: string };

/**
 * Decode the bytes of an `.onnx` file into plain objects (see proto-types.ts).
 *
 * Decoding uses protobufjs with the schema in onnx-schema.ts. Fields the schema does not know
 * (newer IR versions) are kept in `unknownFields` and written back by {@link encodeModel}. Only the
 * wire format is checked here; run {@link validateModel} (or use {@link loadOnnx}) before trusting
 * dims, data lengths or graph structure.
 *
 * @param bytes the file contents. Bytes fields of the result (rawData, ...) are views into this
 *   buffer: do not modify it while the model is in use.
 * @param options size limit.
 * @returns the decoded model.
 * @throws PrunekitError `ONNX_DECODE` when the bytes are not a decodable ONNX model (truncated,
 *   corrupt, another file type); `ONNX_INVALID` when an int64 value is beyond 2^53 or the input is
 *   larger than `maxBytes`.
 * @example
 * const model = decodeModel(new Uint8Array(await readFile("model.onnx")));
 * model.graph?.node.map((n) => n.opType);
 */
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    throw new PrunekitError("INVALID_ARGUMENT", `decodeModel: expected a Uint8Array, got ${describe(bytes)}`);
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (bytes.length > maxBytes) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `model is ${bytes.length} bytes, above the limit of ${maxBytes} bytes (raise the maxBytes option if the file is trusted)`,
    );
  }
  if (bytes.length === 0) throw new PrunekitError("ONNX_DECODE", "not an ONNX model: the file is empty");
  const foreign = foreignFormat(bytes);
  if (foreign !== undefined) throw new PrunekitError("ONNX_DECODE", `not an ONNX model: ${foreign}`);
  // A Node Buffer would make protobufjs return Buffer slices; decode from a plain Uint8Array view so
  // the result holds plain Uint8Arrays in every runtime.
  const plain =
    Object.getPrototypeOf(bytes) === Uint8Array.prototype
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { modelType, modelPlan, Reader } = onnxCodec();
  let message: unknown;
  try {
    const reader = new Reader(plain);
    reader.discardUnknown = false; // keep unknown fields ($unknowns) so encode can write them back
    message = modelType.decode(reader);
  } catch (e) {
    throw new PrunekitError(
      "ONNX_DECODE",
      `not an ONNX model: the protobuf data is truncated or corrupt (${errorText(e)}); check that the file is a complete .onnx file`,
      { cause: e },
    );
  }
  const model = toPlain(message as Record<string, unknown>, modelPlan, []) as unknown as ModelProto;
  if (model.graph === undefined && model.irVersion === undefined && model.opsetImport.length === 0) {
    throw new PrunekitError(
      "ONNX_DECODE",
      "not an ONNX model: the data has no ir_version, no opset_import and no graph; check that the file is an .onnx model",
    );
  }
  return model;
}

/** Convert a decoded protobufjs message to a plain object following `plan`. */
function toPlain(msg: Record<string, unknown>, plan: MessagePlan, path: PathStep[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (plan.hasName && Object.hasOwn(msg, "name")) {
    const last = path[path.length - 1];
    if (last !== undefined) {
      last.typeName = plan.typeName;
      last.name = msg.name as string;
    }
  }
  for (const field of plan.fields) {
    const own = Object.hasOwn(msg, field.name);
    if (field.repeated) {
      // protobufjs leaves empty repeated fields on the prototype (a shared frozen array).
      const values = own ? (msg[field.name] as unknown[]) : [];
      if (field.omitWhenEmpty && values.length === 0) continue;
      const converted = new Array<unknown>(values.length);
      for (let i = 0; i < values.length; i++)
        converted[i] = convert(values[i], field.kind, field.plan, path, field.name, i);
      out[field.name] = converted;
    } else if (own) {
      out[field.name] = convert(msg[field.name], field.kind, field.plan, path, field.name, undefined);
    }
  }
  const unknowns = Object.hasOwn(msg, "$unknowns") ? (msg.$unknowns as Uint8Array[] | null) : null;
  if (unknowns && unknowns.length > 0) out.unknownFields = unknowns.slice();
  return out;
}

function convert(
  value: unknown,
  kind: string,
  plan: MessagePlan | undefined,
  path: PathStep[],
  field: string,
  index: number | undefined,
): unknown {
  switch (kind) {
    case "long":
      return toSafeInteger(value, path, field, index);
    case "message": {
      const step: PathStep = index === undefined ? { field } : { field, index };
      path.push(step);
      const result = toPlain(value as Record<string, unknown>, plan as MessagePlan, path);
      path.pop();
      return result;
    }
    default:
      return value;
  }
}

/** A protobufjs int64 (Long, or number when long.js is absent) as a JS number, refusing |v| >= 2^53. */
function toSafeInteger(value: unknown, path: PathStep[], field: string, index: number | undefined): number {
  let n: number;
  let text: string;
  if (typeof value === "number") {
    n = value;
    text = String(value);
  } else {
    const long = value as LongLike;
    const high = long.unsigned ? long.high >>> 0 : long.high | 0;
    // Exact when the result is a safe integer; any value beyond 2^53 rounds to >= 2^53 in magnitude,
    // so Number.isSafeInteger below still rejects it.
    n = high * 4294967296 + (long.low >>> 0);
    text = typeof (value as { toString?: unknown }).toString === "function" ? String(value) : String(n);
  }
  if (Number.isSafeInteger(n)) return n;
  const where = describePath(path);
  const target = `${field}${index === undefined ? "" : `[${index}]`}`;
  throw new PrunekitError(
    "ONNX_INVALID",
    `${where.label}: ${target} = ${text} is beyond 2^53, the largest integer prunekit represents exactly`,
    where.details,
  );
}

/** "tensor "w" (graph.initializer[3])" and the node/tensor names for PrunekitError details. */
function describePath(path: PathStep[]): { label: string; details: { node?: string; tensor?: string } } {
  const parts: string[] = [];
  let named: PathStep | undefined;
  const details: { node?: string; tensor?: string } = {};
  for (const step of path) {
    parts.push(step.index === undefined ? step.field : `${step.field}[${step.index}]`);
    if (step.name !== undefined) named = step;
    if (step.name !== undefined && step.typeName === "NodeProto") details.node = step.name;
    if (step.name !== undefined && step.typeName === "TensorProto") details.tensor = step.name;
  }
  const location = parts.length === 0 ? "model" : `model.${parts.join(".")}`;
  if (named === undefined) return { label: location, details };
  const kind = NAMED_KIND[named.typeName ?? ""] ?? named.typeName;
  return { label: `${kind} "${named.name}" (${location})`, details };
}

const NAMED_KIND: Record<string, string> = {
  TensorProto: "tensor",
  NodeProto: "node",
  GraphProto: "graph",
  ValueInfoProto: "value",
  AttributeProto: "attribute",
  FunctionProto: "function",
};

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x === "object") return (x as object).constructor?.name ?? "object";
  return typeof x;
}

/** Name common non-ONNX files by their first bytes, with the way to an ONNX file. */
function foreignFormat(b: Uint8Array): string | undefined {
  const starts = (...sig: number[]) => sig.every((v, i) => b[i] === v);
  if (starts(0x50, 0x4b, 0x03, 0x04)) {
    return 'this is a zip archive, as a PyTorch checkpoint (.pt / .pth) is; export the model with torch.onnx.export(model.eval(), example_input, "model.onnx")';
  }
  if (starts(0x80) && b.length > 1 && b[1]! >= 2 && b[1]! <= 5) {
    return 'this is a Python pickle (an old-style PyTorch checkpoint); export the model with torch.onnx.export(model.eval(), example_input, "model.onnx")';
  }
  if (starts(0x89, 0x48, 0x44, 0x46))
    return "this is an HDF5 file (a Keras model?); convert it to ONNX first (tf2onnx)";
  if (b[4] === 0x54 && b[5] === 0x46 && b[6] === 0x4c && b[7] === 0x33) {
    return "this is a TensorFlow Lite flatbuffer; convert it to ONNX first (tf2onnx)";
  }
  return undefined;
}
