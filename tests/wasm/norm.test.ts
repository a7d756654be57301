import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import { conv2d } from "../../src/wasm/kernels/conv.ts";
import {
  type BatchNormParams,
  bnTrainBackward,
  bnTrainBackwardBuffers,
  bnTrainForward,
  channelAffineBackward,
  channelAffineBackwardBuffers,
  normAffineChannels,
  normAffineChannelsBuffers,
  normFoldBnIntoConv,
} from "../../src/wasm/kernels/norm.ts";
import * as convReference from "../../src/wasm/reference/conv.ts";
import * as reference from "../../src/wasm/reference/norm.ts";
import { f32Array, size } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";
import { assertBitExact } from "../helpers/exact.ts";

const w = await getWasm();

/** BN statistics of `channels` channels; variances in [0.01, 4] so that sqrt(var + eps) > 0. */
function batchNorm(channels: number): fc.Arbitrary<BatchNormParams> {
  return fc.record({
    gamma: f32Array(channels, 2),
    beta: f32Array(channels, 2),
    mean: f32Array(channels, 2),
    variance: f32Array(channels, 2).map((v) => v.map((x) => Math.abs(x) + 0.01)),
  });
}

const epsilon = fc.constantFrom(0, 1e-5, 1e-3, 0.1);

test("normFoldBnIntoConv is bit-exact with the reference on ragged sizes", () => {
  const arb = fc.tuple(size(9), size(40)).chain(([outChannels, perChannelLen]) =>
    fc.record({
      outChannels: fc.constant(outChannels),
      perChannelLen: fc.constant(perChannelLen),
      weight: f32Array(outChannels * perChannelLen),
      bias: f32Array(outChannels),
      bn: batchNorm(outChannels),
      eps: epsilon,
    }),
  );
  fc.assert(
    fc.property(arb, ({ outChannels, perChannelLen, weight, bias, bn, eps }) => {
      const got = normFoldBnIntoConv(w, weight, bias, outChannels, perChannelLen, bn, eps);
      const want = reference.normFoldBnIntoConv(
        weight,
        bias,
        outChannels,
        perChannelLen,
        bn.gamma,
        bn.beta,
        bn.mean,
        bn.variance,
        eps,
      );
      assertBitExact(got.weight, want.weight);
      return assertBitExact(got.bias, want.bias);
    }),
  );
});

test("normFoldBnIntoConv by hand: s = 1 / sqrt(3 + 1) = 0.5", () => {
  const bn = {
    gamma: Float32Array.of(1, 2),
    beta: Float32Array.of(0.25, -1),
    mean: Float32Array.of(1, 0),
    variance: Float32Array.of(3, 3),
  };
  const got = normFoldBnIntoConv(w, Float32Array.of(2, 4, -6, 1, 1, 1), Float32Array.of(5, 3), 2, 3, bn, 1);
  // Channel 0: s = 0.5, bias (5 - 1) * 0.5 + 0.25 = 2.25. Channel 1: s = 1, bias (3 - 0) * 1 - 1 = 2.
  assert.deepEqual(Array.from(got.weight), [1, 2, -3, 1, 1, 1]);
  assert.deepEqual(Array.from(got.bias), [2.25, 2]);
});

test("normFoldBnIntoConv without a bias folds as from a zero bias and leaves the inputs alone", () => {
  const weight = Float32Array.of(1, -2, 3);
  const bn = {
    gamma: Float32Array.of(4),
    beta: Float32Array.of(1),
    mean: Float32Array.of(0.5),
    variance: Float32Array.of(0),
  };
  const got = normFoldBnIntoConv(w, weight, undefined, 1, 3, bn, 4);
  // s = 4 / sqrt(0 + 4) = 2; bias = (0 - 0.5) * 2 + 1 = 0.
  assert.deepEqual(Array.from(got.weight), [2, -4, 6]);
  assert.deepEqual(Array.from(got.bias), [0]);
  assert.deepEqual(Array.from(weight), [1, -2, 3]);
});

