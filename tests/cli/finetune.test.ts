// `prunekit finetune` as a user runs it (the built CLI in a child process): pruned models trained on
// real images, the output checked by onnxruntime, checkpoints and resume, Ctrl-C, one-line usage errors.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { decodeCheckpoint } from "../../src/engine/checkpoint.ts";
import { decodeModel } from "../../src/onnx/decode.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const resnet = "tests/fixtures/trained/resnet20_fmnist.onnx";
const lenet = "tests/fixtures/lenet300.onnx";
const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), "prunekit-finetune-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("finetune a pruned LeNet-300-100 on Fashion-MNIST: test accuracy rises by more than 10 points", () => {
  const pruned = join(tmp, "lenet_l1.onnx");
  const out = join(tmp, "lenet_ft.onnx");
  const report = join(tmp, "report.json");
  assert.equal(cli("prune", lenet, "-o", pruned, "--method", "l1", "--ratio", "0.8", "--quiet").status, 0);
  const r = cli(
    "finetune",
    pruned,
    "-o",
    out,
    "--data",
    data,
    "--epochs",
    "2",
    "--lr",
    "0.05",
    "--report",
    report,
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.trainImages, 2000);
  assert.equal(j.history.length, 2);
  assert.ok(j.history[1].loss < j.history[0].loss, JSON.stringify(j.history));
  assert.ok(j.after > j.before + 0.1, `before ${j.before}, after ${j.after}`);
  assert.deepEqual(JSON.parse(readFileSync(report, "utf8")).history, j.history);
  for (const k of ["epochs", "batch", "options", "preprocessing", "imagesPerSecond", "seconds", "warnings"]) {
    assert.ok(k in j, k);
  }
});

test("finetune a pruned ResNet-20: the written file runs in onnxruntime, nodes, names, dims and opset kept", async () => {
  const pruned = join(tmp, "r20_l1.onnx");
  const out = join(tmp, "r20_ft.onnx");
  assert.equal(cli("prune", resnet, "-o", pruned, "--method", "l1", "--ratio", "0.5", "--quiet").status, 0);
  const r = cli(
    "finetune",
    pruned,
    "-o",
    out,
    "--data",
    data,
    "--epochs",
    "1",
    "--limit",
    "96",
    "--batch",
    "32",
    "--eval-limit",
    "64",
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const a = decodeModel(readFileSync(pruned));
  const b = decodeModel(readFileSync(out));
  assert.deepEqual(b.opsetImport, a.opsetImport);
  assert.deepEqual(
    b.graph!.node.map((n) => [n.name, n.opType, n.input, n.output]),
    a.graph!.node.map((n) => [n.name, n.opType, n.input, n.output]),
  );
  assert.deepEqual(
    b.graph!.initializer.map((t) => [t.name, t.dims]),
    a.graph!.initializer.map((t) => [t.name, t.dims]),
  );
  assert.notDeepEqual(b.graph!.initializer[0]!.rawData, a.graph!.initializer[0]!.rawData);
  const session = await ort.InferenceSession.create(readFileSync(out));
  const x = new Float32Array(4 * 32 * 32).fill(0.1);
  const y = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", x, [4, 1, 32, 32]) });
  const logits = y[session.outputNames[0]!]!.data as Float32Array;
  assert.equal(logits.length, 40);
  assert.ok(logits.every(Number.isFinite));
  await session.release();
});

test("finetune --checkpoint then --resume continues bit for bit; a foreign checkpoint is refused", () => {
  const ck = join(tmp, "ck");
  const once = join(tmp, "once.onnx");
  const twice = join(tmp, "twice.onnx");
  const resumed = join(tmp, "resumed.onnx");
  const common = ["--data", data, "--limit", "300", "--batch", "50", "--no-eval", "--quiet"];
  assert.equal(cli("finetune", lenet, "-o", twice, "--epochs", "2", ...common).status, 0);
  const first = cli("finetune", lenet, "-o", once, "--epochs", "1", "--checkpoint", ck, ...common);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(decodeCheckpoint(readFileSync(join(ck, "prunekit-checkpoint.bin")), "ck").epoch, 1);
  const r = cli("finetune", lenet, "-o", resumed, "--epochs", "2", "--resume", ck, ...common);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(resumed), readFileSync(twice));
  const other = cli(
    "finetune",
    resnet,
    "-o",
    join(tmp, "x.onnx"),
    "--epochs",
    "2",
    "--resume",
    ck,
    ...common,
  );
  assert.equal(other.status, 1);
  assert.match(other.stderr, /^prunekit: CHECKPOINT_INVALID: /);
  assert.equal(other.stderr.trim().split("\n").length, 1);
});

