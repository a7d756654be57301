// Running test code in the other runtimes: Deno 2 (the devDependency) and headless Chromium.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";

/** The repository root, with a trailing separator. */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));

/** Debian's Chromium, or CHROMIUM_PATH. */
export const chromiumPath: string = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Flags for headless Chromium in a sandboxed CI machine without network. */
export const CHROMIUM_ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** True if Chromium is installed; otherwise warns loudly, naming what is skipped. */
export function haveChromium(what: string): boolean {
  if (existsSync(chromiumPath)) return true;
  console.warn(
    `\n!!! SKIPPING ${what}: ${chromiumPath} not found (Debian: apt-get install chromium, or set CHROMIUM_PATH)\n`,
  );
  return false;
}

/** Why a browser test is skipped. */
export const NO_CHROMIUM: string = `${chromiumPath} not found: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH`;

/**
 * Run a repo-relative script with Deno (reading only inside the repo) and parse the JSON on the last
 * line of its standard output.
 */
export async function runDenoJson(script: string, timeoutMs = 120_000): Promise<unknown> {
  const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
  const { stdout } = await promisify(execFile)(
    denoBin,
    ["run", "--no-lock", "--node-modules-dir=manual", "--cached-only", `--allow-read=${root}`, script],
    { cwd: root, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: timeoutMs },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "null");
}

/** Bundle a TS module for the browser (node: imports left external: browsers never reach them). */
export async function bundleForBrowser(entry: string): Promise<string> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["node:*"],
    logLevel: "silent",
  });
  return bundle.outputFiles[0]!.text;
}
