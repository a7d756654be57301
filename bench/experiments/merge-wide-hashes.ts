// Output hashes of Neuron Merging on every committed fixture (and on any model given on the command
// line, e.g. a torchvision VGG-11-BN export) at a few ratios and options, one JSON line per run, so a
// change to the partner search can be checked to leave every output byte unchanged: run it on two
// trees and diff the outputs. Errors are recorded by code (they must not change either).
//
//   node --import tsx bench/experiments/merge-wide-hashes.ts [--workers N|auto] [--ratios 0.3,0.5] [MODEL.onnx ...]
//
// Without model arguments: tests/fixtures/**/*.onnx at ratios 0.3, 0.5, 0.7, each with the default
// options, criterion gm, and the reference BN formula (unsafe layers pruned without merging).
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type PruneOptions, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { loadModelFile } from "../../src/node/index.ts";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workers: { type: "string" },
    ratios: { type: "string" },
  },
});
const workers =
  flags.workers === undefined ? undefined : flags.workers === "auto" ? "auto" : Number(flags.workers);

function fixtures(): string[] {
  const root = join(import.meta.dirname, "../../tests/fixtures");
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".onnx")) out.push(join(dir, e.name));
    }
  };
  walk(root);
  return out.sort();
}

const models = positionals.length > 0 ? positionals : fixtures();
const ratios = (flags.ratios ?? (positionals.length > 0 ? "0.3" : "0.3,0.5,0.7")).split(",").map(Number);
const variants: Partial<PruneOptions>[] =
  positionals.length > 0
    ? [{}]
    : [{}, { criterion: "gm" }, { bnFormula: "reference", lambda: 0.5 }, { threshold: -1 }];

for (const path of models) {
  const model = await loadModelFile(path);
  for (const ratio of ratios) {
    for (const variant of variants) {
      const options = {
        method: "merge",
        ratio,
        pruneUnsafe: true,
        allowUnchanged: true,
        ...variant,
        ...(workers === undefined ? {} : { workers }),
      } as PruneOptions;
      const start = performance.now();
      let result: string;
      try {
        const { bytes } = await prune(model, options);
        result = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
      } catch (e) {
        if (!isPrunekitError(e)) throw e;
        result = `error ${e.code}`;
      }
      const ms = Math.round(performance.now() - start);
      const name = path.replace(/^.*tests\/fixtures\//, "");
      console.log(JSON.stringify({ model: name, ratio, ...variant, result, ms }));
    }
  }
}