test("folding plain gates (gamma = g, beta = mean = 0, var = 1, eps = 0) scales exactly by g", () => {
  const arb = fc.tuple(size(6), size(20)).chain(([outChannels, perChannelLen]) =>
    fc.record({
      outChannels: fc.constant(outChannels),
      perChannelLen: fc.constant(perChannelLen),
      weight: f32Array(outChannels * perChannelLen),
      bias: f32Array(outChannels),
      gates: f32Array(outChannels, 3),
    }),
  );
  fc.assert(
    fc.property(arb, ({ outChannels, perChannelLen, weight, bias, gates }) => {
      const bn = {
        gamma: gates,
        beta: new Float32Array(outChannels),
        mean: new Float32Array(outChannels),
        variance: new Float32Array(outChannels).fill(1),
      };
      const got = normFoldBnIntoConv(w, weight, bias, outChannels, perChannelLen, bn, 0);
      const wantWeight = weight.map((v, i) => Math.fround(v * gates[Math.floor(i / perChannelLen)]!));
      // bias*g + 0 turns a -0 product into +0; otherwise it is the product.
      const wantBias = bias.map((b, c) => Math.fround(b * gates[c]!) + 0);
      assertBitExact(got.weight, wantWeight);
      return assertBitExact(got.bias, wantBias);
    }),
  );
});

test("conv then BatchNormalization (inference) equals the folded conv", () => {
  const arb = fc
    .record({
      channels: fc.integer({ min: 1, max: 4 }),
      outChannels: fc.integer({ min: 1, max: 5 }),
      side: fc.integer({ min: 1, max: 9 }),
      kernel: fc.integer({ min: 1, max: 3 }),
      pad: fc.integer({ min: 0, max: 1 }),
      eps: epsilon,
    })
    .filter(({ side, kernel, pad }) => side + 2 * pad >= kernel)
    .chain((s) =>
      fc.record({
        s: fc.constant(s),
        x: f32Array(s.channels * s.side * s.side),
        weight: f32Array(s.outChannels * s.channels * s.kernel * s.kernel),
        bias: f32Array(s.outChannels),
        bn: batchNorm(s.outChannels),
      }),
    );
  fc.assert(
    fc.property(arb, ({ s, x, weight, bias, bn }) => {
      const spec = {
        batch: 1,
        channels: s.channels,
        height: s.side,
        width: s.side,
        outChannels: s.outChannels,
        kernelH: s.kernel,
        kernelW: s.kernel,
        pads: [s.pad, s.pad, s.pad, s.pad] as const,
        strides: [1, 1] as const,
        dilations: [1, 1] as const,
        groups: 1,
      };
      const perChannelLen = s.channels * s.kernel * s.kernel;
      // BN in f64 straight from the ONNX definition, applied to the exact (f64) conv output.
      const conv = convReference.conv2d(spec, x, weight, bias);
      const planeLen = conv.length / s.outChannels;
      const bnOut = conv.map((v, i) => {
        const c = Math.floor(i / planeLen);
        return ((v - bn.mean[c]!) / Math.sqrt(bn.variance[c]! + s.eps)) * bn.gamma[c]! + bn.beta[c]!;
      });
      const folded = normFoldBnIntoConv(w, weight, bias, s.outChannels, perChannelLen, bn, s.eps);
      const got = conv2d(w, spec, x, folded.weight, folded.bias);
      for (let i = 0; i < got.length; i++) {
        const c = Math.floor(i / planeLen);
        const scale = Math.abs(bn.gamma[c]! / Math.sqrt(bn.variance[c]! + s.eps));
        // Terms of size |w| |x| s <= 16 s, perChannelLen + 2 of them: a few f32 ulps each.
        const tol = 1e-5 * (16 * scale * (perChannelLen + 2) + Math.abs(bn.beta[c]!) + 1);
        if (!(Math.abs(got[i]! - bnOut[i]!) <= tol)) assert.fail(`index ${i}: ${got[i]} vs ${bnOut[i]}`);
      }
      return true;
    }),
  );
});

