// Pairwise row geometry of a row-major f32 matrix: Gram matrix, squared-euclidean distances (f64)
// and cosine similarity (also between the rows of two matrices).
//
// Layout: x is rows x cols, row-major (row r starts at x + r*cols*4 bytes). Square outputs are
// rows x rows, row-major; the cross output is xRows x yRows.
//
//          col 0 ... cols-1                out (rows x rows)
//   x_0  [ . . . . . . . . ]           [ d00 d01 d02 ... ]
//   x_1  [ . . . . . . . . ]   ---->   [ d10 d11 d12 ... ]   computed for j >= i only, in tiles,
//   ...                                [ ... ........... ]   then mirrored: out[j][i] = out[i][j]
//
// Every entry is reduced in one fixed order, whatever tile computes it, so the same input gives
// the same bits everywhere and the symmetric matrices are exactly symmetric:
// - f32 dot products: four lane accumulators over c = 0,4,8,... combined as (l0 + l1) + (l2 + l3),
//   then the scalar tail in index order;
// - f64 sums: two lane accumulators, lane 0 over c = 0,2,4,... and lane 1 over c = 1,3,5,...
//   (within each group of 4 columns: c, c+2 then c+1, c+3), combined as l0 + l1, then the tail.

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

function hsum64(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** Lanes 2 and 3 of an f32x4 as an f64x2. */
function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** The f32 dot product of rows a and b (cols elements each), in the fixed order above. */
function dot(a: usize, b: usize, cols: i32): f32 {
  let acc = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const off = (<usize>c) << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  let s = hsum(acc);
  for (; c < cols; c++) {
    const off = (<usize>c) << 2;
    s += load<f32>(a + off) * load<f32>(b + off);
  }
  return s;
}

/**
 * Dot products of four rows a, a+aStride, a+2*aStride, a+3*aStride with two rows b, b+bStride.
 * Result (r, s) goes to out + r*outStride + s*4. Eight accumulators share six loads per step.
 */
function dots4x2(
  a: usize,
  aStride: usize,
  b: usize,
  bStride: usize,
  cols: i32,
  out: usize,
  outStride: usize,
): void {
  const a1 = a + aStride;
  const a2 = a1 + aStride;
  const a3 = a2 + aStride;
  const b1 = b + bStride;
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0);
  let s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0);
  let s31 = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const off = (<usize>c) << 2;
    const vb0 = v128.load(b + off);
    const vb1 = v128.load(b1 + off);
    const va0 = v128.load(a + off);
    s00 = f32x4.add(s00, f32x4.mul(va0, vb0));
    s01 = f32x4.add(s01, f32x4.mul(va0, vb1));
    const va1 = v128.load(a1 + off);
    s10 = f32x4.add(s10, f32x4.mul(va1, vb0));
    s11 = f32x4.add(s11, f32x4.mul(va1, vb1));
    const va2 = v128.load(a2 + off);
    s20 = f32x4.add(s20, f32x4.mul(va2, vb0));
    s21 = f32x4.add(s21, f32x4.mul(va2, vb1));
    const va3 = v128.load(a3 + off);
    s30 = f32x4.add(s30, f32x4.mul(va3, vb0));
    s31 = f32x4.add(s31, f32x4.mul(va3, vb1));
  }
  let t00 = hsum(s00);
  let t01 = hsum(s01);
  let t10 = hsum(s10);
  let t11 = hsum(s11);
  let t20 = hsum(s20);
  let t21 = hsum(s21);
  let t30 = hsum(s30);
  let t31 = hsum(s31);
  for (; c < cols; c++) {
    const off = (<usize>c) << 2;
    const vb0 = load<f32>(b + off);
    const vb1 = load<f32>(b1 + off);
    const va0 = load<f32>(a + off);
    const va1 = load<f32>(a1 + off);
    const va2 = load<f32>(a2 + off);
    const va3 = load<f32>(a3 + off);
    t00 += va0 * vb0;
    t01 += va0 * vb1;
    t10 += va1 * vb0;
    t11 += va1 * vb1;
    t20 += va2 * vb0;
    t21 += va2 * vb1;
    t30 += va3 * vb0;
    t31 += va3 * vb1;
  }
  store<f32>(out, t00);
  store<f32>(out + 4, t01);
  store<f32>(out + outStride, t10);
  store<f32>(out + outStride + 4, t11);
  store<f32>(out + 2 * outStride, t20);
  store<f32>(out + 2 * outStride + 4, t21);
  store<f32>(out + 3 * outStride, t30);
  store<f32>(out + 3 * outStride + 4, t31);
}

/** Dot products of four rows a + r*aStride with one row b; result r goes to out + r*outStride. */
function dots4x1(a: usize, aStride: usize, b: usize, cols: i32, out: usize, outStride: usize): void {
  const a1 = a + aStride;
  const a2 = a1 + aStride;
  const a3 = a2 + aStride;
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const off = (<usize>c) << 2;
    const vb = v128.load(b + off);
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + off), vb));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a1 + off), vb));
    s2 = f32x4.add(s2, f32x4.mul(v128.load(a2 + off), vb));
    s3 = f32x4.add(s3, f32x4.mul(v128.load(a3 + off), vb));
  }
  let t0 = hsum(s0);
  let t1 = hsum(s1);
  let t2 = hsum(s2);
  let t3 = hsum(s3);
  for (; c < cols; c++) {
    const off = (<usize>c) << 2;
    const vb = load<f32>(b + off);
    t0 += load<f32>(a + off) * vb;
    t1 += load<f32>(a1 + off) * vb;
    t2 += load<f32>(a2 + off) * vb;
    t3 += load<f32>(a3 + off) * vb;
  }
  store<f32>(out, t0);
  store<f32>(out + outStride, t1);
  store<f32>(out + 2 * outStride, t2);
  store<f32>(out + 3 * outStride, t3);
}

/**
 * out[i][j] = dot(a_i, b_j) for aRows x bRows pairs (out is aRows x bRows, row-major).
 * With `upper` (a == b, aRows == bRows) only j >= i is guaranteed; entries below the diagonal
 * inside diagonal tiles are written too, with the same bits their mirror will give them.
 * Four a rows at a time in 4x2 tiles (4x1 for an odd last b row); the last aRows % 4 a rows one dot
 * at a time. (4x3 tiles, as in dotsBlocked, were no faster here: see there.)
 */
