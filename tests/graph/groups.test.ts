// Dependency groups on hand-built topologies: refusals, freezes and the less common ops.
import assert from "node:assert/strict";
import { test } from "node:test";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { type DependencyGroup, groupPatterns, isInner, pathIsMergeSafe } from "../../src/graph/group.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import { inputShape, runOrt } from "../onnx/fixtures.ts";
import { NetBuilder } from "./net-builder.ts";

function groupsOf(b: NetBuilder, outputs: string[]): DependencyGroup[] {
  return findDependencyGroups(buildGraph(b.model(outputs)));
}

/** conv -> relu -> X -> conv -> gap -> flatten -> gemm, with X made by `middle`. */
function sandwich(middle: (b: NetBuilder, x: string) => string): {
  groups: DependencyGroup[];
  first: DependencyGroup;
} {
  const b = new NetBuilder();
  const a = b.relu(b.conv(b.input, 6));
  const m = middle(b, a);
  const y = b.gemm(b.flatten(b.gap(b.conv(m, 5))), 3);
  const groups = groupsOf(b, [y]);
  return { groups, first: groups[0]! };
}

test("an op not in the table between conv and consumer freezes the group, naming node and op", () => {
  const { first } = sandwich((b, x) => b.op("Einsum", [x], b.dims.get(x)!, { equation: "nchw->nchw" }));
  assert.ok(first.frozen);
  assert.equal(first.channels, 6);
  assert.ok(
    first.frozenReasons.some((r) =>
      /^frozen: node "Einsum_\w+" \(op Einsum\) is not in the op table$/.test(r),
    ),
  );
  assert.equal(first.consumers.length, 0, "the conv after Einsum is not a consumer of the frozen group");
});

test("bug: an op type named like an Object property (toString, valueOf, constructor) is an unknown op, not a crash", () => {
  for (const opType of ["toString", "valueOf", "constructor", "hasOwnProperty", "__proto__"]) {
    const { first } = sandwich((b, x) => b.op(opType, [x], b.dims.get(x)!));
    assert.ok(first.frozen, opType);
    assert.ok(
      first.frozenReasons.some((r) => r.includes(`(op ${opType}) is not in the op table`)),
      `${opType}: ${first.frozenReasons.join("; ")}`,
    );
  }
});

test("a custom-domain op is never taken for its default-domain namesake", () => {
  const { first } = sandwich((b, x) => b.op("Relu", [x], b.dims.get(x)!, undefined, "com.example"));
  assert.ok(first.frozen);
  assert.ok(first.frozenReasons.some((r) => r.includes("(op com.example::Relu) is not in the op table")));
});

test("the group behind an unknown op is tied to its output: a residual join through it freezes both", () => {
  const b = new NetBuilder();
  const a = b.relu(b.conv(b.input, 4));
  const u = b.op("MyOp", [a], b.dims.get(a)!, undefined, "custom");
  const c = b.conv(a, 4);
  const s = b.add(u, c);
  const y = b.gemm(b.flatten(b.gap(s)), 2);
  const groups = groupsOf(b, [y]);
  const joined = groups.find((g) => g.producers.some((p) => p.node.startsWith("Conv_")) && g.isResidual)!;
  assert.ok(joined.frozen);
  assert.ok(joined.frozenReasons.some((r) => r.includes("(op custom::MyOp)")));
  assert.ok(groups[0]!.frozen, "the first conv feeds MyOp");
});

test("a group reaching the graph output is frozen, even through element-wise ops", () => {
  const b = new NetBuilder();
  const y = b.relu(b.maxpool(b.conv(b.input, 4)));
  const [g] = groupsOf(b, [y]);
  assert.ok(g!.frozen && g!.reachesGraphOutput && !isInner(g!));
  assert.deepEqual(g!.frozenReasons, [`frozen: channels reach graph output "${y}"`]);
});

test("a conv output that is also a second graph output is frozen", () => {
  const b = new NetBuilder();
  const a = b.relu(b.conv(b.input, 4));
  const y = b.conv(a, 2);
  const groups = groupsOf(b, [y, a]);
  assert.ok(groups[0]!.reachesGraphOutput && groups[0]!.frozen);
});

