import { heapSortF64, selectKthF64, selectKthF64Budget } from "../../assembly/select";

const N = 101;

/** Fill p with a deterministic pattern holding many duplicates. */
function fill(p: usize, n: i32, seed: i32): void {
  for (let i = 0; i < n; i++) store<f64>(p + ((<usize>i) << 3), <f64>(((i * 37 + seed) % 23) - 11));
}

function at(p: usize, i: i32): f64 {
  return load<f64>(p + ((<usize>i) << 3));
}

/** p[k] == v and everything left of k is <= v, everything right of k is >= v. */
function isPartitioned(p: usize, n: i32, k: i32, v: f64): bool {
  if (at(p, k) !== v) return false;
  for (let i = 0; i < k; i++) if (at(p, i) > v) return false;
  for (let i = k + 1; i < n; i++) if (at(p, i) < v) return false;
  return true;
}

describe("selectKthF64", () => {
  it("partitions around the k-th smallest for every k, with and without the heapsort fallback", () => {
    const p = memory.data(N * 8);
    const sorted = memory.data(N * 8);
    fill(sorted, N, 5);
    heapSortF64(sorted, N);
    for (let i = 1; i < N; i++) expect(at(sorted, i - 1) <= at(sorted, i)).toBe(true);
    for (let budget = 0; budget < 3; budget++) {
      for (let k = 0; k < N; k++) {
        fill(p, N, 5);
        const v = selectKthF64Budget(p, N, k, budget);
        expect(v).toBe(at(sorted, k));
        expect(isPartitioned(p, N, k, v)).toBe(true);
      }
    }
  });

  it("handles all-equal, sorted and single-element inputs", () => {
    const p = memory.data(N * 8);
    for (let i = 0; i < N; i++) store<f64>(p + ((<usize>i) << 3), 3.5);
    expect(selectKthF64(p, N, 50)).toBe(3.5);
    for (let i = 0; i < N; i++) store<f64>(p + ((<usize>i) << 3), <f64>i);
    expect(selectKthF64(p, N, 17)).toBe(17.0);
    expect(isPartitioned(p, N, 17, 17.0)).toBe(true);
    expect(selectKthF64(p, 1, 0)).toBe(0.0);
  });
});
