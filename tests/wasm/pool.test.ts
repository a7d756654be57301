import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import {
  type Pool2dSpec,
  poolAvg2d,
  poolAvg2dBackward,
  poolAvg2dBackwardBuffers,
  poolGlobalAvg,
  poolGlobalAvgBackward,
  poolGlobalAvgBackwardBuffers,
  poolGlobalMax,
  poolGlobalMaxBackward,
  poolGlobalMaxBackwardBuffers,
  poolMax2d,
  poolMax2dBackward,
  poolMax2dBackwardBuffers,
  resolvePool2d,
} from "../../src/wasm/kernels/pool.ts";
import * as reference from "../../src/wasm/reference/pool.ts";
import { f32Array, size } from "../helpers/arbitraries.ts";
import { assertSameF32, wideF32Array } from "../helpers/f32.ts";

const w = await getWasm();

/** ONNX output size, floor or ceil mode (ceil: the last window must start inside the image or the begin pad). */
function outSize(
  len: number,
  begin: number,
  end: number,
  k: number,
  s: number,
  d: number,
  ceil: boolean,
): number {
  const room = len + begin + end - d * (k - 1) - 1;
  if (room < 0) return 0;
  let out = (ceil ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
  if (ceil && (out - 1) * s >= len + begin) out--;
  return out;
}

/**
 * Random 2-D pooling problems: planes 0..3, images 1..9 x 1..24 (wide enough for the SIMD columns),
 * kernels up to the padded input, strides 1..3, asymmetric pads below the kernel, dilation 1..2 (max
 * only), floor or ceil output sizes.
 */
function poolCase(withDilation: boolean) {
  return fc
    .record({
      planes: fc.integer({ min: 0, max: 3 }),
      height: fc.integer({ min: 1, max: 9 }),
      width: fc.integer({ min: 1, max: 24 }),
      strideH: fc.integer({ min: 1, max: 3 }),
      strideW: fc.integer({ min: 1, max: 3 }),
      dilationH: withDilation ? fc.integer({ min: 1, max: 2 }) : fc.constant(1),
      dilationW: withDilation ? fc.integer({ min: 1, max: 2 }) : fc.constant(1),
      ceil: fc.boolean(),
      kh: fc.integer({ min: 1, max: 11 }),
      kw: fc.integer({ min: 1, max: 26 }),
      pads: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 4, maxLength: 4 }),
    })
    .map((r) => {
      // Pads below the kernel extent, the kernel at most the padded input.
      const kernelH = Math.min(r.kh, r.height + 2);
      const kernelW = Math.min(r.kw, r.width + 2);
      const [t, l, b, rt] = r.pads.map((p, i) => p % (i % 2 === 0 ? kernelH : kernelW)) as [
        number,
        number,
        number,
        number,
      ];
      const fitH = Math.max(1, Math.floor((r.height + t + b - 1) / (kernelH - 1 || 1)));
      const fitW = Math.max(1, Math.floor((r.width + l + rt - 1) / (kernelW - 1 || 1)));
      const dilationH = Math.min(r.dilationH, fitH);
      const dilationW = Math.min(r.dilationW, fitW);
      const spec: Pool2dSpec = {
        planes: r.planes,
        height: r.height,
        width: r.width,
        kernelH,
        kernelW,
        strideH: r.strideH,
        strideW: r.strideW,
        padTop: t,
        padLeft: l,
        padBottom: b,
        padRight: rt,
        dilationH,
        dilationW,
        outH: outSize(r.height, t, b, kernelH, r.strideH, dilationH, r.ceil),
        outW: outSize(r.width, l, rt, kernelW, r.strideW, dilationW, r.ceil),
      };
      return spec;
    })
    .chain((spec) =>
      fc.record({ spec: fc.constant(spec), x: wideF32Array(spec.planes * spec.height * spec.width) }),
    );
}

function referenceMax(x: Float32Array, spec: Pool2dSpec): Float32Array {
  const s = resolvePool2d("test", spec);
  return reference.poolMax2d(
    x,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.dilationH,
    s.dilationW,
    s.outH,
    s.outW,
  );
}

function referenceAvg(x: Float32Array, spec: Pool2dSpec, includePad: boolean): Float32Array {
  const s = resolvePool2d("test", spec);
  return reference.poolAvg2d(
    x,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.padBottom,
    s.padRight,
    s.outH,
    s.outW,
    includePad,
  );
}

