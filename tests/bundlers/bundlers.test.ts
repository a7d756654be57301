// The published package as bundled apps use it (issue #9): `npm pack` makes the tarball, which is
// unpacked into a temporary project's node_modules/prunekit (its dependencies linked from this repo's
// node_modules, so no network is needed); the app in tests/bundlers/app/ is bundled for the browser by
// esbuild (no `external`; prunekit.wasm copied next to the bundle and named with setWasmSource) and by
// Vite (which emits the wasm asset itself), both pages run `prune` in headless Chromium, and the output
// bytes must equal those of the same app run by Node from the same tarball.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { build as esbuild } from "esbuild";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, chromiumPath, haveChromium, NO_CHROMIUM, root } from "../helpers/runtimes.ts";
import { startStaticServer } from "../runtimes/static-server.ts";

const run = promisify(execFile);

/** Fixture × options, as the app gets them; one magnitude and one Neuron Merging run. */
const CASES: { fixture: string; options: Record<string, unknown> }[] = [
  { fixture: "resnet_bn.onnx", options: { method: "l1", ratio: 0.5 } },
  { fixture: "vgg_bn.onnx", options: { method: "merge", ratio: 0.6, criterion: "gm" } },
];

interface RunResult {
  sha256: string;
  byteLength: number;
  kept: number[][];
}

const work = await mkdtemp(join(tmpdir(), "prunekit-bundlers-"));
after(() => rm(work, { recursive: true, force: true }));
const appDir = join(work, "app");
const siteDir = join(work, "site");
const installed = join(appDir, "node_modules", "prunekit");

/** Every file under `dir`, as paths relative to it with "/" separators. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split("\\").join("/"))
    .sort();
}

/** `npm pack` this repo into `work` (scripts off: dist/ and build/ are already built) and unpack it. */
async function packAndInstall(): Promise<void> {
  for (const want of ["dist/index.js", "build/prunekit.wasm"]) {
    assert.ok(existsSync(join(root, want)), `${want} is missing: run \`npm run build\` first`);
  }
  // Under `npm test`, npm_execpath is the npm that runs the tests (not an old npm in node_modules/.bin).
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] = npmCli?.endsWith(".js") ? [process.execPath, [npmCli]] : ["npm", []];
  const { stdout } = await run(
    cmd,
    [...pre, "pack", "--json", "--ignore-scripts", "--pack-destination", work],
    { cwd: root, timeout: 120_000 },
  );
  const tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  mkdirSync(installed, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"], { timeout: 60_000 });
  // What `npm install <tarball>` would add: the package's dependencies, here linked from this repo.
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    const link = join(appDir, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(root, "node_modules", name), link, "dir");
  }
  cpSync(join(root, "tests/bundlers/app"), appDir, { recursive: true });
  // The app's own manifest, as `npm install <tarball>` leaves it (Deno reads it to resolve "prunekit").
  writeFileSync(
    join(appDir, "package.json"),
    JSON.stringify({ type: "module", dependencies: { prunekit: `file:${basename(tarball)}` } }),
  );
}

// Setup runs before any test is registered: the runner starts the first test as soon as it exists.
await packAndInstall();

/** The app run by Node from the installed tarball: `import "prunekit"` through its exports map. */
async function runInNode(): Promise<RunResult[]> {
  const script = `
    import { readFile } from "node:fs/promises";
    import { run } from "./run.js";
    const cases = ${JSON.stringify(CASES)};
    const out = [];
    for (const c of cases) out.push(await run(await readFile(${JSON.stringify(join(root, "tests/fixtures"))} + "/" + c.fixture), c.options));
    console.log(JSON.stringify(out));
  `;
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", script], {
    cwd: appDir,
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as RunResult[];
}

const node = await runInNode();

test("the packed package holds the library, both wasm builds and the CLI, and no tests", () => {
  const files = listFiles(installed);
  for (const want of [
    "package.json",
    "README.md",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/node/index.js",
    "build/prunekit.wasm",
    "build/prunekit.relaxed.wasm",
    "bin/prunekit.js",
  ]) {
    assert.ok(files.includes(want), `npm pack leaves out ${want}`);
  }
  const unwanted = files.filter((f) => /^(tests|bench|scripts|\.scratch|node_modules|dist\/web)\//.test(f));
  assert.deepEqual(unwanted, [], "npm pack ships files that are not the library");
});

test("Node runs the app from the installed tarball and prunes every case", () => {
  assert.equal(node.length, CASES.length);
  for (const [i, r] of node.entries()) {
    const original = readFileSync(join(root, "tests/fixtures", CASES[i]!.fixture)).length;
    assert.ok(r.byteLength < original, `${CASES[i]!.fixture}: not smaller (${r.byteLength} >= ${original})`);
  }
});

test("Deno runs the app from the installed tarball (npm:prunekit) to Node's output bytes", async () => {
  const deno = join(root, "node_modules/.bin/deno");
  const { stdout } = await run(
    deno,
    [
      "run",
      "--no-lock",
      "--node-modules-dir=manual",
      "--cached-only",
      `--allow-read=${work},${root}`,
      "deno-main.js",
      JSON.stringify(CASES),
      join(root, "tests/fixtures"),
    ],
    { cwd: appDir, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000 },
  );
  assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), node);
});

