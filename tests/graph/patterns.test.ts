// Decomposed activations (SiLU, HardSwish, GELU), squeeze-excitation and LayerNormalization (issue #9):
// recognised from the graph's structure, classified as channel-wise functions that Neuron Merging cannot
// fold through (UNSAFE_MERGE naming the node, skipUnsafe, pruneUnsafe), never as residual joins; and the
// pruned models checked in onnxruntime against the original with the removed channels zeroed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import {
  type DependencyGroup,
  groupPatterns,
  isInner,
  pathIsMergeSafe,
  unsafePathOp,
} from "../../src/graph/group.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { isPrunekitError, loadModel, type Model, type PruneReport, prune } from "../../src/index.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import type { GroupPlan } from "../../src/surgery/plan.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { inputShape, runOrt } from "../onnx/fixtures.ts";
import { assertOutputsClose, zeroRemoved } from "../surgery/harness.ts";
import { NetBuilder } from "./net-builder.ts";

// ---------------------------------------------------------------------------------------------
// Hand-built patterns: conv -> BN -> activation(x) -> conv -> gap -> flatten -> gemm.

function scalar(b: NetBuilder, value: number): string {
  const name = b.fresh("k");
  b.initializers.push(makeFloat32Tensor(name, [], [value]));
  return name;
}

function binary(b: NetBuilder, op: string, x: string, y: string): string {
  return b.op(op, [x, y], b.dims.get(x) ?? b.dims.get(y)!);
}

function activationNet(act: (b: NetBuilder, x: string) => string): DependencyGroup[] {
  const b = new NetBuilder();
  const x = b.bn(b.conv(b.input, 6));
  const y = b.gemm(b.flatten(b.gap(b.conv(act(b, x), 5))), 3);
  return findDependencyGroups(buildGraph(b.model([y])));
}

const ACTIVATIONS: [string, string, (b: NetBuilder, x: string) => string][] = [
  ["SiLU", "x·Sigmoid(x)", (b, x) => binary(b, "Mul", x, b.unary("Sigmoid", x))],
  ["SiLU", "Sigmoid(x)·x", (b, x) => binary(b, "Mul", b.unary("Sigmoid", x), x)],
  ["HardSwish", "x·HardSigmoid(x) (opset < 14)", (b, x) => binary(b, "Mul", x, b.unary("HardSigmoid", x))],
  [
    "HardSwish",
    "x·Clip(x+3, 0, 6)/6",
    (b, x) => {
      const relu6 = b.op(
        "Clip",
        [binary(b, "Add", x, scalar(b, 3)), scalar(b, 0), scalar(b, 6)],
        b.dims.get(x)!,
      );
      return binary(b, "Div", binary(b, "Mul", x, relu6), scalar(b, 6));
    },
  ],
  [
    "GELU",
    "x·(erf(x/√2)+1)·½ (torch's order)",
    (b, x) => {
      const erf = b.unary("Erf", binary(b, "Div", x, scalar(b, Math.SQRT2)));
      return binary(b, "Mul", binary(b, "Mul", x, binary(b, "Add", erf, scalar(b, 1))), scalar(b, 0.5));
    },
  ],
  [
    "GELU",
    "(½·x)·(1+erf(x·(1/√2)))",
    (b, x) => {
      const erf = b.unary("Erf", binary(b, "Mul", scalar(b, Math.SQRT1_2), x));
      return binary(b, "Mul", binary(b, "Mul", scalar(b, 0.5), x), binary(b, "Add", scalar(b, 1), erf));
    },
  ],
  [
    "GELU (tanh)",
    "½x(1+tanh(√(2/π)(x+0.044715x³)))",
    (b, x) => {
      const cube = binary(b, "Mul", scalar(b, 0.044715), binary(b, "Pow", x, scalar(b, 3)));
      const inner = binary(b, "Mul", scalar(b, Math.sqrt(2 / Math.PI)), binary(b, "Add", x, cube));
      const t = binary(b, "Add", b.unary("Tanh", inner), scalar(b, 1));
      return binary(b, "Mul", binary(b, "Mul", x, scalar(b, 0.5)), t);
    },
  ],
];

