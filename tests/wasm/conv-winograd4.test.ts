import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, kernel } from "../../src/wasm/instance.ts";
import type { Activation } from "../../src/wasm/kernels/act.ts";
import {
  convWinograd4Filter,
  convWinograd4InputPacked,
  convWinograd4Output,
  type WinogradTiles,
  winograd4PadLen,
  winograd4TileCount,
} from "../../src/wasm/kernels/conv.ts";
import { gemm } from "../../src/wasm/kernels/gemm.ts";
import { actApply } from "../../src/wasm/reference/act.ts";
import * as reference from "../../src/wasm/reference/conv.ts";
import { f32Array } from "../helpers/arbitraries.ts";
import { assertBitExact } from "../helpers/exact.ts";

const w = await getWasm();

// ---- Winograd F(4x4, 3x3) ----

/**
 * A ragged F(4x4) tiling: 1-3 images, 1-maxChannels channels (not multiples of 4), sides 1-23 (odd sides:
 * partial edge tiles), pads 0-1 on each side, out = side + pads - 2 >= 1.
 */
function tilings(maxChannels = 6): fc.Arbitrary<WinogradTiles> {
  const side = fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 23 }));
  return fc
    .record({
      images: fc.integer({ min: 1, max: 3 }),
      channels: fc.integer({ min: 1, max: maxChannels }),
      height: side,
      width: side,
      padTop: fc.integer({ min: 0, max: 1 }),
      padLeft: fc.integer({ min: 0, max: 1 }),
      padBottom: fc.integer({ min: 0, max: 1 }),
      padRight: fc.integer({ min: 0, max: 1 }),
    })
    .map(({ padBottom, padRight, ...g }) => ({
      ...g,
      outH: g.height + g.padTop + padBottom - 2,
      outW: g.width + g.padLeft + padRight - 2,
    }))
    .filter((g) => g.outH >= 1 && g.outW >= 1);
}

const ACTIVATIONS: Activation[] = [
  { kind: "none" },
  { kind: "relu" },
  { kind: "leakyRelu", alpha: 0.1 },
  { kind: "clip", min: -1, max: 6 },
  { kind: "hardSwish" },
];
const ACT_CODES = [0, 1, 2, 3, 6];
const ACT_PARAMS: [number, number][] = [
  [0, 0],
  [0, 0],
  [0.1, 0],
  [-1, 6],
  [0, 0],
];

test("convWinograd4InputPacked is bit-exact with the reference on ragged tilings (panels, padded columns)", () => {
  fc.assert(
    fc.property(
      tilings(9).chain((g0) =>
        fc
          .record({
            x: f32Array(g0.images * g0.channels * g0.height * g0.width),
            pad: fc.oneof(fc.constant(0), fc.nat(20)),
          })
          .map(({ x, pad }) => ({
            g: { ...g0, eLen: Math.ceil(winograd4TileCount(g0) / 8) * 8 * g0.channels + pad },
            x,
          })),
      ),
      ({ g, x }) => {
        assertBitExact(convWinograd4InputPacked(w, x, g), reference.convWinograd4InputPacked(x, g));
      },
    ),
  );
});

test("convWinograd4InputPacked splits more than 512 channels into the GEMM's K slices", () => {
  const g = { images: 1, channels: 515, height: 5, width: 9, padTop: 1, padLeft: 1, outH: 5, outW: 9 };
  const x = new Float32Array(515 * 45).map((_, i) => ((i * 13) % 29) - 14);
  assertBitExact(convWinograd4InputPacked(w, x, g), reference.convWinograd4InputPacked(x, g));
  assert.throws(
    () => convWinograd4InputPacked(w, x, { ...g, eLen: 515 * 6 }),
    /convWinograd4InputPacked: eLen 3090 is less than the packed block/,
  );
});

test("winograd4PadLen agrees with the exported winograd4_pad_len", () => {
  fc.assert(
    fc.property(fc.nat(300), fc.nat(300), (th, tw) => {
      assert.equal(winograd4PadLen(th, tw), kernel(w, "winograd4_pad_len")(th, tw));
    }),
  );
});