test("normAffineChannels is bit-exact with the reference on ragged sizes", () => {
  const arb = fc
    .tuple(fc.integer({ min: 0, max: 3 }), size(7), size(40))
    .chain(([batch, channels, planeLen]) =>
      fc.record({
        batch: fc.constant(batch),
        channels: fc.constant(channels),
        planeLen: fc.constant(planeLen),
        x: f32Array(batch * channels * planeLen),
        scale: f32Array(channels),
        shift: f32Array(channels),
      }),
    );
  fc.assert(
    fc.property(arb, ({ batch, channels, planeLen, x, scale, shift }) =>
      assertBitExact(
        normAffineChannels(w, x, batch, channels, planeLen, scale, shift),
        reference.normAffineChannels(x, batch, channels, planeLen, scale, shift),
      ),
    ),
  );
});

test("normAffineChannels by hand, and in place equals out of place", () => {
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
  const scale = Float32Array.of(2, -1);
  const shift = Float32Array.of(0.5, 10);
  // batch 1, channels 2, planeLen 5: channel 0 is 2x + 0.5, channel 1 is 10 - x.
  const want = [2.5, 4.5, 6.5, 8.5, 10.5, 4, 3, 2, 1, 0];
  assert.deepEqual(Array.from(normAffineChannels(w, x, 1, 2, 5, scale, shift)), want);
  const apart = withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const yb = arena.allocF32(10);
    normAffineChannelsBuffers(w, xb, yb, 1, 2, 5, arena.copyInF32(scale), arena.copyInF32(shift));
    return { x: arena.viewF32(xb).slice(), y: arena.viewF32(yb).slice() };
  });
  assert.deepEqual(Array.from(apart.y), want);
  assert.deepEqual(Array.from(apart.x), Array.from(x));
});

test("norm wrappers refuse bad sizes, a bad epsilon and a partial overlap, naming the argument", () => {
  const code = { code: "INVALID_ARGUMENT" };
  const bn = {
    gamma: new Float32Array(2),
    beta: new Float32Array(2),
    mean: new Float32Array(2),
    variance: new Float32Array(1),
  };
  const weight = new Float32Array(6);
  assert.throws(() => normFoldBnIntoConv(w, new Float32Array(5), undefined, 2, 3, bn, 0), {
    ...code,
    message: /normFoldBnIntoConv weight: expected 6/,
  });
  assert.throws(() => normFoldBnIntoConv(w, weight, new Float32Array(3), 2, 3, bn, 0), {
    ...code,
    message: /normFoldBnIntoConv bias/,
  });
  assert.throws(() => normFoldBnIntoConv(w, weight, undefined, 2, 3, bn, 0), {
    ...code,
    message: /variance/,
  });
  assert.throws(
    () => normFoldBnIntoConv(w, weight, undefined, 2, 3, { ...bn, variance: new Float32Array(2) }, -1),
    { ...code, message: /epsilon/ },
  );
  assert.throws(
    () => normAffineChannels(w, new Float32Array(5), 1, 2, 3, new Float32Array(2), new Float32Array(2)),
    {
      ...code,
      message: /normAffineChannels x/,
    },
  );
  assert.throws(
    () => normAffineChannels(w, new Float32Array(6), 1, 2, 3, new Float32Array(1), new Float32Array(2)),
    {
      ...code,
      message: /normAffineChannels scale/,
    },
  );
  withArena(w, (arena) => {
    const buf = arena.allocF32(8);
    const ones = arena.copyInF32(Float32Array.of(1));
    assert.throws(
      () =>
        normAffineChannelsBuffers(
          w,
          { ptr: buf.ptr, length: 6 },
          { ptr: buf.ptr + 8, length: 6 },
          1,
          1,
          6,
          ones,
          ones,
        ),
      { ...code, message: /partly overlaps/ },
    );
  });
});

