// EPruner on a trained VGG-16-BN (Fashion-MNIST padded to 32x32), without fine-tuning: a β sweep over
// all 13 convs (§3.5's VGG recipe: every conv clustered) showing widths, parameters and MACs as β grows,
// plus the published rule (β for convs 1–8, 0.92 for convs 9–13), and the accuracy of the written files
// under onnxruntime-node, plain EPruner (exemplars kept, members dropped) and with exemplar merging
// (docs/methods.md §3.9). Writes bench/experiments/epruner-vgg.md.
//
//   node --import tsx bench/experiments/epruner-vgg.ts --model VGG.onnx [--data DIR] [--limit N] [--out FILE]
//
// The model is tests/fixtures/train_convnets.py --model vgg16bn's output (60 MB, not committed; its
// manifest entry records the recipe). --data defaults to $PRUNEKIT_FASHION_MNIST_DIR, else Debian's
// dataset-fashion-mnist location; --limit evaluates the first N test images (default all 10 000).
// Never part of `npm test`.
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { loadModel, type PruneOptions, prune } from "../../src/api.ts";
import { ortAccuracy, paddedTestSet } from "../lib/fmnist-test.ts";

const { values: flags } = parseArgs({
  options: {
    model: { type: "string" },
    data: { type: "string" },
    limit: { type: "string" },
    out: { type: "string" },
  },
});
if (flags.model === undefined) {
  process.stderr.write("usage: epruner-vgg.ts --model VGG.onnx [--data DIR] [--limit N] [--out FILE]\n");
  process.exit(64);
}
/** The sweep: uniform β, then §3.5's published VGG-16 rule (user β for convs 1–8, 0.92 from conv 9). */
const CONFIGS: {
  label: string;
  options: { beta: number; lateBeta?: { fromIndex: number; beta: number } };
}[] = [
  ...[0.5, 0.6, 0.73, 0.75, 0.85, 0.92, 1, 1.5, 2].map((beta) => ({ label: `${beta}`, options: { beta } })),
  {
    label: "0.73, 0.92 from conv 9 (published)",
    options: { beta: 0.73, lateBeta: { fromIndex: 8, beta: 0.92 } },
  },
  { label: "0.6, 0.92 from conv 9", options: { beta: 0.6, lateBeta: { fromIndex: 8, beta: 0.92 } } },
];
const bytes = new Uint8Array(await readFile(flags.model));
const set = await paddedTestSet(flags.data, flags.limit);
const accuracy = (b: Uint8Array) => ortAccuracy(b, set);
const pct = (after: number, before: number) => `${(100 * (1 - after / before)).toFixed(1)} %`;

const model = await loadModel(bytes);
const base = await accuracy(bytes);
const rows: string[] = [];
let before: { params: number; macs: number } | undefined;
let layerCount = 0;
for (const { label, options } of CONFIGS) {
  const o: PruneOptions = { method: "epruner", ...options };
  const plain = await prune(model, o);
  const merged = await prune(model, { ...o, merge: true });
  const r = plain.report;
  before = r.before;
  layerCount = r.layers.length;
  const widths = r.layers.map((l) => l.channelsAfter).join("/");
  const iters = r.layers.map((l) => l.iterations).join("/");
  const dropped = merged.report.layers.reduce((s, l) => s + (l.dropped ?? 0), 0);
  const mergedCount = merged.report.layers.reduce((s, l) => s + (l.merged ?? 0), 0);
  const accPlain = await accuracy(plain.bytes);
  const accMerged = await accuracy(merged.bytes);
  rows.push(
    `| ${label} | ${widths} | ${(r.after.params / 1e6).toFixed(2)}M (−${pct(r.after.params, r.before.params)}) | ${(r.after.macs / 1e6).toFixed(1)}M (−${pct(r.after.macs, r.before.macs)}) | ${iters} | ${(r.timings.decomposition ?? 0).toFixed(0)} | ${accPlain.toFixed(2)} | ${accMerged.toFixed(2)} | ${mergedCount} / ${dropped} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
const md = `# EPruner β sweep on a trained VGG-16-BN (Fashion-MNIST), no fine-tuning

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}, by
\`node --import tsx bench/experiments/epruner-vgg.ts --model ${basename(flags.model)}\`: the files
\`prune(model, { method: "epruner", beta, lateBeta })\` (and with \`merge: true\`) writes, evaluated by
onnxruntime-node on the first ${set.count} Fashion-MNIST test images (zero pad 2, byte/255, as the model was
trained). The model: \`tests/fixtures/train_convnets.py --model vgg16bn --steps 900\` (CIFAR-style VGG-16-BN,
13 convs, 1 input channel; not committed, 60 MB). Default layers: all ${layerCount} convs (§3.5). Baseline accuracy
${base.toFixed(2)} %, ${((before?.params ?? 0) / 1e6).toFixed(2)}M learnable parameters, ${((before?.macs ?? 0) / 1e6).toFixed(1)}M MACs
(conv + linear, batch 1). "analysis ms" is \`report.timings.decomposition\` (13 similarity matrices and 13
affinity propagations, one thread, a shared machine). No fine-tuning here: see the README's EPruner table.

| β | widths of the 13 convs | params | MACs | AP iterations | analysis ms | accuracy, plain (%) | accuracy, --merge (%) | merged / dropped members |
|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
await writeFile(flags.out ?? new URL("./epruner-vgg.md", import.meta.url).pathname, md);
process.stdout.write(md);
