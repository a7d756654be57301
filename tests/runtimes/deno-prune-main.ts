// Entry point for Deno: prints the prune-case results as one JSON line on stdout.
// Run by tests/runtimes/prune-runtimes.test.ts.
import { readFile } from "node:fs/promises";
import { runPruneCases } from "./prune-cases.ts";

const results = await runPruneCases(
  async (name) => new Uint8Array(await readFile(new URL(`../fixtures/${name}`, import.meta.url))),
);
console.log(JSON.stringify(results));
