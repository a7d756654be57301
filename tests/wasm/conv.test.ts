import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, kernel, withArena } from "../../src/wasm/instance.ts";
import type { Activation } from "../../src/wasm/kernels/act.ts";
import {
  type ConvWindow,
  conv2d,
  conv2dOutputShape,
  convCol2im,
  convCol2imBuffers,
  convDepthwise,
  convDepthwiseBuffers,
  convDepthwiseGradInput,
  convDepthwiseGradInputBuffers,
  convDepthwiseGradWeight,
  convDepthwiseGradWeightBuffers,
  convIm2col,
  convIm2colBuffers,
  convIm2colLen,
  convOutputLen,
  convTapPixels,
  convTapSplit,
  convTapsInside,
  convWinogradFilter,
  convWinogradInput,
  convWinogradInputPacked,
  convWinogradOutput,
  type WinogradTiles,
  winogradPackedPadLen,
  winogradPadLen,
  winogradTileCount,
} from "../../src/wasm/kernels/conv.ts";
import { gemm } from "../../src/wasm/kernels/gemm.ts";
import { actApply } from "../../src/wasm/reference/act.ts";
import * as reference from "../../src/wasm/reference/conv.ts";
import { f32Array } from "../helpers/arbitraries.ts";
import { assertBitExact } from "../helpers/exact.ts";

const w = await getWasm();

/**
 * A window with ragged sizes: tiny images (1x1), kernels larger than the image (with enough
 * padding), asymmetric pads, dilation 1-2, strides 1-3, widths that cross the 4- and 8-wide SIMD
 * groups. outH/outW follow the ONNX formula with separate end pads.
 */
function convWindow(maxChannels = 5, maxSide = 27): fc.Arbitrary<ConvWindow> {
  const side = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: maxSide }));
  return fc
    .record({
      channels: fc.integer({ min: 1, max: maxChannels }),
      height: side,
      width: side,
      kernelH: fc.oneof(fc.constant(3), fc.integer({ min: 1, max: 6 })),
      kernelW: fc.oneof(fc.constant(3), fc.integer({ min: 1, max: 6 })),
      strideH: fc.integer({ min: 1, max: 3 }),
      strideW: fc.integer({ min: 1, max: 3 }),
      padTop: fc.integer({ min: 0, max: 3 }),
      padLeft: fc.integer({ min: 0, max: 3 }),
      padBottom: fc.integer({ min: 0, max: 3 }),
      padRight: fc.integer({ min: 0, max: 3 }),
      dilationH: fc.integer({ min: 1, max: 2 }),
      dilationW: fc.integer({ min: 1, max: 2 }),
    })
    .map(({ padBottom, padRight, ...g }) => ({
      ...g,
      outH: convOutputLen(g.height, g.kernelH, g.strideH, g.padTop, padBottom, g.dilationH),
      outW: convOutputLen(g.width, g.kernelW, g.strideW, g.padLeft, padRight, g.dilationW),
    }))
    .filter((g) => g.outH >= 1 && g.outW >= 1);
}

const withImage = (g: ConvWindow) => f32Array(g.channels * g.height * g.width).map((x) => ({ g, x }));

test("convIm2col is bit-exact with the reference on ragged windows", () => {
  fc.assert(
    fc.property(convWindow().chain(withImage), ({ g, x }) =>
      assertBitExact(convIm2col(w, x, g), reference.convIm2col(x, g)),
    ),
  );
});

test("convIm2col accepts any outH/outW: pixels past the image are zeros", () => {
  const arb = convWindow(3, 9).chain((g) =>
    fc
      .record({ outH: fc.integer({ min: 0, max: 12 }), outW: fc.integer({ min: 0, max: 12 }) })
      .map((o) => ({ ...g, ...o })),
  );
  fc.assert(
    fc.property(arb.chain(withImage), ({ g, x }) =>
      assertBitExact(convIm2col(w, x, g), reference.convIm2col(x, g)),
    ),
  );
});

test("convIm2colBuffers works on one group's channels in the middle of an image", () => {
  const arb = fc
    .record({ groups: fc.integer({ min: 2, max: 4 }), g: convWindow(3, 13) })
    .chain(({ groups, g }) =>
      fc
        .record({
          group: fc.integer({ min: 0, max: groups - 1 }),
          x: f32Array(groups * g.channels * g.height * g.width),
        })
        .map((r) => ({ ...r, groups, g })),
    );
  fc.assert(
    fc.property(arb, ({ group, x, g }) => {
      const planeLen = g.height * g.width;
      const slice = x.subarray(group * g.channels * planeLen, (group + 1) * g.channels * planeLen);
      const got = withArena(w, (arena) => {
        const xb = arena.copyInF32(x);
        const col = arena.allocF32(g.channels * g.kernelH * g.kernelW * g.outH * g.outW);
        convIm2colBuffers(
          w,
          { ptr: xb.ptr + group * g.channels * planeLen * 4, length: slice.length },
          col,
          g,
        );
        return arena.viewF32(col).slice();
      });
      return assertBitExact(got, reference.convIm2col(slice, g));
    }),
  );
});

test("convDepthwise is bit-exact with the reference on ragged windows", () => {
  const arb = convWindow(5, 40).chain((g) =>
    fc
      .record({
        x: f32Array(g.channels * g.height * g.width),
        weight: f32Array(g.channels * g.kernelH * g.kernelW),
      })
      .map((r) => ({ ...r, g })),
  );
  fc.assert(
    fc.property(arb, ({ g, x, weight }) =>
      assertBitExact(convDepthwise(w, x, weight, g), reference.convDepthwise(x, weight, g)),
    ),
  );
});

test("convDepthwise is bit-exact on MobileNet-like 3x3 layers, stride 1 and 2, pad 1", () => {
  for (const [side, stride, dilation] of [
    [56, 1, 1],
    [57, 2, 1],
    [29, 2, 2],
    [14, 1, 2],
    [7, 2, 1],
  ] as const) {
    const channels = 3;
    const outLen = convOutputLen(side, 3, stride, dilation, dilation, dilation);
    const g: ConvWindow = {
      channels,
      height: side,
      width: side,
      kernelH: 3,
      kernelW: 3,
      strideH: stride,
      strideW: stride,
      padTop: dilation,
      padLeft: dilation,
      dilationH: dilation,
      dilationW: dilation,
      outH: outLen,
      outW: outLen,
    };
    const x = Float32Array.from({ length: channels * side * side }, (_, i) => Math.sin(i * 0.37));
    const weight = Float32Array.from({ length: channels * 9 }, (_, i) => Math.cos(i * 1.3));
    assertBitExact(convDepthwise(w, x, weight, g), reference.convDepthwise(x, weight, g));
  }
});

