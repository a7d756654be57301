// The engine's forward pass against onnxruntime-node (native, one thread) on the trained ResNet-20
// fixture, at batch 1 and 64, interleaved round by round; medians and ranges of images/s.
// Run: node --import tsx bench/engine.bench.ts [--rounds N]
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { compileModel } from "../src/engine/compile.ts";
import { buildGraph } from "../src/graph/ir.ts";
import { decodeModel } from "../src/onnx/index.ts";
import { createWasm } from "../src/wasm/instance.ts";

const roundsArg = process.argv.indexOf("--rounds");
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 7;
const file = new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url);
const bytes = readFileSync(file);
const wasm = await createWasm();
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
console.log(
  `host: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}, V8 ${process.versions.v8}`,
);
console.log("| model | batch | prunekit engine (img/s) | onnxruntime-node (img/s) | ratio engine / ort |");
console.log("| --- | --- | --- | --- | --- |");
for (const batch of [1, 64]) {
  const compiled = compileModel(wasm, buildGraph(decodeModel(bytes)), { batch });
  const x = new Float32Array(batch * 32 * 32).map((_, i) => ((i * 7919) % 256) / 255);
  const iters = batch === 1 ? 40 : 2;
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    for (let i = 0; i < iters; i++) compiled.run({ input: x });
    ours.push((iters * batch * 1000) / (performance.now() - t));
    t = performance.now();
    for (let i = 0; i < iters; i++)
      await session.run({ input: new ort.Tensor("float32", x, [batch, 1, 32, 32]) });
    theirs.push((iters * batch * 1000) / (performance.now() - t));
  }
  const ratios = ours.map((o, i) => o / theirs[i]!);
  const fmt = (v: number[]) =>
    `${median(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
  console.log(
    `| ResNet-20 (1x32x32) | ${batch} | ${fmt(ours)} | ${fmt(theirs)} | ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`,
  );
  compiled.dispose();
}
await session.release();
