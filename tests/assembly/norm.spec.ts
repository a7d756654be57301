import { norm_affine_channels, norm_fold_bn_into_conv } from "../../assembly/norm";

function at(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

function put(ptr: usize, values: f32[]): void {
  for (let i = 0; i < values.length; i++) store<f32>(ptr + ((<usize>i) << 2), values[i]);
}

describe("norm", () => {
  it("folds a BN with s = 1 / sqrt(3 + 1) = 0.5 into a 1 x 5 filter and its bias", () => {
    const w = memory.data(20);
    put(w, [2, 4, -6, 8, 10]);
    const bias = memory.data(4);
    put(bias, [5]);
    const gamma = memory.data(4);
    put(gamma, [1]);
    const beta = memory.data(4);
    put(beta, [0.25]);
    const mean = memory.data(4);
    put(mean, [1]);
    const variance = memory.data(4);
    put(variance, [3]);
    norm_fold_bn_into_conv(w, bias, 1, 5, gamma, beta, mean, variance, 1);
    const want: f32[] = [1, 2, -3, 4, 5];
    for (let k = 0; k < 5; k++) expect(at(w, k)).toBe(want[k]);
    expect(at(bias, 0)).toBe(2.25); // (5 - 1) * 0.5 + 0.25
  });

  it("applies a per-channel affine map in place", () => {
    const x = memory.data(40);
    put(x, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const scale = memory.data(8);
    put(scale, [2, -1]);
    const shift = memory.data(8);
    put(shift, [0.5, 10]);
    norm_affine_channels(x, x, 1, 2, 5, scale, shift);
    const want: f32[] = [2.5, 4.5, 6.5, 8.5, 10.5, 4, 3, 2, 1, 0];
    for (let k = 0; k < 10; k++) expect(at(x, k)).toBe(want[k]);
  });
});