// ---- Training: BatchNormalization with batch statistics, and the per-channel affine map's backward.

/** A small NCHW case with ragged planes (not multiples of 4) and at least one value per channel. */
function nchwCase(maxBatch = 3, maxChannels = 5, maxPlane = 23) {
  return fc
    .tuple(
      fc.integer({ min: 1, max: maxBatch }),
      fc.integer({ min: 0, max: maxChannels }),
      fc.integer({ min: 1, max: maxPlane }),
    )
    .chain(([batch, channels, planeLen]) =>
      fc.record({
        batch: fc.constant(batch),
        channels: fc.constant(channels),
        planeLen: fc.constant(planeLen),
        x: f32Array(batch * channels * planeLen),
        dy: f32Array(batch * channels * planeLen),
        gamma: f32Array(channels),
        beta: f32Array(channels),
        eps: fc.constantFrom(1e-3, 1e-2, 0.1, 1),
      }),
    );
}

/** Assert |got[i] - want[i]| <= bound(i) for every i, naming the first index that is off. */
function assertWithin(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: (i: number) => number,
  what: string,
): true {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const tol = bound(i);
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
      assert.fail(
        `${what} index ${i}: got ${got[i]}, expected ${want[i]} (|diff| ${Math.abs(got[i]! - want[i]!)} > ${tol})`,
      );
    }
  }
  return true;
}

const F32_EPS = 2 ** -23;
/** The smallest subnormal f32: the rounding step of f32 results near 0. */
const F32_MIN = 2 ** -149;

/**
 * Assert that bnTrainForward (WASM) matches the f64 reference: the statistics to f32 rounding plus the
 * f64 summation-order error (M * 2^-50 of the sums of magnitudes: summing f32 values far apart in
 * size, the kernel's lane order and the reference's sequential order may round differently), and y to
 * the four f32 roundings of (x - mean) * s + beta.
 */
function checkBnTrainForward(
  batch: number,
  channels: number,
  planeLen: number,
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
): true {
  const got = bnTrainForward(w, x, batch, channels, planeLen, gamma, beta, eps);
  const want = reference.bnTrainForward(x, batch, channels, planeLen, gamma, beta, Math.fround(eps));
  const count = batch * planeLen;
  const order = count * 2 ** -50;
  const meanAbs = new Float64Array(channels);
  const sqAbs = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / planeLen) % channels;
    meanAbs[c] = meanAbs[c]! + Math.abs(x[i]!) / count;
    sqAbs[c] = sqAbs[c]! + (Math.abs(x[i]!) + Math.abs(want.mean[c]!)) ** 2 / count;
  }
  assertWithin(
    got.mean,
    want.mean,
    (c) => 2 * F32_EPS * Math.abs(want.mean[c]!) + order * meanAbs[c]! + F32_MIN,
    "mean",
  );
  assertWithin(
    got.variance,
    want.variance,
    (c) => 2 * F32_EPS * Math.abs(want.variance[c]!) + order * sqAbs[c]! + F32_MIN,
    "variance",
  );
  assertWithin(got.invStd, want.invStd, (c) => 2 * F32_EPS * Math.abs(want.invStd[c]!), "invStd");
  return assertWithin(
    got.y,
    want.y,
    (i) => {
      const c = Math.floor(i / planeLen) % channels;
      const s = Math.abs(want.invStd[c]! * gamma[c]!);
      // One rounding each of the mean, x - mean, s, the product and the sum.
      const terms = s * (Math.abs(x[i]!) + Math.abs(want.mean[c]!) + order * meanAbs[c]!);
      return 4 * F32_EPS * (terms + Math.abs(beta[c]!)) + s * order * meanAbs[c]! + 1e-30;
    },
    "y",
  );
}

