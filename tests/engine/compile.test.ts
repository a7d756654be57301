// Compile's contracts besides numerical agreement (tests/engine/forward.test.ts): typed errors for what
// it cannot run, the memory plan never overlapping live values, and the engine's activation / eltwise
// codes agreeing with the module's.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compileModel, planOffsets } from "../../src/engine/compile.ts";
import { ACT } from "../../src/engine/ops/act.ts";
import { ELTWISE } from "../../src/engine/ops/eltwise.ts";
import { PrunekitError } from "../../src/errors.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { buildModel } from "../../src/onnx/build.ts";
import { createWasm } from "../../src/wasm/instance.ts";

const wasm = await createWasm();

const isCode = (code: string, text: RegExp) => (e: unknown) =>
  e instanceof PrunekitError && e.code === code && text.test(e.message);

test("an op outside the engine's table is ONNX_UNSUPPORTED naming the node and the op", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: ["N", 3, 4, 4] }],
    outputs: [{ name: "y" }],
    nodes: [{ name: "lrn1", opType: "LRN", inputs: ["x"], outputs: ["y"], attributes: { size: 3 } }],
  });
  assert.throws(() => compileModel(wasm, buildGraph(model)), isCode("ONNX_UNSUPPORTED", /"lrn1" \(LRN\)/));
});

test("a training-mode BatchNormalization is refused with the way out", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: ["N", 2, 3, 3] }],
    outputs: [{ name: "y" }],
    initializers: ["s", "b", "m", "v"].map((name) => ({ name, dims: [2], data: [1, 1] })),
    nodes: [
      {
        name: "bn",
        opType: "BatchNormalization",
        inputs: ["x", "s", "b", "m", "v"],
        outputs: ["y", "rm", "rv"],
        attributes: { training_mode: 1 },
      },
    ],
  });
  assert.throws(
    () => compileModel(wasm, buildGraph(model)),
    isCode("ONNX_UNSUPPORTED", /"bn".*model\.eval\(\)/),
  );
});

test("a bad batch and a wrong-sized input are INVALID_ARGUMENT", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: ["N", 5] }],
    outputs: [{ name: "y" }],
    nodes: [{ name: "r", opType: "Relu", inputs: ["x"], outputs: ["y"] }],
  });
  const graph = buildGraph(model);
  assert.throws(() => compileModel(wasm, graph, { batch: 0 }), isCode("INVALID_ARGUMENT", /batch/));
  const c = compileModel(wasm, graph, { batch: 2 });
  try {
    assert.throws(
      () => c.run({ x: new Float32Array(9) }),
      isCode("INVALID_ARGUMENT", /"x" has 9 values, expected 10/),
    );
    assert.deepEqual(
      [...c.run({ x: Float32Array.of(-1, 2, -3, 4, 0, 5, -6, 7, 8, -9) }).y!],
      [0, 2, 0, 4, 0, 5, 0, 7, 8, 0],
    );
  } finally {
    c.dispose();
  }
});

test("the engine's ACT and ELTWISE codes are the module's", () => {
  const value = (name: string) => {
    const g = wasm.exports[name];
    return g instanceof WebAssembly.Global ? g.value : g;
  };
  const actNames: Record<keyof typeof ACT, string> = {
    none: "ACT_NONE",
    relu: "ACT_RELU",
    leakyRelu: "ACT_LEAKY_RELU",
    clip: "ACT_CLIP",
    sigmoid: "ACT_SIGMOID",
    hardSigmoid: "ACT_HARD_SIGMOID",
    hardSwish: "ACT_HARD_SWISH",
    tanh: "ACT_TANH",
  };
  for (const [k, name] of Object.entries(actNames))
    assert.equal(value(name), ACT[k as keyof typeof ACT], name);
  for (const [k, code] of Object.entries(ELTWISE)) assert.equal(value(`ELTWISE_${k.toUpperCase()}`), code, k);
});

test("planOffsets never overlaps two storages that are alive at the same step", () => {
  const storage = fc.record({
    bytes: fc.integer({ min: 1, max: 64 }).map((n) => n * 16),
    from: fc.integer({ min: -1, max: 20 }),
    len: fc.integer({ min: 0, max: 10 }),
  });
  fc.assert(
    fc.property(fc.array(storage, { minLength: 1, maxLength: 40 }), (raw) => {
      const storages = raw.map((s, i) => ({
        name: `v${i}`,
        bytes: s.bytes,
        from: s.from,
        to: s.from + s.len,
      }));
      const { offsets, totalBytes } = planOffsets(storages);
      for (const a of storages) {
        const oa = offsets.get(a.name)!;
        assert.ok(oa % 16 === 0 && oa + a.bytes <= totalBytes);
        for (const b of storages) {
          if (a === b || a.to < b.from || b.to < a.from) continue;
          const ob = offsets.get(b.name)!;
          assert.ok(
            oa + a.bytes <= ob || ob + b.bytes <= oa,
            `${a.name} and ${b.name} overlap while both alive`,
          );
        }
      }
    }),
  );
});

