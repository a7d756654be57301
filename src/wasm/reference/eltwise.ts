/**
 * Plain reference for assembly/eltwise.ts: an odometer over the output index, one f32 op per element
 * (Math.fround), then the activation of reference/act.ts. Bit-exact with the kernel wherever the
 * activation is. Ops: 0 add, 1 sub, 2 mul, 3 div.
 */
import { actScalar } from "./act.ts";

const f = Math.fround;

function binary(op: number, a: number, b: number): number {
  switch (op) {
    case 1:
      return f(a - b);
    case 2:
      return f(a * b);
    case 3:
      return f(a / b);
    default:
      return f(a + b);
  }
}

/**
 * y[idx] = act(a[idx . aStrides] op b[idx . bStrides]) for every index of the contiguous output of
 * dims `shape` (strides in elements, 0 on a broadcast dim).
 */
export function eltwiseBinary(
  op: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  shape: readonly number[],
  aStrides: readonly number[],
  bStrides: readonly number[],
  act: number,
  a0: number,
  a1: number,
): Float32Array {
  const total = shape.reduce((n, d) => n * d, 1);
  const y = new Float32Array(total);
  const idx = shape.map(() => 0);
  for (let i = 0; i < total; i++) {
    let offA = 0;
    let offB = 0;
    for (let d = 0; d < shape.length; d++) {
      offA += idx[d]! * aStrides[d]!;
      offB += idx[d]! * bStrides[d]!;
    }
    y[i] = actScalar(binary(op, f(a[offA]!), f(b[offB]!)), act, a0, a1);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      if (idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return y;
}

/** dst[i] + src[i] in f32 (one rounding each): a new array. */
export function accumulate(dst: ArrayLike<number>, src: ArrayLike<number>): Float32Array {
  return Float32Array.from(dst, (d, i) => f(f(d) + f(src[i]!)));
}
