// Untrusted input: every malformed model ends in a PrunekitError with a stable code and a message
// naming the node or tensor; never another exception, a hang or an out-of-memory.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { loadOnnx } from "../../src/onnx/load.ts";
import { DataType, type ModelProto, type TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { fixtureNames, readFixture } from "./fixtures.ts";

/** x -> Conv "stem.conv" -> Relu "stem.relu" -> y */
function goodModel(): ModelProto {
  return buildModel({
    inputs: [{ name: "x", shape: [1, 1, 4, 4] }],
    outputs: [{ name: "y" }],
    initializers: [makeFloat32Tensor("stem.conv.weight", [2, 1, 3, 3], new Float32Array(18))],
    nodes: [
      { opType: "Conv", name: "stem.conv", inputs: ["x", "stem.conv.weight"], outputs: ["c"] },
      { opType: "Relu", name: "stem.relu", inputs: ["c"], outputs: ["y"] },
    ],
  });
}

function weight(model: ModelProto): TensorProto {
  return model.graph?.initializer[0] as TensorProto;
}

async function expectLoadError(
  bytes: Uint8Array,
  code: PrunekitErrorCode | PrunekitErrorCode[],
  pattern: RegExp,
  where: { node?: string; tensor?: string } = {},
): Promise<void> {
  await assert.rejects(loadOnnx(bytes), (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.ok(([] as string[]).concat(code).includes(e.code), `${e.code}: ${e.message}`);
    assert.match(e.message, pattern);
    if (where.node !== undefined) assert.equal(e.node, where.node);
    if (where.tensor !== undefined) assert.equal(e.tensor, where.tensor);
    return true;
  });
}

async function expectModelError(
  edit: (m: ModelProto) => void,
  code: PrunekitErrorCode,
  pattern: RegExp,
  where: { node?: string; tensor?: string } = {},
): Promise<void> {
  const model = goodModel();
  edit(model);
  await expectLoadError(encodeModel(model), code, pattern, where);
}

test("the base model of this suite loads", async () => {
  const { nodeOrder } = await loadOnnx(encodeModel(goodModel()));
  assert.deepStrictEqual(nodeOrder, [0, 1]);
});

describe("bytes that are not an ONNX model", () => {
  test("an empty file", () =>
    expectLoadError(new Uint8Array(0), "ONNX_DECODE", /not an ONNX model: the file is empty/));

  test("random bytes", async () => {
    let seed = 1;
    for (let run = 0; run < 20; run++) {
      const bytes = new Uint8Array(64 + run * 37).map(() => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed >>> 24;
      });
      await expectLoadError(bytes, "ONNX_DECODE", /not an ONNX model/);
    }
  });

  test("a text file", () =>
    expectLoadError(
      new TextEncoder().encode("hello, this is not a model\n"),
      "ONNX_DECODE",
      /not an ONNX model/,
    ));

  test("a PNG header", () =>
    expectLoadError(
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      "ONNX_DECODE",
      /not an ONNX model/,
    ));

  for (const name of fixtureNames().slice(0, 3)) {
    test(`${name} truncated at many points`, async () => {
      // Cut inside a field: a decode error. Cut exactly between two top-level fields (say after
      // ir_version): valid protobuf, but the graph or opset_import is missing.
      const bytes = readFixture(name);
      for (let keep = 1; keep < bytes.length; keep += 1 + Math.floor(keep / 3)) {
        await expectLoadError(
          bytes.subarray(0, keep),
          ["ONNX_DECODE", "ONNX_INVALID"],
          /not an ONNX model|is the file truncated/,
        );
      }
      await expectLoadError(bytes.subarray(0, bytes.length - 1), "ONNX_DECODE", /truncated or corrupt/);
    });
  }
});

test("a file above maxBytes is refused before decoding", async () => {
  await assert.rejects(loadOnnx(encodeModel(goodModel()), { maxBytes: 10 }), (e: unknown) => {
    return isPrunekitError(e) && e.code === "ONNX_INVALID" && /maxBytes/.test(e.message);
  });
});

