import assert from "node:assert/strict";

/**
 * Assert that two f32 results are bit-identical element by element (Object.is, so +0 and -0 differ
 * and NaN equals NaN). Returns true so it can end a fast-check property.
 */
export function assertBitExact(actual: ArrayLike<number>, expected: ArrayLike<number>): true {
  assert.equal(actual.length, expected.length, `length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      assert.fail(`index ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
  return true;
}