function dotsBlock(a: usize, aRows: i32, b: usize, bRows: i32, cols: i32, out: usize, upper: bool): void {
  const rowBytes = (<usize>cols) << 2;
  const outStride = (<usize>bRows) << 2;
  let i = 0;
  for (; i + 4 <= aRows; i += 4) {
    const ai = a + <usize>i * rowBytes;
    const outRow = out + <usize>i * outStride;
    let j = upper ? i : 0;
    for (; j + 2 <= bRows; j += 2) {
      dots4x2(ai, rowBytes, b + <usize>j * rowBytes, rowBytes, cols, outRow + ((<usize>j) << 2), outStride);
    }
    if (j < bRows)
      dots4x1(ai, rowBytes, b + <usize>j * rowBytes, cols, outRow + ((<usize>j) << 2), outStride);
  }
  for (; i < aRows; i++) {
    const ai = a + <usize>i * rowBytes;
    const outRow = out + <usize>i * outStride;
    for (let j = upper ? i : 0; j < bRows; j++) {
      store<f32>(outRow + ((<usize>j) << 2), dot(ai, b + <usize>j * rowBytes, cols));
    }
  }
}

/**
 * The last bRows - j (0, 1 or 2) b rows against four a rows (a, a + rowBytes, ...): one dots4x2 or
 * dots4x1 tile over whole rows, no chunks. outRow is the output row of a; b rows are rowBytes apart.
 */
function dotsTail4(
  a: usize,
  rowBytes: usize,
  b: usize,
  j: i32,
  bRows: i32,
  cols: i32,
  outRow: usize,
  outStride: usize,
): void {
  const bj = b + <usize>j * rowBytes;
  const outTile = outRow + ((<usize>j) << 2);
  if (j + 2 === bRows) dots4x2(a, rowBytes, bj, rowBytes, cols, outTile, outStride);
  else if (j + 1 === bRows) dots4x1(a, rowBytes, bj, cols, outTile, outStride);
}

// Cache blocking for the cosine kernels. With long rows (a 25088-wide Linear layer has 100 KB
// rows) the rows of a tile no longer fit in L1 and nothing is reused from L1 between tiles.
// dotsBlocked therefore walks the SIMD part of each row in chunks of KC columns: for a block of
// MB a-rows x NB b-rows, one chunk is swept over every tile of the block before the next chunk,
// so each row chunk is reused from L1/L2. (Measured with 4x2 tiles: about 10-20% faster than
// dotsBlock at 25088 columns; the unblocked tiles were already fed from L2 at close to arithmetic
// speed.) The f32x4 lane accumulators of each tile are parked in ACC between chunks, so every
// lane still sums c = l, l+4, l+8, ... in index order: the result is bit-identical to dotsBlock.
//
// The blocked tiles are 4x3: seven loads per step for twelve accumulators instead of six for
// eight, so a third less cache traffic per multiply-add. Twelve accumulators, three b vectors, one
// a vector and a product need 17 xmm registers where V8 has 15 on x64, so two accumulators live
// on the stack (V8 keeps the loads interleaved in dots4x3Chunk; in a 4x3 version of dots4x2 it
// hoisted all seven to the loop top and spilled five vectors). Measured on the 2-core development
// machine (node --no-liftoff, min of 8 alternating runs): 288 x 720 x 25088 cosine cross 631 ms
// with 4x2 tiles, 552 ms with 4x3. In dotsBlock, whose tiles already run close to arithmetic
// speed, the same tile was 3-10 % slower than 4x2 (min of 21-31 alternating runs of a 512 x 512 x
// 4608 Gram and a 128 x 256 x 4608 cross), so dotsBlock keeps 4x2.
// The last bRows % 3 b rows of a block row go through one unblocked 4x2 or 4x1 tile (dotsTail4).
//
// ACC is a fixed static block of the module's memory, reserved at compile time below HEAP_BASE:
// nothing is allocated and the documented scratch sizes are unchanged. Kernels run to completion
// on one thread, so no two calls ever share it.
//
// Rows shorter than BLOCK_MIN_COLS skip the blocking (dotsBlock straight away, same bits): there
// the tiles already run from cache and the accumulator traffic would only cost time.
const KC = 4096; // columns per chunk (a multiple of 4)
const MB = 32; // a rows per block (a multiple of 4)
const NB = 66; // b rows per block (a multiple of 3)
const BLOCK_MIN_COLS = 8192;

/** Bytes of one parked 4x3 tile: twelve f32x4 accumulators. */
const TILE_BYTES: usize = 12 * 16;

/**
 * Tile accumulators of dotsBlocked: (MB/4)*(NB/3) tiles x 12 f32x4 = MB*NB*16 bytes (33 KB),
 * 16-byte aligned.
 */
const ACC: usize = memory.data(MB * NB * 16, 16);

/**
 * One chunk [c0, c1) (c1 - c0 a multiple of 4) of a 4x3 tile: dot products of four rows a + r*aStride
 * with three rows b + s*bStride, continuing the twelve f32x4 accumulators at acc (12 x 16 bytes,
 * (r, s) at acc + (3r + s)*16), or starting them from zero when `first`. Seven loads per step feed
 * twelve accumulators (4x2: six loads, eight).
 */
