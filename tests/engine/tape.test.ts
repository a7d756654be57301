// The training executor against finite differences (whole networks) and against PyTorch (SGD and
// BatchNorm semantics, values recorded by tests/fixtures/train_reference.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { sgdStep } from "../../src/engine/optim.ts";
import { compileTrainer, type Trainer } from "../../src/engine/tape.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { buildGraph, type Graph } from "../../src/graph/ir.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { createWasm } from "../../src/wasm/instance.ts";
import { seededNormals } from "../../src/wasm/seeded-random.ts";
import { NetBuilder } from "../graph/net-builder.ts";

/** Replace every float initializer with seeded values: weights ~ N(0, 1/fan_in), BN var in [0.5, 1.5]. */
function randomize(model: ModelProto, seed: number): ModelProto {
  const init = model.graph!.initializer.map((t, i) => {
    if (t.dataType !== 1) return t;
    const dims = (t.dims ?? []).map(Number);
    const len = dims.reduce((a, b) => a * b, 1);
    const z = seededNormals(seed * 1000 + i, len);
    const name = t.name ?? "";
    const fanIn = dims.length > 1 ? dims.slice(1).reduce((a, b) => a * b, 1) : 1;
    const data = Array.from(z, (v) =>
      name.startsWith("var")
        ? 1 + 0.5 * Math.tanh(v)
        : name.startsWith("g")
          ? 1 + 0.3 * v
          : v / Math.sqrt(fanIn),
    );
    return makeFloat32Tensor(name, dims, data);
  });
  return { ...model, graph: { ...model.graph!, initializer: init } };
}

function meanCrossEntropy(logits: Float32Array, labels: Int32Array, classes: number): number {
  let s = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    s += lse - row[labels[r]!]!;
  }
  return s / labels.length;
}

/** Central differences of the mean loss for up to `per` entries of every trainable parameter. */
function checkGradients(t: Trainer, x: Float32Array, labels: Int32Array, classes: number, per = 12): void {
  t.step(x, labels);
  const store = t.store;
  const failures: string[] = [];
  for (const p of store.params) {
    if (!p.trainable) continue;
    const grad = store.readGrad(p.name);
    const base = store.read(p.name);
    const scale = Math.max(1e-3, ...Array.from(grad, Math.abs));
    const picks = new Set<number>();
    for (let k = 0; k < Math.min(per, p.length); k++) picks.add(Math.floor((k * 7919 + 13) % p.length));
    for (const i of picks) {
      const eps = 2e-3 * Math.max(1, Math.abs(base[i]!));
      const at = (d: number) => {
        const w = base.slice();
        w[i] = base[i]! + d;
        store.write(p.name, w);
        return meanCrossEntropy(t.forward(x), labels, classes);
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      store.write(p.name, base);
      if (Math.abs(fd - grad[i]!) > 2e-3 + 3e-2 * scale) {
        failures.push(`${p.name}[${i}]: backward ${grad[i]}, finite differences ${fd}`);
      }
    }
  }
  assert.deepEqual(failures, []);
}

function inputAndLabels(n: number, perImage: number, classes: number, seed: number) {
  const x = Float32Array.from(seededNormals(seed, n * perImage));
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % classes);
  return { x, labels };
}

test("backward: a conv-BN-residual-pool-linear network agrees with finite differences", async () => {
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.bn(nb.conv("x", 4, { bias: true })));
  const b = nb.bn(nb.conv(a, 4));
  const r = nb.relu(nb.add(a, b));
  const p = nb.maxpool(r);
  const d = nb.relu(nb.bn(nb.conv(p, 4, { group: 4 })));
  const e = nb.conv(d, 5, { k: 1, bias: true });
  const out = nb.gemm(nb.flatten(nb.gap(e)), 3);
  const graph = buildGraph(randomize(nb.model([out]), 1));
  const wasm = await createWasm();
  const t = compileTrainer(wasm, graph, { batch: 3 });
  const { x, labels } = inputAndLabels(3, 3 * 36, 3, 2);
  checkGradients(t, x, labels, 3);
  t.dispose();
  t.store.dispose();
});

