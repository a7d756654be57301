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
