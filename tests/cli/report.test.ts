// The user's side of prune and finetune (the built CLI in a child process): --report-md, --chart and
// --chart-accuracy files; all outputs or none; --dry-run prints the plan, writes nothing, and its numbers
// equal a real prune's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const vgg = "tests/fixtures/vgg_bn.onnx";
const lenet = "tests/fixtures/lenet300.onnx";
const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;
const tmp = mkdtempSync(join(tmpdir(), "prunekit-report-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh empty folder. */
function dir(name: string): string {
  const d = join(tmp, name);
  rmSync(d, { recursive: true, force: true });
  return mkdtempSync(`${d}-`);
}

test("prune --report --report-md --chart --json writes the model, the JSON and Markdown reports and an SVG", () => {
  const d = dir("all");
  const out = join(d, "small.onnx");
  const r = cli(
    "prune",
    vgg,
    "-o",
    out,
    "--method",
    "merge",
    "--ratio",
    "0.5",
    "--report",
    join(d, "r.json"),
    "--report-md",
    join(d, "r.md"),
    "--chart",
    join(d, "c.svg"),
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const printed = JSON.parse(r.stdout);
  const saved = JSON.parse(readFileSync(join(d, "r.json"), "utf8"));
  assert.equal(printed.method, "merge");
  assert.equal(printed.output, out);
  for (const k of ["before", "after", "layers", "options", "macsConvention", "warnings", "timings"])
    assert.ok(k in printed, k);
  assert.deepEqual(printed.after, saved.after);
  const md = readFileSync(join(d, "r.md"), "utf8");
  assert.match(md, /^# prunekit prune: merge\n/);
  for (const l of printed.layers as { node: string; channelsBefore: number; channelsAfter: number }[])
    assert.ok(
      md.includes(`| ${l.node} |`) && md.includes(`${l.channelsBefore} → ${l.channelsAfter}`),
      l.node,
    );
  const svg = readFileSync(join(d, "c.svg"), "utf8");
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.includes(printed.layers[0].node), "the chart names the layers");
  assert.deepEqual(
    readdirSync(d).sort(),
    ["c.svg", "r.json", "r.md", "small.onnx"],
    "no temporary file left",
  );
});

test("a --chart that cannot be written leaves no model and no report behind", () => {
  const d = dir("atomic");
  const blocker = join(d, "afile");
  writeFileSync(blocker, "x");
  const r = cli(
    "prune",
    vgg,
    "-o",
    join(d, "m.onnx"),
    "--method",
    "l1",
    "--report",
    join(d, "r.json"),
    "--report-md",
    join(d, "r.md"),
    "--chart",
    join(blocker, "c.svg"),
    "--quiet",
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^prunekit: IO_ERROR: [^\n]*c\.svg[^\n]*\n$/);
  assert.deepEqual(readdirSync(d), ["afile"]);
});

test("outputs on the input or on each other are refused before any work, nothing written", () => {
  const d = dir("clash");
  const out = join(d, "m.onnx");
  for (const [flag, path] of [
    ["--chart", vgg],
    ["--report-md", out],
    ["--chart", join(d, "r.md")],
  ] as const) {
    const r = cli("prune", vgg, "-o", out, "--method", "l1", "--report-md", join(d, "r.md"), flag, path);
    assert.equal(r.status, 1, `${flag} ${path}`);
    assert.match(r.stderr, /^prunekit: USAGE: refusing to overwrite [^\n]+\n$/);
  }
  const f = cli("finetune", lenet, "-o", out, "--data", data, "--epochs", "1", "--report-md", lenet);
  assert.equal(f.status, 1);
  assert.match(f.stderr, /^prunekit: USAGE: refusing to overwrite /);
  assert.deepEqual(readdirSync(d), []);
});

test("--chart-accuracy: an SVG from the fine-tuning's accuracy; refused without accuracy data", () => {
  const d = dir("acc");
  const none = cli(
    "prune",
    lenet,
    "-o",
    join(d, "m.onnx"),
    "--method",
    "l1",
    "--chart-accuracy",
    join(d, "a.svg"),
  );
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^prunekit: USAGE: --chart-accuracy needs accuracy measurements[^\n]+\n$/);
  assert.deepEqual(readdirSync(d), []);
  const r = cli(
    "prune",
    lenet,
    "-o",
    join(d, "m.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0.5",
    "--finetune-epochs",
    "1",
    "--data",
    data,
    "--finetune-limit",
    "128",
    "--eval-limit",
    "64",
    "--chart-accuracy",
    join(d, "a.svg"),
    "--report-md",
    join(d, "r.md"),
    "--quiet",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(d, "a.svg"), "utf8"), /^<svg/);
  const md = readFileSync(join(d, "r.md"), "utf8");
  assert.match(md, /## Fine-tuning/);
  assert.match(md, /### Epochs\n\n\| epoch \|/);
});

test("finetune --report-md writes the Markdown report next to the model", () => {
  const d = dir("ft");
  const r = cli(
    "finetune",
    lenet,
    "-o",
    join(d, "t.onnx"),
    "--data",
    data,
    "--epochs",
    "1",
    "--limit",
    "128",
    "--eval-limit",
    "64",
    "--report-md",
    join(d, "t.md"),
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const k of ["epochs", "history", "before", "after", "trainImages", "options"]) assert.ok(k in j, k);
  const md = readFileSync(join(d, "t.md"), "utf8");
  assert.match(md, /^# prunekit finetune\n/);
  assert.match(md, /\| accuracy \|/);
  assert.equal((md.match(/^\| 1 \|/gm) ?? []).length, 1, "one epoch row");
});

test("--dry-run prints the plan, writes nothing even with -o, and equals a real prune (l1, merge, epruner)", () => {
  const d = dir("dry");
  const text = cli("prune", vgg, "--method", "merge", "--ratio", "0.5", "--dry-run", "-o", join(d, "m.onnx"));
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^dry run of --method merge: nothing was written\n/);
  assert.match(text.stdout, /\nMACs +[\d.]+K -> [\d.]+K \(-[\d.]+%; \d+ -> \d+\)\n/);
  assert.match(text.stdout, /\nparams +/);
  assert.deepEqual(readdirSync(d), []);
  for (const args of [
    ["--method", "l1", "--ratio", "0.5"],
    ["--method", "merge", "--ratio", "0.3"],
    ["--method", "epruner", "--beta", "0.75"],
  ]) {
    const dry = cli("prune", vgg, ...args, "--dry-run", "--json");
    assert.equal(dry.status, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.dryRun, true);
    const real = cli("prune", vgg, ...args, "-o", join(d, "real.onnx"), "--json");
    assert.equal(real.status, 0, real.stderr);
    const report = JSON.parse(real.stdout);
    assert.deepEqual(plan.after, report.after, args.join(" "));
    assert.deepEqual(plan.before, report.before);
    assert.ok(plan.after.macs < plan.before.macs);
    assert.deepEqual(
      plan.layers.map((l: { node: string; channelsAfter: number }) => [l.node, l.channelsAfter]),
      report.layers.map((l: { node: string; channelsAfter: number }) => [l.node, l.channelsAfter]),
    );
    rmSync(join(d, "real.onnx"));
  }
  assert.deepEqual(readdirSync(d), []);
});

test("--dry-run refuses the flags that write and the gate method, in one line", () => {
  for (const [args, why] of [
    [["--method", "l1", "--report-md", "x.md"], /--report-md does not apply with --dry-run/],
    [["--method", "l1", "--chart", "x.svg"], /--chart does not apply with --dry-run/],
    [
      ["--method", "gate", "--flops-target", "0.5", "--data", data],
      /--dry-run does not apply to --method gate/,
    ],
  ] as const) {
    const r = cli("prune", vgg, ...args, "--dry-run");
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^prunekit: USAGE: [^\n]+\n$/);
    assert.match(r.stderr, why);
  }
  assert.equal(existsSync(join(root, "x.md")) || existsSync(join(root, "x.svg")), false);
});

test("--report - prints the JSON report alone on stdout (the summary on stderr), with read, decode, plan, surgery, encode and write timings", () => {
  const d = dir("stdout");
  const out = join(d, "small.onnx");
  const r = cli("prune", vgg, "-o", out, "--method", "l1", "--ratio", "0.5", "--report", "-");
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { output: string; timings: Record<string, number> };
  assert.equal(report.output, out);
  for (const k of ["read", "decode", "plan", "decomposition", "surgery", "encode", "write"])
    assert.ok(typeof report.timings[k] === "number" && report.timings[k]! >= 0, k);
  assert.match(r.stderr, /params .* -> .*MACs/);
  assert.match(r.stderr, /wrote .*small\.onnx/);
  assert.deepEqual(readdirSync(d), ["small.onnx"], "no file named -");
  const md = cli("prune", vgg, "-o", join(d, "b.onnx"), "--method", "l1", "--report-md", "-", "--quiet");
  assert.equal(md.status, 0, md.stderr);
  assert.match(md.stdout, /^# /);
  assert.ok(!readdirSync(d).includes("-"));
  const both = cli("prune", vgg, "-o", join(d, "c.onnx"), "--method", "l1", "--report", "-", "--json");
  assert.equal(both.status, 1);
  assert.match(both.stderr, /USAGE: only one of --report -, --json can print on stdout/);
});

test("-o naming an existing folder is IO_ERROR naming it, before any work, nothing left behind (prune and finetune)", () => {
  const d = dir("folder");
  const r = cli("prune", vgg, "-o", d, "--method", "l1");
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`IO_ERROR: output path "${d}" is a directory`));
  assert.doesNotMatch(r.stderr, /\.tmp/);
  const report = cli("prune", vgg, "-o", join(d, "a.onnx"), "--method", "l1", "--report", d);
  assert.match(report.stderr, /IO_ERROR: output path .* is a directory/);
  const f = cli("finetune", lenet, "-o", d, "--data", data, "--epochs", "1");
  assert.equal(f.status, 1);
  assert.match(f.stderr, /IO_ERROR: output path .* is a directory/);
  assert.deepEqual(readdirSync(d), []);
});

test("--round-to is in prune --help for every method and rounds the widths; the report records it", () => {
  const help = cli("prune", "--help");
  assert.match(
    help.stdout,
    /--round-to N\s+round every pruned layer's kept count to the nearest multiple of N/,
  );
  const common = help.stdout.slice(0, help.stdout.indexOf(" only:"));
  assert.ok(common.includes("--round-to"), "listed with the options of every method");
  const d = dir("round");
  const r = cli(
    "prune",
    "tests/fixtures/resnet_bn.onnx",
    "-o",
    join(d, "r.onnx"),
    "--method",
    "l1",
    "--ratio",
    "0.3",
    "--round-to",
    "4",
    "--json",
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    options: { roundTo: number };
    layers: { channelsAfter: number; channelsBefore: number; keptBeforeRounding?: number }[];
  };
  assert.equal(j.options.roundTo, 4);
  assert.ok(j.layers.every((l) => l.channelsAfter % 4 === 0));
  assert.ok(j.layers.some((l) => l.keptBeforeRounding !== undefined));
  const bad = cli("prune", vgg, "-o", join(d, "x.onnx"), "--method", "l1", "--round-to", "0");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--round-to/);
});
