import { bnAffine, MERGE_BN_EXACT, MERGE_BN_REFERENCE } from "../../assembly/merge";

// Sanity vector of docs/methods.md §2.5 (expected values from the spec): s=1.7, γp=0.8, γk=1.9,
// βp=0.3, βk=−0.2, μp=0.5, μk=−0.4, var_p=2.0, var_k=0.6, ε=1e-5.
function near(actual: f64, expected: f64): bool {
  return Math.abs(actual - expected) <= 5e-7;
}

describe("merge bnAffine", () => {
  it("reproduces the exact-mode sanity vector (S = 0.392056, B = -0.289096)", () => {
    const out = memory.data(16);
    expect(bnAffine(MERGE_BN_EXACT, 1.7, 0.8, 1.9, 0.3, -0.2, 0.5, -0.4, 2.0, 0.6, 1e-5, out)).toBe(true);
    expect(near(load<f64>(out), 0.392056)).toBe(true);
    expect(near(load<f64>(out, 8), -0.289096)).toBe(true);
  });

  it("reproduces the reference-mode sanity vector (S = 13.458333, B = -0.279167)", () => {
    const out = memory.data(16);
    expect(bnAffine(MERGE_BN_REFERENCE, 1.7, 0.8, 1.9, 0.3, -0.2, 0.5, -0.4, 2.0, 0.6, 1e-5, out)).toBe(true);
    const S = load<f64>(out);
    const B = load<f64>(out, 8);
    expect(near(S, 13.458333)).toBe(true);
    expect(near(B, -0.279167)).toBe(true);
    expect(near(Math.abs(B) / S, 0.020743)).toBe(true);
  });

  it("rejects gamma = 0, a zero variance in reference mode and S <= 0 in exact mode", () => {
    const out = memory.data(16);
    expect(bnAffine(MERGE_BN_EXACT, 1.0, 0.0, 1.0, 0, 0, 0, 0, 1, 1, 1e-5, out)).toBe(false);
    expect(bnAffine(MERGE_BN_REFERENCE, 1.0, 1.0, 0.0, 0, 0, 0, 0, 1, 1, 1e-5, out)).toBe(false);
    expect(bnAffine(MERGE_BN_REFERENCE, 1.0, 1.0, 1.0, 0, 0, 0, 0, 1, 0, 1e-5, out)).toBe(false);
    expect(bnAffine(MERGE_BN_EXACT, 1.0, 1.0, -1.0, 0, 0, 0, 0, 1, 1, 1e-5, out)).toBe(false);
    expect(bnAffine(MERGE_BN_EXACT, 1.0, 1.0, 1.0, 0, 0, 0, 0, 1, 0, 1e-5, out)).toBe(true);
  });
});
