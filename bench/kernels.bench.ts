// GEMM side by side: prunekit's WASM SIMD kernel, @tensorflow/tfjs-backend-wasm (XNNPACK, 1 thread)
// and onnxruntime-node (native MLAS, 1 intra-op thread), plus the plain TS reference on the
// smallest shape. Runs are interleaved (ours, tfjs, ort, ours, tfjs, ort, ...) in one process so
// that machine noise hits every contender alike; we report the median.
//
//   npm run bench                 full run, writes bench/README.md
//   npm run bench -- --smoke      tiny shapes once each (keeps the benchmark working in CI; never gates on speed)
//   npm run bench -- --reps 21    more repetitions per contender (default 11)
//   npm run bench -- --no-write   print the table without touching bench/README.md
import { writeFileSync } from "node:fs";
import os from "node:os";
import v8 from "node:v8";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import type { Buf } from "../src/wasm/arena.ts";
import { gemmBuffers, gemmScratchLen, getWasm } from "../src/wasm/kernels.ts";
import * as reference from "../src/wasm/reference/gemm.ts";
import { seededFloats } from "../tests/helpers/arbitraries.ts";

const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const write = !smoke && !args.includes("--no-write");
const repsArg = args.indexOf("--reps");
const reps = smoke ? 1 : repsArg >= 0 ? Number(args[repsArg + 1]) : 11;
const warmup = smoke ? 1 : 3;

interface Shape {
  name: string;
  /** C (m x n) = A (m x k) * op(B); op(B) = B^T when transB. */
  m: number;
  n: number;
  k: number;
  transB: boolean;
}

const SHAPES: Shape[] = smoke
  ? [
      { name: "smoke 13x17x19", m: 13, n: 17, k: 19, transB: false },
      { name: "smoke NT 9x11x23", m: 9, n: 11, k: 23, transB: true },
    ]
  : [
      { name: "square 512 x 512 x 512", m: 512, n: 512, k: 512, transB: false },
      { name: "VGG-16 conv5 Gram W W^T (512 x 4608)", m: 512, n: 512, k: 4608, transB: true },
      { name: "3x3 conv 64->64, 32x32, batch 1 (im2col)", m: 64, n: 1024, k: 576, transB: false },
      { name: "3x3 conv 64->64, 32x32, batch 64 (im2col)", m: 64, n: 65536, k: 576, transB: false },
    ];

// --- a hand-assembled ONNX model: one MatMul (or Gemm with transB=1) node ----------------------

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, v: number): number[] => [...key(field, 0), ...varint(v)];
const bytes = (field: number, body: number[]): number[] => [
  ...key(field, 2),
  ...varint(body.length),
  ...body,
];
const str = (field: number, s: string): number[] => bytes(field, [...new TextEncoder().encode(s)]);

/** ValueInfoProto for a float tensor of fixed dims. */
function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, int(1, d))); // TensorShapeProto.dim { dim_value }
  const tensorType = [...int(1, 1), ...bytes(2, shape)]; // elem_type FLOAT, shape
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))]; // name, type { tensor_type }
}

function onnxGemmModel(s: Shape): Uint8Array {
  const bDims = s.transB ? [s.n, s.k] : [s.k, s.n];
  const node = [
    ...str(1, "A"),
    ...str(1, "B"),
    ...str(2, "C"),
    ...str(4, s.transB ? "Gemm" : "MatMul"),
    ...(s.transB ? bytes(5, [...str(1, "transB"), ...int(3, 1), ...int(20, 2)]) : []), // AttributeProto INT
  ];
  const graph = [
    ...bytes(1, node),
    ...str(2, "gemm"),
    ...bytes(11, valueInfo("A", [s.m, s.k])),
    ...bytes(11, valueInfo("B", bDims)),
    ...bytes(12, valueInfo("C", [s.m, s.n])),
  ];
  const model = [...int(1, 8), ...str(2, "prunekit-bench"), ...bytes(7, graph), ...bytes(8, int(2, 13))];
  return Uint8Array.from(model);
}

// --- timing helpers -------------------------------------------------------------------------

type Runner = () => Float32Array | Promise<Float32Array>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function maxRelDiff(x: Float32Array, y: Float32Array): number {
  let worst = 0;
  let scale = 1e-6;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(y[i]!));
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / scale);
  return worst;
}