test("convWinograd4Output (bias, activation) is bit-exact with the reference on ragged tilings", () => {
  const arb = fc
    .record({
      g: tilings(1),
      filters: fc.integer({ min: 1, max: 5 }),
      hasBias: fc.boolean(),
      act: fc.nat(4),
      pad: fc.oneof(fc.constant(0), fc.nat(20)),
    })
    .chain((c) =>
      fc
        .record({
          m: f32Array(36 * (c.filters * winograd4TileCount(c.g) + c.pad)),
          bias: c.hasBias
            ? f32Array(c.filters).map((b): Float32Array | undefined => b)
            : fc.constant(undefined),
        })
        .map((r) => ({ ...c, ...r })),
    );
  fc.assert(
    fc.property(arb, ({ g: g0, filters, m, bias, act, pad }) => {
      const [a0, a1] = ACT_PARAMS[act]!;
      const g = { ...g0, eLen: filters * winograd4TileCount(g0) + pad };
      return assertBitExact(
        convWinograd4Output(w, m, g, filters, bias, ACTIVATIONS[act]),
        reference.convWinograd4Output(m, g, filters, bias, ACT_CODES[act]!, a0, a1),
      );
    }),
  );
});

/**
 * Maps under four tiles wide with at least four tiles per plane (ResNet-20's 8x8 stage: 2 x 2 tiles): both
 * transforms run four consecutive tiles of a plane across tile rows per f32x4. Whole tiles (out = 4k) for
 * the output's group path, tile starts not multiples of 4 across images (3 or 6 tiles per plane), and
 * ragged edges for the input side.
 */
function narrowTilings(): fc.Arbitrary<WinogradTiles> {
  return fc
    .record({
      images: fc.integer({ min: 1, max: 3 }),
      channels: fc.integer({ min: 1, max: 5 }),
      tilesH: fc.integer({ min: 1, max: 5 }),
      tilesW: fc.integer({ min: 1, max: 3 }),
      ragged: fc.boolean(),
    })
    .filter((t) => t.tilesH * t.tilesW >= 4)
    .map(({ images, channels, tilesH, tilesW, ragged }) => {
      const outH = 4 * tilesH - (ragged ? 1 : 0);
      const outW = 4 * tilesW - (ragged ? 2 : 0);
      return { images, channels, height: outH, width: outW, padTop: 1, padLeft: 1, outH, outW };
    });
}

test("F(4x4) transforms on maps under four tiles wide (four tiles across tile rows) are bit-exact with the reference", () => {
  fc.assert(
    fc.property(
      narrowTilings().chain((g) =>
        fc.record({
          g: fc.constant(g),
          x: f32Array(g.images * g.channels * g.height * g.width),
          filters: fc.integer({ min: 1, max: 3 }),
          act: fc.nat(4),
          pad: fc.oneof(fc.constant(0), fc.nat(9)),
        }),
      ),
      ({ g: g0, x, filters, act, pad }) => {
        const tiles = winograd4TileCount(g0);
        const gIn = { ...g0, eLen: Math.ceil(tiles / 8) * 8 * g0.channels + pad };
        assertBitExact(convWinograd4InputPacked(w, x, gIn), reference.convWinograd4InputPacked(x, gIn));
        const m = new Float32Array(36 * (filters * tiles + pad)).map(
          (_, i) => x[i % x.length]! * ((i % 7) - 3),
        );
        const bias = new Float32Array(filters).map((_, i) => 0.25 * i - 0.5);
        const [a0, a1] = ACT_PARAMS[act]!;
        const gOut = { ...g0, eLen: filters * tiles + pad };
        assertBitExact(
          convWinograd4Output(w, m, gOut, filters, bias, ACTIVATIONS[act]),
          reference.convWinograd4Output(m, gOut, filters, bias, ACT_CODES[act]!, a0, a1),
        );
      },
    ),
  );
});

test("convWinograd4Output with a residual (the fused Add) is bit-exact with the reference: act((Y + b) + r)", () => {
  const arb = fc
    .record({
      g: fc.oneof(tilings(1), narrowTilings()),
      filters: fc.integer({ min: 1, max: 4 }),
      act: fc.nat(4),
    })
    .chain((c) =>
      fc
        .record({
          m: f32Array(36 * c.filters * winograd4TileCount(c.g)),
          bias: f32Array(c.filters),
          residual: f32Array(c.g.images * c.filters * c.g.outH * c.g.outW),
        })
        .map((r) => ({ ...c, ...r })),
    );
  fc.assert(
    fc.property(arb, ({ g, filters, m, bias, residual, act }) => {
      const [a0, a1] = ACT_PARAMS[act]!;
      const got = convWinograd4Output(w, m, g, filters, bias, ACTIVATIONS[act], residual);
      assertBitExact(
        got,
        reference.convWinograd4Output(m, g, filters, bias, ACT_CODES[act]!, a0, a1, residual),
      );
      // The unfused order: the conv's output (no activation), plus r, then the activation.
      const sum = convWinograd4Output(w, m, g, filters, bias, undefined).map((v, i) =>
        Math.fround(v + residual[i]!),
      );
      return assertBitExact(got, actApply(sum, ACT_CODES[act]!, a0, a1));
    }),
  );
});

