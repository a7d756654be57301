import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import {
  addL1Grad,
  addL1GradBuffers,
  type SgdOptions,
  scaleInPlace,
  scaleInPlaceBuffers,
  sgdStep,
  sgdStepBuffers,
} from "../../src/wasm/kernels/optim.ts";
import * as reference from "../../src/wasm/reference/optim.ts";
import { f32Array, size } from "../helpers/arbitraries.ts";
import { assertBitExact } from "../helpers/exact.ts";
import { assertUlps } from "../helpers/f32.ts";

const w = await getWasm();

const sgdOptions: fc.Arbitrary<Required<SgdOptions>> = fc
  .record({
    lr: fc.constantFrom(0, 1e-3, 0.01, 0.1, 0.5),
    momentum: fc.constantFrom(0, 0.5, 0.9, 0.99),
    weightDecay: fc.constantFrom(0, 5e-4, 1e-2),
    nesterov: fc.boolean(),
  })
  .map((o) => ({ ...o, nesterov: o.nesterov && o.momentum > 0 }));

test("sgdStep is bit-exact with the f32 reference over several steps on ragged lengths", () => {
  const arb = size(40).chain((len) =>
    fc.record({
      weights: f32Array(len),
      grads: fc.array(f32Array(len), { minLength: 1, maxLength: 4 }),
      options: sgdOptions,
    }),
  );
  fc.assert(
    fc.property(arb, ({ weights, grads, options }) => {
      type State = { weights: Float32Array; velocity: Float32Array };
      let got: State = { weights, velocity: new Float32Array(weights.length) };
      let want: State = { weights, velocity: new Float32Array(weights.length) };
      for (const g of grads) {
        got = sgdStep(w, got.weights, g, got.velocity, options);
        want = reference.sgdStep(want.weights, g, want.velocity, options);
        assertBitExact(got.weights, want.weights);
        assertBitExact(got.velocity, want.velocity);
      }
      return true;
    }),
  );
});

// Expected values from PyTorch 1.13 (float32): torch.optim.SGD([p], lr=0.1, momentum=0.9,
// weight_decay=5e-4, nesterov=...), p = W0, then opt.step() with p.grad = GRADS[t] for t = 0, 1, 2;
// printed with repr(float(v)) after each step. Five elements: one SIMD block and a scalar tail.
// PyTorch's CPU `add(x, alpha=a)` (d_p + wd*p, buf*m + d_p, p - lr*d_p) is compiled to a fused
// multiply-add, one rounding where the kernel (no FMA, by design: bit-identical everywhere) has two,
// so a few of these differ from the kernel by one ulp (checked: evaluating PyTorch's formula unfused in
// numpy float32 gives the kernel's bits). Hence the tolerance of TORCH_ULPS ulps, not bit equality.
const TORCH_ULPS = 1;
const W0 = [0.5, -1.25, 2.0, 0.0, -0.75];
const GRADS = [
  [0.1, -0.2, 0.3, 0.05, -0.4],
  [-0.3, 0.25, 0.1, -0.15, 0.2],
  [0.2, 0.1, -0.5, 0.3, -0.05],
];
const TORCH: Record<"plain" | "nesterov", { weights: number[]; velocity: number[] }[]> = {
  plain: [
    {
      weights: [
        0.4899750053882599, -1.2299375534057617, 1.9699000120162964, -0.005000000353902578,
        -0.7099624872207642,
      ],
      velocity: [
        0.1002499982714653, -0.2006250023841858, 0.3009999990463257, 0.05000000074505806,
        -0.40037500858306885,
      ],
    },
    {
      weights: [
        0.5109280347824097, -1.236819863319397, 1.9327114820480347, 0.005500250495970249, -0.6938932538032532,
      ],
      velocity: [
        -0.2095300406217575, 0.06882253289222717, 0.37188494205474854, -0.1050025075674057,
        -0.1606924682855606,
      ],
    },
    {
      weights: [
        0.5097602009773254, -1.2529520988464355, 1.9491451978683472, -0.015049799345433712,
        -0.6743962168693542,
      ],
      velocity: [
        0.011678442358970642, 0.16132186353206635, -0.1643371880054474, 0.2055004984140396,
        -0.19497016072273254,
      ],
    },
  ],
  nesterov: [
    {
      weights: [
        0.48095250129699707, -1.2118812799453735, 1.9428099393844604, -0.009499999694526196,
        -0.6739287376403809,
      ],
      velocity: [
        0.1002499982714653, -0.2006250023841858, 0.3009999990463257, 0.05000000074505806,
        -0.40037500858306885,
      ],
    },
    {
      weights: [
        0.5297865867614746, -1.2430155277252197, 1.8992444276809692, 0.014950904995203018,
        -0.6794343590736389,
      ],
      velocity: [
        -0.20953454077243805, 0.06883156299591064, 0.37187138199806213, -0.10500475764274597,
        -0.16067445278167725,
      ],
    },
    {
      weights: [
        0.5087085366249084, -1.267472743988037, 1.9639424085617065, -0.03354513272643089, -0.6568551659584045,
      ],
      velocity: [
        0.011683821678161621, 0.16132690012454987, -0.16436615586280823, 0.2055032104253769,
        -0.19494672119617462,
      ],
    },
  ],
};