interface Row {
  shape: Shape;
  /** Median wall-clock ms per contender. */
  ms: Record<string, number>;
  /** Median process CPU ms per contender (robust to being descheduled on a busy machine). */
  cpuMs: Record<string, number>;
  /** Fastest run's process CPU ms per contender (closest to a quiet machine). */
  bestCpuMs: Record<string, number>;
}

// --- the run --------------------------------------------------------------------------------

// Compile every WebAssembly module straight to optimised (TurboFan) code. With V8's default lazy
// tier-up, a large module such as tfjs's can keep running baseline (Liftoff) code for many calls on a
// busy machine, which would flatter us; this flag takes that race out of the measurement.
v8.setFlagsFromString("--no-liftoff");

const w = await getWasm();
setThreadsCount(1);
await tf.setBackend("wasm");
await tf.ready();

const rows: Row[] = [];
for (const shape of SHAPES) {
  const { m, n, k, transB } = shape;
  const aData = seededFloats(1, m * k);
  const bData = seededFloats(2, k * n);

  // Ours: inputs already in the arena, like tensors already created for the others.
  const mark = w.arena.mark();
  const a: Buf = w.arena.copyInF32(aData);
  const b: Buf = w.arena.copyInF32(bData);
  const c: Buf = w.arena.allocF32(m * n);
  const scratch: Buf = w.arena.allocF32(gemmScratchLen(m, n, k));
  const ours: Runner = () => {
    gemmBuffers(w, { m, n, k, transB }, a, b, c, scratch);
    return w.arena.viewF32(c).slice();
  };

  const ta = tf.tensor2d(aData, [m, k]);
  const tb = tf.tensor2d(bData, transB ? [n, k] : [k, n]);
  const tfjs: Runner = () => {
    const out = tf.matMul(ta, tb, false, transB);
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  };

  const session = await ort.InferenceSession.create(onnxGemmModel(shape), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const feeds = {
    A: new ort.Tensor("float32", aData, [m, k]),
    B: new ort.Tensor("float32", bData, transB ? [n, k] : [k, n]),
  };
  const onnx: Runner = async () => (await session.run(feeds)).C!.data as Float32Array;

  const contenders: [string, Runner][] = [
    ["ours", ours],
    ["tfjs", tfjs],
    ["ort", onnx],
  ];
  // Every contender must compute the same product.
  const want = await ours();
  for (const [label, run] of contenders.slice(1)) {
    const diff = maxRelDiff(await run(), want);
    if (!(diff < 1e-4)) throw new Error(`${shape.name}: ${label} differs from ours by ${diff}`);
  }

  const times: Record<string, number[]> = { ours: [], tfjs: [], ort: [] };
  const cpuTimes: Record<string, number[]> = { ours: [], tfjs: [], ort: [] };
  for (let r = 0; r < warmup + reps; r++) {
    for (const [label, run] of contenders) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await run();
      const dt = performance.now() - t0;
      const dc = process.cpuUsage(c0);
      if (r >= warmup) {
        times[label]!.push(dt);
        cpuTimes[label]!.push((dc.user + dc.system) / 1000);
      }
    }
  }
  const medians = (t: Record<string, number[]>): Record<string, number> =>
    Object.fromEntries(Object.entries(t).map(([l, xs]) => [l, median(xs)]));
  const best = Object.fromEntries(Object.entries(cpuTimes).map(([l, xs]) => [l, Math.min(...xs)]));
  rows.push({ shape, ms: medians(times), cpuMs: medians(cpuTimes), bestCpuMs: best });

  ta.dispose();
  tb.dispose();
  await session.release();
  w.arena.release(mark);
}

// The plain TS reference on the smallest shape, for the TS-vs-WASM speed-up.
const small = SHAPES.reduce((x, y) => (x.m * x.n * x.k <= y.m * y.n * y.k ? x : y));
let referenceRow: { ms: number; oursMs: number } | undefined;
{
  const { m, n, k, transB } = small;
  const aData = seededFloats(1, m * k);
  const bData = seededFloats(2, k * n);
  const cData = new Float32Array(m * n);
  const spec = { transA: false, transB, m, n, k, alpha: 1, beta: 0, lda: k, ldb: transB ? k : n, ldc: n };
  const t: number[] = [];
  for (let r = 0; r < (smoke ? 1 : 3); r++) {
    const t0 = performance.now();
    reference.gemm(spec, aData, bData, cData);
    t.push(performance.now() - t0);
  }
  const oursMs = rows.find((r) => r.shape === small)!.ms.ours!;
  referenceRow = { ms: median(t), oursMs };
}

// --- report ---------------------------------------------------------------------------------

