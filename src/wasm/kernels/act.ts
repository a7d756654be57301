// Wrappers of assembly/act.ts: element-wise activations, their backward, and the conv / Gemm bias +
// activation epilogues.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";

/** assembly/act.ts codes; tests/wasm/act.test.ts checks them against the module's exports. */
export const ACT_NONE = 0;
export const ACT_RELU = 1;
export const ACT_LEAKY_RELU = 2;
export const ACT_CLIP = 3;
export const ACT_SIGMOID = 4;
export const ACT_HARD_SIGMOID = 5;
export const ACT_HARD_SWISH = 6;
export const ACT_TANH = 7;

/**
 * An activation and its parameters (the ONNX operator it implements):
 * `none`; `relu` (Relu); `leakyRelu` y = x < 0 ? alpha*x : x; `clip` y = min(max(x, min), max);
 * `sigmoid` 1/(1+exp(-x)); `hardSigmoid` max(0, min(1, alpha*x + beta)); `hardSwish`
 * x * max(0, min(1, x/6 + 0.5)); `tanh`.
 */
export type Activation =
  | { readonly kind: "none" }
  | { readonly kind: "relu" }
  | { readonly kind: "leakyRelu"; readonly alpha: number }
  | { readonly kind: "clip"; readonly min: number; readonly max: number }
  | { readonly kind: "sigmoid" }
  | { readonly kind: "hardSigmoid"; readonly alpha: number; readonly beta: number }
  | { readonly kind: "hardSwish" }
  | { readonly kind: "tanh" };

/** An activation as the kernels take it: an ACT_* code and two f32 parameters. */
export interface ActivationCode {
  readonly act: number;
  readonly a0: number;
  readonly a1: number;
}

function param(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: ${name} must be a number (not NaN), got ${String(v)}`,
    );
  }
  return v;
}

/**
 * The kernel code and parameters of an activation (undefined means none).
 * @throws PrunekitError `INVALID_ARGUMENT` on an unknown kind or a missing / NaN parameter.
 * @example
 * activationCode({ kind: "clip", min: 0, max: 6 }); // { act: 3, a0: 0, a1: 6 }
 */
export function activationCode(activation: Activation | undefined, what = "activation"): ActivationCode {
  if (activation === undefined) return { act: ACT_NONE, a0: 0, a1: 0 };
  switch (activation.kind) {
    case "none":
      return { act: ACT_NONE, a0: 0, a1: 0 };
    case "relu":
      return { act: ACT_RELU, a0: 0, a1: 0 };
    case "leakyRelu":
      return { act: ACT_LEAKY_RELU, a0: param(what, "leakyRelu alpha", activation.alpha), a1: 0 };
    case "clip":
      return {
        act: ACT_CLIP,
        a0: param(what, "clip min", activation.min),
        a1: param(what, "clip max", activation.max),
      };
    case "sigmoid":
      return { act: ACT_SIGMOID, a0: 0, a1: 0 };
    case "hardSigmoid":
      return {
        act: ACT_HARD_SIGMOID,
        a0: param(what, "hardSigmoid alpha", activation.alpha),
        a1: param(what, "hardSigmoid beta", activation.beta),
      };
    case "hardSwish":
      return { act: ACT_HARD_SWISH, a0: 0, a1: 0 };
    case "tanh":
      return { act: ACT_TANH, a0: 0, a1: 0 };
    default:
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: unknown activation kind "${String((activation as { kind?: unknown }).kind)}"; expected none, relu, leakyRelu, clip, sigmoid, hardSigmoid, hardSwish or tanh`,
      );
  }
}

/**
 * y = act(x) on arena buffers of equal length (x and y may be the same buffer).
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch or a bad activation; `ARENA_MISUSE` on a
 *   dead or foreign buffer.
 */
export function actApplyBuffers(w: Wasm, x: Buf, y: Buf, activation: Activation | undefined): void {
  const { act, a0, a1 } = activationCode(activation, "actApplyBuffers");
  checkLength("actApplyBuffers y", y, x.length);
  w.arena.checkLive("actApplyBuffers", x, y);
  kernel(w, "act_apply")(x.ptr, y.ptr, x.length, act, a0, a1);
}

function sameOrDisjoint(a: Buf, b: Buf): boolean {
  if (a.ptr === b.ptr || a.length === 0 || b.length === 0) return true;
  return a.ptr + a.length * 4 <= b.ptr || b.ptr + b.length * 4 <= a.ptr;
}

/**
 * The activation's backward on arena buffers of equal length: dx = dy * f'(x), where x is the
 * activation's input, with PyTorch's conventions at the kinks (relu and leaky relu use x > 0; clip
 * passes dy only for min < x < max; hard sigmoid only for 0 < alpha*x + beta < 1; hard swish gives 0
 * below -3, dy * (x/3 + 0.5) up to 3, dy above). dx may be dy or x (in place).
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch, a partial overlap or a bad activation;
 *   `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function actBackwardBuffers(
  w: Wasm,
  x: Buf,
  dy: Buf,
  dx: Buf,
  activation: Activation | undefined,
): void {
  const { act, a0, a1 } = activationCode(activation, "actBackwardBuffers");
  checkLength("actBackwardBuffers dy", dy, x.length);
  checkLength("actBackwardBuffers dx", dx, x.length);
  if (!sameOrDisjoint(dx, dy) || !sameOrDisjoint(dx, x)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "actBackwardBuffers: dx must be the same buffer as dy or x, or overlap neither",
    );
  }
  w.arena.checkLive("actBackwardBuffers", x, dy, dx);
  kernel(w, "act_backward")(x.ptr, dy.ptr, dx.ptr, x.length, act, a0, a1);
}

/**
 * The activation's backward of JS arrays: dx = dy * f'(x) (conventions as `actBackwardBuffers`).
 * @param x the activation's input. @param dy the gradient of its output, same length.
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch or a bad activation.
 * @example
 * actBackward(w, Float32Array.of(-1, 0, 2), Float32Array.of(5, 5, 5), { kind: "relu" }); // [0, 0, 5]
 */
