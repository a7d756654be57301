import { reduce_row_l2, reduce_row_sum } from "../../assembly/reduce";

describe("reduce", () => {
  it("sums a ragged row in the fixed lane order", () => {
    const x = memory.data(32);
    for (let i = 0; i < 7; i++) store<f32>(x + ((<usize>i) << 2), <f32>(i + 1));
    const out = memory.data(8);
    reduce_row_sum(x, out, 1, 7);
    expect(load<f32>(out)).toBe(28.0);
  });

  it("gives 0 for an empty row", () => {
    const x = memory.data(16);
    const out = memory.data(8);
    reduce_row_l2(x, out, 1, 0);
    expect(load<f32>(out)).toBe(0.0);
  });
});
