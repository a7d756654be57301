// The exactness harness of the surgery tests: a pruned model must equal the original with the removed
// channels zeroed where they are produced (STYLE.md "Test invariants").
import assert from "node:assert/strict";
import { findDependencyGroups } from "../../src/graph/find-groups.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import type { ModelProto, TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, readFloat32 } from "../../src/onnx/tensor.ts";
import type { GroupPlan } from "../../src/surgery/plan.ts";

/**
 * Make the removed channels of each planned group emit exactly zero: zero their producers' weights and
 * biases and every per-channel parameter that could make them non-zero (BN scale and shift, depthwise
 * weights and biases, per-channel addends and multipliers).
 */
export function zeroRemoved(model: ModelProto, plans: GroupPlan[]): ModelProto {
  const graph = buildGraph(model);
  const groups = findDependencyGroups(graph);
  const zero = new Map<string, { axis: number; index: number }[]>();
  const mark = (tensor: string, axis: number, index: number) => {
    const list = zero.get(tensor) ?? [];
    list.push({ axis, index });
    zero.set(tensor, list);
  };
  for (const plan of plans) {
    const group = groups[plan.groupId]!;
    const kept = new Set(plan.keep);
    for (let ch = 0; ch < group.channels; ch++) {
      if (kept.has(ch)) continue;
      for (const p of group.producers) {
        mark(p.weight, p.outputAxis, ch);
        if (p.bias) mark(p.bias, 0, ch);
      }
      for (const m of group.members) {
        for (const param of m.params) {
          if (param.role === "bn-var" || param.role === "bn-mean" || param.role === "slope") continue;
          for (let j = 0; j < m.blockSize; j++)
            mark(param.tensor, param.axis, m.channelOffset + ch * m.blockSize + j);
        }
      }
    }
  }
  const g = model.graph!;
  const initializer = g.initializer.map((t: TensorProto) => {
    const marks = zero.get(t.name ?? "");
    if (!marks) return t;
    const data = readFloat32(t);
    const dims = t.dims;
    for (const { axis, index } of marks) {
      const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
      const n = dims[axis]!;
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      for (let o = 0; o < outer; o++) data.fill(0, (o * n + index) * inner, (o * n + index + 1) * inner);
    }
    return makeFloat32Tensor(t.name ?? "", dims, data);
  });
  return { ...model, graph: { ...g, initializer } };
}

export function assertOutputsClose(a: Record<string, Float32Array>, b: Record<string, Float32Array>): void {
  for (const [name, expected] of Object.entries(a)) {
    const actual = b[name]!;
    assert.equal(actual.length, expected.length, `output ${name} length`);
    for (let i = 0; i < expected.length; i++) {
      const tol = 1e-5 * Math.max(1, Math.abs(expected[i]!));
      assert.ok(
        Math.abs(actual[i]! - expected[i]!) <= tol,
        `output ${name}[${i}]: ${actual[i]} vs ${expected[i]}`,
      );
    }
  }
}
