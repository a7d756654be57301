import assert from "node:assert/strict";
import fc from "fast-check";

/** The f32 bits of x mapped to integers that order like the floats (-0 and +0 one apart). */
function ordered(x: number): number {
  const bits = new Int32Array(Float32Array.of(x).buffer)[0]!;
  return bits >= 0 ? bits : -(bits & 0x7fffffff) - 1;
}

/** Distance in f32 units in the last place (NaN handled by the callers). */
export function ulpDistance(a: number, b: number): number {
  return Math.abs(ordered(a) - ordered(b));
}

/**
 * Assert that two f32 arrays hold the same values bit for bit, except that any NaN equals any NaN
 * (WebAssembly leaves NaN payloads unspecified). +0 and -0 differ. Returns true (for fast-check).
 */
export function assertSameF32(actual: ArrayLike<number>, expected: ArrayLike<number>, what = ""): true {
  assert.equal(
    actual.length,
    expected.length,
    `${what} length ${actual.length} != expected ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Object.is(a, e)) assert.fail(`${what} index ${i}: got ${a}, expected ${e} (bit-exact)`);
  }
  return true;
}

/**
 * Assert that two f32 arrays agree within `ulps` units in the last place or `atol` absolute, with the
 * same NaNs and the same infinities. Returns true (for fast-check).
 */
export function assertUlps(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  ulps: number,
  atol = 0,
  what = "",
): true {
  assert.equal(
    actual.length,
    expected.length,
    `${what} length ${actual.length} != expected ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(a) && Number.isNaN(e), `${what} index ${i}: got ${a}, expected ${e}`);
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      assert.equal(a, e, `${what} index ${i}`);
      continue;
    }
    if (!(ulpDistance(a, e) <= ulps || Math.abs(a - e) <= atol)) {
      assert.fail(
        `${what} index ${i}: got ${a}, expected ${e} (${ulpDistance(a, e)} ulps > ${ulps}, atol ${atol})`,
      );
    }
  }
  return true;
}

/** Awkward f32 values: signed zeros, subnormals, +-Inf, NaN, huge and tiny magnitudes. */
export const SPECIAL_F32: readonly number[] = [
  0,
  -0,
  1e-45,
  -1e-45,
  1.1754942e-38,
  3.4028235e38,
  -3.4028235e38,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  88.8,
  -88.8,
  104,
  -104,
  1e30,
  -1e30,
  -3,
  3,
  6,
  -6,
];

/** One f32: mostly bounded, sometimes special, sometimes anything (NaN and Inf included). */
export function wideF32(bound = 8): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.float({ min: Math.fround(-bound), max: Math.fround(bound), noNaN: true }) },
    { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_F32) },
    { weight: 1, arbitrary: fc.float() },
  );
}

/** A Float32Array of exactly `len` wideF32 values. */
export function wideF32Array(len: number, bound = 8): fc.Arbitrary<Float32Array> {
  return fc.array(wideF32(bound), { minLength: len, maxLength: len }).map((a) => Float32Array.from(a));
}
