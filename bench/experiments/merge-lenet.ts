// Neuron Merging vs plain pruning on the trained LeNet-300-100 (tests/fixtures/lenet300.onnx), the
// experiment of docs/methods.md §5 (first table): both hidden layers pruned at the same ratio, bias
// included, t = 0.45, P = round(N·(1 − r)) in float64 (§2.3, §2.7). Every compressed model is written
// by the library (`prune(await loadModel(bytes), …)`) and run by onnxruntime-node on the FULL 10 000
// test images; WARE (§2.8) compares its logits with the original model's.
//
//   node --import tsx bench/experiments/merge-lenet.ts [--model FILE] [--data DIR] [--out FILE] [--batch N]
//
// --model names a fixture in tests/fixtures/ (default lenet300.onnx; lenet300_ref.onnx is the model
// trained with the paper's recipe); its input preprocessing is read from tests/fixtures/manifest.json.
//
// --data defaults to $PRUNEKIT_FASHION_MNIST_DIR, else Debian's dataset-fashion-mnist location.
// --out defaults to bench/experiments/merge-lenet.md. Never part of `npm test` (about a minute).
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { loadModel, prune } from "../../src/api.ts";
import { fashionMnistDir, loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { ware } from "../../src/engine/metrics.ts";
import type { Criterion } from "../../src/methods/criteria.ts";
import { planMerge } from "../../src/methods/merge.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { applyPlan } from "../../src/surgery/apply.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  type DenseLayer,
  mlpForward,
  readMlp,
  referenceDecompose,
  referenceMergeMlp,
  roundKept,
} from "../../tests/e2e/mlp-reference.ts";
import { correctCount, ortLogits } from "../../tests/e2e/ort-eval.ts";

const { values: flags } = parseArgs({
  options: {
    model: { type: "string" },
    data: { type: "string" },
    out: { type: "string" },
    batch: { type: "string" },
  },
});
const dataDir = fashionMnistDir(process.env, flags.data);
const modelName = flags.model ?? "lenet300.onnx";
const manifest = JSON.parse(
  await readFile(new URL("../../tests/fixtures/manifest.json", import.meta.url), "utf8"),
);
const entry = manifest.models[modelName];
if (entry === undefined) throw new Error(`--model: tests/fixtures/manifest.json has no entry "${modelName}"`);
const normalize: { mean: number; std: number } | undefined = entry.trained?.normalize;
const defaultOut =
  modelName === "lenet300.onnx" ? "merge-lenet.md" : `merge-${modelName.replace(/\.onnx$/, "")}.md`;
const outFile = flags.out ?? new URL(`./${defaultOut}`, import.meta.url).pathname;
const batch = Number(flags.batch ?? "1000");

const RATIOS = [0.5, 0.6, 0.7, 0.8];
const CRITERIA: Criterion[] = ["l1", "l2", "gm"];
const THRESHOLD = 0.45;
/** docs/methods.md §5, LeNet-300-100 on FashionMNIST, l1-norm, t = 0.45, baseline 89.80. */
const PAPER_L1: Record<number, { prune: number; merge: number }> = {
  0.5: { prune: 88.4, merge: 88.69 },
  0.6: { prune: 85.17, merge: 86.92 },
  0.7: { prune: 71.26, merge: 82.75 },
  0.8: { prune: 66.76, merge: 80.02 },
};
const PAPER_BASELINE = 89.8;
const SWEEP_THRESHOLDS = [0.45, 0.55, 0.65, 0.75, 0.85, 0.95];

const readBytes = async (p: string | URL) => new Uint8Array(await readFile(p));
const modelUrl = new URL(`../../tests/fixtures/${modelName}`, import.meta.url);
const original = await readBytes(modelUrl);
const test = await loadFashionMnist(
  normalize ? { dir: dataDir, split: "test", normalize } : { dir: dataDir, split: "test" },
  readBytes,
);
const pct = (correct: number) => (100 * correct) / test.count;
const fmt = (x: number, digits = 2) => x.toFixed(digits);

const base = await ortLogits(original, test, batch);
const baseCorrect = correctCount(base.logits, base.classes, test.labels);

