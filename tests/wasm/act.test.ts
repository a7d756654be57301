import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import {
  ACT_CLIP,
  ACT_HARD_SIGMOID,
  ACT_HARD_SWISH,
  ACT_LEAKY_RELU,
  ACT_NONE,
  ACT_RELU,
  ACT_SIGMOID,
  ACT_TANH,
  type Activation,
  actApply,
  actApplyBuffers,
  actBackward,
  actBackwardBuffers,
  actBiasCols,
  actBiasColsBuffers,
  actBiasRows,
  actBiasRowsBuffers,
  activationCode,
} from "../../src/wasm/kernels/act.ts";
import * as reference from "../../src/wasm/reference/act.ts";
import { f32Array, size } from "../helpers/arbitraries.ts";
import { assertSameF32, assertUlps, wideF32, wideF32Array } from "../helpers/f32.ts";

const w = await getWasm();

/** Sigmoid and tanh go through exp / tanh: Mathf (musl, f32) against Math (f64, rounded). */
const TRANSCENDENTAL_ULPS = 2;

function assertMatches(act: number, got: ArrayLike<number>, want: ArrayLike<number>): true {
  return act === ACT_SIGMOID || act === ACT_TANH
    ? assertUlps(got, want, TRANSCENDENTAL_ULPS, 1e-44)
    : assertSameF32(got, want);
}

/** Every activation kind with random parameters (bounded, sometimes special). */
function activation(): fc.Arbitrary<Activation> {
  const p = fc.oneof(fc.float({ min: -4, max: 4, noNaN: true }), fc.constantFrom(0, -0, Infinity, -Infinity));
  return fc.oneof(
    fc.constant<Activation>({ kind: "none" }),
    fc.constant<Activation>({ kind: "relu" }),
    p.map((alpha): Activation => ({ kind: "leakyRelu", alpha })),
    fc.tuple(p, p).map(([a, b]): Activation => ({ kind: "clip", min: Math.min(a, b), max: Math.max(a, b) })),
    fc.constant<Activation>({ kind: "sigmoid" }),
    fc.tuple(p, p).map(([alpha, beta]): Activation => ({ kind: "hardSigmoid", alpha, beta })),
    fc.constant<Activation>({ kind: "hardSwish" }),
    fc.constant<Activation>({ kind: "tanh" }),
  );
}

const vector = size(70).chain((len) => wideF32Array(len));

test("the ACT_* codes of src/wasm/kernels/act.ts are the module's exports", () => {
  const value = (name: string): number => {
    const g = w.exports[name];
    return g instanceof WebAssembly.Global ? Number(g.value) : Number(g);
  };
  const codes = {
    ACT_NONE,
    ACT_RELU,
    ACT_LEAKY_RELU,
    ACT_CLIP,
    ACT_SIGMOID,
    ACT_HARD_SIGMOID,
    ACT_HARD_SWISH,
    ACT_TANH,
  };
  const wasmNames = Object.keys(w.exports)
    .filter((n) => n.startsWith("ACT_"))
    .sort();
  assert.deepEqual(wasmNames, Object.keys(codes).sort());
  for (const [name, code] of Object.entries(codes)) assert.equal(value(name), code, name);
  // act_bias_* take bias pointer 0 as "no bias": no arena buffer can start there.
  assert.ok(Number(value("HEAP_BASE")) > 0);
});

test("actApply matches the reference for every activation, on ragged lengths with NaN, Inf and huge values", () => {
  fc.assert(
    fc.property(activation(), vector, (a, x) => {
      const { act, a0, a1 } = activationCode(a);
      return assertMatches(act, actApply(w, x, a), reference.actApply(x, act, a0, a1));
    }),
  );
});

test("act_apply into a separate buffer equals the in-place result and leaves x alone", () => {
  fc.assert(
    fc.property(activation(), vector, (a, x) => {
      const { act, a0, a1 } = activationCode(a);
      const [y, xAfter] = withArena(w, (arena) => {
        const xb = arena.copyInF32(x);
        const yb = arena.allocF32(x.length);
        arena.viewF32(yb).fill(123);
        actApplyBuffers(w, xb, yb, a);
        return [arena.viewF32(yb).slice(), arena.viewF32(xb).slice()];
      });
      assertSameF32(xAfter, x, "x");
      return assertMatches(act, y, reference.actApply(x, act, a0, a1));
    }),
  );
});