for (const [name, form, act] of ACTIVATIONS) {
  test(`${name} written as ${form} is an activation, not a residual join: inner, not merge-safe`, () => {
    const group = activationNet(act)[0]!;
    assert.equal(group.frozen, false, group.frozenReasons.join("; "));
    assert.equal(group.isResidual, false);
    assert.equal(group.producers.length, 1);
    assert.ok(isInner(group), "one producer, conv consumers");
    assert.ok(!pathIsMergeSafe(group), "not positively homogeneous");
    assert.deepEqual(
      groupPatterns(group).map((p) => p.name),
      [name],
    );
    const op = unsafePathOp(group)!;
    assert.equal(op.pattern?.name, name, `the first unsafe op (${op.node}) belongs to the ${name}`);
  });
}

test("two layers joined by Mul or Add stay a residual join (no common input)", () => {
  for (const op of ["Mul", "Add"]) {
    const b = new NetBuilder();
    const joined = binary(b, op, b.bn(b.conv(b.input, 6)), b.conv(b.input, 6));
    const y = b.gemm(b.flatten(b.gap(b.conv(joined, 5))), 3);
    const group = findDependencyGroups(buildGraph(b.model([y])))[0]!;
    assert.equal(group.isResidual, true, op);
    assert.equal(group.producers.length, 2, op);
    assert.ok(!isInner(group), op);
    assert.deepEqual(groupPatterns(group), [], op);
  }
});

test("x·s where s is not computed from x (a second branch with a pool and a conv) is a residual join", () => {
  const b = new NetBuilder();
  const x = b.relu(b.conv(b.input, 6));
  const other = b.unary("Sigmoid", b.conv(b.gap(b.relu(b.conv(b.input, 4))), 6, { k: 1 }));
  const y = b.gemm(b.flatten(b.gap(b.conv(binary(b, "Mul", x, other), 5))), 3);
  const group = findDependencyGroups(buildGraph(b.model([y])))[0]!;
  assert.equal(group.isResidual, true);
  assert.ok(group.producers.every((p) => p.squeezeExcitation === undefined));
});

// ---------------------------------------------------------------------------------------------
// LayerNormalization, GroupNormalization, shapes lost upstream.

/** conv 1x1 (3 -> 6) -> Transpose NHWC -> LayerNormalization(axis) -> MatMul (6 -> 5) -> Transpose NCHW. */
function layerNormNet(): { model: ModelProto; b: NetBuilder; ln: string } {
  const b = new NetBuilder("x", [3, 4, 4], 17);
  const c = b.conv(b.input, 6, { k: 1, bias: true });
  const nhwc = b.op("Transpose", [c], [4, 4, 6], { perm: [0, 2, 3, 1] });
  const scale = b.fresh("ln_scale");
  const bias = b.fresh("ln_bias");
  b.initializers.push(makeFloat32Tensor(scale, [6], [0.5, 1.5, 1, 2, 0.75, 1.25]));
  b.initializers.push(makeFloat32Tensor(bias, [6], [0.1, -0.2, 0.3, 0, -0.1, 0.2]));
  const ln = b.op("LayerNormalization", [nhwc, scale, bias], [4, 4, 6], { axis: -1, epsilon: { f: 1e-5 } });
  const mm = b.op("MatMul", [ln, b.weight("mm", [6, 5])], [4, 4, 5]);
  const y = b.op("Transpose", [mm], [5, 4, 4], { perm: [0, 3, 1, 2] });
  return { model: b.model([y]), b, ln: `LayerNormalization_${ln}` };
}

