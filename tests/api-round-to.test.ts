// `roundTo` end to end, one run per method on the committed fixtures: every pruned width is a multiple
// of N (layers narrower than N excepted), the report records roundTo and the count before rounding, the
// counts before rounding are the widths of the same run without roundTo, and onnxruntime runs the output.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { loadModel, type Model, type PruneOptions, type PruneReport, prune } from "../src/api.ts";
import { loadImages, parseDataSpec } from "../src/data/spec.ts";

const fixture = async (name: string) =>
  loadModel(new Uint8Array(await readFile(new URL(`./fixtures/${name}`, import.meta.url))));

async function runsInOnnxruntime(bytes: Uint8Array, model: Model): Promise<void> {
  const input = model.graph.inputs[0]!;
  const dims = input.type!.tensorType!.shape!.dim.map((d, i) => (i === 0 ? 2 : Number(d.dimValue)));
  const len = dims.reduce((a, b) => a * b, 1);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({
    [input.name!]: new ort.Tensor(
      "float32",
      Float32Array.from({ length: len }, (_, i) => Math.sin(i)),
      dims,
    ),
  });
  await session.release();
  const y = Object.values(out)[0]!;
  assert.equal(y.dims[0], 2);
  assert.ok((y.data as Float32Array).every(Number.isFinite));
}

function checkWidths(report: PruneReport, n: number): void {
  assert.equal(report.options.roundTo, n);
  const pruned = report.layers.filter((l) => l.channelsAfter < l.channelsBefore);
  assert.ok(pruned.length > 0, "something is pruned");
  for (const l of pruned) {
    if (l.channelsBefore < n) continue;
    assert.equal(l.channelsAfter % n, 0, `${l.node}: ${l.channelsAfter} of ${l.channelsBefore}`);
    assert.ok(l.channelsAfter >= n);
    if (l.keptBeforeRounding !== undefined) assert.notEqual(l.keptBeforeRounding, l.channelsAfter);
  }
  assert.ok(
    report.layers.some((l) => l.keptBeforeRounding !== undefined),
    "rounding changed some layer (else the test proves nothing)",
  );
}

/** The counts before rounding are the widths the method gives without roundTo. */
async function sameAsUnrounded(model: Model, options: PruneOptions, report: PruneReport): Promise<void> {
  const plain = await prune(model, { ...options, roundTo: 1 });
  const width = new Map(plain.report.layers.map((l) => [l.node, l.channelsAfter]));
  for (const l of report.layers) {
    const raw = l.keptBeforeRounding ?? l.channelsAfter;
    assert.equal(raw, width.get(l.node) ?? l.channelsBefore, l.node);
  }
}

for (const [method, file, extra] of [
  ["l1", "resnet_bn.onnx", { ratio: 0.3 }],
  ["l2", "mobilenet_bn.onnx", { ratio: 0.3 }],
  ["merge", "vgg_bn.onnx", { ratio: 0.3 }],
  ["epruner", "trained/resnet20_fmnist.onnx", {}],
] as const) {
  test(`${method} --round-to: ${file}`, async () => {
    const model = await fixture(file);
    const n = method === "epruner" ? 8 : 4;
    const options = { method, ...extra, roundTo: n } as PruneOptions;
    const { bytes, report, model: out } = await prune(model, options);
    checkWidths(report, n);
    await sameAsUnrounded(model, options, report);
    await runsInOnnxruntime(bytes, out);
  });
}

test("gate --round-to: trained ResNet-20 on a Fashion-MNIST slice, widths multiples of 8 after the masks are final", async () => {
  const model = await fixture("trained/resnet20_fmnist.onnx");
  const sliceDir = new URL("./fixtures/fashion-mnist-slice/", import.meta.url).pathname;
  const readFileBytes = async (p: string) => new Uint8Array(await readFile(p));
  const slice = (split: "train" | "test", limit: number) =>
    loadImages(parseDataSpec(`fashion-mnist:${sliceDir}`), { split, limit, readFile: readFileBytes });
  const {
    bytes,
    report,
    model: out,
  } = await prune(model, {
    method: "gate",
    data: { train: await slice("train", 128), test: await slice("test", 32), mean: [0.286], std: [0.353] },
    flopsTarget: 0.7,
    tickRatio: 0.1,
    tockEpochs: 0,
    finetuneEpochs: 0,
    batch: 32,
    evalLimit: 32,
    roundTo: 8,
  });
  checkWidths(report, 8);
  const d = report.details as { macsFraction: number };
  assert.ok(Math.abs(d.macsFraction - report.after.macs / report.before.macs) < 1e-9, "MACs after rounding");
  await runsInOnnxruntime(bytes, out);
});
