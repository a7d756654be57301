// Run every tests/**/*.test.ts with node:test (Node 20's --test does not expand globs).
// Extra arguments are passed through as file filters: `node scripts/run-node-tests.mjs wasm/`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === "fixtures" || name === "assembly" || name === "node_modules") continue;
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const files = walk(join(root, "tests"))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  // Relaxed SIMD is behind a flag in Node 20; with it on, tests/wasm/gemm-relaxed.test.ts exercises the
  // opt-in relaxed build. The default build never uses it (it is compiled without the feature).
  [
    "--experimental-wasm-relaxed-simd",
    "--import",
    "tsx",
    "--import",
    "./tests/setup.ts",
    "--test",
    "--test-reporter=spec",
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
