import {
  norm_affine_channels,
  norm_bn_train_backward,
  norm_bn_train_forward,
  norm_channel_affine_backward,
  norm_fold_bn_into_conv,
} from "../../assembly/norm";

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

  it("normalises with batch statistics: channel [1, 3, 5, 7] has mean 4 and biased variance 5", () => {
    // batch 2, channels 2, planeLen 2; channel 1 is constant [2, 2, 2, 2] (variance 0).
    const x = memory.data(32);
    put(x, [1, 3, 2, 2, 5, 7, 2, 2]);
    const y = memory.data(32);
    const gamma = memory.data(8);
    put(gamma, [1, 3]);
    const beta = memory.data(8);
    put(beta, [0, -1]);
    const mean = memory.data(8);
    const variance = memory.data(8);
    const invStd = memory.data(8);
    norm_bn_train_forward(x, y, gamma, beta, mean, variance, invStd, 2, 2, 2, 0.25);
    expect(at(mean, 0)).toBe(4);
    expect(at(mean, 1)).toBe(2);
    expect(at(variance, 0)).toBe(5);
    expect(at(variance, 1)).toBe(0);
    expect(at(invStd, 1)).toBe(2); // 1 / sqrt(0 + 0.25)
    const is = <f32>(1 / Math.sqrt(5.25));
    expect(at(invStd, 0)).toBe(is);
    expect(at(y, 0)).toBe(<f32>-3 * is);
    expect(at(y, 5)).toBe(<f32>3 * is);
    expect(at(y, 3)).toBe(-1); // (2 - 2) * 6 + (-1)
  });

  it("BN backward with dy = 1 gives dBeta = M and dx = 0, in place", () => {
    const x = memory.data(32);
    put(x, [1, 3, 5, 7, 2, 4, 6, 8]);
    const dy = memory.data(32);
    put(dy, [1, 1, 1, 1, 1, 1, 1, 1]);
    const gamma = memory.data(4);
    put(gamma, [2]);
    const mean = memory.data(4);
    put(mean, [4.5]);
    const invStd = memory.data(4);
    put(invStd, [0.5]);
    const dGamma = memory.data(4);
    const dBeta = memory.data(4);
    norm_bn_train_backward(x, dy, gamma, mean, invStd, dy, dGamma, dBeta, 1, 1, 8);
    expect(at(dBeta, 0)).toBe(8);
    expect(at(dGamma, 0)).toBe(0); // sum of (x - 4.5) * 0.5 over 1..8 is 0
    for (let k = 0; k < 8; k++) expect(at(dy, k)).toBe(0);
  });

  it("channel affine backward sums dy and dy*x per channel; dxPtr = 0 skips dx", () => {
    const x = memory.data(24);
    put(x, [1, 2, 3, 1, 0, 2]);
    const dy = memory.data(24);
    put(dy, [1, 2, 3, -1, 0, 1]);
    const scale = memory.data(4);
    put(scale, [-2]);
    const dScale = memory.data(4);
    const dShift = memory.data(4);
    norm_channel_affine_backward(x, dy, scale, 0, dScale, dShift, 2, 1, 3);
    expect(at(dShift, 0)).toBe(6);
    expect(at(dScale, 0)).toBe(15);
    expect(at(dy, 0)).toBe(1);
    norm_channel_affine_backward(x, dy, scale, dy, dScale, dShift, 2, 1, 3);
    expect(at(dy, 2)).toBe(-6);
    expect(at(dy, 5)).toBe(-2);
  });
});
