// The single-thread f32 ceiling of this host, natively and in V8's WebAssembly, with the same probe
// structure on both sides (bench/native/peak.c, bench/lib/peak.ts), plus what V8's code for each WASM
// probe's loop holds (bench/lib/peak-code.ts), under one host stamp. The "% of ceiling" figures in
// bench/README.md divide by these.
//
// Run: node --import tsx bench/peak.bench.ts [--rounds N] [--no-native]
//   The native probe needs gcc; without it (or with --no-native) only the WASM probes run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";

// TurboFan from the first call (no Liftoff); relaxed SIMD for the fma probe (Node 20 needs the flag).
v8.setFlagsFromString("--no-liftoff");
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const peak = await import("./lib/peak.ts");
const { peakLoopCode } = await import("./lib/peak-code.ts");
const { hostStamp } = await import("./lib/host.ts");

const args = process.argv.slice(2);
const roundsArg = args.indexOf("--rounds");
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : 9;

console.log(`host: ${hostStamp()}`);

let clockGhz: number | undefined;
if (!args.includes("--no-native")) {
  const dir = mkdtempSync(join(tmpdir(), "prunekit-peak-"));
  const exe = join(dir, "peak");
  const source = fileURLToPath(new URL("./native/peak.c", import.meta.url));
  const flags = ["-O2", "-msse4.1", "-ffp-contract=off"];
  const cc = spawnSync("gcc", [...flags, source, "-o", exe], { encoding: "utf8" });
  if (cc.error !== undefined || cc.status !== 0) {
    console.log(`native probe skipped: gcc failed (${cc.error?.message ?? cc.stderr.trim()})`);
  } else {
    const version = spawnSync("gcc", ["-dumpfullversion"], { encoding: "utf8" }).stdout.trim();
    const run = spawnSync(exe, [], { encoding: "utf8" });
    console.log(`\nnative (gcc ${version} ${flags.join(" ")}):\n`);
    console.log(run.stdout.trim());
    const m = /clock[^:]*: ([\d.]+) GHz/.exec(run.stdout);
    if (m !== null) clockGhz = Number(m[1]);
  }
  rmSync(dir, { recursive: true, force: true });
}

const probes = (["mul+add", "fma"] as const).flatMap((kind) =>
  [4, 5, 6].map((rows) => peak.peakProbe(kind, rows, 30)).filter((p) => p !== undefined),
);
const results = probes.map(() => [] as number[]);
const wall = probes.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  probes.forEach((p, i) => {
    const rate = p.measure();
    results[i]!.push(rate.cpu);
    wall[i]!.push(rate.wall);
  });
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
console.log(
  `\nWebAssembly in V8 (${ROUNDS} interleaved rounds; GFLOP/s per process CPU second, and by wall clock):\n`,
);
console.log(
  "| probe | chains | best GFLOP/s | median GFLOP/s | best flop/cycle | best wall GFLOP/s | loop: loads / mul / add / fma | stack accesses in loop |",
);
console.log("|---|---:|---:|---:|---:|---:|---|---:|");
probes.forEach((p, i) => {
  const best = Math.max(...results[i]!);
  const code = peakLoopCode(p.kind, p.rows);
  const loop = code === undefined ? "not printed" : `${code.loads} / ${code.mul} / ${code.add} / ${code.fma}`;
  const cells = [
    p.kind === "fma" ? "f32x4.relaxed_madd" : "f32x4.mul + f32x4.add",
    String(p.rows * 2),
    best.toFixed(1),
    median(results[i]!).toFixed(1),
    clockGhz === undefined ? "-" : (best / clockGhz).toFixed(1),
    Math.max(...wall[i]!).toFixed(1),
    loop,
    code === undefined ? "-" : String(code.stackAccesses.length),
  ];
  console.log(`| ${cells.join(" | ")} |`);
});
if (probes.every((p) => p.kind !== "fma")) console.log("(this runtime has no relaxed SIMD: no fma probe)");
