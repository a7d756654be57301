// The public API prunes identically in Node, Deno 2 and headless Chromium: same output bytes,
// same kept channels, for magnitude and Neuron Merging on real PyTorch exports.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import {
  bundleForBrowser,
  CHROMIUM_ARGS,
  chromiumPath,
  haveChromium,
  NO_CHROMIUM,
  root,
  runDenoJson,
} from "../helpers/runtimes.ts";
import { type PruneCaseResult, runPruneCases } from "./prune-cases.ts";
import { startStaticServer } from "./static-server.ts";

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
  const deno = (await runDenoJson("tests/runtimes/deno-prune-main.ts")) as PruneCaseResult[];
  assert.deepEqual(deno, node);
});

test("headless Chromium prunes to the same bytes as Node", async (t) => {
  if (!haveChromium("the browser prune test")) {
    t.skip(NO_CHROMIUM);
    return;
  }
  const code = await bundleForBrowser(fileURLToPath(new URL("./prune-cases.ts", import.meta.url)));
  const server = await startStaticServer(
    new Map([
      ["/tests/runtimes/prune.bundle.js", code],
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