const ones3x3: ConvWindow = {
  channels: 1,
  height: 3,
  width: 3,
  kernelH: 3,
  kernelW: 3,
  strideH: 1,
  strideW: 1,
  padTop: 1,
  padLeft: 1,
  dilationH: 1,
  dilationW: 1,
  outH: 3,
  outW: 3,
};
const image1to9 = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);

test("convDepthwise on a 3x3 image 1..9 with a 3x3 kernel of ones and pad 1 gives the neighbourhood sums", () => {
  assert.deepEqual(
    Array.from(convDepthwise(w, image1to9, new Float32Array(9).fill(1), ones3x3)),
    [12, 21, 16, 27, 45, 33, 24, 39, 28],
  );
});

test("convDepthwise with a horizontal-gradient kernel, stride 2, pad 1 on a 3x3 image", () => {
  // Each kernel row is [-1, 0, 1]: output (oy, ox) is centred at (2oy, 2ox); taps outside are skipped.
  const weight = Float32Array.of(-1, 0, 1, -1, 0, 1, -1, 0, 1);
  const g = { ...ones3x3, strideH: 2, strideW: 2, outH: 2, outW: 2 };
  assert.deepEqual(Array.from(convDepthwise(w, image1to9, weight, g)), [2 + 5, -(2 + 5), 5 + 8, -(5 + 8)]);
});

test("convIm2col of a 2x2 image with a 2x2 kernel, pad 1 top/left, has one row per tap", () => {
  const g = { ...ones3x3, height: 2, width: 2, kernelH: 2, kernelW: 2, outH: 2, outW: 2 };
  // Tap (i, j) at output (oy, ox) reads pixel (oy - 1 + i, ox - 1 + j).
  assert.deepEqual(
    Array.from(convIm2col(w, Float32Array.of(1, 2, 3, 4), g)),
    [0, 0, 0, 1, 0, 0, 1, 2, 0, 1, 0, 3, 1, 2, 3, 4],
  );
});

test("convIm2col with stride 2 and dilation 2 picks every other pixel", () => {
  // 1 x 1 x 5: kernel 1x2 with dilation 2 reads (ix, ix+2); stride 2, no pad: ox = 0, 1.
  const g: ConvWindow = {
    ...ones3x3,
    height: 1,
    width: 5,
    kernelH: 1,
    kernelW: 2,
    strideW: 2,
    padTop: 0,
    padLeft: 0,
    dilationW: 2,
    outH: 1,
    outW: 2,
  };
  assert.deepEqual(Array.from(convIm2col(w, Float32Array.of(10, 11, 12, 13, 14), g)), [10, 12, 12, 14]);
});

interface Conv2dCase {
  spec: reference.Conv2dReferenceSpec;
  x: Float32Array;
  weight: Float32Array;
  bias: Float32Array | undefined;
}

/** A conv2d case: groups 1, depthwise (groups = channels = outChannels) or grouped (1 < groups < channels). */
function conv2dCase(): fc.Arbitrary<Conv2dCase> {
  return fc
    .record({
      kind: fc.constantFrom("dense", "depthwise", "grouped", "pointwise"),
      batch: fc.integer({ min: 1, max: 3 }),
      groups: fc.integer({ min: 2, max: 4 }),
      cPerGroup: fc.integer({ min: 1, max: 6 }),
      mPerGroup: fc.integer({ min: 1, max: 7 }),
      window: convWindow(1, 14),
      padBottom: fc.integer({ min: 0, max: 3 }),
      padRight: fc.integer({ min: 0, max: 3 }),
      hasBias: fc.boolean(),
    })
    .map(({ kind, batch, groups, cPerGroup, mPerGroup, window: g, padBottom, padRight, hasBias }) => {
      const pointwise = kind === "pointwise";
      const nGroups = kind === "dense" || pointwise ? 1 : kind === "depthwise" ? groups + 2 : groups;
      const cg = kind === "depthwise" ? 1 : cPerGroup;
      const mg = kind === "depthwise" ? 1 : mPerGroup;
      const spec: reference.Conv2dReferenceSpec = {
        batch,
        channels: nGroups * cg,
        height: g.height,
        width: g.width,
        outChannels: nGroups * mg,
        kernelH: pointwise ? 1 : g.kernelH,
        kernelW: pointwise ? 1 : g.kernelW,
        strides: pointwise ? [1, 1] : [g.strideH, g.strideW],
        pads: pointwise ? [0, 0, 0, 0] : [g.padTop, g.padLeft, padBottom, padRight],
        dilations: [g.dilationH, g.dilationW],
        groups: nGroups,
      };
      return { spec, hasBias };
    })
    .filter(({ spec }) => {
      const outH = convOutputLen(
        spec.height,
        spec.kernelH,
        spec.strides[0],
        spec.pads[0],
        spec.pads[2],
        spec.dilations[0],
      );
      const outW = convOutputLen(
        spec.width,
        spec.kernelW,
        spec.strides[1],
        spec.pads[1],
        spec.pads[3],
        spec.dilations[1],
      );
      return outH >= 1 && outW >= 1;
    })
    .chain(({ spec, hasBias }) =>
      fc
        .record({
          x: f32Array(spec.batch * spec.channels * spec.height * spec.width),
          weight: f32Array((spec.outChannels * spec.channels * spec.kernelH * spec.kernelW) / spec.groups),
          bias: hasBias
            ? f32Array(spec.outChannels).map((b): Float32Array | undefined => b)
            : fc.constant(undefined),
        })
        .map((r) => ({ spec, ...r })),
    );
}

/**
 * Assert |got - want| <= 1e-5 * magnitude element-wise, where magnitude is the same convolution of
 * |x|, |weight| and |bias|: the sum of the absolute terms, which bounds any summation order's error.
 */