test("profile: one timing per step, in step order, growing with runs; empty unless asked for", () => {
  const model = buildModel({
    inputs: [{ name: "x", shape: ["N", 3, 4, 4] }],
    outputs: [{ name: "y" }],
    nodes: [
      { name: "relu1", opType: "Relu", inputs: ["x"], outputs: ["a"] },
      { name: "pool1", opType: "GlobalAveragePool", inputs: ["a"], outputs: ["y"] },
    ],
  });
  const graph = buildGraph(model);
  const plain = compileModel(wasm, graph, { batch: 2 });
  const timed = compileModel(wasm, graph, { batch: 2, profile: true });
  try {
    const x = new Float32Array(2 * 3 * 16).map((_, i) => i - 20);
    assert.deepEqual(timed.run({ x }).y, plain.run({ x }).y);
    assert.deepEqual(plain.profile(), []);
    const first = timed.profile();
    assert.equal(first.length, timed.stepCount);
    assert.deepEqual(
      first.map((s) => [s.node, s.opType]),
      [
        ["relu1", "Relu"],
        ["pool1", "GlobalAveragePool"],
      ],
    );
    for (let i = 0; i < 20; i++) timed.run({ x });
    const later = timed.profile();
    for (let i = 0; i < later.length; i++) {
      assert.ok(first[i]!.ms >= 0 && later[i]!.ms >= first[i]!.ms, `${later[i]!.node} time grows`);
    }
    assert.ok(later.reduce((t, s) => t + s.ms, 0) > 0);
  } finally {
    plain.dispose();
    timed.dispose();
  }
});

test("a residual Add after a Winograd conv is fused into its output transform, with the unfused bits", () => {
  // x -> conv1 -> Relu -> conv2 -> BN -> Add(x) -> Relu, 16 channels of 6 x 6 (Winograd at batch 2); a
  // second model also outputs the conv's value, so the Add stays a step of its own.
  const c = 16;
  const weights = (seed: number) =>
    Array.from({ length: c * c * 9 }, (_, i) => Math.fround(Math.sin(seed + i * 0.7) * 0.2));
  const spec = (outputs: string[]) =>
    buildModel({
      inputs: [{ name: "x", shape: ["N", c, 6, 6] }],
      outputs: outputs.map((name) => ({ name })),
      initializers: [
        { name: "w1", dims: [c, c, 3, 3], data: weights(1) },
        { name: "w2", dims: [c, c, 3, 3], data: weights(2) },
        ...["s", "b", "m", "v"].map((name, k) => ({
          name,
          dims: [c],
          data: Array.from({ length: c }, (_, i) => (k === 3 ? 0.5 + i / c : Math.cos(i + k))),
        })),
      ],
      nodes: [
        {
          name: "conv1",
          opType: "Conv",
          inputs: ["x", "w1"],
          outputs: ["a"],
          attributes: { pads: [1, 1, 1, 1] },
        },
        { name: "relu1", opType: "Relu", inputs: ["a"], outputs: ["r"] },
        {
          name: "conv2",
          opType: "Conv",
          inputs: ["r", "w2"],
          outputs: ["p"],
          attributes: { pads: [1, 1, 1, 1] },
        },
        { name: "bn2", opType: "BatchNormalization", inputs: ["p", "s", "b", "m", "v"], outputs: ["q"] },
        { name: "add", opType: "Add", inputs: ["q", "x"], outputs: ["z"] },
        { name: "relu2", opType: "Relu", inputs: ["z"], outputs: ["y"] },
      ],
    });
  const x = new Float32Array(2 * c * 36).map((_, i) => Math.fround(Math.sin(i * 0.31) * 2));
  for (const winograd of ["2x2", "4x4"] as const) {
    const fused = compileModel(wasm, buildGraph(spec(["y"])), { batch: 2, winograd, profile: true });
    const split = compileModel(wasm, buildGraph(spec(["y", "q"])), { batch: 2, winograd, profile: true });
    try {
      fused.run({ x });
      split.run({ x });
      assert.deepEqual(
        fused.profile().map((s) => s.node),
        ["conv1", "conv2"],
        `${winograd}: BN, Add and Relu fused into conv2`,
      );
      assert.deepEqual(
        split.profile().map((s) => s.node),
        ["conv1", "conv2", "add"],
        `${winograd}: the conv's value is an output, so the Add runs on its own`,
      );
      const y = fused.run({ x }).y!;
      const { q } = split.run({ x });
      const expected = q!.map((v, i) => Math.max(0, Math.fround(v + x[i]!)));
      assert.deepEqual(new Uint32Array(y.buffer.slice(0)), new Uint32Array(expected.buffer.slice(0)));
      assert.deepEqual(y, split.run({ x }).y);
    } finally {
      fused.dispose();
      split.dispose();
    }
  }
});

