import {
  pool_avg_2d,
  pool_avg_2d_backward,
  pool_global_avg,
  pool_global_avg_backward,
  pool_global_max_backward,
  pool_max_2d,
  pool_max_2d_backward,
} from "../../assembly/pool";

function put(ptr: usize, i: i32, v: f32): void {
  store<f32>(ptr + ((<usize>i) << 2), v);
}

function get(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

describe("pool", () => {
  it("max 2x2 stride 2 over a 4 x 10 plane (SIMD interior for stride 2, scalar tail)", () => {
    const x = memory.data(40 * 4);
    for (let i = 0; i < 40; i++) put(x, i, <f32>i);
    const y = memory.data(10 * 4);
    pool_max_2d(x, y, 1, 4, 10, 2, 2, 2, 2, 0, 0, 1, 1, 2, 5);
    // Window (oh, ow) ends at row 2*oh+1, column 2*ow+1: value 10*(2*oh+1) + 2*ow + 1.
    for (let oh = 0; oh < 2; oh++) {
      for (let ow = 0; ow < 5; ow++) {
        const want: i32 = 10 * (2 * oh + 1) + 2 * ow + 1;
        expect(get(y, oh * 5 + ow)).toBe(<f32>want);
      }
    }
  });

  it("average 3x3 with padding 1: corner divides by 4 in-image or 9 with count_include_pad", () => {
    const x = memory.data(9 * 4);
    for (let i = 0; i < 9; i++) put(x, i, <f32>(i + 1));
    const y = memory.data(9 * 4);
    pool_avg_2d(x, y, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, 0);
    expect(get(y, 0)).toBe(<f32>(12.0 / 4.0)); // 1 + 2 + 4 + 5
    expect(get(y, 4)).toBe(5.0); // the centre: 45 / 9
    pool_avg_2d(x, y, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, 1);
    expect(get(y, 0)).toBe(<f32>12 / <f32>9);
  });

  it("global average of a ragged plane", () => {
    const x = memory.data(7 * 4);
    for (let i = 0; i < 7; i++) put(x, i, <f32>(i + 1));
    const y = memory.data(4);
    pool_global_avg(x, y, 1, 7);
    expect(get(y, 0)).toBe(4.0);
  });
});

describe("pool backward", () => {
  it("max 2x2 stride 2: each output's gradient lands on its window's last (largest) element", () => {
    const x = memory.data(16 * 4);
    for (let i = 0; i < 16; i++) put(x, i, <f32>i);
    const dy = memory.data(4 * 4);
    for (let i = 0; i < 4; i++) put(dy, i, <f32>(i + 1));
    const dx = memory.data(16 * 4);
    for (let i = 0; i < 16; i++) put(dx, i, 99); // the kernel zeroes dx
    pool_max_2d_backward(x, dy, dx, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2);
    for (let i = 0; i < 16; i++) {
      const want: f32 = i === 5 ? 1 : i === 7 ? 2 : i === 13 ? 3 : i === 15 ? 4 : 0;
      expect(get(dx, i)).toBe(want);
    }
  });

  it("average 3x3 pad 1 on a 3x3 plane: the centre gets every output's share", () => {
    const dy = memory.data(9 * 4);
    for (let i = 0; i < 9; i++) put(dy, i, 36);
    const dx = memory.data(9 * 4);
    pool_avg_2d_backward(dy, dx, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3, 1);
    // count_include_pad: every window divides by 9, the centre is in all 9 windows.
    expect(get(dx, 4)).toBe(36);
    expect(get(dx, 0)).toBe(16); // in 4 windows
  });

  it("global average and max backward on a ragged plane", () => {
    const x = memory.data(7 * 4);
    for (let i = 0; i < 7; i++) put(x, i, i === 3 ? <f32>10 : <f32>i);
    const dy = memory.data(4);
    put(dy, 0, 14);
    const dx = memory.data(7 * 4);
    pool_global_avg_backward(dy, dx, 1, 7);
    for (let i = 0; i < 7; i++) expect(get(dx, i)).toBe(2);
    pool_global_max_backward(x, dy, dx, 1, 7);
    for (let i = 0; i < 7; i++) expect(get(dx, i)).toBe(i === 3 ? <f32>14 : <f32>0);
  });
});
