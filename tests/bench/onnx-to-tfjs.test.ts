// The tfjs rebuild of an ONNX graph that the engine bench times tfjs-backend-wasm with
// (bench/lib/onnx-to-tfjs.ts) computes the same logits as onnxruntime-node, in both BatchNormalization
// treatments, on the bench's two model families.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import { buildTfjsNet, nchwToNhwc } from "../../bench/lib/onnx-to-tfjs.ts";
import { buildVgg16, VGG16_SMOKE_CFG } from "../../bench/lib/vgg.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { decodeModel } from "../../src/onnx/index.ts";

setThreadsCount(1);
await tf.setBackend("wasm");
await tf.ready();

test("nchwToNhwc moves channels last", () => {
  // 1 x 2 x 2 x 3 (N, C, H, W): value = 100 c + 10 h + w.
  const nchw = new Float32Array(12);
  for (let c = 0; c < 2; c++)
    for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) nchw[c * 6 + h * 3 + w] = 100 * c + 10 * h + w;
  assert.deepEqual([...nchwToNhwc(nchw, [1, 2, 2, 3])], [0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112]);
});

const MODELS = [
  {
    name: "the trained ResNet-20 fixture",
    bytes: readFileSync(new URL("../fixtures/trained/resnet20_fmnist.onnx", import.meta.url)),
    image: [1, 32, 32] as const,
  },
  {
    name: "a 1/16-width VGG-16-BN",
    bytes: buildVgg16(VGG16_SMOKE_CFG, 32).bytes,
    image: [3, 32, 32] as const,
  },
];

for (const model of MODELS) {
  for (const mode of ["fold", "batchNorm"] as const) {
    test(`onnx-to-tfjs (${mode}) matches onnxruntime-node on ${model.name}`, async () => {
      const graph = buildGraph(decodeModel(model.bytes));
      const [c, h, w] = model.image;
      const dims = [3, c, h, w];
      const x = new Float32Array(3 * c * h * w).map((_, i) => Math.sin(i * 0.37));
      const session = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: 1 });
      const inputName = graph.inputs[0]!.name!;
      const want = (await session.run({ [inputName]: new ort.Tensor("float32", x, dims) }))[
        session.outputNames[0]!
      ]!.data as Float32Array;
      await session.release();
      const net = buildTfjsNet(tf, graph, mode);
      const input = tf.tensor4d(nchwToNhwc(x, dims), [3, h, w, c]);
      const out = net.run(input);
      const got = out.dataSync() as Float32Array;
      assert.deepEqual(out.shape, [3, 10]);
      out.dispose();
      input.dispose();
      net.dispose();
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < want.length; i++)
        assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-4 * scale, `logit ${i}`);
    });
  }
}