test("backward: concat, average pooling, strided and grouped convs, other activations, MatMul + bias", async () => {
  const nb = new NetBuilder("x", [4, 7, 7]);
  const a = nb.unary("LeakyRelu", nb.conv("x", 4, { stride: 2 }), { alpha: { f: 0.1 } });
  const b = nb.unary("HardSwish", nb.conv("x", 2, { k: 1, stride: 2, bias: true }));
  const c = nb.concat([a, b]);
  const g = nb.unary("Sigmoid", nb.conv(c, 6, { group: 2, bias: true }));
  const avg = nb.op("AveragePool", [g], [6, 2, 2], { kernel_shape: [2, 2], strides: [2, 2] });
  const th = nb.unary("Tanh", avg);
  const flat = nb.flatten(th);
  const w = nb.weight("mm", [24, 4]);
  const mm = nb.op("MatMul", [flat, w], [4]);
  const bias = nb.weight("mb", [4]);
  const out = nb.op("Add", [mm, bias], [4]);
  const graph = buildGraph(randomize(nb.model([out]), 3));
  const wasm = await createWasm();
  const t = compileTrainer(wasm, graph, { batch: 2 });
  const { x, labels } = inputAndLabels(2, 4 * 49, 4, 5);
  checkGradients(t, x, labels, 4);
  t.dispose();
  t.store.dispose();
});

test("backward: a value read by two consumers gets the sum of their gradients", async () => {
  const nb = new NetBuilder("x", [2, 4, 4]);
  const a = nb.conv("x", 3, { bias: true });
  const s = nb.add(nb.relu(a), nb.unary("Sigmoid", a)); // a is read twice
  const out = nb.gemm(nb.flatten(nb.gap(nb.add(s, s))), 2); // and s by one Add twice
  const graph = buildGraph(randomize(nb.model([out]), 4));
  const t = compileTrainer(await createWasm(), graph, { batch: 2 });
  const { x, labels } = inputAndLabels(2, 32, 2, 6);
  checkGradients(t, x, labels, 2);
  t.dispose();
  t.store.dispose();
});

test("gated BN (Gate Decorator §4.1): equals the plain BN at initialisation, gradients agree with finite differences, a zero mask silences the channel", async () => {
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.bn(nb.conv("x", 4)));
  const b = nb.bn(nb.conv(a, 4));
  const out = nb.gemm(nb.flatten(nb.gap(nb.relu(nb.add(a, b)))), 3);
  const graph = buildGraph(randomize(nb.model([out]), 11));
  const bns = graph.order.filter((n) => n.opType === "BatchNormalization").map((n) => n.name);
  const wasm = await createWasm();
  const plain = compileTrainer(wasm, graph, { batch: 3 });
  const gated = compileTrainer(wasm, graph, { batch: 3, gatedBatchNorms: new Set(bns) });
  const { x, labels } = inputAndLabels(3, 3 * 36, 3, 8);
  const y0 = plain.forward(x);
  const y1 = gated.forward(x);
  for (let i = 0; i < y0.length; i++) assert.ok(Math.abs(y0[i]! - y1[i]!) < 1e-4, `logit ${i}`);
  const gates = gated.store.params.filter((p) => p.role === "gate");
  assert.equal(gates.length, 2);
  assert.ok(gated.store.params.every((p) => !["bn-scale", "bn-bias"].includes(p.role)));
  checkGradients(plain, x, labels, 3);
  checkGradients(gated, x, labels, 3);
  // Masking channel 1 of the first BN: its output channel is exactly 0 (bias included).
  const mask = gated.store.read(`${bns[0]}#mask`);
  mask[1] = 0;
  gated.store.write(`${bns[0]}#mask`, mask);
  gated.step(x, labels);
  assert.equal(gated.store.readGrad(`${bns[0]}#gate`)[1], 0);
  assert.throws(
    () => compileTrainer(wasm, graph, { batch: 3, gatedBatchNorms: new Set(["nope"]) }),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /nope/.test(e.message),
  );
  for (const t of [plain, gated]) {
    t.dispose();
    t.store.dispose();
  }
});

