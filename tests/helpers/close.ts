import assert from "node:assert/strict";

/** Options for comparing a kernel result with its reference. */
export interface CloseOptions {
  /** Length of the longest reduction behind each value; tolerance grows with it. */
  reductionLen?: number;
  /** Relative tolerance per reduced element (default 2^-20, a few f32 ulps). */
  rtol?: number;
  /** Absolute floor (default 1e-6). */
  atol?: number;
  /** Scale of the inputs' magnitudes, multiplies atol (default 1). */
  scale?: number;
}

/**
 * Assert |actual - expected| <= atol*scale + rtol*sqrt(reductionLen+1)*(|expected| + scale) element-wise.
 * Returns true so it can end a fast-check property.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): true {
  assert.equal(actual.length, expected.length, `length ${actual.length} != expected ${expected.length}`);
  const n = opts.reductionLen ?? 1;
  const rtol = (opts.rtol ?? 2 ** -20) * Math.sqrt(n + 1) * 4;
  const scale = opts.scale ?? 1;
  const atol = (opts.atol ?? 1e-6) * scale * Math.max(1, n);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `index ${i}: expected NaN, got ${a}`);
      continue;
    }
    const tol = atol + rtol * (Math.abs(e) + scale * n);
    if (!(Math.abs(a - e) <= tol)) {
      assert.fail(`index ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > tol ${tol})`);
    }
  }
  return true;
}
