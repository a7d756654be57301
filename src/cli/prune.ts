import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type FinetuneOptions,
  type FinetuneReport,
  finetune,
  loadModel,
  type MethodName,
  type PruneOptionKey,
  type PruneOptions,
  type PrunePlanReport,
  type PruneReport,
  planPrune,
  prune,
  summarizeUnpruned,
} from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { METHOD_NAMES, METHODS } from "../methods/registry.ts";
import { loadImagesFromDisk } from "../node/data-files.ts";
import {
  type OutputFile,
  readInputFile,
  refuseDirectory,
  refuseOverwrite,
  writeFileAtomic,
  writeFilesAtomic,
} from "../node/files.ts";
import { folderFileReader } from "../node/model-files.ts";
// Registers Node's partner workers for merge's parallel partner search (methods/merge-workers.ts).
import "../node/partner-workers.ts";
import { coreCount, createNodeTrainWorkers } from "../node/train-workers.ts";
import { accuracyMacsChart, layerChannelsChart, type TrajectoryPoint } from "../report/chart.ts";
import { pruneReportMarkdown } from "../report/markdown.ts";
import {
  CHECKPOINT_FILE,
  METHOD_CHECKPOINT_FILE,
  oneOf,
  parseBytesFlag,
  parseCli,
  parseIntegerFlag,
  parseNumberFlag,
  parseNumberList,
  parsePairs,
} from "./args.ts";
import { percent } from "./data-flags.ts";
import { formatTable, human } from "./format.ts";
import { progressBar } from "./progress.ts";

/** One option flag of `prune`: the PruneOptions key it sets and how its text becomes the value. */
export interface FlagSpec {
  key: PruneOptionKey;
  help: string;
  parse: (value: string | boolean | string[]) => unknown;
  /** Repeatable (values arrive as a list). */
  multiple?: boolean;
  /**
   * Also a fine-tuning flag of every other method (`--finetune-epochs`, `--eval-limit`): for a method
   * not taking the key, readFinetuneFlags reads it instead of refusing it.
   */
  finetuneFlag?: boolean;
}

