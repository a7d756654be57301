// Does `roundTo` make pruned models faster in onnxruntime? MobileNet-V2 and ResNet-50 (torchvision,
// eval mode, BN kept, opset 13, random weights: bench/round-to-models.py) pruned with l1 at ratio 0.3,
// with and without roundTo 8, against the unpruned model. onnxruntime-node on CPU, one intra-op and one
// inter-op thread, batches 1 and 8; the three models run interleaved round by round (warm-up first),
// each round timing `RUNS` runs; medians and ranges of ms per run.
// Run: python3 bench/round-to-models.py && node --import tsx bench/round-to.bench.ts [--rounds N] [--runs N]
import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import { loadModel, prune } from "../src/api.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg("--rounds", 7);
const RUNS = arg("--runs", 10);
const cache = new URL(".cache/round-to/", import.meta.url);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const fmt = (v: number[]) =>
  `${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`;

interface Variant {
  label: string;
  bytes: Uint8Array;
  macs: number;
  params: number;
  multiples: string;
}

async function variants(file: URL): Promise<Variant[]> {
  const bytes = new Uint8Array(readFileSync(file));
  const model = await loadModel(bytes);
  const out: Variant[] = [
    {
      label: "unpruned",
      bytes,
      macs: model.counts.macs,
      params: model.counts.learnableParams,
      multiples: "-",
    },
  ];
  for (const roundTo of [1, 8]) {
    const r = await prune(model, { method: "l1", ratio: 0.3, roundTo });
    const pruned = r.report.layers.filter((l) => l.channelsAfter < l.channelsBefore);
    const of8 = pruned.filter((l) => l.channelsAfter % 8 === 0).length;
    out.push({
      label: roundTo === 1 ? "l1 0.3" : "l1 0.3 --round-to 8",
      bytes: r.bytes,
      macs: r.report.after.macs,
      params: r.report.after.params,
      multiples: `${of8}/${pruned.length}`,
    });
  }
  return out;
}

async function time(session: ort.InferenceSession, feed: Record<string, ort.Tensor>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < RUNS; i++) await session.run(feed);
  return (performance.now() - t) / RUNS;
}

const rows: string[] = [];
for (const name of ["mobilenet_v2", "resnet50"]) {
  const file = new URL(`${name}.onnx`, cache);
  if (!existsSync(file)) throw new Error(`${file.pathname} is missing: run python3 bench/round-to-models.py`);
  const vs = await variants(file);
  const sessions = await Promise.all(
    vs.map((v) =>
      ort.InferenceSession.create(v.bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      }),
    ),
  );
  for (const batch of [1, 8]) {
    const x = new Float32Array(batch * 3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);
    const feed = { input: new ort.Tensor("float32", x, [batch, 3, 224, 224]) };
    for (const s of sessions) await time(s, feed); // warm-up
    const ms: number[][] = vs.map(() => []);
    for (let r = 0; r < ROUNDS; r++)
      for (let i = 0; i < sessions.length; i++) ms[i]!.push(await time(sessions[i]!, feed));
    const base = median(ms[0]!);
    vs.forEach((v, i) => {
      rows.push(
        `| ${name} | ${batch} | ${v.label} | ${(v.params / 1e6).toFixed(2)} M | ${(v.macs / 1e6).toFixed(0)} M | ${v.multiples} | ${fmt(ms[i]!)} | ${(median(ms[i]!) / base).toFixed(2)} |`,
      );
    });
  }
  for (const s of sessions) await s.release();
}
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}, onnxruntime-node ${ort.env.versions?.common ?? "?"}, ${ROUNDS} rounds x ${RUNS} runs, 1 thread\n`,
);
console.log(
  "| model | batch | variant | params | MACs | widths multiple of 8 | ms per run, median (range) | vs unpruned |",
);
console.log("|---|---:|---|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(r);
