// Shared fast-check settings, loaded before every test file (see scripts/run-node-tests.mjs).
// PROPERTY_RUNS raises or lowers the number of runs per property (default 100).
import fc from "fast-check";

const runs = Number(process.env.PROPERTY_RUNS ?? "100");
fc.configureGlobal({
  numRuns: Number.isFinite(runs) && runs > 0 ? runs : 100,
  interruptAfterTimeLimit: 60_000,
});