test("a grouped conv gives both its sides a block constraint; a depthwise multiplier > 1 freezes its input (blocks of one channel)", () => {
  // 8 -> 8 channels in 2 groups: both sides form 2 blocks of 4 and stay prunable.
  const grouped = sandwich((b, x) => b.relu(b.conv(b.relu(b.conv(x, 8)), 8, { group: 2 }))).groups;
  assert.deepEqual(
    grouped.map((g) => [g.channels, g.blocks, g.frozen]),
    [
      [6, 1, false],
      [8, 2, false],
      [8, 2, false],
      [5, 1, false],
      [3, 1, true],
    ],
  );
  assert.equal(grouped[1]!.consumers[0]!.group, 2);
  assert.equal(grouped[2]!.producers[0]!.group, 2);
  // 8 -> 16 channels in 8 groups (a depthwise conv with multiplier 2): one input channel per block.
  const { groups, first } = sandwich((b, x) => b.relu(b.conv(b.relu(b.conv(x, 8)), 16, { group: 8 })));
  assert.ok(groups[1]!.frozen);
  assert.ok(
    groups[1]!.frozenReasons.some((r) => r.includes("(group=8)") && r.includes("blocks of one channel")),
  );
  assert.ok(!groups[2]!.frozen && groups[2]!.blocks === 8 && groups[2]!.channels === 16);
  assert.ok(!first.frozen);
});

test("ConvTranspose is refused with a message", () => {
  const b = new NetBuilder();
  const a = b.relu(b.conv(b.input, 4));
  const t = b.op("ConvTranspose", [a, b.weight("wt", [4, 3, 2, 2])], [3, 16, 16], { strides: [2, 2] });
  const y = b.gemm(b.flatten(b.gap(b.conv(t, 2))), 2);
  const groups = groupsOf(b, [y]);
  assert.ok(groups[0]!.frozen);
  assert.ok(
    groups[0]!.frozenReasons.some((r) => r.includes("(op ConvTranspose) is not supported for pruning")),
  );
});

test("depthwise blocks tie the expand conv's channels; BN after the depthwise is a path op and member", () => {
  const b = new NetBuilder();
  const e = b.relu(b.bn(b.conv(b.input, 6, { k: 1 })));
  const d = b.relu(b.bn(b.conv(e, 6, { group: 6, bias: true })));
  const y = b.gemm(b.flatten(b.gap(b.conv(d, 4, { k: 1 }))), 2);
  const [g] = groupsOf(b, [y]);
  assert.equal(g!.channels, 6);
  assert.deepEqual(
    g!.members.map((m) => [m.opType, m.kind, m.follows !== undefined]),
    [
      ["BatchNormalization", "channelwise-param", true],
      ["Conv", "depthwise", false],
      ["BatchNormalization", "channelwise-param", false],
    ],
  );
  assert.deepEqual(
    g!.members[1]!.params.map((p) => p.role),
    ["depthwise-weight", "depthwise-bias"],
  );
  assert.ok(isInner(g!));
  assert.ok(!pathIsMergeSafe(g!), "depthwise and the second BN are not the same function on every channel");
});

