import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { encodeModel } from "../../src/onnx/encode.ts";
import { NetBuilder } from "../graph/net-builder.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = join(root, "tests/fixtures");
const manifest = JSON.parse(readFileSync(join(fixtures, "manifest.json"), "utf8")) as {
  models: Record<string, { macs: number; input: { shape: (number | string)[] } }>;
};

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "bin/prunekit.js"), ...args], {
    encoding: "utf8",
    cwd: root,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "prunekit-cli-"));
}

async function runModel(path: string, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const len = shape.reduce((a, b) => a * b, 1);
  const out = await session.run({ input: new ort.Tensor("float32", seededFloats(3, len), shape) });
  return out.output!.data as Float32Array;
}

test("info prints layers, totals and groups for every fixture, and --json matches the manifest's MACs", () => {
  for (const file of Object.keys(manifest.models)) {
    const text = cli("info", join(fixtures, file));
    assert.equal(text.status, 0, `${file}: ${text.stderr}`);
    assert.match(text.stdout, /prunable groups/);
    const json = cli("info", join(fixtures, file), "--json");
    assert.equal(json.status, 0, json.stderr);
    const info = JSON.parse(json.stdout) as { totals: { macs: number }; groups: unknown[] };
    assert.equal(info.totals.macs, manifest.models[file]!.macs, `${file} MACs`);
    assert.ok(info.groups.length > 0);
  }
});

test("info shows the blocks of grouped convs (text and --json); prune --layers refuses a count that is not a multiple", () => {
  const nb = new NetBuilder("x", [3, 6, 6]);
  const a = nb.relu(nb.conv("x", 16, { k: 1 }));
  const y = nb.relu(nb.conv(a, 16, { group: 4 }));
  const out = nb.gemm(nb.flatten(nb.gap(nb.conv(y, 8, { k: 1 }))), 3);
  const path = join(tmp(), "resnext.onnx");
  writeFileSync(path, encodeModel(nb.model([out])));
  const text = cli("info", path);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /16 \(4 blocks\)/);
  const json = JSON.parse(cli("info", path, "--json").stdout) as { groups: { blocks: number }[] };
  assert.deepEqual(
    json.groups.map((g) => g.blocks),
    [4, 4, 1, 1],
  );
  const bad = cli(
    "prune",
    path,
    "-o",
    join(tmp(), "out.onnx"),
    "--method",
    "merge",
    "--layers",
    "Conv_conv1=6",
  );
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /INVALID_ARGUMENT: .*"Conv_conv1".*multiple of 4/);
});

test("info shortens long producer and consumer lists in the table; --json keeps them all", () => {
  // ResNet-20's residual streams have up to five producers or consumers.
  const file = join(fixtures, "trained/resnet20_fmnist.onnx");
  const json = JSON.parse(cli("info", file, "--json").stdout) as {
    groups: { id: number; producers: string[]; consumers: string[] }[];
  };
  const long = json.groups.find((g) => g.producers.length > 3 || g.consumers.length > 3);
  assert.ok(long !== undefined, "resnet20 should have a group with more than three producers or consumers");
  const text = cli("info", file).stdout;
  const row = text.split("\n").find((l) => new RegExp(`^\\s*${long.id}\\s`).test(l));
  assert.ok(row !== undefined, `no table row for group ${long.id}`);
  assert.match(row, /\+\d+ more/);
  for (const name of [...long.producers, ...long.consumers].slice(0, 1)) assert.ok(row.includes(name), name);
});

