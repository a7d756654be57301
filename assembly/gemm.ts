// Packed, register-blocked single-precision GEMM: C = alpha * op(A) * op(B) + beta * C.
//
// Layout: every matrix is row-major with an explicit leading dimension (elements between rows).
//   op(A) is m x k: A is stored m x k (lda >= k) for "n", or k x m (lda >= m) for "t".
//   op(B) is k x n: B is stored k x n (ldb >= n) for "n", or n x k (ldb >= k) for "t".
//   C is m x n (ldc >= n). C must not overlap A, B or the scratch area.
//
// Blocking (Goto/BLIS): for each NC-wide column block of C and each KC-deep slice of K, op(B) is
// packed into NR-wide column panels; for each MC-tall row block, op(A) is packed into MR-tall row
// panels; an MR x NR micro-tile of f32x4 accumulators then sweeps the packed slice.
//
//   packed B panel (kc x NR, contiguous):   packed A panel (MR x kc, p-major):
//   p=0: b[0,0..7]                         p=0: a[0..3,0]
//   p=1: b[1,0..7]  ...                    p=1: a[0..3,1]  ...
//   Panels past the matrix edge are zero-padded, so the micro-kernel always runs a full tile.
//
// gemm_pack_a packs a constant A once (every K slice); gemm_nn_prepacked then copies each block of
// it into the scratch instead of running packPanelsA.
//
// Scratch: the caller passes a pointer to gemm_scratch_len(m, n, k) f32 elements (16-byte aligned):
//   [ edge tile: MR*NR ][ packed B: kcMax*ncMax ][ packed A: mcMax*kcMax ]
//
// Determinism: each C element is computed as, per K slice in order, a sum over p in increasing
// order starting from 0 (one f32 add per product, no FMA), then C = alpha*acc + beta*C for the first
// slice (C = alpha*acc when beta == 0; C is then never read) and C = alpha*acc + 1*C for later slices.
// Only baseline SIMD128 is used, so the bits are the same in every runtime.

/**
 * Rows of the micro-tile. 4 x 8 needs 8 accumulators + 2 B vectors + 4 broadcasts + 1 product = 15
 * xmm registers, exactly what V8 allocates on x64; a 5 x 8 tile measured ~12% slower because V8
 * hoists all broadcasts to the top of the loop and spills accumulators. Measured again with raw sums
 * stored by the micro-kernel and alpha / beta applied outside it (bench/README.md, "Engine speed,
 * round 2"): five broadcasts still spill (0.82x); rows 0..3 as one f32x4 with lane splats is
 * spill-free but its 4 shuffles compete with the multiplies and adds for the vector ports (0.88x);
 * the same raw-sum structure on 4 x 8 tied the default build and cost the relaxed build ~10%.
 */
const MR = 4;
/** Columns of the micro-tile (two f32x4). */
const NR = 8;
/** Depth of a K slice: a packed B micro-panel (KC x NR) is 16 KB and stays in a 48 KB L1. */
const KC = 512;
/** Rows of an A block: MC x KC floats (at most 480 KB) stay in L2. */
const MC = 240;
/**
 * Columns of a B block: the packed KC x NC block (at most 768 KB) stays in the 2 MB L2 while every
 * A block sweeps it, leaving room for the B rows being streamed in. 2048 (up to 4 MB, read back
 * from L3) cost ~15% on small-m shapes such as im2col convolutions (m = 64, n = 1024..65536,
 * k = 576), where nothing else amortises that trip; 384 measured ~5% faster than 512 there and
 * the same on 512^3 and the 512 x 4608 Gram.
 */
const NC = 384;

/** Balanced block length: split `total` into ceil(total/maxBlock) near-equal blocks, rounded up to `multiple`. */
function blockLen(total: i32, maxBlock: i32, multiple: i32): i32 {
  if (total <= 0) return 0;
  const blocks = (total + maxBlock - 1) / maxBlock;
  const len = (total + blocks - 1) / blocks;
  return ((len + multiple - 1) / multiple) * multiple;
}

/** Number of f32 elements of scratch that gemm_nn/nt/tn/tt need for these sizes (independent of transposes). */
export function gemm_scratch_len(m: i32, n: i32, k: i32): i32 {
  if (m <= 0 || n <= 0 || k <= 0) return MR * NR;
  const kc = blockLen(k, KC, 1);
  return MR * NR + kc * blockLen(n, NC, NR) + blockLen(m, MC, MR) * kc;
}