test("homogeneity decides merge safety: ReLU/LeakyReLU/pools/Dropout/zero Pad yes; Clip, Sigmoid, HardSwish, Softmax no", () => {
  const safe = sandwich((b, x) => {
    const p = b.op("Pad", [x, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], [6, 10, 10], { mode: "constant" });
    return b.unary(
      "Dropout",
      b.unary("AveragePool", b.unary("LeakyRelu", p, { alpha: { f: 0.1 } }), { kernel_shape: [3, 3] }),
    );
  });
  // AveragePool with a 3x3 kernel shrinks 10x10 to 8x8 in reality; NetBuilder.unary keeps dims, and
  // shape inference recomputes them, so only channel structure matters here.
  assert.ok(pathIsMergeSafe(safe.first), JSON.stringify(safe.first.pathOps));
  for (const op of ["Clip", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh"]) {
    const { first } = sandwich((b, x) => b.unary(op, x));
    assert.ok(!pathIsMergeSafe(first), op);
    assert.ok(isInner(first) && !first.frozen, op);
  }
  const softmax = sandwich((b, x) => b.unary("Softmax", x, { axis: 3 }));
  assert.ok(!pathIsMergeSafe(softmax.first) && !softmax.first.frozen);
  const overChannels = sandwich((b, x) => b.unary("Softmax", x, { axis: 1 }));
  assert.ok(overChannels.first.frozen);
  assert.ok(overChannels.first.frozenReasons.some((r) => r.includes("mixes channels")));
});

test("per-channel Mul/Add constants are members with the channel axis; scalar Mul stays merge-safe", () => {
  const perChannel = sandwich((b, x) =>
    b.op(
      "Add",
      [b.op("Mul", [x, b.weight("s", [6, 1, 1])], b.dims.get(x)!), b.weight("t", [1, 6, 1, 1])],
      b.dims.get(x)!,
    ),
  );
  const roles = perChannel.first.members.map((m) => [m.opType, m.params[0]!.role, m.params[0]!.axis]);
  assert.deepEqual(roles, [
    ["Mul", "multiplier", 0],
    ["Add", "addend", 1],
  ]);
  assert.ok(!pathIsMergeSafe(perChannel.first));
  const scalar = sandwich((b, x) => b.op("Mul", [x, b.weight("k", [1])], b.dims.get(x)!));
  assert.equal(scalar.first.members.length, 0);
  assert.ok(pathIsMergeSafe(scalar.first));
});

test("squeeze-excitation: the SE expand conv is tied to the gated channels", () => {
  const b = new NetBuilder();
  const x = b.relu(b.conv(b.input, 8));
  const s = b.unary(
    "Sigmoid",
    b.conv(b.relu(b.conv(b.gap(x), 2, { k: 1, bias: true })), 8, { k: 1, bias: true }),
  );
  const gated = b.op("Mul", [x, s], b.dims.get(x)!);
  const y = b.gemm(b.flatten(b.gap(b.conv(gated, 4))), 2);
  const groups = groupsOf(b, [y]);
  const main = groups[0]!;
  assert.equal(main.producers.length, 2, "trunk conv and SE expand conv");
  assert.equal(main.producers[0]!.squeezeExcitation, undefined, "the trunk conv is the group's layer");
  assert.equal(main.producers[1]!.squeezeExcitation, `Mul_${gated}`, "the expand conv gates through the Mul");
  // A gate, not a residual join: an inner layer, but not merge-safe through x·s(x) (§2.6).
  assert.ok(!main.isResidual && isInner(main) && !pathIsMergeSafe(main));
  assert.deepEqual(
    groupPatterns(main).map((p) => p.name),
    ["squeeze-excitation"],
  );
  const squeeze = groups[1]!;
  assert.equal(squeeze.channels, 2);
  assert.ok(isInner(squeeze));
});

test("nested concats compose offsets; a flatten after a concat multiplies them by H*W", () => {
  const b = new NetBuilder("x", [3, 4, 4]);
  const a = b.relu(b.conv(b.input, 2));
  const c = b.relu(b.conv(b.input, 3));
  const d = b.relu(b.conv(b.input, 4));
  const inner = b.concat([a, c]);
  const outer = b.concat([d, inner]);
  const y = b.gemm(b.flatten(outer), 5);
  const groups = groupsOf(b, [y]);
  const read = (g: DependencyGroup) => g.consumers.map((k) => [k.channelOffset, k.blockSize, k.via.length]);
  assert.deepEqual(read(groups[0]!), [[(4 + 0) * 16, 16, 3]]);
  assert.deepEqual(read(groups[1]!), [[(4 + 2) * 16, 16, 3]]);
  assert.deepEqual(read(groups[2]!), [[0, 16, 2]]);
  for (const g of groups.slice(0, 3)) assert.ok(isInner(g) && pathIsMergeSafe(g) && !g.frozen);
});

test("a BN after a concat is a member of every branch group at its offset", () => {
  const b = new NetBuilder();
  const a = b.conv(b.input, 2);
  const c = b.conv(b.input, 3);
  const n = b.relu(b.bn(b.concat([a, c])));
  const y = b.gemm(b.flatten(b.gap(b.conv(n, 4))), 2);
  const groups = groupsOf(b, [y]);
  assert.deepEqual(
    groups.slice(0, 2).map((g) => [g.members[0]!.opType, g.members[0]!.channelOffset, g.members[0]!.follows]),
    [
      ["BatchNormalization", 0, undefined],
      ["BatchNormalization", 2, undefined],
    ],
  );
});

test("an element-wise join of a concatenation with other channels is frozen, not split", () => {
  const b = new NetBuilder();
  const a = b.relu(b.conv(b.input, 2));
  const c = b.relu(b.conv(b.input, 3));
  const d = b.conv(b.input, 5);
  const s = b.add(b.concat([a, c]), d);
  const y = b.gemm(b.flatten(b.gap(b.conv(s, 4))), 2);
  const groups = groupsOf(b, [y]);
  for (const g of groups.slice(0, 3)) {
    assert.ok(g.frozen, `group ${g.id}`);
    assert.ok(g.frozenReasons.some((r) => r.includes("prunekit cannot split")));
  }
});

test("a residual join with the graph input freezes the group", () => {
  const b = new NetBuilder("x", [4, 6, 6]);
  const s = b.add(b.input, b.conv(b.relu(b.conv(b.input, 3)), 4));
  const y = b.gemm(b.flatten(b.gap(b.conv(s, 2))), 2);
  const groups = groupsOf(b, [y]);
  const res = groups.find((g) => g.isResidual)!;
  assert.ok(res.frozenReasons.includes('frozen: channels are tied to graph input "x"'));
  assert.ok(!groups[0]!.frozen);
});

test("a literal Reshape shape holding C*H*W is recorded for rewriting; [0, -1] is not", () => {
  for (const explicit of [true, false]) {
    const b = new NetBuilder("x", [3, 4, 4]);
    const a = b.relu(b.conv(b.input, 5));
    const y = b.gemm(b.reshapeFlat(a, explicit), 2);
    const [g] = groupsOf(b, [y]);
    assert.equal(g!.consumers[0]!.blockSize, 16);
    assert.ok(!g!.frozen);
    if (explicit) {
      assert.deepEqual(
        g!.reshapes.map((r) => [r.index, r.blockSize]),
        [[1, 16]],
      );
    } else assert.deepEqual(g!.reshapes, []);
  }
});

test("MatMul with a constant [in, out] weight produces and consumes; the bias Add is a member", () => {
  const b = new NetBuilder("x", [12]);
  const h = b.op("MatMul", [b.input, b.weight("m1", [12, 7])], [7]);
  const hb = b.relu(b.op("Add", [h, b.weight("b1", [7])], [7]));
  const y = b.op("MatMul", [hb, b.weight("m2", [7, 3])], [3]);
  const groups = groupsOf(b, [y]);
  const g = groups[0]!;
  assert.equal(g.channels, 7);
  assert.deepEqual([g.producers[0]!.outputAxis, g.consumers[0]!.inputAxis], [1, 0]);
  assert.deepEqual(
    g.members.map((m) => [m.opType, m.params[0]!.role, m.params[0]!.axis, m.follows !== undefined]),
    [["Add", "addend", 0, true]],
  );
  assert.ok(isInner(g) && !pathIsMergeSafe(g), "a bias Add is a shift");
});

test("two activations multiplied by MatMul freeze both", () => {
  const b = new NetBuilder("x", [3, 4, 4]);
  const a = b.flatten(b.gap(b.conv(b.input, 4)));
  const c = b.flatten(b.gap(b.conv(b.input, 4)));
  const t = b.op("Transpose", [c], [4], { perm: [1, 0] });
  const y = b.op("MatMul", [a, t], [4]);
  const groups = groupsOf(b, [y]);
  assert.ok(groups.every((g) => g.frozen));
});

test("bug: ops that drop or add trailing axes keep the channels on axis 1 (shufflenet's x.mean([2, 3]) feeding the fc)", async () => {
  const cases: [string, (b: NetBuilder, x: string) => string][] = [
    ["ReduceMean keepdims=0", (b, x) => b.op("ReduceMean", [x], [6], { axes: [2, 3], keepdims: 0 })],
    ["Squeeze", (b, x) => b.op("Squeeze", [b.gap(x), b.ints([2, 3])], [6])],
    [
      "Reshape to [N, C, H*W], then ReduceMax",
      (b, x) =>
        b.op("ReduceMax", [b.op("Reshape", [x, b.ints([0, 6, -1])], [6, 64])], [6], {
          axes: [2],
          keepdims: 0,
        }),
    ],
  ];
  for (const [name, head] of cases) {
    const b = new NetBuilder();
    const a = b.relu(b.conv(b.input, 6));
    const y = b.gemm(head(b, a), 3);
    const [g] = groupsOf(b, [y]);
    assert.deepEqual(g!.frozenReasons, [], name);
    assert.deepEqual(
      g!.consumers.map((c) => [c.opType, c.blockSize]),
      [["Gemm", 1]],
      name,
    );
    assert.ok(
      g!.tensors.every((t) => t.channelAxis === 1),
      `${name}: ${g!.tensors.map((t) => `${t.name}@${t.channelAxis}`)}`,
    );
    // The pruned model runs (the Reshape literal 6 shrinks with the channels).
    const model = b.model([y]);
    const graph = buildGraph(model);
    const pruned = applyPlan(graph, findDependencyGroups(graph), {
      method: "test",
      groups: [{ groupId: g!.id, keep: [0, 2, 5] }],
    });
    const out = await runOrt(encodeModel(pruned.model), inputShape(model, 2));
    assert.equal(Object.values(out)[0]!.length, 2 * 3, name);
  }
});

test("bug: a weight read directly by two layers freezes the groups that would edit it, naming the other reader", async () => {
  // Tied weights: editing "w" for one conv would change the other (no Identity copy to split off).
  const b = new NetBuilder("x", [3, 6, 6]);
  const w = b.weight("w", [4, 3, 3, 3]);
  const conv = (x: string) => b.op("Conv", [x, w], [4, 6, 6], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const a = b.relu(conv(b.input));
  const c = b.relu(conv(b.input));
  const y = b.add(b.gemm(b.flatten(b.gap(b.conv(a, 5))), 2), b.gemm(b.flatten(b.gap(b.conv(c, 5))), 2));
  const model = b.model([y]);
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const tied = groups.filter((g) => g.producers.some((p) => p.weight === w));
  assert.equal(tied.length, 2);
  for (const g of tied) {
    assert.ok(g.frozen, `group ${g.id} is frozen`);
    assert.ok(
      g.frozenReasons.some((r) => /^frozen: tensor "w\d+" is also read by node "Conv_conv\d+"/.test(r)),
      g.frozenReasons.join("; "),
    );
  }
  // Every other group still prunes, and the result runs.
  const plan = groups.filter((g) => !g.frozen).map((g) => ({ groupId: g.id, keep: [0, 1] }));
  assert.ok(plan.length >= 2);
  const pruned = applyPlan(graph, groups, { method: "test", groups: plan });
  const out = await runOrt(encodeModel(pruned.model), inputShape(model, 2));
  assert.equal(Object.values(out)[0]!.length, 2 * 2);
});

test("bug: a Flatten whose spatial size comes from symbolic height/width freezes its group instead of slicing the fc wrongly", async () => {
  // Exported with dynamic H and W: shape inference takes them as 1, so the flatten block size (H*W = 16
  // at run time) is not known. The fc's weight says 5*16 = 80 features; pruning must not guess.
  const b = new NetBuilder("x", [3, 8, 8]);
  const a = b.relu(b.conv(b.input, 4));
  const c = b.relu(b.conv(b.maxpool(a), 5));
  const y = b.gemm(b.flatten(c), 3);
  const built = b.model([y]);
  const dim = built.graph!.input[0]!.type!.tensorType!.shape!.dim;
  dim[2] = { dimParam: "height" };
  dim[3] = { dimParam: "width" };
  const graph = buildGraph(built);
  const groups = findDependencyGroups(graph);
  const last = groups.find((g) => g.channels === 5)!;
  assert.ok(last.frozen, "the group read through the flatten is frozen");
  assert.ok(
    last.frozenReasons.some((r) =>
      /^frozen: node "Gemm_\w+" \(op Gemm\) has a weight for 80 input features, but "flatten\d+" was inferred with \d+ \(symbolic dims are taken as 1\); export with a fixed input size/.test(
        r,
      ),
    ),
    last.frozenReasons.join("; "),
  );
  const first = groups.find((g) => g.channels === 4)!;
  assert.ok(!first.frozen, first.frozenReasons.join("; "));
  const pruned = applyPlan(graph, groups, { method: "test", groups: [{ groupId: first.id, keep: [1, 3] }] });
  const out = await runOrt(encodeModel(pruned.model), { name: "x", shape: [2, 3, 8, 8] });
  assert.equal(Object.values(out)[0]!.length, 2 * 3);
});
