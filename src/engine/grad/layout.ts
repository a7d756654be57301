// Data movement for training: Flatten, Reshape, Squeeze, Unsqueeze, Identity and Dropout are aliases
// (the output and its gradient are the input's memory under other dims; Dropout trains as identity,
// see docs/engine.md); Concat copies slices forward and their gradients back.
import { attrInt } from "../../graph/ir.ts";
import { outputName, product, quoteName, unsupported } from "../lower.ts";
import type { TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { trainInput } from "./common.ts";

export const trainAlias = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const x = trainInput(ctx, 0);
  const y = outputName(node, 0);
  if (node.opType === "Dropout" && node.outputs.length > 1 && node.outputs[1] !== "") {
    throw unsupported(node, `its mask output ${quoteName(node.outputs[1]!)} is used`);
  }
  if (product(ctx.dims(x)) !== product(ctx.dims(y))) throw unsupported(node, "changes the element count");
  if (ctx.isConst(x)) throw unsupported(node, "reshapes a constant at run time");
  return { kind: "alias", output: y, input: x };
};

export const trainConcat = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const inputs = node.inputs.filter((i) => i !== "");
  const y = outputName(node, 0);
  const outDims = ctx.dims(y);
  let axis = attrInt(node, "axis", 1);
  if (axis < 0) axis += outDims.length;
  if (axis < 0 || axis >= outDims.length) throw unsupported(node, `axis ${axis} is out of range`);
  for (const i of inputs)
    if (ctx.isConst(i)) throw unsupported(node, `concatenates the constant ${quoteName(i)}`);
  const outer = product(outDims, 0, axis);
  const chunks = inputs.map((i) => product(ctx.dims(i), axis));
  const row = product(outDims, axis);
  return {
    kind: "step",
    reads: inputs,
    writes: [y],
    saved: [],
    gradOf: inputs,
    scratchLen: 0,
    bind(b) {
      const srcs = inputs.map((i) => b.ptr(i) / 4);
      const yo = b.ptr(y) / 4;
      const dyo = b.dy(y) / 4;
      const grads = inputs.map((i) => b.grad(i) / 4);
      return {
        forward: () => {
          const m = b.f32();
          let at = 0;
          for (let k = 0; k < inputs.length; k++) {
            const c = chunks[k]!;
            const s = srcs[k]!;
            for (let o = 0; o < outer; o++) m.copyWithin(yo + o * row + at, s + o * c, s + o * c + c);
            at += c;
          }
        },
        backward: () => {
          const m = b.f32();
          let at = 0;
          const written = new Set<number>();
          for (let k = 0; k < inputs.length; k++) {
            const c = chunks[k]!;
            const g = grads[k]!;
            if (g !== 0 && !written.has(g)) {
              for (let o = 0; o < outer; o++)
                m.copyWithin(g + o * c, dyo + o * row + at, dyo + o * row + at + c);
              written.add(g);
            } else if (g !== 0) {
              // The same input concatenated again: add this slice's gradient.
              for (let o = 0; o < outer; o++) {
                for (let j = 0; j < c; j++) m[g + o * c + j] = m[g + o * c + j]! + m[dyo + o * row + at + j]!;
              }
            }
            at += c;
          }
        },
      };
    },
  };
};
