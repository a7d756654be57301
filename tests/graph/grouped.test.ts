// Grouped convolutions (ResNeXt, RegNet): block-constrained groups, per-block surgery, and the methods'
// block-balanced kept sets.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { describeModel, loadModel, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import type { DependencyGroup } from "../../src/graph/group.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { blockKeptCount, topIndicesInBlocks } from "../../src/methods/criteria.ts";
import { planMerge } from "../../src/methods/merge.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import { validateModel } from "../../src/onnx/validate.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import type { GroupPlan } from "../../src/surgery/plan.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { inputShape, runOrt } from "../onnx/fixtures.ts";
import { assertOutputsClose, zeroRemoved } from "../surgery/harness.ts";
import { NetBuilder } from "./net-builder.ts";

/** Replace the builder's patterned weights by seeded random ones (BN variances positive). */
function randomised(model: ModelProto, seed: number): ModelProto {
  const g = model.graph!;
  const initializer = g.initializer.map((t, i) => {
    if (t.dataType !== 1) return t;
    const values = seededFloats(
      seed * 1000 + i,
      t.dims.reduce((p, q) => p * q, 1),
    );
    const isVar = /^var/.test(t.name ?? "");
    return makeFloat32Tensor(t.name ?? "", t.dims, isVar ? values.map((v) => Math.abs(v) + 0.5) : values);
  });
  return { ...model, graph: { ...g, initializer } };
}

/** stem -> ResNeXt bottleneck (1x1 -> BN -> ReLU -> grouped 3x3 -> BN -> ReLU -> 1x1 -> BN, + identity). */
function resnext(width = 16, group = 4): ModelProto {
  const nb = new NetBuilder("x", [3, 6, 6]);
  const stem = nb.relu(nb.bn(nb.conv("x", 8)));
  let y = nb.relu(nb.bn(nb.conv(stem, width, { k: 1 })));
  y = nb.relu(nb.bn(nb.conv(y, width, { group })));
  y = nb.bn(nb.conv(y, 8, { k: 1 }));
  const x = nb.relu(nb.add(y, stem));
  return randomised(nb.model([nb.gemm(nb.flatten(nb.gap(x)), 3)], false), 11);
}

/** A RegNet-like stack: two stages of group width 4 (16 then 32 channels), strided, projection shortcuts. */
function regnet(): ModelProto {
  const nb = new NetBuilder("x", [3, 8, 8]);
  let x = nb.relu(nb.bn(nb.conv("x", 8)));
  for (const w of [16, 32]) {
    let y = nb.relu(nb.bn(nb.conv(x, w, { k: 1 })));
    y = nb.relu(nb.bn(nb.conv(y, w, { group: w / 4, stride: 2 })));
    y = nb.bn(nb.conv(y, w, { k: 1 }));
    const shortcut = nb.bn(nb.conv(x, w, { k: 1, stride: 2 }));
    x = nb.relu(nb.add(y, shortcut));
  }
  return randomised(nb.model([nb.gemm(nb.flatten(nb.gap(x)), 3)], false), 12);
}

const groupsOf = (model: ModelProto) => findDependencyGroups(buildGraph(model));
const blocksOf = (groups: DependencyGroup[]) => groups.map((g) => [g.channels, g.blocks, g.frozen]);

/** Count of `keep` per block of a group. */
function perBlock(group: DependencyGroup, keep: number[]): number[] {
  const counts = new Array<number>(group.blocks).fill(0);
  for (const k of keep) counts[Math.floor(k / (group.channels / group.blocks))]!++;
  return counts;
}