function assertConvClose(got: Float32Array, c: Conv2dCase): true {
  const want = reference.conv2d(c.spec, c.x, c.weight, c.bias);
  const abs = (a: Float32Array) => a.map(Math.abs);
  const magnitude = reference.conv2d(
    c.spec,
    abs(c.x),
    abs(c.weight),
    c.bias === undefined ? undefined : abs(c.bias),
  );
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    const tol = 1e-5 * magnitude[i]! + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol))
      assert.fail(`index ${i}: got ${got[i]}, expected ${want[i]} (tol ${tol})`);
  }
  return true;
}

test("conv2d matches the naive direct convolution (dense, 1x1, depthwise, grouped; with and without bias)", () => {
  fc.assert(fc.property(conv2dCase(), (c) => assertConvClose(conv2d(w, c.spec, c.x, c.weight, c.bias), c)));
});

test("conv2d depthwise gives exactly conv_depthwise per image, plus the bias", () => {
  const spec = {
    batch: 2,
    channels: 3,
    height: 9,
    width: 11,
    outChannels: 3,
    kernelH: 3,
    kernelW: 3,
    pads: [1, 1, 1, 1],
    groups: 3,
  } as const;
  const x = Float32Array.from({ length: 2 * 3 * 99 }, (_, i) => Math.sin(i));
  const weight = Float32Array.from({ length: 27 }, (_, i) => Math.cos(i));
  const bias = Float32Array.of(0.5, -1, 2);
  const got = conv2d(w, spec, x, weight, bias);
  const g: ConvWindow = { ...ones3x3, height: 9, width: 11, outH: 9, outW: 11 };
  for (let n = 0; n < 2; n++) {
    for (let c = 0; c < 3; c++) {
      const plane = reference.convDepthwise(
        x.subarray((n * 3 + c) * 99, (n * 3 + c + 1) * 99),
        weight.subarray(c * 9, c * 9 + 9),
        { ...g, channels: 1 },
      );
      const want = plane.map((v) => Math.fround(v + bias[c]!));
      assertBitExact(got.subarray((n * 3 + c) * 99, (n * 3 + c + 1) * 99), want);
    }
  }
});

test("conv2d of a 3x3 image, 2 channels, 2x2 kernel and bias, by hand", () => {
  // Channel 0 is 1..9 with a kernel of ones (2x2 block sums 12, 16, 24, 28); channel 1 is all ones with
  // kernel [[2, 0], [0, 0]] (adds 2); bias 0.5.
  const x = Float32Array.of(...image1to9, ...new Float32Array(9).fill(1));
  const weight = Float32Array.of(1, 1, 1, 1, 2, 0, 0, 0);
  const spec = { batch: 1, channels: 2, height: 3, width: 3, outChannels: 1, kernelH: 2, kernelW: 2 };
  assert.deepEqual(conv2dOutputShape(spec), [1, 1, 2, 2]);
  assert.deepEqual(Array.from(conv2d(w, spec, x, weight, Float32Array.of(0.5))), [14.5, 18.5, 26.5, 30.5]);
});

test("conv2d 1x1 (the direct GEMM path) is the channel mix at every pixel", () => {
  // y[m, p] = sum_c W[m, c] x[c, p]: W = [[1, 2], [-1, 0], [0, 3]], x = [[1, 2, 3], [4, 5, 6]] (1 x 3 image).
  const spec = { batch: 1, channels: 2, height: 1, width: 3, outChannels: 3, kernelH: 1, kernelW: 1 };
  const got = conv2d(w, spec, Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(1, 2, -1, 0, 0, 3));
  assert.deepEqual(Array.from(got), [9, 12, 15, -1, -2, -3, 12, 15, 18]);
});

test("conv2dOutputShape follows the ONNX formula with separate begin and end pads", () => {
  // height 7, kernel 3, dilation 2 (extent 5), pads 1 + 0, stride 2: floor((7 + 1 - 5) / 2) + 1 = 2.
  // width 4, kernel 2, pads 0 + 3, stride 3: floor((4 + 3 - 2) / 3) + 1 = 2.
  const spec = { batch: 3, channels: 2, height: 7, width: 4, outChannels: 5, kernelH: 3, kernelW: 2 };
  const geometry = { strides: [2, 3], pads: [1, 0, 0, 3], dilations: [2, 1] } as const;
  assert.deepEqual(conv2dOutputShape({ ...spec, ...geometry }), [3, 5, 2, 2]);
});

test("conv2d and the window wrappers refuse bad arguments, naming them", () => {
  const spec = { batch: 1, channels: 4, height: 5, width: 5, outChannels: 4, kernelH: 3, kernelW: 3 };
  const x = new Float32Array(100);
  const weight = new Float32Array(4 * 4 * 9);
  const code = { code: "INVALID_ARGUMENT" };
  assert.throws(() => conv2d(w, spec, new Float32Array(99), weight), {
    ...code,
    message: /conv2d x: expected 100/,
  });
  assert.throws(() => conv2d(w, spec, x, new Float32Array(3)), { ...code, message: /conv2d weight/ });
  assert.throws(() => conv2d(w, spec, x, weight, new Float32Array(3)), { ...code, message: /conv2d bias/ });
  assert.throws(() => conv2d(w, { ...spec, groups: 3 }, x, weight), {
    ...code,
    message: /groups 3 must divide/,
  });
  assert.throws(() => conv2d(w, { ...spec, strides: [0, 1] }, x, weight), { ...code, message: /strideH/ });
  assert.throws(() => conv2d(w, { ...spec, kernelH: 7, kernelW: 7 }, x, weight), {
    ...code,
    message: /does not fit/,
  });
  assert.throws(() => conv2d(w, { ...spec, pads: [0, 0, -1, 0] }, x, weight), {
    ...code,
    message: /pads\[2\]/,
  });
  assert.throws(() => convIm2col(w, new Float32Array(8), ones3x3), { ...code, message: /convIm2col x/ });
  assert.throws(() => convIm2col(w, image1to9, { ...ones3x3, dilationW: 0 }), {
    ...code,
    message: /dilationW/,
  });
  assert.throws(() => convDepthwise(w, image1to9, new Float32Array(8), ones3x3), {
    ...code,
    message: /convDepthwise weight/,
  });
  withArena(w, (arena) => {
    const xb = arena.copyInF32(image1to9);
    const wb = arena.copyInF32(new Float32Array(9));
    assert.throws(() => convDepthwiseBuffers(w, xb, wb, xb, ones3x3), { ...code, message: /overlap/ });
  });
});

