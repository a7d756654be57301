// Build the browser app into dist/web/: main.js (the page) and worker.js (the library in a Web Worker),
// bundled by esbuild for browsers, plus index.html, style.css and prunekit.wasm. The result is a
// static site: serve the folder (npm run web) or copy it anywhere.
import { copyFile, mkdir, readFile, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/web/`;

/** Build dist/web/; returns the output folder. */
export async function buildWeb({ quiet = false } = {}) {
  const wasm = `${root}build/prunekit.wasm`;
  try {
    await readFile(wasm);
  } catch {
    throw new Error("build/prunekit.wasm is missing: run `npm run build:release` first");
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: { main: `${root}src/web/app/main.ts`, worker: `${root}src/web/worker.ts` },
    outdir: out,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    logLevel: quiet ? "silent" : "warning",
  });
  await copyFile(`${root}src/web/app/index.html`, `${out}index.html`);
  await copyFile(`${root}src/web/app/style.css`, `${out}style.css`);
  await copyFile(wasm, `${out}prunekit.wasm`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = await buildWeb();
  console.log(`built ${dir}`);
}
