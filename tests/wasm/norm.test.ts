import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import { conv2d } from "../../src/wasm/kernels/conv.ts";
import {
  type BatchNormParams,
  normAffineChannels,
  normAffineChannelsBuffers,
  normFoldBnIntoConv,
} from "../../src/wasm/kernels/norm.ts";
import * as convReference from "../../src/wasm/reference/conv.ts";
import * as reference from "../../src/wasm/reference/norm.ts";
import { f32Array, size } from "../helpers/arbitraries.ts";
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
