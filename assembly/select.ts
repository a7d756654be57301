// Selection: per-row argmax/argmin of an f32 matrix, top-k of an f32 score vector, and row medians
// of an f64 matrix. None of them allocates; the median takes caller scratch.
//
// Layout: matrices are rows x cols, row-major. Index outputs are i32.
//
// One ranking rule everywhere, so results never depend on the order of evaluation:
// - a larger score ranks higher (for argmin: a smaller one);
// - equal scores (+0 and -0 are equal) rank by index, the lower index first;
// - NaN ranks below every number, -Infinity included; NaNs rank among themselves by index.

const SIGN_BIT: i32 = <i32>0x80000000;

/**
 * Shared body of the argmax/argmin kernels. flip = 0 selects the largest value, flip = the sign bit
 * selects the smallest (negation by xor is exact, keeps NaN a NaN and keeps ties tied).
 * Without a mask every column is allowed; with one, column c is allowed iff mask[c] != 0.
 *
 * Two passes per row, both SIMD: (1) the largest non-NaN allowed value m, starting from -Infinity:
 * pmax(acc, v) = v > acc ? v : acc never lets a NaN in; (2) the first allowed column equal to m.
 * If pass 2 finds none, every allowed value is NaN: return the first allowed column, or -1 if no
 * column is allowed (including cols = 0).
 */
function rowArgBest(
  xPtr: usize,
  hasMask: bool,
  maskPtr: usize,
  outPtr: usize,
  rows: i32,
  cols: i32,
  flip: i32,
): void {
  const vFlip = i32x4.splat(flip);
  const negInf = f32x4.splat(-Infinity);
  const zero = i32x4.splat(0);
  const rowBytes = (<usize>cols) << 2;
  // The first allowed column, shared by all rows.
  let firstAllowed = -1;
  for (let c = 0; c < cols; c++) {
    if (!hasMask || load<i32>(maskPtr + ((<usize>c) << 2)) !== 0) {
      firstAllowed = c;
      break;
    }
  }
  for (let r = 0; r < rows; r++) {
    const row = xPtr + <usize>r * rowBytes;
    let acc = negInf;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const off = (<usize>c) << 2;
      let v = v128.xor(v128.load(row + off), vFlip);
      if (hasMask) v = v128.bitselect(v, negInf, i32x4.ne(v128.load(maskPtr + off), zero));
      acc = f32x4.pmax(acc, v);
    }
    let m = Mathf.max(
      Mathf.max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)),
      Mathf.max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)),
    );
    for (; c < cols; c++) {
      const off = (<usize>c) << 2;
      if (hasMask && load<i32>(maskPtr + off) === 0) continue;
      const v = reinterpret<f32>(reinterpret<i32>(load<f32>(row + off)) ^ flip);
      if (v > m) m = v;
    }
    const vm = f32x4.splat(m);
    let best = firstAllowed;
    c = 0;
    let found = false;
    for (; c + 4 <= cols; c += 4) {
      const off = (<usize>c) << 2;
      let eq = f32x4.eq(v128.xor(v128.load(row + off), vFlip), vm);
      if (hasMask) eq = v128.and(eq, i32x4.ne(v128.load(maskPtr + off), zero));
      const bits = i32x4.bitmask(eq);
      if (bits !== 0) {
        best = c + ctz(bits);
        found = true;
        break;
      }
    }
    if (!found) {
      for (; c < cols; c++) {
        const off = (<usize>c) << 2;
        if (hasMask && load<i32>(maskPtr + off) === 0) continue;
        if (reinterpret<f32>(reinterpret<i32>(load<f32>(row + off)) ^ flip) === m) {
          best = c;
          break;
        }
      }
    }
    store<i32>(outPtr + ((<usize>r) << 2), best);
  }
}

/**
 * out[r] = the column of the largest value in row r of x (rows x cols f32; out has rows i32).
 * Ties go to the lowest column; NaN is never chosen unless the whole row is NaN, which gives 0;
 * cols = 0 gives -1. x and out must not overlap.
 */
export function select_row_argmax(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  rowArgBest(xPtr, false, 0, outPtr, rows, cols, 0);
}

/** As select_row_argmax, for the smallest value (ties: lowest column; NaN: never, unless all NaN). */
export function select_row_argmin(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  rowArgBest(xPtr, false, 0, outPtr, rows, cols, SIGN_BIT);
}

/**
 * out[r] = the column of the largest value in row r of x among the allowed columns, where column c
 * is allowed iff mask[c] != 0 (mask has cols i32, shared by every row). Ties go to the lowest
 * allowed column; if every allowed value is NaN, the first allowed column; if no column is
 * allowed, -1. x, mask and out must not overlap.
 */
