// Bug (issue #10): a weight with a 0 dimension made the kept-index gather loop forever (its odometer
// never wrapped on an empty outer axis). Validation now refuses such weights, and the gather itself
// terminates on any empty axis.
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeFloat32Tensor, newFloat32Scratch, readFloat32 } from "../../src/onnx/tensor.ts";
import { editOf, removeAlong, sliceTensor, type TensorEdit } from "../../src/surgery/tensor-edit.ts";

function edit(removed: [number, number][]): TensorEdit {
  const edits = new Map<string, TensorEdit>();
  const e = editOf(edits, "w", "conv");
  for (const [axis, index] of removed) removeAlong(e, axis, index);
  return e;
}

const scratch = () => ({ input: newFloat32Scratch(), output: newFloat32Scratch() });

test("bug: slicing a weight with an empty outer axis terminates with an empty tensor", {
  timeout: 5000,
}, () => {
  for (const dims of [
    [0, 8, 3, 3],
    [4, 0, 8, 3],
    [0, 0, 8],
  ]) {
    const t = makeFloat32Tensor("w", dims, new Float32Array(0));
    const axis = dims.length - 1;
    const out = sliceTensor(t, edit([[axis, 0]]), new Map(), scratch());
    assert.deepEqual(out.dims, [...dims.slice(0, axis), dims[axis]! - 1]);
    assert.equal(readFloat32(out).length, 0);
  }
});

test("slicing still gathers the kept entries of every axis", () => {
  const t = makeFloat32Tensor("w", [2, 3], Float32Array.of(0, 1, 2, 3, 4, 5));
  const out = sliceTensor(t, edit([[1, 1]]), new Map(), scratch());
  assert.deepEqual(out.dims, [2, 2]);
  assert.deepEqual([...readFloat32(out)], [0, 2, 3, 5]);
});