test("poolMax2d is bit-exact with the reference: asymmetric pads, strides 1-3, dilation 2, big kernels", () => {
  fc.assert(
    fc.property(poolCase(true), ({ spec, x }) => assertSameF32(poolMax2d(w, x, spec), referenceMax(x, spec))),
  );
});

for (const countIncludePad of [false, true]) {
  test(`poolAvg2d (countIncludePad ${countIncludePad}) is bit-exact with the reference`, () => {
    fc.assert(
      fc.property(poolCase(false), ({ spec, x }) =>
        assertSameF32(poolAvg2d(w, x, spec, { countIncludePad }), referenceAvg(x, spec, countIncludePad)),
      ),
    );
  });
}

test("a layer-sized pooling (64 planes of 28 x 30) hits the SIMD interior for strides 1 and 2", () => {
  const x = Float32Array.from({ length: 64 * 28 * 30 }, (_, i) => Math.sin(i * 0.37) * 10);
  for (const stride of [1, 2]) {
    const spec: Pool2dSpec = {
      planes: 64,
      height: 28,
      width: 30,
      kernelH: 3,
      kernelW: 3,
      strideH: stride,
      strideW: stride,
      padTop: 1,
      padLeft: 1,
      padBottom: 1,
      padRight: 1,
    };
    assertSameF32(poolMax2d(w, x, spec), referenceMax(x, spec), `max stride ${stride}`);
    assertSameF32(
      poolMax2d(w, x, { ...spec, dilationW: 2, dilationH: 2 }),
      referenceMax(x, { ...spec, dilationW: 2, dilationH: 2 }),
    );
    for (const inc of [false, true]) {
      assertSameF32(
        poolAvg2d(w, x, spec, { countIncludePad: inc }),
        referenceAvg(x, spec, inc),
        `avg stride ${stride}`,
      );
    }
  }
});

test("2x2 stride-2 max pooling (rows first, then even and odd lanes) is bit-exact with the reference", () => {
  // Odd and even sizes, pads that push the window over the top row or left column, ceil-mode overhang;
  // values include -0, +0, infinities and ties, where an order-dependent maximum would show.
  const specials = [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, -1, 1];
  fc.assert(
    fc.property(
      fc.record({
        planes: fc.integer({ min: 1, max: 3 }),
        height: fc.integer({ min: 1, max: 13 }),
        width: fc.integer({ min: 1, max: 21 }),
        padTop: fc.integer({ min: 0, max: 1 }),
        padLeft: fc.integer({ min: 0, max: 1 }),
        padBottom: fc.integer({ min: 0, max: 1 }),
        padRight: fc.integer({ min: 0, max: 1 }),
        seed: fc.nat(1000),
      }),
      ({ seed, ...g }) => {
        const spec: Pool2dSpec = { ...g, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2 };
        const x = Float32Array.from({ length: g.planes * g.height * g.width }, (_, i) =>
          (i + seed) % 5 === 0 ? specials[(i + seed) % specials.length]! : Math.sin(i * 0.7 + seed),
        );
        assertSameF32(poolMax2d(w, x, spec), referenceMax(x, spec), "2x2/2 max");
      },
    ),
  );
});