test("grouped convs: ResNeXt and RegNet-like groups carry the right block constraint", async () => {
  assert.deepEqual(blocksOf(groupsOf(resnext())), [
    [8, 1, false], // stem + residual
    [16, 4, false], // 1x1 conv read by the grouped conv
    [16, 4, false], // grouped conv output
    [3, 1, true], // classifier
  ]);
  assert.deepEqual(blocksOf(groupsOf(regnet())), [
    [8, 1, false],
    [16, 4, false],
    [16, 4, false],
    [16, 1, false], // stage 1 output: its 1x1 conv and shortcut
    [32, 8, false],
    [32, 8, false],
    [32, 1, false],
    [3, 1, true],
  ]);
  // Two grouped convs reading one space: blocks = lcm(2, 3).
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.conv("x", 12));
  const y = nb.add(nb.conv(a, 6, { group: 2 }), nb.conv(a, 6, { group: 3 }));
  const lcm = findDependencyGroups(buildGraph(nb.model([nb.gemm(nb.flatten(nb.gap(y)), 2)])));
  assert.equal(lcm[0]!.blocks, 6);
  assert.ok(!lcm[0]!.frozen);
  // `prunekit info --json` lists the blocks.
  const info = describeModel(await loadModel(encodeModel(resnext())));
  assert.deepEqual(
    info.groups.map((g) => g.blocks),
    [1, 4, 4, 1],
  );
});

test("grouped convs: ratio 0 gives bit-identical onnxruntime outputs", async () => {
  for (const original of [resnext(), regnet()]) {
    const bytes = encodeModel(original);
    const input = inputShape(original, 2);
    const ref = await runOrt(bytes, input, 3);
    for (const method of ["l1", "merge"] as const) {
      const { bytes: out } = await prune(await loadModel(bytes), { method, ratio: 0, allowUnchanged: true });
      assert.deepEqual(await runOrt(out, input, 3), ref, method);
    }
  }
});

test("grouped convs: l1 and merge at 0.3 and 0.5 give smaller block-balanced models onnxruntime runs", async () => {
  for (const original of [resnext(), regnet()]) {
    const bytes = encodeModel(original);
    const model = await loadModel(bytes);
    const input = inputShape(original, 2);
    const ref = await runOrt(bytes, input, 3);
    const signature = (m: ModelProto) =>
      JSON.stringify([
        m.graph!.input.map((v) => [v.name, v.type]),
        m.graph!.output.map((v) => [v.name, v.type]),
      ]);
    for (const options of [
      { method: "l1" as const },
      { method: "merge" as const },
      { method: "merge" as const, merge: false },
    ]) {
      for (const ratio of [0.3, 0.5]) {
        const { bytes: out, report } = await prune(model, { ...options, ratio });
        const pruned = decodeModel(out);
        validateModel(pruned);
        assert.equal(signature(pruned), signature(original));
        const y = await runOrt(out, input, 3);
        for (const [name, v] of Object.entries(ref)) assert.equal(y[name]!.length, v.length);
        assert.ok(report.after.params < report.before.params, `${options.method} ${ratio} params`);
        assert.ok(report.after.macs < report.before.macs, `${options.method} ${ratio} MACs`);
        let constrained = 0;
        for (const layer of report.layers) {
          const group = model.groups.find((g) => g.producers.some((p) => p.node === layer.node))!;
          const counts = perBlock(group, layer.kept);
          assert.ok(
            counts.every((c) => c === counts[0] && c >= 1),
            `${layer.node}: [${counts}]`,
          );
          if (group.blocks > 1 && layer.channelsAfter < layer.channelsBefore) constrained++;
        }
        assert.ok(constrained >= 2, `${options.method} ${ratio} prunes the grouped conv's groups`);
      }
    }
  }
});

/** A random kept set taking the same random count from each block of the group. */
function balancedPlan(group: DependencyGroup, rand: () => number): GroupPlan {
  const len = group.channels / group.blocks;
  const k = 1 + Math.floor(rand() * len);
  const keep: number[] = [];
  for (let b = 0; b < group.blocks; b++) {
    const order = Array.from({ length: len }, (_, i) => i).sort(() => rand() - 0.5);
    for (const i of order.slice(0, k)) keep.push(b * len + i);
  }
  return { groupId: group.id, keep: keep.sort((x, y) => x - y) };
}