test("bnTrainForward matches the f64 reference on ragged NCHW shapes", () => {
  fc.assert(
    fc.property(nchwCase(), ({ batch, channels, planeLen, x, gamma, beta, eps }) =>
      checkBnTrainForward(batch, channels, planeLen, x, gamma, beta, eps),
    ),
  );
});

test("bnTrainForward: a mean lost to cancellation in one summation order is within the order tolerance", () => {
  // Regression (a rare property failure): the kernel sums (1e-20 + 1e-20) + (4 + -4) = 2e-20, the
  // reference ((1e-20 + 1e-20) + 4) + -4 = 0; both are right to f64 rounding of sum |x| = 8.
  const x = Float32Array.of(1e-20, 1e-20, 4, -4);
  checkBnTrainForward(1, 1, 4, x, Float32Array.of(1), Float32Array.of(0), 1e-3);
  const got = bnTrainForward(w, x, 1, 1, 4, Float32Array.of(1), Float32Array.of(0), 1e-3);
  assert.equal(got.mean[0], Math.fround(5e-21));
});

test("bnTrainForward by hand, and with one value per channel (variance 0)", () => {
  // Channel 0: [1, 3, 5, 7] over batch 2 x planeLen 2: mean 4, variance (9+1+1+9)/4 = 5.
  // Channel 1: [2, 2, 2, 2]: mean 2, variance 0, invStd = 1/sqrt(0.25) = 2, y = beta.
  const x = Float32Array.of(1, 3, 2, 2, 5, 7, 2, 2);
  const got = bnTrainForward(w, x, 2, 2, 2, Float32Array.of(1, 3), Float32Array.of(0, -1), 0.25);
  assert.deepEqual(Array.from(got.mean), [4, 2]);
  assert.deepEqual(Array.from(got.variance), [5, 0]);
  assert.deepEqual(Array.from(got.invStd), [Math.fround(1 / Math.sqrt(5.25)), 2]);
  const is = Math.fround(1 / Math.sqrt(5.25));
  const want = [-3, -1, 0, 0, 1, 3, 0, 0].map((d, i) => (i % 4 < 2 ? Math.fround(d * is) : -1));
  assert.deepEqual(Array.from(got.y), want);
  const one = bnTrainForward(
    w,
    Float32Array.of(5, -2),
    1,
    2,
    1,
    Float32Array.of(2, 2),
    Float32Array.of(0.5, 0),
    1e-5,
  );
  assert.deepEqual(Array.from(one.mean), [5, -2]);
  assert.deepEqual(Array.from(one.variance), [0, 0]);
  assert.deepEqual(Array.from(one.y), [0.5, 0]);
});

/** sum_i g[i] * y[i] of the f64 training forward reference. */
function bnLoss(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  s: {
    batch: number;
    channels: number;
    planeLen: number;
    gamma: ArrayLike<number>;
    beta: ArrayLike<number>;
    eps: number;
  },
): number {
  const { y } = reference.bnTrainForward(x, s.batch, s.channels, s.planeLen, s.gamma, s.beta, s.eps);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += g[i]! * y[i]!;
  return sum;
}

/** Central difference of f at v[i] (v is copied). */
function centralDiff(f: (v: Float64Array) => number, v: ArrayLike<number>, i: number, h: number): number {
  const plus = Float64Array.from(v);
  const minus = Float64Array.from(v);
  plus[i] = plus[i]! + h;
  minus[i] = minus[i]! - h;
  return (f(plus) - f(minus)) / (2 * h);
}

