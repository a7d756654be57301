// Fuzzing the loader with mutated real models: it either loads (and then everything downstream
// of validation works) or throws a PrunekitError. Run count: PROPERTY_RUNS (tests/setup.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { loadOnnx } from "../../src/onnx/load.ts";
import { DataType } from "../../src/onnx/proto-types.ts";
import { readFloat32, readInt64 } from "../../src/onnx/tensor.ts";
import { fixtureNames, readFixture } from "./fixtures.ts";

// The three smallest fixtures keep each run fast while covering Conv, BN, Concat and Gemm graphs.
const seeds = fixtureNames()
  .map((name) => readFixture(name))
  .sort((a, b) => a.length - b.length)
  .slice(0, 3);

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "set"; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff),
  }),
);

function mutate(source: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = source.slice();
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === "flip") bytes[at] = (bytes[at] as number) ^ (1 << m.bit);
    else if (m.kind === "set") bytes[at] = m.value;
    else if (m.kind === "truncate") bytes = bytes.slice(0, at);
    else bytes = new Uint8Array([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
  }
  return bytes;
}

test("mutated fixtures either load or throw a PrunekitError", async () => {
  assert.ok(seeds.length > 0, "no fixtures to fuzz");
  let loaded = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      async (which, mutations) => {
        const bytes = mutate(seeds[which] as Uint8Array, mutations);
        try {
          const { model, nodeOrder } = await loadOnnx(bytes);
          loaded++;
          assert.equal(nodeOrder.length, model.graph?.node.length);
          // What loads must re-encode to an equal model, and its tensors must be readable.
          assert.deepStrictEqual(decodeModel(encodeModel(model)), model);
          for (const t of model.graph?.initializer ?? []) {
            try {
              if (t.dataType === DataType.FLOAT) readFloat32(t);
              if (t.dataType === DataType.INT64) readInt64(t);
            } catch (e) {
              assert.ok(isPrunekitError(e), `accessor threw ${String(e)}`);
            }
          }
        } catch (e) {
          if (!isPrunekitError(e)) throw e;
        }
      },
    ),
  );
  // Most flips land in weight bytes and still load: the property is not vacuous.
  const runs = fc.readConfigureGlobal().numRuns ?? 100;
  if (runs >= 50) assert.ok(loaded > 0, "no mutated model loaded");
});

test("every flip of bit 6 in the first 400 bytes (headers, names, dims) loads or throws a PrunekitError", async () => {
  const bytes = seeds[0] as Uint8Array;
  for (let at = 0; at < Math.min(bytes.length, 400); at += 3) {
    const flipped = mutate(bytes, [{ kind: "flip", at, bit: 6 }]);
    await loadOnnx(flipped).catch((e: unknown) => {
      if (!isPrunekitError(e)) throw e;
    });
  }
});
