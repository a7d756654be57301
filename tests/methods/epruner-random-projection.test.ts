// EPruner's `random-projection` init (docs/methods.md §3.4, §3.11.3): the projection itself (sparsity,
// seeding, norm preserved in expectation) and whole models pruned with it (valid under onnxruntime,
// reproducible per seed, everything but the consumers' input sides inherited as with `exemplar`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { loadModel, type Model, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import {
  applyProjection,
  type ProjectedConsumer,
  randomProjectionValues,
  sparseRandomProjection,
} from "../../src/methods/random-projection.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { NetBuilder } from "../graph/net-builder.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const fixtures = new URL("../fixtures/", import.meta.url);
const load = (file: string) => loadModel(new Uint8Array(readFileSync(new URL(file, fixtures))));
const vgg = await load("vgg_bn.onnx");
const concat = await load("concat_bn.onnx");
const tensor = (m: Model, name: string) => readFloat32(m.graph.constants.get(name)!, m.graph.externalData);

test("sparseRandomProjection: entries 0 or ±sqrt(s/outDim) with density about 1/s, s = sqrt(inDim), seeded", () => {
  const r = sparseRandomProjection(3, 90, 400);
  assert.equal(r.s, 20);
  assert.equal(r.scale, Math.sqrt(20 / 90));
  const nnz = r.cols.length;
  // 36 000 Bernoulli(1/20) draws: mean 1800, sd about 41.
  assert.ok(Math.abs(nnz - 1800) < 250, `non-zeros ${nnz}`);
  const negative = r.signs.filter((v) => v === -1).length;
  assert.ok(Math.abs(negative - nnz / 2) < 200, `negative ${negative} of ${nnz}`);
  for (let i = 0; i < r.outDim; i++) {
    for (let q = r.rowStart[i]! + 1; q < r.rowStart[i + 1]!; q++) assert.ok(r.cols[q]! > r.cols[q - 1]!);
  }
  assert.deepEqual(sparseRandomProjection(3, 90, 400), r);
  assert.notDeepEqual(sparseRandomProjection(4, 90, 400).cols, r.cols);
  // inDim 1: s = 1, a dense ±1 / sqrt(outDim) column.
  const dense = sparseRandomProjection(0, 5, 1);
  assert.equal(dense.cols.length, 5);
});

test("the projection preserves the norm in expectation: mean |Rv|^2 / |v|^2 over 400 seeds is 1 within 0.1", () => {
  // A spread vector and a spiky one (a single non-zero entry, the worst case for very sparse
  // projections: per-seed variance about (s - 1) / outDim = 0.2 here, so the mean's sd is 0.02).
  const inDim = 72;
  const outDim = 36;
  const spread = seededFloats(5, inDim);
  const spiky = new Float32Array(inDim);
  spiky[17] = 3;
  for (const v of [spread, spiky]) {
    const norm2 = v.reduce((a, x) => a + x * x, 0);
    let sum = 0;
    for (let seed = 0; seed < 400; seed++) {
      const u = applyProjection(sparseRandomProjection(seed, outDim, inDim), v);
      sum += u.reduce((a, x) => a + x * x, 0) / norm2;
    }
    assert.ok(Math.abs(sum / 400 - 1) < 0.1, `mean ratio ${sum / 400}`);
  }
});

/** Output of a model file under onnxruntime-node for a seeded input of `shape`. */
async function run(
  bytes: Uint8Array,
  shape: number[],
): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const len = shape.reduce((a, b) => a * b, 1);
  const out = await session.run({
    [session.inputNames[0]!]: new ort.Tensor("float32", seededFloats(9, len), shape),
  });
  const y = out[session.outputNames[0]!]!;
  return { dims: y.dims, data: y.data as Float32Array };
}