test("hand-computed pooling: 2x2/2 max, padded 3x3 average both ways, ceil-mode divisor, padding never wins", () => {
  const x = Float32Array.from({ length: 16 }, (_, i) => i + 1); // 4 x 4: 1..16
  const base = { planes: 1, height: 4, width: 4 };
  assert.deepEqual(
    Array.from(poolMax2d(w, x, { ...base, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2 })),
    [6, 8, 14, 16],
  );
  const pad1 = {
    ...base,
    kernelH: 3,
    kernelW: 3,
    strideH: 3,
    strideW: 3,
    padTop: 1,
    padLeft: 1,
    padBottom: 1,
    padRight: 1,
  };
  // Output (0, 0) covers rows -1..1, cols -1..1: in image 1 + 2 + 5 + 6 = 14 over 4 positions of 9.
  // Output (0, 1) covers cols 2..4: 3 + 4 + 7 + 8 = 22 over 4 in-image; every window lies inside the
  // padded input [-1, 5) x [-1, 5), so with countIncludePad each divides by 9.
  assert.deepEqual(Array.from(poolAvg2d(w, x, pad1)), [3.5, 5.5, 11.5, 13.5]);
  assert.deepEqual(
    Array.from(poolAvg2d(w, x, pad1, { countIncludePad: true })),
    [14 / 9, 22 / 9, 46 / 9, 54 / 9].map(Math.fround),
  );
  // One row 1..5, kernel 1x2, stride 2, ceil mode (outW 3): the last window is column 4 plus column 5,
  // which is right padding (counted with countIncludePad) or beyond it (never counted).
  const row = Float32Array.of(1, 2, 3, 4, 5);
  const r = { planes: 1, height: 1, width: 5, kernelH: 1, kernelW: 2, strideW: 2, outH: 1, outW: 3 };
  assert.deepEqual(Array.from(poolAvg2d(w, row, r, { countIncludePad: true })), [1.5, 3.5, 5]);
  assert.deepEqual(
    Array.from(poolAvg2d(w, row, { ...r, padRight: 1 }, { countIncludePad: true })),
    [1.5, 3.5, 2.5],
  );
  assert.deepEqual(Array.from(poolAvg2d(w, row, { ...r, padRight: 1 })), [1.5, 3.5, 5]);
  // All-negative input with padding: the max is never the padding's 0.
  const neg = Float32Array.of(-4, -3, -2, -1);
  const p = {
    planes: 1,
    height: 2,
    width: 2,
    kernelH: 2,
    kernelW: 2,
    padTop: 1,
    padLeft: 1,
    padBottom: 1,
    padRight: 1,
  };
  assert.deepEqual(Array.from(poolMax2d(w, neg, p)), [-4, -3, -3, -2, -1, -1, -2, -1, -1]);
  // Dilation 2: the window of output 0 is columns 0, 2, 4.
  assert.deepEqual(
    Array.from(
      poolMax2d(w, Float32Array.of(1, 9, 2, 9, 3, 0), {
        planes: 1,
        height: 1,
        width: 6,
        kernelH: 1,
        kernelW: 3,
        dilationW: 2,
      }),
    ),
    [3, 9],
  );
});

const globalCase = fc.tuple(fc.integer({ min: 0, max: 6 }), size(70)).chain(([planes, planeLen]) =>
  fc.record({
    planes: fc.constant(planes),
    planeLen: fc.constant(planeLen),
    x: wideF32Array(planes * planeLen, 1000),
  }),
);

test("poolGlobalAvg and poolGlobalMax are bit-exact with the reference (lane-ordered sum) on ragged planes", () => {
  fc.assert(
    fc.property(globalCase, ({ planes, planeLen, x }) => {
      assertSameF32(poolGlobalAvg(w, x, planes, planeLen), reference.poolGlobalAvg(x, planes, planeLen));
      return assertSameF32(
        poolGlobalMax(w, x, planes, planeLen),
        reference.poolGlobalMax(x, planes, planeLen),
      );
    }),
  );
});

test("hand-computed global pooling: the documented summation order shows in the bits", () => {
  // Lanes: l0 = 1e8 + (-1e8) = 0, l1 = 1, l2 = l3 = 0; then the tail 0.5 twice: (0 + 1) + 0 + 0.5 + 0.5 = 2.
  // In index order instead: 1e8 + 1 = 1e8 (f32), ... = 1 + 0.5 + 0.5 - a different answer.
  const x = Float32Array.of(1e8, 1, 0, 0, -1e8, 0, 0, 0, 0.5, 0.5);
  assert.deepEqual(Array.from(poolGlobalAvg(w, x, 1, 10)), [Math.fround(2 / 10)]);
  assert.deepEqual(Array.from(poolGlobalAvg(w, Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3)), [2, 5]);
  assert.deepEqual(Array.from(poolGlobalMax(w, Float32Array.of(1, 7, 3, -4, -5, -6), 2, 3)), [7, -4]);
  assert.deepEqual(Array.from(poolGlobalMax(w, new Float32Array(0), 2, 0)), [
    Number.NEGATIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ]);
  assert.ok(Number.isNaN(poolGlobalAvg(w, new Float32Array(0), 1, 0)[0]!));
});

