import {
  ACT_CLIP,
  ACT_HARD_SWISH,
  ACT_LEAKY_RELU,
  ACT_RELU,
  ACT_TANH,
  act_backward,
  act_bias_rows,
  actF32,
  hardSwishF32,
  sigmoidF32,
} from "../../assembly/act";

// The scalar helpers are shared with other kernel families (TS reaches only the exports), so their
// edge cases are checked here.

function put(ptr: usize, i: i32, v: f32): void {
  store<f32>(ptr + ((<usize>i) << 2), v);
}

function get(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

describe("act", () => {
  it("sigmoid is exact at 0 and saturates without NaN at +-Inf and huge inputs", () => {
    expect(sigmoidF32(0)).toBe(0.5);
    expect(sigmoidF32(Infinity)).toBe(1.0);
    expect(sigmoidF32(-Infinity)).toBe(0.0);
    expect(sigmoidF32(1e30)).toBe(1.0);
    expect(sigmoidF32(-1e30)).toBe(0.0);
    // NaN: exponent all ones, mantissa non-zero.
    expect((reinterpret<u32>(sigmoidF32(NaN)) & 0x7fffffff) > 0x7f800000).toBe(true);
  });

  it("hard swish is x * clamp(x/6 + 0.5): 0 below -3, x above 3", () => {
    expect(hardSwishF32(-4)).toBe(-0.0);
    expect(hardSwishF32(3)).toBe(3.0);
    expect(hardSwishF32(10)).toBe(10.0);
    expect(actF32(0, ACT_HARD_SWISH, 0, 0)).toBe(0.0);
    expect(actF32(-2, ACT_LEAKY_RELU, 0.5, 0)).toBe(-1.0);
  });

  it("act_bias_rows adds the row bias then applies relu, ragged rows", () => {
    const y = memory.data(2 * 5 * 4);
    const bias = memory.data(8);
    for (let i = 0; i < 10; i++) put(y, i, <f32>(i - 5));
    put(bias, 0, 1);
    put(bias, 1, -6);
    act_bias_rows(y, 2, 5, bias, ACT_RELU, 0, 0);
    // Row 0: -5..-1 plus 1 is -4..0; row 1: 0..4 minus 6 is -6..-2: relu gives 0 everywhere.
    for (let i = 0; i < 5; i++) expect(get(y, i)).toBe(0.0);
    for (let i = 5; i < 10; i++) expect(get(y, i)).toBe(0.0);
    put(y, 0, 2);
    put(y, 9, 8);
    act_bias_rows(y, 2, 5, 0, ACT_RELU, 0, 0);
    expect(get(y, 0)).toBe(2.0);
    expect(get(y, 9)).toBe(8.0);
  });
});

describe("act backward", () => {
  it("relu, clip and hard swish at their kinks, SIMD body and scalar tail, in place", () => {
    const x = memory.data(5 * 4);
    const dy = memory.data(5 * 4);
    const xs: f32[] = [-3, 0, 1, 3, 6];
    for (let i = 0; i < 5; i++) {
      put(x, i, xs[i]);
      put(dy, i, 3);
    }
    act_backward(x, dy, dy, 5, ACT_RELU, 0, 0);
    const relu: f32[] = [0, 0, 3, 3, 3];
    for (let i = 0; i < 5; i++) expect(get(dy, i)).toBe(relu[i]);
    act_backward(x, dy, dy, 5, ACT_CLIP, 0, 3); // 0 < x < 3 only
    const clip: f32[] = [0, 0, 3, 0, 0];
    for (let i = 0; i < 5; i++) expect(get(dy, i)).toBe(clip[i]);
    for (let i = 0; i < 5; i++) put(dy, i, 3);
    act_backward(x, dy, dy, 5, ACT_HARD_SWISH, 0, 0);
    const hs: f32[] = [-1.5, 1.5, 3 * (<f32>1 / 3 + 0.5), 4.5, 3];
    for (let i = 0; i < 5; i++) expect(get(dy, i)).toBe(hs[i]);
  });

  it("tanh backward is 1 at 0 and tiny but not 0 at 20", () => {
    const x = memory.data(8);
    const dy = memory.data(8);
    put(x, 0, 0);
    put(x, 1, 20);
    put(dy, 0, 1);
    put(dy, 1, 1);
    const dx = memory.data(8);
    act_backward(x, dy, dx, 2, ACT_TANH, 0, 0);
    expect(get(dx, 0)).toBe(1);
    expect(get(dx, 1) > 0).toBe(true);
  });
});
