// Gate Decorator's resumable runs and data-parallel Tick-Tock: a run resumed from any of its
// checkpoints (after a Tick, after a Tock, inside a Tock) writes the same bytes as the uninterrupted
// run; a checkpoint of other settings is refused; one worker equals none bit for bit.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { type GatePruneOptions, loadModel, prune } from "../../src/api.ts";
import type { RawImages } from "../../src/data/images.ts";
import { loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { decodeCheckpoint } from "../../src/engine/checkpoint.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { createNodeTrainWorkers } from "../../src/node/train-workers.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { seededNormals } from "../../src/wasm/seeded-random.ts";
import { NetBuilder } from "../graph/net-builder.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const slice = (split: "train" | "test", limit: number): Promise<RawImages> =>
  loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), {
    split,
    readFile: async (p: string) => new Uint8Array(await readFile(p)),
    limit,
  });

/** A residual net with seeded weights (BN variances positive). */
function net(): ModelProto {
  const nb = new NetBuilder("x", [1, 28, 28]);
  const stem = nb.relu(nb.bn(nb.conv("x", 6)));
  const a = nb.bn(nb.conv(nb.relu(nb.bn(nb.conv(stem, 6))), 6));
  const s = nb.relu(nb.add(stem, a));
  const b = nb.relu(nb.bn(nb.conv(s, 8, { stride: 2 })));
  const out = nb.gemm(nb.flatten(nb.gap(b)), 10);
  const model = nb.model([out]);
  const init = model.graph!.initializer.map((t, i) => {
    const dims = (t.dims ?? []).map(Number);
    const z = seededNormals(
      7000 + i,
      dims.reduce((x, y) => x * y, 1),
    );
    const name = t.name ?? "";
    const fanIn = dims.length > 1 ? dims.slice(1).reduce((x, y) => x * y, 1) : 1;
    const data = Array.from(z, (v) =>
      name.startsWith("var")
        ? 1 + 0.5 * Math.tanh(v)
        : name.startsWith("g")
          ? 1 + 0.3 * v
          : v * Math.sqrt(2 / fanIn),
    );
    return makeFloat32Tensor(name, dims, data);
  });
  return { ...model, graph: { ...model.graph!, initializer: init } };
}

const settings = async (): Promise<GatePruneOptions> => ({
  method: "gate",
  data: { train: await slice("train", 192), test: await slice("test", 64), mean: [0.286], std: [0.353] },
  flopsTarget: 0.4,
  tickRatio: 0.1,
  tockEpochs: 2,
  ticksPerTock: 2,
  tickSubset: 0.5,
  finetuneEpochs: 0,
  batch: 32,
  evalLimit: 64,
});

test("gate resumes from every checkpoint (after a Tick, after a Tock, inside a Tock) to the same bytes", async () => {
  const model = await loadModel(encodeModel(net()));
  const saved: Uint8Array[] = [];
  const full = await prune(model, {
    ...(await settings()),
    onCheckpoint: async (c) => {
      assert.equal(c.kind, "method");
      saved.push(c.bytes);
    },
  });
  const d = full.report.details as { ticks: number; tocks: number; met: boolean };
  assert.equal(d.met, true);
  assert.ok(d.ticks >= 3 && d.tocks >= 2, `${d.ticks} ticks, ${d.tocks} tocks`);
  const states = saved.map((b) => decodeCheckpoint(b, "test").state as Record<string, unknown>);
  const kinds = states.map((s) =>
    s.done === true ? "done" : s.tockEpochs !== undefined ? "in-tock" : "phase",
  );
  assert.ok(kinds.includes("in-tock") && kinds.includes("phase") && kinds.at(-1) === "done", kinds.join());
  const picks = [
    kinds.indexOf("in-tock"),
    kinds.indexOf("phase"),
    kinds.lastIndexOf("phase"),
    saved.length - 1,
  ];
  for (const i of picks) {
    const resumed = await prune(model, { ...(await settings()), resumeFrom: { method: saved[i]! } });
    assert.deepEqual(resumed.bytes, full.bytes, `resumed from checkpoint ${i} (${kinds[i]})`);
    const r = resumed.report.details as { trajectory: unknown[] };
    assert.deepEqual(r.trajectory, (full.report.details as { trajectory: unknown[] }).trajectory);
  }
  await assert.rejects(
    prune(model, { ...(await settings()), tickRatio: 0.2, resumeFrom: { method: saved[1]! } }),
    (e: unknown) =>
      isPrunekitError(e) && e.code === "CHECKPOINT_INVALID" && /tickRatio|options/.test(e.message),
  );
  await assert.rejects(
    prune(model, { ...(await settings()), resumeFrom: { method: saved[0]!.subarray(0, 100) } }),
    (e: unknown) => isPrunekitError(e) && e.code === "CHECKPOINT_INVALID",
  );
});

test("gate on one training worker writes the same bytes as without workers; two workers reach the target", async () => {
  const model = await loadModel(encodeModel(net()));
  const plain = await prune(model, await settings());
  const one = await prune(model, { ...(await settings()), trainWorkers: () => createNodeTrainWorkers(1) });
  assert.deepEqual(one.bytes, plain.bytes);
  const two = await prune(model, { ...(await settings()), trainWorkers: () => createNodeTrainWorkers(2) });
  const d = two.report.details as { met: boolean; workers: number };
  assert.equal(d.met, true);
  assert.equal(d.workers, 2);
  assert.ok(two.report.after.macs <= 0.4 * two.report.before.macs);
});

test("conv gates (a BN-fused model) on one training worker equal no workers bit for bit", async () => {
  const bytes = new Uint8Array(await readFile(new URL("../fixtures/vgg_fused.onnx", import.meta.url)));
  const model = await loadModel(bytes);
  const opts: GatePruneOptions = { ...(await settings()), flopsTarget: 0.6, tockEpochs: 0.5 };
  const plain = await prune(model, opts);
  assert.equal((plain.report.details as { gateMode: string }).gateMode, "conv");
  const one = await prune(model, { ...opts, trainWorkers: () => createNodeTrainWorkers(1) });
  assert.deepEqual(one.bytes, plain.bytes);
});

test("an aborted gate run throws ABORTED and its last checkpoint finishes the run", async () => {
  const model = await loadModel(encodeModel(net()));
  const full = await prune(model, await settings());
  const controller = new AbortController();
  let last: Uint8Array | undefined;
  let count = 0;
  await assert.rejects(
    prune(model, {
      ...(await settings()),
      signal: controller.signal,
      onCheckpoint: async (c) => {
        last = c.bytes;
        if (++count === 3) controller.abort();
      },
    }),
    (e: unknown) => isPrunekitError(e) && e.code === "ABORTED",
  );
  assert.ok(last !== undefined);
  const resumed = await prune(model, { ...(await settings()), resumeFrom: { method: last } });
  assert.deepEqual(resumed.bytes, full.bytes);
});
