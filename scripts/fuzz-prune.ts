// The pipeline fuzz cases of tests/e2e/fuzz-prune.test.ts, run for longer: a histogram of outcomes
// (error codes, "pruned"), every defect, every case slower than 5 s (a hang candidate), and every case
// that raised the process's peak resident memory by more than MEMORY_SLACK (the seeds are fixture
// models of a few MB at most, so a larger jump means a declared size was allocated instead of refused).
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
const MEMORY_SLACK = 256 * 1024 * 1024;
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const memory: string[] = [];
let done = 0;
for (const [which, mutations] of cases) {
  const t = performance.now();
  const before = peakRss();
  const r = await fuzzCase(seeds[which]!, mutations);
  const ms = performance.now() - t;
  const grew = peakRss() - before;
  const label = `${seeds[which]!.name} ${JSON.stringify(mutations)}`;
  outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  if (r.defect !== undefined) defects.push(`${label}: ${r.defect}`);
  if (ms > 5000) slow.push(`${label}: ${(ms / 1000).toFixed(1)} s`);
  if (done >= 20 && grew > MEMORY_SLACK) memory.push(`${label}: peak RSS +${(grew / 2 ** 20).toFixed(0)} MB`);
  if (++done % 100 === 0) process.stderr.write(`${done}/${runs}\n`);
}
console.log(`${runs} cases, seed ${seed}`);
for (const [k, v] of [...outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(20)} ${v}`);
console.log(`defects: ${defects.length}`);
for (const d of defects) console.log(`  ${d}`);
console.log(`slower than 5 s: ${slow.length}`);
for (const s of slow) console.log(`  ${s}`);
console.log(
  `peak RSS ${(peakRss() / 2 ** 20).toFixed(0)} MB; cases raising it by more than ${MEMORY_SLACK / 2 ** 20} MB: ${memory.length}`,
);
for (const m of memory) console.log(`  ${m}`);
process.exit(defects.length > 0 || slow.length > 0 || memory.length > 0 ? 1 : 0);
