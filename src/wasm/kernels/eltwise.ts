// Wrappers of assembly/eltwise.ts: binary element-wise ops with numpy broadcasting and a fused activation,
// and accumulating one buffer into another (summing gradients).
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";
import { type Activation, activationCode } from "./act.ts";

/** assembly/eltwise.ts op codes; tests/wasm/eltwise.test.ts checks them against the module's exports. */
export const ELTWISE_ADD = 0;
export const ELTWISE_SUB = 1;
export const ELTWISE_MUL = 2;
export const ELTWISE_DIV = 3;

/** A binary element-wise op (ONNX Add, Sub, Mul, Div). */
export type EltwiseOp = "add" | "sub" | "mul" | "div";

const OP_CODES: Record<EltwiseOp, number> = {
  add: ELTWISE_ADD,
  sub: ELTWISE_SUB,
  mul: ELTWISE_MUL,
  div: ELTWISE_DIV,
};

/** The kernel's largest rank. */
export const ELTWISE_MAX_RANK = 8;

/** The numpy broadcast of two shapes: the output dims and each operand's element stride per output dim. */
export interface BroadcastPlan {
  /** The output dims (rank = the larger operand rank; [] when both operands are scalars). */
  readonly dims: readonly number[];
  /** a's stride (elements) along each output dim; 0 where a is broadcast. */
  readonly aStrides: readonly number[];
  /** b's stride (elements) along each output dim; 0 where b is broadcast. */
  readonly bStrides: readonly number[];
}

function checkDims(what: string, dims: readonly number[]): void {
  for (const [i, d] of dims.entries()) {
    if (!Number.isInteger(d) || d < 0 || d > 0x7fffffff) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: dim ${i} must be a non-negative integer, got ${d} (dims [${dims.join(", ")}])`,
      );
    }
  }
}

/** Row-major strides of `dims` aligned to the right of `rank` output dims, 0 on size-1 or missing dims. */
function alignedStrides(dims: readonly number[], rank: number): number[] {
  const out = new Array<number>(rank).fill(0);
  let step = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const d = dims[i]!;
    out[rank - dims.length + i] = d === 1 ? 0 : step;
    step *= d;
  }
  return out;
}

/**
 * The numpy (ONNX multidirectional) broadcast of two shapes: dims are aligned on the right; each pair
 * must be equal or contain a 1. Pure; the engine calls it at compile time.
 * @throws PrunekitError `INVALID_ARGUMENT` on incompatible dims, a bad dim, or a rank above 8.
 * @example
 * broadcastStrides([2, 3, 4, 5], [3, 1, 1]);
 * // { dims: [2, 3, 4, 5], aStrides: [60, 20, 5, 1], bStrides: [0, 1, 0, 0] }
 */
export function broadcastStrides(aDims: readonly number[], bDims: readonly number[]): BroadcastPlan {
  checkDims("broadcastStrides aDims", aDims);
  checkDims("broadcastStrides bDims", bDims);
  const rank = Math.max(aDims.length, bDims.length);
  if (rank > ELTWISE_MAX_RANK) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `broadcastStrides: rank ${rank} is above the supported ${ELTWISE_MAX_RANK} (dims [${aDims.join(", ")}] and [${bDims.join(", ")}])`,
    );
  }
  const dims: number[] = [];
  for (let k = 0; k < rank; k++) {
    const da = aDims[aDims.length - rank + k] ?? 1;
    const db = bDims[bDims.length - rank + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `broadcastStrides: dims [${aDims.join(", ")}] and [${bDims.join(", ")}] do not broadcast: output dim ${k} is ${da} in a and ${db} in b; expected equal sizes or a 1`,
      );
    }
    dims.push(da === 1 ? db : da);
  }
  return { dims, aStrides: alignedStrides(aDims, rank), bStrides: alignedStrides(bDims, rank) };
}

function product(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** Elements an operand must hold: 1 + the largest offset it is read at (0 if the output is empty). */
function spanLen(dims: readonly number[], strides: readonly number[]): number {
  if (dims.some((d) => d === 0)) return 0;
  return 1 + dims.reduce((s, d, i) => s + (d - 1) * strides[i]!, 0);
}

function opCode(what: string, op: EltwiseOp): number {
  const code = OP_CODES[op];
  if (!Object.hasOwn(OP_CODES, op) || code === undefined) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: unknown op "${String(op)}"; expected add, sub, mul or div`,
    );
  }
  return code;
}

/**
 * y = act(a op b) on arena buffers, broadcast by `plan` (from broadcastStrides, or any strides that keep
 * every read inside a and b). y may be a (or b) only if that operand is not broadcast.
 * @param y product(plan.dims) elements, contiguous.
 * @throws PrunekitError `INVALID_ARGUMENT` on a bad op, plan, length or activation; `ARENA_MISUSE`.
 */