test("the pooling wrappers refuse bad specs, naming the field", () => {
  const invalid = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  const x = new Float32Array(16);
  const base = { planes: 1, height: 4, width: 4, kernelH: 2, kernelW: 2 };
  invalid(
    () => poolMax2d(w, x, { ...base, strideW: 0 }),
    /poolMax2d strideW: expected a positive integer, got 0/,
  );
  invalid(() => poolMax2d(w, x, { ...base, kernelH: 1.5 }), /poolMax2d kernelH/);
  invalid(() => poolMax2d(w, x, { ...base, padLeft: -1 }), /poolMax2d padLeft/);
  invalid(() => poolMax2d(w, new Float32Array(15), base), /poolMax2d x: expected 16/);
  invalid(() => poolAvg2d(w, x, { ...base, dilationH: 2 }), /dilation 2 x 1 is not supported/);
  invalid(() => poolGlobalAvg(w, x, 3, 5), /poolGlobalAvg x: expected 15/);
  invalid(() => poolGlobalMax(w, x, -1, 5), /poolGlobalMax planes/);
});

// ---- backward ----

const abs = (a: ArrayLike<number>): Float64Array => Float64Array.from(a, Math.abs);

/** |actual - expected| <= rtol * max(absExpected) element-wise (absExpected: the same on |inputs|). */
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

function refMaxBackward(x: ArrayLike<number>, dy: ArrayLike<number>, spec: Pool2dSpec): Float64Array {
  const s = resolvePool2d("test", spec);
  return reference.poolMax2dBackward(
    x,
    dy,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.dilationH,
    s.dilationW,
    s.outH,
    s.outW,
  );
}

function refAvgBackward(dy: ArrayLike<number>, spec: Pool2dSpec, includePad: boolean): Float64Array {
  const s = resolvePool2d("test", spec);
  return reference.poolAvg2dBackward(
    dy,
    s.planes,
    s.height,
    s.width,
    s.kernelH,
    s.kernelW,
    s.strideH,
    s.strideW,
    s.padTop,
    s.padLeft,
    s.padBottom,
    s.padRight,
    s.outH,
    s.outW,
    includePad,
  );
}

const withDy = (withDilation: boolean) =>
  poolCase(withDilation).chain(({ spec, x }) => {
    const s = resolvePool2d("test", spec);
    return f32Array(s.planes * s.outH * s.outW).map((dy) => ({ spec, x, dy }));
  });

test("poolMax2dBackward matches the f64 reference (NaN, Inf, ties; strides, pads, dilation, ceil mode)", () => {
  fc.assert(
    fc.property(withDy(true), ({ spec, x, dy }) =>
      assertScaled(
        poolMax2dBackward(w, x, dy, spec),
        refMaxBackward(x, dy, spec),
        refMaxBackward(x, abs(dy), spec),
      ),
    ),
  );
});

test("poolMax2dBackward sends each output's gradient to the element the forward returned", () => {
  const arb = poolCase(true).filter(({ spec }) => {
    const s = resolvePool2d("test", spec);
    return s.planes * s.outH * s.outW <= 60;
  });
  fc.assert(
    fc.property(arb, ({ spec, x }) => {
      const s = resolvePool2d("test", spec);
      const y = poolMax2d(w, x, spec);
      for (let o = 0; o < y.length; o++) {
        const dy = new Float32Array(y.length);
        dy[o] = 1;
        const dx = poolMax2dBackward(w, x, dy, spec);
        const hit = dx.findIndex((v) => v !== 0);
        if (y[o] === Number.NEGATIVE_INFINITY && hit < 0) continue; // a window with no in-image position
        assert.ok(hit >= 0, `output ${o}: no gradient`);
        if (Number.isNaN(y[o]!)) assert.ok(Number.isNaN(x[hit]!), `output ${o}: NaN came from elsewhere`);
        else
          assert.ok(
            Object.is(x[hit], y[o]) || x[hit] === y[o],
            `output ${o}: x[${hit}] = ${x[hit]} != ${y[o]}`,
          );
        assert.equal(Math.floor(hit / (s.height * s.width)), Math.floor(o / (s.outH * s.outW)), "same plane");
      }
      return true;
    }),
    { numRuns: 30 },
  );
});