/**
 * Pack rows i0..i0+mc and columns p0..p0+kc of op(A) into MR-tall panels at apPtr:
 * ap[(panel*kc + p)*MR + r] = op(A)[i0 + panel*MR + r, p0 + p], zero past row m. Exported for the as-pect spec.
 */
export function packPanelsA(
  transA: bool,
  aPtr: usize,
  lda: i32,
  m: i32,
  i0: i32,
  mc: i32,
  p0: i32,
  kc: i32,
  apPtr: usize,
): void {
  const ldaBytes = (<usize>lda) << 2;
  let dst = apPtr;
  for (let ip = 0; ip < mc; ip += MR) {
    const i = i0 + ip;
    const rows = min(MR, m - i);
    if (transA) {
      // A is k x m: the MR values of one p are contiguous.
      let src = aPtr + <usize>p0 * ldaBytes + ((<usize>i) << 2);
      if (rows === MR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          src += ldaBytes;
          dst += MR * 4;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) {
            store<f32>(dst + ((<usize>r) << 2), r < rows ? load<f32>(src + ((<usize>r) << 2)) : 0);
          }
          src += ldaBytes;
          dst += MR * 4;
        }
      }
    } else {
      // A is m x k: row r of the panel is contiguous in p; transpose 4 rows x 4 p at a time.
      const src = aPtr + <usize>i * ldaBytes + ((<usize>p0) << 2);
      let p = 0;
      if (rows === MR) {
        const r0 = src;
        const r1 = r0 + ldaBytes;
        const r2 = r1 + ldaBytes;
        const r3 = r2 + ldaBytes;
        for (; p + 4 <= kc; p += 4) {
          const off = (<usize>p) << 2;
          const x0 = v128.load(r0 + off);
          const x1 = v128.load(r1 + off);
          const x2 = v128.load(r2 + off);
          const x3 = v128.load(r3 + off);
          const t0 = f32x4.shuffle(x0, x1, 0, 4, 1, 5);
          const t1 = f32x4.shuffle(x2, x3, 0, 4, 1, 5);
          const t2 = f32x4.shuffle(x0, x1, 2, 6, 3, 7);
          const t3 = f32x4.shuffle(x2, x3, 2, 6, 3, 7);
          const d = dst + <usize>p * (MR * 4);
          v128.store(d, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
          v128.store(d, f32x4.shuffle(t0, t1, 2, 3, 6, 7), MR * 4);
          v128.store(d, f32x4.shuffle(t2, t3, 0, 1, 4, 5), MR * 8);
          v128.store(d, f32x4.shuffle(t2, t3, 2, 3, 6, 7), MR * 12);
        }
      }
      for (; p < kc; p++) {
        const d = dst + <usize>p * (MR * 4);
        const s = src + ((<usize>p) << 2);
        for (let r = 0; r < MR; r++) {
          store<f32>(d + ((<usize>r) << 2), r < rows ? load<f32>(s + <usize>r * ldaBytes) : 0);
        }
      }
      dst += <usize>kc * (MR * 4);
    }
  }
}

/**
 * Pack rows p0..p0+kc and columns j0..j0+nc of op(B) into NR-wide panels at bpPtr:
 * bp[(panel*kc + p)*NR + c] = op(B)[p0 + p, j0 + panel*NR + c], zero past column n (nc may exceed
 * n - j0 by less than NR). Exported for the as-pect spec.
 */
