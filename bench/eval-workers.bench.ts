// `prunekit eval` on one thread against two (this thread plus one worker thread), ResNet-20 fixture at
// batch 64 on the 1000 test images of the repo's Fashion-MNIST slice, interleaved round by round; medians
// and ranges of images/s. The two runs give identical predictions (checked every round).
// Run: node --import tsx bench/eval-workers.bench.ts [--rounds N]
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { planPreprocessing, preprocessBatch } from "../src/data/preprocess.ts";
import { loadImages, parseDataSpec } from "../src/data/spec.ts";
import { compileModel } from "../src/engine/compile.ts";
import { evaluateCompiled, type LabeledSource } from "../src/engine/evaluate.ts";
import { startEvalWorkers } from "../src/engine/parallel.ts";
import { buildGraph } from "../src/graph/ir.ts";
import { createNodeTrainWorkers } from "../src/node/train-workers.ts";
import { decodeModel } from "../src/onnx/index.ts";
import { createWasm } from "../src/wasm/instance.ts";

const roundsArg = process.argv.indexOf("--rounds");
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;
const BATCH = 64;
const modelFile = new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url);
const slice = new URL("../tests/fixtures/fashion-mnist-slice/", import.meta.url).pathname;
const bytes = new Uint8Array(readFileSync(modelFile));
const images = await loadImages(parseDataSpec(`fashion-mnist:${slice}`), {
  split: "test",
  limit: 1024,
  readFile: async (p) => new Uint8Array(await readFile(p)),
});
const compiled = compileModel(await createWasm(), buildGraph(decodeModel(bytes)), { batch: BATCH });
const plan = planPreprocessing(images, { channels: 1, height: 32, width: 32 });
const source: LabeledSource = {
  count: images.count,
  fill: (start, n, out) => preprocessBatch(images, plan, start, n, out),
  label: (i) => images.labels[i]!,
};
const pool = await startEvalWorkers(createNodeTrainWorkers(1), bytes, BATCH);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const fmt = (v: number[], d = 0) =>
  `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;
const one: number[] = [];
const two: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const a = await evaluateCompiled(compiled, source);
  const b = await evaluateCompiled(compiled, source, { runners: pool.runners });
  if (a.predictions.join() !== b.predictions.join())
    throw new Error("predictions differ between 1 and 2 threads");
  one.push(a.imagesPerSecond);
  two.push(b.imagesPerSecond);
}
await pool.close();
compiled.dispose();
const ratios = two.map((t, i) => t / one[i]!);
console.log(
  `host: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}; ${ROUNDS} rounds, ${images.count} images, batch ${BATCH}`,
);
console.log("| model | 1 thread (img/s) | 2 threads (img/s) | ratio |");
console.log("| --- | --- | --- | --- |");
console.log(`| ResNet-20 (1x32x32) | ${fmt(one)} | ${fmt(two)} | ${fmt(ratios, 2)} |`);