for (const [name, model, shape] of [
  ["VGG (conv consumers, a Gemm after a flatten)", vgg, [2, 1, 28, 28]],
  ["concat network (consumers reading concatenated groups)", concat, [2, 3, 32, 32]],
] as const) {
  test(`init random-projection on the ${name}: runs in onnxruntime, same widths and BN as exemplar, seeded`, async () => {
    // β = 1 keeps a few filters per layer (β = 3 keeps one, whose ReLU output is all zero on VGG).
    const options = { method: "epruner" as const, beta: 1 };
    const ex = await prune(model, options);
    const a = await prune(model, { ...options, init: "random-projection", seed: 5 });
    const b = await prune(model, { ...options, init: "random-projection", seed: 5 });
    const c = await prune(model, { ...options, init: "random-projection", seed: 6 });
    assert.deepEqual(a.bytes, b.bytes);
    assert.notDeepEqual(a.bytes, c.bytes);
    assert.deepEqual(
      a.report.layers.map((l) => l.kept),
      ex.report.layers.map((l) => l.kept),
    );
    assert.deepEqual(a.report.after, ex.report.after);
    assert.equal(a.report.options.init, "random-projection");

    // The report lists every consumer of every layer that lost filters, N·b -> P·b.
    const projected = a.report.details?.randomProjection as ProjectedConsumer[];
    const pruned = ex.report.layers.filter((l) => l.channelsAfter < l.channelsBefore);
    assert.ok(pruned.length > 0);
    const consumerWeights = new Set<string>();
    for (const l of pruned) {
      const group = model.groups.find((g) => g.producers[0]?.node === l.node)!;
      for (const cons of group.consumers) {
        const entries = projected.filter((p) => p.node === cons.node && p.layer === l.node);
        assert.equal(entries.length, group.consumers.filter((c) => c.node === cons.node).length, cons.node);
        for (const e of entries) {
          assert.equal(e.weight, cons.weight);
          assert.equal(e.from / l.channelsBefore, e.to / l.channelsAfter, `${cons.node}: b`);
        }
        consumerWeights.add(cons.weight);
      }
    }
    assert.equal(
      projected.length,
      pruned
        .map((l) => model.groups.find((g) => g.producers[0]?.node === l.node)!.consumers.length)
        .reduce((s, n) => s + n, 0),
    );

    // Only the consumers' weights differ from exemplar.
    for (const [weight] of a.model.graph.constants) {
      if (consumerWeights.has(weight))
        assert.notDeepEqual(tensor(a.model, weight), tensor(ex.model, weight), weight);
      else assert.deepEqual(tensor(a.model, weight), tensor(ex.model, weight), `${weight} is inherited`);
    }

    const ya = await run(a.bytes, [...shape]);
    const ye = await run(ex.bytes, [...shape]);
    assert.deepEqual(ya.dims, ye.dims);
    assert.ok(ya.data.every(Number.isFinite));
    assert.notDeepEqual(ya.data, ye.data);
  });
}

test("random-projection on the VGG keeps each consumer's input-side norm: |W'|^2 / |W|^2 near 1 (not P/N as slicing)", async () => {
  const options = { method: "epruner" as const, beta: 1 };
  const ex = await prune(vgg, options);
  const a = await prune(vgg, { ...options, init: "random-projection", seed: 1 });
  const keptOut = new Map(ex.report.layers.map((l) => [l.node, l.kept]));
  let checked = 0;
  for (const l of ex.report.layers.filter((x) => x.channelsAfter < x.channelsBefore)) {
    const group = vgg.groups.find((g) => g.producers[0]?.node === l.node)!;
    for (const cons of group.consumers) {
      // Rows of the consumer that survive (its own exemplars when it is a pruned layer too).
      const dims = vgg.graph.constants.get(cons.weight)!.dims.map(Number);
      assert.equal(cons.inputAxis, 1, cons.node);
      const rowLen = dims.slice(1).reduce((x, y) => x * y, 1);
      const rows = keptOut.get(cons.node) ?? Array.from({ length: dims[0]! }, (_, o) => o);
      const original = tensor(vgg, cons.weight);
      let before = 0;
      for (const o of rows) for (let q = 0; q < rowLen; q++) before += original[o * rowLen + q]! ** 2;
      const after = tensor(a.model, cons.weight).reduce((s, v) => s + v * v, 0);
      const sliced = tensor(ex.model, cons.weight).reduce((s, v) => s + v * v, 0);
      const ratio = after / before;
      assert.ok(
        ratio > 0.5 && ratio < 2,
        `${cons.node}: |W'|^2 / |W|^2 = ${ratio} (slicing: ${sliced / before})`,
      );
      checked++;
    }
  }
  assert.ok(checked > 0);
});