function dots4x3Chunk(
  a: usize,
  aStride: usize,
  b: usize,
  bStride: usize,
  c0: i32,
  c1: i32,
  acc: usize,
  first: bool,
): void {
  const a1 = a + aStride;
  const a2 = a1 + aStride;
  const a3 = a2 + aStride;
  const b1 = b + bStride;
  const b2 = b1 + bStride;
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s02 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s12 = f32x4.splat(0);
  let s20 = f32x4.splat(0);
  let s21 = f32x4.splat(0);
  let s22 = f32x4.splat(0);
  let s30 = f32x4.splat(0);
  let s31 = f32x4.splat(0);
  let s32 = f32x4.splat(0);
  if (!first) {
    s00 = v128.load(acc);
    s01 = v128.load(acc, 16);
    s02 = v128.load(acc, 32);
    s10 = v128.load(acc, 48);
    s11 = v128.load(acc, 64);
    s12 = v128.load(acc, 80);
    s20 = v128.load(acc, 96);
    s21 = v128.load(acc, 112);
    s22 = v128.load(acc, 128);
    s30 = v128.load(acc, 144);
    s31 = v128.load(acc, 160);
    s32 = v128.load(acc, 176);
  }
  for (let c = c0; c < c1; c += 4) {
    const off = (<usize>c) << 2;
    const vb0 = v128.load(b + off);
    const vb1 = v128.load(b1 + off);
    const vb2 = v128.load(b2 + off);
    const va0 = v128.load(a + off);
    s00 = f32x4.add(s00, f32x4.mul(va0, vb0));
    s01 = f32x4.add(s01, f32x4.mul(va0, vb1));
    s02 = f32x4.add(s02, f32x4.mul(va0, vb2));
    const va1 = v128.load(a1 + off);
    s10 = f32x4.add(s10, f32x4.mul(va1, vb0));
    s11 = f32x4.add(s11, f32x4.mul(va1, vb1));
    s12 = f32x4.add(s12, f32x4.mul(va1, vb2));
    const va2 = v128.load(a2 + off);
    s20 = f32x4.add(s20, f32x4.mul(va2, vb0));
    s21 = f32x4.add(s21, f32x4.mul(va2, vb1));
    s22 = f32x4.add(s22, f32x4.mul(va2, vb2));
    const va3 = v128.load(a3 + off);
    s30 = f32x4.add(s30, f32x4.mul(va3, vb0));
    s31 = f32x4.add(s31, f32x4.mul(va3, vb1));
    s32 = f32x4.add(s32, f32x4.mul(va3, vb2));
  }
  v128.store(acc, s00);
  v128.store(acc, s01, 16);
  v128.store(acc, s02, 32);
  v128.store(acc, s10, 48);
  v128.store(acc, s11, 64);
  v128.store(acc, s12, 80);
  v128.store(acc, s20, 96);
  v128.store(acc, s21, 112);
  v128.store(acc, s22, 128);
  v128.store(acc, s30, 144);
  v128.store(acc, s31, 160);
  v128.store(acc, s32, 176);
}

/**
 * Finish a 4x3 tile whose accumulators dots4x3Chunk left at acc (all zero when cols4 == 0):
 * horizontal sums, then the scalar tail c = cols4 .. cols-1 in index order, exactly as dots4x2
 * does for its entries. Result (r, s) goes to out + r*outStride + s*4.
 */
function finish4x3(
  a: usize,
  aStride: usize,
  b: usize,
  bStride: usize,
  cols4: i32,
  cols: i32,
  acc: usize,
  out: usize,
  outStride: usize,
): void {
  const a1 = a + aStride;
  const a2 = a1 + aStride;
  const a3 = a2 + aStride;
  const b1 = b + bStride;
  const b2 = b1 + bStride;
  let t00: f32 = 0;
  let t01: f32 = 0;
  let t02: f32 = 0;
  let t10: f32 = 0;
  let t11: f32 = 0;
  let t12: f32 = 0;
  let t20: f32 = 0;
  let t21: f32 = 0;
  let t22: f32 = 0;
  let t30: f32 = 0;
  let t31: f32 = 0;
  let t32: f32 = 0;
  if (cols4 > 0) {
    t00 = hsum(v128.load(acc));
    t01 = hsum(v128.load(acc, 16));
    t02 = hsum(v128.load(acc, 32));
    t10 = hsum(v128.load(acc, 48));
    t11 = hsum(v128.load(acc, 64));
    t12 = hsum(v128.load(acc, 80));
    t20 = hsum(v128.load(acc, 96));
    t21 = hsum(v128.load(acc, 112));
    t22 = hsum(v128.load(acc, 128));
    t30 = hsum(v128.load(acc, 144));
    t31 = hsum(v128.load(acc, 160));
    t32 = hsum(v128.load(acc, 176));
  }
  for (let c = cols4; c < cols; c++) {
    const off = (<usize>c) << 2;
    const vb0 = load<f32>(b + off);
    const vb1 = load<f32>(b1 + off);
    const vb2 = load<f32>(b2 + off);
    const va0 = load<f32>(a + off);
    const va1 = load<f32>(a1 + off);
    const va2 = load<f32>(a2 + off);
    const va3 = load<f32>(a3 + off);
    t00 += va0 * vb0;
    t01 += va0 * vb1;
    t02 += va0 * vb2;
    t10 += va1 * vb0;
    t11 += va1 * vb1;
    t12 += va1 * vb2;
    t20 += va2 * vb0;
    t21 += va2 * vb1;
    t22 += va2 * vb2;
    t30 += va3 * vb0;
    t31 += va3 * vb1;
    t32 += va3 * vb2;
  }
  store<f32>(out, t00);
  store<f32>(out + 4, t01);
  store<f32>(out + 8, t02);
  store<f32>(out + outStride, t10);
  store<f32>(out + outStride + 4, t11);
  store<f32>(out + outStride + 8, t12);
  store<f32>(out + 2 * outStride, t20);
  store<f32>(out + 2 * outStride + 4, t21);
  store<f32>(out + 2 * outStride + 8, t22);
  store<f32>(out + 3 * outStride, t30);
  store<f32>(out + 3 * outStride + 4, t31);
  store<f32>(out + 3 * outStride + 8, t32);
}

/**
 * Same contract and bit-identical result as dotsBlock, cache-blocked over rows and columns (see
 * KC, MB, NB above); the tile accumulators go to the static ACC block. The last bRows % 3 b rows
 * (one 4x2 or 4x1 tile per four a rows) and the last aRows % 4 a rows go through dotsTail4 and dot
 * unblocked: they are O(rows x cols) work next to the O(aRows x bRows x cols) tiles.
 *
 * The 4x3 tiles sit on a grid of b rows j0 + 3k. With `upper`, the blocks of a rows [i0, i0 + MB)
 * start at b row jBase = i0 rounded down to a multiple of 3, and each group of four a rows i starts
 * at the tile holding b row i (its first columns may lie below the diagonal, which is allowed).
 */
