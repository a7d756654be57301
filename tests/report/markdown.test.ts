import assert from "node:assert/strict";
import { test } from "node:test";
import type { FinetuneReport, PruneReport } from "../../src/api.ts";
import { finetuneReportMarkdown, markdownCell, pruneReportMarkdown } from "../../src/report/markdown.ts";

const files = { input: "model.onnx", output: "small.onnx" };

function pruneReport(over: Partial<PruneReport> = {}): PruneReport {
  return {
    method: "merge",
    options: { method: "merge", ratio: 0.5, criterion: "l1" },
    macsConvention: "MACs of Conv and Gemm, batch 1",
    before: { params: 1_234_567, convLinearParams: 1_200_000, macs: 40_000_000 },
    after: { params: 617_000, convLinearParams: 600_000, macs: 20_000_000 },
    layers: [
      {
        node: "conv|1",
        weight: "w\nline",
        channelsBefore: 16,
        channelsAfter: 8,
        kept: [0, 1, 2, 3, 4, 5, 6, 7],
        merged: 5,
        dropped: 3,
      },
    ],
    warnings: ["layer fc left unpruned:\nunsafe path"],
    timings: { decomposition: 12.34, surgery: 1.5 },
    unpruned: [{ group: 3, layers: ["add|1"], kind: "residual", reason: "a residual stream" }],
    ...over,
  };
}

const tune: FinetuneReport = {
  epochs: 2,
  batch: 64,
  options: { lr: 0.01, schedule: { kind: "constant" } },
  preprocessing: "28x28 gray, scaled to [0, 1]",
  trainImages: 640,
  history: [
    { epoch: 1, loss: 0.9, accuracy: 0.6, seconds: 1.2, testAccuracy: 0.7 },
    { epoch: 2, loss: 0.5, accuracy: 0.8, seconds: 1.1 },
  ],
  before: 0.5,
  after: 0.75,
  testImages: 100,
  imagesPerSecond: 500,
  workers: 1,
  seconds: 3,
  warnings: [],
};

/** The rows of the Markdown table right under `heading`. */
function tableAfter(md: string, heading: string): string[] {
  const lines = md.split("\n");
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `no heading ${heading}`);
  const rows: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith("|")) rows.push(l);
    else if (rows.length > 0) break;
  }
  return rows;
}