const int = (flag: string, v: string | boolean | string[], min: number, max: number): number => {
  const n = parseNumberFlag(flag, v as string, min, max);
  if (!Number.isInteger(n))
    throw new PrunekitError("USAGE", `${flag} must be an integer, got "${String(v)}"`);
  return n;
};

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
  "round-to": {
    key: "roundTo",
    help: "round every pruned layer's kept count to the nearest multiple of N (never above the layer, at least N; layers narrower than N as computed)",
    parse: (v) => parseIntegerFlag("--round-to", v, 1, 2 ** 20),
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
    help: "exemplar | reference | random | random-projection initialisation of the pruned layers (default exemplar)",
    parse: (v) => oneOf("--init", v, ["exemplar", "reference", "random", "random-projection"] as const),
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
    help: "epruner: seed of the fresh weights of --init random / reference and of the projections of random-projection; gate: of the order, augmentation and tick subset (default 0)",
    parse: (v) => parseNumberFlag("--seed", str(v), 0, 2 ** 32 - 1),
  },
  "flops-target": {
    key: "flopsTarget",
    help: "stop when MACs <= F of the original (F in (0, 1]; required)",
    parse: (v) => parseNumberFlag("--flops-target", str(v), 1e-9, 1),
  },
  "tick-ratio": {
    key: "tickRatio",
    help: "p: fraction of the remaining channels pruned per Tick (default 0.002)",
    parse: (v) => parseNumberFlag("--tick-ratio", str(v), 1e-9, 0.999999),
  },
  "sparse-lambda": {
    key: "sparseLambda",
    help: "lambda of the L1 penalty on the gates in Tocks (default 1e-3)",
    parse: (v) => parseNumberFlag("--sparse-lambda", str(v), 0, 1e3),
  },
  "tock-epochs": {
    key: "tockEpochs",
    help: "epochs per Tock, fractional allowed; 0 skips Tocks (default 10)",
    parse: (v) => parseNumberFlag("--tock-epochs", str(v), 0, 1e6),
  },
  "ticks-per-tock": {
    key: "ticksPerTock",
    help: "T: one Tock after every T Ticks (default 10)",
    parse: (v) => int("--ticks-per-tock", v, 1, 1e6),
  },
  "lr-min": {
    key: "lrMin",
    help: "Tick learning rate, low end of the triangles (default 1e-3)",
    parse: (v) => parseNumberFlag("--lr-min", str(v), 0, 1e3),
  },
  "lr-max": {
    key: "lrMax",
    help: "peak of the Tock and fine-tuning triangles (default 1e-2)",
    parse: (v) => parseNumberFlag("--lr-max", str(v), 0, 1e3),
  },
  "min-ratio": {
    key: "minRatio",
    help: "protected minimum per group: max(1, floor(R*C)) channels (default 0.1)",
    parse: (v) => parseNumberFlag("--min-ratio", str(v), 0, 0.999999),
  },
  eta: {
    key: "eta",
    help: "eta of the FLOPs-aware score (default 0 = off)",
    parse: (v) => parseNumberFlag("--eta", str(v), 0, 1e6),
  },
  "tick-subset": {
    key: "tickSubset",
    help: "fraction of the training set each Tick passes over (default 1)",
    parse: (v) => parseNumberFlag("--tick-subset", str(v), 1e-9, 1),
  },
  batch: {
    key: "batch",
    help: "images per training step (default 64)",
    parse: (v) => int("--batch", v, 2, 65536),
  },
  "no-augment": { key: "augment", help: "no random shifts and flips while training", parse: () => false },
  "tick-freeze-linear": {
    key: "tickFreezeLinear",
    help: "freeze the linear kernels in a Tick too, not only the conv kernels (§4.5 keeps them training)",
    parse: () => true,
  },
  "eval-limit": {
    key: "evalLimit",
    help: "test images measured after every Tock and at the end (default 1000)",
    parse: (v) => int("--eval-limit", v, 1, 1e9),
    finetuneFlag: true,
  },
  "finetune-epochs": {
    key: "finetuneEpochs",
    help: "epochs of fine-tuning after pruning (default 40; 0 skips): lr 1e-3 -> 1e-2 -> 1e-3 triangle, momentum 0, wd 5e-4",
    parse: (v) => int("--finetune-epochs", v, 0, 1e6),
    finetuneFlag: true,
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
  "merge-residual": {
    key: "mergeResidual",
    help: "experimental: also prune residual streams, folding each removed stream channel into its most similar kept one over every layer adding into it (with --no-merge: plain pruning of the same channels)",
    parse: () => true,
  },
  workers: {
    key: "workers",
    help: "threads for the partner search of wide layers, 1..64 or auto (default auto: one per core); same output",
    parse: (v) => (v === "auto" ? "auto" : int("--workers", v, 1, 64)),
    // Also the training workers of gate and --finetune-epochs (read below), for every method.
    finetuneFlag: true,
  },
};

const ARG_FLAGS: Record<string, string> = {
  ratio: "R",
  "layer-ratio": "NAME=R",
  layers: "NAME=P",
  exclude: "NAME",
  rounding: "MODE",
  "round-to": "N",
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
  "flops-target": "F",
  "tick-ratio": "P",
  "sparse-lambda": "L",
  "tock-epochs": "E",
  "ticks-per-tock": "T",
  "lr-min": "X",
  "lr-max": "X",
  "min-ratio": "R",
  eta: "H",
  "tick-subset": "S",
  batch: "B",
  "eval-limit": "N",
  "finetune-epochs": "N",
  workers: "N|auto",
};

/** Methods that take an option key, from the registry. */
function takers(key: string): MethodName[] {
  return METHOD_NAMES.filter((m) => METHODS[m].optionKeys.includes(key));
}

