import { normalizeRows, sqEuclideanGram } from "../../assembly/distance";

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

/** sum_c (a[c] - b[c])^2 of two f32 rows, in f64. */
function directSq(a: usize, b: usize, cols: i32): f64 {
  let s: f64 = 0;
  for (let c = 0; c < cols; c++) {
    const d = <f64>load<f32>(a + ((<usize>c) << 2)) - <f64>load<f32>(b + ((<usize>c) << 2));
    s += d * d;
  }
  return s;
}

describe("sqEuclideanGram", () => {
  it("gives the distances of small integer rows exactly with slices of 2, 4 and 6 columns", () => {
    // 6 rows of 11: tiles 4x2, 4x1, 1x2, 1x1; odd last slices are zero-padded. Row 4 repeats row 1.
    const rows = 6;
    const cols = 11;
    const x = memory.data(rows * cols * 4);
    const d = memory.data(rows * rows * 8);
    const scratch = memory.data(rows * 12 * 8);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const src = r === 4 ? 1 : r;
        store<f32>(x + ((<usize>(r * cols + c)) << 2), <f32>(((src * 7 + c * 3) % 9) - 4));
      }
    }
    for (let s = 2; s <= 6; s += 2) {
      sqEuclideanGram(x, d, scratch, rows, cols, s);
      for (let i = 0; i < rows; i++) {
        for (let k = 0; k < rows; k++) {
          const got = load<f64>(d + ((<usize>(i * rows + k)) << 3));
          const want = directSq(x + ((<usize>(i * cols)) << 2), x + ((<usize>(k * cols)) << 2), cols);
          expect(got).toBe(want);
        }
      }
      expect(load<f64>(d + ((<usize>(1 * rows + 4)) << 3))).toBe(0.0);
    }
  });
});