export function packPanelsB(
  transB: bool,
  bPtr: usize,
  ldb: i32,
  n: i32,
  j0: i32,
  nc: i32,
  p0: i32,
  kc: i32,
  bpPtr: usize,
): void {
  const ldbBytes = (<usize>ldb) << 2;
  const panelBytes = <usize>kc * (NR * 4);
  if (!transB) {
    // B is k x n: the NR values of one p are contiguous. Walk B row by row (p outer), so B is read
    // as one sequential stream that the hardware prefetcher follows; the writes go to nc/NR panel
    // streams that advance NR floats per row and stay in L1. (Walking one panel at a time down the
    // rows strides a whole row per load, often a page, and no prefetcher follows that.)
    const cols = min(nc, n - j0);
    const fullPanels = cols / NR;
    let rowSrc = bPtr + <usize>p0 * ldbBytes + ((<usize>j0) << 2);
    let rowDst = bpPtr;
    for (let p = 0; p < kc; p++) {
      let src = rowSrc;
      let dst = rowDst;
      for (let jp = 0; jp < fullPanels; jp++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += NR * 4;
        dst += panelBytes;
      }
      rowSrc += ldbBytes;
      rowDst += NR * 4;
    }
    let jp = fullPanels;
    for (; jp * NR < nc; jp++) {
      const valid = min(NR, cols - jp * NR);
      let src = bPtr + <usize>p0 * ldbBytes + ((<usize>(j0 + jp * NR)) << 2);
      let dst = bpPtr + <usize>jp * panelBytes;
      for (let p = 0; p < kc; p++) {
        if (valid === NR) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
        } else {
          for (let c = 0; c < NR; c++) {
            store<f32>(dst + ((<usize>c) << 2), c < valid ? load<f32>(src + ((<usize>c) << 2)) : 0);
          }
        }
        src += ldbBytes;
        dst += NR * 4;
      }
    }
    return;
  }
  // B is n x k: column c of a panel is contiguous in p; transpose 4 columns x 4 p at a time.
  let dst = bpPtr;
  for (let jp = 0; jp < nc; jp += NR) {
    const j = j0 + jp;
    const cols = min(NR, n - j);
    const src = bPtr + <usize>j * ldbBytes + ((<usize>p0) << 2);
    let p = 0;
    if (cols === NR) {
      for (; p + 4 <= kc; p += 4) {
        const off = (<usize>p) << 2;
        const d = dst + <usize>p * (NR * 4);
        for (let half: usize = 0; half < 2; half++) {
          const r0 = src + half * 4 * ldbBytes + off;
          const x0 = v128.load(r0);
          const x1 = v128.load(r0 + ldbBytes);
          const x2 = v128.load(r0 + 2 * ldbBytes);
          const x3 = v128.load(r0 + 3 * ldbBytes);
          const t0 = f32x4.shuffle(x0, x1, 0, 4, 1, 5);
          const t1 = f32x4.shuffle(x2, x3, 0, 4, 1, 5);
          const t2 = f32x4.shuffle(x0, x1, 2, 6, 3, 7);
          const t3 = f32x4.shuffle(x2, x3, 2, 6, 3, 7);
          const dh = d + half * 16;
          v128.store(dh, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
          v128.store(dh, f32x4.shuffle(t0, t1, 2, 3, 6, 7), NR * 4);
          v128.store(dh, f32x4.shuffle(t2, t3, 0, 1, 4, 5), NR * 8);
          v128.store(dh, f32x4.shuffle(t2, t3, 2, 3, 6, 7), NR * 12);
        }
      }
    }
    for (; p < kc; p++) {
      const d = dst + <usize>p * (NR * 4);
      const s = src + ((<usize>p) << 2);
      for (let c = 0; c < NR; c++) {
        store<f32>(d + ((<usize>c) << 2), c < cols ? load<f32>(s + <usize>c * ldbBytes) : 0);
      }
    }
    dst += <usize>kc * (NR * 4);
  }
}

/**
 * c + a * b per lane. The default (baseline SIMD128) build rounds the product, then the sum: the
 * same bits in every runtime. The opt-in relaxed build (`--enable relaxed-simd`, build/prunekit.relaxed.wasm)
 * uses f32x4.relaxed_madd, which the engine may fuse into one FMA (one rounding) or not, depending on
 * the CPU: faster where FMA exists, and no longer bit-identical across machines. Binaryen inlines it
 * at -O3 (checked in the release .wat: the micro-kernel has no calls).
 */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * The MR x NR micro-kernel: acc = sum_p apanel[p] (outer) bpanel[p] over kc steps, then
 * C = alpha*acc (loadC false) or C = alpha*acc + beta*C (loadC true), for a full 4 x 8 tile at cPtr
 * with row stride ldcBytes.
 */
