/**
 * Plain references for assembly/reduce.ts: f64 accumulation, simplest loops.
 * x is rows x cols, row-major.
 */
export function reduceRows(
  kind: "sum" | "l1" | "l2",
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      s += kind === "sum" ? v : kind === "l1" ? Math.abs(v) : v * v;
    }
    out[r] = kind === "l2" ? Math.sqrt(s) : s;
  }
  return out;
}

const f = Math.fround;

/** The kernel's f32 row sum order: lanes i mod 4 over the multiple-of-4 prefix, (l0+l1)+(l2+l3), tail. */
function laneSum(v: ArrayLike<number>, start: number, len: number): number {
  const body = len - (len % 4);
  const lanes = [0, 0, 0, 0];
  for (let i = 0; i < body; i++) lanes[i % 4] = f(lanes[i % 4]! + v[start + i]!);
  let s = f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!));
  for (let i = body; i < len; i++) s = f(s + v[start + i]!);
  return s;
}

function rowMax(x: ArrayLike<number>, start: number, len: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < len; i++) m = Math.max(m, f(x[start + i]!));
  return m;
}

/**
 * Row softmax in the kernel's order (x rows x cols): m = row max, e = exp(x - m), s = lane-ordered sum,
 * y = e / s. Exact but for exp (f64 Math.exp rounded to f32: within a few ulps of the kernel).
 */
export function reduceRowSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const y = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const m = rowMax(x, r * cols, cols);
    for (let c = 0; c < cols; c++) y[r * cols + c] = f(Math.exp(f(f(x[r * cols + c]!) - m)));
    const s = laneSum(y, r * cols, cols);
    for (let c = 0; c < cols; c++) y[r * cols + c] = f(y[r * cols + c]! / s);
  }
  return y;
}

/** Row log-softmax in the kernel's order: y = (x - m) - log(s), s as in reduceRowSoftmax. */
export function reduceRowLogSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const y = new Float32Array(rows * cols);
  const e = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    const m = rowMax(x, r * cols, cols);
    for (let c = 0; c < cols; c++) {
      y[r * cols + c] = f(f(x[r * cols + c]!) - m);
      e[c] = Math.exp(y[r * cols + c]!);
    }
    const ls = f(Math.log(laneSum(e, 0, cols)));
    for (let c = 0; c < cols; c++) y[r * cols + c] = f(y[r * cols + c]! - ls);
  }
  return y;
}

/**
 * out[c] = sum over n and p of x[n, c, p] for an NCHW batch (batch x channels x planeLen), in f64.
 */
export function channelSum(
  x: ArrayLike<number>,
  batch: number,
  channels: number,
  planeLen: number,
): Float64Array {
  const out = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < planeLen; p++) out[c] = out[c]! + x[(n * channels + c) * planeLen + p]!;
    }
  }
  return out;
}

/** out[j] = sum_i x[i, j] (x rows x cols), in f32 in row order from +0: bit-exact with the kernel. */
export function colSum(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j] = f(out[j]! + f(x[i * cols + j]!));
  }
  return out;
}