function helpText(): string {
  const line = (left: string, right: string) => `  ${left.padEnd(24)} ${right}\n`;
  let out = `Usage: prunekit prune <in.onnx> -o <out.onnx> --method <${METHOD_NAMES.join("|")}> --ratio R [options]\n`;
  out += `       prunekit prune <in.onnx> --method NAME [options] --dry-run [--json]\n\n`;
  out += line("-o, --output FILE", "pruned model (written atomically; never the input file)");
  out += line("--method NAME", "one of:");
  for (const m of METHOD_NAMES) out += line("", `${m}: ${METHODS[m].summary}`);
  const all = METHOD_NAMES.length;
  const common = Object.entries(PRUNE_FLAGS).filter(([, f]) => takers(f.key).length === all);
  for (const [name, f] of common)
    out += line(`--${name}${ARG_FLAGS[name] ? ` ${ARG_FLAGS[name]}` : ""}`, f.help);
  out += line("--dry-run", "plan only: print the widths per layer and the sizes after; write nothing");
  out += line("", "(-o is optional and ignored; not for gate, whose plan is its training run)");
  out += line(
    "--report FILE",
    "write the JSON report; - prints it on stdout (the summary then goes to stderr)",
  );
  out += line(
    "--allow-unchanged",
    "write an unchanged copy when nothing can be pruned (else NOTHING_TO_PRUNE)",
  );
  out += line("--max-memory BYTES", "refuse models whose tensors x 3 exceed it (8G, 512M; default 18G)");
  out += line(
    "--report-md FILE",
    "write the report as Markdown (sizes, layers, trajectory, fine-tuning); - for stdout",
  );
  out += line("--chart FILE", "write an SVG chart of the channels per layer, before and after");
  out += line("--chart-accuracy FILE", "write an SVG chart of test accuracy against MACs (gate, or with");
  out += line("", "--finetune-epochs: the accuracy before and after fine-tuning)");
  out += line("", "every output is written atomically; if one fails, none is left behind");
  out += line("--json", "print the report (or the --dry-run plan) as JSON on stdout");
  out += line("--quiet", "no progress or summary");
  out += "  fine-tuning the pruned model (methods other than gate; or run prunekit finetune afterwards):\n";
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
  out += line("--finetune-limit N", "the first N training images only (gate: for the whole run)");
  out += line("--eval-limit N", "the first N test images for the accuracy before and after");
  out += line("--mean M[,M,M]", "per-channel mean after scaling pixels to [0, 1] (default 0)");
  out += line("--std S[,S,S]", "per-channel std (default 1)");
  out += "  training runs (gate's Tick-Tock, --finetune-epochs):\n";
  out += line("--workers N|auto", "data-parallel training threads (default 1; auto = one per core); BN then");
  out += line("", "normalises per shard, so results depend on N (never on timing); merge: see below");
  out += line("--checkpoint DIR", "save the state after every Tick, Tock and epoch (atomically) in DIR");
  out += line("--resume DIR", "continue a run from DIR's checkpoint (same model, data and options)");
  out += line("", "Ctrl-C stops at the next step: nothing is written, the last checkpoint stays intact");
  const byOwners = new Map<string, [string, FlagSpec][]>();
  for (const [name, f] of Object.entries(PRUNE_FLAGS)) {
    const who = takers(f.key);
    if (who.length === all) continue;
    const label = who.join(", ");
    byOwners.set(label, [...(byOwners.get(label) ?? []), [name, f]]);
  }
  for (const [label, flags] of byOwners) {
    out +=
      label === "gate"
        ? "  gate only (needs --data; --finetune-epochs means §4.7's recipe; groups without BatchNormalization,\n  as in BN-free models and BN-fused exports, get gates on their conv outputs: experimental, §4.9):\n"
        : `  ${label} only:\n`;
    for (const [name, f] of flags)
      out += line(`--${name}${ARG_FLAGS[name] ? ` ${ARG_FLAGS[name]}` : ""}`, f.help);
  }
  out += `
Examples:
  prunekit prune model.onnx -o small.onnx --method merge --ratio 0.5 --report-md report.md --chart channels.svg
  prunekit prune model.onnx --method epruner --target-macs 0.5 --dry-run
  prunekit prune resnet20.onnx -o r20.onnx --method gate --data fashion-mnist --flops-target 0.5 \\
    --chart-accuracy accuracy.svg
`;
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
  const epochs = parseIntegerFlag("--finetune-epochs", v["finetune-epochs"], 1, 1e6)!;
  const lr =
    v["finetune-lr"] === undefined
      ? 0.01
      : parseNumberFlag("--finetune-lr", String(v["finetune-lr"]), 0, 1e3);
  const limit = parseIntegerFlag("--finetune-limit", v["finetune-limit"], 1, 1e9);
  const evalLimit = parseIntegerFlag("--eval-limit", v["eval-limit"], 1, 1e9);
  const mean = parseNumberList("--mean", v.mean);
  const std = parseNumberList("--std", v.std);
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
      batch: parseIntegerFlag("--finetune-batch", v["finetune-batch"], 1, 65536) ?? 64,
      seed: parseIntegerFlag("--finetune-seed", v["finetune-seed"], 0, 0xffffffff) ?? 0,
      schedule: { kind: "step", milestones, gamma: 0.1 },
      momentum: 0.9,
      weightDecay: 5e-4,
      ...(evalLimit === undefined ? {} : { evalLimit }),
      ...(mean === undefined ? {} : { mean }),
      ...(std === undefined ? {} : { std }),
    },
  };
}