function microKernel(
  kc: i32,
  apPtr: usize,
  bpPtr: usize,
  cPtr: usize,
  ldcBytes: usize,
  alpha: f32,
  beta: f32,
  loadC: bool,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  let ap = apPtr;
  let bp = bpPtr;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += MR * 4;
    bp += NR * 4;
  }
  const va = f32x4.splat(alpha);
  let c = cPtr;
  if (loadC) {
    const vb = f32x4.splat(beta);
    v128.store(c, f32x4.add(f32x4.mul(c00, va), f32x4.mul(v128.load(c), vb)));
    v128.store(c, f32x4.add(f32x4.mul(c01, va), f32x4.mul(v128.load(c, 16), vb)), 16);
    c += ldcBytes;
    v128.store(c, f32x4.add(f32x4.mul(c10, va), f32x4.mul(v128.load(c), vb)));
    v128.store(c, f32x4.add(f32x4.mul(c11, va), f32x4.mul(v128.load(c, 16), vb)), 16);
    c += ldcBytes;
    v128.store(c, f32x4.add(f32x4.mul(c20, va), f32x4.mul(v128.load(c), vb)));
    v128.store(c, f32x4.add(f32x4.mul(c21, va), f32x4.mul(v128.load(c, 16), vb)), 16);
    c += ldcBytes;
    v128.store(c, f32x4.add(f32x4.mul(c30, va), f32x4.mul(v128.load(c), vb)));
    v128.store(c, f32x4.add(f32x4.mul(c31, va), f32x4.mul(v128.load(c, 16), vb)), 16);
  } else {
    v128.store(c, f32x4.mul(c00, va));
    v128.store(c, f32x4.mul(c01, va), 16);
    c += ldcBytes;
    v128.store(c, f32x4.mul(c10, va));
    v128.store(c, f32x4.mul(c11, va), 16);
    c += ldcBytes;
    v128.store(c, f32x4.mul(c20, va));
    v128.store(c, f32x4.mul(c21, va), 16);
    c += ldcBytes;
    v128.store(c, f32x4.mul(c30, va));
    v128.store(c, f32x4.mul(c31, va), 16);
  }
}

/** C = beta * C over m x n (beta == 0 writes zeros without reading C). */
function scaleC(cPtr: usize, m: i32, n: i32, ldc: i32, beta: f32): void {
  const vb = f32x4.splat(beta);
  for (let i = 0; i < m; i++) {
    const row = cPtr + <usize>i * <usize>ldc * 4;
    let j = 0;
    if (beta === 0) {
      for (; j + 4 <= n; j += 4) v128.store(row + ((<usize>j) << 2), f32x4.splat(0));
      for (; j < n; j++) store<f32>(row + ((<usize>j) << 2), 0);
    } else {
      for (; j + 4 <= n; j += 4) {
        const at = row + ((<usize>j) << 2);
        v128.store(at, f32x4.mul(v128.load(at), vb));
      }
      for (; j < n; j++) {
        const at = row + ((<usize>j) << 2);
        store<f32>(at, load<f32>(at) * beta);
      }
    }
  }
}