/** The network of {@link layerNormNet} in plain loops, restricted to the channels `kept` (NCHW in/out). */
function layerNormReference(model: ModelProto, kept: number[], x: Float32Array, batch: number): Float32Array {
  const init = new Map(model.graph!.initializer.map((t) => [t.name ?? "", readFloat32(t)]));
  const [w, cb, scale, bias, mm] = ["w", "b", "ln_scale", "ln_bias", "mm"].map(
    (p) => [...init].find(([n]) => n.startsWith(p))![1],
  ) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const hw = 16;
  const out = new Float32Array(batch * 5 * hw);
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < hw; p++) {
      const h = kept.map((c) => {
        let s = cb[c]!;
        for (let i = 0; i < 3; i++) s += w[c * 3 + i]! * x[(n * 3 + i) * hw + p]!;
        return s;
      });
      const mean = h.reduce((a, v) => a + v, 0) / h.length;
      const variance = h.reduce((a, v) => a + (v - mean) ** 2, 0) / h.length;
      const normed = h.map(
        (v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * scale[kept[j]!]! + bias[kept[j]!]!,
      );
      for (let o = 0; o < 5; o++) {
        let s = 0;
        normed.forEach((v, j) => {
          s += v * mm[kept[j]! * 5 + o]!;
        });
        out[(n * 5 + o) * hw + p] = s;
      }
    }
  }
  return out;
}

test("LayerNormalization over the channels (NHWC after a Transpose) is pruned with its scale and bias sliced", async () => {
  const { model: proto, ln } = layerNormNet();
  const model = await loadModel(encodeModel(proto));
  const group = model.groups[0]!;
  assert.equal(group.frozen, false, group.frozenReasons.join("; "));
  assert.deepEqual(
    group.members.map((m) => [m.node, m.params.map((p) => p.role)]),
    [[ln, ["scale", "bias"]]],
  );
  assert.ok(isInner(group) && !pathIsMergeSafe(group), "inner, but LayerNorm is not per channel for merging");

  const { bytes, report } = await prune(model, { method: "l1", ratio: 0.5 });
  const kept = report.layers.find((l) => l.node === group.producers[0]!.node)!.kept;
  assert.equal(kept.length, 3);
  const input = inputShape(model.proto, 2);
  const x = seededFloats(
    7,
    input.shape.reduce((a, v) => a * v, 1),
  );
  const actual = Object.values(await runOrt(bytes, input))[0]!;
  // The kept channels are normalised over themselves: the statistics change with the pruning.
  const expected = layerNormReference(proto, kept, x, 2);
  assertOutputsClose({ y: expected }, { y: actual });
  const all = layerNormReference(proto, [0, 1, 2, 3, 4, 5], x, 2);
  assertOutputsClose({ y: all }, { y: Object.values(await runOrt(encodeModel(proto), input))[0]! });
  assert.ok(
    all.some((v, i) => Math.abs(v - expected[i]!) > 1e-3),
    "removing channels changes LayerNorm's output on the kept ones (an approximation, like pruning)",
  );
});

test("merge refuses to fold through LayerNormalization, naming it; pruneUnsafe prunes it plainly", async () => {
  const { model: proto, ln } = layerNormNet();
  const model = await loadModel(encodeModel(proto));
  await assert.rejects(
    prune(model, { method: "merge", ratio: 0.5 }),
    (e) =>
      isPrunekitError(e) &&
      e.code === "UNSAFE_MERGE" &&
      e.node === ln &&
      e.message.includes("normalises across the channels"),
  );
  const plain = await prune(model, { method: "merge", ratio: 0.5, pruneUnsafe: true });
  assert.equal(plain.report.layers[0]!.kept.length, 3);
});