test("gated conv (Gate Decorator §4.9): equals the plain conv at initialisation, gradients agree with finite differences, a zero mask silences the channel with its bias", async () => {
  // BN-free, as a BN-fused export: convs with biases, a residual add, a depthwise conv.
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.conv("x", 4, { bias: true }));
  const b = nb.conv(a, 4, { bias: true });
  const d = nb.relu(nb.conv(nb.relu(nb.add(a, b)), 4, { group: 4, bias: true }));
  const out = nb.gemm(nb.flatten(nb.gap(d)), 3);
  const graph = buildGraph(randomize(nb.model([out]), 12));
  const convs = graph.order.filter((n) => n.opType === "Conv").map((n) => n.name);
  const wasm = await createWasm();
  const plain = compileTrainer(wasm, graph, { batch: 3 });
  const gated = compileTrainer(wasm, graph, { batch: 3, gatedConvs: new Set(convs) });
  const { x, labels } = inputAndLabels(3, 3 * 36, 3, 9);
  const y0 = plain.forward(x);
  const y1 = gated.forward(x);
  for (let i = 0; i < y0.length; i++) assert.equal(y1[i], y0[i], `logit ${i}`);
  const gates = gated.store.params.filter((p) => p.role === "gate");
  assert.equal(gates.length, 3);
  assert.ok(gates.every((p) => p.synthetic && Array.from(gated.store.read(p.name)).every((v) => v === 1)));
  // The weights and biases stay parameters; gates away from 1 so that ∂W, ∂b see them.
  assert.equal(gated.store.params.filter((p) => p.role === "bias").length, 4);
  for (const [i, c] of convs.entries()) {
    gated.store.write(
      `${c}#gate`,
      Float32Array.from(seededNormals(40 + i, 4), (v) => 1 + 0.4 * v),
    );
  }
  checkGradients(gated, x, labels, 3);
  // Masking channel 2 of the first conv: the channel is exactly 0 downstream of the gate, bias included,
  // so the logits equal the plain network's with every W_c, b_c scaled by m_c·g_c (§4.6 folding by hand).
  const mask = gated.store.read(`${convs[0]}#mask`);
  mask[2] = 0;
  gated.store.write(`${convs[0]}#mask`, mask);
  const masked = gated.forward(x);
  for (const c of convs) {
    const n = graph.order.find((m) => m.name === c)!;
    const k = gated.store.read(`${c}#gate`).map((g, ch) => g * gated.store.read(`${c}#mask`)[ch]!);
    const w = gated.store.read(n.inputs[1]!);
    const bias = gated.store.read(n.inputs[2]!);
    const per = w.length / k.length;
    for (let ch = 0; ch < k.length; ch++) {
      for (let j = 0; j < per; j++) w[ch * per + j] = w[ch * per + j]! * k[ch]!;
      bias[ch] = bias[ch]! * k[ch]!;
    }
    plain.store.write(n.inputs[1]!, w);
    plain.store.write(n.inputs[2]!, bias);
  }
  const folded = plain.forward(x);
  for (let i = 0; i < folded.length; i++) {
    assert.ok(Math.abs(folded[i]! - masked[i]!) < 1e-5 * (1 + Math.abs(folded[i]!)), `logit ${i}`);
  }
  gated.step(x, labels);
  assert.equal(gated.store.readGrad(`${convs[0]}#gate`)[2], 0);
  assert.throws(
    () => compileTrainer(wasm, graph, { batch: 3, gatedConvs: new Set(["nope"]) }),
    (e: unknown) =>
      isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /gatedConvs: "nope"/.test(e.message),
  );
  for (const t of [plain, gated]) {
    t.dispose();
    t.store.dispose();
  }
});

interface Expected {
  input: number[];
  inputDims: number[];
  labels: number[];
  initial: Record<string, number[]>;
  sgd: { losses: number[]; state: Record<string, number[]> };
  nesterov: { losses: number[]; state: Record<string, number[]> };
}

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

