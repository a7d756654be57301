// Neuron Merging end to end, bytes to bytes, on a CIFAR-style VGG-16-BN (~15 M parameters, seeded
// random weights, built in TS by bench/lib/vgg.ts). Target (Neuron Merging issue): under 1 s on one
// core. Each repetition runs exactly the work of `prune(await loadModel(bytes), options)`, split by phase:
//   decode         loadOnnx: protobuf decode + validation
//   analysis       graph, shapes, groups and counts of the input (what loadModel does after decoding)
//   decomposition  planMerge (report.timings)
//   surgery        applyPlan (report.timings)
//   encode         encodeModel of the pruned model (report.timings)
//   re-analysis    analysis of the pruned model for the report's after-counts (report.timings.analysis)
// A second, unsplit `prune(await loadModel(bytes))` per repetition gives the end-to-end wall time and
// process CPU time (the steadier number when other jobs share the machine).
// Runs are interleaved (split, end to end, split, ...) and we report the median and the minimum.
//
//   node --import tsx bench/methods.bench.ts            full run (7 repetitions after 1 warm-up)
//   node --import tsx bench/methods.bench.ts --smoke    tiny VGG, one repetition (CI; never gates on time)
//   node --import tsx bench/methods.bench.ts --reps 11  more repetitions
//   node --import tsx bench/methods.bench.ts --no-torch skip the PyTorch side by side
// The full run also times the same merge step in plain PyTorch (bench/lib/merge_torch.py, one thread) when
// /usr/bin/python3 has torch and onnx, and checks that both choose the same kept sets and merges.
import os from "node:os";
import { loadModel, type Model, type PruneOptions, prune } from "../src/api.ts";
import { countModel } from "../src/graph/count.ts";
import { findDependencyGroups } from "../src/graph/find-groups.ts";
import { buildGraph } from "../src/graph/ir.ts";
import { inferShapes } from "../src/graph/shapes.ts";
import { loadOnnx } from "../src/onnx/load.ts";
import { compareDecisions, runTorchMerge, torchTable, torchUnavailable } from "./lib/torch-compare.ts";
import { buildVgg16, VGG16_CFG, VGG16_SMOKE_CFG } from "./lib/vgg.ts";

const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const repsArg = args.indexOf("--reps");
const reps = smoke ? 1 : repsArg >= 0 ? Number(args[repsArg + 1]) : 7;
const warmup = smoke ? 0 : 1;

const PHASES = ["decode", "analysis", "decomposition", "surgery", "encode", "re-analysis"] as const;
type Phase = (typeof PHASES)[number];

function now(): number {
  return performance.now();
}

/** The work of `prune(await loadModel(bytes), options)`, with a timer around every phase. */
async function splitRun(bytes: Uint8Array, options: PruneOptions) {
  const t: Record<Phase, number> = {
    decode: 0,
    analysis: 0,
    decomposition: 0,
    surgery: 0,
    encode: 0,
    "re-analysis": 0,
  };
  let s = now();
  const { model: proto, externalData } = await loadOnnx(bytes);
  t.decode = now() - s;
  s = now();
  // Mirrors src/api.ts analyse().
  const graph = buildGraph(proto, externalData);
  const shapes = inferShapes(graph);
  const groups = findDependencyGroups(graph, { shapes });
  const counts = countModel(graph, shapes);
  const model: Model = { proto, graph, groups, counts };
  t.analysis = now() - s;
  const result = await prune(model, options);
  const r = result.report.timings;
  t.decomposition = r.decomposition ?? Number.NaN;
  t.surgery = r.surgery ?? Number.NaN;
  t.encode = r.encode ?? Number.NaN;
  t["re-analysis"] = r.analysis ?? Number.NaN;
  return { timings: t, result };
}

