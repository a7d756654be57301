// Merging across residual streams (`mergeResidual`, docs/methods.md §2.10, experimental) against plain
// pruning of the same stream channels, on the trained ResNet-20 of tests/fixtures/trained/ (Fashion-
// MNIST padded to 32x32), without fine-tuning. Every file is written by the library and run by
// onnxruntime-node; accuracy on the test images and WARE (§2.8, zero policy skip) against the original
// logits. Writes bench/experiments/merge-residual.md.
//
//   node --import tsx bench/experiments/merge-residual.ts [--data DIR] [--limit N] [--out FILE]
//
// Two settings per ratio r: (1) only the residual streams pruned at r (the inner convs whole), merged
// vs plain; (2) the whole network at r: Neuron Merging as published (inner convs merged, streams
// whole), with `mergeResidual` (streams merged too), and plain pruning of the same channels
// (`merge: false, mergeResidual: true`, the kept sets of l1). Never part of `npm test`.
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { loadModel, type MergePruneOptions, prune } from "../../src/api.ts";
import { ware } from "../../src/engine/metrics.ts";
import { isInner, mainProducer } from "../../src/graph/group.ts";
import { correctCount, ortLogits } from "../../tests/e2e/ort-eval.ts";
import { paddedTestSet } from "../lib/fmnist-test.ts";

const { values: flags } = parseArgs({
  options: { data: { type: "string" }, limit: { type: "string" }, out: { type: "string" } },
});
const RATIOS = [0.1, 0.25, 0.5];
const FILE = "trained/resnet20_fmnist.onnx";
const bytes = new Uint8Array(await readFile(new URL(`../../tests/fixtures/${FILE}`, import.meta.url)));
const set = await paddedTestSet(flags.data, flags.limit);
const base = await ortLogits(bytes, set, 250);
const baseAcc = (100 * correctCount(base.logits, base.classes, set.labels)) / set.count;

const model = await loadModel(bytes);
const streams = model.groups.filter((g) => !g.frozen && !isInner(g) && !g.reachesGraphOutput);
const streamNames = streams.map((g) => mainProducer(g)!.node);

async function measure(label: string, options: MergePruneOptions): Promise<string> {
  const r = await prune(model, options);
  const out = await ortLogits(r.bytes, set, 250);
  const acc = (100 * correctCount(out.logits, out.classes, set.labels)) / set.count;
  const w = ware(base.logits, out.logits, set.count, out.classes, { zeroPolicy: "skip" });
  const merged = r.report.layers
    .filter((l) => l.residualStream?.[0] === l.node)
    .reduce((s, l) => s + l.merged, 0);
  const dropped = r.report.layers
    .filter((l) => l.residualStream?.[0] === l.node)
    .reduce((s, l) => s + l.dropped, 0);
  const row = `| ${label} | ${(r.report.after.params / 1e3).toFixed(1)}K (−${(100 * (1 - r.report.after.params / r.report.before.params)).toFixed(1)} %) | ${(r.report.after.macs / 1e6).toFixed(2)}M | ${options.mergeResidual ? `${merged} / ${dropped}` : "–"} | ${acc.toFixed(2)} | ${w.ware.toFixed(4)} |`;
  process.stderr.write(`${row}\n`);
  return row;
}

const rows: string[] = [];
for (const ratio of RATIOS) {
  const only = Object.fromEntries(streamNames.map((n) => [n, ratio]));
  const s = { method: "merge", ratio: 0, layerRatios: only, mergeResidual: true } as const;
  rows.push(`| **r = ${ratio}, streams only** | | | | | |`);
  rows.push(await measure("streams merged (`mergeResidual`)", s));
  rows.push(await measure("streams pruned plainly (same channels)", { ...s, merge: false }));
  rows.push(`| **r = ${ratio}, whole network** | | | | | |`);
  rows.push(await measure("Neuron Merging as published (streams whole)", { method: "merge", ratio }));
  rows.push(
    await measure("Neuron Merging + `mergeResidual`", { method: "merge", ratio, mergeResidual: true }),
  );
  rows.push(
    await measure("plain pruning, same channels", {
      method: "merge",
      ratio,
      mergeResidual: true,
      merge: false,
    }),
  );
}
const md = `# Merging across residual streams on the trained ResNet-20, no fine-tuning

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores, Node ${process.version}, by
\`node --import tsx bench/experiments/merge-residual.ts\`: the files \`prune(model, { method: "merge", ... })\` writes,
run by onnxruntime-node on the first ${set.count} Fashion-MNIST test images (zero pad 2, byte/255, as the
fixture was trained). Baseline accuracy ${baseAcc.toFixed(2)} %. The model has ${streams.length} residual streams
(${streams.map((g) => g.channels).join("/")} channels; each stage's stream is added into by its blocks' second convs, and
the first stage's also by the stem). WARE (§2.8, zero policy skip) is against the original logits. "merged /
dropped" counts the removed stream channels folded into a kept one (cosine ≥ 0.1 on the concatenated
BN-scaled filters and biases of every layer adding into the stream) and those left out. Default merge
options otherwise (l1 kept sets, exact BN formula). One run; the method is deterministic.

| configuration | params | MACs | stream channels merged / dropped | accuracy (%) | WARE |
|---|---|---|---|---|---|
${rows.join("\n")}
`;
await writeFile(flags.out ?? new URL("./merge-residual.md", import.meta.url).pathname, md);
process.stdout.write(md);