for (const countIncludePad of [false, true]) {
  test(`poolAvg2dBackward (countIncludePad ${countIncludePad}) matches the f64 reference and is the adjoint of poolAvg2d`, () => {
    fc.assert(
      fc.property(withDy(false), ({ spec, x, dy }) => {
        const finite = x.map((v) => (Math.abs(v) <= 100 ? v : 1)); // NaN and huge values -> 1
        const dx = poolAvg2dBackward(w, dy, spec, { countIncludePad });
        assertScaled(
          dx,
          refAvgBackward(dy, spec, countIncludePad),
          refAvgBackward(abs(dy), spec, countIncludePad),
        );
        // <avg(x), dy> = <x, avgBackward(dy)>, over outputs with an in-image position (others are NaN or 0).
        const y = poolAvg2d(w, finite, spec, { countIncludePad });
        // The f32 forward rounds each window sum (k terms, with cancellation) at about k·2^-24 of the
        // window's sum of |x|: bound that with the average of |x|.
        const yAbs = poolAvg2d(w, Float32Array.from(finite, Math.abs), spec, { countIncludePad });
        const k = spec.kernelH * spec.kernelW;
        let lhs = 0;
        let bound = 0;
        let forwardBound = 0;
        for (let i = 0; i < y.length; i++) {
          if (Number.isNaN(y[i]!)) continue;
          lhs += y[i]! * dy[i]!;
          forwardBound += Math.abs(dy[i]!) * yAbs[i]! * k * 2 ** -23;
        }
        let rhs = 0;
        for (let i = 0; i < finite.length; i++) {
          rhs += finite[i]! * dx[i]!;
          bound += Math.abs(finite[i]! * dx[i]!);
        }
        assert.ok(Math.abs(lhs - rhs) <= 1e-5 * bound + forwardBound + 1e-30, `${lhs} != ${rhs}`);
        return true;
      }),
    );
  });
}

/** Small pooling problems for finite differences: distinct values 0.1 apart, f64 forwards below. */
const smallPool = (withDilation: boolean) =>
  fc
    .record({
      planes: fc.integer({ min: 1, max: 2 }),
      height: fc.integer({ min: 1, max: 6 }),
      width: fc.integer({ min: 1, max: 9 }),
      kernelH: fc.integer({ min: 1, max: 4 }),
      kernelW: fc.integer({ min: 1, max: 4 }),
      strideH: fc.integer({ min: 1, max: 3 }),
      strideW: fc.integer({ min: 1, max: 3 }),
      pads: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
      dilation: withDilation ? fc.integer({ min: 1, max: 2 }) : fc.constant(1),
      ceil: fc.boolean(),
    })
    .map((r) => {
      const [t, l, b, rt] = r.pads.map((p, i) => p % (i % 2 === 0 ? r.kernelH : r.kernelW)) as [
        number,
        number,
        number,
        number,
      ];
      const spec: Pool2dSpec = {
        planes: r.planes,
        height: r.height,
        width: r.width,
        kernelH: r.kernelH,
        kernelW: r.kernelW,
        strideH: r.strideH,
        strideW: r.strideW,
        padTop: t,
        padLeft: l,
        padBottom: b,
        padRight: rt,
        dilationH: r.dilation,
        dilationW: r.dilation,
        outH: outSize(r.height, t, b, r.kernelH, r.strideH, r.dilation, r.ceil),
        outW: outSize(r.width, l, rt, r.kernelW, r.strideW, r.dilation, r.ceil),
      };
      return resolvePool2d("test", spec);
    })
    .chain((s) =>
      fc.record({
        s: fc.constant(s),
        x: fc
          .uniqueArray(fc.integer({ min: -500, max: 500 }), {
            minLength: s.planes * s.height * s.width,
            maxLength: s.planes * s.height * s.width,
          })
          .map((v) => Float64Array.from(v, (k) => k / 10)),
        dy: f32Array(s.planes * s.outH * s.outW),
      }),
    );

type Resolved = ReturnType<typeof resolvePool2d>;

/** f64 MaxPool / AveragePool forward (empty windows give 0: they do not depend on x). */
function poolF64(x: ArrayLike<number>, s: Resolved, kind: "max" | "avg", includePad: boolean): Float64Array {
  const y = new Float64Array(s.planes * s.outH * s.outW);
  for (let p = 0; p < s.planes; p++) {
    for (let oh = 0; oh < s.outH; oh++) {
      for (let ow = 0; ow < s.outW; ow++) {
        let m = Number.NEGATIVE_INFINITY;
        let sum = 0;
        let n = 0;
        let padded = 0;
        for (let kh = 0; kh < s.kernelH; kh++) {
          const ih = oh * s.strideH - s.padTop + kh * s.dilationH;
          for (let kw = 0; kw < s.kernelW; kw++) {
            const iw = ow * s.strideW - s.padLeft + kw * s.dilationW;
            if (
              ih >= -s.padTop &&
              ih < s.height + s.padBottom &&
              iw >= -s.padLeft &&
              iw < s.width + s.padRight
            )
              padded++;
            if (ih < 0 || ih >= s.height || iw < 0 || iw >= s.width) continue;
            const v = x[(p * s.height + ih) * s.width + iw]!;
            m = Math.max(m, v);
            sum += v;
            n++;
          }
        }
        y[(p * s.outH + oh) * s.outW + ow] =
          n === 0 ? 0 : kind === "max" ? m : sum / (includePad ? padded : n);
      }
    }
  }
  return y;
}

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

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i]! * b[i]!;
  return t;
};

