// Determinism across runtimes (DESIGN.md, "Baseline SIMD128, deterministic"): the same kernel calls on
// the same fixed-seed inputs give bit-identical outputs in Node, Deno 2 and headless Chromium.
//
// - Node imports tests/runtimes/conformance-cases.ts directly (tsx).
// - Deno runs tests/runtimes/deno-main.ts: it imports the .ts sources natively and resolves
//   @assemblyscript/loader from node_modules (--node-modules-dir=manual); read access only.
// - Chromium gets conformance-cases.ts bundled by esbuild and served from 127.0.0.1 at
//   /tests/runtimes/conformance.bundle.js, the bundle's place in the source tree, so the default
//   `new URL("../../build/prunekit.wasm", import.meta.url)` in src/wasm/load.ts resolves to
//   /build/prunekit.wasm, which the server maps to the repo's build/ folder (served as application/wasm).
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  bundleForBrowser,
  CHROMIUM_ARGS,
  chromiumPath,
  haveChromium,
  NO_CHROMIUM,
  root,
  runDenoJson,
} from "../helpers/runtimes.ts";
import { CASES, type ConformanceReport, NOT_KERNELS, runConformance } from "./conformance-cases.ts";
import { startStaticServer } from "./static-server.ts";

const casesModule = fileURLToPath(new URL("./conformance-cases.ts", import.meta.url));

const node: ConformanceReport = await runConformance();

/** Every export of every wrapper file in src/wasm/kernels/, found by listing the folder. */
const kernelsDir = new URL("../../src/wasm/kernels/", import.meta.url);
const kernels: Record<string, unknown> = Object.assign(
  {},
  ...(await Promise.all(
    readdirSync(kernelsDir)
      .filter((f) => f.endsWith(".ts"))
      .sort()
      .map((f) => import(new URL(f, kernelsDir).href) as Promise<Record<string, unknown>>),
  )),
);

/** Runtimes with relaxed SIMD on by default must detect it and load a working relaxed build. */
function assertRelaxedWorks(runtime: string, report: ConformanceReport): void {
  assert.equal(report.relaxed.supported, true, `${runtime} should have relaxed SIMD without flags`);
  assert.equal(
    report.relaxed.simd,
    "relaxed",
    `${runtime}: createWasm({ simd: "auto" }) did not pick relaxed`,
  );
  const err = report.relaxed.gemmMaxRelError;
  assert.ok(err !== undefined && err < 1e-5, `${runtime}: relaxed GEMM is off the reference by ${err}`);
}

/** Assert that `other` computed exactly what Node did, naming the first case that differs. */
function assertSameAsNode(runtime: string, other: ConformanceReport): void {
  assert.deepEqual(other.wasmFunctions, node.wasmFunctions, `${runtime} loaded a module with other exports`);
  assert.equal(other.results.length, node.results.length, `${runtime} ran a different number of cases`);
  node.results.forEach((expected, i) => {
    assert.deepEqual(other.results[i], expected, `${runtime} differs from Node on case "${expected.name}"`);
  });
}

test("every kernel function exported by src/wasm/kernels/ has a conformance case", () => {
  const covered = new Set(CASES.flatMap((c) => c.covers));
  const missing = Object.entries(kernels)
    .filter(([name, value]) => typeof value === "function" && !NOT_KERNELS.includes(name))
    .map(([name]) => name)
    .filter((name) => !covered.has(name));
  assert.deepEqual(
    missing,
    [],
    `add a case to tests/runtimes/conformance-cases.ts that calls ${missing.join(", ")} (list them in its \`covers\`)`,
  );
  const unknown = [...covered].filter((name) => typeof kernels[name] !== "function");
  assert.deepEqual(unknown, [], "`covers` names functions that src/wasm/kernels/ does not export");
});

test("conformance cases have unique names and produce non-empty, NaN-free outputs in Node", async () => {
  // NaN bit patterns are left nondeterministic by the WebAssembly spec, so a case must not produce one.
  const w = await getWasm();
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, "case names must be unique");
  for (const c of CASES) {
    const out = c.run(w);
    const outputs = Array.isArray(out) ? out : [out];
    assert.ok(
      outputs.some((o) => o.length > 0),
      `case "${c.name}" returned only empty outputs`,
    );
    for (const o of outputs) assert.ok(!Array.from(o).some(Number.isNaN), `case "${c.name}" produced NaN`);
  }
  assert.ok(node.wasmFunctions.length > 0, "the module exports no kernels");
});

test("Deno 2 gives the same output bytes as Node (wasm read from the default file: URL)", async () => {
  const report = (await runDenoJson("tests/runtimes/deno-main.ts", 60_000)) as ConformanceReport;
  assertSameAsNode("Deno", report);
  assertRelaxedWorks("Deno", report);
});

test("headless Chromium gives the same output bytes as Node (wasm fetched from the default http: URL)", async (t) => {
  if (!haveChromium("the browser conformance test")) {
    t.skip(NO_CHROMIUM);
    return;
  }
  const code = await bundleForBrowser(casesModule);
  const server = await startStaticServer(
    new Map([
      ["/tests/runtimes/conformance.bundle.js", code],
      ["/tests/runtimes/conformance.html", "<!doctype html><title>prunekit conformance</title>"],
    ]),
    new Map([["/build/", `${root}build`]]),
  );
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${server.origin}/tests/runtimes/conformance.html`);
    const report = await page.evaluate(async (url) => {
      const m = await import(url);
      return (await m.runConformance()) as unknown;
    }, `${server.origin}/tests/runtimes/conformance.bundle.js`);
    assert.deepEqual(pageErrors, [], "the page reported errors");
    assert.ok(server.requests.includes("200 /build/prunekit.wasm"), `wasm not fetched: ${server.requests}`);
    assertSameAsNode("Chromium", report as ConformanceReport);
    assertRelaxedWorks("Chromium", report as ConformanceReport);
    assert.ok(
      server.requests.includes("200 /build/prunekit.relaxed.wasm"),
      `relaxed wasm not fetched: ${server.requests}`,
    );
  } finally {
    await browser.close();
    await server.close();
  }
});