function gemm(
  transA: bool,
  transB: bool,
  aPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  lda: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
  packedAPtr: usize,
  packedBPtr: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha === 0) {
    // BLAS convention: op(A) and op(B) are not read.
    scaleC(cPtr, m, n, ldc, beta);
    return;
  }
  const kcMax = blockLen(k, KC, 1);
  const ncMax = blockLen(n, NC, NR);
  const mcMax = blockLen(m, MC, MR);
  const tilePtr = scratchPtr;
  const bpScratch = tilePtr + MR * NR * 4;
  const apPtr = bpScratch + <usize>kcMax * <usize>ncMax * 4;
  const ldcBytes = (<usize>ldc) << 2;
  const mPadded = <usize>packedARows(m);
  const nPadded = <usize>packedBCols(n);
  for (let jc = 0; jc < n; jc += ncMax) {
    const nc = min(ncMax, n - jc);
    for (let pc = 0; pc < k; pc += kcMax) {
      const kc = min(kcMax, k - pc);
      // B prepacked by gemm_pack_b holds this block's panels at (pc * nPadded + jc * kc) floats.
      const bpPtr =
        packedBPtr === 0 ? bpScratch : packedBPtr + ((<usize>pc * nPadded + <usize>jc * <usize>kc) << 2);
      if (packedBPtr === 0) packPanelsB(transB, bPtr, ldb, n, jc, nc, pc, kc, bpPtr);
      const loadC = pc > 0 || beta !== 0;
      const betaNow: f32 = pc > 0 ? 1 : beta;
      for (let ic = 0; ic < m; ic += mcMax) {
        const mc = min(mcMax, m - ic);
        if (packedAPtr === 0) {
          packPanelsA(transA, aPtr, lda, m, ic, mc, pc, kc, apPtr);
        } else {
          // A prepacked by gemm_pack_a holds this block at (pc * mPadded + ic * kc) floats. Copied
          // into the scratch block rather than read in place: for thin GEMMs (n of a few columns,
          // a large A) the micro-kernel streaming A from memory itself ran up to 1.5x slower than
          // this copy (which keeps many loads in flight) followed by reads from L2.
          memory.copy(
            apPtr,
            packedAPtr + ((<usize>pc * mPadded + <usize>ic * <usize>kc) << 2),
            (<usize>packedARows(mc) * <usize>kc) << 2,
          );
        }
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bPanel = bpPtr + <usize>jr * <usize>kc * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const aPanel = apPtr + <usize>ir * <usize>kc * 4;
            const cTile = cPtr + <usize>(ic + ir) * ldcBytes + ((<usize>(jc + jr)) << 2);
            if (mr === MR && nr === NR) {
              microKernel(kc, aPanel, bPanel, cTile, ldcBytes, alpha, betaNow, loadC);
            } else {
              // Edge tile: compute the full padded tile into scratch, then merge the valid part
              // with the same expression (alpha*acc + beta*C) as the full-tile path.
              microKernel(kc, aPanel, bPanel, tilePtr, NR * 4, alpha, 0, false);
              for (let r = 0; r < mr; r++) {
                const crow = cTile + <usize>r * ldcBytes;
                const trow = tilePtr + <usize>r * (NR * 4);
                for (let c = 0; c < nr; c++) {
                  const t = load<f32>(trow + ((<usize>c) << 2));
                  const at = crow + ((<usize>c) << 2);
                  store<f32>(at, loadC ? t + load<f32>(at) * betaNow : t);
                }
              }
            }
          }
        }
      }
    }
  }
}

/** C = alpha * A * B + beta * C; A m x k, B k x n, C m x n (all row-major with leading dimensions). */
export function gemm_nn(
  aPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  lda: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  gemm(false, false, aPtr, bPtr, cPtr, scratchPtr, m, n, k, lda, ldb, ldc, alpha, beta, 0, 0);
}

/** C = alpha * A * B^T + beta * C; A m x k, B n x k, C m x n. */
export function gemm_nt(
  aPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  lda: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  gemm(false, true, aPtr, bPtr, cPtr, scratchPtr, m, n, k, lda, ldb, ldc, alpha, beta, 0, 0);
}

/** C = alpha * A^T * B + beta * C; A k x m, B k x n, C m x n. */
export function gemm_tn(
  aPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  lda: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  gemm(true, false, aPtr, bPtr, cPtr, scratchPtr, m, n, k, lda, ldb, ldc, alpha, beta, 0, 0);
}

/** C = alpha * A^T * B^T + beta * C; A k x m, B n x k, C m x n. */
export function gemm_tt(
  aPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  lda: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  gemm(true, true, aPtr, bPtr, cPtr, scratchPtr, m, n, k, lda, ldb, ldc, alpha, beta, 0, 0);
}

/**
 * Widest n on which gemm_nn_prepacked runs the thin kernel: convs on small maps at batch 1 (VGG's 4x4 and
 * 2x2 maps: n = 16 and 4) stream megabytes of filters for a few output columns. On n = 4 the 4 x 8 tile
 * computed half its columns on zero padding, and the copy of each A block into the scratch was a second
 * pass over the filters.
 */
const THIN_N = 16;

/**
 * The thin GEMM (n <= THIN_N, A prepacked): per K slice, op(B) is packed as gemm() packs it, then each
 * pair of prepacked A panels is read in place, once from memory, and swept against every 4-column group
 * of the B panels (the pair, 2 x MR x kc floats, stays in L1 between groups). The micro-kernel is
 * transposed: one f32x4 holds 4 rows of one C column, a[0..3, p] * splat(b[p, j]). Each C element is the
 * same f32 sum as gemm()'s (products added in increasing p from 0, per K slice, then the same alpha /
 * beta expression), so the bits equal gemm_nn's.
 */