test("F(4x4, 3x3) input transform, 36 GEMMs with the transformed filters, output transform = the direct 3x3 conv", () => {
  const arb = fc
    .record({ g: tilings(), filters: fc.integer({ min: 1, max: 6 }), hasBias: fc.boolean() })
    .chain((c) =>
      fc
        .record({
          x: f32Array(c.g.images * c.g.channels * c.g.height * c.g.width),
          weight: f32Array(c.filters * c.g.channels * 9),
          bias: c.hasBias
            ? f32Array(c.filters).map((b): Float32Array | undefined => b)
            : fc.constant(undefined),
        })
        .map((r) => ({ ...c, ...r })),
    );
  fc.assert(
    fc.property(arb, ({ g, filters, x, weight, bias }) => {
      const tiles = winograd4TileCount(g);
      // The plain-layout V (the packed kernel is bit-exact with it, test above).
      const v = reference.convWinograd4Input(x, g);
      const u = convWinograd4Filter(weight, filters, g.channels);
      const m = new Float32Array(36 * filters * tiles);
      for (let e = 0; e < 36; e++) {
        const ue = u.subarray(e * filters * g.channels, (e + 1) * filters * g.channels);
        const ve = v.subarray(e * g.channels * tiles, (e + 1) * g.channels * tiles);
        m.set(gemm(w, { m: filters, n: tiles, k: g.channels }, ue, ve), e * filters * tiles);
      }
      const got = convWinograd4Output(w, m, g, filters, bias, undefined);
      const spec: reference.Conv2dReferenceSpec = {
        batch: g.images,
        channels: g.channels,
        height: g.height,
        width: g.width,
        outChannels: filters,
        kernelH: 3,
        kernelW: 3,
        strides: [1, 1],
        pads: [g.padTop, g.padLeft, g.outH + 2 - g.height - g.padTop, g.outW + 2 - g.width - g.padLeft],
        dilations: [1, 1],
        groups: 1,
      };
      const want = reference.conv2d(spec, x, weight, bias);
      const abs = (a: Float32Array) => a.map(Math.abs);
      const magnitude = reference.conv2d(
        spec,
        abs(x),
        abs(weight),
        bias === undefined ? undefined : abs(bias),
      );
      assert.equal(got.length, want.length);
      // As for F(2x2) (conv.test.ts), plus the larger constants of B, G and A (up to 8 and 5, 1/24 not
      // exact): the error of the order of eps * sum|w| * max|x| is some 10-100x larger. 1e-4 (about 1700
      // eps; a random counterexample needed 1.2e-5) still fails any wrong transform entry, whose error is
      // of the order of sum|w| * max|x| itself.
      const plane = g.outH * g.outW;
      const imageLen = g.channels * g.height * g.width;
      for (let i = 0; i < got.length; i++) {
        const n = Math.floor(i / (filters * plane));
        const f = Math.floor(i / plane) % filters;
        let sumW = 0;
        for (let k = 0; k < g.channels * 9; k++) sumW += Math.abs(weight[f * g.channels * 9 + k]!);
        let maxX = 0;
        for (let k = 0; k < imageLen; k++) maxX = Math.max(maxX, Math.abs(x[n * imageLen + k]!));
        const tol = 1e-5 * 8 * magnitude[i]! + 1e-4 * sumW * maxX + 1e-38;
        if (!(Math.abs(got[i]! - want[i]!) <= tol))
          assert.fail(`index ${i}: got ${got[i]}, expected ${want[i]} (tol ${tol})`);
      }
      return true;
    }),
  );
});