export function select_row_argmax_masked(
  xPtr: usize,
  maskPtr: usize,
  outPtr: usize,
  rows: i32,
  cols: i32,
): void {
  rowArgBest(xPtr, true, maskPtr, outPtr, rows, cols, 0);
}

// --- top-k ---------------------------------------------------------------------------------------

const BY_RANK = 0;
const BY_INDEX = 1;

/** True iff index a ranks strictly higher than index b (see the ranking rule at the top). */
function ranksHigher(scores: usize, a: i32, b: i32): bool {
  const sa = load<f32>(scores + ((<usize>a) << 2));
  const sb = load<f32>(scores + ((<usize>b) << 2));
  if (sa > sb) return true;
  if (sa < sb) return false;
  const aNaN = F32.isNaN(sa);
  if (aNaN !== F32.isNaN(sb)) return !aNaN;
  return a < b;
}

/** Heap order: true iff a belongs nearer the root than b. BY_RANK: the worst-ranked index is at
 * the root; BY_INDEX: the largest index is at the root. */
function heapAbove(scores: usize, a: i32, b: i32, order: i32): bool {
  return order === BY_RANK ? ranksHigher(scores, b, a) : a > b;
}

/** Restore the heap property below position `at` of the len-element heap at h. */
function siftDown(h: usize, len: i32, at: i32, scores: usize, order: i32): void {
  const item = load<i32>(h + ((<usize>at) << 2));
  let i = at;
  while (true) {
    let child = 2 * i + 1;
    if (child >= len) break;
    let cv = load<i32>(h + ((<usize>child) << 2));
    if (child + 1 < len) {
      const rv = load<i32>(h + ((<usize>(child + 1)) << 2));
      if (heapAbove(scores, rv, cv, order)) {
        child++;
        cv = rv;
      }
    }
    if (!heapAbove(scores, cv, item, order)) break;
    store<i32>(h + ((<usize>i) << 2), cv);
    i = child;
  }
  store<i32>(h + ((<usize>i) << 2), item);
}

function heapify(h: usize, len: i32, scores: usize, order: i32): void {
  for (let i = (len >> 1) - 1; i >= 0; i--) siftDown(h, len, i, scores, order);
}

/** Heapsort the len-element heap at h in place: the root-most kind of element ends up last. */
function heapSortDown(h: usize, len: i32, scores: usize, order: i32): void {
  for (let end = len - 1; end > 0; end--) {
    const top = load<i32>(h);
    store<i32>(h, load<i32>(h + ((<usize>end) << 2)));
    store<i32>(h + ((<usize>end) << 2), top);
    siftDown(h, end, 0, scores, order);
  }
}

/**
 * Fill out[0..k) with the k best-ranked indices of scores[0..n), as a heap with the worst at out[0].
 * O(n log k). The SIMD main loop skips groups of four scores all below the current worst kept
 * score (most of them once the heap is warm); any other group goes through the exact comparison.
 */
function topKHeap(scores: usize, n: i32, k: i32, out: usize): void {
  for (let i = 0; i < k; i++) store<i32>(out + ((<usize>i) << 2), i);
  heapify(out, k, scores, BY_RANK);
  if (k === 0) return;
  let i = k;
  while (i < n) {
    const worst = load<f32>(scores + ((<usize>load<i32>(out)) << 2));
    // With a NaN at the root every number beats it: no shortcut until the NaNs are gone.
    if (!F32.isNaN(worst)) {
      const vWorst = f32x4.splat(worst);
      while (i + 4 <= n && !v128.any_true(f32x4.ge(v128.load(scores + ((<usize>i) << 2)), vWorst))) i += 4;
      if (i >= n) break;
    }
    const top = load<i32>(out);
    if (ranksHigher(scores, i, top)) {
      store<i32>(out, i);
      siftDown(out, k, 0, scores, BY_RANK);
    }
    i++;
  }
}

/**
 * out[0..k) = the indices of the k highest-ranked of the n f32 scores (ranking rule at the top:
 * larger first, ties to the lower index, NaN last), listed in ascending index order.
 * Requires 0 <= k <= n. scores and out must not overlap. No scratch: the selection heap lives in out.
 */
export function select_top_k(scoresPtr: usize, n: i32, k: i32, outPtr: usize): void {
  topKHeap(scoresPtr, n, k, outPtr);
  heapify(outPtr, k, scoresPtr, BY_INDEX);
  heapSortDown(outPtr, k, scoresPtr, BY_INDEX);
}

/**
 * As select_top_k, but out lists the indices best first: by score descending, equal scores by
 * ascending index, NaNs last.
 */
export function select_top_k_by_score(scoresPtr: usize, n: i32, k: i32, outPtr: usize): void {
  topKHeap(scoresPtr, n, k, outPtr);
  heapSortDown(outPtr, k, scoresPtr, BY_RANK);
}

