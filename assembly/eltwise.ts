// Binary element-wise ops with numpy broadcasting and a fused activation (the residual Add + Relu).
//
// Broadcasting is given explicitly. The output y is contiguous, row-major, with dims shape[0..rank);
// aStrides[d] / bStrides[d] (in elements, i32) are each operand's step along output dim d, 0 where the
// operand is broadcast along it. So for the output index (i_0, ..., i_{rank-1}):
//
//   y[flat(i)] = act(a[sum_d i_d * aStrides[d]]  op  b[sum_d i_d * bStrides[d]])
//
// e.g. [N,C,H,W] + [1,C,1,1]: aStrides = (CHW, HW, W, 1), bStrides = (0, 1, 0, 0).
//
// How it runs: starting from the innermost dim, adjacent dims are merged into one "run" while both
// operands step uniformly across them (stride[d] === step * (elements of the run so far)); dims of
// size 1 always merge. Each run is then one loop over len elements with steps (sa, sb):
//   (1, 1) same-shape suffix, (1, 0) / (0, 1) scalar or per-channel broadcast: SIMD;
//   anything else: the scalar strided loop. The outer dims are walked run by run (the index is
//   decomposed by division once per run). The activation (ACT_* of act.ts) is applied in place on
//   blocks of about 4096 finished output elements, so the data is still in cache.
//
// Each element is one f32 op (ADD, SUB, MUL, DIV: IEEE, rounded once) and then the activation, so the
// result is bit-exact with src/wasm/reference/eltwise.ts wherever act.ts is.
//
// Aliasing: y may be the same buffer as a (or b) when that operand is not broadcast, i.e. its strides
// are exactly the contiguous strides of the output shape: each of its elements is then read only to
// compute the output element at the same place, before that is written. Otherwise no overlap.

import { ACT_NONE, actSpan } from "./act";

export const ELTWISE_ADD: i32 = 0;
export const ELTWISE_SUB: i32 = 1;
export const ELTWISE_MUL: i32 = 2;
export const ELTWISE_DIV: i32 = 3;

const ACT_BLOCK_LEN: i32 = 4096;

function at(ptr: usize, i: i32): usize {
  return ptr + ((<usize>i) << 2);
}

function binF32(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case ELTWISE_SUB:
      return a - b;
    case ELTWISE_MUL:
      return a * b;
    case ELTWISE_DIV:
      return a / b;
    default:
      return a + b;
  }
}

/** y[i] = a[i] op b[i] over the multiple-of-4 prefix; returns the elements done. */
function runSameShape(op: i32, aPtr: usize, bPtr: usize, yPtr: usize, len: i32): i32 {
  let i = 0;
  switch (op) {
    case ELTWISE_SUB:
      for (; i + 4 <= len; i += 4) {
        v128.store(at(yPtr, i), f32x4.sub(v128.load(at(aPtr, i)), v128.load(at(bPtr, i))));
      }
      break;
    case ELTWISE_MUL:
      for (; i + 4 <= len; i += 4) {
        v128.store(at(yPtr, i), f32x4.mul(v128.load(at(aPtr, i)), v128.load(at(bPtr, i))));
      }
      break;
    case ELTWISE_DIV:
      for (; i + 4 <= len; i += 4) {
        v128.store(at(yPtr, i), f32x4.div(v128.load(at(aPtr, i)), v128.load(at(bPtr, i))));
      }
      break;
    default:
      for (; i + 4 <= len; i += 4) {
        v128.store(at(yPtr, i), f32x4.add(v128.load(at(aPtr, i)), v128.load(at(bPtr, i))));
      }
  }
  return i;
}

/** y[i] = a[i] op b (bScalarRight) or b op a[i] (otherwise) over the multiple-of-4 prefix. */
function runScalar(op: i32, vPtr: usize, s: f32, scalarRight: bool, yPtr: usize, len: i32): i32 {
  const vs = f32x4.splat(s);
  let i = 0;
  switch (op) {
    case ELTWISE_SUB:
      if (scalarRight) {
        for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.sub(v128.load(at(vPtr, i)), vs));
      } else {
        for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.sub(vs, v128.load(at(vPtr, i))));
      }
      break;
    case ELTWISE_MUL:
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.mul(v128.load(at(vPtr, i)), vs));
      break;
    case ELTWISE_DIV:
      if (scalarRight) {
        for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.div(v128.load(at(vPtr, i)), vs));
      } else {
        for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.div(vs, v128.load(at(vPtr, i))));
      }
      break;
    default:
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.add(v128.load(at(vPtr, i)), vs));
  }
  return i;
}

