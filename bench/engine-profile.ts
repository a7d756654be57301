// Where the engine's forward pass spends its time: per-step wall times of the compiled trained ResNet-20
// fixture and of VGG-16-BN (bench/lib/vgg.ts, seeded weights, 3x32x32) at batch 1 and 64, then end-to-end
// images/s against onnxruntime-node (native, one thread), interleaved round by round so that both see
// the same load; medians and (min–max) ranges, and the engine / ort ratio per round.
// Run: node --import tsx bench/engine-profile.ts [--rounds N] [--models resnet20,vgg16] [--batches 1,64]
//   [--no-profile] [--relaxed]
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { compileModel, type StepTiming } from "../src/engine/compile.ts";
import { buildGraph } from "../src/graph/ir.ts";
import { decodeModel } from "../src/onnx/index.ts";
import { createWasm } from "../src/wasm/instance.ts";
import { buildVgg16 } from "./lib/vgg.ts";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const ROUNDS = Number(arg("--rounds", "7"));
const MODELS = arg("--models", "resnet20,vgg16").split(",");
const BATCHES = arg("--batches", "1,64").split(",").map(Number);
const PROFILE = !process.argv.includes("--no-profile");
const RELAXED = process.argv.includes("--relaxed");

interface BenchModel {
  name: string;
  bytes: Uint8Array;
  /** Dims of one image. */
  image: number[];
}
const models: BenchModel[] = [];
if (MODELS.includes("resnet20")) {
  models.push({
    name: "ResNet-20 (1x32x32)",
    bytes: readFileSync(new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url)),
    image: [1, 32, 32],
  });
}
if (MODELS.includes("vgg16"))
  models.push({ name: "VGG-16-BN (3x32x32)", bytes: buildVgg16().bytes, image: [3, 32, 32] });

const wasm = await createWasm({ simd: RELAXED ? "relaxed" : "baseline" });
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const fmt = (v: number[], digits = 0) =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;

console.log(
  `host: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}, V8 ${process.versions.v8}, onnxruntime-node ${ort.env.versions.node ?? "?"}, build ${RELAXED ? "relaxed" : "default"}`,
);

/** Per-step times of a few profiled runs, grouped by op type and listed by step. */
function profile(model: BenchModel, batch: number, runs: number): void {
  const compiled = compileModel(wasm, buildGraph(decodeModel(model.bytes)), { batch, profile: true });
  const x = new Float32Array(batch * model.image.reduce((a, b) => a * b, 1)).map(
    (_, i) => ((i * 7919) % 256) / 255,
  );
  compiled.run({ [compiled.inputs[0]!.name]: x }); // warm-up, not counted below
  const before = compiled.profile();
  for (let r = 0; r < runs; r++) compiled.run({ [compiled.inputs[0]!.name]: x });
  const steps: StepTiming[] = compiled.profile().map((s, i) => ({ ...s, ms: (s.ms - before[i]!.ms) / runs }));
  compiled.dispose();
  const total = steps.reduce((t, s) => t + s.ms, 0);
  const byOp = new Map<string, number>();
  for (const s of steps) byOp.set(s.opType, (byOp.get(s.opType) ?? 0) + s.ms);
  console.log(`\n### ${model.name}, batch ${batch}: ${total.toFixed(2)} ms per run (${runs} runs)\n`);
  console.log("| op | ms per run | share |\n| --- | --- | --- |");
  for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1]))
    console.log(`| ${op} | ${ms.toFixed(3)} | ${((100 * ms) / total).toFixed(1)} % |`);
  console.log("\n| step | op | ms per run | share |\n| --- | --- | --- | --- |");
  for (const s of steps)
    console.log(`| ${s.node} | ${s.opType} | ${s.ms.toFixed(3)} | ${((100 * s.ms) / total).toFixed(1)} % |`);
}

const rows: string[] = [];
for (const model of models) {
  const session = await ort.InferenceSession.create(model.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  for (const batch of BATCHES) {
    const heavy = model.name.startsWith("VGG");
    if (PROFILE) profile(model, batch, heavy ? (batch === 1 ? 10 : 1) : batch === 1 ? 50 : 3);
    const compiled = compileModel(wasm, buildGraph(decodeModel(model.bytes)), { batch });
    // The same engine with every conv on im2col + GEMM (no Winograd), for before / after in one run.
    const im2col = compileModel(wasm, buildGraph(decodeModel(model.bytes)), { batch, winograd: false });
    const input = compiled.inputs[0]!;
    const x = new Float32Array(batch * model.image.reduce((a, b) => a * b, 1)).map(
      (_, i) => ((i * 7919) % 256) / 255,
    );
    // About 64 images (ResNet-20) or 16 (VGG) per timed block, at least one run.
    const iters = Math.max(1, Math.round((heavy ? 16 : 64) / batch));
    const ours: number[] = [];
    const base: number[] = [];
    const theirs: number[] = [];
    compiled.run({ [input.name]: x });
    im2col.run({ [input.name]: x });
    await session.run({ [input.name]: new ort.Tensor("float32", x, [...input.dims]) });
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      for (let i = 0; i < iters; i++) compiled.run({ [input.name]: x });
      ours.push((iters * batch * 1000) / (performance.now() - t));
      t = performance.now();
      for (let i = 0; i < iters; i++) im2col.run({ [input.name]: x });
      base.push((iters * batch * 1000) / (performance.now() - t));
      t = performance.now();
      for (let i = 0; i < iters; i++)
        await session.run({ [input.name]: new ort.Tensor("float32", x, [...input.dims]) });
      theirs.push((iters * batch * 1000) / (performance.now() - t));
    }
    const ratios = ours.map((o, i) => o / theirs[i]!);
    const baseRatios = base.map((o, i) => o / theirs[i]!);
    const gain = ours.map((o, i) => o / base[i]!);
    rows.push(
      `| ${model.name} | ${batch} | ${fmt(ours)} | ${fmt(base)} | ${fmt(theirs)} | ${fmt(ratios, 2)} | ${fmt(baseRatios, 2)} | ${fmt(gain, 2)} |`,
    );
    compiled.dispose();
    im2col.dispose();
  }
  await session.release();
}
console.log(`\n### End to end, ${ROUNDS} interleaved rounds\n`);
console.log(
  "| model | batch | engine (img/s) | engine, im2col only (img/s) | onnxruntime-node (img/s) | engine / ort | im2col only / ort | engine / im2col only |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