const gflops = (s: Shape, ms: number): string => ((2 * s.m * s.n * s.k) / (ms * 1e6)).toFixed(1);
const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const ratio = (x: number): string => `${x.toFixed(2)}x`;

const header =
  "| shape (C = A op(B)) | m x n x k | ours ms | ours GFLOP/s | tfjs-wasm ms | tfjs GFLOP/s | ours vs tfjs | onnxruntime ms | ort GFLOP/s | ours vs ort |";
const lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"];
for (const { shape: s, ms } of rows) {
  const o = ms.ours!;
  const t = ms.tfjs!;
  const x = ms.ort!;
  lines.push(
    `| ${s.name}${s.transB ? " (NT)" : ""} | ${s.m} x ${s.n} x ${s.k} | ${fmtMs(o)} | ${gflops(s, o)} | ${fmtMs(t)} | ${gflops(s, t)} | ${ratio(t / o)} | ${fmtMs(x)} | ${gflops(s, x)} | ${ratio(x / o)} |`,
  );
}
const table = lines.join("\n");
const cpuLines = [
  "| shape | ours CPU ms | GFLOP/s | tfjs CPU ms | GFLOP/s | ours vs tfjs | ort CPU ms | GFLOP/s | ours vs ort |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const { shape: s, cpuMs } of rows) {
  const o = cpuMs.ours!;
  const t = cpuMs.tfjs!;
  const x = cpuMs.ort!;
  cpuLines.push(
    `| ${s.name} | ${fmtMs(o)} | ${gflops(s, o)} | ${fmtMs(t)} | ${gflops(s, t)} | ${ratio(t / o)} | ${fmtMs(x)} | ${gflops(s, x)} | ${ratio(x / o)} |`,
  );
}
const cpuTable = cpuLines.join("\n");
const bestLines = [
  "| shape | ours GFLOP/s | tfjs GFLOP/s | ours vs tfjs | ort GFLOP/s | ours vs ort |",
  "|---|---:|---:|---:|---:|---:|",
];
for (const { shape: s, bestCpuMs } of rows) {
  const o = bestCpuMs.ours!;
  const t = bestCpuMs.tfjs!;
  const x = bestCpuMs.ort!;
  bestLines.push(
    `| ${s.name} | ${gflops(s, o)} | ${gflops(s, t)} | ${ratio(t / o)} | ${gflops(s, x)} | ${ratio(x / o)} |`,
  );
}
const bestTable = bestLines.join("\n");
const refLine = referenceRow
  ? `Plain TS reference (f64 accumulation) on ${small.name}: ${fmtMs(referenceRow.ms)} ms, ${gflops(small, referenceRow.ms)} GFLOP/s; the WASM kernel is ${ratio(referenceRow.ms / referenceRow.oursMs)} faster.`
  : "";

// The project target: ours >= 1.5x tfjs-wasm on every shape (interleaved median wall clock). Our
// fastest run on any shape stands in for the mul+add ceiling of baseline SIMD128 on this machine
// (taking the max over shapes keeps one noisy shape from lowering it).
const TARGET = 1.5;
const ceilingGflops = Math.max(
  ...rows.map(({ shape: s, bestCpuMs }) => (2 * s.m * s.n * s.k) / (bestCpuMs.ours! * 1e6)),
);
const targetLines = [
  `| shape | ours vs tfjs (wall, median) | target ${TARGET}x met? | GFLOP/s ${TARGET}x would need | above our fastest run? |`,
  "|---|---:|---|---:|---|",
];
for (const { shape: s, ms } of rows) {
  const r = ms.tfjs! / ms.ours!;
  const need = (TARGET * 2 * s.m * s.n * s.k) / (ms.tfjs! * 1e6);
  const above = need > ceilingGflops ? "yes" : "no";
  targetLines.push(
    `| ${s.name} | ${r.toFixed(3)}x | ${r >= TARGET ? "met" : "not met"} | ${need.toFixed(1)} | ${above} |`,
  );
}
const targetTable = targetLines.join("\n");
const ceilingText = `${ceilingGflops.toFixed(1)} GFLOP/s`;

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const when = new Date().toISOString().slice(0, 10);
const env = `${when}, ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}`;
console.log(env);
console.log(table);
console.log(cpuTable);
console.log(bestTable);
console.log(targetTable);
console.log(refLine);

