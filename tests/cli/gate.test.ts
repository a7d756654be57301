// `prunekit prune --method gate` and `prunekit scores` as a user runs them (the built CLI in a child
// process): a short Tick-Tock run on ResNet-20 to half its MACs, checked by onnxruntime; the scores
// table and JSON; one-line usage errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";

const root = fileURLToPath(new URL("../../", import.meta.url));
const resnet = "tests/fixtures/trained/resnet20_fmnist.onnx";
const lenet = "tests/fixtures/lenet300.onnx";
const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), "prunekit-gate-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("prune --method gate: ResNet-20 to <= 50 % MACs, report with the trajectory, output runs in onnxruntime", async () => {
  const out = join(tmp, "r20_gate.onnx");
  const report = join(tmp, "gate.json");
  const r = cli(
    "prune",
    resnet,
    "-o",
    out,
    "--method",
    "gate",
    "--data",
    data,
    "--flops-target",
    "0.5",
    "--tick-ratio",
    "0.08",
    "--tick-subset",
    "0.05",
    "--tock-epochs",
    "0.05",
    "--ticks-per-tock",
    "4",
    "--finetune-epochs",
    "0",
    "--batch",
    "32",
    "--eval-limit",
    "64",
    "--finetune-limit",
    "640",
    "--report",
    report,
    "--report-md",
    join(tmp, "gate.md"),
    "--chart-accuracy",
    join(tmp, "gate.svg"),
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gate: \d+ tick\(s\), \d+ tock\(s\), MACs/);
  const md = readFileSync(join(tmp, "gate.md"), "utf8");
  assert.match(
    md,
    /## Tick-Tock trajectory\n\n\d+ tick\(s\), \d+ tock\(s\); MACs [\d.]+ % of the original, target 50\.00 %\./,
  );
  assert.match(md, /\n\| tick \| 1 \| [\d.]+ % \|/);
  assert.match(readFileSync(join(tmp, "gate.svg"), "utf8"), /^<svg/);
  const j = JSON.parse(readFileSync(report, "utf8"));
  assert.equal(j.method, "gate");
  assert.ok(j.after.macs <= 0.5 * j.before.macs, `${j.after.macs} / ${j.before.macs}`);
  assert.equal(j.options.finetuneEpochs, 0);
  assert.equal(j.finetune, undefined);
  const ticks = j.details.trajectory.filter((p: { phase: string }) => p.phase === "tick");
  assert.equal(ticks.length, j.details.ticks);
  for (const k of ["macsFraction", "channelsLeft", "trainLoss", "trainAccuracy", "removed"])
    assert.ok(k in ticks[0], k);
  assert.ok(j.details.trajectory.some((p: { testAccuracy?: number }) => typeof p.testAccuracy === "number"));
  const session = await ort.InferenceSession.create(readFileSync(out));
  const res = await session.run({
    [session.inputNames[0]!]: new ort.Tensor("float32", new Float32Array(2 * 32 * 32), [2, 1, 32, 32]),
  });
  await session.release();
  assert.equal(Object.values(res)[0]!.dims.join(), "2,10");
});

test("scores: per-group table, JSON with every channel's score and rankings", () => {
  const table = cli("scores", resnet, "--data", data, "--batches", "1", "--batch", "16", "--quiet");
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /least important/);
  assert.match(table.stdout, /1 batch\(es\), 16 images/);
  const r = cli("scores", resnet, "--data", data, "--batches", "1", "--batch", "16", "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.images, 16);
  assert.ok(j.layers.length >= 19, `${j.layers.length} BNs`);
  assert.equal(j.gateMode, "bn");
  assert.ok(
    j.groups.some((g: { members: string[] }) => g.members.length > 2),
    "a residual stage group",
  );
  for (const g of j.groups) assert.equal(g.ranking.length, g.channels);
});

test("scores --method gate on a BN-fused export: conv-gate scores keyed by the conv node, experimental warning", () => {
  const fused = "tests/fixtures/vgg_fused.onnx";
  const r = cli(
    "scores",
    fused,
    "--method",
    "gate",
    "--data",
    data,
    "--batches",
    "1",
    "--batch",
    "16",
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.gateMode, "conv");
  assert.equal(j.layers.length, 3);
  for (const l of j.layers) {
    assert.equal(l.kind, "conv");
    assert.match(l.node, /Conv$/);
    assert.match(l.scale, /^onnx::Conv_/);
    assert.equal(l.scores.length, l.channels);
  }
  const table = cli("scores", fused, "--data", data, "--batches", "1", "--batch", "16");
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stderr, /warning: experimental: gates on conv outputs \(§4\.9\)/);
  const bad = cli("scores", fused, "--method", "l1", "--data", data);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--method must be gate/);
});

test("gate usage errors are one line each, with a code", () => {
  const cases: [string[], RegExp][] = [
    [
      ["prune", resnet, "-o", join(tmp, "a.onnx"), "--method", "gate", "--flops-target", "0.5"],
      /USAGE: .*needs --data SPEC/,
    ],
    [
      ["prune", resnet, "-o", join(tmp, "a.onnx"), "--method", "gate", "--data", data],
      /USAGE: .*--flops-target/,
    ],
    [
      [
        "prune",
        resnet,
        "-o",
        join(tmp, "a.onnx"),
        "--method",
        "gate",
        "--data",
        data,
        "--flops-target",
        "0.5",
        "--finetune-lr",
        "0.1",
      ],
      /USAGE: --finetune-lr does not apply to --method gate/,
    ],
    [
      ["prune", resnet, "-o", join(tmp, "a.onnx"), "--method", "l1", "--tick-ratio", "0.1"],
      /USAGE: --tick-ratio applies to --method gate only/,
    ],
    [
      ["prune", resnet, "-o", join(tmp, "a.onnx"), "--method", "gate", "--data", data, "--flops-target", "2"],
      /USAGE: --flops-target expects a number/,
    ],
    [
      [
        "prune",
        lenet,
        "-o",
        join(tmp, "a.onnx"),
        "--method",
        "gate",
        "--data",
        data,
        "--flops-target",
        "0.5",
      ],
      /GRAPH_UNSUPPORTED: .*no channel group it can gate .*linear outputs are not implemented/,
    ],
    [["scores", resnet], /USAGE: scores needs --data/],
    [["scores", resnet, "--data", data, "--batches", "0"], /USAGE: --batches expects/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});
