// Deno runs the app from the installed package: `deno run --node-modules-dir=manual deno-main.js
// '<cases as JSON>' <fixtures folder>` prints the results as one JSON line. The README's import line,
// `npm:prunekit`, resolves to the same installed package as run.js's bare "prunekit".
import { prune } from "npm:prunekit";
import { run } from "./run.js";

if (typeof prune !== "function") throw new Error('npm:prunekit has no "prune" export');
const [casesJson, fixtures] = Deno.args;
const out = [];
for (const c of JSON.parse(casesJson))
  out.push(await run(await Deno.readFile(`${fixtures}/${c.fixture}`), c.options));
console.log(JSON.stringify(out));
