import {
  affinity_exemplars,
  affinity_iterate,
  affinity_iterate_scratch_bytes,
  affinityFastMinMax,
} from "../../assembly/affinity";

describe("affinity", () => {
  it("sizes its scratch in whole f64 words", () => {
    expect(affinity_iterate_scratch_bytes(3, 15) % 8).toBe(0);
    expect(affinity_iterate_scratch_bytes(3, 15)).toBeGreaterThanOrEqual(16 * 3 + 4 * 3 + 3 * 15 + 24);
  });

  it("joins two points under the one that prefers itself more", () => {
    // S = [[-20, -9], [-9, -30]]
    const s = memory.data(32, 8);
    store<f64>(s, -20);
    store<f64>(s + 8, -9);
    store<f64>(s + 16, -9);
    store<f64>(s + 24, -30);
    const r = memory.data(32, 8);
    const a = memory.data(32, 8);
    const flags = memory.data(8, 8);
    const scratch = memory.data(160, 8); // >= affinity_iterate_scratch_bytes(2, 15) = 96
    const out = memory.data(8, 8);
    affinity_iterate(s, r, a, flags, scratch, 2, 200, 15, 0.5, out);
    expect(load<i32>(out + 4)).toBe(1);
    const ex = memory.data(8, 8);
    const labels = memory.data(8, 8);
    const tmp = memory.data(36, 8);
    expect(affinity_exemplars(s, flags, 2, ex, labels, tmp)).toBe(1);
    expect(load<i32>(ex)).toBe(0);
    expect(load<i32>(labels + 4)).toBe(0);
  });
});

describe("the pmax / pmin forms of the message passing", () => {
  it("give the IEEE max / min bits, zero signs included, on every pair of non-NaN specials", () => {
    const values = memory.data(10 * 8, 8);
    store<f64>(values, 0.0);
    store<f64>(values, -0.0, 8);
    store<f64>(values, 1.0, 16);
    store<f64>(values, -1.0, 24);
    store<f64>(values, 5e-324, 32);
    store<f64>(values, -5e-324, 40);
    store<f64>(values, Infinity, 48);
    store<f64>(values, -Infinity, 56);
    store<f64>(values, 1.7976931348623157e308, 64);
    store<f64>(values, -2.5, 72);
    for (let p = 0; p < 10; p++) {
      const a = load<f64>(values + ((<usize>p) << 3));
      // max(0, r) as pmax(0, r); min(x, 0) as pmin(x, 0) (assembly/affinity.ts).
      expect(reinterpret<i64>(affinityFastMinMax(0, a, 0))).toBe(reinterpret<i64>(Math.max(a, 0.0)));
      expect(reinterpret<i64>(affinityFastMinMax(1, a, 0))).toBe(reinterpret<i64>(Math.min(a, 0.0)));
      for (let q = 0; q < 10; q++) {
        const b = load<f64>(values + ((<usize>q) << 3));
        expect(reinterpret<i64>(affinityFastMinMax(2, a, b))).toBe(reinterpret<i64>(Math.max(a, b)));
      }
    }
  });
});