/** y[i] = a[i*sa] op b[i*sb] for i < len (SIMD for steps (1,1), (1,0), (0,1)). */
function binaryRun(op: i32, aPtr: usize, sa: i32, bPtr: usize, sb: i32, yPtr: usize, len: i32): void {
  let i = 0;
  if (sa === 1 && sb === 1) i = runSameShape(op, aPtr, bPtr, yPtr, len);
  else if (sa === 1 && sb === 0) i = runScalar(op, aPtr, load<f32>(bPtr), true, yPtr, len);
  else if (sa === 0 && sb === 1) i = runScalar(op, bPtr, load<f32>(aPtr), false, yPtr, len);
  for (; i < len; i++) {
    const a = load<f32>(aPtr + ((<usize>i * <usize>sa) << 2));
    const b = load<f32>(bPtr + ((<usize>i * <usize>sb) << 2));
    store<f32>(at(yPtr, i), binF32(op, a, b));
  }
}

/**
 * y = act(a op b) with explicit numpy broadcasting (see the top of this file): op is ELTWISE_*, y is
 * contiguous with dims shape[0..rank) (i32 at shapePtr, 1 <= rank <= 8), aStrides / bStrides are i32
 * element strides per output dim (0 = broadcast), act/a0/a1 as in act.ts. Codes outside ELTWISE_* are
 * treated as ADD (the wrapper refuses them). y may be a or b only where that operand is not broadcast.
 */
export function eltwise_binary(
  op: i32,
  aPtr: usize,
  bPtr: usize,
  yPtr: usize,
  rank: i32,
  shapePtr: usize,
  aStridesPtr: usize,
  bStridesPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
): void {
  let total = 1;
  for (let d = 0; d < rank; d++) total *= load<i32>(at(shapePtr, d));
  if (total <= 0) return;

  // Merge dims into the innermost run: [split, rank) with len runLen and steps (sa, sb).
  let runLen = 1;
  let sa = 0;
  let sb = 0;
  let split = rank;
  while (split > 0) {
    const d = split - 1;
    const n = load<i32>(at(shapePtr, d));
    if (n !== 1) {
      const da = load<i32>(at(aStridesPtr, d));
      const db = load<i32>(at(bStridesPtr, d));
      if (runLen === 1) {
        sa = da;
        sb = db;
      } else if (da !== sa * runLen || db !== sb * runLen) {
        break;
      }
      runLen *= n;
    }
    split = d;
  }

  const runs = total / runLen;
  let actFrom = 0;
  for (let o = 0; o < runs; o++) {
    // Decompose the run index over the outer dims [0, split), innermost first.
    let rest = o;
    let offA = 0;
    let offB = 0;
    for (let d = split - 1; d >= 0 && rest > 0; d--) {
      const n = load<i32>(at(shapePtr, d));
      const idx = rest % n;
      rest /= n;
      offA += idx * load<i32>(at(aStridesPtr, d));
      offB += idx * load<i32>(at(bStridesPtr, d));
    }
    // A long run goes in chunks, so that the activation pass finds each chunk still in cache.
    const chunk = act === ACT_NONE ? runLen : ACT_BLOCK_LEN;
    for (let c = 0; c < runLen; c += chunk) {
      const len = min(chunk, runLen - c);
      const yStart = o * runLen + c;
      binaryRun(op, at(aPtr, offA + c * sa), sa, at(bPtr, offB + c * sb), sb, at(yPtr, yStart), len);
      const done = yStart + len;
      if (act !== ACT_NONE && (done - actFrom >= ACT_BLOCK_LEN || done === total)) {
        actSpan(at(yPtr, actFrom), at(yPtr, actFrom), done - actFrom, act, a0, a1);
        actFrom = done;
      }
    }
  }
}

/**
 * dst[i] = dst[i] + src[i] for i < len (one f32 add each): sums the gradients of a value read by
 * several nodes. dst and src may be the same buffer (dst doubles), but must not partly overlap.
 */
export function eltwise_accumulate(dstPtr: usize, srcPtr: usize, len: i32): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    v128.store(at(dstPtr, i), f32x4.add(v128.load(at(dstPtr, i)), v128.load(at(srcPtr, i))));
  }
  for (; i < len; i++) store<f32>(at(dstPtr, i), load<f32>(at(dstPtr, i)) + load<f32>(at(srcPtr, i)));
}
