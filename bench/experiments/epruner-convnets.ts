// EPruner's β sweep on the trained ResNet-20 of tests/fixtures/trained/ (Fashion-MNIST padded to
// 32x32), without fine-tuning: widths, parameters and MACs as β grows, and accuracy of the written
// files under onnxruntime-node, plain EPruner (exemplars kept, members dropped) and with exemplar
// merging (docs/methods.md §3.9). Writes bench/experiments/epruner-convnets.md.
//
//   node --import tsx bench/experiments/epruner-convnets.ts [--data DIR] [--limit N] [--out FILE]
//
// --data defaults to $PRUNEKIT_FASHION_MNIST_DIR, else Debian's dataset-fashion-mnist location; --limit
// evaluates the first N test images (default all 10 000). Never part of `npm test`.
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { parseArgs } from "node:util";
import { loadModel, prune } from "../../src/api.ts";
import { ortAccuracy, paddedTestSet } from "../lib/fmnist-test.ts";

const { values: flags } = parseArgs({
  options: { data: { type: "string" }, limit: { type: "string" }, out: { type: "string" } },
});
const BETAS = [0.6, 0.75, 1, 1.5, 2, 3, 4, 6];
const FILE = "trained/resnet20_fmnist.onnx";
const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const bytes = new Uint8Array(await readFile(new URL(FILE, fixtures)));
const set = await paddedTestSet(flags.data, flags.limit);
const accuracy = (b: Uint8Array) => ortAccuracy(b, set);

const model = await loadModel(bytes);
const base = await accuracy(bytes);
const rows: string[] = [];
for (const beta of BETAS) {
  const plain = await prune(model, { method: "epruner", beta });
  const merged = await prune(model, { method: "epruner", beta, merge: true });
  const widths = plain.report.layers.map((l) => l.channelsAfter).join("/");
  const iters = plain.report.layers.map((l) => l.iterations).join("/");
  const dropped = merged.report.layers.reduce((s, l) => s + l.dropped, 0);
  const mergedCount = merged.report.layers.reduce((s, l) => s + l.merged, 0);
  const accPlain = await accuracy(plain.bytes);
  const accMerged = await accuracy(merged.bytes);
  const r = plain.report;
  rows.push(
    `| ${beta} | ${widths} | ${(r.after.params / 1e3).toFixed(1)}K (−${(100 * (1 - r.after.params / r.before.params)).toFixed(1)} %) | ${(r.after.macs / 1e6).toFixed(2)}M (−${(100 * (1 - r.after.macs / r.before.macs)).toFixed(1)} %) | ${iters} | ${accPlain.toFixed(2)} | ${accMerged.toFixed(2)} | ${mergedCount} / ${dropped} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
const before = (await prune(model, { method: "epruner", beta: 1 })).report.before;
const md = `# EPruner β sweep on the trained ResNet-20 (Fashion-MNIST), no fine-tuning

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores, Node ${process.version}, by
\`node --import tsx bench/experiments/epruner-convnets.ts\`: the files \`prune(model, { method: "epruner", beta })\`
(and with \`merge: true\`) writes, evaluated by onnxruntime-node on the first ${set.count} Fashion-MNIST test images
(zero pad 2, byte/255, as the fixture was trained). Default layers: the first conv of each of the 9 basic blocks
(16/16/16/32/32/32/64/64/64 filters). Baseline accuracy ${base.toFixed(2)} %, ${(before.params / 1e3).toFixed(1)}K
learnable parameters, ${(before.macs / 1e6).toFixed(2)}M MACs (conv + linear, batch 1). No fine-tuning (the training
engine has not landed).

| β | widths of the 9 clustered convs | params | MACs | AP iterations | accuracy, plain (%) | accuracy, --merge (%) | merged / dropped members |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
await writeFile(flags.out ?? new URL("./epruner-convnets.md", import.meta.url).pathname, md);
process.stdout.write(md);