// ---- backward ----

const abs = (a: ArrayLike<number>): Float64Array => Float64Array.from(a, Math.abs);

/**
 * |actual - expected| <= rtol * scale element-wise, scale = the largest entry of `absExpected` (the
 * same computation on |inputs|, i.e. the sum of |terms| behind each output) and at least 1e-30.
 */
function assertScaled(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  absExpected: ArrayLike<number>,
  rtol = 1e-5,
): true {
  assert.equal(actual.length, expected.length);
  let scale = 1e-30;
  for (let i = 0; i < absExpected.length; i++) scale = Math.max(scale, absExpected[i]!);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= rtol * scale))
      assert.fail(`index ${i}: got ${actual[i]}, expected ${expected[i]} (scale ${scale})`);
  }
  return true;
}

/** Central differences of a scalar function at x, one coordinate at a time. */
function numericGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, h: number): Float64Array {
  const at = Float64Array.from(x);
  const grad = new Float64Array(at.length);
  for (let i = 0; i < at.length; i++) {
    const v = at[i]!;
    at[i] = v + h;
    const up = f(at);
    at[i] = v - h;
    const down = f(at);
    at[i] = v;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

test("convCol2im matches the f64 reference on ragged windows (any outH/outW)", () => {
  const arb = convWindow(4, 19).chain((g) =>
    fc
      .record({
        outH: fc.oneof(fc.constant(g.outH), fc.integer({ min: 0, max: 12 })),
        outW: fc.oneof(fc.constant(g.outW), fc.integer({ min: 0, max: 12 })),
      })
      .chain((o) => f32Array(convIm2colLen({ ...g, ...o })).map((col) => ({ g: { ...g, ...o }, col }))),
  );
  fc.assert(
    fc.property(arb, ({ g, col }) =>
      assertScaled(convCol2im(w, col, g), reference.convCol2im(col, g), reference.convCol2im(abs(col), g)),
    ),
  );
});

test("convCol2im is the adjoint of convIm2col: <im2col(x), c> = <x, col2im(c)>", () => {
  const arb = convWindow(4, 19).chain((g) =>
    fc
      .record({ x: f32Array(g.channels * g.height * g.width), c: f32Array(convIm2colLen(g)) })
      .map((r) => ({ ...r, g })),
  );
  fc.assert(
    fc.property(arb, ({ g, x, c }) => {
      const lhs = dot(convIm2col(w, x, g), c);
      const rhs = dot(x, convCol2im(w, c, g));
      const bound = dot(abs(convIm2col(w, x, g)), abs(c));
      assert.ok(Math.abs(lhs - rhs) <= 1e-5 * bound + 1e-30, `${lhs} != ${rhs} (bound ${bound})`);
    }),
  );
});

test("convCol2imBuffers accumulates into x and writes nothing outside the image", () => {
  const arb = convWindow(3, 11).chain((g) =>
    fc
      .record({ x0: f32Array(g.channels * g.height * g.width), col: f32Array(convIm2colLen(g)) })
      .map((r) => ({ ...r, g })),
  );
  fc.assert(
    fc.property(arb, ({ g, x0, col }) => {
      const n = x0.length;
      const got = withArena(w, (arena) => {
        const cb = arena.copyInF32(col);
        const xb = arena.copyInF32([...x0, 7, 7, 7, 7]); // a guard past the image
        convCol2imBuffers(w, cb, xb, g);
        return arena.viewF32(xb).slice();
      });
      assert.deepEqual(Array.from(got.subarray(n)), [7, 7, 7, 7]);
      const plain = reference.convCol2im(col, g).map((v, i) => v + x0[i]!);
      return assertScaled(
        got.subarray(0, n),
        plain,
        reference.convCol2im(abs(col), g).map((v, i) => v + Math.abs(x0[i]!)),
      );
    }),
  );
});

test("convDepthwiseGradInput and convDepthwiseGradWeight match the f64 references on ragged windows", () => {
  const arb = convWindow(5, 23).chain((g) =>
    fc
      .record({
        x: f32Array(g.channels * g.height * g.width),
        dy: f32Array(g.channels * g.outH * g.outW),
        weight: f32Array(g.channels * g.kernelH * g.kernelW),
      })
      .map((r) => ({ ...r, g })),
  );
  fc.assert(
    fc.property(arb, ({ g, x, dy, weight }) => {
      assertScaled(
        convDepthwiseGradInput(w, dy, weight, g),
        reference.convDepthwiseGradInput(dy, weight, g),
        reference.convDepthwiseGradInput(abs(dy), abs(weight), g),
      );
      return assertScaled(
        convDepthwiseGradWeight(w, x, dy, g),
        reference.convDepthwiseGradWeight(x, dy, g),
        reference.convDepthwiseGradWeight(abs(x), abs(dy), g),
      );
    }),
  );
});

test("convDepthwiseGradWeightBuffers accumulates: one call per image sums over the batch", () => {
  const arb = convWindow(3, 13).chain((g) =>
    fc
      .record({
        x: f32Array(2 * g.channels * g.height * g.width),
        dy: f32Array(2 * g.channels * g.outH * g.outW),
      })
      .map((r) => ({ ...r, g })),
  );
  fc.assert(
    fc.property(arb, ({ g, x, dy }) => {
      const inLen = g.channels * g.height * g.width;
      const outLen = g.channels * g.outH * g.outW;
      const got = withArena(w, (arena) => {
        const dw = arena.allocF32(g.channels * g.kernelH * g.kernelW);
        arena.viewF32(dw).fill(0);
        for (let n = 0; n < 2; n++) {
          const xb = arena.copyInF32(x.subarray(n * inLen, (n + 1) * inLen));
          const dyb = arena.copyInF32(dy.subarray(n * outLen, (n + 1) * outLen));
          convDepthwiseGradWeightBuffers(w, xb, dyb, dw, g);
        }
        return arena.viewF32(dw).slice();
      });
      const part = (n: number, a: Float32Array, b: Float32Array) =>
        reference.convDepthwiseGradWeight(
          a.subarray(n * inLen, (n + 1) * inLen),
          b.subarray(n * outLen, (n + 1) * outLen),
          g,
        );
      const want = part(0, x, dy).map((v, i) => v + part(1, x, dy)[i]!);
      const absX = Float32Array.from(x, Math.abs);
      const absDy = Float32Array.from(dy, Math.abs);
      const scale = part(0, absX, absDy).map((v, i) => v + part(1, absX, absDy)[i]!);
      return assertScaled(got, want, scale);
    }),
  );
});

/** Small windows with their end pads, for finite differences against the f64 direct conv. */
const smallConv = fc
  .record({
    channels: fc.integer({ min: 1, max: 3 }),
    outChannels: fc.integer({ min: 1, max: 3 }),
    height: fc.integer({ min: 1, max: 6 }),
    width: fc.integer({ min: 1, max: 7 }),
    kernelH: fc.integer({ min: 1, max: 3 }),
    kernelW: fc.integer({ min: 1, max: 3 }),
    strideH: fc.integer({ min: 1, max: 3 }),
    strideW: fc.integer({ min: 1, max: 3 }),
    pads: fc.tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
    ),
    dilationH: fc.integer({ min: 1, max: 2 }),
    dilationW: fc.integer({ min: 1, max: 2 }),
  })
  .map((r) => {
    const [padTop, padLeft, padBottom, padRight] = r.pads;
    const g: ConvWindow = {
      channels: r.channels,
      height: r.height,
      width: r.width,
      kernelH: r.kernelH,
      kernelW: r.kernelW,
      strideH: r.strideH,
      strideW: r.strideW,
      padTop,
      padLeft,
      dilationH: r.dilationH,
      dilationW: r.dilationW,
      outH: convOutputLen(r.height, r.kernelH, r.strideH, padTop, padBottom, r.dilationH),
      outW: convOutputLen(r.width, r.kernelW, r.strideW, padLeft, padRight, r.dilationW),
    };
    const spec = (channels: number, outChannels: number, groups: number): reference.Conv2dReferenceSpec => ({
      batch: 1,
      channels,
      height: r.height,
      width: r.width,
      outChannels,
      kernelH: r.kernelH,
      kernelW: r.kernelW,
      strides: [r.strideH, r.strideW],
      pads: r.pads,
      dilations: [r.dilationH, r.dilationW],
      groups,
    });
    return { g, outChannels: r.outChannels, spec };
  })
  .filter(({ g }) => g.outH >= 1 && g.outW >= 1);

test("col2im of W^T dy is d/dx of sum(dy * conv(x)): central differences of the f64 direct conv", () => {
  const arb = smallConv.chain((c) => {
    const depth = c.g.channels * c.g.kernelH * c.g.kernelW;
    const pixels = c.g.outH * c.g.outW;
    return fc
      .record({
        x: f32Array(c.g.channels * c.g.height * c.g.width),
        weight: f32Array(c.outChannels * depth),
        dy: f32Array(c.outChannels * pixels),
      })
      .map((r) => ({ ...r, ...c, depth, pixels }));
  });
  fc.assert(
    fc.property(arb, ({ g, outChannels, spec, depth, pixels, x, weight, dy }) => {
      // dcol = W^T dy: (depth x pixels), W is outChannels x depth.
      const dcol = new Float64Array(depth * pixels);
      for (let k = 0; k < depth; k++) {
        for (let n = 0; n < pixels; n++) {
          let s = 0;
          for (let m = 0; m < outChannels; m++) s += weight[m * depth + k]! * dy[m * pixels + n]!;
          dcol[k * pixels + n] = s;
        }
      }
      const s = spec(g.channels, outChannels, 1);
      const loss = (xv: Float64Array) => dot(dy, reference.conv2d(s, xv, weight));
      const numeric = numericGradient(loss, x, 1e-3);
      const analytic = reference.convCol2im(dcol, g);
      assertScaled(analytic, numeric, reference.convCol2im(abs(dcol), g), 1e-7);
      // and the WASM kernel on the f32-rounded dcol
      return assertScaled(
        convCol2im(w, Float32Array.from(dcol), g),
        analytic,
        reference.convCol2im(abs(dcol), g),
      );
    }),
  );
});

test("depthwise input and weight gradients are d/dx and d/dw of sum(dy * depthwise(x, w)): central differences", () => {
  const arb = smallConv.chain((c) =>
    fc
      .record({
        x: f32Array(c.g.channels * c.g.height * c.g.width),
        weight: f32Array(c.g.channels * c.g.kernelH * c.g.kernelW),
        dy: f32Array(c.g.channels * c.g.outH * c.g.outW),
      })
      .map((r) => ({ ...r, ...c })),
  );
  fc.assert(
    fc.property(arb, ({ g, spec, x, weight, dy }) => {
      const s = spec(g.channels, g.channels, g.channels);
      const dxNumeric = numericGradient((xv) => dot(dy, reference.conv2d(s, xv, weight)), x, 1e-3);
      const dwNumeric = numericGradient((wv) => dot(dy, reference.conv2d(s, x, wv)), weight, 1e-3);
      const dx = reference.convDepthwiseGradInput(dy, weight, g);
      const dw = reference.convDepthwiseGradWeight(x, dy, g);
      assertScaled(dx, dxNumeric, reference.convDepthwiseGradInput(abs(dy), abs(weight), g), 1e-7);
      assertScaled(dw, dwNumeric, reference.convDepthwiseGradWeight(abs(x), abs(dy), g), 1e-7);
      // The f64 forward of a depthwise conv is conv_depthwise's (a check on the spec used above).
      return assertScaled(
        reference.conv2d(s, x, weight),
        convDepthwise(w, x, weight, g),
        reference.conv2d(s, abs(x), abs(weight)),
      );
    }),
  );
});

test("hand-computed backward: col2im counts the copies, depthwise gradients of a 3x3 image", () => {
  const g: ConvWindow = {
    channels: 1,
    height: 2,
    width: 2,
    kernelH: 2,
    kernelW: 2,
    strideH: 1,
    strideW: 1,
    padTop: 1,
    padLeft: 1,
    dilationH: 1,
    dilationW: 1,
    outH: 2,
    outW: 2,
  };
  assert.deepEqual(Array.from(convCol2im(w, new Float32Array(16).fill(1), g)), [4, 2, 2, 1]);
  const g3 = { ...g, height: 3, width: 3, kernelH: 3, kernelW: 3, outH: 3, outW: 3 };
  assert.deepEqual(
    Array.from(convDepthwiseGradInput(w, new Float32Array(9).fill(1), new Float32Array(9).fill(1), g3)),
    [4, 6, 4, 6, 9, 6, 4, 6, 4],
  );
  // Stride 2, pad 1: outputs (0,0), (0,1), (1,0), (1,1) centre on pixels (0,0), (0,2), (2,0), (2,2).
  const s2 = { ...g3, strideH: 2, strideW: 2, outH: 2, outW: 2 };
  const wts = Float32Array.from({ length: 9 }, (_, i) => i + 1);
  // dy one-hot at output (1, 1): dx[iy, ix] = w[iy - 1, ix - 1] for iy, ix in 1..2.
  assert.deepEqual(
    Array.from(convDepthwiseGradInput(w, Float32Array.of(0, 0, 0, 1), wts, s2)),
    [0, 0, 0, 0, 1, 2, 0, 4, 5],
  );
  // dw[i, j] = x[i + 1, j + 1] for that output: taps i, j = 2 fall outside the image.
  const image = Float32Array.from({ length: 9 }, (_, i) => 10 * (i + 1));
  assert.deepEqual(
    Array.from(convDepthwiseGradWeight(w, image, Float32Array.of(0, 0, 0, 1), s2)),
    [50, 60, 0, 80, 90, 0, 0, 0, 0],
  );
  assert.deepEqual(
    Array.from(
      convDepthwiseGradWeight(w, Float32Array.of(1, 2, 3, 4), new Float32Array(4).fill(1), {
        ...g,
        kernelH: 1,
        kernelW: 1,
        padTop: 0,
        padLeft: 0,
      }),
    ),
    [10],
  );
});

test("the backward conv wrappers refuse bad lengths and overlaps", () => {
  const code = { name: "PrunekitError", code: "INVALID_ARGUMENT" };
  const g: ConvWindow = {
    channels: 1,
    height: 3,
    width: 3,
    kernelH: 3,
    kernelW: 3,
    strideH: 1,
    strideW: 1,
    padTop: 1,
    padLeft: 1,
    dilationH: 1,
    dilationW: 1,
    outH: 3,
    outW: 3,
  };
  const nine = new Float32Array(9);
  assert.throws(() => convCol2im(w, new Float32Array(80), g), { ...code, message: /convCol2im col/ });
  assert.throws(() => convCol2im(w, new Float32Array(81), { ...g, strideW: 0 }), {
    ...code,
    message: /strideW/,
  });
  assert.throws(() => convDepthwiseGradInput(w, new Float32Array(8), nine, g), {
    ...code,
    message: /convDepthwiseGradInput dy/,
  });
  assert.throws(() => convDepthwiseGradInput(w, nine, new Float32Array(8), g), {
    ...code,
    message: /convDepthwiseGradInput weight/,
  });
  assert.throws(() => convDepthwiseGradWeight(w, new Float32Array(8), nine, g), {
    ...code,
    message: /convDepthwiseGradWeight x/,
  });
  assert.throws(() => convDepthwiseGradWeight(w, nine, new Float32Array(10), g), {
    ...code,
    message: /convDepthwiseGradWeight dy/,
  });
  withArena(w, (arena) => {
    const a = arena.copyInF32(nine);
    const b = arena.copyInF32(nine);
    const col = arena.allocF32(81);
    assert.throws(() => convCol2imBuffers(w, col, { ptr: col.ptr, length: 9 }, g), {
      ...code,
      message: /overlap/,
    });
    assert.throws(() => convDepthwiseGradInputBuffers(w, a, b, a, g), { ...code, message: /overlap/ });
    assert.throws(() => convDepthwiseGradWeightBuffers(w, a, b, b, g), { ...code, message: /overlap/ });
    assert.throws(() => convDepthwiseGradWeightBuffers(w, a, b, arena.allocF32(8), g), {
      ...code,
      message: /convDepthwiseGradWeight dw/,
    });
  });
});

// ---- Winograd F(2x2, 3x3) ----

/**
 * A ragged Winograd tiling: 1-3 images, 1-6 channels, sides 1-21 (crossing the 4-tile SIMD groups and odd
 * output sizes), pads 0-2 on each side, so that out = side + pads - 2 >= 1.
 */
function winogradTiles(maxChannels = 6): fc.Arbitrary<WinogradTiles> {
  const side = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 21 }));
  return fc
    .record({
      images: fc.integer({ min: 1, max: 3 }),
      channels: fc.integer({ min: 1, max: maxChannels }),
      height: side,
      width: side,
      padTop: fc.integer({ min: 0, max: 2 }),
      padLeft: fc.integer({ min: 0, max: 2 }),
      padBottom: fc.integer({ min: 0, max: 2 }),
      padRight: fc.integer({ min: 0, max: 2 }),
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

test("convWinogradInput is bit-exact with the reference on ragged tilings", () => {
  fc.assert(
    fc.property(
      winogradTiles().chain((g0) =>
        fc
          .record({
            x: f32Array(g0.images * g0.channels * g0.height * g0.width),
            pad: fc.oneof(fc.constant(0), fc.nat(20)),
          })
          .map(({ x, pad }) => ({ g: { ...g0, eLen: g0.channels * winogradTileCount(g0) + pad }, x })),
      ),
      ({ g, x }) => {
        const want = reference.convWinogradInput(x, g);
        assertBitExact(convWinogradInput(w, x, g), want);
        assertBitExact(convWinogradInput(w, x, g, { padded: false }), want);
      },
    ),
  );
});

test("convWinogradInputPacked is bit-exact with the reference on ragged tilings (tile groups across panels)", () => {
  fc.assert(
    fc.property(
      winogradTiles(9).chain((g0) =>
        fc
          .record({
            x: f32Array(g0.images * g0.channels * g0.height * g0.width),
            pad: fc.oneof(fc.constant(0), fc.nat(20)),
          })
          .map(({ x, pad }) => ({
            g: { ...g0, eLen: Math.ceil(winogradTileCount(g0) / 8) * 8 * g0.channels + pad },
            x,
          })),
      ),
      ({ g, x }) => {
        assertBitExact(convWinogradInputPacked(w, x, g), reference.convWinogradInputPacked(x, g));
      },
    ),
  );
});

test("convWinogradInputPacked splits more than 512 channels into the GEMM's K slices", () => {
  const g = { images: 1, channels: 515, height: 5, width: 9, padTop: 1, padLeft: 1, outH: 5, outW: 9 };
  const x = new Float32Array(515 * 45).map((_, i) => ((i * 13) % 29) - 14);
  assertBitExact(convWinogradInputPacked(w, x, g), reference.convWinogradInputPacked(x, g));
  assert.throws(
    () => convWinogradInputPacked(w, x, { ...g, eLen: 515 * 15 }),
    /convWinogradInputPacked: eLen 7725 is less than the packed block/,
  );
});

test("winogradPackedPadLen agrees with the exported winograd_packed_pad_len", () => {
  fc.assert(
    fc.property(fc.nat(300), fc.nat(300), (th, tw) => {
      assert.equal(winogradPackedPadLen(th, tw), kernel(w, "winograd_packed_pad_len")(th, tw));
    }),
  );
});

test("winogradPadLen agrees with the exported winograd_pad_len", () => {
  fc.assert(
    fc.property(fc.nat(300), fc.nat(300), (th, tw) => {
      assert.equal(winogradPadLen(th, tw), kernel(w, "winograd_pad_len")(th, tw));
    }),
  );
});

test("convWinogradOutput (bias, activation) is bit-exact with the reference on ragged tilings", () => {
  const arb = fc
    .record({
      g: winogradTiles(1),
      filters: fc.integer({ min: 1, max: 5 }),
      hasBias: fc.boolean(),
      act: fc.nat(4),
    })
    .chain((c) =>
      fc
        .record({
          m: f32Array(16 * c.filters * winogradTileCount(c.g)),
          pad: fc.oneof(fc.constant(0), fc.nat(20)),
          bias: c.hasBias
            ? f32Array(c.filters).map((b): Float32Array | undefined => b)
            : fc.constant(undefined),
        })
        .map((r) => ({ ...c, ...r })),
    );
  fc.assert(
    fc.property(arb, ({ g: g0, filters, m, bias, act, pad }) => {
      const [a0, a1] = ACT_PARAMS[act]!;
      const g = { ...g0, eLen: filters * winogradTileCount(g0) + pad };
      const mPadded = new Float32Array(16 * g.eLen);
      for (let e = 0; e < 16; e++) {
        const len = filters * winogradTileCount(g0);
        mPadded.set(m.subarray(e * len, (e + 1) * len), e * g.eLen);
      }
      return assertBitExact(
        convWinogradOutput(w, mPadded, g, filters, bias, ACTIVATIONS[act]),
        reference.convWinogradOutput(mPadded, g, filters, bias, ACT_CODES[act]!, a0, a1),
      );
    }),
  );
});

test("convWinogradOutput with a residual (the fused Add) is bit-exact with the reference: act((Y + b) + r)", () => {
  const arb = fc
    .record({ g: winogradTiles(1), filters: fc.integer({ min: 1, max: 5 }), act: fc.nat(4) })
    .chain((c) =>
      fc
        .record({
          m: f32Array(16 * c.filters * winogradTileCount(c.g)),
          bias: f32Array(c.filters),
          residual: f32Array(c.g.images * c.filters * c.g.outH * c.g.outW),
        })
        .map((r) => ({ ...c, ...r })),
    );
  fc.assert(
    fc.property(arb, ({ g, filters, m, bias, residual, act }) => {
      const [a0, a1] = ACT_PARAMS[act]!;
      const got = convWinogradOutput(w, m, g, filters, bias, ACTIVATIONS[act], residual);
      assertBitExact(
        got,
        reference.convWinogradOutput(m, g, filters, bias, ACT_CODES[act]!, a0, a1, residual),
      );
      // The unfused order: the conv's output (no activation), plus r, then the activation.
      const plain = convWinogradOutput(w, m, g, filters, bias, undefined);
      const sum = plain.map((v, i) => Math.fround(v + residual[i]!));
      return assertBitExact(got, actApply(sum, ACT_CODES[act]!, a0, a1));
    }),
  );
});

test("Winograd input transform, 16 GEMMs with the transformed filters, output transform = the direct 3x3 conv", () => {
  const arb = fc
    .record({ g: winogradTiles(), filters: fc.integer({ min: 1, max: 6 }), hasBias: fc.boolean() })
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
      const tiles = winogradTileCount(g);
      const v = convWinogradInput(w, x, g);
      const u = convWinogradFilter(weight, filters, g.channels);
      const m = new Float32Array(16 * filters * tiles);
      for (let e = 0; e < 16; e++) {
        const ue = u.subarray(e * filters * g.channels, (e + 1) * filters * g.channels);
        const ve = v.subarray(e * g.channels * tiles, (e + 1) * g.channels * tiles);
        m.set(gemm(w, { m: filters, n: tiles, k: g.channels }, ue, ve), e * filters * tiles);
      }
      const got = convWinogradOutput(w, m, g, filters, bias, undefined);
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
      // The transforms mix all 16 patch pixels and all 9 taps before the products and cancel them after,
      // so besides a multiple of the direct sum of |terms|, the error has a part of the order of
      // eps * sum|w| * max|x| even where the direct terms are tiny (Lavin & Gray §5).
      const plane = g.outH * g.outW;
      const imageLen = g.channels * g.height * g.width;
      for (let i = 0; i < got.length; i++) {
        const n = Math.floor(i / (filters * plane));
        const f = Math.floor(i / plane) % filters;
        let sumW = 0;
        for (let k = 0; k < g.channels * 9; k++) sumW += Math.abs(weight[f * g.channels * 9 + k]!);
        let maxX = 0;
        for (let k = 0; k < imageLen; k++) maxX = Math.max(maxX, Math.abs(x[n * imageLen + k]!));
        const tol = 1e-5 * 8 * magnitude[i]! + 1e-6 * sumW * maxX + 1e-38;
        if (!(Math.abs(got[i]! - want[i]!) <= tol))
          assert.fail(`index ${i}: got ${got[i]}, expected ${want[i]} (tol ${tol})`);
      }
      return true;
    }),
  );
});