interface Evaluated {
  correct: number;
  ware: number;
  /** Mean over samples of Σ_i (ŷ_i − y_i)². */
  mse: number;
  /** The same after removing each sample's mean error over the classes (what argmax can see). */
  centeredMse: number;
  /** Classes that receive no prediction at all. */
  emptyClasses: number;
  skipped: number;
  kept: number[];
  merged: number[];
}

async function evaluate(ratio: number, criterion: Criterion, merge: boolean, threshold = THRESHOLD) {
  const { bytes, report } = await prune(await loadModel(original), {
    method: "merge",
    ratio,
    criterion,
    threshold,
    rounding: "round",
    merge,
  });
  const out = await ortLogits(bytes, test, batch);
  const w = ware(base.logits, out.logits, test.count, out.classes, { zeroPolicy: "skip" });
  return {
    correct: correctCount(out.logits, out.classes, test.labels),
    ware: w.ware,
    ...logitError(base.logits, out.logits, out.classes),
    skipped: w.skippedTerms,
    kept: report.layers.map((l) => l.channelsAfter),
    merged: report.layers.map((l) => l.merged),
  } satisfies Evaluated;
}

function logitError(y: Float32Array, yHat: Float32Array, classes: number) {
  const samples = y.length / classes;
  let se = 0;
  let centered = 0;
  const predicted = new Set<number>();
  for (let m = 0; m < samples; m++) {
    let mean = 0;
    let best = 0;
    for (let i = 0; i < classes; i++) {
      mean += (yHat[m * classes + i]! - y[m * classes + i]!) / classes;
      if (yHat[m * classes + i]! > yHat[m * classes + best]!) best = i;
    }
    predicted.add(best);
    for (let i = 0; i < classes; i++) {
      const d = yHat[m * classes + i]! - y[m * classes + i]!;
      se += d * d;
      centered += (d - mean) ** 2;
    }
  }
  return { mse: se / samples, centeredMse: centered / samples, emptyClasses: classes - predicted.size };
}

const rows: { ratio: number; criterion: Criterion; pruned: Evaluated; merged: Evaluated }[] = [];
for (const ratio of RATIOS) {
  for (const criterion of CRITERIA) {
    const pruned = await evaluate(ratio, criterion, false);
    const merged = await evaluate(ratio, criterion, true);
    rows.push({ ratio, criterion, pruned, merged });
    console.log(
      `r=${ratio} ${criterion}: pruned ${fmt(pct(pruned.correct))} % WARE ${fmt(pruned.ware, 4)}; merged ${fmt(pct(merged.correct))} % WARE ${fmt(merged.ware, 4)}`,
    );
  }
}

// --- diagnostics: where merging helps and where it hurts ------------------------------------------

/**
 * Per-layer ablation through the library's own plan and surgery: plan Neuron Merging once, then drop
 * the merges of one hidden layer (plain pruning of the same kept set there) before applying the plan.
 */
async function ablation(ratio: number, mergeLayers: ReadonlySet<string>): Promise<number> {
  const model = await loadModel(original);
  const plan = await planMerge(
    model.graph,
    model.groups,
    { ratio, criterion: "l1", threshold: THRESHOLD, rounding: "round" },
    { wasm: await getWasm() },
  );
  const groups = plan.groups.map((g) =>
    mergeLayers.has(model.groups[g.groupId]!.producers[0]!.node) ? g : { groupId: g.groupId, keep: g.keep },
  );
  const { model: proto } = applyPlan(model.graph, model.groups, { method: plan.method, groups });
  const out = await ortLogits(encodeModel(proto), test, batch);
  return correctCount(out.logits, out.classes, test.labels);
}

/**
 * Each merge n → k (scale z) of hidden layer `li`, judged alone at that layer's output with the
 * ORIGINAL network's inputs to the layer: merging replaces the dropped activation a_n by z·a_k in the
 * consumer and helps that neuron iff Σ(a_n − z·a_k)² < Σ a_n² over the samples. Counted per cosine bin.
 */
