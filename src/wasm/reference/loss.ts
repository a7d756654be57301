/**
 * Plain reference for assembly/loss.ts, in f64 straight from the definitions: the kernels match it
 * within f32 tolerance, and the tests differentiate it by finite differences.
 * logits is rows x cols, row-major; labels holds `rows` integers in [0, cols).
 */

/**
 * Mean softmax cross-entropy and its gradient: loss = (1/rows) sum_r -log softmax(logits[r])[labels[r]]
 * (0 when rows = 0), dLogits[r, j] = (softmax(logits[r])[j] - [j == labels[r]]) / rows.
 */
export function softmaxCrossEntropy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
): { loss: number; dLogits: Float64Array } {
  const dLogits = new Float64Array(rows * cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < cols; j++) m = Math.max(m, logits[r * cols + j]!);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(logits[r * cols + j]! - m);
    const label = labels[r]!;
    total += Math.log(s) - (logits[r * cols + label]! - m);
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(logits[r * cols + j]! - m) / s;
      dLogits[r * cols + j] = (p - (j === label ? 1 : 0)) / rows;
    }
  }
  return { loss: rows === 0 ? 0 : total / rows, dLogits };
}

/** The number of rows whose first maximum is at labels[r]. */
export function softmaxCrossEntropyCorrect(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  cols: number,
): number {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (logits[r * cols + j]! > logits[r * cols + best]!) best = j;
    if (cols > 0 && best === labels[r]) correct++;
  }
  return correct;
}
