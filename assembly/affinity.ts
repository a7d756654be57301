// Affinity propagation (EPruner, docs/methods.md §3.3) on an n x n f64 similarity matrix.
//
// Layout: S, R (responsibilities) and A (availabilities) are n x n f64, row-major (row i starts at
// ptr + i*n*8 bytes). S holds the similarities with the preferences on its diagonal (S[i][i] = p_i).
//
//   row i of S, A, R           one sweep per iteration, row by row (each row stays in L1):
//   [ s_i0 s_i1 ... s_in-1 ]     pass 1: availability update of row i (iteration t) and, from the
//   [ a_i0 a_i1 ... a_in-1 ]             new row, T = A[i] + S[i]: max m1 (column c1), second max m2
//   [ r_i0 r_i1 ... r_in-1 ]     pass 2: responsibility update of row i (iteration t+1) and the
//                                        column sums of Rp for iteration t+1's availabilities
//
// The fusion is exact: iteration t+1's responsibilities of row i need only row i of A_t, and A_t's
// row i needs the column sums of R_t, complete after the previous sweep. The exemplar flags of
// iteration t are read between the two passes. After the last (or converged) iteration the
// responsibilities one step ahead are not used: only the flags and S are.
//
// Every entry follows one fixed formula, elementwise, so the f64x2 lanes give the same bits as the
// scalar reference (src/wasm/reference/affinity.ts); column sums add rows in index order
// (colsum[k] = ((Rp[0][k] + Rp[1][k]) + Rp[2][k]) + ...), as the reference and scikit-learn do.

/** Byte offset of element (i, k) of an n x n f64 matrix. */
function at(n: i32, i: i32, k: i32): usize {
  return (<usize>i * <usize>n + <usize>k) << 3;
}

// f64x2.max / f64x2.min follow IEEE (NaN propagates, max(-0, +0) = +0) and V8 emits about eight
// instructions for each; f64x2.pmax / pmin are one (maxpd / minpd) but return their first operand
// when the lanes compare equal. For non-NaN lanes the forms below give exactly the IEEE bits, zero
// signs included, so the kernel's results are unchanged (NaN can only arise from overflow beyond
// the f64 range, since the wrapper rejects non-finite similarities); measured 1.6x faster per
// iteration (docs/methods.md §3.11.5).
//   max(0, r) = pmax(0, r)      0 < r ? r : 0   (r = -0 gives +0)
//   min(x, 0) = pmin(x, 0)      0 < x ? 0 : x   (x = -0 gives -0)
//   max(a, b) = pmax(a, b) & pmax(b, a): the two differ only for {+0, -0}, whose AND is +0.

/** IEEE max of two non-NaN f64x2 values, zero signs included (see above). */
function maxExact(a: v128, b: v128): v128 {
  return v128.and(f64x2.pmax(a, b), f64x2.pmax(b, a));
}

/**
 * The three forms above on scalars, for the as-pect tests (not in the ABI): 0 gives max(0, a) as
 * pmax(0, a), 1 min(a, 0) as pmin(a, 0), 2 max(a, b) as maxExact(a, b).
 */
export function affinityFastMinMax(form: i32, a: f64, b: f64): f64 {
  const va = f64x2.splat(a);
  const zero = f64x2.splat(0);
  if (form === 0) return f64x2.extract_lane(f64x2.pmax(zero, va), 0);
  if (form === 1) return f64x2.extract_lane(f64x2.pmin(va, zero), 0);
  return f64x2.extract_lane(maxExact(va, f64x2.splat(b)), 0);
}

/**
 * Pass 1 of row i: A[i][k] = damping*A[i][k] + (1 - damping)*Anew[i][k] with
 * Anew[i][k] = min(0, colsum[k] - max(0, R[i][k])) for k != i and Anew[i][i] = colsum[i] - R[i][i];
 * then the largest value of T = A[i] + S[i] (lowest column on ties) and the second largest.
 * Writes m1, m2 (f64) and c1 (as f64) to out, out+8, out+16.
 */
