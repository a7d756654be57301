// `prunekit eval`, `compare` and `download` as a user runs them (the built CLI in a child process):
// the JSON contract fields, one-line usage errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const model = "tests/fixtures/trained/resnet20_fmnist.onnx";
const data = `fashion-mnist:${fileURLToPath(new URL("../fixtures/fashion-mnist-slice/", import.meta.url))}`;

function cli(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["bin/prunekit.js", ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("prunekit eval --json has top1/top5 as fractions, loss, images, imagesPerSecond", () => {
  const r = cli("eval", model, "--data", data, "--limit", "64", "--batch", "32", "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.images, 64);
  for (const k of ["top1", "top5"]) assert.ok(j[k] >= 0 && j[k] <= 1, `${k} = ${j[k]}`);
  assert.ok(j.top5 >= j.top1 && j.top1 > 0.5);
  assert.ok(j.loss > 0 && j.imagesPerSecond > 0);
});

test("prunekit compare of a model with itself: agreement 1, WARE 0", () => {
  const r = cli("compare", model, model, "--data", data, "--limit", "32", "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.agreement, 1);
  assert.equal(j.ware, 0);
  assert.equal(j.maxAbsDiff, 0);
  assert.equal(j.a.top1, j.b.top1);
});

test("eval without --data and download of an unknown dataset are one-line usage errors", () => {
  for (const args of [
    ["eval", model],
    ["download", "imagenet"],
  ]) {
    const r = cli(...args);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^prunekit: USAGE: .+\n$/);
  }
});