test("bnTrainBackward reference = finite differences of sum(g*y) through the f64 forward (x, gamma, beta)", () => {
  const h = 1e-6;
  fc.assert(
    fc.property(nchwCase(2, 3, 7), (s) => {
      const fwd = reference.bnTrainForward(s.x, s.batch, s.channels, s.planeLen, s.gamma, s.beta, s.eps);
      const back = reference.bnTrainBackward(
        s.x,
        s.dy,
        s.batch,
        s.channels,
        s.planeLen,
        s.gamma,
        fwd.mean,
        fwd.invStd,
      );
      const tol = (a: number) => 1e-5 * (1 + Math.abs(a));
      for (let i = 0; i < s.x.length; i++) {
        const fd = centralDiff((x) => bnLoss(x, s.dy, s), s.x, i, h);
        if (!(Math.abs(fd - back.dx[i]!) <= tol(fd)))
          assert.fail(`dx[${i}]: backward ${back.dx[i]}, finite differences ${fd}`);
      }
      for (let c = 0; c < s.channels; c++) {
        const fg = centralDiff((gamma) => bnLoss(s.x, s.dy, { ...s, gamma }), s.gamma, c, h);
        const fb = centralDiff((beta) => bnLoss(s.x, s.dy, { ...s, beta }), s.beta, c, h);
        if (!(Math.abs(fg - back.dGamma[c]!) <= tol(fg)))
          assert.fail(`dGamma[${c}]: ${back.dGamma[c]} vs ${fg}`);
        if (!(Math.abs(fb - back.dBeta[c]!) <= tol(fb)))
          assert.fail(`dBeta[${c}]: ${back.dBeta[c]} vs ${fb}`);
      }
      return true;
    }),
  );
});

test("bnTrainBackward matches the f64 reference on ragged NCHW shapes (statistics from bnTrainForward)", () => {
  fc.assert(
    fc.property(nchwCase(), ({ batch, channels, planeLen, x, dy, gamma, beta, eps }) => {
      const stats = bnTrainForward(w, x, batch, channels, planeLen, gamma, beta, eps);
      const got = bnTrainBackward(w, x, dy, batch, channels, planeLen, gamma, stats);
      const want = reference.bnTrainBackward(
        x,
        dy,
        batch,
        channels,
        planeLen,
        gamma,
        stats.mean,
        stats.invStd,
      );
      const count = batch * planeLen;
      const xhat = (i: number, c: number) => (x[i]! - stats.mean[c]!) * stats.invStd[c]!;
      const sums = (c: number) => {
        let sb = 0;
        let sg = 0;
        for (let n = 0; n < batch; n++) {
          for (let p = 0; p < planeLen; p++) {
            const i = (n * channels + c) * planeLen + p;
            sb += Math.abs(dy[i]!);
            sg += Math.abs(dy[i]! * xhat(i, c));
          }
        }
        return { sb, sg };
      };
      const abs = Array.from({ length: channels }, (_, c) => sums(c));
      assertWithin(got.dBeta, want.dBeta, (c) => 2 * F32_EPS * abs[c]!.sb + 1e-30, "dBeta");
      assertWithin(got.dGamma, want.dGamma, (c) => 2 * F32_EPS * abs[c]!.sg + 1e-30, "dGamma");
      return assertWithin(
        got.dx,
        want.dx,
        (i) => {
          const c = Math.floor(i / planeLen) % channels;
          const k = Math.abs(gamma[c]! * stats.invStd[c]!);
          const h =
            Math.abs(xhat(i, c)) + F32_EPS * (Math.abs(x[i]!) + Math.abs(stats.mean[c]!)) * stats.invStd[c]!;
          const terms = Math.abs(dy[i]!) + abs[c]!.sb / count + (h * abs[c]!.sg) / count;
          return 8 * F32_EPS * k * terms + 1e-30;
        },
        "dx",
      );
    }),
  );
});