test("Ctrl-C stops at the next step: exit 1 ABORTED, no output file, the last checkpoint intact", async () => {
  const ck = join(tmp, "ck-int");
  const out = join(tmp, "interrupted.onnx");
  const child = spawn(
    process.execPath,
    [
      "bin/prunekit.js",
      "finetune",
      lenet,
      "-o",
      out,
      "--data",
      data,
      "--epochs",
      "1000",
      "--no-eval",
      "--checkpoint",
      ck,
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  const file = join(ck, "prunekit-checkpoint.bin");
  const deadline = Date.now() + 60_000;
  while (!existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(file), "no checkpoint was written");
  child.kill("SIGINT");
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr.trim().split("\n").at(-1)!, /^prunekit: ABORTED: /);
  assert.equal(existsSync(out), false);
  assert.ok(decodeCheckpoint(readFileSync(file), file).epoch >= 1);
});

test("finetune usage errors are one line naming the flag", () => {
  for (const [args, pattern] of [
    [[lenet, "-o", join(tmp, "u.onnx"), "--data", data], /--epochs/],
    [
      [lenet, "-o", join(tmp, "u.onnx"), "--data", data, "--epochs", "1", "--schedule", "weird"],
      /--schedule/,
    ],
    [
      [lenet, "-o", join(tmp, "u.onnx"), "--data", data, "--epochs", "1", "--milestones", "2"],
      /--milestones/,
    ],
    [[lenet, "-o", join(tmp, "u.onnx"), "--data", data, "--epochs", "-1"], /--epochs/],
    [[lenet, "--data", data, "--epochs", "1"], /-o/],
    [[lenet, "-o", lenet, "--data", data, "--epochs", "1"], /overwrite/],
  ] as const) {
    const r = cli("finetune", ...args);
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
  const help = cli("finetune", "--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--resume DIR/);
});

test("prune --finetune-epochs fine-tunes the pruned model before writing it; the report has the run", () => {
  const out = join(tmp, "pruned_tuned.onnx");
  const report = join(tmp, "prune_report.json");
  const r = cli(
    "prune",
    lenet,
    "-o",
    out,
    "--method",
    "l1",
    "--ratio",
    "0.8",
    "--data",
    data,
    "--finetune-epochs",
    "2",
    "--finetune-lr",
    "0.05",
    "--report",
    report,
    "--quiet",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(readFileSync(report, "utf8"));
  assert.equal(j.finetune.epochs, 2);
  assert.deepEqual(j.finetune.options.schedule, { kind: "step", milestones: [1], gamma: 0.1 });
  assert.ok(j.finetune.after > j.finetune.before + 0.1, `${j.finetune.before} -> ${j.finetune.after}`);
  assert.ok(j.after.params < j.before.params);
  const stray = cli("prune", lenet, "-o", out, "--method", "l1", "--ratio", "0.5", "--finetune-lr", "0.1");
  assert.equal(stray.status, 1);
  assert.match(stray.stderr, /^prunekit: USAGE: --finetune-lr needs --finetune-epochs N\n$/);
});

test("finetune --workers 2 trains on two worker threads from the built package", () => {
  const out = join(tmp, "workers.onnx");
  const r = cli(
    "finetune",
    lenet,
    "-o",
    out,
    "--data",
    data,
    "--epochs",
    "1",
    "--limit",
    "256",
    "--workers",
    "2",
    "--no-eval",
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.workers, 2);
  assert.ok(existsSync(out));
  const bad = cli("finetune", lenet, "-o", out, "--data", data, "--epochs", "1", "--workers", "0");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--workers/);
});