test("Winograd by hand: the 4x4 patch 0..15, all-ones products, the centre-tap filter", () => {
  const g: WinogradTiles = {
    images: 1,
    channels: 1,
    height: 4,
    width: 4,
    padTop: 0,
    padLeft: 0,
    outH: 2,
    outW: 2,
  };
  const v = convWinogradInput(
    w,
    new Float32Array(16).map((_, i) => i),
    g,
  );
  // Rows first: t = B^T d has rows d0 - d2 = -8, d1 + d2 = 12 + 2k, d2 - d1 = 4, d1 - d3 = -8 (k = column).
  // Then per row (a0 - a2, a1 + a2, a2 - a1, a1 - a3).
  assert.deepEqual([...v], [0, -16, 0, 0, -4, 30, 2, -4, 0, 8, 0, 0, 0, -16, 0, 0]);
  assert.deepEqual(
    [...convWinogradOutput(w, new Float32Array(16).fill(1), g, 1, undefined, { kind: "relu" })],
    [9, 0, 0, 1],
  );
  assert.deepEqual(
    [...convWinogradFilter(Float32Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0), 1, 1)],
    [0, 0, 0, 0, 0, 0.25, -0.25, 0, 0, -0.25, 0.25, 0, 0, 0, 0, 0],
  );
  // A ragged 1x1 output: only Y[0][0] is written, the padded patch reads zeros.
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
  assert.deepEqual(
    [...convWinogradOutput(w, new Float32Array(16).fill(1), one, 1, Float32Array.of(2), undefined)],
    [11],
  );
});