function mergeQuality(
  layers: DenseLayer[],
  li: number,
  ratio: number,
  samples: number,
  compressedInputs = false,
) {
  const layer = layers[li]!;
  const dec = referenceDecompose(layer, roundKept(layer.out, ratio), "l1", THRESHOLD, true);
  const acts = hiddenActivations(layers, li, samples);
  // a_k as the compressed network computes it: every upstream layer merged (§2.2), this layer's rows
  // mixed with the upstream Z but not yet sliced.
  const kept = compressedInputs ? compressedActivations(layers, li, ratio, samples) : acts;
  const p = dec.keep.length;
  const bins = [0.45, 0.55, 0.65, 0.75, 1.0001];
  const stats = bins.slice(0, -1).map((lo, i) => ({ lo, hi: Math.min(1, bins[i + 1]!), count: 0, helps: 0 }));
  let merges = 0;
  for (let n = 0; n < layer.out; n++) {
    for (let j = 0; j < p; j++) {
      const z = dec.z[n * p + j]!;
      const k = dec.keep[j]!;
      if (z === 0 || k === n) continue;
      merges++;
      let eMerge = 0;
      let ePrune = 0;
      for (let m = 0; m < samples; m++) {
        const an = acts[m * layer.out + n]!;
        eMerge += (an - z * kept[m * layer.out + k]!) ** 2;
        ePrune += an * an;
      }
      const cos = rowCosine(layer, n, k);
      const bin = stats.find((b) => cos >= b.lo && cos < b.hi) ?? stats[stats.length - 1]!;
      bin.count++;
      if (eMerge < ePrune) bin.helps++;
    }
  }
  return { merges, stats };
}

/** ReLU outputs of hidden layer `li` of the original network for the first `samples` test images. */
function hiddenActivations(layers: DenseLayer[], li: number, samples: number): Float64Array {
  // mlpForward applies no ReLU after its last layer: these are layer li's pre-activations.
  const pre = mlpForward(layers.slice(0, li + 1), test.images, samples);
  return pre.map((v) => Math.max(0, v));
}

/**
 * ReLU outputs of every neuron of hidden layer `li` (li ≥ 1) when the layers before it are merged:
 * referenceMergeMlp leaves its last layer unsliced, with its input axis mixed with the upstream Z.
 */
function compressedActivations(
  layers: DenseLayer[],
  li: number,
  ratio: number,
  samples: number,
): Float64Array {
  const merged = referenceMergeMlp(layers.slice(0, li + 1), ratio, "l1", THRESHOLD, true);
  return mlpForward(merged.layers, test.images, samples).map((v) => Math.max(0, v));
}