/** The data flags of a method that needs data (gate): --data (required), --finetune-limit, --mean, --std. */
function readMethodDataFlags(
  v: Record<string, unknown>,
  method: string,
): { data: string; limit?: number; mean?: number[]; std?: number[] } {
  if (typeof v.data !== "string") {
    throw new PrunekitError(
      "USAGE",
      `--method ${method} needs --data SPEC (training images: fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR)`,
    );
  }
  for (const f of ["finetune-lr", "finetune-batch", "finetune-seed"]) {
    if (v[f] !== undefined) {
      throw new PrunekitError(
        "USAGE",
        `--${f} does not apply to --method ${method}: its fine-tuning recipe is fixed (docs/methods.md §4.7); use --lr-min, --lr-max, --batch and --seed`,
      );
    }
  }
  if (method === "gate" && v["flops-target"] === undefined) {
    throw new PrunekitError(
      "USAGE",
      "--method gate needs --flops-target F (the MACs fraction to reach, in (0, 1])",
    );
  }
  const limit =
    v["finetune-limit"] === undefined
      ? undefined
      : int("--finetune-limit", v["finetune-limit"] as string, 1, 1e9);
  const mean = parseNumberList("--mean", v.mean);
  const std = parseNumberList("--std", v.std);
  return {
    data: v.data,
    ...(limit === undefined ? {} : { limit }),
    ...(mean === undefined ? {} : { mean }),
    ...(std === undefined ? {} : { std }),
  };
}

/** The checkpoints in a --resume folder; at least one must exist. */
async function readResume(dir: string): Promise<{ method?: Uint8Array; finetune?: Uint8Array }> {
  const read = async (name: string) => {
    const exists = await stat(`${dir}/${name}`).then(
      () => true,
      () => false,
    );
    return exists ? await readInputFile(`${dir}/${name}`, "checkpoint") : undefined;
  };
  const method = await read(METHOD_CHECKPOINT_FILE);
  const finetune = await read(CHECKPOINT_FILE);
  if (method === undefined && finetune === undefined) {
    throw new PrunekitError(
      "CHECKPOINT_INVALID",
      `--resume ${JSON.stringify(dir)}: no ${METHOD_CHECKPOINT_FILE} or ${CHECKPOINT_FILE} in it (written by --checkpoint)`,
    );
  }
  return { ...(method === undefined ? {} : { method }), ...(finetune === undefined ? {} : { finetune }) };
}