test("grouped convs: pruning is exact (equals the original with the removed producers' rows zeroed), as consumer and producer", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        g1: fc.constantFrom(2, 3, 4),
        g2: fc.constantFrom(2, 3, 4),
        m: fc.constantFrom(2, 3),
        seed: fc.integer({ min: 1, max: 1_000_000 }),
      }),
      async ({ g1, g2, m, seed }) => {
        // Bias-free, BN-free: stem -> 1x1 -> grouped(g1) -> grouped(g2) -> 1x1, + identity, ReLUs.
        const w = ((g1 * g2) / (g1 % g2 === 0 ? g2 : g2 % g1 === 0 ? g1 : 1)) * m;
        const nb = new NetBuilder("x", [2, 5, 5]);
        const stem = nb.relu(nb.conv("x", 6));
        let y = nb.relu(nb.conv(stem, w, { k: 1 }));
        y = nb.relu(nb.conv(y, w, { group: g1 }));
        y = nb.relu(nb.conv(y, w, { group: g2 }));
        const x = nb.relu(nb.add(nb.conv(y, 6, { k: 1 }), stem));
        const original = randomised(nb.model([nb.gemm(nb.flatten(nb.gap(x)), 3)], false), seed);
        const groups = groupsOf(original);
        const rand = (() => {
          const r = seededFloats(seed + 1, 512);
          let i = 0;
          return () => (r[i++ % r.length]! + 1) / 2.0001;
        })();
        const plans = groups.filter((g) => !g.frozen).map((g) => balancedPlan(g, rand));
        assert.ok(groups.some((g) => g.blocks > 1 && !g.frozen));
        const zeroed = zeroRemoved(original, plans);
        const graph = buildGraph(zeroed);
        const { model } = applyPlan(graph, findDependencyGroups(graph), { method: "test", groups: plans });
        const bytes = encodeModel(model);
        validateModel(decodeModel(bytes));
        const input = inputShape(zeroed, 2);
        assertOutputsClose(await runOrt(encodeModel(zeroed), input, seed), await runOrt(bytes, input, seed));
      },
    ),
    { numRuns: Math.min(30, Number(process.env.PROPERTY_RUNS ?? 30)) },
  );
});

/** Scale row `from` of a conv weight to `scale` times row `into` (an exact positively scaled duplicate). */
function duplicateRow(
  model: ModelProto,
  weight: string,
  from: number,
  into: number,
  scale: number,
): ModelProto {
  const g = model.graph!;
  const initializer = g.initializer.map((t) => {
    if (t.name !== weight) return t;
    const data = readFloat32(t);
    const row = data.length / t.dims[0]!;
    for (let i = 0; i < row; i++) data[from * row + i] = scale * data[into * row + i]!;
    return makeFloat32Tensor(weight, t.dims, data);
  });
  return { ...model, graph: { ...g, initializer } };
}

test("grouped convs: merging an exact scaled duplicate in the same block is exact through a grouped consumer and producer", async () => {
  const nb = new NetBuilder("x", [2, 5, 5]);
  const a = nb.relu(nb.conv("x", 8, { k: 1 }));
  const b = nb.relu(nb.conv(a, 8, { group: 2 }));
  const out = nb.gemm(nb.flatten(nb.gap(nb.conv(b, 4, { k: 1 }))), 3);
  let model = randomised(nb.model([out], false), 5);
  let groups = groupsOf(model);
  // Group 0 (read by the grouped conv, blocks of 4): channel 6 = 2 x channel 5, 3 = 1.5 x 0. Group 1
  // (made by the grouped conv): channel 2 = 0.5 x channel 1, 7 = 3 x 4; each pair in one block.
  model = duplicateRow(model, groups[0]!.producers[0]!.weight, 6, 5, 2);
  model = duplicateRow(model, groups[0]!.producers[0]!.weight, 3, 0, 1.5);
  model = duplicateRow(model, groups[1]!.producers[0]!.weight, 2, 1, 0.5);
  model = duplicateRow(model, groups[1]!.producers[0]!.weight, 7, 4, 3);
  const graph = buildGraph(model);
  groups = findDependencyGroups(graph);
  assert.deepEqual([groups[0]!.blocks, groups[1]!.blocks], [2, 2]);
  const plan = {
    method: "merge",
    groups: [
      {
        groupId: 0,
        keep: [0, 1, 2, 4, 5, 7],
        merges: [
          { from: 3, into: 0, scale: 1.5 },
          { from: 6, into: 5, scale: 2 },
        ],
      },
      {
        groupId: 1,
        keep: [0, 1, 3, 4, 5, 6],
        merges: [
          { from: 2, into: 1, scale: 0.5 },
          { from: 7, into: 4, scale: 3 },
        ],
      },
    ],
  };
  const merged = applyPlan(graph, groups, plan).model;
  const input = inputShape(model, 2);
  assertOutputsClose(await runOrt(encodeModel(model), input, 9), await runOrt(encodeModel(merged), input, 9));
  // The same merge across blocks would be wrong, and is refused.
  assert.throws(
    () =>
      applyPlan(graph, groups, {
        method: "merge",
        groups: [{ groupId: 0, keep: [0, 1, 2, 4, 5, 7], merges: [{ from: 6, into: 2, scale: 2 }] }],
      }),
    (e: unknown) => isPrunekitError(e) && e.code === "PLAN_INVALID" && /crosses a block of 4/.test(e.message),
  );
  // Neuron Merging searches partners in the removed filter's own block only.
  const planned = await planMerge(graph, groups, { ratio: 0.25, threshold: -1 }, { wasm: await getWasm() });
  const grouped = planned.groups.filter((gp) => groups[gp.groupId]!.blocks > 1);
  assert.equal(grouped.length, 2);
  for (const gp of grouped) {
    assert.equal(gp.merges?.length, 2, "every removed channel finds a partner at threshold -1");
    for (const m of gp.merges!) assert.equal(Math.floor(m.from / 4), Math.floor(m.into / 4));
    assert.deepEqual(perBlock(groups[gp.groupId]!, gp.keep), [3, 3]);
  }
  applyPlan(graph, groups, planned);
});

