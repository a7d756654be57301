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
import { loadModel } from "../../src/api.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";

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
  assert.match(bad.stderr, /USAGE: --data applies to --method gate only; l1 is data-free/);
});

test("scores --method l1|l2|gm: every producer's filter criterion (recomputed here from the weights), keyed to gate's BN", async () => {
  const model = await loadModel(new Uint8Array(readFileSync(join(root, resnet))));
  const taylor = JSON.parse(
    cli("scores", resnet, "--data", data, "--batches", "1", "--batch", "16", "--json").stdout,
  );
  const gateBns = new Set(taylor.layers.map((l: { node: string }) => l.node));
  for (const method of ["l1", "l2", "gm"]) {
    const r = cli("scores", resnet, "--method", method, "--json");
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.criterion, method);
    assert.ok(j.layers.length >= 19);
    for (const l of j.layers) {
      const w = readFloat32(model.graph.initializers.get(l.scale)!);
      const d = w.length / l.channels;
      const rows = Array.from({ length: l.channels }, (_, c) => Array.from(w.subarray(c * d, (c + 1) * d)));
      const want = rows.map((f) =>
        method === "l1"
          ? f.reduce((a, v) => a + Math.abs(v), 0)
          : method === "l2"
            ? Math.sqrt(f.reduce((a, v) => a + v * v, 0))
            : rows.reduce((a, g) => a + Math.sqrt(f.reduce((b, v, k) => b + (v - g[k]!) ** 2, 0)), 0),
      );
      want.forEach((v, c) => {
        assert.ok(
          Math.abs(l.scores[c] - v) <= 1e-4 * v + 1e-6,
          `${method} ${l.node}[${c}]: ${l.scores[c]} vs ${v}`,
        );
      });
      assert.ok(gateBns.has(l.bn), `${l.node}: its BN ${l.bn} is one of gate's layers`);
    }
    for (const g of j.groups) {
      const sum = g.members
        .map((m: string) => j.layers.find((l: { node: string }) => l.node === m).scores)
        .reduce((a: number[], b: number[]) => a.map((v, i) => v + b[i]!));
      sum.forEach((v: number, c: number) => {
        assert.ok(Math.abs(g.scores[c] - v) <= 1e-9 * Math.abs(v) + 1e-9);
      });
      assert.ok(
        g.ranking.every((c: number, i: number) => i === 0 || g.scores[g.ranking[i - 1]] <= g.scores[c]),
      );
    }
  }
});

test("scores --no-shuffle takes the first images in file order; --bn eval uses the running statistics", () => {
  const run = (...extra: string[]) => {
    const r = cli("scores", resnet, "--data", data, "--limit", "32", "--batch", "16", "--json", ...extra);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const ordered = run("--no-shuffle");
  assert.equal(ordered.batches, 2, "every whole batch of --limit 32 at --batch 16");
  assert.equal(ordered.shuffle, false);
  assert.equal(ordered.bn, "train");
  // With --limit 32 the first 32 images are loaded either way: a seeded order of the same images sums
  // the same batches' images in other groupings, which changes batch statistics and the per-batch |.|.
  const shuffled = run();
  assert.notDeepEqual(shuffled.layers[0].scores, ordered.layers[0].scores);
  const evalMode = run("--no-shuffle", "--bn", "eval");
  assert.equal(evalMode.bn, "eval");
  assert.notDeepEqual(evalMode.layers[0].scores, ordered.layers[0].scores);
  for (const l of evalMode.layers) assert.ok(l.scores.every((v: number) => Number.isFinite(v) && v >= 0));
  const bad = cli("scores", resnet, "--data", data, "--bn", "test");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--bn/);
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

test("prune --method gate --checkpoint DIR, then --resume DIR from a mid-run state, writes the same bytes; --workers 2 runs", () => {
  const fixture = "tests/fixtures/resnet_bn.onnx";
  const ckpt = join(tmp, "ckpt");
  const args = (out: string, ...extra: string[]) => [
    "prune",
    fixture,
    "-o",
    out,
    "--method",
    "gate",
    "--data",
    data,
    "--flops-target",
    "0.5",
    "--tick-ratio",
    "0.1",
    "--tock-epochs",
    "0.5",
    "--ticks-per-tock",
    "2",
    "--finetune-epochs",
    "1",
    "--finetune-limit",
    "128",
    "--batch",
    "32",
    "--eval-limit",
    "32",
    "--quiet",
    ...extra,
  ];
  const full = cli(...args(join(tmp, "full.onnx"), "--checkpoint", ckpt));
  assert.equal(full.status, 0, full.stderr);
  assert.ok(readFileSync(join(ckpt, "prunekit-method.bin")).length > 0);
  assert.ok(readFileSync(join(ckpt, "prunekit-checkpoint.bin")).length > 0);
  // Resuming from the final states redoes only the folding; the bytes are the uninterrupted run's.
  const resumed = cli(...args(join(tmp, "resumed.onnx"), "--resume", ckpt));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(readFileSync(join(tmp, "resumed.onnx")), readFileSync(join(tmp, "full.onnx")));
  const other = cli(...args(join(tmp, "other.onnx"), "--resume", ckpt, "--tick-ratio", "0.2"));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /CHECKPOINT_INVALID/);
  const empty = cli(...args(join(tmp, "none.onnx"), "--resume", join(tmp, "no-such-dir")));
  assert.equal(empty.status, 1);
  assert.match(
    empty.stderr,
    /CHECKPOINT_INVALID: --resume .*no prunekit-method\.bin or prunekit-checkpoint\.bin/,
  );
  const two = cli(...args(join(tmp, "two.onnx"), "--workers", "2"));
  assert.equal(two.status, 0, two.stderr);
  const stray = cli(
    "prune",
    fixture,
    "-o",
    join(tmp, "l1.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0.5",
    "--checkpoint",
    ckpt,
  );
  assert.equal(stray.status, 1);
  assert.match(stray.stderr, /USAGE: --checkpoint applies to training runs only/);
});