test("bnTrainBackward in place (dx = dy) equals out of place; a constant dy gives dBeta = M and dx ~ 0", () => {
  const [batch, channels, planeLen] = [2, 3, 5];
  const x = Float32Array.from({ length: 30 }, (_, i) => Math.sin(i) * 3);
  const dy = Float32Array.from({ length: 30 }, (_, i) => Math.cos(i * 1.7));
  const gamma = Float32Array.of(1, -0.5, 2);
  const stats = bnTrainForward(w, x, batch, channels, planeLen, gamma, new Float32Array(3), 1e-5);
  const inPlace = bnTrainBackward(w, x, dy, batch, channels, planeLen, gamma, stats);
  const apart = withArena(w, (arena) => {
    const dyb = arena.copyInF32(dy);
    const dx = arena.allocF32(30);
    const dGamma = arena.allocF32(3);
    const dBeta = arena.allocF32(3);
    bnTrainBackwardBuffers(
      w,
      arena.copyInF32(x),
      dyb,
      dx,
      batch,
      channels,
      planeLen,
      arena.copyInF32(gamma),
      arena.copyInF32(stats.mean),
      arena.copyInF32(stats.invStd),
      dGamma,
      dBeta,
    );
    return {
      dx: arena.viewF32(dx).slice(),
      dy: arena.viewF32(dyb).slice(),
      dGamma: arena.viewF32(dGamma).slice(),
    };
  });
  assertBitExact(apart.dx, inPlace.dx);
  assertBitExact(apart.dGamma, inPlace.dGamma);
  assertBitExact(apart.dy, dy);
  // dy = 1 everywhere: dBeta = M, dGamma = sum xhat ~ 0, dx = k * ((1 - 1) - xhat * b) with b ~ 0.
  const flat = bnTrainBackward(w, x, new Float32Array(30).fill(1), batch, channels, planeLen, gamma, stats);
  assert.deepEqual(Array.from(flat.dBeta), [10, 10, 10]);
  for (const v of flat.dx) assert.ok(Math.abs(v) < 1e-5, `dx ${v}`);
});

test("channelAffineBackward matches the f64 reference; dx is exactly dy * scale", () => {
  fc.assert(
    fc.property(nchwCase(), ({ batch, channels, planeLen, x, dy, gamma }) => {
      const got = channelAffineBackward(w, x, dy, batch, channels, planeLen, gamma);
      const want = reference.channelAffineBackward(x, dy, batch, channels, planeLen, gamma);
      const m = batch * planeLen;
      assertBitExact(
        got.dx,
        want.dx.map((v) => Math.fround(v)),
      );
      assertClose(got.dShift, want.dShift, { reductionLen: m, scale: 4 });
      return assertClose(got.dScale, want.dScale, { reductionLen: m, scale: 16 });
    }),
  );
});

test("channelAffineBackward reference = finite differences of sum(g*(x*scale + shift))", () => {
  const h = 1e-6;
  fc.assert(
    fc.property(nchwCase(2, 3, 7), ({ batch, channels, planeLen, x, dy, gamma, beta }) => {
      const loss = (xv: ArrayLike<number>, scale: ArrayLike<number>, shift: ArrayLike<number>) => {
        let sum = 0;
        for (let i = 0; i < xv.length; i++) {
          const c = Math.floor(i / planeLen) % channels;
          sum += dy[i]! * (xv[i]! * scale[c]! + shift[c]!);
        }
        return sum;
      };
      const back = reference.channelAffineBackward(x, dy, batch, channels, planeLen, gamma);
      const close = (a: number, b: number, what: string) => {
        if (!(Math.abs(a - b) <= 1e-6 * (1 + Math.abs(b))))
          assert.fail(`${what}: backward ${a}, finite differences ${b}`);
      };
      for (let i = 0; i < x.length; i++)
        close(
          back.dx[i]!,
          centralDiff((v) => loss(v, gamma, beta), x, i, h),
          `dx[${i}]`,
        );
      for (let c = 0; c < channels; c++) {
        close(
          back.dScale[c]!,
          centralDiff((v) => loss(x, v, beta), gamma, c, h),
          `dScale[${c}]`,
        );
        close(
          back.dShift[c]!,
          centralDiff((v) => loss(x, gamma, v), beta, c, h),
          `dShift[${c}]`,
        );
      }
      return true;
    }),
  );
});