test("the max and average pool reference backwards are central differences of f64 forwards", () => {
  fc.assert(
    fc.property(smallPool(true), ({ s, x, dy }) => {
      const numeric = numericGradient((v) => dot(dy, poolF64(v, s, "max", false)), x, 1e-3);
      const ref = refMaxBackward(x, dy, s);
      return assertScaled(ref, numeric, refMaxBackward(x, abs(dy), s), 1e-8);
    }),
  );
  fc.assert(
    fc.property(smallPool(false), fc.boolean(), ({ s, x, dy }, includePad) => {
      const numeric = numericGradient((v) => dot(dy, poolF64(v, s, "avg", includePad)), x, 1e-3);
      const ref = refAvgBackward(dy, s, includePad);
      return assertScaled(ref, numeric, refAvgBackward(abs(dy), s, includePad), 1e-8);
    }),
  );
});

const globalBackwardCase = fc.tuple(fc.integer({ min: 0, max: 6 }), size(70)).chain(([planes, planeLen]) =>
  fc.record({
    planes: fc.constant(planes),
    planeLen: fc.constant(planeLen),
    x: wideF32Array(planes * planeLen, 1000),
    dy: f32Array(planes),
  }),
);

test("poolGlobalAvgBackward and poolGlobalMaxBackward match the f64 references on ragged planes", () => {
  fc.assert(
    fc.property(globalBackwardCase, ({ planes, planeLen, x, dy }) => {
      assertScaled(
        poolGlobalAvgBackward(w, dy, planes, planeLen),
        reference.poolGlobalAvgBackward(dy, planes, planeLen),
        reference.poolGlobalAvgBackward(abs(dy), planes, planeLen),
      );
      return assertSameF32(
        poolGlobalMaxBackward(w, x, dy, planes, planeLen),
        Float32Array.from(reference.poolGlobalMaxBackward(x, dy, planes, planeLen)),
      );
    }),
  );
});

test("the global pool reference backwards are central differences of f64 forwards", () => {
  const arb = fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 30 }))
    .chain(([planes, planeLen]) =>
      fc.record({
        planes: fc.constant(planes),
        planeLen: fc.constant(planeLen),
        x: fc
          .uniqueArray(fc.integer({ min: -500, max: 500 }), {
            minLength: planes * planeLen,
            maxLength: planes * planeLen,
          })
          .map((v) => Float64Array.from(v, (k) => k / 10)),
        dy: f32Array(planes),
      }),
    );
  fc.assert(
    fc.property(arb, ({ planes, planeLen, x, dy }) => {
      const forward = (v: Float64Array, kind: "avg" | "max") => {
        let t = 0;
        for (let p = 0; p < planes; p++) {
          const plane = v.subarray(p * planeLen, (p + 1) * planeLen);
          t += dy[p]! * (kind === "max" ? Math.max(...plane) : plane.reduce((a, b) => a + b, 0) / planeLen);
        }
        return t;
      };
      const scale = reference.poolGlobalAvgBackward(abs(dy), planes, planeLen).map((v) => v * planeLen);
      assertScaled(
        reference.poolGlobalAvgBackward(dy, planes, planeLen),
        numericGradient((v) => forward(v, "avg"), x, 1e-3),
        scale,
        1e-8,
      );
      return assertScaled(
        reference.poolGlobalMaxBackward(x, dy, planes, planeLen),
        numericGradient((v) => forward(v, "max"), x, 1e-3),
        scale,
        1e-8,
      );
    }),
  );
});