function dotsBlocked(a: usize, aRows: i32, b: usize, bRows: i32, cols: i32, out: usize, upper: bool): void {
  if (cols < BLOCK_MIN_COLS) {
    dotsBlock(a, aRows, b, bRows, cols, out, upper);
    return;
  }
  const rowBytes = (<usize>cols) << 2;
  const outStride = (<usize>bRows) << 2;
  const cols4 = cols & ~3;
  const aFull = aRows & ~3;
  const bFull = bRows - (bRows % 3);
  const accRowBytes = <usize>(NB / 3) * TILE_BYTES;
  const acc = ACC;
  for (let i0 = 0; i0 < aFull; i0 += MB) {
    const iEnd = min(i0 + MB, aFull);
    const jBase = upper ? i0 - (i0 % 3) : 0;
    for (let j0 = jBase; j0 < bFull; j0 += NB) {
      const jEnd = min(j0 + NB, bFull);
      for (let c0 = 0; c0 < cols4; c0 += KC) {
        const c1 = min(c0 + KC, cols4);
        for (let i = i0; i < iEnd; i += 4) {
          const ai = a + <usize>i * rowBytes;
          const accRow = acc + <usize>((i - i0) >> 2) * accRowBytes;
          for (let j = firstTile(j0, i, upper); j < jEnd; j += 3) {
            const accTile = accRow + <usize>((j - j0) / 3) * TILE_BYTES;
            const bj = b + <usize>j * rowBytes;
            // Two call sites on purpose: a function with one caller is inlined by the optimiser,
            // and this whole loop nest runs in a single call, which V8 keeps in its baseline tier
            // (no on-stack replacement for wasm) - about 2x slower. A separate, often-called
            // dots4x3Chunk is tiered up to the optimising compiler after a few calls.
            if (c0 === 0) dots4x3Chunk(ai, rowBytes, bj, rowBytes, c0, c1, accTile, true);
            else dots4x3Chunk(ai, rowBytes, bj, rowBytes, c0, c1, accTile, false);
          }
        }
      }
      for (let i = i0; i < iEnd; i += 4) {
        const ai = a + <usize>i * rowBytes;
        const outRow = out + <usize>i * outStride;
        const accRow = acc + <usize>((i - i0) >> 2) * accRowBytes;
        for (let j = firstTile(j0, i, upper); j < jEnd; j += 3) {
          const accTile = accRow + <usize>((j - j0) / 3) * TILE_BYTES;
          const bj = b + <usize>j * rowBytes;
          finish4x3(ai, rowBytes, bj, rowBytes, cols4, cols, accTile, outRow + ((<usize>j) << 2), outStride);
        }
      }
    }
    if (bFull < bRows) {
      for (let i = i0; i < iEnd; i += 4) {
        dotsTail4(
          a + <usize>i * rowBytes,
          rowBytes,
          b,
          bFull,
          bRows,
          cols,
          out + <usize>i * outStride,
          outStride,
        );
      }
    }
  }
  for (let i = aFull; i < aRows; i++) {
    const ai = a + <usize>i * rowBytes;
    const outRow = out + <usize>i * outStride;
    for (let j = upper ? i : 0; j < bRows; j++) {
      store<f32>(outRow + ((<usize>j) << 2), dot(ai, b + <usize>j * rowBytes, cols));
    }
  }
}

/**
 * The first tile column (on the grid j0 + 3k) of a block starting at b row j0 for the a rows
 * i .. i+3: j0 itself, or with `upper` the tile that holds b row i when i > j0.
 */
function firstTile(j0: i32, i: i32, upper: bool): i32 {
  return upper && i > j0 ? j0 + ((i - j0) / 3) * 3 : j0;
}

/** Copy the strict upper triangle of the n x n f32 matrix at m to the lower one. */
function mirrorUpperF32(m: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      store<f32>(
        m + ((<usize>j * <usize>n + <usize>i) << 2),
        load<f32>(m + ((<usize>i * <usize>n + <usize>j) << 2)),
      );
    }
  }
}

/** Copy the strict upper triangle of the n x n f64 matrix at m to the lower one. */
function mirrorUpperF64(m: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      store<f64>(
        m + ((<usize>j * <usize>n + <usize>i) << 3),
        load<f64>(m + ((<usize>i * <usize>n + <usize>j) << 3)),
      );
    }
  }
}

/**
 * Gram matrix g[i][j] = sum_c x[i, c] * x[j, c] in f32 (g is rows x rows, row-major).
 * The upper triangle is computed in 4x2 register tiles and mirrored, so g is exactly symmetric.
 * x and g must not overlap.
 */
export function distance_gram(xPtr: usize, gPtr: usize, rows: i32, cols: i32): void {
  dotsBlock(xPtr, rows, xPtr, rows, cols, gPtr, true);
  mirrorUpperF32(gPtr, rows);
}

/**
 * Squared euclidean distances d[i][j] = sum_c (x[i, c] - x[j, c])^2, accumulated in f64 from f32
 * inputs (d is rows x rows f64, row-major).
 *
 * Computed directly as a sum of squared differences in f64, not as |x_i|^2 + |x_j|^2 - 2<x_i, x_j>:
 * the norm form cancels catastrophically for nearby rows (exactly the pairs affinity propagation
 * cares about) and can go negative. Direct differences are never negative, give exactly 0 for
 * identical rows, and each f32 - f32 difference is nearly exact in f64. d is exactly symmetric
 * (upper triangle in 4x2 tiles, then mirrored) with an exact +0 diagonal. x and d must not overlap.
 */
export function distance_pairwise_sq_euclidean(xPtr: usize, dPtr: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 2;
  const n = <usize>rows;
  const outStride = n << 3;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const ai = xPtr + <usize>i * rowBytes;
    // Diagonal 4x4 block: its six upper pairs one by one.
    for (let r = 0; r < 3; r++) {
      for (let s = r + 1; s < 4; s++) {
        const v = sqDist(ai + <usize>r * rowBytes, ai + <usize>s * rowBytes, cols);
        store<f64>(dPtr + ((<usize>(i + r) * n + <usize>(i + s)) << 3), v);
      }
    }
    let j = i + 4;
    for (; j + 2 <= rows; j += 2) {
      sqDist4x2(
        ai,
        rowBytes,
        xPtr + <usize>j * rowBytes,
        rowBytes,
        cols,
        dPtr + ((<usize>i * n + <usize>j) << 3),
        outStride,
      );
    }
    if (j < rows) {
      const bj = xPtr + <usize>j * rowBytes;
      for (let r = 0; r < 4; r++) {
        store<f64>(dPtr + ((<usize>(i + r) * n + <usize>j) << 3), sqDist(ai + <usize>r * rowBytes, bj, cols));
      }
    }
  }
  // Up to three rows left: their pairs among themselves.
  for (; i < rows; i++) {
    for (let j = i + 1; j < rows; j++) {
      const v = sqDist(xPtr + <usize>i * rowBytes, xPtr + <usize>j * rowBytes, cols);
      store<f64>(dPtr + ((<usize>i * n + <usize>j) << 3), v);
    }
  }
  mirrorUpperF64(dPtr, rows);
  for (let k = 0; k < rows; k++) store<f64>(dPtr + ((<usize>k * n + <usize>k) << 3), 0.0);
}

