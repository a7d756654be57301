// Before / after for the engine's speed work, interleaved in one process: the GEMM shapes of
// bench/kernels.bench.ts, then whole-network forward passes (the trained ResNet-20 fixture and
// bench/lib/vgg.ts's VGG-16-BN at batch 1 and 64).
//
// Contenders, round by round in this order: this tree's default build, its relaxed build, and, when
// given, another revision (`--baseline DIR`: a checkout with its own src/ and build/, e.g.
// `git archive <rev> src | tar -x -C DIR` plus that revision's build/prunekit*.wasm); its wasm runs the
// GEMMs and its own src/engine/compile.ts compiles the networks, so old and new code see the same
// machine state. For the GEMM also @tensorflow/tfjs-backend-wasm (XNNPACK, 1 thread). Reports
// medians with (min–max) ranges of the per-round values, and per-round ratios. Rates are per process
// CPU second (process.cpuUsage), which a shared machine disturbs less than wall-clock time.
//
//   node --import tsx bench/engine-speed.ts [--gemm] [--forward] [--rounds N] [--baseline DIR]
//     [--models resnet20,vgg16] [--batches 1,64] [--shapes square,batch 1] [--smoke]
// Without --gemm or --forward both run. --smoke: tiny GEMMs, ResNet-20 at batch 1, one round.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { compileModel } from "../src/engine/compile.ts";
import { buildGraph } from "../src/graph/ir.ts";
import { decodeModel } from "../src/onnx/index.ts";
import type { Buf } from "../src/wasm/arena.ts";
import { createWasm, type Wasm } from "../src/wasm/instance.ts";
import { gemmBuffers, gemmScratchLen } from "../src/wasm/kernels/gemm.ts";
import { relaxedSimdSupported } from "../src/wasm/load.ts";
import { seededFloats } from "../tests/helpers/arbitraries.ts";
import { buildVgg16 } from "./lib/vgg.ts";

v8.setFlagsFromString("--no-liftoff");
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
};
const smoke = argv.includes("--smoke");
const ROUNDS = smoke ? 1 : Number(arg("--rounds", "9"));
const onlyGemm = argv.includes("--gemm");
const onlyForward = argv.includes("--forward");
const RUN_GEMM = onlyGemm || !onlyForward;
const RUN_FORWARD = onlyForward || !onlyGemm;
const BASELINE = arg("--baseline", "");
const MODELS = (smoke ? "resnet20" : arg("--models", "resnet20,vgg16")).split(",");
const BATCHES = (smoke ? "1" : arg("--batches", "1,64")).split(",").map(Number);

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const fmt = (v: number[], digits = 1): string =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;

type Compile = typeof compileModel;
interface Build {
  label: string;
  wasm: Wasm;
  compile: Compile;
}
const builds: Build[] = [
  { label: "new", wasm: await createWasm({ simd: "baseline" }), compile: compileModel },
];
if (relaxedSimdSupported())
  builds.push({ label: "new relaxed", wasm: await createWasm({ simd: "relaxed" }), compile: compileModel });
if (BASELINE !== "") {
  const root = pathToFileURL(BASELINE.endsWith("/") ? BASELINE : `${BASELINE}/`);
  const old = (await import(new URL("src/engine/compile.ts", root).href)) as { compileModel: Compile };
  const load = async (file: string, simd: "baseline" | "relaxed") =>
    createWasm({ source: readFileSync(new URL(`build/${file}`, root)), simd });
  builds.push({ label: "old", wasm: await load("prunekit.wasm", "baseline"), compile: old.compileModel });
  if (relaxedSimdSupported())
    builds.push({
      label: "old relaxed",
      wasm: await load("prunekit.relaxed.wasm", "relaxed"),
      compile: old.compileModel,
    });
}

console.log(
  `host: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}, V8 ${process.versions.v8}; ${ROUNDS} interleaved rounds`,
);

/** Header of the table being printed (a new one starts when the columns change). */
let lastHeader = "";

/** One table row: per-round values of each contender (median and range), then per-round ratios of pairs. */
function report(
  title: string,
  unit: string,
  runs: Record<string, number[]>,
  pairs: [string, string][],
): void {
  const labels = Object.keys(runs);
  const present = pairs.filter(([a, b]) => runs[a] !== undefined && runs[b] !== undefined);
  const columns = [...labels.map((l) => `${l} ${unit}`), ...present.map(([a, b]) => `${a} / ${b}`)];
  const header = `| case | ${columns.join(" | ")} |\n|${" --- |".repeat(columns.length + 1)}`;
  if (header !== lastHeader) console.log(`\n${header}`);
  lastHeader = header;
  const ratios = present.map(([a, b]) =>
    fmt(
      runs[a]!.map((x, i) => x / runs[b]![i]!),
      2,
    ),
  );
  console.log(`| ${title} | ${[...labels.map((l) => fmt(runs[l]!)), ...ratios].join(" | ")} |`);
}