export function actBackward(
  w: Wasm,
  x: Float32Array,
  dy: Float32Array,
  activation: Activation | undefined,
): Float32Array {
  activationCode(activation, "actBackward");
  checkLength("actBackward dy", dy, x.length);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const dyb = arena.copyInF32(dy);
    actBackwardBuffers(w, xb, dyb, dyb, activation);
    return arena.viewF32(dyb).slice();
  });
}

function epilogue(
  name: "actBiasRowsBuffers" | "actBiasColsBuffers",
  w: Wasm,
  y: Buf,
  rows: number,
  cols: number,
  bias: Buf | undefined,
  activation: Activation | undefined,
): void {
  const { act, a0, a1 } = activationCode(activation, name);
  checkSize(`${name} rows`, rows);
  checkSize(`${name} cols`, cols);
  checkLength(`${name} y`, y, rows * cols);
  if (bias !== undefined) checkLength(`${name} bias`, bias, name === "actBiasRowsBuffers" ? rows : cols);
  w.arena.checkLive(name, y, ...(bias === undefined ? [] : [bias]));
  const exportName = name === "actBiasRowsBuffers" ? "act_bias_rows" : "act_bias_cols";
  kernel(w, exportName)(y.ptr, rows, cols, bias?.ptr ?? 0, act, a0, a1);
}

/**
 * The conv epilogue on an arena buffer, in place: y[r, j] = act(y[r, j] + bias[r]).
 * @param y rows x cols (rows = output channels, cols = H*W). @param bias rows values, or undefined.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a bad activation; `ARENA_MISUSE`.
 */
export function actBiasRowsBuffers(
  w: Wasm,
  y: Buf,
  rows: number,
  cols: number,
  bias: Buf | undefined,
  activation: Activation | undefined,
): void {
  epilogue("actBiasRowsBuffers", w, y, rows, cols, bias, activation);
}

/**
 * The Gemm/MatMul epilogue on an arena buffer, in place: y[r, j] = act(y[r, j] + bias[j]).
 * @param y rows x cols. @param bias cols values, or undefined.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a bad activation; `ARENA_MISUSE`.
 */
export function actBiasColsBuffers(
  w: Wasm,
  y: Buf,
  rows: number,
  cols: number,
  bias: Buf | undefined,
  activation: Activation | undefined,
): void {
  epilogue("actBiasColsBuffers", w, y, rows, cols, bias, activation);
}

/**
 * y = act(x) of a JS array: copies in, one kernel call, copies out.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad activation.
 * @example
 * actApply(w, Float32Array.of(-1, 2), { kind: "relu" }); // [0, 2]
 */
export function actApply(w: Wasm, x: Float32Array, activation: Activation | undefined): Float32Array {
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    actApplyBuffers(w, xb, xb, activation);
    return arena.viewF32(xb).slice();
  });
}

/**
 * y[r, j] = act(y[r, j] + bias[r]) of a JS array (returned as a new array).
 * @param y rows x cols, row-major. @param bias rows values, or undefined for none.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a bad activation.
 * @example
 * actBiasRows(w, Float32Array.of(1, -2, 3, -4), 2, 2, Float32Array.of(1, 10), { kind: "relu" }); // [2, 0, 13, 6]
 */
export function actBiasRows(
  w: Wasm,
  y: Float32Array,
  rows: number,
  cols: number,
  bias: Float32Array | undefined,
  activation: Activation | undefined,
): Float32Array {
  checkSize("actBiasRows rows", rows);
  checkSize("actBiasRows cols", cols);
  checkLength("actBiasRows y", y, rows * cols);
  if (bias !== undefined) checkLength("actBiasRows bias", bias, rows);
  return withArena(w, (arena) => {
    const yb = arena.copyInF32(y);
    const bb = bias === undefined ? undefined : arena.copyInF32(bias);
    actBiasRowsBuffers(w, yb, rows, cols, bb, activation);
    return arena.viewF32(yb).slice();
  });
}

/**
 * y[r, j] = act(y[r, j] + bias[j]) of a JS array (returned as a new array).
 * @param y rows x cols, row-major. @param bias cols values, or undefined for none.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch or a bad activation.
 * @example
 * actBiasCols(w, Float32Array.of(1, -2, 3, -4), 2, 2, Float32Array.of(1, 10), { kind: "relu" }); // [2, 8, 4, 6]
 */
export function actBiasCols(
  w: Wasm,
  y: Float32Array,
  rows: number,
  cols: number,
  bias: Float32Array | undefined,
  activation: Activation | undefined,
): Float32Array {
  checkSize("actBiasCols rows", rows);
  checkSize("actBiasCols cols", cols);
  checkLength("actBiasCols y", y, rows * cols);
  if (bias !== undefined) checkLength("actBiasCols bias", bias, cols);
  return withArena(w, (arena) => {
    const yb = arena.copyInF32(y);
    const bb = bias === undefined ? undefined : arena.copyInF32(bias);
    actBiasColsBuffers(w, yb, rows, cols, bb, activation);
    return arena.viewF32(yb).slice();
  });
}