for (const variant of ["sgd", "nesterov"] as const) {
  test(`SGD and BatchNorm: 3 steps equal torch.optim.SGD and nn.BatchNorm2d (${variant})`, async () => {
    const expected = JSON.parse(readFileSync(fixture("train_tiny.expected.json"), "utf8")) as Expected;
    const graph: Graph = buildGraph(decodeModel(readFileSync(fixture("train_tiny.onnx"))));
    const t = compileTrainer(await createWasm(), graph, { batch: expected.inputDims[0]! });
    const x = Float32Array.from(expected.input);
    const labels = Int32Array.from(expected.labels);
    for (const [name, values] of Object.entries(expected.initial)) {
      assert.deepEqual(Array.from(t.store.read(name)), Array.from(Float32Array.from(values)), name);
    }
    const losses: number[] = [];
    for (let s = 0; s < 3; s++) {
      losses.push(t.step(x, labels).loss);
      sgdStep(
        t.store,
        { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: variant === "nesterov" },
        () => false,
      );
    }
    const want = expected[variant];
    for (const [i, l] of losses.entries()) {
      assert.ok(Math.abs(l - want.losses[i]!) < 1e-5, `loss ${i}: ${l} vs ${want.losses[i]}`);
    }
    for (const [name, values] of Object.entries(want.state)) {
      const got = t.store.read(name);
      const worst = values.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
      assert.ok(worst < 2e-5, `${name}: largest difference from PyTorch ${worst}`);
    }
    t.dispose();
    t.store.dispose();
  });
}

test("frozen parameters keep their values exactly: no step, no decay, no momentum", async () => {
  const graph = buildGraph(decodeModel(readFileSync(fixture("train_tiny.onnx"))));
  const t = compileTrainer(await createWasm(), graph, { batch: 4 });
  const { x, labels } = inputAndLabels(4, 72, 3, 9);
  t.setFrozen((p) => p.role === "weight");
  const before = t.store.read("conv1.weight");
  const fcBefore = t.store.read("fc.bias");
  for (let s = 0; s < 2; s++) {
    t.step(x, labels);
    sgdStep(t.store, { lr: 0.1 }, (n) => t.isFrozen(n));
  }
  assert.deepEqual(t.store.read("conv1.weight"), before);
  assert.notDeepEqual(t.store.read("fc.bias"), fcBefore);
  t.dispose();
  t.store.dispose();
});

test("training refuses an op it cannot differentiate, naming the node", async () => {
  const nb = new NetBuilder("x", [2, 4, 4]);
  const a = nb.conv("x", 2);
  const m = nb.op("Mul", [a, a], [2, 4, 4]);
  const out = nb.gemm(nb.flatten(nb.gap(m)), 2);
  const graph = buildGraph(nb.model([out]));
  const wasm = await createWasm();
  assert.throws(
    () => compileTrainer(wasm, graph, { batch: 2 }),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "ONNX_UNSUPPORTED" &&
      /Mul/.test(e.message) &&
      /node "Mul_/.test(e.message),
  );
  assert.equal(wasm.arena.usedBytes, 0);
});