test("prune --method l1 writes a smaller model that onnxruntime runs, a report, and leaves the input untouched", async () => {
  const dir = tmp();
  for (const file of ["resnet_bn.onnx", "mobilenet_fused.onnx", "concat_bn.onnx", "vggview_bn.onnx"]) {
    const input = join(fixtures, file);
    const before = readFileSync(input);
    const out = join(dir, `small-${file}`);
    const report = join(dir, `${file}.json`);
    const r = cli("prune", input, "-o", out, "--method", "l1", "--ratio", "0.5", "--report", report);
    assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    assert.match(r.stdout, /params .* -> .*MACs/);
    assert.deepEqual(readFileSync(input), before, "input file changed");
    assert.ok(statSync(out).size < before.length);
    const rep = JSON.parse(readFileSync(report, "utf8"));
    assert.equal(rep.method, "l1");
    assert.ok(rep.after.macs < rep.before.macs && rep.after.params < rep.before.params);
    for (const layer of rep.layers) {
      assert.equal(layer.kept.length, layer.channelsAfter);
      assert.deepEqual(
        layer.kept,
        [...layer.kept].sort((a: number, b: number) => a - b),
      );
      assert.ok(layer.channelsAfter >= 1 && layer.channelsAfter <= layer.channelsBefore);
    }
    const shape = manifest.models[file]!.input.shape.map((d) => (typeof d === "number" ? d : 2));
    const y = await runModel(out, shape);
    assert.equal(y.length, 2 * 10);
    assert.ok(y.every(Number.isFinite));
  }
});

test("ratio 0 keeps the model's outputs identical", async () => {
  const dir = tmp();
  const input = join(fixtures, "resnet_bn.onnx");
  const out = join(dir, "same.onnx");
  assert.equal(
    cli("prune", input, "-o", out, "--method", "l2", "--ratio", "0", "--quiet").status,
    1,
    "nothing to prune is an error",
  );
  assert.equal(
    cli("prune", input, "-o", out, "--method", "l2", "--ratio", "0", "--allow-unchanged", "--quiet").status,
    0,
  );
  const shape = [2, 3, 32, 32];
  assert.deepEqual(await runModel(out, shape), await runModel(input, shape));
});

test("--prune-unsafe prunes the layers whose path cannot absorb a merge without merging them (§2.6)", async () => {
  // mobilenet_bn has Clip (ReLU6) after its convs: merging into the next layer is unsafe there.
  const dir = tmp();
  const input = join(fixtures, "mobilenet_bn.onnx");
  const out = join(dir, "m.onnx");
  const reportPath = join(dir, "m.json");
  const r = cli(
    "prune",
    input,
    "-o",
    out,
    "--method",
    "merge",
    "--ratio",
    "0.5",
    "--prune-unsafe",
    "--report",
    reportPath,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    /warning: merge: layer "[^"]+" \(Conv\) cannot be merged: .*Clip.*; pruned without merging/,
  );
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as {
    options: { pruneUnsafe: boolean };
    warnings: string[];
    layers: {
      node: string;
      channelsBefore: number;
      channelsAfter: number;
      merged: number;
      dropped: number;
    }[];
  };
  assert.equal(report.options.pruneUnsafe, true);
  const unsafe = report.warnings.map((w) => /layer "([^"]+)"/.exec(w)![1]!);
  assert.ok(unsafe.length > 0, "no layer was reported as unsafe");
  for (const node of unsafe) {
    const layer = report.layers.find((l) => l.node === node);
    assert.ok(layer !== undefined, `unsafe layer ${node} was not pruned`);
    assert.ok(layer.channelsAfter < layer.channelsBefore, `${node} kept every channel`);
    assert.equal(layer.merged, 0, `${node} was merged across an unsafe path`);
    assert.equal(layer.dropped, layer.channelsBefore - layer.channelsAfter);
  }
  const shape = manifest.models["mobilenet_bn.onnx"]!.input.shape.map((d) => (typeof d === "number" ? d : 1));
  assert.equal((await runModel(out, shape)).length, (await runModel(input, shape)).length);
  // The same run with --skip-unsafe leaves those layers unpruned.
  const skipped = join(dir, "s.json");
  const r2 = cli(
    "prune",
    input,
    "-o",
    join(dir, "s.onnx"),
    "--method",
    "merge",
    "--ratio",
    "0.5",
    "--skip-unsafe",
    "--allow-unchanged",
    "--report",
    skipped,
    "--quiet",
  );
  assert.equal(r2.status, 0, r2.stderr);
  const skippedNodes = (JSON.parse(readFileSync(skipped, "utf8")) as typeof report).layers.map((l) => l.node);
  for (const node of unsafe) assert.ok(!skippedNodes.includes(node), `--skip-unsafe pruned ${node}`);
});