/** Cells of a table row, splitting on unescaped pipes only. */
function cells(row: string): string[] {
  return row
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

test("markdownCell escapes pipes and backslashes and flattens newlines", () => {
  assert.equal(markdownCell("a|b"), "a\\|b");
  assert.equal(markdownCell("a\nb\r\nc"), "a b c");
  assert.equal(markdownCell("x\\|y"), "x\\\\\\|y");
  assert.equal(markdownCell(""), " ");
  assert.equal(markdownCell(3), "3");
  assert.equal(markdownCell({ kind: "step" }), '{"kind":"step"}');
});

test("the prune report has the files, sizes with the convention, layers, options, warnings and timings", () => {
  const md = pruneReportMarkdown(pruneReport(), files);
  assert.match(md, /^# prunekit prune: merge\n/);
  assert.match(md, /- input: `model\.onnx`/);
  assert.match(md, /- output: `small\.onnx`/);
  assert.match(md, /MACs: `MACs of Conv and Gemm, batch 1`\./);
  const sizes = tableAfter(md, "## Size");
  assert.deepEqual(cells(sizes[2]!), [
    "params (learnable)",
    "1,234,567 (1.23M)",
    "617,000 (617.0K)",
    "-50.0 %",
  ]);
  assert.deepEqual(cells(sizes[4]!), ["MACs", "40,000,000 (40.00M)", "20,000,000 (20.00M)", "-50.0 %"]);
  const layers = tableAfter(md, "## Layers");
  assert.equal(layers.length, 3);
  // The pipe in the node name is escaped and the newline in the weight name gone: still 5 cells.
  assert.deepEqual(cells(layers[2]!), ["conv\\|1", "w line", "16 → 8", "5", "3"]);
  assert.deepEqual(cells(tableAfter(md, "## Options")[4]!), ["criterion", "l1"]);
  assert.match(md, /## Warnings\n\n- layer fc left unpruned: unsafe path\n/);
  assert.deepEqual(cells(tableAfter(md, "## Timings")[2]!), ["decomposition", "12.3"]);
  assert.doesNotMatch(md, /Tick-Tock|Fine-tuning/);
  assert.ok(md.endsWith("\n") && !md.endsWith("\n\n"));
});

test("a backtick in a path keeps the inline code intact", () => {
  const md = pruneReportMarkdown(pruneReport(), { input: "a`b.onnx", output: "c.onnx" });
  assert.match(md, /- input: `` a`b\.onnx ``/);
});

test("a gate report gets the Tick-Tock trajectory table and its other details; fine-tuning has the epochs", () => {
  const md = pruneReportMarkdown(
    pruneReport({
      method: "gate",
      details: {
        flopsTarget: 0.5,
        macsFraction: 0.48,
        ticks: 1,
        tocks: 1,
        trajectory: [
          {
            phase: "tock",
            index: 1,
            macsFraction: 1,
            channelsLeft: 96,
            trainLoss: 0.7,
            trainAccuracy: 0.8,
            testAccuracy: 0.81,
          },
          {
            phase: "tick",
            index: 1,
            macsFraction: 0.48,
            channelsLeft: 50,
            trainLoss: 0.9,
            trainAccuracy: 0.7,
            removed: 46,
          },
        ],
      },
      finetune: tune,
    }),
    files,
  );
  assert.match(md, /1 tick\(s\), 1 tock\(s\); MACs 48\.00 % of the original, target 50\.00 %\./);
  const t = tableAfter(md, "## Tick-Tock trajectory");
  assert.equal(t.length, 4);
  assert.deepEqual(cells(t[2]!), ["tock", "1", "100.00 %", "96", "-", "0.7000", "80.00 %", "81.00 %"]);
  assert.deepEqual(cells(t[3]!), ["tick", "1", "48.00 %", "50", "46", "0.9000", "70.00 %", "-"]);
  assert.deepEqual(cells(tableAfter(md, "## Details")[2]!), ["flopsTarget", "0.5"]);
  assert.deepEqual(cells(tableAfter(md, "## Fine-tuning")[2]!), [
    "accuracy",
    "50.00 %",
    "75.00 %",
    "25.00 points",
    "100",
  ]);
  const epochs = tableAfter(md, "### Epochs");
  assert.deepEqual(cells(epochs[2]!), ["1", "0.9000", "60.00 %", "70.00 %", "1.2"]);
  assert.deepEqual(cells(epochs[3]!), ["2", "0.5000", "80.00 %", "-", "1.1"]);
});

test("the finetune report has accuracy before and after, epochs, options and warnings", () => {
  const md = finetuneReportMarkdown({ ...tune, warnings: ["a|b"] }, { input: "p.onnx", output: "t.onnx" });
  assert.match(md, /^# prunekit finetune\n/);
  assert.match(md, /- output: `t\.onnx`/);
  assert.match(md, /2 epoch\(s\), batch 64, 640 training images, one thread/);
  assert.equal(tableAfter(md, "### Epochs").length, 4);
  assert.deepEqual(cells(tableAfter(md, "### Fine-tuning options")[3]!), ["schedule", '{"kind":"constant"}']);
  assert.match(md, /## Warnings\n\n- a\|b\n$/);
  const none = finetuneReportMarkdown(
    { ...tune, history: [], before: undefined, after: undefined } as unknown as FinetuneReport,
    files,
  );
  assert.match(none, /No test images: accuracy not measured\./);
  assert.match(none, /No epoch ran\./);
});