test("LayerNormalization over channels and spatial axes freezes the group naming the node; over W alone it is element-wise", () => {
  for (const axis of [1, 3]) {
    const b = new NetBuilder("x", [3, 4, 4], 17);
    const c = b.conv(b.input, 6);
    const dims = axis === 1 ? [6, 4, 4] : [4];
    const ln = b.op("LayerNormalization", [c, b.weight("s", dims), b.weight("t", dims)], [6, 4, 4], { axis });
    const y = b.gemm(b.flatten(b.gap(b.conv(ln, 5))), 3);
    const group = findDependencyGroups(buildGraph(b.model([y])))[0]!;
    if (axis === 1) {
      assert.ok(group.frozen);
      assert.ok(
        group.frozenReasons.some((r) =>
          /^frozen: node "LayerNormalization_\w+" \(op LayerNormalization\) normalises over axes 1\.\.3, which hold the channels \(axis 1\) and other axes/.test(
            r,
          ),
        ),
        group.frozenReasons.join("; "),
      );
    } else {
      assert.equal(group.frozen, false, group.frozenReasons.join("; "));
      assert.deepEqual(group.members, [], "the scale indexes W, not channels");
      assert.ok(!pathIsMergeSafe(group), "LayerNorm is scale-invariant, not positively homogeneous");
    }
  }
});

test("GroupNormalization freezes its group, naming the node and op", () => {
  const b = new NetBuilder("x", [3, 4, 4], 18);
  const c = b.conv(b.input, 6);
  const gn = b.op("GroupNormalization", [c, b.weight("s", [2]), b.weight("t", [2])], [6, 4, 4], {
    num_groups: 2,
  });
  const y = b.gemm(b.flatten(b.gap(b.conv(gn, 5))), 3);
  const group = findDependencyGroups(buildGraph(b.model([y])))[0]!;
  assert.ok(
    group.frozenReasons.some((r) => /\(op GroupNormalization\) normalises over groups of channels/.test(r)),
  );
});