// --- median --------------------------------------------------------------------------------------

function swapF64(p: usize, i: i32, j: i32): void {
  const a = p + ((<usize>i) << 3);
  const b = p + ((<usize>j) << 3);
  const t = load<f64>(a);
  store<f64>(a, load<f64>(b));
  store<f64>(b, t);
}

function siftDownF64(p: usize, len: i32, at: i32): void {
  let i = at;
  while (true) {
    let child = 2 * i + 1;
    if (child >= len) break;
    if (
      child + 1 < len &&
      load<f64>(p + ((<usize>(child + 1)) << 3)) > load<f64>(p + ((<usize>child) << 3))
    ) {
      child++;
    }
    if (!(load<f64>(p + ((<usize>child) << 3)) > load<f64>(p + ((<usize>i) << 3)))) break;
    swapF64(p, i, child);
    i = child;
  }
}

/** Sort the len f64 values at p ascending (heapsort: no recursion, no scratch). No NaNs allowed. */
export function heapSortF64(p: usize, len: i32): void {
  for (let i = (len >> 1) - 1; i >= 0; i--) siftDownF64(p, len, i);
  for (let end = len - 1; end > 0; end--) {
    swapF64(p, 0, end);
    siftDownF64(p, end, 0);
  }
}

/**
 * Rearrange the n f64 values at p (no NaNs) so that p[k] is the k-th smallest (0-based), every
 * p[i < k] <= p[k] and every p[i > k] >= p[k]; return p[k].
 *
 * Quickselect with a median-of-three pivot and a three-way partition (rows of distances hold many
 * equal values: the zero diagonal, duplicate filters). After `budget` partitions it sorts what is
 * left with heapsort, so the worst case stays O(n log n) whatever the input (introselect).
 */
export function selectKthF64Budget(p: usize, n: i32, k: i32, budget: i32): f64 {
  let lo = 0;
  let hi = n - 1;
  let left = budget;
  while (lo < hi) {
    if (left === 0) {
      heapSortF64(p + ((<usize>lo) << 3), hi - lo + 1);
      break;
    }
    left--;
    const a = load<f64>(p + ((<usize>lo) << 3));
    const b = load<f64>(p + ((<usize>(lo + ((hi - lo) >> 1))) << 3));
    const c = load<f64>(p + ((<usize>hi) << 3));
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    // Dutch flag: [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = load<f64>(p + ((<usize>i) << 3));
      if (v < pivot) swapF64(p, lt++, i++);
      else if (v > pivot) swapF64(p, i, gt--);
      else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return load<f64>(p + ((<usize>k) << 3));
}

/** selectKthF64Budget with the introselect budget 2 * floor(log2 n) + 4. */
export function selectKthF64(p: usize, n: i32, k: i32): f64 {
  return selectKthF64Budget(p, n, k, 2 * (31 - clz(n | 1)) + 4);
}

/**
 * out[r] = the median of row r of x (rows x cols f64; out has rows f64): the middle value for odd
 * cols, the mean of the two middle values for even cols ((a + b) * 0.5). A row holding a NaN gives
 * NaN; cols = 0 gives NaN. scratch must hold cols f64. x, out and scratch must not overlap.
 * (EPruner §3.2: preferences are beta times the median of the full similarity row, diagonal included.)
 */
export function select_row_median(xPtr: usize, outPtr: usize, scratchPtr: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 3;
  for (let r = 0; r < rows; r++) {
    const row = xPtr + <usize>r * rowBytes;
    // Copy into scratch and look for NaN (v != v) on the way.
    let nan = v128.splat<i64>(0);
    let c = 0;
    for (; c + 2 <= cols; c += 2) {
      const off = (<usize>c) << 3;
      const v = v128.load(row + off);
      nan = v128.or(nan, f64x2.ne(v, v));
      v128.store(scratchPtr + off, v);
    }
    let hasNaN = v128.any_true(nan);
    for (; c < cols; c++) {
      const off = (<usize>c) << 3;
      const v = load<f64>(row + off);
      hasNaN = hasNaN || F64.isNaN(v);
      store<f64>(scratchPtr + off, v);
    }
    let median = NaN;
    if (cols > 0 && !hasNaN) {
      const upper = cols >> 1;
      const hi = selectKthF64(scratchPtr, cols, upper);
      if (cols & 1) {
        median = hi;
      } else {
        // Everything below `upper` is <= hi after selection; the lower middle is their maximum.
        let lo = load<f64>(scratchPtr);
        for (let i = 1; i < upper; i++) lo = Math.max(lo, load<f64>(scratchPtr + ((<usize>i) << 3)));
        median = (lo + hi) * 0.5;
      }
    }
    store<f64>(outPtr + ((<usize>r) << 3), median);
  }
}
