// Fixture access and an onnxruntime-node referee shared by the tests in tests/onnx/.
import { readdirSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const fixtureDir = new URL("../fixtures/", import.meta.url);

/** Names of every .onnx fixture present, sorted. */
export function fixtureNames(): string[] {
  return readdirSync(fixtureDir)
    .filter((f) => f.endsWith(".onnx"))
    .sort();
}

/** Bytes of one fixture as a plain Uint8Array. */
export function readFixture(name: string): Uint8Array {
  const buffer = readFileSync(new URL(name, fixtureDir));
  return new Uint8Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
}

/** Concrete input shape of the model's first graph input (symbolic dims become `batch`). */
export function inputShape(model: ModelProto, batch = 2): { name: string; shape: number[] } {
  const input = model.graph?.input.find((i) => !model.graph?.initializer.some((t) => t.name === i.name));
  if (input === undefined) throw new Error("model has no graph input");
  const dims = input.type?.tensorType?.shape?.dim ?? [];
  return { name: input.name ?? "", shape: dims.map((d) => (d.dimValue !== undefined ? d.dimValue : batch)) };
}

/** Run a model with onnxruntime-node on a seeded input; returns every output's values. */
export async function runOrt(
  bytes: Uint8Array,
  input: { name: string; shape: number[] },
  seed = 7,
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const len = input.shape.reduce((a, b) => a * b, 1);
    const feeds = { [input.name]: new ort.Tensor("float32", seededFloats(seed, len), input.shape) };
    const results = await session.run(feeds);
    const out: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(results)) out[name] = tensor.data as Float32Array;
    return out;
  } finally {
    await session.release();
  }
}