/** The `node:` imports left in a bundle (static, dynamic or require), as the text that has them. */
function nodeImports(bundle: string): string[] {
  return [...bundle.matchAll(/(?:\bimport|\bfrom|\brequire\s*\(|\bimport\s*\()\s*["'`]node:[^"'`]*/g)].map(
    (m) => m[0],
  );
}

let esbuildSite: string | undefined;
let viteSite: string | undefined;
let webpackSite: string | undefined;

test("esbuild bundles the app for the browser with nothing external and no warnings", async () => {
  const out = join(siteDir, "esbuild");
  const result = await esbuild({
    entryPoints: [join(appDir, "esbuild-entry.js")],
    outdir: out,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  assert.deepEqual(result.warnings, []);
  assert.deepEqual(nodeImports(readFileSync(join(out, "esbuild-entry.js"), "utf8")), []);
  // The recipe's copy step (docs/bundlers.md).
  await copyFile(join(installed, "build/prunekit.wasm"), join(out, "prunekit.wasm"));
  esbuildSite = out;
});

test("Vite bundles the app and emits prunekit.wasm as an asset by itself", async () => {
  const { build, createLogger } = await import("vite");
  const warnings: string[] = [];
  const logger = createLogger("warn", { allowClearScreen: false });
  logger.warn = (msg) => warnings.push(msg);
  logger.warnOnce = (msg) => warnings.push(msg);
  const out = join(siteDir, "vite");
  await build({
    root: appDir,
    base: "./",
    configFile: false,
    logLevel: "warn",
    customLogger: logger,
    build: { outDir: out, emptyOutDir: true, chunkSizeWarningLimit: 4096 },
  });
  assert.deepEqual(warnings, []);
  const files = listFiles(out);
  assert.ok(
    files.some((f) => /^assets\/prunekit-[\w-]+\.wasm$/.test(f)),
    `no prunekit.wasm asset in ${files.join(", ")}`,
  );
  const js = files.filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(out, f), "utf8"));
  assert.ok(js.length > 0);
  assert.deepEqual(js.flatMap(nodeImports), []);
  viteSite = out;
});

test("webpack 5 bundles the app and emits prunekit.wasm as an asset by itself", async () => {
  const out = join(siteDir, "webpack");
  // In a child process, as a user's build runs: webpack's minifier starts workers that would inherit
  // this test runner's TypeScript loader flags.
  const script = `
    import { createRequire } from "node:module";
    const webpack = createRequire(${JSON.stringify(join(root, "package.json"))})("webpack");
    const config = {
      mode: "production",
      target: "web",
      context: ${JSON.stringify(appDir)},
      entry: "./default-entry.js",
      output: { path: ${JSON.stringify(out)}, filename: "main.js", clean: true },
      performance: { hints: false },
    };
    webpack(config, (err, stats) => {
      if (err) throw err;
      const info = stats.toJson({ all: false, errors: true, warnings: true });
      console.log(JSON.stringify([...info.errors, ...info.warnings].map((e) => (e.moduleName ?? "") + ": " + e.message)));
    });
  `;
  const { stdout } = await run(process.execPath, ["--input-type=module", "--eval", script], {
    cwd: appDir,
    timeout: 120_000,
  });
  assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), [], "webpack errors and warnings");
  const files = listFiles(out);
  assert.ok(
    files.some((f) => /^[\w-]+\.wasm$/.test(f)),
    `no wasm asset in ${files.join(", ")}`,
  );
  assert.deepEqual(nodeImports(readFileSync(join(out, "main.js"), "utf8")), []);
  webpackSite = out;
});

test("headless Chromium runs the esbuild, Vite and webpack bundles to Node's output bytes", async (t) => {
  if (!haveChromium("the bundler test")) {
    t.skip(NO_CHROMIUM);
    return;
  }
  assert.ok(
    esbuildSite !== undefined && viteSite !== undefined && webpackSite !== undefined,
    "a bundle failed to build (see above)",
  );
  const page = (script: string, type: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><script ${type} src="./${script}"></script></head><body></body></html>`;
  const server = await startStaticServer(
    new Map([
      ["/esbuild/index.html", page("esbuild-entry.js", 'type="module"')],
      ["/webpack/index.html", page("main.js", "defer")],
    ]),
    new Map([
      ["/esbuild/", esbuildSite],
      ["/vite/", viteSite],
      ["/webpack/", webpackSite],
      ["/fixtures/", join(root, "tests/fixtures")],
    ]),
  );
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  try {
    for (const site of ["esbuild", "vite", "webpack"]) {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.origin}/${site}/index.html`);
      await page.waitForFunction(() => "prunekitRunUrl" in globalThis, undefined, { timeout: 30_000 });
      const results: RunResult[] = [];
      for (const c of CASES) {
        results.push(
          await page.evaluate(
            ([url, options]) =>
              (
                globalThis as unknown as {
                  prunekitRunUrl(url: string, options: unknown): Promise<RunResult>;
                }
              ).prunekitRunUrl(url, options),
            [`${server.origin}/fixtures/${c.fixture}`, c.options] as const,
          ),
        );
      }
      assert.deepEqual(errors, [], `${site}: page errors`);
      CASES.forEach((c, i) => {
        assert.deepEqual(results[i], node[i], `${site} bundle in Chromium differs from Node on ${c.fixture}`);
      });
      await page.close();
    }
    const wasm = server.requests.filter((r) => r.endsWith(".wasm"));
    assert.ok(wasm.includes("200 /esbuild/prunekit.wasm"), `esbuild page: ${wasm.join(", ")}`);
    assert.ok(
      wasm.some((r) => /^200 \/vite\/assets\/prunekit-[\w-]+\.wasm$/.test(r)),
      `vite page: ${wasm.join(", ")}`,
    );
    assert.ok(
      wasm.some((r) => /^200 \/webpack\/[\w-]+\.wasm$/.test(r)),
      `webpack page: ${wasm.join(", ")}`,
    );
    assert.deepEqual(
      wasm.filter((r) => !r.startsWith("200 ")),
      [],
    );
  } finally {
    await browser.close();
    await server.close();
  }
});
