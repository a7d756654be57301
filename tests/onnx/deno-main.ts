// Run by tests/onnx/runtimes.test.ts under Deno 2: decode, re-encode and load a fixture with the
// .ts sources and protobufjs from node_modules; prints one JSON line.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { loadOnnxFile } from "../../src/node/model-files.ts";
import { decodeModel, encodeModel, loadOnnx } from "../../src/onnx/index.ts";

const path = fileURLToPath(new URL("../fixtures/resnet_bn.onnx", import.meta.url));
const bytes = new Uint8Array(await readFile(path));
const reEncoded = encodeModel(decodeModel(bytes));
const loaded = await loadOnnx(bytes);
const fromFile = await loadOnnxFile(path);
console.log(
  JSON.stringify({
    byteIdentical: reEncoded.length === bytes.length && reEncoded.every((b, i) => b === bytes[i]),
    nodes: loaded.nodeOrder.length,
    nodesFromFile: fromFile.nodeOrder.length,
  }),
);
