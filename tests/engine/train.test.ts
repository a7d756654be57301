// The training loop end to end on real data (a Fashion-MNIST slice): loss falls and accuracy rises,
// a resumed run equals an uninterrupted one bit for bit, cancellation returns nothing.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { finetune, loadModel } from "../../src/api.ts";
import { limitImages, type RawImages } from "../../src/data/images.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { epochOrder } from "../../src/engine/augment.ts";
import { decodeCheckpoint } from "../../src/engine/checkpoint.ts";
import { learningRate } from "../../src/engine/optim.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { seededNormals } from "../../src/wasm/seeded-random.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const readFileBytes = async (p: string) => new Uint8Array(await readFile(p));

async function slice(split: "train" | "test", limit?: number): Promise<RawImages> {
  return loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split,
    readFile: readFileBytes,
    ...(limit === undefined ? {} : { limit }),
  });
}

/** A small CNN for 1x28x28 with Kaiming-normal weights from a seed (BN at γ 1, β 0, stats 0/1). */
function smallCnn(seed: number): ModelProto {
  const nb = new NetBuilder("input", [1, 28, 28]);
  const a = nb.maxpool(nb.relu(nb.bn(nb.conv("input", 8))));
  const b = nb.maxpool(nb.relu(nb.bn(nb.conv(a, 16))));
  const out = nb.gemm(nb.flatten(b), 10);
  const model = nb.model([out]);
  const init = model.graph!.initializer.map((t, i) => {
    const dims = (t.dims ?? []).map(Number);
    const len = dims.reduce((x, y) => x * y, 1);
    const name = t.name ?? "";
    let data: number[];
    if (name.startsWith("g") || name.startsWith("var")) data = new Array(len).fill(1);
    else if (name.startsWith("beta") || name.startsWith("mean") || name.startsWith("fcb"))
      data = new Array(len).fill(0);
    else {
      const fanIn = dims.slice(1).reduce((x, y) => x * y, 1);
      data = Array.from(seededNormals(seed * 100 + i, len), (v) => v * Math.sqrt(2 / fanIn));
    }
    return makeFloat32Tensor(name, dims, data);
  });
  return { ...model, graph: { ...model.graph!, initializer: init } };
}

test("a small CNN trained from scratch on 2000 Fashion-MNIST images: loss falls every epoch, test top-1 > 75 %", async () => {
  const model = await loadModel(encodeModel(smallCnn(1)));
  const train = await slice("train");
  const testSet = await slice("test");
  const { report, bytes } = await finetune(model, {
    data: train,
    test: testSet,
    epochs: 3,
    batch: 32,
    lr: 0.01,
    seed: 3,
    augment: false,
    mean: [0.286],
    std: [0.353],
  });
  const losses = report.history.map((h) => h.loss);
  assert.equal(losses.length, 3);
  assert.ok(losses[1]! < losses[0]! && losses[2]! < losses[1]!, `epoch losses ${losses.join(", ")}`);
  assert.ok(report.before! < 0.3, `before ${report.before}`);
  assert.ok(report.after! > 0.75, `after ${report.after}`);
  // The output is a complete model: same nodes and names, new values.
  const out = await loadModel(bytes);
  assert.deepEqual(
    out.graph.order.map((n) => n.name),
    model.graph.order.map((n) => n.name),
  );
});

