import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type FinetuneOptions,
  type FinetuneReport,
  finetune,
  loadModel,
  type MethodName,
  type PruneOptions,
  prune,
} from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { METHOD_NAMES, METHODS } from "../methods/registry.ts";
import { loadImagesFromDisk } from "../node/data-files.ts";
import { readInputFile, refuseOverwrite, writeFileAtomic } from "../node/files.ts";
import { folderFileReader } from "../node/model-files.ts";
import { oneOf, parseCli, parseNumberFlag, parsePairs } from "./args.ts";
import { percent } from "./data-flags.ts";
import { formatTable, human } from "./format.ts";
import { progressBar } from "./progress.ts";

/** One option flag of `prune`: the PruneOptions key it sets and how its text becomes the value. */
export interface FlagSpec {
  key: keyof PruneOptions;
  help: string;
  parse: (value: string | boolean | string[]) => unknown;
  /** Repeatable (values arrive as a list). */
  multiple?: boolean;
}

const str = (v: string | boolean | string[]) => v as string;

/** The method option flags, each mapped to its PruneOptions key; which method takes which key is the registry's. */
export const PRUNE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  ratio: {
    key: "ratio",
    help: "fraction of channels removed per prunable layer, 0..1 (default 0.5)",
    parse: (v) => parseNumberFlag("--ratio", str(v), 0, 1),
  },
  "layer-ratio": {
    key: "layerRatios",
    help: "ratio for one layer (node or weight tensor name); repeatable",
    parse: (v) => parsePairs("--layer-ratio", v as string[], 0, 1),
  },
  layers: {
    key: "layers",
    help: "exact kept channel count per layer (NAME=P[,...]); repeatable",
    parse: (v) => parsePairs("--layers", v as string[], 1, 2 ** 31),
  },
  exclude: {
    key: "exclude",
    help: "leave a layer (node or weight tensor name) unpruned; repeatable",
    parse: (v) => v as string[],
    multiple: true,
  },
  rounding: {
    key: "rounding",
    help: "auto | round | floor | corrected (default auto: round for linear, floor for conv)",
    parse: (v) => oneOf("--rounding", v, ["auto", "round", "floor", "corrected"] as const),
  },
  criterion: {
    key: "criterion",
    help: "l1 | l2 | gm kept-set criterion (default l1)",
    parse: (v) => oneOf("--criterion", v, ["l1", "l2", "gm"] as const),
  },
  threshold: {
    key: "threshold",
    help: "cosine threshold t (default 0.1 for conv nets, 0.45 for MLPs)",
    parse: (v) => parseNumberFlag("--threshold", str(v), -1, 1),
  },
  lambda: {
    key: "lambda",
    help: "weight of cosine distance vs. BN bias term (default 0.85)",
    parse: (v) => parseNumberFlag("--lambda", str(v), 0, 1),
  },
  "bn-formula": {
    key: "bnFormula",
    help: "exact | reference (default exact)",
    parse: (v) => oneOf("--bn-formula", v, ["exact", "reference"] as const),
  },
  "no-merge": { key: "merge", help: "plain pruning with the same kept sets (baseline)", parse: () => false },
  beta: {
    key: "beta",
    help: "preference coefficient: p = beta * row median of similarities (default 0.75; larger prunes more)",
    parse: (v) => parseNumberFlag("--beta", str(v), 0, 1e6),
  },
  "layer-beta": {
    key: "layerBetas",
    help: "beta for one layer (node or weight tensor name); repeatable",
    parse: (v) => parsePairs("--layer-beta", v as string[], 0, 1e6),
    multiple: true,
  },
  "late-beta": {
    key: "lateBeta",
    help: "beta B for the clustered layers from 0-based index I on (the published later-blocks rule)",
    parse: (v) => {
      const [index, beta] = Object.entries(parsePairs("--late-beta", [str(v)], 0, 1e6))[0] ?? [];
      const fromIndex = Number(index);
      if (!Number.isInteger(fromIndex) || fromIndex < 0 || beta === undefined)
        throw new PrunekitError(
          "USAGE",
          `--late-beta expects FROM_INDEX=B with an integer index, got "${str(v)}"`,
        );
      return { fromIndex, beta };
    },
  },
  init: {
    key: "init",
    help: "exemplar | reference | random initialisation of the pruned layers (default exemplar)",
    parse: (v) => oneOf("--init", v, ["exemplar", "reference", "random"] as const),
  },
  merge: {
    key: "merge",
    help: "fold every cluster member into its exemplar in the consumers (exemplar merging)",
    parse: () => true,
  },
  "target-params": {
    key: "targetParams",
    help: "search the global beta for params <= F of the original (F in (0, 1])",
    parse: (v) => parseNumberFlag("--target-params", str(v), 1e-9, 1),
  },
  "target-macs": {
    key: "targetMacs",
    help: "search the global beta for MACs <= F of the original (F in (0, 1])",
    parse: (v) => parseNumberFlag("--target-macs", str(v), 1e-9, 1),
  },
  "on-no-convergence": {
    key: "onNoConvergence",
    help: "lastIteration | keepAll | error when affinity propagation does not converge (default lastIteration)",
    parse: (v) => oneOf("--on-no-convergence", v, ["lastIteration", "keepAll", "error"] as const),
  },
  "noise-seed": {
    key: "noiseSeed",
    help: "seed of affinity propagation's tie-breaking noise (off by default)",
    parse: (v) => parseNumberFlag("--noise-seed", str(v), 0, 2 ** 32 - 1),
  },
  seed: {
    key: "seed",
    help: "seed of the fresh weights of --init random / reference (default 0)",
    parse: (v) => parseNumberFlag("--seed", str(v), 0, 2 ** 32 - 1),
  },
  "skip-unsafe": {
    key: "skipUnsafe",
    help: "leave layers whose path cannot absorb a merge unpruned instead of failing",
    parse: () => true,
  },
  "prune-unsafe": {
    key: "pruneUnsafe",
    help: "prune such layers without merging them (the paper's fallback) instead of failing",
    parse: () => true,
  },
};

