import {
  gemm_nn,
  gemm_nn_prepacked_ab,
  gemm_pack_a,
  gemm_pack_b,
  gemm_packed_a_len,
  gemm_packed_b_len,
  gemm_scratch_len,
  packPanelsA,
  packPanelsB,
} from "../../assembly/gemm";

// The packed layouts are internal to assembly/gemm.ts (TS only sees the finished product), so
// their shape and zero padding are checked here. MR = 4, NR = 8.

function fillIota(ptr: usize, len: i32): void {
  for (let i = 0; i < len; i++) store<f32>(ptr + ((<usize>i) << 2), <f32>(i + 1));
}

function at(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

describe("gemm packing", () => {
  it("packs A (m x k, not transposed) into 4-row panels, p-major, zero-padded past row m", () => {
    // A is 6 x 5 (lda 7, with 2 junk columns): A[i, p] = 7*i + p + 1.
    const a = memory.data(6 * 7 * 4);
    fillIota(a, 6 * 7);
    const ap = memory.data(8 * 5 * 4);
    packPanelsA(false, a, 7, 6, 0, 8, 0, 5, ap);
    for (let panel = 0; panel < 2; panel++) {
      for (let p = 0; p < 5; p++) {
        for (let r = 0; r < 4; r++) {
          const i = panel * 4 + r;
          const v: i32 = 7 * i + p + 1;
          const want: f32 = i < 6 ? <f32>v : 0;
          expect(at(ap, (panel * 5 + p) * 4 + r)).toBe(want);
        }
      }
    }
  });

  it("packs A^T (stored k x m) into the same layout", () => {
    // A is stored 5 x 6 (lda 6): op(A)[i, p] = A[p, i] = 6*p + i + 1. Pack rows 4..5 of op(A), p 1..4.
    const a = memory.data(5 * 6 * 4);
    fillIota(a, 5 * 6);
    const ap = memory.data(4 * 4 * 4);
    packPanelsA(true, a, 6, 6, 4, 2, 1, 4, ap);
    for (let p = 0; p < 4; p++) {
      for (let r = 0; r < 4; r++) {
        const i = 4 + r;
        const v: i32 = 6 * (p + 1) + i + 1;
        const want: f32 = i < 6 ? <f32>v : 0;
        expect(at(ap, p * 4 + r)).toBe(want);
      }
    }
  });

  it("packs B (k x n) into 8-column panels, row by row, zero-padded past column n", () => {
    // B is 3 x 19 (ldb 19): B[p, j] = 19*p + j + 1. Columns 0..18 -> 3 panels (two full, then a ragged one).
    const b = memory.data(3 * 19 * 4);
    fillIota(b, 3 * 19);
    const bp = memory.data(24 * 3 * 4);
    packPanelsB(false, b, 19, 19, 0, 24, 0, 3, bp);
    for (let panel = 0; panel < 3; panel++) {
      for (let p = 0; p < 3; p++) {
        for (let c = 0; c < 8; c++) {
          const j = panel * 8 + c;
          const v: i32 = 19 * p + j + 1;
          const want: f32 = j < 19 ? <f32>v : 0;
          expect(at(bp, (panel * 3 + p) * 8 + c)).toBe(want);
        }
      }
    }
  });

  it("packs a block of B (k x n) from an offset row and column, with ldb > n", () => {
    // B is 6 x 21 stored with ldb 23: B[p, j] = 23*p + j + 1. Pack rows 2..4 and columns 3..20
    // (n = 21, j0 = 3, nc = 24: two full panels and one with 2 valid columns).
    const b = memory.data(6 * 23 * 4);
    fillIota(b, 6 * 23);
    const bp = memory.data(24 * 3 * 4);
    packPanelsB(false, b, 23, 21, 3, 24, 2, 3, bp);
    for (let panel = 0; panel < 3; panel++) {
      for (let p = 0; p < 3; p++) {
        for (let c = 0; c < 8; c++) {
          const j = 3 + panel * 8 + c;
          const v: i32 = 23 * (2 + p) + j + 1;
          const want: f32 = j < 21 ? <f32>v : 0;
          expect(at(bp, (panel * 3 + p) * 8 + c)).toBe(want);
        }
      }
    }
  });

  it("packs B^T (stored n x k) through the 4x4 transposes and the scalar tail", () => {
    // B is stored 9 x 7 (ldb 7): op(B)[p, j] = B[j, p] = 7*j + p + 1. k = 7 covers 4 SIMD steps + 3 tail.
    const b = memory.data(9 * 7 * 4);
    fillIota(b, 9 * 7);
    const bp = memory.data(16 * 7 * 4);
    packPanelsB(true, b, 7, 9, 0, 16, 0, 7, bp);
    for (let panel = 0; panel < 2; panel++) {
      for (let p = 0; p < 7; p++) {
        for (let c = 0; c < 8; c++) {
          const j = panel * 8 + c;
          const v: i32 = 7 * j + p + 1;
          const want: f32 = j < 9 ? <f32>v : 0;
          expect(at(bp, (panel * 7 + p) * 8 + c)).toBe(want);
        }
      }
    }
  });

  it("prepacks A slice by slice: k = 515 splits into two K slices of 258 and 257, m = 6 pads to 8 rows", () => {
    // A is 6 x 515 (lda 515): A[i, p] = 515*i + p + 1. Slice 1 starts at p = 258, at 258 * 8 floats.
    const m = 6;
    const k = 515;
    expect(gemm_packed_a_len(m, k)).toBe(8 * k);
    const a = memory.data(m * k * 4);
    fillIota(a, m * k);
    const ap = memory.data(8 * k * 4);
    gemm_pack_a(a, ap, m, k, k, false);
    for (let slice = 0; slice < 2; slice++) {
      const pc = slice * 258;
      const kc = slice === 0 ? 258 : 257;
      for (let i = 0; i < 8; i++) {
        for (let p = 0; p < kc; p++) {
          const v: i32 = 515 * i + pc + p + 1;
          const want: f32 = i < m ? <f32>v : 0;
          expect(at(ap, pc * 8 + ((i / 4) * kc + p) * 4 + (i % 4))).toBe(want);
        }
      }
    }
  });

  it("packs B (k x n) into 8-column panels per K slice, zero past column n", () => {
    // B is 3 x 11 (ldb 12): B[p, j] = 12*p + j + 1; nPadded = 16, one slice of depth 3.
    const b = memory.data(3 * 12 * 4);
    fillIota(b, 3 * 12);
    expect(gemm_packed_b_len(3, 11)).toBe(16 * 3);
    const bp = memory.data(16 * 3 * 4);
    gemm_pack_b(b, bp, 3, 11, 12);
    for (let j = 0; j < 16; j++) {
      for (let p = 0; p < 3; p++) {
        const v: i32 = 12 * p + j + 1;
        const want: f32 = j < 11 ? <f32>v : 0;
        expect(at(bp, ((j / 8) * 3 + p) * 8 + (j % 8))).toBe(want);
      }
    }
  });

  it("gemm_nn_prepacked_ab gives gemm_nn's bits, on a thin and a wide ragged shape", () => {
    // m = 5, k = 7, n = 13 (thin path) and n = 37 (blocked path); C starts as junk, beta = 0.5.
    const m = 5;
    const k = 7;
    for (let shape = 0; shape < 2; shape++) {
      const n = shape === 0 ? 13 : 37;
      const a = memory.data(5 * 7 * 4);
      const b = memory.data(7 * 37 * 4);
      for (let i = 0; i < m * k; i++) store<f32>(a + ((<usize>i) << 2), <f32>((i * 7) % 11) * 0.37 - 1.3);
      for (let i = 0; i < k * n; i++) store<f32>(b + ((<usize>i) << 2), <f32>((i * 5) % 13) * 0.21 - 0.9);
      const ap = memory.data(8 * 7 * 4, 16);
      const bp = memory.data(40 * 7 * 4, 16);
      gemm_pack_a(a, ap, m, k, k, false);
      gemm_pack_b(b, bp, k, n, n);
      const want = memory.data(5 * 37 * 4);
      const got = memory.data(5 * 37 * 4);
      for (let i = 0; i < m * n; i++) {
        store<f32>(want + ((<usize>i) << 2), <f32>i * 0.1);
        store<f32>(got + ((<usize>i) << 2), <f32>i * 0.1);
      }
      expect(gemm_scratch_len(5, 37, 7)).toBe(368);
      const scratch = memory.data(368 * 4, 16);
      gemm_nn(a, b, want, scratch, m, n, k, k, n, n, 0.75, 0.5);
      gemm_nn_prepacked_ab(ap, bp, got, scratch, m, n, k, n, 0.75, 0.5);
      for (let i = 0; i < m * n; i++) expect(at(got, i)).toBe(at(want, i));
    }
  });
});
