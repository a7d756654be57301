// Real torchvision exports (tests/fixtures/torchvision/, made by make_torchvision.py): every model is
// analysed, pruned with l1 and with Neuron Merging (skipping unsafe layers), and onnxruntime runs the
// result with the original's output names and shapes. Each model also pins which groups are frozen
// and why, so a regression that freezes a plain ResNet conv, or lets a channel shuffle be pruned,
// shows up here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { describeModel, type GroupSummary, loadModel, type Model, prune } from "../../src/index.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { inputShape } from "../onnx/fixtures.ts";

const dir = new URL("../fixtures/torchvision/", import.meta.url);
const OUTPUT_FROZEN = 'frozen: channels reach graph output "output"';

interface Outputs {
  [name: string]: { dims: readonly number[]; data: Float32Array };
}

async function run(bytes: Uint8Array, model: Model): Promise<Outputs> {
  const input = inputShape(model.proto, 2);
  const session = await ort.InferenceSession.create(bytes);
  try {
    const len = input.shape.reduce((a, b) => a * b, 1);
    const feeds = { [input.name]: new ort.Tensor("float32", seededFloats(11, len), input.shape) };
    const out: Outputs = {};
    for (const [name, t] of Object.entries(await session.run(feeds))) {
      out[name] = { dims: t.dims, data: t.data as Float32Array };
    }
    return out;
  } finally {
    await session.release();
  }
}

function assertSameInterface(original: Outputs, pruned: Outputs, what: string): void {
  assert.deepEqual(Object.keys(pruned).sort(), Object.keys(original).sort(), `${what}: output names`);
  for (const [name, y] of Object.entries(original)) {
    assert.deepEqual(pruned[name]!.dims, y.dims, `${what}: dims of "${name}"`);
    assert.ok(pruned[name]!.data.every(Number.isFinite), `${what}: "${name}" is finite`);
  }
}

/** Frozen groups must be exactly these: `frozen(g)` true for them, false for every other group. */
interface Case {
  file: string;
  /** Which groups should be frozen; each returned reason list is checked against `reasons`. */
  frozen: (g: GroupSummary) => boolean;
  /** Every reason of every frozen group matches one of these. */
  reasons: RegExp[];
  /** Extra checks on the description. */
  check?: (groups: GroupSummary[]) => void;
}

const outputOnly = (g: GroupSummary) => g.frozenReasons.includes(OUTPUT_FROZEN);
const OUTPUT = /^frozen: channels reach graph output "output"$/;

const CASES: Case[] = [
  ...["resnet_tiny_bn.onnx", "resnet_tiny_fused.onnx"].map(
    (file): Case => ({
      file,
      // A plain ResNet: every conv prunes; only the fc, whose channels are the logits, is frozen.
      frozen: outputOnly,
      reasons: [OUTPUT],
      check: (groups) => {
        assert.equal(groups.filter((g) => g.isResidual).length, 4, "one residual group per stage");
        assert.equal(groups.filter((g) => g.inner && g.mergeSafe).length, 4, "each block's first conv");
      },
    }),
  ),
  {
    // Zero-initialised biases are shared through Identity nodes by the exporter (regression).
    file: "squeezenet1_1.onnx",
    frozen: outputOnly,
    reasons: [OUTPUT],
    check: (groups) => assert.ok(groups.some((g) => g.consumers.length === 1 && g.inner)),
  },
  {
    // Hardswish, Hardsigmoid gates and squeeze-excitation Mul: prunable, but not merge-safe through them.
    file: "mobilenet_v3_small_050_bn.onnx",
    frozen: outputOnly,
    reasons: [OUTPUT],
    check: (groups) => assert.ok(groups.some((g) => g.isResidual && !g.frozen)),
  },
  { file: "mobilenet_v2_035_fused.onnx", frozen: outputOnly, reasons: [OUTPUT] },
  {
    // SiLU as x*Sigmoid(x) and squeeze-excitation: activations and gates, not residual joins.
    file: "efficientnet_tiny_bn.onnx",
    frozen: outputOnly,
    reasons: [OUTPUT],
    check: (groups) => {
      assert.equal(groups.filter((g) => g.isResidual).length, 1, "only the first MBConv adds into its input");
      const se = groups.filter((g) => g.patterns.includes("squeeze-excitation") && !g.isResidual);
      assert.ok(se.length >= 6 && se.every((g) => g.inner), "gated groups are inner layers");
    },
  },
  {
    // Opset 17: LayerNormalization over the NHWC channels, between Transposes; GELU in the MLPs.
    file: "convnext_tiny_2stage_opset17.onnx",
    frozen: outputOnly,
    reasons: [OUTPUT],
    check: (groups) => assert.deepEqual(groups.filter((g) => g.patterns.includes("GELU")).length, 2),
  },
  {
    // Opset 13: LayerNorm decomposed; its ReduceMean over the channels freezes the residual streams.
    file: "convnext_tiny_2stage.onnx",
    frozen: (g) => outputOnly(g) || g.isResidual,
    reasons: [
      OUTPUT,
      /^frozen: node "[^"]+\/ReduceMean(_\d+)?" \(op ReduceMean\) reduces over the channel \(or batch\) axis$/,
    ],
  },
  {
    // Channel shuffle (Reshape -> Transpose -> Reshape) freezes every group that reaches it.
    file: "shufflenet_v2_x0_5_bn.onnx",
    frozen: (g) => outputOnly(g) || /branch[12]\.[25]\/Conv$/.test(g.producers[0]!),
    reasons: [
      OUTPUT,
      /^frozen: node "\/stage(\d)\/stage\1\.\d\/Reshape" \(op Reshape\) reshapes \[1,\d+,\d+,\d+\] to \[1,2,\d+,\d+,\d+\], which splits or merges the channel axis$/,
    ],
    check: (groups) => {
      const conv5 = groups.find((g) => g.producers.includes("/conv5/conv5.0/Conv"))!;
      assert.ok(!conv5.frozen && conv5.consumers[0] === "/fc/Gemm", "x.mean([2, 3]) feeds the fc");
      assert.equal(groups.filter((g) => /branch2\.0\/Conv$/.test(g.producers[0]!) && !g.frozen).length, 16);
    },
  },
  {
    // ConvTranspose is refused: the encoder group it reads freezes, naming it.
    file: "unet_tiny_bn.onnx",
    frozen: (g) => outputOnly(g) || g.producers[0] === "/enc2/enc2.3/Conv",
    reasons: [
      OUTPUT,
      /^frozen: node "\/up\/ConvTranspose" \(op ConvTranspose\) is not supported for pruning/,
    ],
  },
];