for (const kind of ["plain", "nesterov"] as const) {
  test(`sgdStep reproduces PyTorch's SGD (momentum 0.9, weight decay 5e-4, ${kind}) over 3 steps`, () => {
    const options = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: kind === "nesterov" };
    let state: { weights: Float32Array; velocity: Float32Array | undefined } = {
      weights: Float32Array.from(W0),
      velocity: undefined,
    };
    TORCH[kind].forEach((want, t) => {
      const next = sgdStep(w, state.weights, Float32Array.from(GRADS[t]!), state.velocity, options);
      assertUlps(next.weights, want.weights, TORCH_ULPS, 0, `weights after step ${t + 1}`);
      assertUlps(next.velocity, want.velocity, TORCH_ULPS, 0, `velocity after step ${t + 1}`);
      state = next;
    });
  });
}

test("plain SGD by hand, and momentum 0 leaves a velocity buffer untouched", () => {
  // w - lr*(g + wd*w): 1 - 0.5*(1 + 0.5*1) = 0.25; -2 - 0.5*(0 + 0.5*-2) = -1.5.
  const got = sgdStep(w, Float32Array.of(1, -2), Float32Array.of(1, 0), undefined, {
    lr: 0.5,
    weightDecay: 0.5,
  });
  assert.deepEqual(Array.from(got.weights), [0.25, -1.5]);
  const v = withArena(w, (arena) => {
    const vb = arena.copyInF32(Float32Array.of(3, 4));
    sgdStepBuffers(w, arena.copyInF32(Float32Array.of(1, 2)), arena.copyInF32(Float32Array.of(1, 1)), vb, {
      lr: 1,
    });
    return arena.viewF32(vb).slice();
  });
  assert.deepEqual(Array.from(v), [3, 4]);
});

test("scaleInPlace and addL1Grad are bit-exact with the reference; sign(+-0) = 0", () => {
  const withZeros = (len: number) =>
    fc
      .tuple(f32Array(len), fc.array(fc.constantFrom(0, -0, 1), { minLength: len, maxLength: len }))
      .map(([v, z]) => v.map((x, i) => (z[i] === 1 ? x : z[i]!)));
  const arb = size(40).chain((len) =>
    fc.record({
      x: withZeros(len),
      g: f32Array(len),
      s: fc.float({ min: -4, max: 4, noNaN: true }),
    }),
  );
  fc.assert(
    fc.property(arb, ({ x, g, s }) => {
      const copy = x.slice();
      const scaled = scaleInPlace(w, copy, s);
      assert.equal(scaled, copy);
      assertBitExact(scaled, reference.scaleInPlace(x, s));
      return assertBitExact(addL1Grad(w, x, g, s), reference.addL1Grad(x, g, s));
    }),
  );
  assert.deepEqual(
    Array.from(addL1Grad(w, Float32Array.of(2, 0, -3, -0, 1e-30), Float32Array.of(1, 1, 1, 1, 1), 0.5)),
    [1.5, 1, 0.5, 1, 1.5],
  );
  assert.deepEqual(Array.from(scaleInPlace(w, Float32Array.of(1, -2, 3, 4, 5), 0.5)), [0.5, -1, 1.5, 2, 2.5]);
});

test("optim wrappers refuse bad options, missing velocity, bad lengths and overlaps", () => {
  const code = { code: "INVALID_ARGUMENT" };
  const one = Float32Array.of(1);
  assert.throws(() => sgdStep(w, one, one, undefined, { lr: -1 }), { ...code, message: /sgdStep lr/ });
  assert.throws(() => sgdStep(w, one, one, undefined, { lr: Number.NaN }), {
    ...code,
    message: /sgdStep lr/,
  });
  assert.throws(() => sgdStep(w, one, one, undefined, { lr: 0.1, nesterov: true }), {
    ...code,
    message: /Nesterov momentum requires momentum > 0/,
  });
  assert.throws(() => sgdStep(w, one, one, undefined, { lr: 0.1, weightDecay: -1 }), {
    ...code,
    message: /weightDecay/,
  });
  assert.throws(() => sgdStep(w, one, new Float32Array(2), undefined, { lr: 0.1 }), {
    ...code,
    message: /sgdStep grads/,
  });
  assert.throws(() => sgdStep(w, one, one, new Float32Array(2), { lr: 0.1 }), {
    ...code,
    message: /sgdStep velocity/,
  });
  assert.throws(() => addL1Grad(w, one, new Float32Array(2), 0.1), { ...code, message: /addL1Grad grads/ });
  assert.throws(() => scaleInPlace(w, one, Number.POSITIVE_INFINITY), { ...code, message: /scaleInPlace s/ });
  withArena(w, (arena) => {
    const buf = arena.allocF32(8);
    const a = { ptr: buf.ptr, length: 4 };
    const b = { ptr: buf.ptr + 8, length: 4 };
    assert.throws(
      () => sgdStepBuffers(w, arena.allocF32(4), arena.allocF32(4), undefined, { lr: 0.1, momentum: 0.9 }),
      {
        ...code,
        message: /needs a velocity buffer of 4 elements/,
      },
    );
    assert.throws(() => sgdStepBuffers(w, a, b, undefined, { lr: 0.1 }), {
      ...code,
      message: /must not overlap/,
    });
    assert.throws(() => addL1GradBuffers(w, a, b, 0.1), { ...code, message: /must not overlap/ });
    scaleInPlaceBuffers(w, a, 1);
  });
});