test("eval-mode step (BN on running statistics): gradients of gates, BN scale and bias and the conv below equal central differences of the eval forward", async () => {
  const nb = new NetBuilder("x", [2, 5, 5]);
  const a = nb.relu(nb.bn(nb.conv("x", 4)));
  const c2 = nb.relu(nb.bn(nb.conv(a, 3)));
  const out = nb.gemm(nb.flatten(nb.gap(c2)), 3);
  const graph = buildGraph(randomize(nb.model([out]), 31));
  const bns = graph.order.filter((n) => n.opType === "BatchNormalization");
  const { x, labels } = inputAndLabels(4, 50, 3, 32);
  const eps = 1e-3;
  for (const gated of [false, true]) {
    const t = compileTrainer(await createWasm(), graph, {
      batch: 4,
      ...(gated ? { gatedBatchNorms: new Set([bns[1]!.name]) } : {}),
    });
    const before = bns.map((n) => t.store.read(n.inputs[3]!));
    t.step(x, labels, { training: false });
    // Running statistics untouched by an eval-mode step.
    bns.forEach((n, i) => {
      assert.deepEqual(t.store.read(n.inputs[3]!), before[i]);
    });
    const loss = () => meanCrossEntropy(t.forward(x, { training: false }), labels, 3);
    const firstConv = graph.order.find((n) => n.opType === "Conv")!.inputs[1]!;
    const names = gated
      ? [`${bns[1]!.name}#gate`, `${bns[1]!.name}#shift`, bns[0]!.inputs[1]!, firstConv]
      : [bns[0]!.inputs[1]!, bns[0]!.inputs[2]!, bns[1]!.inputs[1]!, bns[1]!.inputs[2]!, firstConv];
    for (const name of names) {
      const v = t.store.read(name);
      const grad = t.store.readGrad(name);
      for (let i = 0; i < Math.min(v.length, 6); i++) {
        const at = (d: number) => {
          const w = v.slice();
          w[i] = v[i]! + d;
          t.store.write(name, w);
          return loss();
        };
        const fd = (at(eps) - at(-eps)) / 2 / eps;
        t.store.write(name, v);
        assert.ok(
          Math.abs(fd - grad[i]!) < 2e-3 + 2e-2 * Math.abs(fd),
          `${gated ? "gated" : "plain"} ${name}[${i}]: gradient ${grad[i]}, central difference ${fd}`,
        );
      }
    }
    t.dispose();
    t.store.dispose();
  }
});

test("Taylor score (§4.2): |g·∂L/∂g| equals the first-order loss change of scaling the channel's output by 1 ± ε, for BN gates and conv gates (§4.9)", async () => {
  // A mixed model: BN after the first conv, the second conv BN-free with a bias (a fused export's).
  const nb = new NetBuilder("x", [2, 5, 5]);
  const a = nb.relu(nb.bn(nb.conv("x", 4)));
  const b = nb.relu(nb.conv(a, 3, { bias: true }));
  const c2 = nb.relu(nb.bn(nb.conv(b, 3)));
  const out = nb.gemm(nb.flatten(nb.gap(nb.add(b, c2))), 3);
  const graph = buildGraph(randomize(nb.model([out]), 21));
  const bns = graph.order.filter((n) => n.opType === "BatchNormalization").map((n) => n.name);
  const bare = [graph.order.filter((n) => n.opType === "Conv")[1]!.name];
  const t = compileTrainer(await createWasm(), graph, {
    batch: 4,
    gatedBatchNorms: new Set(bns),
    gatedConvs: new Set(bare),
  });
  // A conv gate away from its initial 1, so that the check does not rest on g = 1.
  t.store.write(`${bare[0]}#gate`, Float32Array.of(0.7, 1.3, -0.6));
  const { x, labels } = inputAndLabels(4, 50, 3, 22);
  t.step(x, labels);
  const loss = () => meanCrossEntropy(t.forward(x), labels, 3);
  const eps = 1e-3;
  for (const node of [...bns, ...bare]) {
    const name = `${node}#gate`;
    const g = t.store.read(name);
    const taylor = Array.from(t.store.readGrad(name), (d, c) => Math.abs(d * g[c]!));
    for (let c = 0; c < g.length; c++) {
      // Scaling the channel's output y = m·g·(x̂ + b') or y = m·g·(W∗x + b) by (1 ± ε) is scaling its gate.
      const at = (f: number) => {
        const w = g.slice();
        w[c] = g[c]! * f;
        t.store.write(name, w);
        return loss();
      };
      const change = Math.abs((at(1 + eps) - at(1 - eps)) / 2 / eps);
      t.store.write(name, g);
      assert.ok(
        Math.abs(change - taylor[c]!) < 2e-3 + 2e-2 * taylor[c]!,
        `${name}[${c}]: Taylor ${taylor[c]}, loss change ${change}`,
      );
    }
  }
  t.dispose();
  t.store.dispose();
});
