import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  type Pool2dSpec,
  poolAvg2d,
  poolGlobalAvg,
  poolGlobalMax,
  poolMax2d,
  resolvePool2d,
} from "../../src/wasm/kernels/pool.ts";
import * as reference from "../../src/wasm/reference/pool.ts";
import { size } from "../helpers/arbitraries.ts";
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