/** sum_c (a[c] - b[c])^2 in f64, in the fixed two-lane order above. */
function sqDist(a: usize, b: usize, cols: i32): f64 {
  let acc = f64x2.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const off = (<usize>c) << 2;
    const va = v128.load(a + off);
    const vb = v128.load(b + off);
    const dLo = f64x2.sub(f64x2.promote_low_f32x4(va), f64x2.promote_low_f32x4(vb));
    const dHi = f64x2.sub(promoteHigh(va), promoteHigh(vb));
    acc = f64x2.add(acc, f64x2.mul(dLo, dLo));
    acc = f64x2.add(acc, f64x2.mul(dHi, dHi));
  }
  let s = hsum64(acc);
  for (; c < cols; c++) {
    const off = (<usize>c) << 2;
    const d = <f64>load<f32>(a + off) - <f64>load<f32>(b + off);
    s += d * d;
  }
  return s;
}

/** Add (a - b)^2 to acc, lane-wise in f64. */
function addSq(acc: v128, a: v128, b: v128): v128 {
  const d = f64x2.sub(a, b);
  return f64x2.add(acc, f64x2.mul(d, d));
}

/** (a - b)^2 for two f32 values, in f64. */
function sq64(a: f32, b: f32): f64 {
  const d = <f64>a - <f64>b;
  return d * d;
}

/**
 * Squared distances of rows a + r*aStride (r < 4) against rows b, b+bStride; pair (r, s) goes to
 * out + r*outStride + s*8. Same order as sqDist; each promoted b half is used four times.
 */
function sqDist4x2(
  a: usize,
  aStride: usize,
  b: usize,
  bStride: usize,
  cols: i32,
  out: usize,
  outStride: usize,
): void {
  const b1 = b + bStride;
  let s00 = f64x2.splat(0);
  let s01 = f64x2.splat(0);
  let s10 = f64x2.splat(0);
  let s11 = f64x2.splat(0);
  let s20 = f64x2.splat(0);
  let s21 = f64x2.splat(0);
  let s30 = f64x2.splat(0);
  let s31 = f64x2.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const off = (<usize>c) << 2;
    const vb0 = v128.load(b + off);
    const vb1 = v128.load(b1 + off);
    const b0Lo = f64x2.promote_low_f32x4(vb0);
    const b0Hi = promoteHigh(vb0);
    const b1Lo = f64x2.promote_low_f32x4(vb1);
    const b1Hi = promoteHigh(vb1);
    let va = v128.load(a + off);
    let lo = f64x2.promote_low_f32x4(va);
    let hi = promoteHigh(va);
    s00 = addSq(addSq(s00, lo, b0Lo), hi, b0Hi);
    s01 = addSq(addSq(s01, lo, b1Lo), hi, b1Hi);
    va = v128.load(a + aStride + off);
    lo = f64x2.promote_low_f32x4(va);
    hi = promoteHigh(va);
    s10 = addSq(addSq(s10, lo, b0Lo), hi, b0Hi);
    s11 = addSq(addSq(s11, lo, b1Lo), hi, b1Hi);
    va = v128.load(a + 2 * aStride + off);
    lo = f64x2.promote_low_f32x4(va);
    hi = promoteHigh(va);
    s20 = addSq(addSq(s20, lo, b0Lo), hi, b0Hi);
    s21 = addSq(addSq(s21, lo, b1Lo), hi, b1Hi);
    va = v128.load(a + 3 * aStride + off);
    lo = f64x2.promote_low_f32x4(va);
    hi = promoteHigh(va);
    s30 = addSq(addSq(s30, lo, b0Lo), hi, b0Hi);
    s31 = addSq(addSq(s31, lo, b1Lo), hi, b1Hi);
  }
  let t00 = hsum64(s00);
  let t01 = hsum64(s01);
  let t10 = hsum64(s10);
  let t11 = hsum64(s11);
  let t20 = hsum64(s20);
  let t21 = hsum64(s21);
  let t30 = hsum64(s30);
  let t31 = hsum64(s31);
  for (; c < cols; c++) {
    const off = (<usize>c) << 2;
    const vb0 = load<f32>(b + off);
    const vb1 = load<f32>(b1 + off);
    const va0 = load<f32>(a + off);
    const va1 = load<f32>(a + aStride + off);
    const va2 = load<f32>(a + 2 * aStride + off);
    const va3 = load<f32>(a + 3 * aStride + off);
    t00 += sq64(va0, vb0);
    t01 += sq64(va0, vb1);
    t10 += sq64(va1, vb0);
    t11 += sq64(va1, vb1);
    t20 += sq64(va2, vb0);
    t21 += sq64(va2, vb1);
    t30 += sq64(va3, vb0);
    t31 += sq64(va3, vb1);
  }
  store<f64>(out, t00);
  store<f64>(out + 8, t01);
  store<f64>(out + outStride, t10);
  store<f64>(out + outStride + 8, t11);
  store<f64>(out + 2 * outStride, t20);
  store<f64>(out + 2 * outStride + 8, t21);
  store<f64>(out + 3 * outStride, t30);
  store<f64>(out + 3 * outStride + 8, t31);
}

/**
 * u[r] = x[r] / |x[r]| for each of `rows` rows, with |x[r]| computed in f64 and u rounded to f32;
 * an all-zero row gives an all-zero u row. Returns nothing; u and x must not overlap.
 *
 * The norm is summed in f64 because f32 squares of tiny or huge weights under- or overflow
 * (a row of 1e-30s would look like a zero row); f64 holds the square of any finite f32.
 */
