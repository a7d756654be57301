// Row reductions over a row-major f32 matrix.
//
// Layout: x is rows x cols, row-major (row r starts at x + r*cols*4 bytes); out has `rows` f32.
// Reduction order is fixed: four lane accumulators over i = 0,4,8,... combined as
// (l0 + l1) + (l2 + l3), then the scalar tail in index order. Same input, same bits, everywhere.

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

/** out[r] = sum_c x[r, c]. x and out must not overlap. */
export function reduce_row_sum(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = xPtr + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) acc = f32x4.add(acc, v128.load(row + ((<usize>c) << 2)));
    let s = hsum(acc);
    for (; c < cols; c++) s += load<f32>(row + ((<usize>c) << 2));
    store<f32>(outPtr + ((<usize>r) << 2), s);
  }
}

/** out[r] = sum_c |x[r, c]|. x and out must not overlap. */
export function reduce_row_l1(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = xPtr + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) acc = f32x4.add(acc, f32x4.abs(v128.load(row + ((<usize>c) << 2))));
    let s = hsum(acc);
    for (; c < cols; c++) s += Mathf.abs(load<f32>(row + ((<usize>c) << 2)));
    store<f32>(outPtr + ((<usize>r) << 2), s);
  }
}

/** out[r] = sqrt(sum_c x[r, c]^2). x and out must not overlap. */
export function reduce_row_l2(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = xPtr + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const v = v128.load(row + ((<usize>c) << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let s = hsum(acc);
    for (; c < cols; c++) {
      const v = load<f32>(row + ((<usize>c) << 2));
      s += v * v;
    }
    store<f32>(outPtr + ((<usize>r) << 2), Mathf.sqrt(s));
  }
}

// Row softmax and log-softmax (ONNX Softmax / LogSoftmax over the last axis), numerically stable:
// m = max_c x[r, c] (IEEE maximum; order-independent); e_c = exp(x[r, c] - m) (Mathf.exp per lane);
// s = the sum of the e_c in the fixed order above (lanes (l0 + l1) + (l2 + l3), then the tail).
// Softmax: y = e_c / s. Log-softmax: y = (x[r, c] - m) - log(s). A row holding +-Inf or NaN gives NaN.

function hmax(v: v128): f32 {
  return Mathf.max(
    Mathf.max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    Mathf.max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)),
  );
}

function rowMax(row: usize, cols: i32): f32 {
  let acc = f32x4.splat(-Infinity);
  let c = 0;
  for (; c + 4 <= cols; c += 4) acc = f32x4.max(acc, v128.load(row + ((<usize>c) << 2)));
  let m = hmax(acc);
  for (; c < cols; c++) m = Mathf.max(m, load<f32>(row + ((<usize>c) << 2)));
  return m;
}

function expF32x4(v: v128): v128 {
  let r = f32x4.splat(Mathf.exp(f32x4.extract_lane(v, 0)));
  r = f32x4.replace_lane(r, 1, Mathf.exp(f32x4.extract_lane(v, 1)));
  r = f32x4.replace_lane(r, 2, Mathf.exp(f32x4.extract_lane(v, 2)));
  return f32x4.replace_lane(r, 3, Mathf.exp(f32x4.extract_lane(v, 3)));
}

/**
 * y[r] = softmax(x[r]) for x, y rows x cols, row-major (stable form and sum order above).
 * x and y may be the same buffer.
 */
export function reduce_row_softmax(xPtr: usize, yPtr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = xPtr + <usize>r * <usize>cols * 4;
    const yr = yPtr + <usize>r * <usize>cols * 4;
    const m = rowMax(xr, cols);
    const vm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const e = expF32x4(f32x4.sub(v128.load(xr + ((<usize>c) << 2)), vm));
      v128.store(yr + ((<usize>c) << 2), e);
      acc = f32x4.add(acc, e);
    }
    let s = hsum(acc);
    for (; c < cols; c++) {
      const e = Mathf.exp(load<f32>(xr + ((<usize>c) << 2)) - m);
      store<f32>(yr + ((<usize>c) << 2), e);
      s += e;
    }
    const vs = f32x4.splat(s);
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      v128.store(yr + ((<usize>c) << 2), f32x4.div(v128.load(yr + ((<usize>c) << 2)), vs));
    }
    for (; c < cols; c++) store<f32>(yr + ((<usize>c) << 2), load<f32>(yr + ((<usize>c) << 2)) / s);
  }
}