test("user errors print one line with a code and exit 1, never a stack trace", () => {
  const dir = tmp();
  const garbage = join(dir, "garbage.onnx");
  writeFileSync(garbage, new Uint8Array([1, 2, 3, 250, 251, 252, 7, 7, 7]));
  const input = join(fixtures, "mlp.onnx");
  const cases: [string[], RegExp][] = [
    [["info", join(dir, "missing.onnx")], /IO_ERROR: cannot read model .*does not exist/],
    [["info", garbage], /ONNX_(DECODE|INVALID)/],
    [["prune", input, "--method", "l1", "--ratio", "0.5"], /USAGE: missing -o/],
    [["prune", input, "-o", join(dir, "x.onnx"), "--method", "nope"], /USAGE: --method expects one of/],
    [
      ["prune", input, "-o", join(dir, "x.onnx"), "--method", "l1", "--ratio", "1.5"],
      /USAGE: --ratio expects a number in \[0, 1\]/,
    ],
    [["prune", input, "-o", input, "--method", "l1"], /refusing to overwrite/],
    [
      ["prune", input, "-o", join(dir, "x.onnx"), "--method", "l1", "--exclude", "nosuchlayer"],
      /no prunable layer named "nosuchlayer"/,
    ],
    [
      ["prune", input, "-o", join(dir, "x.onnx"), "--method", "l1", "--lambda", "0.5"],
      /--lambda applies to --method merge only/,
    ],
    [["frobnicate"], /USAGE: unknown command/],
    [
      ["prune", join(fixtures, "mobilenet_bn.onnx"), "-o", join(dir, "m.onnx"), "--method", "merge"],
      /UNSAFE_MERGE: .*"[^"]*Clip" \(op Clip\).*--skip-unsafe/,
    ],
    [["info", input, "--bogus"], /USAGE: .*bogus/],
  ];
  for (const [args, pattern] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 1, `${args.join(" ")}: exit ${r.status}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `more than one line on stderr: ${r.stderr}`);
    assert.match(lines[0]!, /^prunekit: [A-Z_]+: /, args.join(" "));
    assert.match(r.stderr, pattern, args.join(" "));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "stack trace printed");
  }
  assert.deepEqual(readFileSync(input), readFileSync(join(fixtures, "mlp.onnx")));
});

test("prune of a model with external data writes a self-contained model that runs from another folder", async () => {
  const { decodeModel } = await import("../../src/onnx/decode.ts");
  const { encodeModel } = await import("../../src/onnx/encode.ts");
  const { mkdirSync } = await import("node:fs");
  const dir = tmp();
  const model = decodeModel(new Uint8Array(readFileSync(join(fixtures, "resnet_bn.onnx"))));
  // Move every initializer with more than 64 values into weights.bin, as PyTorch does for large models.
  const chunks: Uint8Array[] = [];
  let offset = 0;
  model.graph!.initializer = model.graph!.initializer.map((t) => {
    const raw = t.rawData;
    if (raw === undefined || raw.length <= 256) return t;
    chunks.push(raw);
    const entry = [
      { key: "location", value: "weights.bin" },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(raw.length) },
    ];
    offset += raw.length;
    const { rawData: _raw, ...rest } = t;
    return { ...rest, dataLocation: 1, externalData: entry };
  });
  assert.ok(chunks.length > 3);
  const all = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  writeFileSync(join(dir, "weights.bin"), all);
  writeFileSync(join(dir, "model.onnx"), encodeModel(model));
  mkdirSync(join(dir, "elsewhere"));
  const out = join(dir, "elsewhere", "small.onnx");
  const r = cli("prune", join(dir, "model.onnx"), "-o", out, "--method", "l1", "--ratio", "0.25", "--quiet");
  assert.equal(r.status, 0, r.stderr);
  const written = decodeModel(new Uint8Array(readFileSync(out)));
  assert.ok(
    written.graph!.initializer.every((t) => t.dataLocation !== 1),
    "output still points at external data",
  );
  const y = await runModel(out, [2, 3, 32, 32]);
  assert.equal(y.length, 20);
  // The external-data original and the pruned file at ratio 0 agree.
  const same = join(dir, "elsewhere", "same.onnx");
  assert.equal(
    cli(
      "prune",
      join(dir, "model.onnx"),
      "-o",
      same,
      "--method",
      "l1",
      "--ratio",
      "0",
      "--allow-unchanged",
      "--quiet",
    ).status,
    0,
  );
  assert.deepEqual(
    await runModel(same, [2, 3, 32, 32]),
    await runModel(join(fixtures, "resnet_bn.onnx"), [2, 3, 32, 32]),
  );
});

test("prune --method epruner: beta flags by weight name, --merge, a report with exemplars and labels; --target-params reports the chosen beta", async () => {
  const dir = tmp();
  const input = join(fixtures, "trained/resnet20_fmnist.onnx");
  const out = join(dir, "ep.onnx");
  const reportPath = join(dir, "ep.json");
  const r = cli(
    "prune",
    input,
    "-o",
    out,
    "--method",
    "epruner",
    "--beta",
    "1",
    "--layer-beta",
    "layer1.0.conv1.weight=3",
    "--late-beta",
    "6=2",
    "--exclude",
    "layer2.0.conv1.weight",
    "--merge",
    "--report",
    reportPath,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /beta 1\n/);
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  assert.equal(report.method, "epruner");
  assert.equal(report.layers.length, 8);
  const byWeight = new Map(report.layers.map((l: { weight: string }) => [l.weight, l]));
  assert.equal((byWeight.get("layer1.0.conv1.weight") as { beta: number }).beta, 3);
  assert.equal((byWeight.get("layer3.0.conv1.weight") as { beta: number }).beta, 2);
  assert.ok(!byWeight.has("layer2.0.conv1.weight"));
  for (const l of report.layers) {
    assert.deepEqual(l.exemplars, l.kept);
    assert.equal(l.labels.length, l.channelsBefore);
    assert.equal(typeof l.iterations, "number");
    assert.equal(l.converged, true);
    assert.equal(l.merged + l.dropped, l.channelsBefore - l.channelsAfter);
  }
  const y = await runModel(out, [2, 1, 32, 32]);
  assert.equal(y.length, 20);
  assert.ok(y.every(Number.isFinite));
  const t = cli(
    "prune",
    input,
    "-o",
    join(dir, "t.onnx"),
    "--method",
    "epruner",
    "--target-params",
    "0.5",
    "--report",
    join(dir, "t.json"),
    "--quiet",
  );
  assert.equal(t.status, 0, t.stderr);
  const tr = JSON.parse(readFileSync(join(dir, "t.json"), "utf8"));
  assert.ok(tr.after.params <= 0.5 * tr.before.params);
  assert.equal(typeof tr.details.beta, "number");
  assert.equal(tr.details.search.met, true);
  const help = cli("prune", "--help");
  assert.match(help.stdout, /epruner only:[\s\S]*--beta B[\s\S]*--late-beta I=B[\s\S]*--target-macs F/);
  assert.match(help.stdout, /--finetune-epochs N/);
  assert.match(help.stdout, /gate only[^\n]*:\n[\s\S]*--flops-target F[\s\S]*--finetune-epochs N/);
  const bad = cli("prune", input, "-o", join(dir, "b.onnx"), "--method", "epruner", "--ratio", "0.5");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--ratio applies to --method l1 or l2 or merge only, not epruner/);
});

test("prune --method epruner --init random-projection --seed: listed in --help, recorded in the report, runs in onnxruntime", async () => {
  const dir = tmp();
  const input = join(fixtures, "vgg_bn.onnx");
  const args = (out: string, seed: string) =>
    cli(
      "prune",
      input,
      "-o",
      join(dir, out),
      "--method",
      "epruner",
      "--beta",
      "1",
      "--init",
      "random-projection",
      "--seed",
      seed,
      "--report",
      join(dir, `${out}.json`),
      "--quiet",
    );
  for (const [out, seed] of [
    ["a.onnx", "4"],
    ["b.onnx", "4"],
    ["c.onnx", "5"],
  ] as const) {
    const r = args(out, seed);
    assert.equal(r.status, 0, r.stderr);
  }
  const report = JSON.parse(readFileSync(join(dir, "a.onnx.json"), "utf8"));
  assert.equal(report.options.init, "random-projection");
  assert.equal(report.options.seed, 4);
  assert.ok(report.details.randomProjection.length > 0);
  assert.deepEqual(readFileSync(join(dir, "a.onnx")), readFileSync(join(dir, "b.onnx")));
  assert.notDeepEqual(readFileSync(join(dir, "a.onnx")), readFileSync(join(dir, "c.onnx")));
  const y = await runModel(join(dir, "a.onnx"), [2, 1, 28, 28]);
  assert.equal(y.length, 20);
  assert.ok(y.every(Number.isFinite));
  assert.match(cli("prune", "--help").stdout, /--init [^\n]*random-projection/);
  const bad = cli("prune", input, "-o", join(dir, "x.onnx"), "--method", "epruner", "--init", "projection");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /random-projection/);
});

test("--merge-residual prunes and merges the residual streams too (report residualStream, output runs in onnxruntime)", async () => {
  const dir = tmp();
  const input = join(fixtures, "resnet_bn.onnx");
  const shape = manifest.models["resnet_bn.onnx"]!.input.shape.map((d) => (typeof d === "number" ? d : 1));
  const run = (name: string, ...extra: string[]) => {
    const out = join(dir, `${name}.onnx`);
    const reportPath = join(dir, `${name}.json`);
    const r = cli(
      "prune",
      input,
      "-o",
      out,
      "--method",
      "merge",
      "--ratio",
      "0.3",
      "--report",
      reportPath,
      ...extra,
    );
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(readFileSync(reportPath, "utf8")) as {
      options: { mergeResidual: boolean };
      after: { params: number };
      unpruned: { kind: string }[];
      layers: {
        node: string;
        merged: number;
        dropped: number;
        channelsAfter: number;
        residualStream?: string[];
      }[];
    };
    return { out, report };
  };
  const inner = run("inner");
  const streams = run("streams", "--merge-residual");
  assert.equal(streams.report.options.mergeResidual, true);
  const streamLayers = streams.report.layers.filter((l) => l.residualStream !== undefined);
  assert.ok(streamLayers.length >= 2, "a residual stream has several producers");
  assert.ok(streamLayers.every((l) => l.residualStream!.includes(l.node)));
  assert.ok(streamLayers.some((l) => l.merged > 0));
  assert.equal(inner.report.layers.filter((l) => l.residualStream !== undefined).length, 0);
  assert.ok(inner.report.unpruned.some((u) => u.kind === "residual"));
  assert.ok(!streams.report.unpruned.some((u) => u.kind === "residual"));
  assert.ok(streams.report.after.params < inner.report.after.params);
  const y = await runModel(streams.out, shape);
  assert.equal(y.length, (await runModel(input, shape)).length);
  assert.ok(y.every(Number.isFinite));
  const help = cli("prune", "--help");
  assert.match(help.stdout, /--merge-residual/);
});
