import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { validateModel } from "../../src/onnx/validate.ts";
import { fixtureNames, inputShape, readFixture, runOrt } from "./fixtures.ts";

const fixtures = fixtureNames();

test("there are fixture models to round-trip", () => {
  assert.ok(fixtures.length > 0, "no .onnx files in tests/fixtures");
});

describe("ONNX round trip on every fixture", () => {
  for (const name of fixtures) {
    test(`${name}: decode -> encode -> decode gives an equal model`, () => {
      const model = decodeModel(readFixture(name));
      assert.deepStrictEqual(decodeModel(encodeModel(model)), model);
    });

    test(`${name}: re-encoding an unmodified model is byte-identical`, () => {
      const bytes = readFixture(name);
      assert.deepStrictEqual(encodeModel(decodeModel(bytes)), bytes);
    });

    test(`${name}: validates, with the file's node order`, () => {
      const model = decodeModel(readFixture(name));
      const { nodeOrder } = validateModel(model);
      assert.deepStrictEqual(
        nodeOrder,
        model.graph?.node.map((_, i) => i),
      );
    });

    test(`${name}: onnxruntime gives identical outputs for the original and the round trip`, async () => {
      const bytes = readFixture(name);
      const model = decodeModel(bytes);
      // Change a doc string so the ORT input really is our encoder's output, not the original bytes.
      const roundTripped = encodeModel({ ...model, docString: "round trip" });
      const input = inputShape(model);
      const expected = await runOrt(bytes, input);
      const actual = await runOrt(roundTripped, input);
      assert.deepStrictEqual(actual, expected);
    });
  }
});

test("round trip keeps names, opsets, producer, metadata, doc strings, value_info and attributes", () => {
  const model = decodeModel(readFixture(fixtures[0] as string));
  const graph = model.graph;
  assert.ok(graph);
  const edited = {
    ...model,
    docString: "model doc",
    domain: "ai.example",
    modelVersion: 3,
    metadataProps: [{ key: "author", value: "prunekit tests" }],
    opsetImport: [...model.opsetImport, { domain: "com.example", version: 2 }],
    graph: {
      ...graph,
      docString: "graph doc",
      metadataProps: [{ key: "k", value: "v" }],
      valueInfo: [...graph.valueInfo, { name: "extra", docString: "vi doc", type: { denotation: "IMAGE" } }],
      node: graph.node.map((n, i) =>
        i === 0 ? { ...n, docString: "node doc", metadataProps: [{ key: "a", value: "b" }] } : n,
      ),
    },
  };
  const back = decodeModel(encodeModel(edited));
  assert.deepStrictEqual(back, edited);
  assert.equal(back.producerName, model.producerName);
  assert.equal(back.graph?.name, graph.name);
});