/** cos([W_a; b_a], [W_b; b_b]) in float64 (§2.4). */
function rowCosine(l: DenseLayer, a: number, b: number): number {
  let ab = l.bias[a]! * l.bias[b]!;
  let aa = l.bias[a]! ** 2;
  let bb = l.bias[b]! ** 2;
  for (let c = 0; c < l.in; c++) {
    const x = l.weight[a * l.in + c]!;
    const y = l.weight[b * l.in + c]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

const layers = await readMlp(original);
const QUALITY_SAMPLES = 2000;
const quality = RATIOS.map((ratio) => ({
  ratio,
  fc1: mergeQuality(layers, 0, ratio, QUALITY_SAMPLES),
  fc2: mergeQuality(layers, 1, ratio, QUALITY_SAMPLES),
  fc2AfterFc1: mergeQuality(layers, 1, ratio, QUALITY_SAMPLES, true),
}));

const ABLATIONS: [string, string[]][] = [
  ["neither (pruned)", []],
  ["fc1 only", ["/fc1/Gemm"]],
  ["fc2 only", ["/fc2/Gemm"]],
  ["both (merged)", ["/fc1/Gemm", "/fc2/Gemm"]],
];
const ablations: { ratio: number; correct: number[] }[] = [];
for (const ratio of RATIOS) {
  const correct: number[] = [];
  for (const [, names] of ABLATIONS) correct.push(await ablation(ratio, new Set(names)));
  ablations.push({ ratio, correct });
}

const sweep: { ratio: number; threshold: number; merged: Evaluated }[] = [];
for (const ratio of RATIOS) {
  for (const threshold of SWEEP_THRESHOLDS)
    sweep.push({ ratio, threshold, merged: await evaluate(ratio, "l1", true, threshold) });
}

// --- report --------------------------------------------------------------------------------------

const sha = createHash("sha256").update(original).digest("hex").slice(0, 12);
const date = new Date().toISOString().slice(0, 10);
const totalSkipped = rows.reduce((s, r) => s + r.pruned.skipped + r.merged.skipped, 0);
const lines: string[] = [];
lines.push("## Neuron Merging on LeNet-300-100 / Fashion-MNIST (no fine-tuning)", "");
lines.push(
  `Measured ${date}: \`tests/fixtures/${modelName}\` (sha256 ${sha}…), all ${test.count} Fashion-MNIST test images ` +
    `(\`t10k-*-idx3/idx1-ubyte.gz\` of Debian's dataset-fashion-mnist, x = ${normalize ? `(pixel/255 − ${normalize.mean})/${normalize.std}` : "pixel/255"}, read by \`loadFashionMnist\`), ` +
    `pruned/merged files written by prunekit's \`prune(await loadModel(bytes), { method: "merge", ratio, criterion, threshold: ${THRESHOLD}, rounding: "round", merge })\` ` +
    `and run by onnxruntime-node ${ort.env.versions.node} (CPU, 1 thread, batch ${batch}) under Node ${process.version} on ${os.cpus().length} cores ` +
    `(\`node --import tsx bench/experiments/merge-lenet.ts --model ${modelName}\`).`,
  "",
);
lines.push(
  `Baseline: **${fmt(pct(baseCorrect))} %** (${baseCorrect}/${test.count}; the manifest's PyTorch value is ${entry.trained?.testCorrect}/${entry.trained?.testTotal}). ` +
    "Both hidden layers are pruned at the same ratio, P = round(N·(1 − r)) in float64, the bias is part of every filter vector (§2.3, §2.4, §2.7). " +
    `WARE (§2.8) is over all ${test.count} × 10 logits of the original vs the compressed model, w_i = 1, zero policy **skip** ` +
    `(terms with y = 0 left out, normaliser M·N kept); ${totalSkipped} terms were skipped in the whole table (no original logit is exactly 0).`,
  "",
);
lines.push("| ratio | criterion | kept (fc1/fc2) | pruned acc | merged acc | WARE pruned | WARE merged |");
lines.push("|---|---|---|---|---|---|---|");
for (const r of rows) {
  const accWorse = r.merged.correct < r.pruned.correct ? " ⚠" : "";
  const wareWorse = r.merged.ware > r.pruned.ware ? " ⚠" : "";
  lines.push(
    `| ${r.ratio} | ${r.criterion} | ${r.merged.kept.join("/")} | ${fmt(pct(r.pruned.correct))} | ${fmt(pct(r.merged.correct))}${accWorse} | ${fmt(r.pruned.ware, 4)} | ${fmt(r.merged.ware, 4)}${wareWorse} |`,
  );
}
lines.push("", "⚠ marks a cell where merging does worse than plain pruning of the same kept set.", "");
lines.push(
  `Paper (§5, l1-norm, t = 0.45, baseline ${PAPER_BASELINE}) next to ours (l1, baseline ${fmt(pct(baseCorrect))}):`,
  "",
);
lines.push("| ratio | paper prune | paper merge | ours pruned | ours merged | merged neurons (fc1/fc2) |");
lines.push("|---|---|---|---|---|---|");
for (const r of rows.filter((x) => x.criterion === "l1")) {
  const p = PAPER_L1[r.ratio]!;
  lines.push(
    `| ${r.ratio} | ${fmt(p.prune)} | ${fmt(p.merge)} | ${fmt(pct(r.pruned.correct))} | ${fmt(pct(r.merged.correct))} | ${r.merged.merged.join("/")} of ${r.merged.kept.map((k, i) => [300, 100][i]! - k).join("/")} removed |`,
  );
}
lines.push("", "### Diagnostics (l1)", "");
lines.push(
  "Which layer's merging helps: accuracy % when only some hidden layers fold their removed neurons " +
    "(the others prune the same kept set), built with the library's planMerge + applyPlan and run by onnxruntime:",
  "",
);
lines.push(`| ratio | ${ABLATIONS.map(([name]) => name).join(" | ")} |`);
lines.push(`|---|${ABLATIONS.map(() => "---").join("|")}|`);
for (const a of ablations) lines.push(`| ${a.ratio} | ${a.correct.map((c) => fmt(pct(c))).join(" | ")} |`);
lines.push(
  "",
  `Merges judged one by one at their own layer on the first ${QUALITY_SAMPLES} test images, with the original network's ` +
    "inputs to that layer: a merge n → k with scale z helps iff Σ(a_n − z·a_k)² < Σ a_n² (a = ReLU outputs), i.e. the " +
    "folded copy of a_k is closer to a_n than dropping a_n. Cells: helpful / all merges in the cosine bin.",
  "",
);
const binHeads = quality[0]!.fc1.stats.map((b) => `cos ${fmt(b.lo)}–${fmt(b.hi)}`);
lines.push(`| ratio | layer | merges | ${binHeads.join(" | ")} |`);
lines.push(`|---|---|---|${binHeads.map(() => "---").join("|")}|`);
for (const q of quality) {
  for (const [name, l] of [
    ["fc1", q.fc1],
    ["fc2", q.fc2],
    ["fc2, a_k from merged fc1", q.fc2AfterFc1],
  ] as const)
    lines.push(
      `| ${q.ratio} | ${name} | ${l.merges} | ${l.stats.map((b) => `${b.helps}/${b.count}`).join(" | ")} |`,
    );
}
lines.push(
  "",
  "Squared logit error against the original model, per test image (Σ over the 10 logits, averaged over images), " +
    "its part that can change an argmax (each image's mean error over the classes removed), and the number of " +
    "classes the compressed model never predicts:",
  "",
);
lines.push(
  "| ratio | MSE pruned | MSE merged | centred pruned | centred merged | never-predicted classes pruned / merged |",
);
lines.push("|---|---|---|---|---|---|");
for (const r of rows.filter((x) => x.criterion === "l1")) {
  lines.push(
    `| ${r.ratio} | ${fmt(r.pruned.mse, 1)} | ${fmt(r.merged.mse, 1)} | ${fmt(r.pruned.centeredMse, 1)} | ${fmt(r.merged.centeredMse, 1)} | ${r.pruned.emptyClasses} / ${r.merged.emptyClasses} |`,
  );
}
lines.push(
  "",
  "Merged accuracy / WARE as the cosine threshold rises (l1; t ≥ 1 would be plain pruning):",
  "",
);
lines.push(`| ratio | ${SWEEP_THRESHOLDS.map((t) => `t = ${t}`).join(" | ")} | pruned |`);
lines.push(`|---|${SWEEP_THRESHOLDS.map(() => "---").join("|")}|---|`);
for (const ratio of RATIOS) {
  const cells = sweep
    .filter((s) => s.ratio === ratio)
    .map((s) => `${fmt(pct(s.merged.correct))} / ${fmt(s.merged.ware, 3)} (${s.merged.merged.join("+")})`);
  const p = rows.find((r) => r.ratio === ratio && r.criterion === "l1")!.pruned;
  lines.push(`| ${ratio} | ${cells.join(" | ")} | ${fmt(pct(p.correct))} / ${fmt(p.ware, 3)} |`);
}
lines.push("", "Cells: accuracy % / WARE (merged neurons fc1+fc2).");

/** Pad every Markdown table's columns to a common width, the layout Biome's Markdown formatter keeps. */
function alignTables(text: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    if (!text[i]!.startsWith("|")) {
      out.push(text[i++]!);
      continue;
    }
    const block: string[][] = [];
    while (i < text.length && text[i]!.startsWith("|"))
      block.push(
        text[i++]!.slice(1, -1)
          .split("|")
          .map((c) => c.trim()),
      );
    const isRule = (cells: string[]) => cells.every((c) => /^-+$/.test(c));
    const widths = block[0]!.map((_, c) =>
      Math.max(3, ...block.filter((r) => !isRule(r)).map((r) => [...(r[c] ?? "")].length)),
    );
    for (const r of block) {
      const cells = widths.map((w, c) =>
        isRule(r) ? "-".repeat(w) : (r[c] ?? "") + " ".repeat(w - [...(r[c] ?? "")].length),
      );
      out.push(`| ${cells.join(" | ")} |`);
    }
  }
  return out;
}

const markdown = `${alignTables(lines).join("\n")}\n`;
console.log(`\n${markdown}`);
await writeFile(outFile, markdown);
console.log(`written to ${outFile}`);
