// The CLI's error contract on the cases the hardening issue found: one line on stderr, exit 1, and no
// output left behind by a command that failed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const model = "tests/fixtures/lenet300.onnx";
const tmp = mkdtempSync(join(tmpdir(), "prunekit-contract-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("prunekit with no arguments: USAGE on stderr in one line, the help on stdout, exit 1", () => {
  const r = cli();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^prunekit: USAGE: [^\n]+\n$/);
  assert.match(r.stdout, /Usage:/);
});

test("negative option values are read as values and refused in one line naming the flag", () => {
  for (const [flag, method] of [
    ["--ratio", "l1"],
    ["--lambda", "merge"],
  ] as const) {
    const r = cli("prune", model, "-o", join(tmp, "n.onnx"), "--method", method, flag, "-1");
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^prunekit: USAGE: ${flag} expects [^\\n]+-1[^\\n]*\\n$`));
  }
  const missing = cli("prune", model, "-o", join(tmp, "n.onnx"), "--method", "l1", "--ratio");
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split("\n").length, 1);
});

test("a report that cannot be written leaves no model behind (prune and finetune)", () => {
  const blocker = join(tmp, "afile");
  writeFileSync(blocker, "x");
  const out = join(tmp, "left.onnx");
  const r = cli(
    "prune",
    model,
    "-o",
    out,
    "--method",
    "l1",
    "--ratio",
    "0.5",
    "--report",
    join(blocker, "r.json"),
    "--quiet",
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^prunekit: IO_ERROR: /);
  assert.equal(existsSync(out), false);
  const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;
  const f = cli(
    "finetune",
    model,
    "-o",
    out,
    "--data",
    data,
    "--epochs",
    "1",
    "--limit",
    "64",
    "--no-eval",
    "--report",
    join(blocker, "r.json"),
    "--quiet",
  );
  assert.equal(f.status, 1);
  assert.match(f.stderr, /^prunekit: IO_ERROR: /);
  assert.equal(existsSync(out), false);
  const under = cli(
    "prune",
    model,
    "-o",
    join(blocker, "out.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0.5",
    "--quiet",
  );
  assert.equal(under.status, 1);
  assert.match(under.stderr, /^prunekit: IO_ERROR: [^\n]+\n$/);
});

test("an unknown flag is one line with a did-you-mean suggestion when one is close", () => {
  const r = cli("prune", model, "-o", join(tmp, "x.onnx"), "--method", "l1", "--raito", "0.5");
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "prunekit: USAGE: unknown option --raito; did you mean --ratio?\n");
  const far = cli("info", model, "--zzzzzz");
  assert.equal(far.stderr, "prunekit: USAGE: unknown option --zzzzzz\n");
});

test("piped stderr gets one plain line per phase that took a second or more, and nothing with --quiet", () => {
  const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;
  const r = cli(
    "eval",
    "tests/fixtures/trained/resnet20_fmnist.onnx",
    "--data",
    data,
    "--limit",
    "400",
    "--batch",
    "8",
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trim() === "" ? [] : r.stderr.trim().split("\n");
  assert.ok(
    lines.every((l) => /^evaluate: 400\/400 in \d+\.\d s/.test(l)),
    r.stderr,
  );
  assert.ok(lines.length <= 1);
  const q = cli(
    "eval",
    "tests/fixtures/trained/resnet20_fmnist.onnx",
    "--data",
    data,
    "--limit",
    "400",
    "--quiet",
  );
  assert.equal(q.stderr, "");
});

test("nothing to prune is NOTHING_TO_PRUNE with the reasons, unless --allow-unchanged; the report lists unpruned groups", () => {
  const r = cli(
    "prune",
    "tests/fixtures/trained/resnet20_fmnist.onnx",
    "-o",
    join(tmp, "same.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0",
  );
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^prunekit: NOTHING_TO_PRUNE: l1 would remove no channel \(1 frozen, 12 kept whole; [^\n]*--allow-unchanged[^\n]*\n$/,
  );
  assert.equal(existsSync(join(tmp, "same.onnx")), false);
  const ok = cli(
    "prune",
    "tests/fixtures/trained/resnet20_fmnist.onnx",
    "-o",
    join(tmp, "same.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0",
    "--allow-unchanged",
    "--quiet",
  );
  assert.equal(ok.status, 0, ok.stderr);
  const report = join(tmp, "merge.json");
  const m = cli(
    "prune",
    "tests/fixtures/trained/resnet20_fmnist.onnx",
    "-o",
    join(tmp, "m.onnx"),
    "--method",
    "merge",
    "--ratio",
    "0.3",
    "--report",
    report,
  );
  assert.equal(m.status, 0, m.stderr);
  assert.match(m.stdout, /4 group\(s\) left unpruned: 3 residual streams or outputs, 1 frozen; see /);
  const j = JSON.parse(readFileSync(report, "utf8")) as {
    unpruned: { group: number; kind: string; reason: string }[];
  };
  assert.deepEqual(j.unpruned.map((u) => u.kind).sort(), ["frozen", "residual", "residual", "residual"]);
  assert.ok(j.unpruned.every((u) => u.reason.length > 0));
});