const epilogueCase = fc
  .tuple(size(12), size(40), activation(), fc.boolean())
  .chain(([rows, cols, a, withBias]) =>
    fc.record({
      rows: fc.constant(rows),
      cols: fc.constant(cols),
      a: fc.constant(a),
      y: wideF32Array(rows * cols),
      rowBias: withBias
        ? wideF32Array(rows).map((b) => b as Float32Array | undefined)
        : fc.constant(undefined),
      colBias: withBias
        ? wideF32Array(cols).map((b) => b as Float32Array | undefined)
        : fc.constant(undefined),
    }),
  );

test("actBiasRows and actBiasCols match the reference, with and without bias", () => {
  fc.assert(
    fc.property(epilogueCase, ({ rows, cols, a, y, rowBias, colBias }) => {
      const { act, a0, a1 } = activationCode(a);
      assertMatches(
        act,
        actBiasRows(w, y, rows, cols, rowBias, a),
        reference.actBiasRows(y, rows, cols, rowBias, act, a0, a1),
      );
      return assertMatches(
        act,
        actBiasCols(w, y, rows, cols, colBias, a),
        reference.actBiasCols(y, rows, cols, colBias, act, a0, a1),
      );
    }),
  );
});

test("the epilogues cross their 4096-element blocks (short rows grouped, long rows alone)", () => {
  for (const [rows, cols] of [
    [700, 7],
    [5, 1500],
    [3, 5000],
  ] as const) {
    const y = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 3);
    const rb = Float32Array.from({ length: rows }, (_, i) => Math.cos(i));
    const cb = Float32Array.from({ length: cols }, (_, i) => Math.cos(i * 0.5));
    const clip: Activation = { kind: "clip", min: -1, max: 2 };
    assertSameF32(
      actBiasRows(w, y, rows, cols, rb, clip),
      reference.actBiasRows(y, rows, cols, rb, ACT_CLIP, -1, 2),
    );
    assertSameF32(
      actBiasCols(w, y, rows, cols, cb, clip),
      reference.actBiasCols(y, rows, cols, cb, ACT_CLIP, -1, 2),
    );
  }
});

test("hand-computed activations", () => {
  const x = Float32Array.of(-2, -0.5, -0, 0, 0.5, 3, 7);
  const run = (a: Activation) => Array.from(actApply(w, x, a));
  assert.deepEqual(run({ kind: "none" }), [-2, -0.5, -0, 0, 0.5, 3, 7]);
  assert.deepEqual(run({ kind: "relu" }), [0, 0, 0, 0, 0.5, 3, 7]);
  assert.ok(Object.is(run({ kind: "relu" })[2], 0), "relu(-0) is +0 (IEEE max)");
  assert.deepEqual(run({ kind: "leakyRelu", alpha: 0.25 }), [-0.5, -0.125, -0, 0, 0.5, 3, 7]);
  assert.deepEqual(run({ kind: "clip", min: -1, max: 6 }), [-1, -0.5, -0, 0, 0.5, 3, 6]);
  assert.deepEqual(run({ kind: "hardSigmoid", alpha: 0.25, beta: 0.5 }), [0, 0.375, 0.5, 0.5, 0.625, 1, 1]);
  // x * clamp(x/6 + 0.5): -2 -> -2 * (1/6) = -1/3 (rounded to f32 at each step), 3 -> 3, 7 -> 7.
  const f = Math.fround;
  const hs = (v: number) => f(v * Math.max(0, Math.min(1, f(f(v * f(1 / 6)) + 0.5))));
  assert.deepEqual(run({ kind: "hardSwish" }), [hs(-2), hs(-0.5), -0, 0, hs(0.5), 3, 7]);
  assert.equal(run({ kind: "hardSwish" })[5], 3);
  const sig = actApply(w, Float32Array.of(0, Infinity, -Infinity, 100, -100, -1000, Number.NaN), {
    kind: "sigmoid",
  });
  assert.deepEqual(Array.from(sig.subarray(0, 4)), [0.5, 1, 0, 1]);
  assert.ok(sig[4]! > 0 && sig[4]! < 1e-43, `sigmoid(-100) = e^-100 ~ 3.7e-44, got ${sig[4]}`);
  assert.equal(sig[5], 0);
  assert.ok(Number.isNaN(sig[6]!));
  const th = actApply(w, Float32Array.of(0, -0, Infinity, -Infinity, 20, -20), { kind: "tanh" });
  assert.deepEqual(Array.from(th), [0, -0, 1, -1, 1, -1]);
});

