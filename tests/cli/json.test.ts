// Every command that reports takes --json (valid JSON on stdout with the documented fields) and
// --quiet; every help has a real example; the main help documents the exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const lenet = "tests/fixtures/lenet300.onnx";
const resnet = "tests/fixtures/trained/resnet20_fmnist.onnx";
const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;
const tmp = mkdtempSync(join(tmpdir(), "prunekit-json-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS: Record<string, { args: string[]; fields: string[] }> = {
  info: {
    args: [lenet],
    fields: ["inputs", "outputs", "opset", "layers", "totals", "macsConvention", "groups"],
  },
  prune: {
    args: [lenet, "-o", join(tmp, "p.onnx"), "--method", "l1", "--ratio", "0.5"],
    fields: [
      "input",
      "output",
      "method",
      "options",
      "macsConvention",
      "before",
      "after",
      "layers",
      "warnings",
    ],
  },
  eval: {
    args: [lenet, "--data", data, "--limit", "64"],
    fields: ["model", "data", "split", "top1", "top5", "loss", "images", "imagesPerSecond", "preprocessing"],
  },
  compare: {
    args: [lenet, lenet, "--data", data, "--limit", "64"],
    fields: ["a", "b", "agreement", "ware", "maxAbsDiff", "meanAbsDiff"],
  },
  scores: {
    args: [resnet, "--data", data, "--batches", "1", "--batch", "8"],
    fields: ["model", "data", "groups", "batches", "images"],
  },
  finetune: {
    args: [
      lenet,
      "-o",
      join(tmp, "f.onnx"),
      "--data",
      data,
      "--epochs",
      "1",
      "--limit",
      "64",
      "--eval-limit",
      "32",
    ],
    fields: ["input", "output", "epochs", "batch", "history", "before", "after", "trainImages", "seconds"],
  },
};

for (const [name, { args, fields }] of Object.entries(COMMANDS)) {
  test(`${name} --json prints one valid JSON document with the documented fields; --quiet is accepted`, () => {
    const r = cli(name, ...args, "--json");
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const f of fields) assert.ok(f in j, `${name} --json lacks ${f}`);
    const q = cli(name, ...args, "--json", "--quiet");
    assert.equal(q.status, 0, q.stderr);
    assert.equal(q.stderr, "");
    JSON.parse(q.stdout);
  });
}

test("download takes --json and --quiet (a real download needs the published files: its JSON is the DownloadResult)", () => {
  const help = cli("download", "--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--json /);
  assert.match(help.stdout, /--quiet /);
  const bad = cli("download", "nope", "--json", "--quiet");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^prunekit: USAGE: [^\n]+\n$/);
});

test("every help has an example line that runs the command, and the main help the exit codes", () => {
  const main = cli("--help");
  assert.equal(main.status, 0);
  assert.match(main.stdout, /Examples:\n {2}prunekit /);
  assert.match(
    main.stdout,
    /Exit codes:\n {2}0 +success\n {2}1 +user error[^\n]*\n(?: {5}[^\n]*\n)* {2}2 +internal error/,
  );
  for (const name of ["info", "prune", "eval", "compare", "scores", "finetune", "download"]) {
    const r = cli(name, "--help");
    assert.equal(r.status, 0, name);
    assert.match(
      r.stdout,
      new RegExp(`\\nExamples?:\\n {2}prunekit ${name} \\S`),
      `${name} --help has no example`,
    );
    assert.match(r.stdout, /--json/, `${name} --help lists --json`);
    assert.match(r.stdout, /--quiet/, `${name} --help lists --quiet`);
  }
});