export function eltwiseBinaryBuffers(
  w: Wasm,
  op: EltwiseOp,
  a: Buf,
  b: Buf,
  y: Buf,
  plan: BroadcastPlan,
  activation?: Activation,
): void {
  const what = "eltwiseBinaryBuffers";
  const code = opCode(what, op);
  const { act, a0, a1 } = activationCode(activation, what);
  const { dims, aStrides, bStrides } = plan;
  checkDims(`${what} plan.dims`, dims);
  checkDims(`${what} plan.aStrides`, aStrides);
  checkDims(`${what} plan.bStrides`, bStrides);
  if (dims.length > ELTWISE_MAX_RANK || aStrides.length !== dims.length || bStrides.length !== dims.length) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: plan has ${dims.length} dims (at most ${ELTWISE_MAX_RANK}), ${aStrides.length} a strides and ${bStrides.length} b strides; expected one stride of each per dim`,
    );
  }
  const total = product(dims);
  if (total > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: output of ${total} elements exceeds 2^31 - 1`);
  }
  checkLength(`${what} y`, y, total);
  const aNeed = spanLen(dims, aStrides);
  const bNeed = spanLen(dims, bStrides);
  if (a.length < aNeed || b.length < bNeed) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: a has ${a.length} and b ${b.length} elements, but the plan reads ${aNeed} of a and ${bNeed} of b`,
    );
  }
  w.arena.checkLive(what, a, b, y);
  // The kernel takes rank >= 1: a scalar op is one element of rank 1.
  const rank = Math.max(1, dims.length);
  const pad = (v: readonly number[], fill: number) => (v.length === 0 ? [fill] : v);
  const mark = w.arena.mark();
  try {
    const shape = w.arena.copyInI32(pad(dims, 1));
    const as = w.arena.copyInI32(pad(aStrides, 0));
    const bs = w.arena.copyInI32(pad(bStrides, 0));
    kernel(w, "eltwise_binary")(code, a.ptr, b.ptr, y.ptr, rank, shape.ptr, as.ptr, bs.ptr, act, a0, a1);
  } finally {
    w.arena.release(mark);
  }
}

/** Options of eltwiseBroadcast. */
export interface EltwiseOptions {
  /** Activation applied to each result (default none): the residual Add + Relu fusion. */
  readonly act?: Activation;
}

/**
 * y = act(a op b) of JS arrays with numpy broadcasting: copies in, one kernel call, copies out.
 * The output dims are `broadcastStrides(aDims, bDims).dims`.
 * @param a product(aDims) values, row-major. @param b product(bDims) values, row-major.
 * @throws PrunekitError `INVALID_ARGUMENT` on incompatible dims, a length mismatch, a bad op or activation.
 * @example
 * eltwiseBroadcast(w, "add", Float32Array.of(1, -2, 3, -4), [2, 2], Float32Array.of(1, 0), [2], {
 *   act: { kind: "relu" },
 * }); // [2, 0, 4, 0]
 */
export function eltwiseBroadcast(
  w: Wasm,
  op: EltwiseOp,
  a: Float32Array,
  aDims: readonly number[],
  b: Float32Array,
  bDims: readonly number[],
  options: EltwiseOptions = {},
): Float32Array {
  const plan = broadcastStrides(aDims, bDims);
  checkLength(`eltwiseBroadcast a (dims [${aDims.join(", ")}])`, a, product(aDims));
  checkLength(`eltwiseBroadcast b (dims [${bDims.join(", ")}])`, b, product(bDims));
  return withArena(w, (arena) => {
    const ab = arena.copyInF32(a);
    const bb = arena.copyInF32(b);
    const y = arena.allocF32(product(plan.dims));
    eltwiseBinaryBuffers(w, op, ab, bb, y, plan, options.act);
    return arena.viewF32(y).slice();
  });
}

/**
 * dst[i] += src[i] on arena buffers, in place (one WASM call; one f32 add each): sums the gradients of
 * a value read by several nodes.
 * @param dst updated. @param src the same length; may be `dst` itself, must not partly overlap it.
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch or a partial overlap; `ARENA_MISUSE`.
 */
export function accumulateBuffers(w: Wasm, dst: Buf, src: Buf): void {
  checkLength("accumulate src", src, dst.length);
  const len = dst.length;
  if (len > 0 && dst.ptr !== src.ptr && dst.ptr < src.ptr + len * 4 && src.ptr < dst.ptr + len * 4) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "accumulate: src partly overlaps dst; pass the same buffer or disjoint ones",
    );
  }
  w.arena.checkLive("accumulate", dst, src);
  kernel(w, "eltwise_accumulate")(dst.ptr, src.ptr, len);
}

/**
 * dst + src of JS arrays, element-wise in f32 (copies in, one kernel call, copies out); the inputs are
 * not modified.
 * @returns a new array of dst's length.
 * @throws PrunekitError `INVALID_ARGUMENT` on a length mismatch.
 * @example
 * accumulate(w, Float32Array.of(1, 2), Float32Array.of(0.5, -2)); // [1.5, 0]
 */
export function accumulate(w: Wasm, dst: Float32Array, src: Float32Array): Float32Array {
  checkLength("accumulate src", src, dst.length);
  return withArena(w, (arena) => {
    const db = arena.copyInF32(dst);
    accumulateBuffers(w, db, arena.copyInF32(src));
    return arena.viewF32(db).slice();
  });
}