test("a reason about an unknown shape names the op where shape inference stopped, not only the op that needs it", () => {
  const b = new NetBuilder();
  const c = b.conv(b.input, 6);
  // An op without a shape rule, then a Transpose, which needs its input's rank.
  const e = b.op("Einsum", [c], [6, 8, 8], { equation: "nchw->nchw" });
  const t = b.conv(b.op("Transpose", [e], [6, 8, 8], { perm: [0, 1, 3, 2] }), 4);
  const y = b.gemm(b.flatten(b.gap(b.conv(t, 5))), 3);
  const model = b.model([y]);
  model.graph!.valueInfo = [];
  const groups = findDependencyGroups(buildGraph(model));
  const reasons = groups.flatMap((g) => g.frozenReasons);
  // The group of the conv after the Transpose is frozen at its Flatten, whose input has no shape: the
  // reason names Einsum, where shape inference stopped.
  const lost = `of unknown shape \\(shape inference stops at node "Einsum_${e}" \\(op Einsum\\), which has no shape rule\\)$`;
  assert.ok(
    reasons.some((r) =>
      new RegExp(`^frozen: node "Flatten_\\w+" \\(op Flatten\\) has value "\\w+" ${lost}`).test(r),
    ),
    reasons.join("\n"),
  );
  assert.ok(!reasons.some((r) => /unknown shape(?! \()/.test(r)), "every unknown-shape reason says where");
});

// ---------------------------------------------------------------------------------------------
// Real torchvision exports (tests/fixtures/torchvision/make_torchvision.py), checked in onnxruntime.

const dir = new URL("../fixtures/torchvision/", import.meta.url);

async function fixture(file: string): Promise<{ model: Model; bytes: Uint8Array }> {
  const bytes = new Uint8Array(readFileSync(new URL(file, dir)));
  return { model: await loadModel(bytes), bytes };
}

/** The report's kept channels as group plans of the model's groups. */
function plansOf(model: Model, report: PruneReport): GroupPlan[] {
  const plans = new Map<number, GroupPlan>();
  for (const l of report.layers) {
    const g = model.groups.find((x) => x.producers.some((p) => p.node === l.node))!;
    plans.set(g.id, { groupId: g.id, keep: l.kept });
  }
  return [...plans.values()];
}

/** The pruned model computes what the original does with the removed channels zeroed at their producers. */
async function assertPrunedExactly(model: Model, bytes: Uint8Array, pruned: Uint8Array, report: PruneReport) {
  const input = inputShape(model.proto, 2);
  const zeroed = encodeModel(zeroRemoved(model.proto, plansOf(model, report)));
  assert.notDeepEqual(
    await runOrt(zeroed, input),
    await runOrt(bytes, input),
    "the pruning removes live channels",
  );
  assertOutputsClose(await runOrt(zeroed, input), await runOrt(pruned, input));
}

interface FixtureCase {
  file: string;
  /** Pattern names `info` must list. */
  patterns: string[];
  /** The node UNSAFE_MERGE names (the first inner group's first unsafe op). */
  unsafeNode: RegExp;
  /** What the message says it is. */
  unsafeWhat: string;
  /** l1 keeps the pruned model exactly equal to the zeroed original (false across LayerNorm). */
  l1Exact: boolean;
}

const FIXTURES: FixtureCase[] = [
  {
    // EfficientNet-B0 layout: SiLU as x*Sigmoid(x) everywhere, squeeze-excitation in every MBConv.
    file: "efficientnet_tiny_bn.onnx",
    patterns: ["SiLU", "squeeze-excitation"],
    // The stem's group is a residual stream (the first MBConv adds into it); the first inner group is
    // the first SE's squeeze conv, with a SiLU.
    unsafeNode: /^\/features\/features\.1\/features\.1\.0\/block\/block\.1\/activation\/Mul$/,
    unsafeWhat: "SiLU x·Sigmoid(x)",
    l1Exact: true,
  },
  {
    // MobileNet-V3 at opset 13: HardSwish as x*HardSigmoid(x), SE gates with HardSigmoid.
    file: "mobilenet_v3_small_050_bn.onnx",
    patterns: ["HardSwish", "squeeze-excitation"],
    unsafeNode: /^\/features\/features\.0\/features\.0\.2\/Mul$/,
    unsafeWhat: "HardSwish x·HardSigmoid(x)",
    l1Exact: true,
  },
  {
    // ConvNeXt at opset 17: LayerNormalization over NHWC channels, GELU x*½(1+erf(x/√2)) in the MLPs.
    file: "convnext_tiny_2stage_opset17.onnx",
    patterns: ["GELU"],
    unsafeNode: /^\/features\/features\.1\/features\.1\.0\/block\/block\.4\/Mul$/,
    unsafeWhat: "GELU x·½(1+erf(x/√2))",
    l1Exact: false,
  },
  {
    // The same ConvNeXt at opset 13: LayerNorm is decomposed (its ReduceMean over the channels freezes
    // the residual streams), the MLP groups with GELU are inner.
    file: "convnext_tiny_2stage.onnx",
    patterns: ["GELU"],
    unsafeNode: /^\/features\/features\.1\/features\.1\.0\/block\/block\.4\/Mul$/,
    unsafeWhat: "GELU x·½(1+erf(x/√2))",
    l1Exact: true,
  },
];

for (const c of FIXTURES) {
  test(`${c.file}: activations and SE are not residual; merge names them, skips or prunes them; onnxruntime agrees`, async () => {
    const { model, bytes } = await fixture(c.file);
    const listed = new Set(model.groups.flatMap((g) => groupPatterns(g).map((p) => p.name)));
    assert.deepEqual([...listed].sort(), [...c.patterns].sort());
    for (const g of model.groups) {
      // Residual only where two layers really add into the channels.
      if (g.isResidual)
        assert.ok(g.producers.filter((p) => p.squeezeExcitation === undefined).length > 1, `group ${g.id}`);
      for (const p of g.producers.filter((x) => x.squeezeExcitation !== undefined)) {
        assert.match(p.node, /fc2\/Conv$/, "only squeeze-excitation excite convs gate");
        assert.ok(
          groupPatterns(g).some((x) => x.name === "squeeze-excitation" && x.node === p.squeezeExcitation),
        );
      }
    }
    if (c.patterns.includes("squeeze-excitation")) {
      const se = model.groups.filter((g) => g.producers.some((p) => p.squeezeExcitation !== undefined));
      assert.ok(se.length >= 5, "every SE block gates a group");
      // The squeeze conv (fc1) is an inner group of its own, read by the excite conv.
      for (const g of se) {
        const fc2 = g.producers.find((p) => p.squeezeExcitation !== undefined)!.node;
        const squeeze = model.groups.find((x) => x.consumers.some((k) => k.node === fc2))!;
        assert.match(squeeze.producers[0]!.node, /fc1\/Conv$/);
        assert.ok(isInner(squeeze));
      }
    }

    await assert.rejects(
      prune(model, { method: "merge", ratio: 0.3 }),
      (e) =>
        isPrunekitError(e) &&
        e.code === "UNSAFE_MERGE" &&
        c.unsafeNode.test(e.node ?? "") &&
        e.message.includes(c.unsafeWhat),
    );

    const skipped = await prune(model, {
      method: "merge",
      ratio: 0.3,
      skipUnsafe: true,
      allowUnchanged: true,
    });
    const unsafe = skipped.report.unpruned.filter((u) => u.kind === "unsafe");
    assert.ok(unsafe.length > 0, "skipped groups are listed as not merge-safe");
    for (const u of unsafe) assert.match(u.reason, /^not merge-safe: node "[^"]+" \(op /);

    const plain = await prune(model, { method: "merge", ratio: 0.3, pruneUnsafe: true });
    assert.ok(
      plain.report.layers.length > skipped.report.layers.length,
      "pruneUnsafe prunes the skipped groups",
    );
    // Without the merge-safe groups (merged, so their consumers change), pruneUnsafe only drops channels.
    const mergeSafe = model.groups
      .filter((g) => isInner(g) && pathIsMergeSafe(g))
      .map((g) => g.producers[0]!.node);
    const unsafeOnly = await prune(model, {
      method: "merge",
      ratio: 0.3,
      pruneUnsafe: true,
      exclude: mergeSafe,
    });
    assert.equal(unsafeOnly.report.layers.length, plain.report.layers.length - mergeSafe.length);
    await assertPrunedExactly(model, bytes, unsafeOnly.bytes, unsafeOnly.report);

    const l1 = await prune(model, { method: "l1", ratio: 0.3 });
    assert.ok(l1.report.layers.length >= plain.report.layers.length);
    if (c.l1Exact) await assertPrunedExactly(model, bytes, l1.bytes, l1.report);
    else {
      const input = inputShape(model.proto, 2);
      const y = Object.values(await runOrt(l1.bytes, input))[0]!;
      assert.equal(y.length, 2 * 10);
      assert.ok(y.every(Number.isFinite));
    }
  });
}

test("ConvNeXt at opset 17: the LayerNorm residual streams are prunable by l1, each LayerNorm's scale and bias sliced", async () => {
  const { model } = await fixture("convnext_tiny_2stage_opset17.onnx");
  const streams = model.groups.filter((g) => g.isResidual);
  assert.equal(streams.length, 2);
  for (const g of streams) {
    assert.equal(g.frozen, false, g.frozenReasons.join("; "));
    assert.ok(g.members.some((m) => m.opType === "LayerNormalization"));
  }
  const l1 = await prune(model, { method: "l1", ratio: 0.5 });
  const after = buildGraph(l1.model.proto);
  for (const g of streams) {
    const kept = l1.report.layers.find((l) => l.node === g.producers[0]!.node)!.kept.length;
    assert.ok(kept < g.channels);
    for (const m of g.members.filter((x) => x.opType === "LayerNormalization")) {
      for (const p of m.params)
        assert.deepEqual(after.constants.get(p.tensor)?.dims, [kept], `${m.node} ${p.role}`);
    }
  }
});