function gemmThin(
  packedAPtr: usize,
  packedBPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  const kcMax = blockLen(k, KC, 1);
  const tilePtr = scratchPtr;
  const ldcBytes = (<usize>ldc) << 2;
  const mPadded = packedARows(m);
  const nc = packedBCols(n);
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = min(kcMax, k - pc);
    // This K slice of B as gemm_pack_b lays it out (at pc * nc floats), or packed here.
    const bpPtr = packedBPtr === 0 ? tilePtr + MR * NR * 4 : packedBPtr + ((<usize>pc * <usize>nc) << 2);
    if (packedBPtr === 0) packPanelsB(false, bPtr, ldb, n, 0, nc, pc, kc, bpPtr);
    const loadC = pc > 0 || beta !== 0;
    const betaNow: f32 = pc > 0 ? 1 : beta;
    const aSlice = packedAPtr + ((<usize>pc * <usize>mPadded) << 2);
    const panelBytes = <usize>kc * (MR * 4);
    for (let i = 0; i < mPadded; i += 2 * MR) {
      const pair = i + MR < mPadded;
      const ap0 = aSlice + <usize>i * <usize>kc * 4;
      // A lone last panel runs against itself; its second half is computed and dropped.
      const ap1 = pair ? ap0 + panelBytes : ap0;
      for (let j = 0; j < n; j += 4) {
        const bp = bpPtr + <usize>(j / NR) * <usize>kc * (NR * 4) + ((<usize>(j % NR)) << 2);
        const cols = min(4, n - j);
        // A last group of one or two columns computes only those (the same sums, fewer products).
        if (cols === 1) thinKernel1(kc, ap0, ap1, bp, tilePtr);
        else if (cols === 2) thinKernel2(kc, ap0, ap1, bp, tilePtr);
        else thinKernel(kc, ap0, ap1, bp, tilePtr);
        const rows = min(2 * MR, m - i);
        const cTile = cPtr + <usize>i * ldcBytes + ((<usize>j) << 2);
        if (cols === 4) {
          // Full columns: transpose each 4 x 4 quarter of the tile into C rows (same expression).
          thinStore(tilePtr, cTile, ldcBytes, min(rows, MR), alpha, betaNow, loadC);
          if (rows > MR) {
            thinStore(tilePtr + 16, cTile + <usize>MR * ldcBytes, ldcBytes, rows - MR, alpha, betaNow, loadC);
          }
          continue;
        }
        for (let r = 0; r < rows; r++) {
          const crow = cPtr + <usize>(i + r) * ldcBytes + ((<usize>j) << 2);
          for (let c = 0; c < cols; c++) {
            const t = alpha * load<f32>(tilePtr + ((<usize>(c * 2 * MR + r)) << 2));
            const at = crow + ((<usize>c) << 2);
            store<f32>(at, loadC ? t + load<f32>(at) * betaNow : t);
          }
        }
      }
    }
  }
}

/**
 * Rows 0..rows-1 (at most 4) of a 4 x 4 quarter of the thin tile (columns at src, src + 32, src + 64,
 * src + 96 bytes) into C at cRow: C = alpha*acc (loadC false) or alpha*acc + beta*C, as microKernel.
 */
function thinStore(
  src: usize,
  cRow: usize,
  ldcBytes: usize,
  rows: i32,
  alpha: f32,
  beta: f32,
  loadC: bool,
): void {
  const x0 = v128.load(src);
  const x1 = v128.load(src, 32);
  const x2 = v128.load(src, 64);
  const x3 = v128.load(src, 96);
  const t0 = f32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = f32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = f32x4.shuffle(x2, x3, 2, 6, 3, 7);
  const va = f32x4.splat(alpha);
  const vb = f32x4.splat(beta);
  for (let r = 0; r < rows; r++) {
    const row =
      r === 0
        ? f32x4.shuffle(t0, t1, 0, 1, 4, 5)
        : r === 1
          ? f32x4.shuffle(t0, t1, 2, 3, 6, 7)
          : r === 2
            ? f32x4.shuffle(t2, t3, 0, 1, 4, 5)
            : f32x4.shuffle(t2, t3, 2, 3, 6, 7);
    const at = cRow + <usize>r * ldcBytes;
    const scaled = f32x4.mul(row, va);
    v128.store(at, loadC ? f32x4.add(scaled, f32x4.mul(v128.load(at), vb)) : scaled);
  }
}

