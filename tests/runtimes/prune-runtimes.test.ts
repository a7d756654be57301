// The public API prunes identically in Node, Deno 2 and headless Chromium: same output bytes,
// same kept channels, for magnitude and Neuron Merging on real PyTorch exports.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { type PruneCaseResult, runPruneCases } from "./prune-cases.ts";
import { startStaticServer } from "./static-server.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

const node = await runPruneCases(
  async (name) => new Uint8Array(await readFile(new URL(`../fixtures/${name}`, import.meta.url))),
);

test("Node prunes every case to a smaller model", () => {
  assert.ok(node.length >= 5);
  for (const r of node) {
    assert.ok(r.byteLength > 0 && r.macsAfter > 0, r.name);
    assert.ok(r.kept.length > 0, `${r.name}: no layer pruned`);
  }
});

test("Deno 2 prunes to the same bytes as Node", async () => {
  const { stdout } = await promisify(execFile)(
    denoBin,
    [
      "run",
      "--no-lock",
      "--node-modules-dir=manual",
      "--cached-only",
      `--allow-read=${root}`,
      "tests/runtimes/deno-prune-main.ts",
    ],
    { cwd: root, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000 },
  );
  const deno = JSON.parse(stdout.trim().split("\n").at(-1) ?? "[]") as PruneCaseResult[];
  assert.deepEqual(deno, node);
});

test("headless Chromium prunes to the same bytes as Node", async (t) => {
  if (!existsSync(chromiumPath)) {
    const why = `${chromiumPath} not found: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH`;
    console.warn(`\n!!! SKIPPING the browser prune test: ${why}\n`);
    t.skip(why);
    return;
  }
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL("./prune-cases.ts", import.meta.url))],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["node:*"],
    logLevel: "silent",
  });
  const server = await startStaticServer(
    new Map([
      ["/tests/runtimes/prune.bundle.js", bundle.outputFiles[0]!.text],
      ["/tests/runtimes/prune.html", "<!doctype html><title>prunekit prune</title>"],
    ]),
    new Map([
      ["/build/", `${root}build`],
      ["/tests/fixtures/", `${root}tests/fixtures`],
    ]),
  );
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.origin}/tests/runtimes/prune.html`);
    const results = await page.evaluate(async (origin) => {
      const m = await import(`${origin}/tests/runtimes/prune.bundle.js`);
      return await m.runPruneCases(
        async (name: string) =>
          new Uint8Array(await (await fetch(`${origin}/tests/fixtures/${name}`)).arrayBuffer()),
      );
    }, server.origin);
    assert.deepEqual(errors, []);
    assert.deepEqual(results, node);
  } finally {
    await browser.close();
    await server.close();
  }
});