function availabilityRow(
  sRow: usize,
  aRow: usize,
  rRow: usize,
  colsum: usize,
  n: i32,
  i: i32,
  damping: f64,
  out: usize,
): void {
  const keep = 1.0 - damping;
  const vd = f64x2.splat(damping);
  const vk = f64x2.splat(keep);
  const zero = f64x2.splat(0);
  const ninf = f64x2.splat(-Infinity);
  // Lane l tracks columns k = l, l+2, ...: its max v1 at index i1 and its second max v2.
  let v1 = ninf;
  let v2 = ninf;
  let i1 = f64x2.splat(0);
  let idx = f64x2(0, 1);
  const two = f64x2.splat(2);
  const diagChunk = i & ~1;
  let k = 0;
  for (; k + 2 <= n; k += 2) {
    const off = (<usize>k) << 3;
    let a: v128;
    if (k === diagChunk) {
      for (let q = k; q < k + 2; q++) {
        const o = (<usize>q) << 3;
        const r = load<f64>(rRow + o);
        const cs = load<f64>(colsum + o);
        const anew = q === i ? cs - r : Math.min(0, cs - Math.max(0, r));
        store<f64>(aRow + o, damping * load<f64>(aRow + o) + keep * anew);
      }
      a = v128.load(aRow + off);
    } else {
      const rp = f64x2.pmax(zero, v128.load(rRow + off));
      const anew = f64x2.pmin(f64x2.sub(v128.load(colsum + off), rp), zero);
      a = f64x2.add(f64x2.mul(vd, v128.load(aRow + off)), f64x2.mul(vk, anew));
      v128.store(aRow + off, a);
    }
    const t = f64x2.add(a, v128.load(sRow + off));
    const gt = f64x2.gt(t, v1);
    v2 = v128.bitselect(v1, maxExact(v2, t), gt);
    v1 = f64x2.pmax(v1, t); // v1 < t ? t : v1, exactly bitselect(t, v1, gt)
    i1 = v128.bitselect(idx, i1, gt);
    idx = f64x2.add(idx, two);
  }
  // Combine the lanes: the larger max wins, the lower index on equal maxima.
  const a1 = f64x2.extract_lane(v1, 0);
  const b1 = f64x2.extract_lane(v1, 1);
  const a2 = f64x2.extract_lane(v2, 0);
  const b2 = f64x2.extract_lane(v2, 1);
  const ai = f64x2.extract_lane(i1, 0);
  const bi = f64x2.extract_lane(i1, 1);
  let m1: f64;
  let m2: f64;
  let c1: f64;
  if (b1 > a1 || (b1 === a1 && bi < ai)) {
    m1 = b1;
    c1 = bi;
    m2 = Math.max(b2, a1);
  } else {
    m1 = a1;
    c1 = ai;
    m2 = Math.max(a2, b1);
  }
  for (; k < n; k++) {
    const o = (<usize>k) << 3;
    const r = load<f64>(rRow + o);
    const cs = load<f64>(colsum + o);
    const anew = k === i ? cs - r : Math.min(0, cs - Math.max(0, r));
    const a = damping * load<f64>(aRow + o) + keep * anew;
    store<f64>(aRow + o, a);
    const t = a + load<f64>(sRow + o);
    if (t > m1) {
      m2 = m1;
      m1 = t;
      c1 = <f64>k;
    } else if (t > m2) {
      m2 = t;
    }
  }
  store<f64>(out, m1);
  store<f64>(out + 8, m2);
  store<f64>(out + 16, c1);
}

/**
 * Pass 2 of row i: R[i][k] = damping*R[i][k] + (1 - damping)*(S[i][k] - m1) for k != c1 and
 * (S[i][c1] - m2) at c1; then next[k] += Rp[i][k] (max(0, R) off the diagonal, R on it).
 */
