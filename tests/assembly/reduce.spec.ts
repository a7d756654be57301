import {
  reduce_channel_sum,
  reduce_col_sum,
  reduce_row_l2,
  reduce_row_log_softmax,
  reduce_row_softmax,
  reduce_row_sum,
} from "../../assembly/reduce";

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

  it("softmax of a uniform ragged row is 1/5 everywhere, in place; log-softmax of [0, 0] is -ln 2", () => {
    const x = memory.data(32);
    for (let i = 0; i < 5; i++) store<f32>(x + ((<usize>i) << 2), 7);
    reduce_row_softmax(x, x, 1, 5);
    for (let i = 0; i < 5; i++) expect(load<f32>(x + ((<usize>i) << 2))).toBe(<f32>0.2);
    store<f32>(x, 0);
    store<f32>(x + 4, 0);
    reduce_row_log_softmax(x, x, 1, 2);
    expect(load<f32>(x)).toBe(-Mathf.log(2));
  });

  it("sums each channel of an NCHW batch and each column of a ragged matrix", () => {
    // batch 2, channels 2, planeLen 5: x[k] = k + 1; channel 0 = 1..5 and 11..15, channel 1 = 6..10 and 16..20.
    const x = memory.data(80);
    for (let i = 0; i < 20; i++) store<f32>(x + ((<usize>i) << 2), <f32>(i + 1));
    const out = memory.data(32);
    reduce_channel_sum(x, out, 2, 2, 5);
    expect(load<f32>(out)).toBe(80.0);
    expect(load<f32>(out + 4)).toBe(130.0);
    // 4 x 5 matrix of the same values: column j sums j+1, j+6, j+11, j+16.
    reduce_col_sum(x, out, 4, 5);
    for (let j = 0; j < 5; j++) expect(load<f32>(out + ((<usize>j) << 2))).toBe(<f32>j * 4 + 34);
  });
});
