// Helpers shared by the training lowerings.
import { quoteName, unsupported } from "../lower.ts";
import type { TrainLowerContext } from "../train-lower.ts";

/** The node's i-th input name, required. */
export function trainInput(ctx: TrainLowerContext, i: number): string {
  const name = ctx.node.inputs[i];
  if (name === undefined || name === "") throw unsupported(ctx.node, `input ${i} is missing`);
  return name;
}

/** Refuse an activation input that is a constant where the op needs a computed value. */
export function needActivation(ctx: TrainLowerContext, name: string): void {
  if (ctx.isConst(name))
    throw unsupported(ctx.node, `input ${quoteName(name)} is a constant; expected an activation`);
}