/** Small maps where most im2col entries are padding: 1-3 x 1-3 outputs, 3x3 or 2x3 kernels, pads 0-2. */
function smallMapWindows() {
  return fc
    .record({
      channels: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constant(515)),
      height: fc.integer({ min: 1, max: 4 }),
      width: fc.integer({ min: 1, max: 4 }),
      kernelH: fc.integer({ min: 2, max: 3 }),
      kernelW: fc.constant(3),
      stride: fc.integer({ min: 1, max: 2 }),
      padTop: fc.integer({ min: 0, max: 2 }),
      padLeft: fc.integer({ min: 0, max: 2 }),
      dilation: fc.integer({ min: 1, max: 2 }),
      filters: fc.integer({ min: 1, max: 11 }),
    })
    .map(({ stride, dilation, filters, ...g }) => {
      const outH = Math.floor((g.height + 2 * g.padTop - dilation * (g.kernelH - 1) - 1) / stride) + 1;
      const outW = Math.floor((g.width + 2 * g.padLeft - dilation * (g.kernelW - 1) - 1) / stride) + 1;
      return {
        window: {
          ...g,
          strideH: stride,
          strideW: stride,
          dilationH: dilation,
          dilationW: dilation,
          outH,
          outW,
        },
        filters,
      };
    })
    .filter(({ window }) => window.outH >= 1 && window.outW >= 1);
}