export function normalizeRows(xPtr: usize, uPtr: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const x = xPtr + <usize>r * rowBytes;
    const u = uPtr + <usize>r * rowBytes;
    let acc = f64x2.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const v = v128.load(x + ((<usize>c) << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = promoteHigh(v);
      acc = f64x2.add(acc, f64x2.mul(lo, lo));
      acc = f64x2.add(acc, f64x2.mul(hi, hi));
    }
    let sq = hsum64(acc);
    for (; c < cols; c++) {
      const v = <f64>load<f32>(x + ((<usize>c) << 2));
      sq += v * v;
    }
    // A zero row (every element +-0) has sq == 0 exactly: multiply by 0 instead of dividing by 0.
    const inv = sq > 0 ? 1.0 / Math.sqrt(sq) : 0.0;
    const vInv = f64x2.splat(inv);
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      const off = (<usize>c) << 2;
      const v = v128.load(x + off);
      const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(v), vInv));
      const hi = f32x4.demote_f64x2_zero(f64x2.mul(promoteHigh(v), vInv));
      v128.store(u + off, v128.shuffle<f32>(lo, hi, 0, 1, 4, 5));
    }
    for (; c < cols; c++) {
      const off = (<usize>c) << 2;
      store<f32>(u + off, <f32>(<f64>load<f32>(x + off) * inv));
    }
  }
}

/** Clamp every element of the len f32 values at p to [-1, 1] (NaN stays NaN). */
function clampUnit(p: usize, len: usize): void {
  const lo = f32x4.splat(-1);
  const hi = f32x4.splat(1);
  let i: usize = 0;
  for (; i + 4 <= len; i += 4) {
    const off = i << 2;
    v128.store(p + off, f32x4.min(f32x4.max(v128.load(p + off), lo), hi));
  }
  for (; i < len; i++) {
    const off = i << 2;
    store<f32>(p + off, Mathf.min(Mathf.max(load<f32>(p + off), -1), 1));
  }
}

/**
 * Cosine similarity cos[i][j] = <x_i, x_j> / (|x_i| |x_j|) of the rows of x (rows x cols f32);
 * cos is rows x rows f32, row-major, exactly symmetric, clamped to [-1, 1].
 *
 * Computed as the Gram matrix of the rows normalised in f64 (see normalizeRows), so scaling a row
 * by a power of two leaves the result bit-identical and tiny or huge rows neither under- nor
 * overflow. Conventions:
 * - a zero row (every element +-0) has similarity 0 with every row, itself included;
 * - every non-zero row has similarity exactly 1 with itself;
 * - non-finite inputs give unspecified (possibly NaN) entries.
 *
 * The Gram matrix is cache-blocked (dotsBlocked) with the same bits as distance_gram would give.
 *
 * scratch must hold rows * cols f32. x, cos and scratch must not overlap.
 */
export function distance_cosine(xPtr: usize, cosPtr: usize, scratchPtr: usize, rows: i32, cols: i32): void {
  normalizeRows(xPtr, scratchPtr, rows, cols);
  dotsBlocked(scratchPtr, rows, scratchPtr, rows, cols, cosPtr, true);
  mirrorUpperF32(cosPtr, rows);
  const n = <usize>rows;
  clampUnit(cosPtr, n * n);
  for (let k: usize = 0; k < n; k++) {
    const diag = cosPtr + ((k * n + k) << 2);
    // u_k.u_k is 1 up to rounding when x_k != 0, and exactly 0 when x_k is a zero row.
    store<f32>(diag, load<f32>(diag) > 0 ? 1 : 0);
  }
}

/**
 * Cosine similarity between the rows of x (xRows x cols) and the rows of y (yRows x cols):
 * cos[i][j] = <x_i, y_j> / (|x_i| |y_j|), cos is xRows x yRows f32, row-major, clamped to [-1, 1].
 * Same computation and conventions as distance_cosine: a zero row of x or y has similarity 0 with
 * every row of the other matrix. (Neuron merging: x = pruned filters, y = kept filters.)
 *
 * Cache-blocked over rows and columns (dotsBlocked), with the same bits as the square kernel.
 *
 * scratch must hold (xRows + yRows) * cols f32. x, y may alias each other; neither may overlap
 * cos or scratch.
 */
export function distance_cosine_cross(
  xPtr: usize,
  yPtr: usize,
  cosPtr: usize,
  scratchPtr: usize,
  xRows: i32,
  yRows: i32,
  cols: i32,
): void {
  const ux = scratchPtr;
  const uy = scratchPtr + ((<usize>xRows * <usize>cols) << 2);
  normalizeRows(xPtr, ux, xRows, cols);
  normalizeRows(yPtr, uy, yRows, cols);
  dotsBlocked(ux, xRows, uy, yRows, cols, cosPtr, false);
  clampUnit(cosPtr, <usize>xRows * <usize>yRows);
}

/**
 * u[r] = x[r] / |x[r]| for `rows` rows of `cols` f32, exactly as the cosine kernels normalise their
 * inputs (normalizeRows: the norm in f64, u rounded to f32; an all-zero row gives an all-zero row).
 * u may be x itself (normalised in place: each row's norm is taken before any of it is written);
 * otherwise x and u must not overlap.
 */
export function distance_normalize_rows(xPtr: usize, uPtr: usize, rows: i32, cols: i32): void {
  normalizeRows(xPtr, uPtr, rows, cols);
}

/**
 * cos[i][j] = <u_i, v_j> clamped to [-1, 1] for rows already normalised by distance_normalize_rows:
 * u is uRows x cols, v is vRows x cols, cos is uRows x vRows f32, row-major. On such rows every entry
 * has the bits distance_cosine_cross gives for the unnormalised rows (the same dotsBlocked tiles and
 * fixed reduction order), whatever rows of u and v a call is given: the entries of a large cross
 * product can be computed in blocks of rows of either side, in any order or on any instance, and
 * assembled bit for bit. u and v may alias each other; neither may overlap cos.
 */
export function distance_cosine_cross_unit(
  uPtr: usize,
  vPtr: usize,
  cosPtr: usize,
  uRows: i32,
  vRows: i32,
  cols: i32,
): void {
  dotsBlocked(uPtr, uRows, vPtr, vRows, cols, cosPtr, false);
  clampUnit(cosPtr, <usize>uRows * <usize>vRows);
}

