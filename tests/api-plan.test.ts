// planPrune (the dry run) counts exactly what prune reports: same widths, same params and MACs after.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadModel, type PruneOptions, planPrune, prune } from "../src/index.ts";

const CASES: [string, PruneOptions][] = [
  ["vgg_bn.onnx", { method: "l1", ratio: 0.5 }],
  ["resnet_bn.onnx", { method: "l1", ratio: 0.3 }],
  ["vgg_bn.onnx", { method: "merge", ratio: 0.4 }],
  ["resnet_bn.onnx", { method: "merge", ratio: 0.5 }],
  ["vgg_bn.onnx", { method: "epruner", beta: 0.75 }],
  ["resnet_bn.onnx", { method: "epruner", targetMacs: 0.8, merge: true }],
  ["resnet_bn.onnx", { method: "l1", ratio: 0.3, roundTo: 4 }],
  ["vgg_bn.onnx", { method: "merge", ratio: 0.3, roundTo: 4 }],
];

for (const [file, options] of CASES) {
  test(`planPrune equals prune's report on ${file} with ${JSON.stringify(options)}`, async () => {
    const model = await loadModel(
      new Uint8Array(readFileSync(new URL(`./fixtures/${file}`, import.meta.url))),
    );
    const plan = await planPrune(model, options);
    const { report } = await prune(model, options);
    assert.deepEqual(plan.after, report.after);
    assert.deepEqual(plan.before, report.before);
    assert.ok(plan.after.macs < plan.before.macs, "the plan prunes something");
    assert.deepEqual(
      plan.layers.map((l) => [
        l.node,
        l.weight,
        l.channelsBefore,
        l.channelsAfter,
        l.kept,
        l.keptBeforeRounding,
      ]),
      report.layers.map((l) => [
        l.node,
        l.weight,
        l.channelsBefore,
        l.channelsAfter,
        l.kept,
        l.keptBeforeRounding,
      ]),
    );
    assert.deepEqual(plan.options, report.options);
  });
}
