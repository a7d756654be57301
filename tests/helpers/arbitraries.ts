import fc from "fast-check";

/** Sizes that cross SIMD tile edges: 0..9 often, then random up to `max`. */
export function size(max = 70): fc.Arbitrary<number> {
  return fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 9 }) }, fc.integer({ min: 0, max }));
}

/** A Float32Array of exactly `len` bounded values in [-bound, bound]. */
export function f32Array(len: number, bound = 4): fc.Arbitrary<Float32Array> {
  return fc
    .array(
      fc.float({ min: Math.fround(-bound), max: Math.fround(bound), noNaN: true, noDefaultInfinity: true }),
      {
        minLength: len,
        maxLength: len,
      },
    )
    .map((a) => Float32Array.from(a));
}

/** A rows x cols matrix with bounded values. */
export function matrix(
  maxRows = 40,
  maxCols = 70,
): fc.Arbitrary<{ rows: number; cols: number; x: Float32Array }> {
  return fc
    .tuple(size(maxRows), size(maxCols))
    .chain(([rows, cols]) => f32Array(rows * cols).map((x) => ({ rows, cols, x })));
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32), for fixed-seed inputs. */
export function seededFloats(seed: number, len: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}