/** `prunekit prune`. */
export async function pruneCommand(argv: string[]): Promise<number> {
  const flagConfig: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    output: { type: "string", short: "o" },
    method: { type: "string" },
    report: { type: "string" },
    "report-md": { type: "string" },
    chart: { type: "string" },
    "chart-accuracy": { type: "string" },
    "dry-run": { type: "boolean" },
    "allow-unchanged": { type: "boolean" },
    "max-memory": { type: "string" },
    json: { type: "boolean" },
    data: { type: "string" },
    "finetune-lr": { type: "string" },
    "finetune-batch": { type: "string" },
    "finetune-seed": { type: "string" },
    "finetune-limit": { type: "string" },
    mean: { type: "string" },
    std: { type: "string" },
    workers: { type: "string" },
    checkpoint: { type: "string" },
    resume: { type: "string" },
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
  const dryRun = v["dry-run"] === true;
  const output = v.output as string | undefined;
  if (output === undefined && !dryRun)
    throw new PrunekitError("USAGE", "missing -o/--output: where should the pruned model go?");
  const method = oneOf<MethodName>("--method", v.method, METHOD_NAMES);
  if (method === undefined) throw new PrunekitError("USAGE", `missing --method (${METHOD_NAMES.join(", ")})`);
  if (dryRun) {
    const writes = [
      "report",
      "report-md",
      "chart",
      "chart-accuracy",
      "finetune-epochs",
      "checkpoint",
      "resume",
    ].find((f) => v[f] !== undefined);
    if (writes !== undefined)
      throw new PrunekitError("USAGE", `--${writes} does not apply with --dry-run, which writes nothing`);
    if (METHODS[method].needsData)
      throw new PrunekitError(
        "USAGE",
        `--dry-run does not apply to --method ${method}: its plan is its whole training run; run it with -o`,
      );
  }
  if (v["chart-accuracy"] !== undefined && !METHODS[method].needsData && v["finetune-epochs"] === undefined) {
    throw new PrunekitError(
      "USAGE",
      "--chart-accuracy needs accuracy measurements: --method gate, or --finetune-epochs N with --data SPEC",
    );
  }
  const options: PruneOptions = {
    method,
    ...(v["allow-unchanged"] === true ? { allowUnchanged: true } : {}),
  };
  const set = options as unknown as Record<string, unknown>;
  for (const [name, f] of Object.entries(PRUNE_FLAGS)) {
    const value = v[name];
    if (value === undefined) continue;
    if (f.finetuneFlag === true && !METHODS[method].optionKeys.includes(f.key)) continue;
    if (!METHODS[method].optionKeys.includes(f.key)) {
      const who = takers(f.key);
      throw new PrunekitError(
        "USAGE",
        `--${name} applies to --method ${who.join(" or ")} only, not ${method}`,
      );
    }
    set[f.key] = f.parse(value as string | boolean | string[]);
  }
  const json = v.json === true;
  // `--report -` / `--report-md -`: that report is the only thing on stdout; the summary goes to stderr.
  const toStdout = (["report", "report-md"] as const).filter((f) => v[f] === "-");
  if (toStdout.length > 1 || (toStdout.length > 0 && json)) {
    throw new PrunekitError(
      "USAGE",
      `only one of ${[...toStdout.map((f) => `--${f} -`), ...(json ? ["--json"] : [])].join(", ")} can print on stdout`,
    );
  }
  const summaryStream = toStdout.length > 0 ? process.stderr : process.stdout;
  const quiet = Boolean(v.quiet) || json;
  const progress = quiet ? undefined : progressBar();
  if (progress !== undefined) {
    options.onProgress = progress;
    options.onWarning = (m) => process.stderr.write(`warning: ${m}\n`);
  }
  const timings: Record<string, number> = {};
  const timed = async <T>(phase: string, body: () => Promise<T>): Promise<T> => {
    progress?.({ phase, done: 0, total: 1 });
    const t = performance.now();
    const r = await body();
    timings[phase] = performance.now() - t;
    progress?.({ phase, done: 1, total: 1 });
    return r;
  };
  const readModel = async () => {
    const bytes = await timed("read", () => readInputFile(input, "model"));
    return timed("decode", () => loadModel(bytes, loadOptions));
  };

  const needsData = METHODS[method].needsData;
  const tuning = needsData ? undefined : readFinetuneFlags(v);
  const methodData = needsData ? readMethodDataFlags(v, method) : undefined;
  const training = needsData || tuning !== undefined;
  for (const f of ["workers", "checkpoint", "resume"]) {
    const methodTakes = f === "workers" && METHODS[method].optionKeys.includes("workers");
    if (v[f] !== undefined && !training && !dryRun && !methodTakes) {
      throw new PrunekitError(
        "USAGE",
        `--${f} applies to training runs only (--method gate, or --finetune-epochs N with --data SPEC)${f === "workers" ? " and to merge's partner search" : ""}`,
      );
    }
  }
  const workers = v.workers === "auto" ? coreCount() : (parseIntegerFlag("--workers", v.workers, 1, 64) ?? 1);
  const checkpointDir = typeof v.checkpoint === "string" ? v.checkpoint : undefined;
  const started = Date.now();
  const loadOptions = {
    readFile: folderFileReader(dirname(input)),
    ...(v["max-memory"] === undefined
      ? {}
      : { maxMemory: parseBytesFlag("--max-memory", v["max-memory"] as string) }),
  };
  if (dryRun) {
    const model = await readModel();
    const plan = await planPrune(model, options);
    plan.timings = { ...timings, ...plan.timings };
    if (json) process.stdout.write(`${JSON.stringify({ input, dryRun: true, ...plan }, null, 2)}\n`);
    else if (!v.quiet) process.stdout.write(planText(plan));
    return 0;
  }
  if (output === undefined) throw new PrunekitError("USAGE", "missing -o/--output");
  // Every output, checked before any work: never the input, never two outputs on one file.
  const extraOutputs = (["report", "report-md", "chart", "chart-accuracy"] as const).flatMap((f) =>
    typeof v[f] === "string" && v[f] !== "-" ? [v[f] as string] : [],
  );
  const taken = [input, output];
  await refuseOverwrite(output, [input]);
  await refuseDirectory(output);
  for (const p of extraOutputs) {
    await refuseOverwrite(p, taken);
    await refuseDirectory(p);
    taken.push(p);
  }
  const model = await readModel();
  const resumeFrom = typeof v.resume === "string" ? await readResume(v.resume) : undefined;
  if (workers > 1 && training) options.trainWorkers = () => createNodeTrainWorkers(workers);
  if (checkpointDir !== undefined) {
    options.onCheckpoint = ({ kind, bytes: b }) =>
      writeFileAtomic(`${checkpointDir}/${kind === "method" ? METHOD_CHECKPOINT_FILE : CHECKPOINT_FILE}`, b, [
        input,
      ]);
  }
  if (resumeFrom !== undefined) options.resumeFrom = resumeFrom;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  if (methodData !== undefined) {
    const train = await loadImagesFromDisk(methodData.data, {
      split: "train",
      ...(methodData.limit === undefined ? {} : { limit: methodData.limit }),
    });
    const test = await loadImagesFromDisk(methodData.data, { split: "test" });
    options.data = {
      train,
      test,
      ...(methodData.mean === undefined ? {} : { mean: methodData.mean }),
      ...(methodData.std === undefined ? {} : { std: methodData.std }),
    };
    options.signal = controller.signal;
    process.once("SIGINT", onSigint);
  }
  let pruned: Awaited<ReturnType<typeof prune>>;
  try {
    pruned = await prune(model, options);
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
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
        ...(workers > 1 ? { workers: createNodeTrainWorkers(workers) } : {}),
        ...(resumeFrom?.finetune === undefined ? {} : { resumeFrom: resumeFrom.finetune }),
        ...(options.onCheckpoint === undefined
          ? {}
          : { onCheckpoint: (b: Uint8Array) => options.onCheckpoint!({ kind: "finetune", bytes: b }) }),
        ...(quiet ? {} : { onProgress: progressBar() }),
      });
      out = tuned.bytes;
      report.finetune = tuned.report;
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  }
  // Every output is rendered first (the reports after the model file is written, so that they hold its
  // write time), then all are written, or none is left behind.
  Object.assign(report.timings, { read: timings.read, decode: timings.decode });
  let writeStart = 0;
  const reportJson = () => `${JSON.stringify({ input, output, ...report }, null, 2)}\n`;
  const withWriteTime =
    <T>(render: () => T) =>
    () => {
      if (report.timings.write === undefined) {
        report.timings.write = performance.now() - writeStart;
        progress?.({ phase: "write", done: 1, total: 1 });
      }
      return render();
    };
  const files: OutputFile[] = [{ path: output, data: out }];
  if (typeof v.report === "string" && v.report !== "-")
    files.push({ path: v.report, data: withWriteTime(reportJson) });
  if (typeof v["report-md"] === "string" && v["report-md"] !== "-")
    files.push({
      path: v["report-md"],
      data: withWriteTime(() => pruneReportMarkdown(report, { input, output })),
    });
  if (typeof v.chart === "string") {
    files.push({
      path: v.chart,
      data: layerChannelsChart(
        report.layers.map((l) => ({ name: l.node, before: l.channelsBefore, after: l.channelsAfter })),
        { title: `${report.method}: output channels per layer, before and after` },
      ),
    });
  }
  if (typeof v["chart-accuracy"] === "string") {
    const points = accuracyPoints(report);
    if (points.length === 0) {
      throw new PrunekitError(
        "USAGE",
        "--chart-accuracy: the run measured no test accuracy (no test images); nothing was written",
      );
    }
    files.push({
      path: v["chart-accuracy"],
      data: accuracyMacsChart(points, { title: `${report.method}: test top-1 against MACs` }),
    });
  }
  progress?.({ phase: "write", done: 0, total: 1 });
  writeStart = performance.now();
  await writeFilesAtomic(files, [input]);
  withWriteTime(() => undefined)();

  if (json || v.report === "-") {
    process.stdout.write(reportJson());
    if (json) return 0;
  }
  if (v["report-md"] === "-") process.stdout.write(pruneReportMarkdown(report, { input, output }));
  if (!quiet) {
    const rows = report.layers.map((l) => [
      l.node,
      String(l.channelsBefore),
      String(l.channelsAfter),
      String(l.merged),
      String(l.dropped),
    ]);
    const pct = (a: number, b: number) => (b === 0 ? "0.0" : ((100 * (b - a)) / b).toFixed(1));
    summaryStream.write(
      `${formatTable(["layer", "before", "after", "merged", "dropped"], rows, [false, true, true, true, true])}\n` +
        `params ${human(report.before.params)} -> ${human(report.after.params)} (-${pct(report.after.params, report.before.params)}%), ` +
        `MACs ${human(report.before.macs)} -> ${human(report.after.macs)} (-${pct(report.after.macs, report.before.macs)}%)\n` +
        (typeof report.details?.ticks === "number"
          ? `gate: ${report.details.ticks} tick(s), ${String(report.details.tocks)} tock(s), MACs ${percent(Number(report.details.macsFraction))} of the original (target ${percent(Number(report.details.flopsTarget))})\n`
          : "") +
        (typeof report.details?.beta === "number"
          ? `beta ${report.details.beta}${report.details.search ? " (chosen by the budget search)" : ""}\n`
          : "") +
        (report.finetune !== undefined
          ? `fine-tuned ${report.finetune.epochs} epoch(s) on ${report.finetune.trainImages} images: test top-1 ${percent(report.finetune.before ?? 0)} -> ${percent(report.finetune.after ?? 0)} (${report.finetune.testImages} images, ${report.finetune.seconds.toFixed(0)} s)\n`
          : "") +
        (report.unpruned.length > 0
          ? `${report.unpruned.length} group(s) left unpruned: ${summarizeUnpruned(report.unpruned)}; ${typeof v.report === "string" ? `see ${v.report === "-" ? "the report" : v.report}` : "--report lists them with reasons"}\n`
          : "") +
        (report.warnings.length > 0
          ? `${report.warnings.length} warning(s), see above${typeof v.report === "string" ? " and in the report" : ""}\n`
          : "") +
        `wrote ${output} (${human(out.length)} bytes) in ${((Date.now() - started) / 1000).toFixed(2)} s\n`,
    );
  }
  return 0;
}