test("grouped convs: unbalanced plans fail with PLAN_INVALID and bad --layers counts with INVALID_ARGUMENT", async () => {
  const original = resnext();
  const graph = buildGraph(original);
  const groups = findDependencyGroups(graph);
  assert.throws(
    () => applyPlan(graph, groups, { method: "t", groups: [{ groupId: 1, keep: [0, 1, 4, 8, 12] }] }),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "PLAN_INVALID" &&
      e.message.includes("group 1") &&
      e.message.includes("[2, 1, 1, 1]"),
  );
  const model = await loadModel(encodeModel(original));
  const layer = groups[1]!.producers[0]!.node;
  await assert.rejects(
    prune(model, { method: "merge", layers: { [layer]: 6 } }),
    (e: unknown) =>
      isPrunekitError(e) &&
      e.code === "INVALID_ARGUMENT" &&
      e.message.includes(`"${layer}"`) &&
      e.message.includes("multiple of 4"),
  );
  const ok = await prune(model, { method: "merge", layers: { [layer]: 8 } });
  assert.equal(ok.report.layers.find((l) => l.node === layer)!.channelsAfter, 8);
});

test("grouped convs: kept counts round down to a multiple of the blocks; selection picks the best in each block", () => {
  assert.equal(blockKeptCount(11, 4), 8);
  assert.equal(blockKeptCount(3, 4), 4);
  assert.equal(blockKeptCount(5, 1), 5);
  assert.deepEqual(topIndicesInBlocks([3, 1, 2, 3], 2, 2), [0, 3]);
  assert.deepEqual(topIndicesInBlocks([5, 5, 1, 1, 0, 9], 3, 3), [0, 2, 5]);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.double({ noNaN: true }), { minLength: 20, maxLength: 20 }),
      fc.integer({ min: 1, max: 5 }),
      (blocks, len, values, per) => {
        const scores = values.slice(0, blocks * len);
        const k = Math.min(per, len);
        const keep = topIndicesInBlocks(scores, k * blocks, blocks);
        for (let b = 0; b < blocks; b++) {
          const mine = keep.filter((i) => Math.floor(i / len) === b);
          assert.equal(mine.length, k);
          const worstKept = Math.min(...mine.map((i) => scores[i]!));
          for (let i = b * len; i < (b + 1) * len; i++)
            if (!mine.includes(i)) assert.ok(scores[i]! <= worstKept);
        }
      },
    ),
  );
  assert.throws(
    () => topIndicesInBlocks([1, 2, 3, 4], 3, 2),
    (e: unknown) => isPrunekitError(e),
  );
});
