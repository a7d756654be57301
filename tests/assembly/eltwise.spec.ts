import { ACT_RELU } from "../../assembly/act";
import { ELTWISE_ADD, ELTWISE_SUB, eltwise_accumulate, eltwise_binary } from "../../assembly/eltwise";

function put(ptr: usize, i: i32, v: f32): void {
  store<f32>(ptr + ((<usize>i) << 2), v);
}

function get(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

function puti(ptr: usize, i: i32, v: i32): void {
  store<i32>(ptr + ((<usize>i) << 2), v);
}

describe("eltwise", () => {
  it("adds a per-channel [1,2,1,1] bias to [1,2,1,3] and applies relu", () => {
    const a = memory.data(6 * 4);
    const b = memory.data(2 * 4);
    const y = memory.data(6 * 4);
    const shape = memory.data(16);
    const as = memory.data(16);
    const bs = memory.data(16);
    for (let i = 0; i < 6; i++) put(a, i, <f32>(i - 3)); // -3 -2 -1 | 0 1 2
    put(b, 0, 1);
    put(b, 1, -1);
    const dims: i32[] = [1, 2, 1, 3];
    const aStr: i32[] = [6, 3, 3, 1];
    const bStr: i32[] = [0, 1, 0, 0];
    for (let d = 0; d < 4; d++) {
      puti(shape, d, dims[d]);
      puti(as, d, aStr[d]);
      puti(bs, d, bStr[d]);
    }
    eltwise_binary(ELTWISE_ADD, a, b, y, 4, shape, as, bs, ACT_RELU, 0, 0);
    const want: f32[] = [0, 0, 0, 0, 0, 1];
    for (let i = 0; i < 6; i++) expect(get(y, i)).toBe(want[i]);
  });

  it("subtracts in the given operand order with a broadcast left scalar (rank 1)", () => {
    const a = memory.data(4);
    const b = memory.data(5 * 4);
    const y = memory.data(5 * 4);
    const shape = memory.data(4);
    const as = memory.data(4);
    const bs = memory.data(4);
    put(a, 0, 10);
    for (let i = 0; i < 5; i++) put(b, i, <f32>i);
    puti(shape, 0, 5);
    puti(as, 0, 0);
    puti(bs, 0, 1);
    eltwise_binary(ELTWISE_SUB, a, b, y, 1, shape, as, bs, 0, 0, 0);
    for (let i = 0; i < 5; i++) expect(get(y, i)).toBe(<f32>10 - <f32>i);
  });

  it("accumulates a ragged buffer into another, and into itself", () => {
    const dst = memory.data(7 * 4);
    const src = memory.data(7 * 4);
    for (let i = 0; i < 7; i++) {
      put(dst, i, <f32>i);
      put(src, i, <f32>i * 10);
    }
    eltwise_accumulate(dst, src, 7);
    for (let i = 0; i < 7; i++) expect(get(dst, i)).toBe(<f32>i * 11);
    eltwise_accumulate(dst, dst, 7);
    expect(get(dst, 6)).toBe(132);
  });
});
