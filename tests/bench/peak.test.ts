// The WebAssembly peak probes behind the GEMM bench's "% of ceiling" column (bench/lib/peak.ts): each
// one performs the multiply-accumulates it counts, and V8 keeps them in the loop, on registers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fillPeakMemory, type PeakKind, peakModule } from "../../bench/lib/peak.ts";
import { peakLoopCode } from "../../bench/lib/peak-code.ts";

/** The probe's arithmetic in plain JS with f32 rounding at every step (fma: one rounding, exact product). */
function modelRun(kind: PeakKind, rows: number, iters: number, mem: Float32Array): number {
  const b = [mem[(1024 + 128) / 4]!, mem[(1024 + 144) / 4]!];
  const acc = Array.from({ length: rows * 2 }, () => 0);
  let off = 0;
  for (let i = 0; i < iters; i++) {
    for (let r = 0; r < rows; r++) {
      const a = mem[(off + 16 * r) / 4]!; // lane 0; every lane of a row holds the same value
      for (let j = 0; j < 2; j++) {
        const k = r * 2 + j;
        acc[k] =
          kind === "fma" ? Math.fround(a * b[j]! + acc[k]!) : Math.fround(acc[k]! + Math.fround(a * b[j]!));
      }
    }
    off = (off + 16) & (1024 - 16);
  }
  let s = acc[0]!;
  for (let k = 1; k < acc.length; k++) s = Math.fround(s + acc[k]!);
  return s;
}

for (const kind of ["mul+add", "fma"] as const) {
  for (const rows of [1, 4, 5, 6]) {
    test(`peak probe ${kind}, ${rows} rows: runs iters x ${rows * 2} multiply-accumulates over a moving A`, (t) => {
      const bytes = peakModule(kind, rows);
      if (!WebAssembly.validate(bytes)) {
        t.skip("this runtime has no relaxed SIMD");
        return;
      }
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
      const memory = instance.exports.memory as WebAssembly.Memory;
      fillPeakMemory(memory);
      const run = instance.exports.run as (iters: number) => number;
      // 70 iterations wrap the 64-row A buffer once, so the offset's wrap is covered too.
      for (const iters of [0, 1, 3, 70]) {
        const mem = new Float32Array(memory.buffer);
        const want = modelRun(kind, rows, iters, mem);
        // relaxed_madd may round once (FMA) or twice; the mul+add probe must match exactly.
        if (kind === "fma") assert.ok(Math.abs(run(iters) - want) <= 1e-5 * Math.max(1, Math.abs(want)));
        else assert.equal(run(iters), want);
      }
    });
  }
}

// The probes the GEMM bench uses are mul+add with 5 rows and fma with 6; mul+add with 6 rows needs 16
// vector registers where V8 has 15 and spills (bench/lib/peak.ts).
const SPILL_FREE: [PeakKind, number][] = [
  ["mul+add", 4],
  ["mul+add", 5],
  ["fma", 4],
  ["fma", 5],
  ["fma", 6],
];
for (const [kind, rows] of SPILL_FREE) {
  test(`peak probe ${kind}, ${rows} rows: V8's loop holds every multiply and no spill`, (t) => {
    const code = peakLoopCode(kind, rows);
    if (code === undefined) {
      t.skip("this Node prints no x64 wasm code");
      return;
    }
    const detail = code.instructions.join("\n");
    assert.equal(code.loads, rows, detail);
    if (kind === "fma") assert.equal(code.fma, rows * 2, detail);
    else {
      assert.equal(code.mul, rows * 2, detail);
      assert.equal(code.add, rows * 2, detail);
    }
    assert.deepEqual(code.stackAccesses, [], detail);
  });
}