/** The --dry-run plan as text: widths per layer, then params and MACs before and after. */
function planText(plan: PrunePlanReport): string {
  const rows = plan.layers.map((l) => [
    l.node,
    String(l.channelsBefore),
    String(l.channelsAfter),
    l.channelsBefore === 0
      ? "0.0"
      : ((100 * (l.channelsBefore - l.channelsAfter)) / l.channelsBefore).toFixed(1),
  ]);
  const pct = (a: number, b: number) => (b === 0 ? "0.0" : ((100 * (b - a)) / b).toFixed(1));
  const size = (name: string, before: number, after: number) =>
    `${name.padEnd(22)} ${human(before)} -> ${human(after)} (-${pct(after, before)}%; ${before} -> ${after})\n`;
  return (
    `dry run of --method ${plan.method}: nothing was written\n` +
    `${formatTable(["layer", "before", "after", "removed %"], rows, [false, true, true, true])}\n` +
    size("params", plan.before.params, plan.after.params) +
    size("params (conv/linear)", plan.before.convLinearParams, plan.after.convLinearParams) +
    size("MACs", plan.before.macs, plan.after.macs) +
    `MACs: ${plan.macsConvention}\n` +
    (typeof plan.details?.beta === "number"
      ? `beta ${plan.details.beta}${plan.details.search ? " (chosen by the budget search)" : ""}\n`
      : "") +
    (plan.warnings.length > 0 ? `${plan.warnings.length} warning(s), see above\n` : "")
  );
}

