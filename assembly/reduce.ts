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