function responsibilityRow(
  sRow: usize,
  rRow: usize,
  next: usize,
  n: i32,
  i: i32,
  m1: f64,
  m2: f64,
  c1: i32,
  damping: f64,
): void {
  const keep = 1.0 - damping;
  const vd = f64x2.splat(damping);
  const vk = f64x2.splat(keep);
  const vm1 = f64x2.splat(m1);
  const zero = f64x2.splat(0);
  const diagChunk = i & ~1;
  const maxChunk = c1 & ~1;
  let k = 0;
  for (; k + 2 <= n; k += 2) {
    const off = (<usize>k) << 3;
    if (k === diagChunk || k === maxChunk) {
      for (let q = k; q < k + 2; q++) {
        const o = (<usize>q) << 3;
        const rnew = load<f64>(sRow + o) - (q === c1 ? m2 : m1);
        const r = damping * load<f64>(rRow + o) + keep * rnew;
        store<f64>(rRow + o, r);
        store<f64>(next + o, load<f64>(next + o) + (q === i ? r : Math.max(0, r)));
      }
    } else {
      const rnew = f64x2.sub(v128.load(sRow + off), vm1);
      const r = f64x2.add(f64x2.mul(vd, v128.load(rRow + off)), f64x2.mul(vk, rnew));
      v128.store(rRow + off, r);
      v128.store(next + off, f64x2.add(v128.load(next + off), f64x2.pmax(zero, r)));
    }
  }
  for (; k < n; k++) {
    const o = (<usize>k) << 3;
    const rnew = load<f64>(sRow + o) - (k === c1 ? m2 : m1);
    const r = damping * load<f64>(rRow + o) + keep * rnew;
    store<f64>(rRow + o, r);
    store<f64>(next + o, load<f64>(next + o) + (k === i ? r : Math.max(0, r)));
  }
}

/** Set len f64 at p to 0. */
function zeroF64(p: usize, len: i32): void {
  const z = f64x2.splat(0);
  let k = 0;
  for (; k + 2 <= len; k += 2) v128.store(p + ((<usize>k) << 3), z);
  for (; k < len; k++) store<f64>(p + ((<usize>k) << 3), 0);
}

/** Bytes of scratch affinity_iterate needs for n points and a window of convIter iterations. */
export function affinity_iterate_scratch_bytes(n: i32, convIter: i32): i32 {
  // two column-sum vectors (f64), the counts of set flags in the window (i32), the ring of flags (u8),
  // and 24 bytes for m1, m2, c1; rounded up to 8 bytes.
  return ((16 * n + 4 * n + n * convIter + 24 + 7) >> 3) << 3;
}

/**
 * Run the message passing of affinity propagation (docs/methods.md §3.3 steps 3-4) from R = A = 0:
 * up to maxIter iterations of the responsibility and availability updates with the given damping;
 * after iteration it the flags E[k] = (A[k][k] + R[k][k] > 0) enter a ring of the last convIter
 * iterations, and from it >= convIter on the run stops once every point's flag stayed the same over
 * the whole ring and at least one flag is set.
 *
 * S: n x n f64 (preferences on the diagonal), read only. R, A: n x n f64, overwritten (their
 * content on entry is ignored). flags: n i32 (0 or 1), the flags of the last iteration run. scratch:
 * affinity_iterate_scratch_bytes(n, convIter) bytes, 8-byte aligned. out: 2 i32, the iterations run
 * and 1 if converged (else 0). No two buffers may overlap. n >= 1, maxIter >= 1, convIter >= 1.
 */
