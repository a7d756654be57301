#!/usr/bin/env node
// Prints a gate report's Tick-Tock trajectory as a Markdown table (for bench/gate/README.md and the
// top-level README). Usage: node bench/gate/trajectory.mjs bench/results/gate/resnet20-gate.report.json
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const d = report.details;
const pct = (x) => (x === undefined ? "" : `${(100 * x).toFixed(2)} %`);
console.log("| phase | MACs | live channels | removed | train loss | train top-1 | test top-1 |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const p of d.trajectory) {
  console.log(
    `| ${p.phase} ${p.index} | ${pct(p.macsFraction)} | ${p.channelsLeft} | ${p.removed ?? ""} | ${p.trainLoss.toFixed(4)} | ${pct(p.trainAccuracy)} | ${pct(p.testAccuracy)} |`,
  );
}
if (d.testAccuracyBeforeFinetune !== undefined) {
  console.log(`| after Tick-Tock | ${pct(d.macsFraction)} | | | | | ${pct(d.testAccuracyBeforeFinetune)} |`);
}
const f = report.finetune;
if (f !== undefined) {
  console.log(
    `| fine-tuned (${f.epochs} epochs) | ${pct(report.after.macs / report.before.macs)} | | | | | ${pct(f.after)} |`,
  );
}