test("a residual Add whose other input is computed after the conv is not fused into it", () => {
  // The shortcut conv comes after conv2 in the node order (as torchvision's ResNet exports it).
  const c = 16;
  const model = buildModel({
    inputs: [{ name: "x", shape: ["N", c, 6, 6] }],
    outputs: [{ name: "y" }],
    initializers: [
      { name: "w", dims: [c, c, 3, 3], data: Array.from({ length: c * c * 9 }, (_, i) => Math.cos(i) * 0.1) },
      { name: "k", dims: [c, c, 1, 1], data: Array.from({ length: c * c }, (_, i) => Math.sin(i) * 0.1) },
    ],
    nodes: [
      {
        name: "conv2",
        opType: "Conv",
        inputs: ["x", "w"],
        outputs: ["p"],
        attributes: { pads: [1, 1, 1, 1] },
      },
      { name: "shortcut", opType: "Conv", inputs: ["x", "k"], outputs: ["s"] },
      { name: "add", opType: "Add", inputs: ["p", "s"], outputs: ["y"] },
    ],
  });
  const compiled = compileModel(wasm, buildGraph(model), { batch: 2, profile: true });
  try {
    const x = new Float32Array(2 * c * 36).map((_, i) => Math.sin(i * 0.13));
    compiled.run({ x });
    assert.deepEqual(
      compiled.profile().map((s) => s.node),
      ["conv2", "shortcut", "add"],
    );
  } finally {
    compiled.dispose();
  }
});

test("convs on 2x2 and 1x1 maps at batch 1 run tap by tap (padding skipped) and match the direct conv", async () => {
  const { conv2d } = await import("../../src/wasm/reference/conv.ts");
  for (const side of [2, 1]) {
    const [c, f] = [24, 7];
    const weight = Array.from({ length: f * c * 9 }, (_, i) => Math.fround(Math.sin(i * 0.9) * 0.3));
    // On the 1x1 map only the centre tap reaches the image: NaN elsewhere shows the padding is skipped
    // (im2col would multiply it by the padding's 0 and get NaN).
    const used = side === 1 ? weight.map((v, i) => (i % 9 === 4 ? v : 0)) : weight;
    if (side === 1) for (let i = 0; i < weight.length; i++) if (i % 9 !== 4) weight[i] = Number.NaN;
    const bias = Array.from({ length: f }, (_, i) => 0.1 * i - 0.3);
    const model = buildModel({
      inputs: [{ name: "x", shape: ["N", c, side, side] }],
      outputs: [{ name: "y" }],
      initializers: [
        { name: "w", dims: [f, c, 3, 3], data: weight },
        { name: "b", dims: [f], data: bias },
      ],
      nodes: [
        {
          name: "conv",
          opType: "Conv",
          inputs: ["x", "w", "b"],
          outputs: ["z"],
          attributes: { pads: [1, 1, 1, 1] },
        },
        { name: "relu", opType: "Relu", inputs: ["z"], outputs: ["y"] },
      ],
    });
    const x = new Float32Array(c * side * side).map((_, i) => Math.fround(Math.cos(i * 0.7)));
    const compiled = compileModel(wasm, buildGraph(model), { batch: 1, profile: true });
    try {
      const y = compiled.run({ x }).y!;
      assert.deepEqual(
        compiled.profile().map((s) => s.node),
        ["conv"],
      );
      const spec = {
        batch: 1,
        channels: c,
        height: side,
        width: side,
        outChannels: f,
        kernelH: 3,
        kernelW: 3,
        groups: 1,
        strides: [1, 1] as const,
        pads: [1, 1, 1, 1] as const,
        dilations: [1, 1] as const,
      };
      const ref = conv2d(spec, x, used, bias).map((v) => Math.max(0, v));
      for (let i = 0; i < ref.length; i++)
        assert.ok(Math.abs(y[i]! - ref[i]!) <= 1e-5, `${side}x${side} output ${i}`);
    } finally {
      compiled.dispose();
    }
  }
});