// Squared euclidean distances by the norm trick, as numpy / scikit-learn compute them
// (euclidean_distances(X, squared=True) = |x_i|^2 + |x_k|^2 - 2<x_i, x_k> on a BLAS Gram), in f64:
// a SYRK-style Gram g = X X^T of the upper triangle, then d(i,k) = max(0, (g_ii + g_kk) - 2 g_ik).
//
//   x (rows x cols f32)          P (scratch: rows x kcPad f64, one slice at a time)
//   [ ..|slice 0|slice 1|.. ]    [ x[r, c0 .. c0+kc) as f64, zero-padded to kcPad (even) ]
//
// For each slice of GRAM_KC columns (the last one shorter), every row's slice is converted to f64
// once into P (products of f32 values are exact in f64, so converting first loses nothing), then
// the upper-triangle tiles accumulate it into d: 4x2 register tiles (eight f64x2 accumulators, six
// loads for eight multiply-adds; a 4-row panel of P stays in L1 while the b rows stream from L2),
// 4x1 for an odd last column, 1x2 / 1x1 for the last rows % 4 rows.
//
// Fixed reduction order for every entry, whatever tile computes it: within a slice, lane 0 sums the
// products of the even padded columns and lane 1 those of the odd ones, each in index order (the
// zero padding adds +0); the slice's partial is lane0 + lane1; slices are added to d in order
// (d = p0, then d += p1, ...). So g_ik has the same bits in every tile, the diagonal g_ii is the
// same sum as any off-diagonal entry, and two identical rows give g_ii = g_kk = g_ik exactly: their
// distance (g_ii + g_kk) - 2 g_ik is exactly 0, as with direct differences.
//
// Accuracy: the norm form loses about log2(|x_i|^2 / d(i,k)) bits to cancellation (relative error
// of d about eps * (|x_i|^2 + |x_k|^2) / d); scikit-learn's f64 path has the same. Direct
// differences (distance_pairwise_sq_euclidean) do not, at 3 flops per element pair instead of 2.

/** f64 columns per slice of distance_pairwise_sq_euclidean_gram (even); a slice of P is rows x 4 KB. */
const GRAM_KC = 256;

/** Bytes of scratch distance_pairwise_sq_euclidean_gram needs: rows x (the widest slice, even) f64. */
export function distance_pairwise_sq_euclidean_gram_scratch_bytes(rows: i32, cols: i32): i32 {
  const kc = min(cols, GRAM_KC);
  return rows * ((kc + 1) & ~1) * 8;
}

/**
 * c + a * b per f64 lane. The default build rounds the product, then the sum (the same bits in every
 * runtime); the opt-in relaxed build uses f64x2.relaxed_madd, which may be one fused FMA (see madd
 * in gemm.ts). Identical rows still give identical sums, hence distance 0, on any one machine.
 */
function madd64(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(c, f64x2.mul(a, b));
}

/**
 * One slice (kcPad f64, even) of a 4x2 tile: rows a + r*stride (r < 4) against b, b + stride of P;
 * adds (or with `first` stores) each partial lane0 + lane1 to out + r*outStride + s*8.
 */
function gram4x2(
  a: usize,
  b: usize,
  stride: usize,
  kcPad: i32,
  out: usize,
  outStride: usize,
  first: bool,
): void {
  const a1 = a + stride;
  const a2 = a1 + stride;
  const a3 = a2 + stride;
  const b1 = b + stride;
  let s00 = f64x2.splat(0);
  let s01 = f64x2.splat(0);
  let s10 = f64x2.splat(0);
  let s11 = f64x2.splat(0);
  let s20 = f64x2.splat(0);
  let s21 = f64x2.splat(0);
  let s30 = f64x2.splat(0);
  let s31 = f64x2.splat(0);
  const end = (<usize>kcPad) << 3;
  for (let off: usize = 0; off < end; off += 16) {
    const vb0 = v128.load(b + off);
    const vb1 = v128.load(b1 + off);
    const va0 = v128.load(a + off);
    s00 = madd64(va0, vb0, s00);
    s01 = madd64(va0, vb1, s01);
    const va1 = v128.load(a1 + off);
    s10 = madd64(va1, vb0, s10);
    s11 = madd64(va1, vb1, s11);
    const va2 = v128.load(a2 + off);
    s20 = madd64(va2, vb0, s20);
    s21 = madd64(va2, vb1, s21);
    const va3 = v128.load(a3 + off);
    s30 = madd64(va3, vb0, s30);
    s31 = madd64(va3, vb1, s31);
  }
  putPartial(out, hsum64(s00), first);
  putPartial(out + 8, hsum64(s01), first);
  putPartial(out + outStride, hsum64(s10), first);
  putPartial(out + outStride + 8, hsum64(s11), first);
  putPartial(out + 2 * outStride, hsum64(s20), first);
  putPartial(out + 2 * outStride + 8, hsum64(s21), first);
  putPartial(out + 3 * outStride, hsum64(s30), first);
  putPartial(out + 3 * outStride + 8, hsum64(s31), first);
}

/** One slice of a 4x1 tile: rows a + r*stride (r < 4) of P against b; as gram4x2. */
function gram4x1(
  a: usize,
  b: usize,
  stride: usize,
  kcPad: i32,
  out: usize,
  outStride: usize,
  first: bool,
): void {
  const a1 = a + stride;
  const a2 = a1 + stride;
  const a3 = a2 + stride;
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  const end = (<usize>kcPad) << 3;
  for (let off: usize = 0; off < end; off += 16) {
    const vb = v128.load(b + off);
    s0 = madd64(v128.load(a + off), vb, s0);
    s1 = madd64(v128.load(a1 + off), vb, s1);
    s2 = madd64(v128.load(a2 + off), vb, s2);
    s3 = madd64(v128.load(a3 + off), vb, s3);
  }
  putPartial(out, hsum64(s0), first);
  putPartial(out + outStride, hsum64(s1), first);
  putPartial(out + 2 * outStride, hsum64(s2), first);
  putPartial(out + 3 * outStride, hsum64(s3), first);
}

/** One slice of a 1x2 tile: row a of P against b, b + stride; as gram4x2. */
function gram1x2(a: usize, b: usize, stride: usize, kcPad: i32, out: usize, first: bool): void {
  const b1 = b + stride;
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  const end = (<usize>kcPad) << 3;
  for (let off: usize = 0; off < end; off += 16) {
    const va = v128.load(a + off);
    s0 = madd64(va, v128.load(b + off), s0);
    s1 = madd64(va, v128.load(b1 + off), s1);
  }
  putPartial(out, hsum64(s0), first);
  putPartial(out + 8, hsum64(s1), first);
}