test("resume: 2 epochs equal 1 epoch, a checkpoint, and 1 more epoch resumed, bit for bit", async () => {
  const model = await loadModel(encodeModel(smallCnn(2)));
  const train = limitImages(await slice("train"), 200);
  const common = { data: train, batch: 32, lr: 0.02, seed: 5, mean: [0.286], std: [0.353] };
  const straight = await finetune(model, { ...common, epochs: 2 });
  let saved: Uint8Array | undefined;
  await finetune(model, {
    ...common,
    epochs: 1,
    onCheckpoint: async (b) => {
      saved = b;
    },
  });
  assert.ok(saved !== undefined);
  assert.equal(decodeCheckpoint(saved, "checkpoint").epoch, 1);
  const resumed = await finetune(model, { ...common, epochs: 2, resumeFrom: saved });
  assert.deepEqual(resumed.bytes, straight.bytes);
  assert.deepEqual(
    resumed.report.history,
    straight.report.history.map((h, i) => ({ ...h, seconds: resumed.report.history[i]!.seconds })),
  );
  // Other settings are refused.
  await assert.rejects(
    finetune(model, { ...common, seed: 6, epochs: 2, resumeFrom: saved }),
    (e: unknown) => isPrunekitError(e) && e.code === "CHECKPOINT_INVALID" && /seed/.test(e.message),
  );
  await assert.rejects(
    finetune(model, { ...common, epochs: 2, resumeFrom: saved.subarray(0, saved.length - 3) }),
    (e: unknown) => isPrunekitError(e) && e.code === "CHECKPOINT_INVALID",
  );
});

test("cancellation: an aborted run rejects with ABORTED after its last complete checkpoint", async () => {
  const model = await loadModel(encodeModel(smallCnn(3)));
  const train = limitImages(await slice("train"), 128);
  const controller = new AbortController();
  const epochs: number[] = [];
  await assert.rejects(
    finetune(model, {
      data: train,
      epochs: 3,
      batch: 32,
      onCheckpoint: async (_b, epoch) => {
        epochs.push(epoch);
      },
      onProgress: (e) => {
        if (e.done === 6) controller.abort(); // during epoch 2
      },
      signal: controller.signal,
    }),
    (e: unknown) => isPrunekitError(e) && e.code === "ABORTED",
  );
  assert.deepEqual(epochs, [1]);
});

test("the last partial batch is kept; --limit-style subsets and seeds give reproducible orders", async () => {
  const a = epochOrder(10, 7, 2, true);
  assert.deepEqual(a, epochOrder(10, 7, 2, true));
  assert.notDeepEqual(a, epochOrder(10, 7, 3, true));
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    [...epochOrder(10, 0, 0, false)],
  );
  const model = await loadModel(encodeModel(smallCnn(4)));
  const train = limitImages(await slice("train"), 70); // 2 batches of 32 + 6
  const steps: number[] = [];
  await finetune(model, { data: train, epochs: 1, batch: 32, onProgress: (e) => steps.push(e.total) });
  assert.equal(steps.at(-1), 3);
});

test("schedules: step, cosine, triangular and warm-up give the documented rates", () => {
  const at = (iter: number) => ({ iter, itersPerEpoch: 10, epochs: 4 });
  assert.equal(learningRate(0.1, { kind: "constant" }, at(37)), 0.1);
  const step = { kind: "step", milestones: [1, 3], gamma: 0.1 } as const;
  assert.equal(learningRate(0.1, step, at(9)), 0.1);
  assert.ok(Math.abs(learningRate(0.1, step, at(10)) - 0.01) < 1e-15);
  assert.ok(Math.abs(learningRate(0.1, step, at(30)) - 0.001) < 1e-15);
  const cos = { kind: "cosine", lrMin: 0 } as const;
  assert.equal(learningRate(0.1, cos, at(0)), 0.1);
  assert.ok(Math.abs(learningRate(0.1, cos, at(20)) - 0.05) < 1e-12);
  const tri = { kind: "triangular", lrMin: 0.001 } as const;
  assert.equal(learningRate(0.01, tri, at(0)), 0.001);
  assert.ok(Math.abs(learningRate(0.01, tri, at(20)) - 0.01) < 1e-12);
  assert.ok(Math.abs(learningRate(0.01, tri, at(30)) - 0.0055) < 1e-12);
  assert.ok(Math.abs(learningRate(0.1, { kind: "constant" }, at(1), 4) - 0.05) < 1e-12);
});
