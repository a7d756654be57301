// Wrappers of assembly/optim.ts: one step of SGD (PyTorch's torch.optim.SGD, dampening 0), scaling a
// buffer in place, and adding an L1 penalty's gradient (Gate Decorator's gates).
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

function overlaps(a: Buf, b: Buf): boolean {
  return a.length > 0 && b.length > 0 && a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4;
}

function checkFinite(what: string, value: number, min?: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || (min !== undefined && value < min)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: expected a finite number${min === undefined ? "" : ` >= ${min}`}, got ${value}`,
    );
  }
}

/** Hyper-parameters of one SGD step, as torch.optim.SGD (dampening is always 0). */
export interface SgdOptions {
  /** Learning rate (>= 0). */
  readonly lr: number;
  /** Momentum factor (>= 0); default 0 (plain SGD, no velocity buffer needed). */
  readonly momentum?: number;
  /** L2 penalty added to the gradient (>= 0); default 0. */
  readonly weightDecay?: number;
  /** Nesterov momentum; default false. Needs momentum > 0. */
  readonly nesterov?: boolean;
}

function resolveSgd(what: string, options: SgdOptions): Required<SgdOptions> {
  const { lr, momentum = 0, weightDecay = 0, nesterov = false } = options;
  checkFinite(`${what} lr`, lr, 0);
  checkFinite(`${what} momentum`, momentum, 0);
  checkFinite(`${what} weightDecay`, weightDecay, 0);
  if (typeof nesterov !== "boolean") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: nesterov must be a boolean, got ${String(nesterov)}`,
    );
  }
  if (nesterov && Math.fround(momentum) === 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: Nesterov momentum requires momentum > 0, got ${momentum}`,
    );
  }
  return { lr, momentum, weightDecay, nesterov };
}

/**
 * One SGD step on arena buffers, in place (one WASM call), exactly torch.optim.SGD with dampening 0,
 * per element in f32 (no FMA): d = g + weightDecay*w; with momentum, v = momentum*v + d and
 * d = nesterov ? d + momentum*v : v; then w = w - lr*d.
 * @param weights updated. @param grads the same length, read. @param velocity the momentum buffer
 *   (zeros before the first step), updated; needed only when momentum != 0 (ignored otherwise).
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch, a bad option, a missing velocity or
 *   an overlap; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function sgdStepBuffers(
  w: Wasm,
  weights: Buf,
  grads: Buf,
  velocity: Buf | undefined,
  options: SgdOptions,
): void {
  const what = "sgdStep";
  const { lr, momentum, weightDecay, nesterov } = resolveSgd(what, options);
  const len = weights.length;
  checkLength(`${what} grads`, grads, len);
  const useVelocity = Math.fround(momentum) !== 0;
  if (useVelocity && velocity === undefined) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: momentum ${momentum} needs a velocity buffer of ${len} elements (zeros before the first step)`,
    );
  }
  const v = useVelocity ? velocity : undefined;
  if (v !== undefined) checkLength(`${what} velocity`, v, len);
  if (overlaps(weights, grads) || (v !== undefined && (overlaps(v, weights) || overlaps(v, grads)))) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: weights, grads and velocity must not overlap`);
  }
  w.arena.checkLive(what, weights, grads, ...(v === undefined ? [] : [v]));
  kernel(w, "optim_sgd")(
    weights.ptr,
    grads.ptr,
    v === undefined ? 0 : v.ptr,
    len,
    lr,
    momentum,
    weightDecay,
    nesterov ? 1 : 0,
  );
}

/**
 * One SGD step of JS arrays (copies in, one kernel call, copies out); the inputs are not modified.
 * @param velocity the momentum buffer from the previous step, or undefined before the first (zeros).
 * @returns the new weights and velocity (zeros when momentum is 0 and no velocity was given).
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch or a bad option.
 * @example
 * sgdStep(w, Float32Array.of(1), Float32Array.of(0.5), undefined, { lr: 0.1, momentum: 0.9 });
 * // { weights: [0.95], velocity: [0.5] }
 */
export function sgdStep(
  w: Wasm,
  weights: Float32Array,
  grads: Float32Array,
  velocity: Float32Array | undefined,
  options: SgdOptions,
): { weights: Float32Array; velocity: Float32Array } {
  resolveSgd("sgdStep", options);
  checkLength("sgdStep grads", grads, weights.length);
  if (velocity !== undefined) checkLength("sgdStep velocity", velocity, weights.length);
  return withArena(w, (arena) => {
    const wb = arena.copyInF32(weights);
    const vb =
      velocity === undefined ? arena.copyInF32(new Float32Array(weights.length)) : arena.copyInF32(velocity);
    sgdStepBuffers(w, wb, arena.copyInF32(grads), vb, options);
    return { weights: arena.viewF32(wb).slice(), velocity: arena.viewF32(vb).slice() };
  });
}

/**
 * x[i] = x[i] * s on an arena buffer, in place (one WASM call; one f32 multiply each).
 * @throws PrunekitError `INVALID_ARGUMENT` on a non-finite s; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function scaleInPlaceBuffers(w: Wasm, x: Buf, s: number): void {
  checkFinite("scaleInPlace s", s);
  w.arena.checkLive("scaleInPlace", x);
  kernel(w, "optim_scale")(x.ptr, x.length, s);
}

/**
 * Scale a JS array in place, x[i] *= s in f32 (copies in, one kernel call, copies back into x).
 * @returns x itself.
 * @throws PrunekitError `INVALID_ARGUMENT` on a non-finite s.
 * @example
 * scaleInPlace(w, Float32Array.of(1, -2, 3), 0.5); // [0.5, -1, 1.5]
 */
export function scaleInPlace(w: Wasm, x: Float32Array, s: number): Float32Array {
  checkFinite("scaleInPlace s", s);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    scaleInPlaceBuffers(w, xb, s);
    x.set(arena.viewF32(xb));
    return x;
  });
}

/**
 * Add an L1 penalty's gradient on arena buffers, in place (one WASM call): g[i] += lambda*sign(w[i])
 * in f32, with sign(+-0) = sign(NaN) = 0 (Gate Decorator's Tock loss, docs/methods.md §4.5).
 * @param weights read. @param grads the same length, updated; must not overlap weights.
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch, a non-finite lambda or an overlap;
 *   `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function addL1GradBuffers(w: Wasm, weights: Buf, grads: Buf, lambda: number): void {
  const what = "addL1Grad";
  checkLength(`${what} grads`, grads, weights.length);
  checkFinite(`${what} lambda`, lambda);
  if (overlaps(weights, grads)) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: grads must not overlap weights`);
  }
  w.arena.checkLive(what, weights, grads);
  kernel(w, "optim_add_l1_grad")(weights.ptr, grads.ptr, weights.length, lambda);
}

/**
 * grads + lambda*sign(weights) of JS arrays (copies in, one kernel call, copies out); the inputs are
 * not modified.
 * @returns the new gradient.
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch or a non-finite lambda.
 * @example
 * addL1Grad(w, Float32Array.of(2, 0, -3), Float32Array.of(1, 1, 1), 0.5); // [1.5, 1, 0.5]
 */
export function addL1Grad(w: Wasm, weights: Float32Array, grads: Float32Array, lambda: number): Float32Array {
  checkLength("addL1Grad grads", grads, weights.length);
  return withArena(w, (arena) => {
    const gb = arena.copyInF32(grads);
    addL1GradBuffers(w, arena.copyInF32(weights), gb, lambda);
    return arena.viewF32(gb).slice();
  });
}