/**
 * The transposed 8 x 4 micro-kernel of gemmThin: rows 0..3 from the A panel at ap0, rows 4..7 from ap1,
 * columns 0..3 of the B panel rows at bp (row stride NR floats). Writes the raw sums column by column to
 * tilePtr: tile[c * 8 + r].
 */
function thinKernel(kc: i32, ap0: usize, ap1: usize, bp: usize, tilePtr: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c02 = f32x4.splat(0);
  let c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c12 = f32x4.splat(0);
  let c13 = f32x4.splat(0);
  let a0p = ap0;
  let a1p = ap1;
  let b = bp;
  for (let p = 0; p < kc; p++) {
    const a0 = v128.load(a0p);
    const a1 = v128.load(a1p);
    let s = v128.load32_splat(b);
    c00 = madd(a0, s, c00);
    c10 = madd(a1, s, c10);
    s = v128.load32_splat(b, 4);
    c01 = madd(a0, s, c01);
    c11 = madd(a1, s, c11);
    s = v128.load32_splat(b, 8);
    c02 = madd(a0, s, c02);
    c12 = madd(a1, s, c12);
    s = v128.load32_splat(b, 12);
    c03 = madd(a0, s, c03);
    c13 = madd(a1, s, c13);
    a0p += MR * 4;
    a1p += MR * 4;
    b += NR * 4;
  }
  v128.store(tilePtr, c00);
  v128.store(tilePtr, c10, 16);
  v128.store(tilePtr, c01, 32);
  v128.store(tilePtr, c11, 48);
  v128.store(tilePtr, c02, 64);
  v128.store(tilePtr, c12, 80);
  v128.store(tilePtr, c03, 96);
  v128.store(tilePtr, c13, 112);
}

/** thinKernel for column 0 only: tile[r] (r < 8). */
function thinKernel1(kc: i32, ap0: usize, ap1: usize, bp: usize, tilePtr: usize): void {
  let c00 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let a0p = ap0;
  let a1p = ap1;
  let b = bp;
  for (let p = 0; p < kc; p++) {
    const s = v128.load32_splat(b);
    c00 = madd(v128.load(a0p), s, c00);
    c10 = madd(v128.load(a1p), s, c10);
    a0p += MR * 4;
    a1p += MR * 4;
    b += NR * 4;
  }
  v128.store(tilePtr, c00);
  v128.store(tilePtr, c10, 16);
}

/** thinKernel for columns 0 and 1 only: tile[c * 8 + r] (c < 2). */
function thinKernel2(kc: i32, ap0: usize, ap1: usize, bp: usize, tilePtr: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let a0p = ap0;
  let a1p = ap1;
  let b = bp;
  for (let p = 0; p < kc; p++) {
    const a0 = v128.load(a0p);
    const a1 = v128.load(a1p);
    let s = v128.load32_splat(b);
    c00 = madd(a0, s, c00);
    c10 = madd(a1, s, c10);
    s = v128.load32_splat(b, 4);
    c01 = madd(a0, s, c01);
    c11 = madd(a1, s, c11);
    a0p += MR * 4;
    a1p += MR * 4;
    b += NR * 4;
  }
  v128.store(tilePtr, c00);
  v128.store(tilePtr, c10, 16);
  v128.store(tilePtr, c01, 32);
  v128.store(tilePtr, c11, 48);
}

/** Rows of a prepacked A: m rounded up to whole MR-row panels. */
function packedARows(m: i32): i32 {
  return ((m + MR - 1) / MR) * MR;
}

/** Number of f32 elements gemm_pack_a writes for an m x k op(A): m rounded up to MR rows, times k. */
export function gemm_packed_a_len(m: i32, k: i32): i32 {
  if (m <= 0 || k <= 0) return 0;
  return packedARows(m) * k;
}

/**
 * Pack op(A) (m x k; A stored m x k with row stride lda, or k x m when transA) once, for any number of
 * gemm_nn_prepacked calls with these m and k. Layout: the K slices of the GEMM's blocking one after
 * the other (slice [pc, pc + kc) at pc * mPadded floats, mPadded = m rounded up to MR), each slice the
 * MR-row panels of all m rows as packPanelsA writes them:
 *   packed[pc*mPadded + (panel*kc + p)*MR + r] = op(A)[panel*MR + r, pc + p], zero past row m.
 * apPtr holds gemm_packed_a_len(m, k) elements and must not overlap A.
 */
