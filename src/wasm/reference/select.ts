/**
 * Plain references for assembly/select.ts: simplest loops and sorts.
 * Matrices are rows x cols, row-major.
 *
 * Ranking rule: larger first, equal values (+0 == -0) by lower index, NaN after every number.
 */

/** Sort comparator for indices into `scores` by the ranking rule (best first). */
function byRank(scores: ArrayLike<number>): (a: number, b: number) => number {
  return (a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    const na = Number.isNaN(sa);
    const nb = Number.isNaN(sb);
    if (na !== nb) return na ? 1 : -1;
    if (!na && sa !== sb) return sb - sa;
    return a - b;
  };
}

function rowArg(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  keep: (c: number) => boolean,
  sign: number,
): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, c) => sign * x[r * cols + c]!);
    const allowed = Array.from({ length: cols }, (_, c) => c).filter(keep);
    allowed.sort(byRank(row));
    out[r] = allowed[0] ?? -1;
  }
  return out;
}

/** Per-row index of the largest value; ties: lowest; NaN last (all-NaN row: 0); cols = 0: -1. */
export function selectRowArgmax(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  return rowArg(x, rows, cols, () => true, 1);
}

/** Per-row index of the smallest value; ties: lowest; NaN last (all-NaN row: 0); cols = 0: -1. */
export function selectRowArgmin(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  return rowArg(x, rows, cols, () => true, -1);
}

/** As selectRowArgmax over the columns with mask[c] != 0; -1 when none is allowed. */
export function selectRowArgmaxMasked(
  x: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
): Int32Array {
  return rowArg(x, rows, cols, (c) => mask[c] !== 0, 1);
}

/** Indices of the k best-ranked scores, ascending by index. */
export function selectTopK(scores: ArrayLike<number>, k: number): Int32Array {
  return selectTopKByScore(scores, k).sort();
}

/** Indices of the k best-ranked scores, best first. */
export function selectTopKByScore(scores: ArrayLike<number>, k: number): Int32Array {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort(byRank(scores));
  return Int32Array.from(idx.slice(0, k));
}

/** Per-row median (mean of the two middle values for even cols); NaN for rows with a NaN or cols = 0. */
export function selectRowMedian(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Float64Array.from({ length: cols }, (_, c) => x[r * cols + c]!).sort();
    if (cols === 0 || row.some(Number.isNaN)) out[r] = NaN;
    else if (cols % 2 === 1) out[r] = row[(cols - 1) / 2]!;
    else out[r] = (row[cols / 2 - 1]! + row[cols / 2]!) / 2;
  }
  return out;
}