test("F(4x4) by hand: all-ones products, the corner-tap and centre-tap filters, a ragged 1x1 output", () => {
  const g: WinogradTiles = {
    images: 1,
    channels: 1,
    height: 6,
    width: 6,
    padTop: 0,
    padLeft: 0,
    outH: 4,
    outW: 4,
  };
  // A^T 1 A = s s^T, s = (5, 0, 10, 1): the row sums of A^T.
  const s = [5, 0, 10, 1];
  assert.deepEqual(
    [...convWinograd4Output(w, new Float32Array(36).fill(1), g, 1, undefined, undefined)],
    s.flatMap((a) => s.map((b) => a * b)),
  );
  // Values compared up to the sign of zeros (x + 0 is +0 for both).
  const unsigned = (a: ArrayLike<number>) => Array.from(a, (x) => x + 0);
  // g[2][2] = 1: U = (G e2)(G e2)^T, G e2 = (0, -1/6, -1/6, 1/6, 1/6, 1) (f64, then one rounding).
  const col = [0, -1 / 6, -1 / 6, 1 / 6, 1 / 6, 1];
  assert.deepEqual(
    unsigned(convWinograd4Filter(Float32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1), 1, 1)),
    unsigned(col.flatMap((a) => col.map((b) => Math.fround(a * b)))),
  );
  // The centre tap: G e1 = (0, -1/6, 1/6, 1/12, -1/12, 0).
  const mid = [0, -1 / 6, 1 / 6, 1 / 12, -1 / 12, 0];
  assert.deepEqual(
    unsigned(convWinograd4Filter(Float32Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0), 1, 1)),
    unsigned(mid.flatMap((a) => mid.map((b) => Math.fround(a * b)))),
  );
  // A 1x1 image, pads 1: one tile, only Y[0][0] written; the patch's only pixel is d[1][1] = 3, so
  // V = 3 * (B^T e1)(B^T e1)^T with B^T e1 = (0, -4, 4, -2, 2, 4).
  const one: WinogradTiles = {
    images: 1,
    channels: 1,
    height: 1,
    width: 1,
    padTop: 1,
    padLeft: 1,
    outH: 1,
    outW: 1,
  };
  const bt1 = [0, -4, 4, -2, 2, 4];
  const v = convWinograd4InputPacked(w, Float32Array.of(3), one);
  const packed = Array.from({ length: 36 }, (_, e) => v[e * 8]!);
  assert.deepEqual(unsigned(packed), unsigned(bt1.flatMap((a) => bt1.map((b) => 3 * a * b))));
  assert.equal(
    convWinograd4Output(w, new Float32Array(36).fill(1), one, 1, Float32Array.of(0.5), undefined)[0],
    25.5,
  );
});

test("F(4x4) wrappers reject bad sizes and lengths with INVALID_ARGUMENT", () => {
  const code = { name: "PrunekitError", code: "INVALID_ARGUMENT" };
  const g: WinogradTiles = {
    images: 1,
    channels: 2,
    height: 6,
    width: 6,
    padTop: 0,
    padLeft: 0,
    outH: 4,
    outW: 4,
  };
  assert.throws(() => convWinograd4InputPacked(w, new Float32Array(71), g), {
    ...code,
    message: /convWinograd4InputPacked x/,
  });
  assert.throws(
    () => convWinograd4Output(w, new Float32Array(35), { ...g, channels: 1 }, 1, undefined, undefined),
    {
      ...code,
      message: /convWinograd4Output m/,
    },
  );
  assert.throws(() => convWinograd4Filter(new Float32Array(8), 1, 1), {
    ...code,
    message: /convWinograd4Filter weight/,
  });
  assert.throws(() => convWinograd4InputPacked(w, new Float32Array(72), { ...g, images: -1 }), code);
});

test("F(4x4) four-tile SIMD groups (aligned, across panels, the recomputed last group) match the reference", () => {
  // 2 images of 3 channels, 19 x 29, pads 1: 5 x 8 tiles per image (rows start at 0, 8, ...: aligned)
  // and 18 x 21 (5 x 6 tiles: rows start off 4-tile groups, the last group recomputed from tilesW - 4).
  for (const [height, width] of [
    [19, 29],
    [18, 21],
  ] as const) {
    const g = { images: 2, channels: 3, height, width, padTop: 1, padLeft: 1, outH: height, outW: width };
    const x = new Float32Array(2 * 3 * height * width).map((_, i) => ((i * 37) % 23) / 7 - 1.5);
    assertBitExact(convWinograd4InputPacked(w, x, g), reference.convWinograd4InputPacked(x, g));
    const filters = 2;
    const m = new Float32Array(36 * filters * winograd4TileCount(g)).map((_, i) => ((i * 29) % 31) / 9 - 1.7);
    const bias = Float32Array.of(0.25, -0.5);
    assertBitExact(
      convWinograd4Output(w, m, g, filters, bias, { kind: "relu" }),
      reference.convWinograd4Output(m, g, filters, bias, 1, 0, 0),
    );
  }
});
