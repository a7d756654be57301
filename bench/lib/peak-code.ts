// Read the machine code V8 generates for a peak probe (bench/lib/peak.ts) and count what its hot loop
// does, so that the probe's claim (every multiply in the loop, accumulators in registers) is checked,
// not assumed. Runs a child Node with `--print-wasm-code`, which Node's release builds support on x64.
import { spawnSync } from "node:child_process";
import { type PeakKind, peakModule } from "./peak.ts";

/** What the probe's innermost loop contains, by instruction. */
export interface PeakLoopCode {
  /** Instructions from the back-edge target to the back-edge. */
  instructions: string[];
  /** Vector loads from the probe's memory (register destination). */
  loads: number;
  mul: number;
  add: number;
  fma: number;
  /** Instructions with an rbp- or rsp-relative memory operand: spills and reloads. */
  stackAccesses: string[];
}

// Child: compile the module with TurboFan (no Liftoff, not lazily) and call it once.
const CHILD = `
const bytes = Uint8Array.from(JSON.parse(process.argv[1]));
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
instance.exports.run(1);
`;

/**
 * The x64 code of `peakModule(kind, rows)`'s loop as V8 compiles it in this Node.
 * @returns undefined when this Node prints no code (not x64, or built without a disassembler).
 */
export function peakLoopCode(kind: PeakKind, rows: number): PeakLoopCode | undefined {
  const bytes = peakModule(kind, rows);
  const out = spawnSync(
    process.execPath,
    [
      "--no-liftoff",
      "--no-wasm-lazy-compilation",
      "--experimental-wasm-relaxed-simd",
      "--print-wasm-code",
      "-e",
      CHILD,
      JSON.stringify([...bytes]),
    ],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`the code-printing child failed: ${out.stderr}`);
  // Lines look like "0x3c13...  80  c57a6f1c0b   vmovdqu xmm11,[rbx+rcx*1]".
  const code: { offset: number; text: string }[] = [];
  for (const line of out.stdout.split("\n")) {
    const m = /^0x[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.*)$/.exec(line);
    if (m !== null) code.push({ offset: Number.parseInt(m[1]!, 16), text: m[2]!.trim() });
  }
  if (code.length === 0) return undefined;
  // The hot loop: the backward jump whose body holds the most vector arithmetic.
  const isMath = (t: string) => /^v(mulps|addps|fmadd\w*ps)/.test(t);
  let best: string[] | undefined;
  for (const { offset, text } of code) {
    const m = /^j\w+ 0x[0-9a-f]+\s+<\+0x([0-9a-f]+)>/.exec(text);
    if (m === null) continue;
    const target = Number.parseInt(m[1]!, 16);
    if (target >= offset) continue;
    const body = code.filter((c) => c.offset >= target && c.offset <= offset).map((c) => c.text);
    if (best === undefined || body.filter(isMath).length > best.filter(isMath).length) best = body;
  }
  if (best === undefined) return undefined;
  const count = (re: RegExp) => best.filter((t) => re.test(t)).length;
  return {
    instructions: best,
    loads: count(/^vmov\w+ xmm\d+,\[/),
    mul: count(/^vmulps/),
    add: count(/^vaddps/),
    fma: count(/^vfmadd\w*ps/),
    stackAccesses: best.filter((t) => /\[(rbp|rsp)/.test(t)),
  };
}
