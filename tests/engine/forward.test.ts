// The engine's forward pass against onnxruntime-node, the independent referee: every fixture model (the
// hand-built ones, the torchvision exports with depthwise convs, Concat, channel shuffle, SE blocks,
// ConvTranspose, and the trained ResNet-20) at batch 1 and batch 17 on seeded random inputs. The largest
// difference must stay within 1e-4 of the reference's largest magnitude.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { compileModel } from "../../src/engine/compile.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { decodeModel } from "../../src/onnx/index.ts";
import { createWasm } from "../../src/wasm/instance.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const DIRS = ["", "torchvision/", "trained/"];
const models = DIRS.flatMap((d) =>
  readdirSync(new URL(d, FIXTURES))
    .filter((f) => f.endsWith(".onnx"))
    .map((f) => `${d}${f}`),
);

/** Seeded uniform values in [-1, 1) (a 32-bit LCG: the test must not depend on Math.random). */
function seededInput(len: number, seed: number): Float32Array {
  const x = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

test("the fixture list covers the models the issue names", () => {
  for (const name of [
    "torchvision/resnet_tiny_bn.onnx",
    "torchvision/mobilenet_v2_035_fused.onnx",
    "concat_bn.onnx",
  ]) {
    assert.ok(models.includes(name), `${name} is missing`);
  }
});

const wasm = await createWasm();

/** Fixtures with an op the engine does not run yet (op-table.ts lists the deliberate absences). */
const UNSUPPORTED: Record<string, string> = {
  "torchvision/convnext_tiny_2stage_opset17.onnx": "LayerNormalization",
};

for (const [file, op] of Object.entries(UNSUPPORTED)) {
  test(`${file}: compiling names the missing op ${op} (ONNX_UNSUPPORTED), never a wrong answer`, () => {
    const graph = buildGraph(decodeModel(readFileSync(new URL(file, FIXTURES))));
    assert.throws(
      () => compileModel(wasm, graph, { batch: 1 }),
      (e: unknown) => isPrunekitError(e) && e.code === "ONNX_UNSUPPORTED" && e.message.includes(op),
    );
  });
}

/**
 * Fixtures with Winograd-eligible convs (3x3, stride 1, 16+ channels), also run with F(4x4, 3x3) forced on
 * all of them (the default keeps F(2x2, 3x3) on small maps and few tiles).
 */
const WINOGRAD4_FORCED = [
  "trained/resnet20_fmnist.onnx",
  "torchvision/resnet_tiny_bn.onnx",
  "torchvision/squeezenet1_1.onnx",
  "torchvision/unet_tiny_bn.onnx",
];
const cases = [
  ...models.filter((m) => UNSUPPORTED[m] === undefined).map((file) => ({ file, winograd: true as const })),
  ...WINOGRAD4_FORCED.map((file) => ({ file, winograd: "4x4" as const })),
];

for (const { file, winograd } of cases) {
  for (const batch of [1, 17]) {
    const how = winograd === true ? "" : ` (winograd ${winograd})`;
    test(`forward of ${file} at batch ${batch}${how} equals onnxruntime within 1e-4`, async () => {
      const bytes = readFileSync(new URL(file, FIXTURES));
      const graph = buildGraph(decodeModel(bytes));
      const compiled = compileModel(wasm, graph, { batch, winograd });
      try {
        const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
        try {
          const input = compiled.inputs[0]!;
          const x = seededInput(
            input.dims.reduce((a, b) => a * b, 1),
            12345 + batch,
          );
          const ours = compiled.run({ [input.name]: x });
          const ref = await session.run({ [input.name]: new ort.Tensor("float32", x, [...input.dims]) });
          for (const out of compiled.outputs) {
            const r = ref[out.name]!.data as Float32Array;
            const o = ours[out.name]!;
            assert.deepEqual([...ref[out.name]!.dims].map(Number), [...out.dims], `${out.name} dims`);
            let scale = 0;
            let diff = 0;
            for (let i = 0; i < r.length; i++) {
              scale = Math.max(scale, Math.abs(r[i]!));
              diff = Math.max(diff, Math.abs(o[i]! - r[i]!));
            }
            assert.ok(Number.isFinite(scale) && scale > 0, `${out.name}: reference output is degenerate`);
            assert.ok(
              diff <= 1e-4 * scale,
              `${out.name}: max |ours - ort| = ${diff.toExponential(3)} > 1e-4 x ${scale.toExponential(3)}`,
            );
          }
        } finally {
          await session.release();
        }
      } finally {
        compiled.dispose();
      }
    });
  }
}

test("compileModel rejects an unknown winograd option with INVALID_ARGUMENT", () => {
  const graph = buildGraph(decodeModel(readFileSync(new URL("trained/resnet20_fmnist.onnx", FIXTURES))));
  assert.throws(
    () => compileModel(wasm, graph, { winograd: "3x3" as unknown as "4x4" }),
    (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /winograd must be/.test(e.message),
  );
});

test("activations share memory: the planned block is smaller than one buffer per value", () => {
  const graph = buildGraph(decodeModel(readFileSync(new URL("trained/resnet20_fmnist.onnx", FIXTURES))));
  // im2col only: Winograd's transform scratch (shared by all steps, counted on both sides) is larger
  // than ResNet-20's activations at batch 4 and would hide what this test is about, the reuse.
  const compiled = compileModel(wasm, graph, { batch: 4, winograd: false });
  try {
    assert.ok(
      compiled.activationBytes < compiled.activationBytesUnplanned / 3,
      `${compiled.activationBytes} bytes planned vs ${compiled.activationBytesUnplanned} without reuse`,
    );
    // BN and Relu are fused into the convs: far fewer steps than nodes.
    assert.ok(
      compiled.stepCount < graph.nodes.length / 2,
      `${compiled.stepCount} steps for ${graph.nodes.length} nodes`,
    );
  } finally {
    compiled.dispose();
  }
});