test("channelAffineBackward by hand; without dx it leaves dy alone and writes only dScale, dShift", () => {
  // batch 2, channels 1, planeLen 3: dShift = sum dy = 6, dScale = sum dy*x = 1*1+2*2+3*3-1*1+0+1*2 = 15.
  const x = Float32Array.of(1, 2, 3, 1, 0, 2);
  const dy = Float32Array.of(1, 2, 3, -1, 0, 1);
  const got = channelAffineBackward(w, x, dy, 2, 1, 3, Float32Array.of(-2));
  assert.deepEqual(Array.from(got.dShift), [6]);
  assert.deepEqual(Array.from(got.dScale), [15]);
  assert.deepEqual(Array.from(got.dx), [-2, -4, -6, 2, -0, -2]);
  const noDx = withArena(w, (arena) => {
    const dyb = arena.copyInF32(dy);
    const dScale = arena.allocF32(1);
    const dShift = arena.allocF32(1);
    channelAffineBackwardBuffers(
      w,
      arena.copyInF32(x),
      dyb,
      undefined,
      2,
      1,
      3,
      arena.copyInF32(Float32Array.of(-2)),
      dScale,
      dShift,
    );
    return {
      dy: arena.viewF32(dyb).slice(),
      dScale: arena.viewF32(dScale)[0],
      dShift: arena.viewF32(dShift)[0],
    };
  });
  assert.deepEqual(noDx, { dy, dScale: 15, dShift: 6 });
});

test("training norm wrappers refuse empty channels, bad sizes, a bad epsilon and overlaps", () => {
  const code = { code: "INVALID_ARGUMENT" };
  const one = Float32Array.of(1);
  assert.throws(() => bnTrainForward(w, new Float32Array(0), 0, 1, 4, one, one, 1e-5), {
    ...code,
    message: /bnTrainForward: batch statistics need at least one value per channel/,
  });
  assert.throws(() => bnTrainForward(w, new Float32Array(3), 1, 1, 4, one, one, 1e-5), {
    ...code,
    message: /bnTrainForward x: expected 4/,
  });
  assert.throws(() => bnTrainForward(w, new Float32Array(4), 1, 1, 4, one, new Float32Array(2), 1e-5), {
    ...code,
    message: /bnTrainForward beta/,
  });
  assert.throws(() => bnTrainForward(w, new Float32Array(4), 1, 1, 4, one, one, -1), {
    ...code,
    message: /epsilon/,
  });
  assert.throws(
    () =>
      bnTrainBackward(w, new Float32Array(4), new Float32Array(3), 1, 1, 4, one, { mean: one, invStd: one }),
    {
      ...code,
      message: /bnTrainBackward dy/,
    },
  );
  assert.throws(() => channelAffineBackward(w, new Float32Array(4), new Float32Array(4), 1, 2, 2, one), {
    ...code,
    message: /channelAffineBackward scale/,
  });
  withArena(w, (arena) => {
    const buf = arena.allocF32(12);
    const c1 = () => arena.allocF32(1);
    const part = { ptr: buf.ptr + 8, length: 4 };
    const x = { ptr: buf.ptr, length: 4 };
    assert.throws(
      () =>
        bnTrainBackwardBuffers(
          w,
          arena.allocF32(4),
          { ptr: buf.ptr, length: 4 },
          part,
          1,
          1,
          4,
          c1(),
          c1(),
          c1(),
          c1(),
          c1(),
        ),
      { ...code, message: /partly overlaps dy/ },
    );
    assert.throws(
      () => channelAffineBackwardBuffers(w, x, arena.allocF32(4), part, 1, 1, 4, c1(), c1(), c1()),
      {
        ...code,
        message: /dx overlaps x/,
      },
    );
  });
});