for (const c of CASES) {
  test(`torchvision ${c.file}: info, expected freezing, l1 and merge prune to models onnxruntime runs`, async () => {
    const bytes = new Uint8Array(readFileSync(new URL(c.file, dir)));
    const model = await loadModel(bytes);
    const info = describeModel(model);
    assert.deepEqual(
      info.inputs.map((i) => i.name),
      ["input"],
    );
    assert.ok(info.totals.macs > 0 && info.layers.length > 0);
    for (const g of info.groups) {
      const where = `${c.file} group ${g.id} (${g.producers.join(", ")})`;
      assert.equal(g.frozen, c.frozen(g), `${where}: frozen = ${g.frozen}: ${g.frozenReasons.join("; ")}`);
      for (const r of g.frozenReasons) {
        assert.ok(
          c.reasons.some((re) => re.test(r)),
          `${where}: unexpected reason ${r}`,
        );
      }
    }
    c.check?.(info.groups);

    const original = await run(bytes, model);
    const l1 = await prune(model, { method: "l1", ratio: 0.3 });
    assert.ok(l1.report.after.macs < l1.report.before.macs, `${c.file}: l1 removes MACs`);
    assertSameInterface(original, await run(l1.bytes, l1.model), `${c.file} l1`);

    // ConvNeXt: merge skips every inner group (GELU) and leaves the residual streams.
    const merged = await prune(model, {
      method: "merge",
      ratio: 0.3,
      skipUnsafe: true,
      allowUnchanged: true,
    });
    assertSameInterface(original, await run(merged.bytes, merged.model), `${c.file} merge`);
    assert.deepEqual(
      describeModel(merged.model).outputs,
      info.outputs,
      `${c.file}: merge keeps the declared outputs`,
    );

    // §2.6 fallback: layers that cannot absorb a merge (hard-swish, ReLU6...) are pruned without one.
    const fallback = await prune(model, { method: "merge", ratio: 0.3, pruneUnsafe: true });
    assertSameInterface(original, await run(fallback.bytes, fallback.model), `${c.file} merge prune-unsafe`);
    assert.ok(
      fallback.report.after.macs <= merged.report.after.macs,
      `${c.file}: pruneUnsafe prunes at least what skipUnsafe does`,
    );

    // Ratio 0 keeps every channel: the outputs are bit-identical.
    const none = await prune(model, { method: "l1", ratio: 0, allowUnchanged: true });
    const same = await run(none.bytes, none.model);
    for (const [name, y] of Object.entries(original)) assert.deepEqual(same[name]!.data, y.data, name);
  });
}