/**
 * y[r] = log_softmax(x[r]) = (x[r] - m) - log(sum exp(x[r] - m)) for x, y rows x cols, row-major.
 * x and y may be the same buffer.
 */
export function reduce_row_log_softmax(xPtr: usize, yPtr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = xPtr + <usize>r * <usize>cols * 4;
    const yr = yPtr + <usize>r * <usize>cols * 4;
    const m = rowMax(xr, cols);
    const vm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const t = f32x4.sub(v128.load(xr + ((<usize>c) << 2)), vm);
      v128.store(yr + ((<usize>c) << 2), t);
      acc = f32x4.add(acc, expF32x4(t));
    }
    let s = hsum(acc);
    for (; c < cols; c++) {
      const t = load<f32>(xr + ((<usize>c) << 2)) - m;
      store<f32>(yr + ((<usize>c) << 2), t);
      s += Mathf.exp(t);
    }
    const ls = Mathf.log(s);
    const vls = f32x4.splat(ls);
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      v128.store(yr + ((<usize>c) << 2), f32x4.sub(v128.load(yr + ((<usize>c) << 2)), vls));
    }
    for (; c < cols; c++) store<f32>(yr + ((<usize>c) << 2), load<f32>(yr + ((<usize>c) << 2)) - ls);
  }
}

// Gradient sums: the bias gradients of a conv (per channel of an NCHW batch) and of a Gemm (per column).

/**
 * out[c] = sum over n and p of x[n, c, p] for an NCHW batch (x is batch x channels x planeLen,
 * row-major; out holds `channels` f32, overwritten): a conv's bias gradient. Summed in f64 in a fixed
 * order: the planes n = 0, 1, ... in turn; in each plane the multiple-of-4 prefix goes into two f64x2
 * accumulators (lanes 0,1 and 2,3), the tail into a scalar; then (a0 + a1) + (a2 + a3) + tail, stored
 * as f32. x and out must not overlap.
 */
export function reduce_channel_sum(
  xPtr: usize,
  outPtr: usize,
  batch: i32,
  channels: i32,
  planeLen: i32,
): void {
  const planeBytes = (<usize>planeLen) << 2;
  for (let c = 0; c < channels; c++) {
    let lo = f64x2.splat(0);
    let hi = f64x2.splat(0);
    let tail: f64 = 0;
    for (let n = 0; n < batch; n++) {
      const xp = xPtr + (<usize>n * <usize>channels + <usize>c) * planeBytes;
      let p = 0;
      for (; p + 4 <= planeLen; p += 4) {
        const v = v128.load(xp + ((<usize>p) << 2));
        lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
        hi = f64x2.add(hi, f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 2, 3)));
      }
      for (; p < planeLen; p++) tail += <f64>load<f32>(xp + ((<usize>p) << 2));
    }
    const s =
      f64x2.extract_lane(lo, 0) +
      f64x2.extract_lane(lo, 1) +
      (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1)) +
      tail;
    store<f32>(outPtr + ((<usize>c) << 2), <f32>s);
  }
}

/**
 * out[j] = sum_i x[i, j] for x rows x cols, row-major (out holds `cols` f32, overwritten): a Gemm's
 * bias gradient. Each column is summed in f32 in row order, starting from +0 (SIMD runs across four
 * columns at a time, so every column sees exactly the scalar order). x and out must not overlap.
 */
export function reduce_col_sum(xPtr: usize, outPtr: usize, rows: i32, cols: i32): void {
  let j = 0;
  for (; j + 4 <= cols; j += 4) v128.store(outPtr + ((<usize>j) << 2), f32x4.splat(0));
  for (; j < cols; j++) store<f32>(outPtr + ((<usize>j) << 2), 0);
  for (let i = 0; i < rows; i++) {
    const row = xPtr + <usize>i * ((<usize>cols) << 2);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const q = (<usize>j) << 2;
      v128.store(outPtr + q, f32x4.add(v128.load(outPtr + q), v128.load(row + q)));
    }
    for (; j < cols; j++) {
      const q = (<usize>j) << 2;
      store<f32>(outPtr + q, load<f32>(outPtr + q) + load<f32>(row + q));
    }
  }
}