/**
 * The test accuracies of a run against its MACs fraction: gate's trajectory points that were measured
 * and its final measurement, then the fine-tuning's before and after (at the pruned model's MACs).
 */
function accuracyPoints(report: PruneReport): TrajectoryPoint[] {
  const points: TrajectoryPoint[] = [];
  const trajectory = report.details?.trajectory;
  if (Array.isArray(trajectory)) {
    for (const p of trajectory as {
      phase?: string;
      index?: number;
      macsFraction?: number;
      testAccuracy?: number;
    }[]) {
      if (typeof p.testAccuracy === "number" && typeof p.macsFraction === "number")
        points.push({ macs: p.macsFraction, accuracy: p.testAccuracy, label: `${p.phase} ${p.index}` });
    }
  }
  const macs = report.before.macs === 0 ? 1 : report.after.macs / report.before.macs;
  const tune = report.finetune;
  // Gate's last measurement, after the last Tick, is the "pruned" point when no fine-tuning ran.
  const last = report.details?.testAccuracyBeforeFinetune;
  if (typeof last === "number" && tune?.before === undefined)
    points.push({ macs, accuracy: last, label: "pruned" });
  if (tune?.before !== undefined) points.push({ macs, accuracy: tune.before, label: "pruned" });
  if (tune?.after !== undefined) points.push({ macs, accuracy: tune.after, label: "fine-tuned" });
  return points;
}