const ARG_FLAGS: Record<string, string> = {
  ratio: "R",
  "layer-ratio": "NAME=R",
  layers: "NAME=P",
  exclude: "NAME",
  rounding: "MODE",
  criterion: "C",
  threshold: "T",
  lambda: "L",
  "bn-formula": "F",
  beta: "B",
  "layer-beta": "NAME=B",
  "late-beta": "I=B",
  init: "MODE",
  "target-params": "F",
  "target-macs": "F",
  "on-no-convergence": "MODE",
  "noise-seed": "S",
  seed: "S",
};

/** Methods that take an option key, from the registry. */
function takers(key: string): MethodName[] {
  return METHOD_NAMES.filter((m) => METHODS[m].optionKeys.includes(key));
}

function helpText(): string {
  const line = (left: string, right: string) => `  ${left.padEnd(24)} ${right}\n`;
  let out = `Usage: prunekit prune <in.onnx> -o <out.onnx> --method <${METHOD_NAMES.join("|")}> --ratio R [options]\n\n`;
  out += line("-o, --output FILE", "pruned model (written atomically; never the input file)");
  out += line("--method NAME", "one of:");
  for (const m of METHOD_NAMES) out += line("", `${m}: ${METHODS[m].summary}`);
  const all = METHOD_NAMES.length;
  const common = Object.entries(PRUNE_FLAGS).filter(([, f]) => takers(f.key).length === all);
  for (const [name, f] of common)
    out += line(`--${name}${ARG_FLAGS[name] ? ` ${ARG_FLAGS[name]}` : ""}`, f.help);
  out += line("--report FILE", "write the JSON report");
  out += line("--quiet", "no progress or summary");
  out += "  fine-tuning the pruned model (any method; or run prunekit finetune afterwards):\n";
  out += line(
    "--data SPEC",
    "training and test images (fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR)",
  );
  out += line(
    "--finetune-epochs N",
    "epochs of SGD after pruning: lr 0.01 x0.1 at 1/3 and 2/3 of N, momentum 0.9, wd 5e-4",
  );
  out += line("--finetune-lr X", "initial learning rate (default 0.01)");
  out += line("--finetune-batch B", "images per step (default 64)");
  out += line("--finetune-seed S", "seed of the shuffling and augmentation (default 0)");
  out += line("--finetune-limit N", "the first N training images only");
  out += line("--eval-limit N", "the first N test images for the accuracy before and after");
  out += line("--mean M[,M,M]", "per-channel mean after scaling pixels to [0, 1] (default 0)");
  out += line("--std S[,S,S]", "per-channel std (default 1)");
  const byOwners = new Map<string, [string, FlagSpec][]>();
  for (const [name, f] of Object.entries(PRUNE_FLAGS)) {
    const who = takers(f.key);
    if (who.length === all) continue;
    const label = who.join(", ");
    byOwners.set(label, [...(byOwners.get(label) ?? []), [name, f]]);
  }
  for (const [label, flags] of byOwners) {
    out += `  ${label} only:\n`;
    for (const [name, f] of flags)
      out += line(`--${name}${ARG_FLAGS[name] ? ` ${ARG_FLAGS[name]}` : ""}`, f.help);
  }
  return out;
}

