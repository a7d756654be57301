// Entry point for Deno: prints the conformance report as one JSON line on stdout.
// Run by tests/runtimes/conformance.test.ts; by hand:
//   npx deno run --no-lock --node-modules-dir=manual --allow-read=. tests/runtimes/deno-main.ts
import { runConformance } from "./conformance-cases.ts";

console.log(JSON.stringify(await runConformance()));
