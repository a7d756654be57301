import { normalizeRows } from "../../assembly/distance";

function sumSquares(p: usize, len: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < len; i++) {
    const v = <f64>load<f32>(p + ((<usize>i) << 2));
    s += v * v;
  }
  return s;
}

describe("normalizeRows", () => {
  it("gives unit rows across the SIMD tail and keeps zero rows zero", () => {
    // Three rows of 7: a ragged row, a zero row (with a -0), a row of tiny values.
    const x = memory.data(3 * 7 * 4);
    const u = memory.data(3 * 7 * 4);
    for (let i = 0; i < 7; i++) {
      store<f32>(x + ((<usize>i) << 2), <f32>(i - 3) * 0.75);
      store<f32>(x + ((<usize>(7 + i)) << 2), i === 2 ? -0.0 : 0.0);
      store<f32>(x + ((<usize>(14 + i)) << 2), <f32>(i + 1) * 1e-30);
    }
    normalizeRows(x, u, 3, 7);
    expect(Math.abs(sumSquares(u, 7) - 1)).toBeLessThan(1e-6);
    expect(sumSquares(u + 7 * 4, 7)).toBe(0.0);
    // In f32, 1e-30 squared underflows; the f64 norm does not.
    expect(Math.abs(sumSquares(u + 14 * 4, 7) - 1)).toBeLessThan(1e-6);
    // Direction is kept: u = x / |x| with |x| = 0.75 * sqrt(28).
    expect(Math.abs(<f64>load<f32>(u) + 3 / Math.sqrt(28))).toBeLessThan(1e-7);
  });

  it("is exactly invariant under power-of-two scaling", () => {
    const x = memory.data(9 * 4);
    const y = memory.data(9 * 4);
    const ux = memory.data(9 * 4);
    const uy = memory.data(9 * 4);
    for (let i = 0; i < 9; i++) {
      const v = <f32>(i * i - 20) / 7;
      store<f32>(x + ((<usize>i) << 2), v);
      store<f32>(y + ((<usize>i) << 2), v * 1024);
    }
    normalizeRows(x, ux, 1, 9);
    normalizeRows(y, uy, 1, 9);
    for (let i = 0; i < 9; i++)
      expect(load<f32>(uy + ((<usize>i) << 2))).toBe(load<f32>(ux + ((<usize>i) << 2)));
  });
});