/** The fine-tuning flags of prune, or undefined without --finetune-epochs. */
function readFinetuneFlags(
  v: Record<string, unknown>,
): { data: string; limit?: number; options: Omit<FinetuneOptions, "data" | "test"> } | undefined {
  const tuneFlags = [
    "finetune-lr",
    "finetune-batch",
    "finetune-seed",
    "finetune-limit",
    "eval-limit",
    "mean",
    "std",
  ];
  if (v["finetune-epochs"] === undefined) {
    const stray = [...tuneFlags, "data"].find((f) => v[f] !== undefined);
    if (stray !== undefined) throw new PrunekitError("USAGE", `--${stray} needs --finetune-epochs N`);
    return undefined;
  }
  if (typeof v.data !== "string") throw new PrunekitError("USAGE", "--finetune-epochs needs --data SPEC");
  const int = (flag: string, min: number, max: number): number | undefined => {
    const t = v[flag];
    if (t === undefined) return undefined;
    const n = parseNumberFlag(`--${flag}`, String(t), min, max);
    if (!Number.isInteger(n))
      throw new PrunekitError("USAGE", `--${flag} must be an integer, got "${String(t)}"`);
    return n;
  };
  const list = (flag: string): number[] | undefined => {
    const t = v[flag];
    if (t === undefined) return undefined;
    const values = String(t)
      .split(",")
      .map((x) => Number(x.trim()));
    if (String(t).trim() === "" || values.some((x) => !Number.isFinite(x))) {
      throw new PrunekitError(
        "USAGE",
        `--${flag} expects one number or a comma-separated list, got "${String(t)}"`,
      );
    }
    return values;
  };
  const epochs = int("finetune-epochs", 1, 1e6)!;
  const lr =
    v["finetune-lr"] === undefined
      ? 0.01
      : parseNumberFlag("--finetune-lr", String(v["finetune-lr"]), 0, 1e3);
  const limit = int("finetune-limit", 1, 1e9);
  const evalLimit = int("eval-limit", 1, 1e9);
  const mean = list("mean");
  const std = list("std");
  // EPruner's published recipe (docs/methods.md §3.6), scaled to N epochs: x0.1 at 1/3 and 2/3.
  const milestones = [...new Set([Math.round(epochs / 3), Math.round((2 * epochs) / 3)])].filter(
    (m) => m > 0,
  );
  return {
    data: v.data,
    ...(limit === undefined ? {} : { limit }),
    options: {
      epochs,
      lr,
      batch: int("finetune-batch", 1, 65536) ?? 64,
      seed: int("finetune-seed", 0, 0xffffffff) ?? 0,
      schedule: { kind: "step", milestones, gamma: 0.1 },
      momentum: 0.9,
      weightDecay: 5e-4,
      ...(evalLimit === undefined ? {} : { evalLimit }),
      ...(mean === undefined ? {} : { mean }),
      ...(std === undefined ? {} : { std }),
    },
  };
}