export function affinity_iterate(
  sPtr: usize,
  rPtr: usize,
  aPtr: usize,
  flagsPtr: usize,
  scratchPtr: usize,
  n: i32,
  maxIter: i32,
  convIter: i32,
  damping: f64,
  outPtr: usize,
): void {
  const rowBytes = (<usize>n) << 3;
  let cur = scratchPtr;
  let next = scratchPtr + rowBytes;
  const counts = scratchPtr + 2 * rowBytes;
  const ring = counts + ((<usize>n) << 2);
  const mm = (ring + <usize>n * <usize>convIter + 7) & ~(<usize>7);
  const total = <usize>n * <usize>n;
  // R = A = 0, colsum = 0, ring and counts 0.
  zeroF64(rPtr, <i32>total);
  zeroF64(aPtr, <i32>total);
  memory.fill(counts, 0, ((<usize>n) << 2) + <usize>n * <usize>convIter);
  // Iteration 0's responsibilities (A = 0): T = S.
  zeroF64(cur, n);
  for (let i = 0; i < n; i++) {
    const sRow = sPtr + <usize>i * rowBytes;
    let m1 = -Infinity;
    let m2 = -Infinity;
    let c1 = 0;
    for (let k = 0; k < n; k++) {
      const t = load<f64>(sRow + ((<usize>k) << 3)) + 0.0;
      if (t > m1) {
        m2 = m1;
        m1 = t;
        c1 = k;
      } else if (t > m2) {
        m2 = t;
      }
    }
    responsibilityRow(sRow, rPtr + <usize>i * rowBytes, cur, n, i, m1, m2, c1, damping);
  }
  let it = 0;
  let converged = 0;
  for (; it < maxIter; it++) {
    const ahead = it + 1 < maxIter;
    if (ahead) zeroF64(next, n);
    const slot = ring + <usize>(it % convIter) * <usize>n;
    let set = 0;
    let steady = 0;
    for (let i = 0; i < n; i++) {
      const sRow = sPtr + <usize>i * rowBytes;
      const aRow = aPtr + <usize>i * rowBytes;
      const rRow = rPtr + <usize>i * rowBytes;
      availabilityRow(sRow, aRow, rRow, cur, n, i, damping, mm);
      const o = (<usize>i) << 3;
      const e: u8 = load<f64>(aRow + o) + load<f64>(rRow + o) > 0 ? 1 : 0;
      store<i32>(flagsPtr + ((<usize>i) << 2), <i32>e);
      const cnt = counts + ((<usize>i) << 2);
      const c = load<i32>(cnt) + <i32>e - <i32>load<u8>(slot + <usize>i);
      store<i32>(cnt, c);
      store<u8>(slot + <usize>i, e);
      set += <i32>e;
      if (c === 0 || c === convIter) steady++;
      if (ahead) {
        responsibilityRow(
          sRow,
          rRow,
          next,
          n,
          i,
          load<f64>(mm),
          load<f64>(mm + 8),
          <i32>load<f64>(mm + 16),
          damping,
        );
      }
    }
    if (it >= convIter && steady === n && set > 0) {
      converged = 1;
      it++;
      break;
    }
    const t = cur;
    cur = next;
    next = t;
  }
  store<i32>(outPtr, it);
  store<i32>(outPtr + 4, converged);
}

/**
 * Exemplars and labels from the final flags (docs/methods.md §3.3 steps 5-9):
 * I = {k : flags[k] != 0} ascending; every point i goes to argmax_{j} S[i][I[j]] (lowest j on ties),
 * every exemplar to itself; each cluster's exemplar becomes the member j maximising
 * sum_{i in cluster} S[i][j] (rows summed in index order, lowest member on ties); the points are
 * re-assigned to the refined exemplars (in cluster order, lowest cluster on ties).
 *
 * Writes the K distinct exemplars ascending to exemplars (n i32 of room) and to labels (n i32) the
 * position in that list of every point's exemplar. Returns K (0 when no flag is set; then nothing is
 * written). scratch: 4n + 1 i32. S: n x n f64 with the preferences on the diagonal. No overlaps.
 */
