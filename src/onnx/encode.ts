import { PrunekitError } from "../errors.ts";
import { type MessagePlan, onnxCodec } from "./codec.ts";
import type { ModelProto } from "./proto-types.ts";

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
    return modelType.encode(message, new Writer()).finish();
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
