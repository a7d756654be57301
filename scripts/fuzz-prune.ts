// The pipeline fuzz cases of tests/e2e/fuzz-prune.test.ts, run for longer: a histogram of outcomes
// (error codes, "pruned"), every defect, and every case slower than 5 s (a hang candidate).
// Run: node --import tsx scripts/fuzz-prune.ts [--runs N] [--seed S]
import fc from "fast-check";
import { fuzzCase, fuzzMutation, fuzzSeeds } from "../tests/e2e/fuzz-cases.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg("--runs", 1000);
const seed = arg("--seed", 1);
const seeds = fuzzSeeds();
const outcomes = new Map<string, number>();
const defects: string[] = [];
const slow: string[] = [];
const cases = fc.sample(
  fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(fuzzMutation, { minLength: 1, maxLength: 3 })),
  { numRuns: runs, seed },
);
let done = 0;
for (const [which, mutations] of cases) {
  const t = performance.now();
  const r = await fuzzCase(seeds[which]!, mutations);
  const ms = performance.now() - t;
  const label = `${seeds[which]!.name} ${JSON.stringify(mutations)}`;
  outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  if (r.defect !== undefined) defects.push(`${label}: ${r.defect}`);
  if (ms > 5000) slow.push(`${label}: ${(ms / 1000).toFixed(1)} s`);
  if (++done % 100 === 0) process.stderr.write(`${done}/${runs}\n`);
}
console.log(`${runs} cases, seed ${seed}`);
for (const [k, v] of [...outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(20)} ${v}`);
console.log(`defects: ${defects.length}`);
for (const d of defects) console.log(`  ${d}`);
console.log(`slower than 5 s: ${slow.length}`);
for (const s of slow) console.log(`  ${s}`);
process.exit(defects.length > 0 || slow.length > 0 ? 1 : 0);