test("hand-computed pooling backward: first maximum on ties, last NaN, -Inf windows, ceil-mode divisors", () => {
  const row = { planes: 1, height: 1, kernelH: 1 };
  // Ties: the first maximum (PyTorch); padding never takes the gradient.
  assert.deepEqual(
    Array.from(
      poolMax2dBackward(w, Float32Array.of(5, 5, 1), Float32Array.of(2, 3), { ...row, width: 3, kernelW: 2 }),
    ),
    [2, 3, 0],
  );
  // A NaN wins, and with two the last one (PyTorch's `val > max || isnan(val)`).
  assert.deepEqual(
    Array.from(
      poolMax2dBackward(w, Float32Array.of(1, Number.NaN, 9, Number.NaN), Float32Array.of(1), {
        ...row,
        width: 4,
        kernelW: 4,
      }),
    ),
    [0, 0, 0, 1],
  );
  // All -Inf: the first in-image position (here column 0, after one pad column).
  assert.deepEqual(
    Array.from(
      poolMax2dBackward(w, new Float32Array(2).fill(Number.NEGATIVE_INFINITY), Float32Array.of(4), {
        ...row,
        width: 2,
        kernelW: 3,
        padLeft: 1,
      }),
    ),
    [4, 0],
  );
  // Average, 1x2 stride 2 ceil mode (outW 3) on 5 columns with padRight 1: the last window is column 4
  // plus padding, counted (divide by 2) with countIncludePad, not counted (divide by 1) without.
  const r = { ...row, width: 5, kernelW: 2, strideW: 2, padRight: 1, outH: 1, outW: 3 };
  assert.deepEqual(
    Array.from(poolAvg2dBackward(w, Float32Array.of(2, 4, 6), r, { countIncludePad: true })),
    [1, 1, 2, 2, 3],
  );
  assert.deepEqual(Array.from(poolAvg2dBackward(w, Float32Array.of(2, 4, 6), r)), [1, 1, 2, 2, 6]);
  assert.deepEqual(Array.from(poolGlobalAvgBackward(w, Float32Array.of(2, 8), 2, 2)), [1, 1, 4, 4]);
  assert.deepEqual(
    Array.from(poolGlobalMaxBackward(w, Float32Array.of(1, 7, 7, -4, -5, -6), Float32Array.of(2, 3), 2, 3)),
    [0, 2, 0, 3, 0, 0],
  );
  assert.deepEqual(
    Array.from(poolGlobalMaxBackward(w, new Float32Array(0), Float32Array.of(1, 2), 2, 0)),
    [],
  );
});

test("the pooling backward wrappers refuse bad sizes and overlaps", () => {
  const invalid = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  const base = { planes: 1, height: 4, width: 4, kernelH: 2, kernelW: 2 };
  const x = new Float32Array(16);
  invalid(() => poolMax2dBackward(w, x, new Float32Array(8), base), /poolMax2dBackward dy: expected 9/);
  invalid(() => poolMax2dBackward(w, new Float32Array(15), new Float32Array(9), base), /poolMax2dBackward x/);
  invalid(() => poolAvg2dBackward(w, new Float32Array(9), { ...base, dilationW: 2 }), /dilation 1 x 2/);
  invalid(() => poolAvg2dBackward(w, new Float32Array(9), { ...base, strideH: 0 }), /strideH/);
  invalid(() => poolGlobalAvgBackward(w, new Float32Array(3), 2, 5), /poolGlobalAvgBackward dy: expected 2/);
  invalid(
    () => poolGlobalMaxBackward(w, new Float32Array(9), new Float32Array(2), 2, 5),
    /poolGlobalMaxBackward x/,
  );
  withArena(w, (arena) => {
    const a = arena.allocF32(16);
    const dy = arena.allocF32(9);
    invalid(() => poolMax2dBackwardBuffers(w, a, dy, a, base), /overlap/);
    invalid(
      () =>
        poolAvg2dBackwardBuffers(
          w,
          a,
          { ptr: a.ptr, length: 16 },
          { ...base, kernelH: 1, kernelW: 1 },
          false,
        ),
      /overlap/,
    );
    invalid(() => poolGlobalAvgBackwardBuffers(w, dy, { ptr: dy.ptr, length: 9 }, 9, 1), /overlap/);
    invalid(
      () => poolGlobalMaxBackwardBuffers(w, a, dy, { ptr: a.ptr, length: 16 }, 9, 1),
      /poolGlobalMaxBackwardBuffers x/,
    );
    invalid(() => poolGlobalMaxBackwardBuffers(w, dy, dy, dy, 1, 9), /poolGlobalMaxBackwardBuffers dy/);
  });
});
