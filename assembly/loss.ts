// Loss kernels for training: softmax cross-entropy over the rows of a logits matrix (PyTorch
// `F.cross_entropy(logits, labels)` with the default mean reduction), its gradient, and the count of
// correctly classified rows.
//
// Layout: logits and dLogits are rows x cols, row-major (row r starts at element r*cols); labels
// holds `rows` i32, each in [0, cols) (the wrapper checks; the kernel trusts them).
//
// Per row, numerically stable and in f64: m = max_j x[j] (f32 IEEE maximum), s = sum_j exp(x[j] - m)
// in column order, lse = log(s); the row's loss is lse - (x[label] - m) = -log softmax(x)[label],
// and its softmax is p_j = exp(x[j] - m) / s. Row losses are summed in row order.

/** The max of row `row` (cols >= 1), the first column's value when all are equal. */
function rowMax(row: usize, cols: i32): f32 {
  let m = load<f32>(row);
  for (let j = 1; j < cols; j++) m = Mathf.max(m, load<f32>(row + ((<usize>j) << 2)));
  return m;
}

/**
 * Mean softmax cross-entropy of rows x cols logits against integer labels, and its gradient:
 *   returns  (1/rows) * sum_r -log softmax(logits[r])[labels[r]]     (f64; 0 when rows = 0)
 *   dLogits[r, j] = (softmax(logits[r])[j] - [j == labels[r]]) / rows (computed in f64, stored f32)
 * dLogitsPtr = 0 computes the loss only. Each label must be in [0, cols). dLogits may be the same
 * buffer as logits (a row is read completely before it is written); otherwise no overlap.
 */
export function loss_softmax_xent(
  logitsPtr: usize,
  labelsPtr: usize,
  dLogitsPtr: usize,
  rows: i32,
  cols: i32,
): f64 {
  if (rows <= 0 || cols <= 0) return 0;
  const rowBytes = (<usize>cols) << 2;
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const xr = logitsPtr + <usize>r * rowBytes;
    const label = load<i32>(labelsPtr + ((<usize>r) << 2));
    const m = <f64>rowMax(xr, cols);
    let s: f64 = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(<f64>load<f32>(xr + ((<usize>j) << 2)) - m);
    const lse = Math.log(s);
    total += lse - (<f64>load<f32>(xr + ((<usize>label) << 2)) - m);
    if (dLogitsPtr === 0) continue;
    const gr = dLogitsPtr + <usize>r * rowBytes;
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(<f64>load<f32>(xr + ((<usize>j) << 2)) - m) / s;
      store<f32>(gr + ((<usize>j) << 2), <f32>((j === label ? p - 1 : p) / <f64>rows));
    }
  }
  return total / <f64>rows;
}

/**
 * The number of rows r whose argmax equals labels[r]: top-1 correct predictions. The argmax is the
 * first maximum; NaN ranks below every number (as select_row_argmax), so an all-NaN row gives 0.
 * Layout as loss_softmax_xent; nothing is written.
 */
export function loss_softmax_xent_correct(logitsPtr: usize, labelsPtr: usize, rows: i32, cols: i32): i32 {
  if (cols <= 0) return 0;
  const rowBytes = (<usize>cols) << 2;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const xr = logitsPtr + <usize>r * rowBytes;
    let best = 0;
    let bestValue = load<f32>(xr);
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(xr + ((<usize>j) << 2));
      if (v > bestValue || (F32.isNaN(bestValue) && !F32.isNaN(v))) {
        best = j;
        bestValue = v;
      }
    }
    if (best === load<i32>(labelsPtr + ((<usize>r) << 2))) correct++;
  }
  return correct;
}