test("sigmoid never gives NaN for non-NaN input and stays in [0, 1], monotone", () => {
  fc.assert(
    fc.property(fc.array(wideF32(200), { maxLength: 40 }), (xs) => {
      const x = Float32Array.from(xs.filter((v) => !Number.isNaN(v))).sort();
      const y = actApply(w, x, { kind: "sigmoid" });
      for (let i = 0; i < y.length; i++) {
        assert.ok(y[i]! >= 0 && y[i]! <= 1, `sigmoid(${x[i]}) = ${y[i]}`);
        if (i > 0) assert.ok(y[i]! >= y[i - 1]!, `not monotone at ${x[i - 1]}, ${x[i]}`);
      }
      return true;
    }),
  );
});

test("the wrappers refuse bad activations and sizes, naming the argument", () => {
  const expectInvalid = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  expectInvalid(
    () => actApply(w, new Float32Array(3), { kind: "gelu" } as unknown as Activation),
    /unknown activation kind "gelu"/,
  );
  expectInvalid(
    () => actApply(w, new Float32Array(3), { kind: "leakyRelu", alpha: Number.NaN }),
    /leakyRelu alpha/,
  );
  expectInvalid(
    () => actBiasRows(w, new Float32Array(6), 2, 3, new Float32Array(3), undefined),
    /actBiasRows bias: expected 2/,
  );
  expectInvalid(
    () => actBiasCols(w, new Float32Array(6), 2, 3, new Float32Array(2), undefined),
    /actBiasCols bias: expected 3/,
  );
  expectInvalid(
    () => actBiasCols(w, new Float32Array(5), 2, 3, undefined, undefined),
    /actBiasCols y: expected 6/,
  );
  expectInvalid(() => actBiasRows(w, new Float32Array(0), -1, 0, undefined, undefined), /actBiasRows rows/);
  expectInvalid(
    () =>
      withArena(w, (arena) =>
        actBiasRowsBuffers(w, arena.allocF32(4), 2, 2, arena.allocF32(3), { kind: "relu" }),
      ),
    /actBiasRowsBuffers bias/,
  );
  expectInvalid(
    () => withArena(w, (arena) => actBiasColsBuffers(w, arena.allocF32(4), 2, 3, undefined, undefined)),
    /actBiasColsBuffers y/,
  );
  expectInvalid(
    () => withArena(w, (arena) => actApplyBuffers(w, arena.allocF32(4), arena.allocF32(3), undefined)),
    /actApplyBuffers y: expected 4/,
  );
});

// ---- backward ----

/** Every activation kind with finite parameters in [-4, 4]. */
function finiteActivation(): fc.Arbitrary<Activation> {
  const p = fc.oneof(fc.float({ min: -4, max: 4, noNaN: true }), fc.constantFrom(0, 0.5, 1));
  return fc.oneof(
    fc.constant<Activation>({ kind: "none" }),
    fc.constant<Activation>({ kind: "relu" }),
    p.map((alpha): Activation => ({ kind: "leakyRelu", alpha })),
    fc.tuple(p, p).map(([a, b]): Activation => ({ kind: "clip", min: Math.min(a, b), max: Math.max(a, b) })),
    fc.constant<Activation>({ kind: "sigmoid" }),
    fc.tuple(p, p).map(([alpha, beta]): Activation => ({ kind: "hardSigmoid", alpha, beta })),
    fc.constant<Activation>({ kind: "hardSwish" }),
    fc.constant<Activation>({ kind: "tanh" }),
  );
}

/** The kernel's code with its parameters as the kernel sees them (f32). */
function f32Code(a: Activation): { act: number; a0: number; a1: number } {
  const { act, a0, a1 } = activationCode(a);
  return { act, a0: Math.fround(a0), a1: Math.fround(a1) };
}

