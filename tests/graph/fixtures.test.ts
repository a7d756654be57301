// Shapes, counts and dependency groups of the real PyTorch exports in tests/fixtures/.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { countModel } from "../../src/graph/count.ts";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { type DependencyGroup, isInner, pathIsMergeSafe } from "../../src/graph/group.ts";
import { buildGraph, type Graph } from "../../src/graph/ir.ts";
import { inferShapes } from "../../src/graph/shapes.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { DataType, type ModelProto } from "../../src/onnx/proto-types.ts";

const fixtureDir = new URL("../fixtures/", import.meta.url);

interface ManifestLayer {
  type: string;
  weightShape: number[];
  bias: boolean;
  groups: number;
  outputShape: number[];
  macs: number;
}
interface ManifestEntry {
  model: string;
  variant: string;
  output: { name: string; shape: (string | number)[] };
  params: {
    torchTotal: number;
    torchConvLinear: number;
    onnxConvLinear: number;
    onnxFloatInitializers: number;
  };
  macs: number;
  layers: ManifestLayer[];
}
const manifest = JSON.parse(readFileSync(new URL("manifest.json", fixtureDir), "utf8")) as {
  models: Record<string, ManifestEntry>;
};
const fixtureFiles = Object.keys(manifest.models).sort();

function load(file: string): Graph {
  return buildGraph(decodeModel(new Uint8Array(readFileSync(new URL(file, fixtureDir)))));
}

test("the manifest lists the fixture families", () => {
  for (const f of ["mlp.onnx", "vgg_bn.onnx", "vggview_fused.onnx", "resnet_bn.onnx", "mobilenet_bn.onnx"]) {
    assert.ok(fixtureFiles.includes(f), f);
  }
  assert.ok(fixtureFiles.includes("concat_fused.onnx"));
});

describe("shapes of the fixtures", () => {
  for (const file of fixtureFiles) {
    const entry = manifest.models[file]!;
    test(`${file}: output shape and every conv/linear output shape match the manifest`, () => {
      const graph = load(file);
      const { shapes } = inferShapes(graph);
      const out = entry.output.shape.map((d) => (typeof d === "number" ? d : 1));
      assert.deepEqual(shapes.get(entry.output.name), out);
      const ours = countModel(graph)
        .layers.map((l) => JSON.stringify(l.outputShape))
        .sort();
      const theirs = entry.layers.map((l) => JSON.stringify(l.outputShape)).sort();
      assert.deepEqual(ours, theirs);
    });

    test(`${file}: every inferred shape equals onnxruntime's at batch 1`, async () => {
      const graph = load(file);
      const { shapes, values } = inferShapes(graph);
      // Expose every node output as a graph output and run the model once.
      const model = decodeModel(new Uint8Array(readFileSync(new URL(file, fixtureDir)))) as ModelProto;
      const g = model.graph!;
      const existing = new Set(g.output.map((o) => o.name));
      const names: string[] = [];
      for (const n of g.node) {
        for (const o of n.output) {
          if (o === "" || existing.has(o)) continue;
          names.push(o);
          const elemType = values.has(o) || n.opType === "Shape" ? DataType.INT64 : DataType.FLOAT;
          g.output.push({ name: o, type: { tensorType: { elemType } } });
        }
      }
      const session = await ort.InferenceSession.create(encodeModel(model));
      try {
        const input = graph.inputs[0]!;
        const dims = shapes.get(input.name!)!;
        const feeds = {
          [input.name!]: new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims),
        };
        const results = await session.run(feeds);
        let checked = 0;
        for (const name of [...names, entry.output.name]) {
          const r = results[name];
          if (r === undefined) continue;
          assert.deepEqual(shapes.get(name), [...r.dims], `shape of ${name}`);
          if (values.has(name))
            assert.deepEqual(values.get(name), Array.from(r.data as BigInt64Array, Number), name);
          checked++;
        }
        assert.ok(checked >= graph.nodes.length - 2);
      } finally {
        await session.release();
      }
    });
  }
});

