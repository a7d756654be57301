#!/usr/bin/env node
// Command-line entry point: runs the compiled library in dist/ (built by `npm ci` / `npm run build`).
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("prunekit: the library is not built; run `npm run build` in the prunekit folder\n");
  process.exit(2);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