export function gemm_pack_a(aPtr: usize, apPtr: usize, m: i32, k: i32, lda: i32, transA: bool): void {
  if (m <= 0 || k <= 0) return;
  const kcMax = blockLen(k, KC, 1);
  const mPadded = <usize>packedARows(m);
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = min(kcMax, k - pc);
    packPanelsA(transA, aPtr, lda, m, 0, <i32>mPadded, pc, kc, apPtr + ((<usize>pc * mPadded) << 2));
  }
}

/**
 * C = alpha * A * B + beta * C with A prepacked by gemm_pack_a (same m and k; B k x n, C m x n
 * row-major with leading dimensions). Bit-identical to gemm_nn on the unpacked A: only the packing
 * moves out of the call. scratchPtr as for gemm_nn (gemm_scratch_len(m, n, k) elements).
 */
export function gemm_nn_prepacked(
  packedAPtr: usize,
  bPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  ldb: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  if (m > 0 && n > 0 && n <= THIN_N && k > 0 && alpha !== 0) {
    gemmThin(packedAPtr, 0, bPtr, cPtr, scratchPtr, m, n, k, ldb, ldc, alpha, beta);
    return;
  }
  gemm(false, false, 0, bPtr, cPtr, scratchPtr, m, n, k, k, ldb, ldc, alpha, beta, packedAPtr, 0);
}

/** Columns of a prepacked B: n rounded up to whole NR-column panels. */
function packedBCols(n: i32): i32 {
  return ((n + NR - 1) / NR) * NR;
}

/** Depth of the GEMM's K slices for a reduction of length k (the slices a prepacked A or B is cut in). */
export function gemmSliceDepth(k: i32): i32 {
  return blockLen(k, KC, 1);
}

/** Number of f32 elements gemm_pack_b writes for a k x n B: n rounded up to NR columns, times k. */
export function gemm_packed_b_len(k: i32, n: i32): i32 {
  if (n <= 0 || k <= 0) return 0;
  return packedBCols(n) * k;
}

/**
 * Pack B (k x n, row stride ldb) once into the GEMM's B panels, for gemm_nn_prepacked_ab. Layout: the K
 * slices one after the other (slice [pc, pc + kc) at pc * nPadded floats, nPadded = n rounded up to NR),
 * each slice the NR-column panels of all n columns as packPanelsB writes them:
 *   packed[pc*nPadded + (panel*kc + p)*NR + c] = B[pc + p, panel*NR + c], zero past column n.
 * bpPtr holds gemm_packed_b_len(k, n) elements and must not overlap B. (The Winograd input transform
 * conv_winograd_input_packed writes this layout directly.)
 */
export function gemm_pack_b(bPtr: usize, bpPtr: usize, k: i32, n: i32, ldb: i32): void {
  if (n <= 0 || k <= 0) return;
  const kcMax = blockLen(k, KC, 1);
  const nPadded = <usize>packedBCols(n);
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = min(kcMax, k - pc);
    packPanelsB(false, bPtr, ldb, n, 0, <i32>nPadded, pc, kc, bpPtr + ((<usize>pc * nPadded) << 2));
  }
}

/**
 * C = alpha * A * B + beta * C with A prepacked by gemm_pack_a and B by gemm_pack_b (same m, n, k; C m x n
 * row-major, row stride ldc). Bit-identical to gemm_nn on the unpacked A and B: the micro-kernels read the
 * packed panels in place, nothing is packed in the call. scratchPtr as for gemm_nn (gemm_scratch_len).
 */
export function gemm_nn_prepacked_ab(
  packedAPtr: usize,
  packedBPtr: usize,
  cPtr: usize,
  scratchPtr: usize,
  m: i32,
  n: i32,
  k: i32,
  ldc: i32,
  alpha: f32,
  beta: f32,
): void {
  if (m > 0 && n > 0 && n <= THIN_N && k > 0 && alpha !== 0) {
    gemmThin(packedAPtr, packedBPtr, 0, cPtr, scratchPtr, m, n, k, 0, ldc, alpha, beta);
    return;
  }
  gemm(false, false, 0, 0, cPtr, scratchPtr, m, n, k, k, 0, ldc, alpha, beta, packedAPtr, packedBPtr);
}
