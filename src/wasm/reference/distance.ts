/**
 * Plain references for assembly/distance.ts: f64 accumulation, simplest loops.
 * x is rows x cols, row-major; square outputs are rows x rows, row-major.
 */

/** g[i][j] = sum_c x[i, c] * x[j, c]. */
export function distanceGram(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return crossDots(x, rows, x, rows, cols);
}

/** d[i][j] = sum_c (x[i, c] - x[j, c])^2. */
export function distancePairwiseSqEuclidean(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const d = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      let s = 0;
      for (let c = 0; c < cols; c++) {
        const diff = x[i * cols + c]! - x[j * cols + c]!;
        s += diff * diff;
      }
      d[i * rows + j] = s;
    }
  }
  return d;
}

/** cos[i][j] = <x_i, x_j> / (|x_i| |x_j|); 0 when either row is zero, 1 on the diagonal otherwise. */
export function distanceCosine(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const cos = distanceCosineCross(x, x, rows, rows, cols);
  for (let i = 0; i < rows; i++) {
    if (cos[i * rows + i] !== 0) cos[i * rows + i] = 1;
  }
  return cos;
}

/** cos[i][j] = <x_i, y_j> / (|x_i| |y_j|) for xRows x yRows pairs; 0 when either row is zero. */
export function distanceCosineCross(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  xRows: number,
  yRows: number,
  cols: number,
): Float64Array {
  const dots = crossDots(x, xRows, y, yRows, cols);
  const nx = rowNorms(x, xRows, cols);
  const ny = rowNorms(y, yRows, cols);
  for (let i = 0; i < xRows; i++) {
    for (let j = 0; j < yRows; j++) {
      const denom = nx[i]! * ny[j]!;
      const v = denom === 0 ? 0 : dots[i * yRows + j]! / denom;
      dots[i * yRows + j] = Math.min(1, Math.max(-1, v));
    }
  }
  return dots;
}

/** u_r = x_r / |x_r| (a zero row stays zero). */
export function distanceNormalizeRows(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const norms = rowNorms(x, rows, cols);
  const u = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const n = norms[r]!;
    for (let c = 0; c < cols; c++) u[r * cols + c] = n === 0 ? 0 : x[r * cols + c]! / n;
  }
  return u;
}

/** cos[i][j] = <u_i, v_j> clamped to [-1, 1], for rows that are already unit (or zero). */
export function distanceCosineCrossUnit(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  uRows: number,
  vRows: number,
  cols: number,
): Float64Array {
  const dots = crossDots(u, uRows, v, vRows, cols);
  for (let k = 0; k < dots.length; k++) dots[k] = Math.min(1, Math.max(-1, dots[k]!));
  return dots;
}

function crossDots(
  x: ArrayLike<number>,
  xRows: number,
  y: ArrayLike<number>,
  yRows: number,
  cols: number,
): Float64Array {
  const out = new Float64Array(xRows * yRows);
  for (let i = 0; i < xRows; i++) {
    for (let j = 0; j < yRows; j++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[i * cols + c]! * y[j * cols + c]!;
      out[i * yRows + j] = s;
    }
  }
  return out;
}

function rowNorms(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]! * x[r * cols + c]!;
    out[r] = Math.sqrt(s);
  }
  return out;
}

/**
 * d[i][j] = max(0, |x_i|^2 + |x_j|^2 - 2<x_i, x_j>), the norm trick of scikit-learn's
 * euclidean_distances(X, squared=True); 0 on the diagonal.
 */
export function distancePairwiseSqEuclideanGram(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const g = crossDots(x, rows, x, rows, cols);
  const d = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      d[i * rows + j] = i === j ? 0 : Math.max(0, g[i * rows + i]! + g[j * rows + j]! - 2 * g[i * rows + j]!);
    }
  }
  return d;
}