/** `prunekit prune`. */
export async function pruneCommand(argv: string[]): Promise<number> {
  const flagConfig: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    output: { type: "string", short: "o" },
    method: { type: "string" },
    report: { type: "string" },
    data: { type: "string" },
    "finetune-epochs": { type: "string" },
    "finetune-lr": { type: "string" },
    "finetune-batch": { type: "string" },
    "finetune-seed": { type: "string" },
    "finetune-limit": { type: "string" },
    "eval-limit": { type: "string" },
    mean: { type: "string" },
    std: { type: "string" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  };
  for (const name of Object.keys(PRUNE_FLAGS)) {
    const multiple = name === "layer-ratio" || name === "layers" || PRUNE_FLAGS[name]!.multiple === true;
    flagConfig[name] = ARG_FLAGS[name] === undefined ? { type: "boolean" } : { type: "string", multiple };
  }
  const { values: v, positionals } = parseCli(argv, flagConfig);
  if (v.help) {
    process.stdout.write(helpText());
    return 0;
  }
  const [input, ...extra] = positionals;
  if (input === undefined || extra.length > 0)
    throw new PrunekitError("USAGE", "expected exactly one input model path (see prunekit prune --help)");
  const output = v.output as string | undefined;
  if (output === undefined)
    throw new PrunekitError("USAGE", "missing -o/--output: where should the pruned model go?");
  const method = oneOf<MethodName>("--method", v.method, METHOD_NAMES);
  if (method === undefined) throw new PrunekitError("USAGE", `missing --method (${METHOD_NAMES.join(", ")})`);
  const options: PruneOptions = { method };
  const set = options as unknown as Record<string, unknown>;
  for (const [name, f] of Object.entries(PRUNE_FLAGS)) {
    const value = v[name];
    if (value === undefined) continue;
    if (!METHODS[method].optionKeys.includes(f.key)) {
      const who = takers(f.key);
      throw new PrunekitError(
        "USAGE",
        `--${name} applies to --method ${who.join(" or ")} only, not ${method}`,
      );
    }
    set[f.key] = f.parse(value as string | boolean | string[]);
  }
  const quiet = Boolean(v.quiet);
  if (!quiet) {
    options.onProgress = progressBar();
    options.onWarning = (m) => process.stderr.write(`warning: ${m}\n`);
  }

  const tuning = readFinetuneFlags(v);
  await refuseOverwrite(output, [input]);
  if (typeof v.report === "string") await refuseOverwrite(v.report, [input, output]);
  const started = Date.now();
  const bytes = await readInputFile(input, "model");
  const model = await loadModel(bytes, { readFile: folderFileReader(dirname(input)) });
  const pruned = await prune(model, options);
  const report: typeof pruned.report & { finetune?: FinetuneReport } = pruned.report;
  let out = pruned.bytes;
  if (tuning !== undefined) {
    const train = await loadImagesFromDisk(tuning.data, {
      split: "train",
      ...(tuning.limit === undefined ? {} : { limit: tuning.limit }),
    });
    const test = await loadImagesFromDisk(tuning.data, { split: "test" });
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once("SIGINT", onSigint);
    try {
      const tuned = await finetune(pruned.model, {
        ...tuning.options,
        data: train,
        test,
        signal: controller.signal,
        ...(quiet ? {} : { onProgress: progressBar() }),
      });
      out = tuned.bytes;
      report.finetune = tuned.report;
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  }
  await writeFileAtomic(output, out, [input]);
  if (typeof v.report === "string") {
    // A failed command leaves no output: the model goes if its report cannot be written.
    try {
      await writeFileAtomic(v.report, `${JSON.stringify({ input, output, ...report }, null, 2)}\n`, [
        input,
        output,
      ]);
    } catch (e) {
      await rm(output, { force: true });
      throw e;
    }
  }

  if (!quiet) {
    const rows = report.layers.map((l) => [
      l.node,
      String(l.channelsBefore),
      String(l.channelsAfter),
      String(l.merged),
      String(l.dropped),
    ]);
    const pct = (a: number, b: number) => (b === 0 ? "0.0" : ((100 * (b - a)) / b).toFixed(1));
    process.stdout.write(
      `${formatTable(["layer", "before", "after", "merged", "dropped"], rows, [false, true, true, true, true])}\n` +
        `params ${human(report.before.params)} -> ${human(report.after.params)} (-${pct(report.after.params, report.before.params)}%), ` +
        `MACs ${human(report.before.macs)} -> ${human(report.after.macs)} (-${pct(report.after.macs, report.before.macs)}%)\n` +
        (typeof report.details?.beta === "number"
          ? `beta ${report.details.beta}${report.details.search ? " (chosen by the budget search)" : ""}\n`
          : "") +
        (report.finetune !== undefined
          ? `fine-tuned ${report.finetune.epochs} epoch(s) on ${report.finetune.trainImages} images: test top-1 ${percent(report.finetune.before ?? 0)} -> ${percent(report.finetune.after ?? 0)} (${report.finetune.testImages} images, ${report.finetune.seconds.toFixed(0)} s)\n`
          : "") +
        (report.warnings.length > 0
          ? `${report.warnings.length} warning(s), see above and in the report\n`
          : "") +
        `wrote ${output} (${human(out.length)} bytes) in ${((Date.now() - started) / 1000).toFixed(2)} s\n`,
    );
  }
  return 0;
}