test("random-projection of a MatMul [in, out] consumer after a flatten: one linear map for every output column", async () => {
  // conv (8 filters, 4 of them exact copies) -> ReLU -> Flatten -> MatMul [8·16, 4]. Columns 1 and 2 of
  // the MatMul weight are 2x and -0.5x column 0, so their projections must be too (exactly: scaling by
  // a power of two commutes with rounding).
  const nb = new NetBuilder("x", [2, 4, 4]);
  const conv = nb.conv("x", 8, { k: 3 });
  const flat = nb.flatten(nb.relu(conv));
  const features = nb.dims.get(flat)![0]!;
  const mm = nb.op("MatMul", [flat, nb.weight("mm", [features, 4])], [4]);
  const convW = nb.initializers.findIndex((t) => t.name === nb.nodes[0]!.inputs[1]);
  const fw = seededFloats(21, 8 * 18);
  for (let r = 4; r < 8; r++) fw.copyWithin(r * 18, (r - 4) * 18, (r - 3) * 18);
  nb.initializers[convW] = makeFloat32Tensor(nb.initializers[convW]!.name!, [8, 2, 3, 3], fw);
  const mmW = nb.initializers.findIndex((t) => t.name === nb.nodes.at(-1)!.inputs[1]);
  const col0 = seededFloats(22, features);
  const w = new Float32Array(features * 4);
  for (let i = 0; i < features; i++) {
    w[i * 4] = col0[i]!;
    w[i * 4 + 1] = 2 * col0[i]!;
    w[i * 4 + 2] = -0.5 * col0[i]!;
    w[i * 4 + 3] = seededFloats(23 + i, 1)[0]!;
  }
  nb.initializers[mmW] = makeFloat32Tensor(nb.initializers[mmW]!.name!, [features, 4], w);
  const model = await loadModel(encodeModel(nb.model([mm])));
  const a = await prune(model, { method: "epruner", init: "random-projection", seed: 3 });
  const layer = a.report.layers[0]!;
  assert.equal(layer.channelsAfter, 4, "the copies cluster with their originals");
  const projected = a.report.details?.randomProjection as ProjectedConsumer[];
  assert.deepEqual(
    projected.map((p) => [p.node, p.from, p.to]),
    [[nb.nodes.at(-1)!.name, 8 * 16, 4 * 16]],
  );
  const u = tensor(a.model, nb.initializers[mmW]!.name!);
  assert.equal(u.length, 4 * 16 * 4);
  let n0 = 0;
  for (let i = 0; i < 64; i++) {
    assert.equal(u[i * 4 + 1], 2 * u[i * 4]!, `row ${i}`);
    assert.equal(u[i * 4 + 2], -0.5 * u[i * 4]!, `row ${i}`);
    n0 += u[i * 4]! ** 2;
  }
  const v0 = col0.reduce((s, x) => s + x * x, 0);
  assert.ok(n0 / v0 > 0.2 && n0 / v0 < 5, `|u0|^2 / |v0|^2 = ${n0 / v0}`);
  const y = await run(a.bytes, [2, 2, 4, 4]);
  assert.deepEqual(y.dims, [2, 4]);
  assert.ok(y.data.every(Number.isFinite));
});

test("random-projection refuses a grouped-conv consumer with GRAPH_UNSUPPORTED naming it", () => {
  const group = vgg.groups.find((g) => g.consumers.some((c) => c.opType === "Conv") && !g.frozen)!;
  const grouped = { ...group, consumers: group.consumers.map((c) => ({ ...c, group: 2 })) };
  const groups = vgg.groups.map((g) => (g.id === group.id ? grouped : g));
  assert.throws(
    () => randomProjectionValues(vgg.graph, groups, [{ groupId: group.id, keep: [0] }], 0),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "GRAPH_UNSUPPORTED" &&
      e.node === group.consumers[0]!.node &&
      /grouped conv/.test(e.message),
  );
});