export function affinity_exemplars(
  sPtr: usize,
  flagsPtr: usize,
  n: i32,
  exemplarsPtr: usize,
  labelsPtr: usize,
  scratchPtr: usize,
): i32 {
  const ex = scratchPtr; // n i32: I, cluster order
  const members = ex + ((<usize>n) << 2); // n i32: points grouped by cluster, ascending in each
  const start = members + ((<usize>n) << 2); // n + 1 i32: cluster k's members at [start[k], start[k+1])
  const rank = start + ((<usize>(n + 1)) << 2); // n i32
  let count = 0;
  for (let k = 0; k < n; k++) {
    if (load<i32>(flagsPtr + ((<usize>k) << 2)) !== 0) {
      store<i32>(ex + ((<usize>count) << 2), k);
      count++;
    }
  }
  if (count === 0) return 0;
  assign(sPtr, n, ex, count, labelsPtr);
  // Group the points by cluster (counting sort, stable: ascending inside each cluster).
  for (let k = 0; k <= count; k++) store<i32>(start + ((<usize>k) << 2), 0);
  for (let i = 0; i < n; i++) {
    const p = start + ((<usize>(load<i32>(labelsPtr + ((<usize>i) << 2)) + 1)) << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
  for (let k = 0; k < count; k++) {
    const p = start + ((<usize>(k + 1)) << 2);
    store<i32>(p, load<i32>(p) + load<i32>(p - 4));
  }
  // rank is the fill cursor of each cluster here.
  for (let k = 0; k < count; k++) store<i32>(rank + ((<usize>k) << 2), load<i32>(start + ((<usize>k) << 2)));
  for (let i = 0; i < n; i++) {
    const p = rank + ((<usize>load<i32>(labelsPtr + ((<usize>i) << 2))) << 2);
    const pos = load<i32>(p);
    store<i32>(members + ((<usize>pos) << 2), i);
    store<i32>(p, pos + 1);
  }
  // Refine: the member with the largest column sum inside its cluster.
  for (let k = 0; k < count; k++) {
    const lo = load<i32>(start + ((<usize>k) << 2));
    const hi = load<i32>(start + ((<usize>(k + 1)) << 2));
    let best = -Infinity;
    let bestJ = load<i32>(members + ((<usize>lo) << 2));
    for (let q = lo; q < hi; q++) {
      const j = load<i32>(members + ((<usize>q) << 2));
      let sum = 0.0;
      for (let p = lo; p < hi; p++) sum += load<f64>(sPtr + at(n, load<i32>(members + ((<usize>p) << 2)), j));
      if (sum > best) {
        best = sum;
        bestJ = j;
      }
    }
    store<i32>(ex + ((<usize>k) << 2), bestJ);
  }
  assign(sPtr, n, ex, count, labelsPtr);
  // Positions of the exemplars in ascending order.
  for (let i = 0; i < n; i++) store<i32>(rank + ((<usize>i) << 2), -1);
  for (let k = 0; k < count; k++) store<i32>(rank + ((<usize>load<i32>(ex + ((<usize>k) << 2))) << 2), 0);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const p = rank + ((<usize>i) << 2);
    if (load<i32>(p) === 0) {
      store<i32>(p, m);
      store<i32>(exemplarsPtr + ((<usize>m) << 2), i);
      m++;
    }
  }
  for (let i = 0; i < n; i++) {
    const lp = labelsPtr + ((<usize>i) << 2);
    const e = load<i32>(ex + ((<usize>load<i32>(lp)) << 2));
    store<i32>(lp, load<i32>(rank + ((<usize>e) << 2)));
  }
  return count;
}

/** labels[i] = argmax_j S[i][ex[j]] over j < count (lowest j on ties); labels[ex[j]] = j. */
function assign(sPtr: usize, n: i32, ex: usize, count: i32, labelsPtr: usize): void {
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let bestJ = 0;
    for (let j = 0; j < count; j++) {
      const v = load<f64>(sPtr + at(n, i, load<i32>(ex + ((<usize>j) << 2))));
      if (v > best) {
        best = v;
        bestJ = j;
      }
    }
    store<i32>(labelsPtr + ((<usize>i) << 2), bestJ);
  }
  for (let j = 0; j < count; j++)
    store<i32>(labelsPtr + ((<usize>load<i32>(ex + ((<usize>j) << 2))) << 2), j);
}