/** Process CPU time in ms (user + system; includes V8's GC helper threads). */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function endToEnd(bytes: Uint8Array, options: PruneOptions) {
  const c = cpuNow();
  const s = now();
  const { bytes: out } = await prune(await loadModel(bytes), options);
  return { ms: now() - s, cpuMs: cpuNow() - c, outBytes: out.length };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

interface Case {
  name: string;
  options: PruneOptions;
}

async function benchCase(bytes: Uint8Array, c: Case) {
  const split: Record<Phase, number>[] = [];
  const totals: number[] = [];
  const e2e: number[] = [];
  const e2eCpu: number[] = [];
  let last: Awaited<ReturnType<typeof splitRun>>["result"] | undefined;
  for (let i = 0; i < warmup + reps; i++) {
    const r = await splitRun(bytes, c.options);
    const e = await endToEnd(bytes, c.options);
    last = r.result;
    if (i < warmup) continue;
    split.push(r.timings);
    totals.push(PHASES.reduce((a, p) => a + r.timings[p], 0));
    e2e.push(e.ms);
    e2eCpu.push(e.cpuMs);
  }
  const report = last!.report;
  const lines = [
    `### ${c.name}`,
    "",
    `params ${report.before.params.toLocaleString("en")} -> ${report.after.params.toLocaleString("en")} (${(100 * (1 - report.after.params / report.before.params)).toFixed(1)} % removed); ` +
      `MACs ${(report.before.macs / 1e6).toFixed(1)} M -> ${(report.after.macs / 1e6).toFixed(1)} M; ` +
      `output ${(last!.bytes.length / 1e6).toFixed(1)} MB; ` +
      `${report.layers.reduce((a, l) => a + l.merged, 0)} channels merged, ${report.layers.reduce((a, l) => a + l.dropped, 0)} dropped`,
    "",
    "| phase | median ms | min ms |",
    "|---|---:|---:|",
    ...PHASES.map(
      (p) =>
        `| ${p} | ${fmt(median(split.map((s) => s[p])))} | ${fmt(Math.min(...split.map((s) => s[p])))} |`,
    ),
    `| **total (sum of phases)** | **${fmt(median(totals))}** | **${fmt(Math.min(...totals))}** |`,
    `| end to end, unsplit: wall | ${fmt(median(e2e))} | ${fmt(Math.min(...e2e))} |`,
    `| end to end, unsplit: process CPU | ${fmt(median(e2eCpu))} | ${fmt(Math.min(...e2eCpu))} |`,
    "",
  ];
  console.log(lines.join("\n"));
  const byPhase: Record<string, number[]> = {};
  for (const p of PHASES) byPhase[p] = split.map((x) => x[p]);
  return { median: median(e2e), wallMin: Math.min(...e2e), cpuMedian: median(e2eCpu), byPhase, last: last! };
}

const cfg = smoke ? VGG16_SMOKE_CFG : VGG16_CFG;
const hidden = smoke ? 32 : 512;
const vgg = buildVgg16(cfg, hidden);
console.log(
  `# Neuron Merging, VGG-16-BN (CIFAR, 3x32x32)${smoke ? " — smoke (1/16 widths)" : ""}\n\n` +
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus()[0]?.model ?? "?"}, ` +
    `${os.cpus().length} cores (single-threaded run), ${os.platform()} ${os.arch()}; ` +
    `${vgg.params.toLocaleString("en")} learnable params, ${(vgg.bytes.length / 1e6).toFixed(1)} MB ONNX; ` +
    `${reps} repetitions after ${warmup} warm-up\n`,
);

// The fixed-width recipe of docs/methods.md §2.7 (conv1 64->32, conv8..conv13 512->256), scaled for smoke.
const half = (name: string) => {
  const w = cfg.filter((v) => v !== "M")[Number(name.slice(4)) - 1] as number;
  return Math.max(1, w / 2);
};
const recipe: Record<string, number> = {};
for (const name of ["conv1", "conv8", "conv9", "conv10", "conv11", "conv12", "conv13"])
  recipe[name] = half(name);

const cases: Case[] = [
  { name: "merge, ratio 0.5 (every prunable layer)", options: { method: "merge", ratio: 0.5 } },
  {
    name: "merge, published fixed widths (§2.7: conv1 64→32, conv8–conv13 512→256)",
    options: { method: "merge", ratio: 0, layers: recipe },
  },
];
const results = [];
for (const c of cases) results.push(await benchCase(vgg.bytes, c));

// The target is for one core: judge it on process CPU time (immune to other jobs taking the core away;
// it also counts V8's GC helper threads, so it is an upper bound), and show the best wall time next to it.
const TARGET_MS = 1000;
if (!smoke) {
  const r = results[0]!;
  console.log(
    `target: < ${TARGET_MS} ms on one core, end to end (ratio 0.5): ${r.cpuMedian < TARGET_MS ? "met" : "NOT met"} ` +
      `(process CPU median ${fmt(r.cpuMedian)} ms; wall median ${fmt(r.median)} ms, min ${fmt(r.wallMin)} ms; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`,
  );
}

if (!smoke && !args.includes("--no-torch")) {
  const why = torchUnavailable();
  if (why !== undefined) console.log(`\nPyTorch side by side skipped: ${why}.`);
  else {
    const torchReps = 3;
    const torch = runTorchMerge(vgg.bytes, 0.5, torchReps);
    const r = results[0]!;
    const p = r.byPhase;
    const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);
    // PyTorch's decomposition includes walking the graph; its encode has no re-analysis. Map ours alike.
    const ours = {
      decode: p.decode!,
      decomposition: sum(p.analysis!, p.decomposition!),
      surgery: p.surgery!,
      encode: sum(p.encode!, p["re-analysis"]!),
    };
    console.log(
      [
        "",
        `### Side by side: plain PyTorch ${torch.torch} (BLAS ${torch.blas}, one thread, onnx for I/O), merge ratio 0.5`,
        "",
        `Same ONNX bytes and options; ${compareDecisions(r.last.report, torch)}. prunekit's analysis counts as`,
        "decomposition and its re-analysis as encode. Minimum over repetitions (prunekit " +
          `${reps}, PyTorch ${torchReps}); output ${(r.last.bytes.length / 1e6).toFixed(2)} MB vs ${(torch.outBytes / 1e6).toFixed(2)} MB.`,
        "",
        torchTable(ours, r.cpuMedian, torch, fmt),
        ...(torch.blas === "generic"
          ? [
              "",
              "This torch uses the generic reference BLAS (a distribution build): its removed x kept cosine matmul",
              "runs far below an MKL/OpenBLAS wheel, so the decomposition ratio flatters prunekit.",
            ]
          : []),
      ].join("\n"),
    );
  }
}
