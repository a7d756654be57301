import {
  ACT_HARD_SWISH,
  ACT_LEAKY_RELU,
  ACT_RELU,
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