if (RUN_GEMM) {
  setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
  const shapes = smoke
    ? [{ name: "smoke 13x17x19", m: 13, n: 17, k: 19, transB: false }]
    : [
        { name: "square 512 x 512 x 512", m: 512, n: 512, k: 512, transB: false },
        { name: "VGG-16 conv5 Gram W W^T (512 x 4608)", m: 512, n: 512, k: 4608, transB: true },
        { name: "3x3 conv 64->64, 32x32, batch 1 (im2col)", m: 64, n: 1024, k: 576, transB: false },
        { name: "3x3 conv 64->64, 32x32, batch 64 (im2col)", m: 64, n: 65536, k: 576, transB: false },
        {
          name: "3x3 conv 16->16, 32x32, batch 1 (ResNet-20 stage 1)",
          m: 16,
          n: 1024,
          k: 144,
          transB: false,
        },
      ];
  const only = arg("--shapes", "");
  if (only !== "")
    shapes.splice(0, shapes.length, ...shapes.filter((s) => only.split(",").some((o) => s.name.includes(o))));
  console.log("\n### GEMM, GFLOP/s (process CPU time), per-round ratios");
  lastHeader = "";
  for (const s of shapes) {
    const { m, n, k, transB } = s;
    const a = seededFloats(1, m * k);
    const b = seededFloats(2, k * n);
    const flops = 2 * m * n * k;
    const runners: [string, () => Float32Array][] = builds.map(({ label, wasm }) => {
      const ab: Buf = wasm.arena.copyInF32(a);
      const bb: Buf = wasm.arena.copyInF32(b);
      const cb: Buf = wasm.arena.allocF32(m * n);
      const sb: Buf = wasm.arena.allocF32(gemmScratchLen(m, n, k));
      return [
        label,
        () => {
          gemmBuffers(wasm, { m, n, k, transB }, ab, bb, cb, sb);
          return wasm.arena.viewF32(cb).slice();
        },
      ];
    });
    const ta = tf.tensor2d(a, [m, k]);
    const tb = tf.tensor2d(b, transB ? [n, k] : [k, n]);
    runners.push([
      "tfjs",
      () => {
        const out = tf.matMul(ta, tb, false, transB);
        const data = out.dataSync() as Float32Array;
        out.dispose();
        return data;
      },
    ]);
    // Old and new default builds must agree bit for bit (the summation order is part of the contract).
    const first = runners[0]![1]();
    const old = runners.find(([l]) => l === "old");
    if (old !== undefined && !Buffer.from(old[1]().buffer).equals(Buffer.from(first.buffer)))
      throw new Error(`${s.name}: the new default build is not bit-identical to the old one`);
    // About 40 ms of work per timed block, at least one call.
    const iters = Math.max(1, Math.round(4e8 / flops));
    const runs: Record<string, number[]> = Object.fromEntries(runners.map(([l]) => [l, []]));
    for (let r = 0; r < ROUNDS + 1; r++) {
      for (const [label, run] of runners) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < iters; i++) run();
        const c = process.cpuUsage(c0);
        const dt = (c.user + c.system) / 1000;
        if (r > 0 || smoke) runs[label]!.push((iters * flops) / (dt * 1e6));
      }
    }
    ta.dispose();
    tb.dispose();
    report(`${s.name} (${m} x ${n} x ${k})`, "GFLOP/s", runs, [
      ["new", "tfjs"],
      ["new relaxed", "tfjs"],
      ["new", "old"],
      ["new relaxed", "old relaxed"],
    ]);
  }
}

if (RUN_FORWARD) {
  interface BenchModel {
    name: string;
    bytes: Uint8Array;
    image: number[];
  }
  const models: BenchModel[] = [];
  if (MODELS.includes("resnet20"))
    models.push({
      name: "ResNet-20 (1x32x32)",
      bytes: readFileSync(new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url)),
      image: [1, 32, 32],
    });
  if (MODELS.includes("vgg16"))
    models.push({ name: "VGG-16-BN (3x32x32)", bytes: buildVgg16().bytes, image: [3, 32, 32] });
  console.log("\n### Forward, images per CPU second, per-round ratios");
  lastHeader = "";
  for (const model of models) {
    for (const batch of BATCHES) {
      const x = new Float32Array(batch * model.image.reduce((p, q) => p * q, 1)).map(
        (_, i) => ((i * 7919) % 256) / 255,
      );
      // Each revision compiles its own graph (a compile may mark nodes of the graph it gets as fused).
      const compiled = builds.map(({ label, wasm, compile }) => ({
        label,
        model: compile(wasm, buildGraph(decodeModel(model.bytes)), { batch }),
      }));
      const input = compiled[0]!.model.inputs[0]!.name;
      const heavy = model.name.startsWith("VGG");
      const iters = Math.max(1, Math.round((heavy ? 16 : 64) / batch));
      const runs: Record<string, number[]> = Object.fromEntries(compiled.map(({ label }) => [label, []]));
      for (let r = 0; r < ROUNDS + 1; r++) {
        for (const { label, model: cm } of compiled) {
          const c0 = process.cpuUsage();
          for (let i = 0; i < iters; i++) cm.run({ [input]: x });
          const c = process.cpuUsage(c0);
          const dt = (c.user + c.system) / 1000;
          if (r > 0 || smoke) runs[label]!.push((iters * batch * 1000) / dt);
        }
      }
      for (const { model: cm } of compiled) cm.dispose();
      report(`${model.name}, batch ${batch}`, "img/s", runs, [
        ["new", "old"],
        ["new relaxed", "old relaxed"],
      ]);
    }
  }
}
