// The browser app end to end in headless Chromium: build dist/web, serve it, upload a model through the
// page's file input, prune with Neuron Merging, download the model and the report. The downloaded
// model loads in onnxruntime with the expected widths and is byte-identical to the CLI's output for
// the same options; a malformed upload shows its error and leaves the app usable.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { chromium, type Page } from "playwright-core";
import { describeModel, loadModel } from "../../src/api.ts";
import { CHROMIUM_ARGS, chromiumPath, haveChromium, NO_CHROMIUM, root } from "../helpers/runtimes.ts";
import { startStaticServer } from "../runtimes/static-server.ts";

const run = promisify(execFile);
const fixture = join(root, "tests/fixtures/lenet300.onnx");

/** The CLI's output for `prunekit prune lenet300.onnx --method merge --ratio 0.5` (builds dist/ if needed). */
async function cliPrune(dir: string): Promise<Uint8Array> {
  if (!existsSync(join(root, "dist/cli/main.js"))) {
    await run(
      process.execPath,
      [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
      {
        cwd: root,
      },
    );
  }
  const out = join(dir, "cli.onnx");
  await run(process.execPath, [
    join(root, "bin/prunekit.js"),
    "prune",
    fixture,
    "-o",
    out,
    "--method",
    "merge",
    "--ratio",
    "0.5",
  ]);
  return new Uint8Array(await readFile(out));
}

/** Click a download link and return the downloaded file's name and bytes. */
async function download(page: Page, testId: string): Promise<{ name: string; bytes: Uint8Array }> {
  const [file] = await Promise.all([page.waitForEvent("download"), page.getByTestId(testId).click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), bytes: new Uint8Array(await readFile(path)) };
}

test("the browser app prunes an uploaded model to the CLI's bytes and survives a malformed upload", async (t) => {
  if (!haveChromium("the browser app end-to-end test")) {
    t.skip(NO_CHROMIUM);
    return;
  }
  const work = await mkdtemp(join(tmpdir(), "prunekit-web-"));
  const artifacts = join(tmpdir(), "prunekit-test-artifacts");
  await mkdir(artifacts, { recursive: true });
  const [, cliBytes] = await Promise.all([
    run(process.execPath, [join(root, "scripts/build-web.mjs")], { cwd: root }),
    cliPrune(work),
  ]);
  // No node: import is reachable in the browser (esbuild is run with no externals): neither bundle
  // imports one, statically or dynamically.
  const nodeImport = /\b(?:import|from|require)\s*\(?\s*["'`]node:[^"'`]*/g;
  const main = await readFile(join(root, "dist/web/main.js"), "utf8");
  const worker = await readFile(join(root, "dist/web/worker.js"), "utf8");
  assert.equal(main.match(nodeImport), null, "main.js imports a node: module");
  assert.equal(worker.match(nodeImport), null, "worker.js imports a node: module");
  const server = await startStaticServer(new Map(), new Map([["/", join(root, "dist/web")]]));
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
    await page.goto(`${server.origin}/index.html`);

    // A malformed upload: its PrunekitError message is shown, and the app stays usable.
    await page.getByTestId("model-file").setInputFiles({
      name: "broken.onnx",
      mimeType: "application/octet-stream",
      buffer: Buffer.from([0x08, 0xff, 0x12, 0x7f, 0x01, 0x9a, 0x3c]),
    });
    const error = page.getByTestId("error");
    await error.waitFor({ state: "visible", timeout: 15_000 });
    const message = (await error.textContent()) ?? "";
    assert.ok(message.length > 10, `error message: ${JSON.stringify(message)}`);
    assert.match(message, /\([A-Z_]+\)$/, "the message ends with the PrunekitError code");

    // A valid model: layer table, then merge at ratio 0.5.
    await page.getByTestId("model-file").setInputFiles(fixture);
    await page.locator('[data-testid="layer-table"] tbody tr').first().waitFor({ timeout: 15_000 });
    assert.ok(await error.isHidden(), "a successful load clears the error");
    const table = (await page.getByTestId("layer-table").textContent()) ?? "";
    assert.match(table, /\/fc1\/Gemm/);
    assert.match(table, /frozen/, "the output layer's group is shown as frozen with its reason");
    await page.getByTestId("method").selectOption("merge");
    await page.getByTestId("ratio").fill("0.5");
    await page.getByTestId("run").click();
    const chart = page.getByTestId("chart");
    await chart.waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId("progress").getAttribute("value"), "1");
    assert.match((await chart.textContent()) ?? "", /\/fc1\/Gemm/);
    const shot = join(artifacts, "web-app.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`web app screenshot: ${shot}`);

    const model = await download(page, "download-model");
    assert.equal(model.name, "lenet300.pruned.onnx");
    assert.ok(
      Buffer.from(model.bytes).equals(Buffer.from(cliBytes)),
      "the page's model equals the CLI's bytes",
    );
    const report = await download(page, "download-report");
    const json = JSON.parse(new TextDecoder().decode(report.bytes)) as {
      method: string;
      options: Record<string, unknown>;
      layers: { node: string; channelsBefore: number; channelsAfter: number }[];
    };
    assert.equal(json.method, "merge");
    assert.equal(json.options.ratio, 0.5);
    assert.deepEqual(
      json.layers.map((l) => [l.node, l.channelsBefore, l.channelsAfter]),
      [
        ["/fc1/Gemm", 300, 150],
        ["/fc2/Gemm", 100, 50],
      ],
    );

    // onnxruntime is the referee: the file loads and runs, with the pruned widths.
    const session = await ort.InferenceSession.create(model.bytes);
    const input = new ort.Tensor("float32", new Float32Array(2 * 28 * 28).fill(0.5), [2, 1, 28, 28]);
    const out = await session.run({ [session.inputNames[0]!]: input });
    assert.deepEqual(out[session.outputNames[0]!]!.dims, [2, 10]);
    const widths = describeModel(await loadModel(model.bytes)).layers.map((l) => l.outputShape?.at(-1));
    assert.deepEqual(widths, [150, 50, 10]);

    // Other methods from the same page: only the chosen method's options are sent (prune() refuses
    // the ratio for EPruner, and β for the others).
    const chartTitle = (method: string) =>
      page.waitForFunction(
        (m) => document.querySelector('[data-testid="chart"] title')?.textContent?.endsWith(`by ${m}`),
        method,
      );
    await page.getByTestId("method").selectOption("epruner");
    assert.ok(await page.getByTestId("ratio").isHidden(), "EPruner takes no ratio");
    await page.getByTestId("beta").fill("0.75");
    await page.getByTestId("run").click();
    await chartTitle("epruner");
    // Keyboard only: the controls are labelled, and Enter on the focused button runs.
    for (const [label, testId] of [
      ["Method", "method"],
      ["β (preference coefficient)", "beta"],
      ["Choose an .onnx file, or drop one here", "model-file"],
    ] as const) {
      assert.equal(await page.getByLabel(label, { exact: true }).getAttribute("data-testid"), testId);
    }
    await page.getByTestId("method").focus();
    await page.getByTestId("method").selectOption("l1");
    assert.equal(
      await page.getByLabel("Ratio of channels removed per layer").getAttribute("data-testid"),
      "ratio",
    );
    await page.getByTestId("run").focus();
    await page.keyboard.press("Enter");
    await chartTitle("l1");
    assert.ok(await error.isHidden(), (await error.textContent()) ?? "");
    assert.deepEqual(pageErrors, [], `requests: ${server.requests.join(", ")}`);
    assert.ok(
      server.requests.every((r) => r.startsWith("200 ")),
      `every request is served: ${server.requests.join(", ")}`,
    );
  } finally {
    await browser.close();
    await server.close();
    await rm(work, { recursive: true, force: true });
  }
});