if (write) {
  const readme = `# Benchmarks

\`npm run bench\` (\`bench/kernels.bench.ts\`) builds the release wasm and measures single-precision GEMM,
C = A op(B), against the kernels users would otherwise reach for. \`npm run bench -- --smoke\` runs tiny
shapes once so CI keeps the benchmark working; it never gates on speed.

## GEMM

${env}.

Wall clock, median:

${table}

Process CPU time, median (the same runs; less sensitive to other jobs on the machine):

${cpuTable}

Fastest of the ${reps} runs by process CPU time (the closest this shared machine gets to a quiet one):

${bestTable}

${refLine}

Target: ours at least ${TARGET}x tfjs-wasm on every shape, interleaved, median wall clock. The last column asks
whether ${TARGET}x tfjs would need more GFLOP/s than our own fastest run on any shape in the fastest-run table
(${ceilingText}), which is about as close to the baseline-SIMD128 mul+add ceiling as this kernel gets:

${targetTable}

How it was measured: all three contenders run in one Node process on inputs that already live where each
one wants them (prunekit arena buffers, tfjs tensors, onnxruntime tensors), interleaved as ours, tfjs, ort,
ours, tfjs, ort, ... so background noise hits all of them alike; ${warmup} warm-up rounds, then the median of
${reps} timed rounds. V8 runs with \`--no-liftoff\` (set at startup) so both WebAssembly contenders run fully
optimised code from the first call. Each timed call includes copying C out to a JS Float32Array (\`dataSync\` for tfjs,
the output tensor for onnxruntime). "ours vs X" is X's median time divided by ours (above 1 means we are
faster). Contenders: prunekit's \`gemm_nn\` / \`gemm_nt\` (WASM SIMD128, packed 4x8 micro-tile);
\`@tensorflow/tfjs-backend-wasm\` \`tf.matMul\` (XNNPACK, \`setThreadsCount(1)\`); \`onnxruntime-node\` CPU
(native MLAS, \`intraOpNumThreads: 1\`) on a hand-assembled one-node ONNX model: MatMul for the NN shapes,
Gemm with transB=1 for the Gram matrix. Conv shapes are oriented as weights (64 x 576) times the im2col
matrix (576 x H*W*batch). The machine is shared (2 cores; other jobs may be running), so absolute numbers are
noisy; the interleaved ratios and the CPU-time table are the more reliable figures.

Ceiling: baseline WASM SIMD128 has no fused multiply-add, so every multiply-accumulate costs an f32x4.mul
and an f32x4.add. On a CPU with two 128-bit FP ports that caps any WASM SIMD GEMM (ours and XNNPACK's
alike) at 8 flops per cycle; on the development machine (Xeon, family 6 model 167, 2 vCPUs) a native C
SSE mul+add micro-kernel with the same 4x8/5x8 register tile peaks at about 24 GFLOP/s in L1, and our
fastest run in this table is ${ceilingText}. The
micro-kernel uses a 4 x 8 tile because V8's x64 register allocator has 15 xmm registers and hoists all
broadcast loads to the loop top: 5 x 8 spilled two accumulators per iteration and ran ~12% slower.
A shape whose ${TARGET}x-tfjs figure lies above that ceiling cannot meet the target with baseline SIMD128 on
this machine, whatever the blocking: tfjs (XNNPACK) is then already within ${TARGET}x of the ceiling.

Small-m shapes (the im2col convolutions, m = 64, k = 576): B is 576 x n, so packing it is a full extra
pass over the largest operand and nothing amortises it across A blocks. Two changes made these shapes run
at about our 512^3 rate: the B block is now at most 384 columns (NC), so the packed 288 x 344 block
(396 KB for n = 1024) stays in the 2 MB L2 while the micro-kernel sweeps it (with NC = 2048 it was 2.3 MB and came back
from L3), and NN packing walks B row by row, one sequential stream the hardware prefetcher follows,
instead of one 32-byte panel at a time down page-strided rows. Measured and rejected: a micro-kernel that
reads unpacked B rows in place (every k step is a new row, 4 KB apart for n = 1024: L1 set conflicts and no
prefetch; 3x slower at n = 65536), the same kernel storing the packed panel as it goes on the first tile
(~15-20% slower than the separate row-order pass), and KC = 576 (one K slice for k = 576; no change).
NC = 384 measured ~5% faster than 512 on the batch-1 shape and the same elsewhere.
onnxruntime uses AVX-512 FMA (32 flops per cycle per port pair) and is expected to stay ~3-4x ahead.
`;
  writeFileSync(new URL("./README.md", import.meta.url), readme);
}