test("convTapSplit is bit-exact with the reference and equals the direct conv within rounding on small maps", () => {
  fc.assert(
    fc.property(
      smallMapWindows().chain((c) =>
        fc.record({
          c: fc.constant(c),
          x: f32Array(c.window.channels * c.window.height * c.window.width),
          weight: f32Array(c.filters * c.window.channels * c.window.kernelH * c.window.kernelW),
        }),
      ),
      ({ c: { window: g, filters }, x, weight }) => {
        const got = convTapSplit(w, x, weight, g, filters);
        assertBitExact(got, reference.convTapSplit(x, weight, g, filters));
        // Against the f64 direct convolution: each output is a sum of products, rounded per add.
        const direct = reference.conv2d(
          {
            batch: 1,
            channels: g.channels,
            height: g.height,
            width: g.width,
            outChannels: filters,
            kernelH: g.kernelH,
            kernelW: g.kernelW,
            groups: 1,
            strides: [g.strideH, g.strideW],
            pads: [g.padTop, g.padLeft, g.padTop, g.padLeft],
            dilations: [g.dilationH, g.dilationW],
          },
          x,
          weight,
        );
        const scale =
          g.channels *
          g.kernelH *
          g.kernelW *
          Math.max(1, ...Array.from(x, Math.abs)) *
          Math.max(1, ...Array.from(weight, Math.abs));
        for (let i = 0; i < got.length; i++) {
          assert.ok(Math.abs(got[i]! - direct[i]!) <= 1e-6 * scale, `output ${i}: ${got[i]} vs ${direct[i]}`);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test("convTapsInside lists the taps that reach the image; convTapSplit never reads the others", () => {
  const one = {
    channels: 3,
    height: 1,
    width: 1,
    kernelH: 3,
    kernelW: 3,
    strideH: 1,
    strideW: 1,
    padTop: 1,
    padLeft: 1,
    dilationH: 1,
    dilationW: 1,
    outH: 1,
    outW: 1,
  };
  assert.deepEqual(convTapsInside(one), [4]);
  assert.deepEqual(convTapPixels(one), [0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual(
    convTapPixels({ ...one, height: 2, width: 2, outH: 2, outW: 2 }),
    [1, 2, 1, 2, 4, 2, 1, 2, 1],
  );
  assert.deepEqual(
    convTapsInside({ ...one, height: 2, width: 2, outH: 2, outW: 2 }),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  // A filter whose off-centre taps are NaN: on a 1x1 map only the centre tap is read.
  const weight = new Float32Array(2 * 3 * 9).fill(Number.NaN);
  for (let f = 0; f < 2; f++) for (let c = 0; c < 3; c++) weight[(f * 3 + c) * 9 + 4] = f + c;
  const y = convTapSplit(w, Float32Array.of(1, 2, 3), weight, one, 2);
  assert.deepEqual([...y], [0 * 1 + 1 * 2 + 2 * 3, 1 * 1 + 2 * 2 + 3 * 3]);
});