/** The activation in f64 (for finite differences). */
function actF64(x: number, act: number, a0: number, a1: number): number {
  switch (act) {
    case ACT_RELU:
      return Math.max(x, 0);
    case ACT_LEAKY_RELU:
      return x < 0 ? a0 * x : x;
    case ACT_CLIP:
      return Math.min(Math.max(x, a0), a1);
    case ACT_SIGMOID:
      return 1 / (1 + Math.exp(-x));
    case ACT_HARD_SIGMOID:
      return Math.max(0, Math.min(1, a0 * x + a1));
    case ACT_HARD_SWISH:
      return x * Math.max(0, Math.min(1, x / 6 + 0.5));
    case ACT_TANH:
      return Math.tanh(x);
    default:
      return x;
  }
}

/** The x where the activation has a kink (none for the smooth ones). */
function kinks(act: number, a0: number, a1: number): number[] {
  switch (act) {
    case ACT_RELU:
    case ACT_LEAKY_RELU:
      return [0];
    case ACT_CLIP:
      return [a0, a1];
    case ACT_HARD_SIGMOID:
      return a0 === 0 ? [] : [-a1 / a0, (1 - a1) / a0];
    case ACT_HARD_SWISH:
      return [-3, 3];
    default:
      return [];
  }
}

const nearKink = (x: number, ks: number[], eps: number) => ks.some((k) => Math.abs(x - k) <= eps);

/** x in [-30, 30] (saturating sigmoid and tanh), with the kink points of every code mixed in. */
const backwardCase = fc.tuple(finiteActivation(), size(70)).chain(([a, len]) =>
  fc.record({
    a: fc.constant(a),
    x: fc
      .array(
        fc.oneof(fc.float({ min: -30, max: 30, noNaN: true }), fc.constantFrom(0, -0, -3, 3, 0.5, -0.5, 1)),
        {
          minLength: len,
          maxLength: len,
        },
      )
      .map((v) => Float32Array.from(v)),
    dy: f32Array(len),
  }),
);

test("actBackward matches the f64 reference for every activation, on ragged lengths and at the kinks", () => {
  fc.assert(
    fc.property(backwardCase, ({ a, x, dy }) => {
      const { act, a0, a1 } = f32Code(a);
      const got = actBackward(w, x, dy, a);
      const want = reference.actBackward(x, dy, act, a0, a1);
      let dyMax = 1e-30;
      for (const v of dy) dyMax = Math.max(dyMax, Math.abs(v));
      const tol = 1e-5 * dyMax * Math.max(1.5, Math.abs(a0));
      const ks = act === ACT_HARD_SIGMOID ? kinks(act, a0, a1) : [];
      for (let i = 0; i < x.length; i++) {
        // Hard sigmoid decides on a0*x + a1 rounded to f32 in the kernel, in f64 in the reference.
        if (nearKink(x[i]!, ks, 1e-5 * Math.max(1, Math.abs(x[i]!)))) continue;
        const d = Math.abs(got[i]! - want[i]!);
        if (!(d <= tol)) assert.fail(`${a.kind} x=${x[i]} dy=${dy[i]}: got ${got[i]}, expected ${want[i]}`);
      }
      return true;
    }),
  );
});

test("the reference backward is the central difference of the f64 forward, away from the kinks", () => {
  fc.assert(
    fc.property(backwardCase, ({ a, x, dy }) => {
      const { act, a0, a1 } = f32Code(a);
      const want = reference.actBackward(x, dy, act, a0, a1);
      const ks = kinks(act, a0, a1);
      const h = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        if (nearKink(v, ks, 1e-3)) continue;
        const numeric = (dy[i]! * (actF64(v + h, act, a0, a1) - actF64(v - h, act, a0, a1))) / (2 * h);
        const tol = 1e-6 * Math.abs(dy[i]!) * Math.max(1, Math.abs(a0));
        if (!(Math.abs(numeric - want[i]!) <= tol)) {
          assert.fail(`${a.kind} x=${v}: reference ${want[i]}, central difference ${numeric}`);
        }
      }
      return true;
    }),
  );
});