/** One slice of a 1x1 tile: row a of P against b; as gram4x2. */
function gram1x1(a: usize, b: usize, kcPad: i32, out: usize, first: bool): void {
  let s = f64x2.splat(0);
  const end = (<usize>kcPad) << 3;
  for (let off: usize = 0; off < end; off += 16) {
    s = madd64(v128.load(a + off), v128.load(b + off), s);
  }
  putPartial(out, hsum64(s), first);
}

/** out = v for the first slice, out += v after. */
function putPartial(out: usize, v: f64, first: bool): void {
  store<f64>(out, first ? v : load<f64>(out) + v);
}

/** P[r] = x[r, c0 .. c0+kc) as f64, zero-padded to kcPad, for every row (P rows kcPad f64 apart). */
function packSliceF64(xPtr: usize, rows: i32, cols: i32, c0: i32, kc: i32, kcPad: i32, pPtr: usize): void {
  const rowBytes = (<usize>cols) << 2;
  const pStride = (<usize>kcPad) << 3;
  for (let r = 0; r < rows; r++) {
    const src = xPtr + <usize>r * rowBytes + ((<usize>c0) << 2);
    const dst = pPtr + <usize>r * pStride;
    let c = 0;
    for (; c + 4 <= kc; c += 4) {
      const v = v128.load(src + ((<usize>c) << 2));
      v128.store(dst + ((<usize>c) << 3), f64x2.promote_low_f32x4(v));
      v128.store(dst + ((<usize>c) << 3), promoteHigh(v), 16);
    }
    for (; c < kc; c++) store<f64>(dst + ((<usize>c) << 3), <f64>load<f32>(src + ((<usize>c) << 2)));
    for (; c < kcPad; c++) store<f64>(dst + ((<usize>c) << 3), 0.0);
  }
}

/**
 * The Gram-trick distances with slices of `sliceLen` columns (even, >= 2): the body of
 * distance_pairwise_sq_euclidean_gram, which passes GRAM_KC. Exported for the as-pect tests (small
 * slices cross slice edges on small inputs); scratch must hold rows x min(cols, sliceLen) rounded
 * up to even f64.
 */
export function sqEuclideanGram(
  xPtr: usize,
  dPtr: usize,
  scratchPtr: usize,
  rows: i32,
  cols: i32,
  sliceLen: i32,
): void {
  const n = <usize>rows;
  const outStride = n << 3;
  // At least one slice, so that cols == 0 still writes g = 0.
  const slices = max(1, (cols + sliceLen - 1) / sliceLen);
  for (let q = 0; q < slices; q++) {
    const c0 = q * sliceLen;
    const kc = min(sliceLen, cols - c0);
    const kcPad = (kc + 1) & ~1;
    const first = c0 === 0;
    packSliceF64(xPtr, rows, cols, c0, kc, kcPad, scratchPtr);
    const stride = (<usize>kcPad) << 3;
    let i = 0;
    for (; i + 4 <= rows; i += 4) {
      const ai = scratchPtr + <usize>i * stride;
      const outRow = dPtr + <usize>i * outStride;
      let j = i;
      for (; j + 2 <= rows; j += 2) {
        gram4x2(
          ai,
          scratchPtr + <usize>j * stride,
          stride,
          kcPad,
          outRow + ((<usize>j) << 3),
          outStride,
          first,
        );
      }
      if (j < rows) {
        gram4x1(
          ai,
          scratchPtr + <usize>j * stride,
          stride,
          kcPad,
          outRow + ((<usize>j) << 3),
          outStride,
          first,
        );
      }
    }
    for (; i < rows; i++) {
      const ai = scratchPtr + <usize>i * stride;
      const outRow = dPtr + <usize>i * outStride;
      let j = i;
      for (; j + 2 <= rows; j += 2) {
        gram1x2(ai, scratchPtr + <usize>j * stride, stride, kcPad, outRow + ((<usize>j) << 3), first);
      }
      if (j < rows) gram1x1(ai, scratchPtr + <usize>j * stride, kcPad, outRow + ((<usize>j) << 3), first);
    }
  }
  // d(i,k) = max(0, (g_ii + g_kk) - 2 g_ik) on the strict upper triangle, then mirror, diagonal +0.
  for (let i = 0; i < rows; i++) {
    const gii = load<f64>(dPtr + ((<usize>i * n + <usize>i) << 3));
    for (let k = i + 1; k < rows; k++) {
      const p = dPtr + ((<usize>i * n + <usize>k) << 3);
      const gkk = load<f64>(dPtr + ((<usize>k * n + <usize>k) << 3));
      store<f64>(p, Math.max(0.0, gii + gkk - 2.0 * load<f64>(p)));
    }
  }
  mirrorUpperF64(dPtr, rows);
  for (let k = 0; k < rows; k++) store<f64>(dPtr + ((<usize>k * n + <usize>k) << 3), 0.0);
}

/**
 * Squared euclidean distances by the norm trick (scikit-learn's euclidean_distances(X, squared=True)
 * in float64): d[i][k] = max(0, (g_ii + g_kk) - 2 g_ik) with g = X X^T accumulated in f64 from the
 * f32 rows of x (rows x cols, row-major); d is rows x rows f64, row-major, exactly symmetric, with an
 * exact +0 diagonal and exactly 0 between identical rows. About 1.5x fewer operations than the
 * direct differences of distance_pairwise_sq_euclidean, and cache-blocked; the price is cancellation
 * for rows much closer to each other than to the origin (see above). Non-finite inputs give
 * unspecified entries.
 *
 * scratch: distance_pairwise_sq_euclidean_gram_scratch_bytes(rows, cols) bytes, 8-byte aligned.
 * x, d and scratch must not overlap.
 */
export function distance_pairwise_sq_euclidean_gram(
  xPtr: usize,
  dPtr: usize,
  scratchPtr: usize,
  rows: i32,
  cols: i32,
): void {
  sqEuclideanGram(xPtr, dPtr, scratchPtr, rows, cols, GRAM_KC);
}