describe("tensors whose dims or data disagree", () => {
  test("a negative dim", () =>
    expectModelError(
      (m) => {
        weight(m).dims = [2, -1, 3, 3];
      },
      "ONNX_INVALID",
      /tensor "stem.conv.weight": dims\[1\] is -1, expected a non-negative integer/,
      { tensor: "stem.conv.weight" },
    ));

  test("a tensor claiming 2^40 elements", () =>
    expectModelError(
      (m) => {
        weight(m).dims = [2 ** 20, 2 ** 20];
      },
      "ONNX_INVALID",
      /tensor "stem.conv.weight": dims \[1048576, 1048576\] give more than 2147483648 elements/,
      { tensor: "stem.conv.weight" },
    ));

  test("raw_data shorter than dims", () =>
    expectModelError(
      (m) => {
        weight(m).rawData = new Uint8Array(70);
      },
      "ONNX_INVALID",
      /tensor "stem.conv.weight": raw_data has 70 bytes, expected 72 \(18 elements of FLOAT/,
      { tensor: "stem.conv.weight" },
    ));

  test("float_data longer than dims", () =>
    expectModelError(
      (m) => {
        delete weight(m).rawData;
        weight(m).floatData = new Array(19).fill(0);
      },
      "ONNX_INVALID",
      /tensor "stem.conv.weight": float_data has 19 values, expected 18/,
    ));

  test("int64_data that disagrees with dims", () =>
    expectModelError(
      (m) => {
        m.graph?.initializer.push({
          ...makeFloat32Tensor("shape", [2], [0, 0]),
          dataType: DataType.INT64,
          rawData: undefined,
          int64Data: [1, 2, 3],
        });
        delete m.graph?.initializer[1]?.rawData;
      },
      "ONNX_INVALID",
      /tensor "shape": int64_data has 3 values, expected 2/,
    ));

  test("an initializer with no data at all", () =>
    expectModelError(
      (m) => delete weight(m).rawData,
      "ONNX_INVALID",
      /tensor "stem.conv.weight": has no data/,
    ));

  test("both raw_data and float_data", () =>
    expectModelError(
      (m) => {
        weight(m).floatData = [1];
      },
      "ONNX_INVALID",
      /both raw_data and float_data/,
    ));

  test("an unknown data type", () =>
    expectModelError(
      (m) => {
        weight(m).dataType = 99;
      },
      "ONNX_UNSUPPORTED",
      /tensor "stem.conv.weight": data type 99 is not a data type/,
    ));

  test("a missing data type", () =>
    expectModelError(
      (m) => delete weight(m).dataType,
      "ONNX_INVALID",
      /tensor "stem.conv.weight": data_type is missing/,
    ));

  test("a bad tensor inside a Constant node's attribute is found too", () =>
    expectModelError(
      (m) => {
        m.graph?.node.push({
          opType: "Constant",
          name: "const",
          input: [],
          output: ["k"],
          attribute: [
            {
              name: "value",
              type: 4,
              t: { ...makeFloat32Tensor("k", [4], [1, 2, 3, 4]), dims: [5] },
              floats: [],
              ints: [],
              strings: [],
              tensors: [],
              graphs: [],
            },
          ],
        });
      },
      "ONNX_INVALID",
      /tensor "k": raw_data has 16 bytes, expected 20/,
    ));

  test("a total beyond maxTotalTensorBytes", async () => {
    await assert.rejects(loadOnnx(encodeModel(goodModel()), { maxTotalTensorBytes: 50 }), (e: unknown) => {
      return isPrunekitError(e) && e.code === "ONNX_INVALID" && /maxTotalTensorBytes/.test(e.message);
    });
  });
});

describe("graphs whose structure is broken", () => {
  test("a missing initializer", () =>
    expectModelError(
      (m) => {
        m.graph?.initializer.pop();
      },
      "ONNX_INVALID",
      /^Conv "stem.conv": input "stem.conv.weight" is not produced by any node, graph input or initializer$/,
      { node: "stem.conv", tensor: "stem.conv.weight" },
    ));

  test("a missing graph input", () =>
    expectModelError(
      (m) => {
        m.graph?.input.pop();
      },
      "ONNX_INVALID",
      /Conv "stem.conv": input "x" is not produced/,
    ));

  test("a graph output nobody produces", () =>
    expectModelError(
      (m) => {
        m.graph?.output.push({ name: "ghost" });
      },
      "ONNX_INVALID",
      /graph output "ghost" is not produced/,
    ));

  test("an omitted optional input ('') is fine", async () => {
    const model = goodModel();
    model.graph?.node[0]?.input.push("");
    await loadOnnx(encodeModel(model));
  });

  test("a cycle", () =>
    expectModelError(
      (m) => {
        const graph = m.graph;
        assert.ok(graph);
        // c -> Relu "stem.relu" -> y -> Add "loop" -> c2, and the Conv now reads c2 instead of x.
        graph.node.push({ opType: "Add", name: "loop", input: ["y", "y"], output: ["c2"], attribute: [] });
        (graph.node[0] as { input: string[] }).input[0] = "c2";
      },
      "ONNX_INVALID",
      /graph has a cycle: (?=.*Conv "stem.conv")(?=.*Relu "stem.relu")(?=.*Add "loop")/,
    ));

  test("a node that feeds itself", () =>
    expectModelError(
      (m) => {
        m.graph?.node.push({ opType: "Add", name: "self", input: ["z", "y"], output: ["z"], attribute: [] });
      },
      "ONNX_INVALID",
      /graph has a cycle: Add "self" -> Add "self"/,
      { node: "self" },
    ));

  test("two nodes producing the same value", () =>
    expectModelError(
      (m) => {
        m.graph?.node.push({ opType: "Relu", name: "dup", input: ["c"], output: ["y"], attribute: [] });
      },
      "ONNX_INVALID",
      /Relu "dup": output "y" is already produced by Relu "stem.relu"/,
    ));

  test("a node output that shadows an initializer", () =>
    expectModelError(
      (m) => {
        m.graph?.node.push({
          opType: "Relu",
          name: "shadow",
          input: ["c"],
          output: ["stem.conv.weight"],
          attribute: [],
        });
      },
      "ONNX_INVALID",
      /Relu "shadow": output "stem.conv.weight" is already produced by a graph input or initializer/,
    ));

  test("an empty op_type", () =>
    expectModelError(
      (m) => {
        (m.graph?.node[1] as { opType?: string }).opType = "";
      },
      "ONNX_INVALID",
      /\(no op_type\) "stem.relu": op_type is empty/,
    ));

  test("no graph at all", () =>
    expectModelError(
      (m) => {
        delete m.graph;
      },
      "ONNX_INVALID",
      /model has no graph/,
    ));
});

test("nodes out of order are accepted and sorted", async () => {
  const model = goodModel();
  model.graph?.node.reverse();
  const { nodeOrder } = await loadOnnx(encodeModel(model));
  assert.deepStrictEqual(nodeOrder, [1, 0]);
});

test("an external-data path with '..' is refused", () =>
  expectModelError(
    (m) => {
      const w = weight(m);
      delete w.rawData;
      w.dataLocation = 1;
      w.externalData = [{ key: "location", value: "../../etc/passwd" }];
    },
    "EXTERNAL_DATA",
    /tensor "stem.conv.weight": external data location "..\/..\/etc\/passwd" points outside the model's folder/,
    { tensor: "stem.conv.weight" },
  ));

test("decodeModel itself refuses non-Uint8Array input", () => {
  assert.throws(
    () => decodeModel("model.onnx" as unknown as Uint8Array),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
  );
});

test("common non-ONNX files are named, with the way to an ONNX file", () => {
  const cases: [number[], RegExp][] = [
    [[0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0], /zip archive, as a PyTorch checkpoint .*torch\.onnx\.export/],
    [[0x80, 0x02, 0x63, 0x5f, 0, 0, 0, 0], /Python pickle/],
    [[0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], /HDF5/],
    [[0x18, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33], /TensorFlow Lite/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => decodeModel(Uint8Array.from(bytes)),
      (e: unknown) => isPrunekitError(e) && e.code === "ONNX_DECODE" && pattern.test(e.message),
    );
  }
});