test("actBackwardBuffers in place (dx = dy) and into a separate buffer agree and leave x alone", () => {
  fc.assert(
    fc.property(backwardCase, ({ a, x, dy }) => {
      const [inPlace, separate, xAfter, dyAfter] = withArena(w, (arena) => {
        const xb = arena.copyInF32(x);
        const dyb = arena.copyInF32(dy);
        const dxb = arena.allocF32(x.length);
        actBackwardBuffers(w, xb, dyb, dxb, a);
        const sep = arena.viewF32(dxb).slice();
        const dyCopy = arena.viewF32(dyb).slice();
        actBackwardBuffers(w, xb, dyb, dyb, a);
        return [arena.viewF32(dyb).slice(), sep, arena.viewF32(xb).slice(), dyCopy];
      });
      assertSameF32(xAfter, x, "x");
      assertSameF32(dyAfter, dy, "dy");
      return assertSameF32(inPlace, separate);
    }),
  );
});

test("act backward by hand: PyTorch's choices at the kinks, saturation, NaN", () => {
  const x = Float32Array.of(-3, -1, 0, -0, 0.5, 1, 3, 6, Number.NaN);
  const dy = new Float32Array(x.length).fill(2);
  const run = (a: Activation) => Array.from(actBackward(w, x, dy, a));
  assert.deepEqual(run({ kind: "relu" }), [0, 0, 0, 0, 2, 2, 2, 2, 0]);
  assert.deepEqual(run({ kind: "leakyRelu", alpha: 0.5 }), [1, 1, 1, 1, 2, 2, 2, 2, 1]);
  // hardtanh_backward: 0 at x <= min or x >= max.
  assert.deepEqual(run({ kind: "clip", min: -1, max: 3 }), [0, 0, 2, 2, 2, 2, 0, 0, 0]);
  // v = 0.25x + 0.5 is in (0, 1) for -2 < x < 2.
  assert.deepEqual(
    run({ kind: "hardSigmoid", alpha: 0.25, beta: 0.5 }),
    [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0, 0],
  );
  // hardswish_backward: x < -3 -> 0, x <= 3 -> dy (x/3 + 0.5), else dy; NaN compares false: dy.
  assert.deepEqual(
    run({ kind: "hardSwish" }),
    [-3, -1, 0, -0, 0.5, 1, 3]
      .map((v) => Math.fround(2 * Math.fround(Math.fround(v / 3) + 0.5)))
      .concat([2, 2]),
  );
  assert.deepEqual(run({ kind: "none" }), Array.from(dy));
  const s = actBackward(
    w,
    Float32Array.of(0, 100, -100, Number.POSITIVE_INFINITY),
    Float32Array.of(4, 1, 1, 1),
    {
      kind: "sigmoid",
    },
  );
  assert.equal(s[0], 1);
  assert.ok(s[1]! > 0 && s[1]! < 1e-40 && s[1] === s[2], "sigmoid' keeps its relative accuracy at |x| = 100");
  assert.equal(s[3], 0);
  const t = actBackward(w, Float32Array.of(0, 20, Number.NaN), Float32Array.of(3, 1, 1), { kind: "tanh" });
  assert.equal(t[0], 3);
  assert.ok(Math.abs(t[1]! / (4 * Math.exp(-40)) - 1) < 1e-5, "tanh'(20) = 4 e^-40 (1 - t*t would give 0)");
  assert.ok(Number.isNaN(t[2]!));
});

test("actBackward refuses mismatched lengths, partial overlaps and bad activations", () => {
  const invalid = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  invalid(() => actBackward(w, new Float32Array(3), new Float32Array(4), { kind: "relu" }), /actBackward dy/);
  invalid(
    () => actBackward(w, new Float32Array(3), new Float32Array(3), { kind: "leakyRelu", alpha: Number.NaN }),
    /leakyRelu alpha/,
  );
  withArena(w, (arena) => {
    const a = arena.allocF32(8);
    const x = arena.allocF32(4);
    const dy = { ptr: a.ptr, length: 4 };
    const dx = { ptr: a.ptr + 4, length: 4 };
    invalid(() => actBackwardBuffers(w, x, dy, dx, { kind: "relu" }), /same buffer as dy or x/);
    invalid(() => actBackwardBuffers(w, x, dy, arena.allocF32(3), { kind: "relu" }), /actBackwardBuffers dx/);
  });
});