describe("parameter and MAC counts equal the manifest", () => {
  for (const file of fixtureFiles) {
    const entry = manifest.models[file]!;
    test(file, () => {
      const counts = countModel(load(file));
      assert.equal(counts.macs, entry.macs, "MACs");
      assert.equal(counts.convLinearParams, entry.params.onnxConvLinear, "conv/linear params");
      assert.equal(counts.floatInitializerParams, entry.params.onnxFloatInitializers, "float initializers");
      // Kept-BN and plain exports carry exactly PyTorch's learnable parameters; fused ones lose BN.
      if (entry.variant !== "fused")
        assert.equal(counts.learnableParams, entry.params.torchTotal, "learnable");
      const ours = counts.layers.map((l) => `${l.opType === "Gemm" ? "Linear" : l.opType}:${l.macs}`).sort();
      const theirs = entry.layers.map((l) => `${l.type}:${l.macs}`).sort();
      assert.deepEqual(ours, theirs);
      assert.ok(counts.layers.every((l) => l.shapeKnown));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Groups, checked against hand-derived structure.

function weightDims(graph: Graph, name: string): number[] {
  return graph.constants.get(name)!.dims;
}

/** Invariants every fixture must satisfy. */
function checkInvariants(graph: Graph, groups: DependencyGroup[]): void {
  // Every conv/gemm output channel belongs to exactly one group.
  const producerNodes = graph.order.filter(
    (n) => (n.opType === "Conv" && (n.attributes.get("group")?.i ?? 1) === 1) || n.opType === "Gemm",
  );
  for (const n of producerNodes) {
    const owners = groups.filter((g) => g.producers.some((p) => p.node === n.name));
    assert.equal(owners.length, 1, `owner of ${n.name}`);
    const p = owners[0]!.producers.find((q) => q.node === n.name)!;
    assert.equal(weightDims(graph, p.weight)[p.outputAxis], owners[0]!.channels);
  }
  for (const g of groups) {
    assert.equal(g.frozen, g.frozenReasons.length > 0);
    for (const c of g.consumers) {
      const size = weightDims(graph, c.weight)[c.inputAxis]!;
      assert.ok(c.channelOffset + c.blockSize * g.channels <= size, `consumer ${c.node} of group ${g.id}`);
    }
    for (const m of g.members) {
      for (const p of m.params) {
        const size = weightDims(graph, p.tensor)[p.axis]!;
        assert.ok(m.channelOffset + m.blockSize * g.channels <= size, `member ${m.node} of group ${g.id}`);
      }
    }
  }
}

function byProducer(groups: DependencyGroup[], weight: string): DependencyGroup {
  const g = groups.find((x) => x.producers.some((p) => p.weight === weight));
  assert.ok(g, `group produced by ${weight}`);
  return g;
}

describe("dependency groups of the fixtures", () => {
  test("mlp: two inner groups of 300 and 100, the output layer frozen", () => {
    const graph = load("mlp.onnx");
    const groups = findDependencyGroups(graph);
    checkInvariants(graph, groups);
    assert.deepEqual(
      groups.map((g) => g.channels),
      [300, 100, 10],
    );
    for (const g of groups.slice(0, 2)) {
      assert.ok(isInner(g) && pathIsMergeSafe(g) && !g.frozen);
      assert.equal(g.consumers.length, 1);
      assert.equal(g.consumers[0]!.inputAxis, 1); // Gemm transB=1: weight [out, in]
      assert.deepEqual(
        g.pathOps.map((p) => p.opType),
        ["Relu"],
      );
    }
    assert.ok(groups[2]!.frozen && groups[2]!.reachesGraphOutput);
    assert.match(groups[2]!.frozenReasons[0]!, /^frozen: channels reach graph output "output"$/);
  });

  for (const file of ["vgg_bn.onnx", "vgg_fused.onnx", "vggview_bn.onnx", "vggview_fused.onnx"]) {
    test(`${file}: one group per conv, the last consumed through a flatten with block 7*7`, () => {
      const graph = load(file);
      const groups = findDependencyGroups(graph);
      checkInvariants(graph, groups);
      assert.deepEqual(
        groups.map((g) => g.channels),
        [8, 8, 16, 32, 10],
      );
      const last = groups[2]!;
      assert.equal(last.consumers.length, 1);
      const c = last.consumers[0]!;
      assert.equal(c.opType, "Gemm");
      assert.equal(c.blockSize, 49);
      assert.equal(c.channelOffset, 0);
      assert.equal(c.layout, "NCHW");
      assert.equal(c.via.length, 1);
      assert.equal(
        graph.nodeByName.get(c.via[0]!)!.opType,
        file.startsWith("vggview") ? "Reshape" : "Flatten",
      );
      // x.view(x.size(0), -1) computes its shape at run time: nothing to rewrite.
      assert.deepEqual(last.reshapes, []);
      for (const g of groups.slice(0, 4))
        assert.ok(isInner(g) && pathIsMergeSafe(g) && !g.frozen, `group ${g.id}`);
      if (file.endsWith("_bn.onnx")) {
        for (const g of groups.slice(0, 3)) {
          assert.equal(g.members.length, 1);
          assert.equal(g.members[0]!.opType, "BatchNormalization");
          assert.equal(g.members[0]!.follows, g.producers[0]!.node);
          assert.deepEqual(
            g.members[0]!.params.map((p) => p.role),
            ["bn-scale", "bn-bias", "bn-mean", "bn-var"],
          );
        }
        assert.ok(groups[0]!.producers[0]!.bias !== undefined, "first conv has a bias before its BN");
      } else {
        for (const g of groups.slice(0, 3)) {
          assert.equal(g.members.length, 0);
          assert.ok(g.producers[0]!.bias !== undefined);
        }
      }
    });
  }

  for (const file of ["resnet_bn.onnx", "resnet_fused.onnx"]) {
    test(`${file}: identity blocks join the stem, a projection starts a new residual group`, () => {
      const graph = load(file);
      const groups = findDependencyGroups(graph);
      checkInvariants(graph, groups);
      const convs = graph.order.filter((n) => n.opType === "Conv").map((n) => n.inputs[1]!);
      // Export order: conv1, layer1.{conv1,conv2}, layer2.{conv1,conv2,shortcut}, layer3.{conv1,conv2}.
      assert.equal(convs.length, 8);
      const [stem, l1c1, l1c2, l2c1, l2c2, l2sc, l3c1, l3c2] = convs as [string, ...string[]];
      const a = byProducer(groups, stem);
      assert.deepEqual(
        a.producers.map((p) => p.weight),
        [stem, l1c2],
      );
      assert.ok(a.isResidual && !isInner(a) && !a.frozen);
      assert.equal(a.channels, 8);
      // Stage-2 input feeds layer2.conv1 and the projection shortcut.
      assert.deepEqual(a.consumers.map((c) => c.weight).sort(), [l1c1, l2c1, l2sc].sort());
      const b = byProducer(groups, l2c2!);
      assert.deepEqual(b.producers.map((p) => p.weight).sort(), [l2c2, l2sc, l3c2].sort());
      assert.ok(b.isResidual && b.channels === 16);
      assert.notEqual(a.id, b.id);
      assert.equal(b.consumers.find((c) => c.opType === "Gemm")?.blockSize, 1);
      for (const w of [l1c1, l2c1, l3c1]) {
        const g = byProducer(groups, w!);
        assert.ok(isInner(g) && pathIsMergeSafe(g) && !g.frozen, `inner ${w}`);
        assert.equal(g.producers.length, 1);
      }
      assert.equal(groups.length, 6);
      if (file === "resnet_bn.onnx")
        assert.equal(b.members.filter((m) => m.opType === "BatchNormalization").length, 3);
    });
  }

  for (const file of ["mobilenet_bn.onnx", "mobilenet_fused.onnx"]) {
    test(`${file}: the depthwise conv is tied into its expand conv's group`, () => {
      const graph = load(file);
      const groups = findDependencyGroups(graph);
      checkInvariants(graph, groups);
      const depthwise = graph.order.filter(
        (n) => n.opType === "Conv" && (n.attributes.get("group")?.i ?? 1) > 1,
      );
      assert.equal(depthwise.length, 3);
      for (const dw of depthwise) {
        const owners = groups.filter((g) => g.members.some((m) => m.node === dw.name));
        assert.equal(owners.length, 1);
        const g = owners[0]!;
        const m = g.members.find((x) => x.node === dw.name)!;
        assert.equal(m.kind, "depthwise");
        assert.equal(m.group, g.channels);
        assert.equal(m.params[0]!.role, "depthwise-weight");
        assert.equal(m.params[0]!.axis, 0);
        // expand conv -> [BN] -> ReLU6 -> depthwise -> [BN] -> ReLU6 -> project conv
        assert.equal(g.producers.length, 1);
        assert.equal(g.consumers.length, 1);
        assert.ok(isInner(g));
        assert.ok(!pathIsMergeSafe(g), "Clip (ReLU6) and the depthwise conv are not merge-safe");
        assert.ok(g.consumers.every((c) => c.opType === "Conv"));
        if (file === "mobilenet_bn.onnx") {
          assert.equal(g.members.filter((x) => x.opType === "BatchNormalization").length, 2);
        }
      }
      const residual = groups.filter((g) => g.isResidual);
      assert.deepEqual(
        residual.map((g) => [g.channels, g.producers.length]),
        [
          [8, 2],
          [16, 2],
        ],
      );
      assert.equal(groups.length, 7);
    });
  }

  for (const file of ["concat_bn.onnx", "concat_fused.onnx"]) {
    test(`${file}: concatenated branches stay independent groups with their channel offsets`, () => {
      const graph = load(file);
      const groups = findDependencyGroups(graph);
      checkInvariants(graph, groups);
      const concat = graph.order.find((n) => n.opType === "Concat")!;
      const mix = graph.tensors.get(concat.outputs[0]!)!.consumers[0]!;
      assert.equal(mix.opType, "Conv");
      const readers = groups.filter((g) => g.consumers.some((c) => c.node === mix.name));
      assert.deepEqual(
        readers.map((g) => [g.channels, g.consumers.find((c) => c.node === mix.name)!.channelOffset]),
        [
          [4, 0],
          [6, 4],
          [4, 10],
          [2, 14],
        ],
      );
      for (const g of readers) {
        assert.ok(isInner(g) && pathIsMergeSafe(g) && !g.frozen && !g.isResidual);
        assert.deepEqual(g.consumers.find((c) => c.node === mix.name)!.via, [concat.name]);
      }
      const stem = groups[0]!;
      assert.equal(stem.channels, 8);
      assert.equal(stem.consumers.length, 4); // b1, b2.0, b3 and b4 (behind a MaxPool)
      assert.equal(groups.length, 8);
    });
  }
});
