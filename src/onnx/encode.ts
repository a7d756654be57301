import { PrunekitError } from "../errors.ts";
import { type MessagePlan, onnxCodec } from "./codec.ts";
import type { ModelProto, TensorProto } from "./proto-types.ts";
import { forEachTensor } from "./validate.ts";

/**
 * Encode a model (plain objects, see proto-types.ts) to the bytes of an `.onnx` file.
 *
 * Fields are written in field-number order as protoc does, `unknownFields` are written back after
 * the known fields, and optional fields are written exactly when present, so decoding a file and
 * encoding it again reproduces the original bytes for files written by the protobuf C++/Python
 * runtime (PyTorch, onnx); tests/onnx/roundtrip.test.ts checks it on every fixture.
 *
 * @param model the model to encode; it is not modified.
 * @returns the protobuf bytes (a plain Uint8Array).
 * @throws PrunekitError `INVALID_ARGUMENT` when a field holds a value of the wrong type.
 * @example
 * const bytes = encodeModel(decodeModel(original)); // byte-identical to `original` for PyTorch exports
 */
export function encodeModel(model: ModelProto): Uint8Array {
  const { modelType, modelPlan, Writer } = onnxCodec();
  try {
    const message = toWire(model as unknown as Record<string, unknown>, modelPlan);
    // The writer's buffer doubles as it fills and finish() copies it out: up to four times the output
    // at once (2 GB for a 0.5 GB model). Sized from the tensors' bytes up front, it rarely grows, and
    // when the estimate is close, the output is a view of it instead of a copy. Same bytes either way.
    const writer = new Writer();
    const estimate = encodedSizeEstimate(model);
    if (estimate > writer.buf.length) writer.buf = Writer.alloc(estimate);
    modelType.encode(message, writer);
    const slack = writer.buf.length - writer.pos;
    return slack <= writer.pos / 16 + 65536 ? writer.buf.subarray(0, writer.pos) : writer.finish();
  } catch (e) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `encodeModel: the model cannot be encoded (${e instanceof Error ? e.message : String(e)}); check field types against proto-types.ts`,
      { cause: e },
    );
  }
}

/**
 * Shallow copies of every message with `unknownFields` renamed to the `$unknowns` property the
 * protobufjs encoder writes back. Arrays of numbers and bytes are shared, not copied.
 */
function toWire(msg: Record<string, unknown>, plan: MessagePlan): Record<string, unknown> {
  if (msg === null || typeof msg !== "object") {
    throw new TypeError(`${plan.typeName}: expected an object, got ${msg === null ? "null" : typeof msg}`);
  }
  const out: Record<string, unknown> = { ...msg };
  for (const field of plan.fields) {
    if (field.kind !== "message") continue;
    const value = msg[field.name];
    if (value === undefined || value === null) continue;
    const sub = field.plan as MessagePlan;
    if (field.repeated) {
      if (!Array.isArray(value)) throw new TypeError(`${plan.typeName}.${field.name}: expected an array`);
      out[field.name] = value.map((v: Record<string, unknown>) => toWire(v, sub));
    } else {
      out[field.name] = toWire(value as Record<string, unknown>, sub);
    }
  }
  delete out.unknownFields;
  const unknowns = msg.unknownFields;
  if (unknowns !== undefined) {
    if (!Array.isArray(unknowns) || !unknowns.every((u) => u instanceof Uint8Array)) {
      throw new TypeError(`${plan.typeName}.unknownFields: expected an array of Uint8Array`);
    }
    out.$unknowns = unknowns;
  }
  return out;
}

/**
 * A little more than the encoded size of `model` when its tensors dominate it: the tensors' data
 * (raw bytes, typed fields at their widest varint) plus 1/64 and 64 KB for everything else.
 */
function encodedSizeEstimate(model: ModelProto): number {
  let bytes = 0;
  forEachTensor(model, (t: TensorProto) => {
    bytes += (t.rawData?.length ?? 0) + 32;
    bytes += 4 * t.floatData.length + 8 * (t.doubleData?.length ?? 0);
    bytes += 10 * (t.int64Data.length + t.int32Data.length + (t.uint64Data?.length ?? 0));
  });
  return Math.ceil(bytes + bytes / 64 + 65536);
}
