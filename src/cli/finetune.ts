import { finetune } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { loadImagesFromDisk } from "../node/data-files.ts";
import {
  type OutputFile,
  readInputFile,
  refuseDirectory,
  refuseOverwrite,
  writeFileAtomic,
  writeFilesAtomic,
} from "../node/files.ts";
import { coreCount, createNodeTrainWorkers } from "../node/train-workers.ts";
import { finetuneReportMarkdown } from "../report/markdown.ts";
import {
  CHECKPOINT_FILE,
  oneOf,
  parseCli,
  parseIntegerFlag,
  parseNumberFlag,
  parseNumberList,
} from "./args.ts";
import { percent, readModelFile } from "./data-flags.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit finetune <model.onnx> -o <out.onnx> --data SPEC --epochs N [options]

Fine-tunes a classifier (a pruned one, typically) with SGD on prunekit's own training engine, with
PyTorch's semantics (torch.optim.SGD, nn.BatchNorm2d in train mode), and writes the trained values
back into an otherwise unchanged model. Test accuracy is measured before and after.

  -o, --output FILE       the fine-tuned model
  --data SPEC             fashion-mnist (auto-detected), fashion-mnist:DIR, mnist:DIR or cifar10:DIR
  --epochs N              epochs over the training split (a fraction trains part of the last one)
  --lr X                  peak learning rate (default 0.01)
  --batch B               images per step (default 64; the last partial batch is kept)
  --schedule S            constant | step | cosine | triangular (default constant)
  --milestones E,E        epochs where the step schedule multiplies lr by --gamma (default none)
  --gamma G               the step schedule's factor (default 0.1)
  --lr-min X              lowest lr of cosine (default 0) and triangular (default 0.001)
  --warmup-epochs E       linear warm-up over the first E epochs (default 0)
  --momentum M            SGD momentum (default 0.9)
  --nesterov              Nesterov momentum
  --weight-decay W        L2 weight decay on every trainable parameter (default 5e-4)
  --no-decay-bn-bias      no weight decay on BatchNorm parameters and biases
  --seed S                seed of the shuffling and augmentation (default 0)
  --no-shuffle            keep the file order
  --no-augment            no random ±2 px shift and horizontal flip
  --limit N               the first N training images only
  --mean M[,M,M]          per-channel mean subtracted after scaling pixels to [0, 1] (default 0)
  --std S[,S,S]           per-channel std divided by after that (default 1)
  --eval-every K          test accuracy every K epochs (and after the last)
  --eval-limit N          the first N test images only, for every evaluation
  --no-eval               no test evaluation before and after
  --workers N|auto        data-parallel worker threads (default 1; auto = one per core). With more than
                          one, BatchNorm normalises each worker's share of the batch (results depend on
                          the worker count, never on timing); 1 keeps PyTorch's full-batch semantics
  --checkpoint DIR        save the state after every epoch (atomically) in DIR
  --resume DIR            continue the run saved in DIR (same settings), bit for bit
  --report FILE           write the run's report as JSON
  --report-md FILE        write the run's report as Markdown (accuracy before and after, epochs)
                          (no --chart here: prune's charts plot against MACs, which fine-tuning
                          leaves unchanged; the epochs are in the reports)
  --json                  print the report as JSON
  --quiet                 no progress bar

Ctrl-C stops at the next step: nothing is written, the last checkpoint stays intact.

Example:
  prunekit finetune pruned.onnx -o tuned.onnx --data fashion-mnist --epochs 2 --lr 0.01 \\
    --mean 0.286 --std 0.353 --checkpoint ckpt
`;

const OPTIONS = {
  output: { type: "string", short: "o" },
  data: { type: "string" },
  epochs: { type: "string" },
  lr: { type: "string" },
  batch: { type: "string" },
  schedule: { type: "string" },
  milestones: { type: "string" },
  gamma: { type: "string" },
  "lr-min": { type: "string" },
  "warmup-epochs": { type: "string" },
  momentum: { type: "string" },
  nesterov: { type: "boolean" },
  "weight-decay": { type: "string" },
  "no-decay-bn-bias": { type: "boolean" },
  seed: { type: "string" },
  "no-shuffle": { type: "boolean" },
  "no-augment": { type: "boolean" },
  limit: { type: "string" },
  mean: { type: "string" },
  std: { type: "string" },
  "eval-every": { type: "string" },
  "eval-limit": { type: "string" },
  "no-eval": { type: "boolean" },
  checkpoint: { type: "string" },
  workers: { type: "string" },
  resume: { type: "string" },
  report: { type: "string" },
  "report-md": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

function num(flag: string, text: unknown, min: number, max: number): number | undefined {
  return text === undefined ? undefined : parseNumberFlag(flag, String(text), min, max);
}

/** \`prunekit finetune\`. */
export async function finetuneCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCli(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [input, ...extra] = positionals;
  if (input === undefined || extra.length > 0) {
    throw new PrunekitError("USAGE", "expected exactly one model path (see prunekit finetune --help)");
  }
  const output = v.output;
  if (typeof output !== "string") throw new PrunekitError("USAGE", "finetune needs -o <out.onnx>");
  if (typeof v.data !== "string") throw new PrunekitError("USAGE", "finetune needs --data SPEC");
  const epochs = num("--epochs", v.epochs, 0, 1e6);
  if (epochs === undefined) throw new PrunekitError("USAGE", "finetune needs --epochs N");
  const schedule =
    oneOf("--schedule", v.schedule, ["constant", "step", "cosine", "triangular"] as const) ?? "constant";
  const lr = num("--lr", v.lr, 0, 1e3) ?? 0.01;
  const lrMin = num("--lr-min", v["lr-min"], 0, 1e3);
  const milestones = parseNumberList("--milestones", v.milestones);
  if (v.milestones !== undefined && schedule !== "step") {
    throw new PrunekitError("USAGE", "--milestones applies to --schedule step only");
  }
  if (v.gamma !== undefined && schedule !== "step")
    throw new PrunekitError("USAGE", "--gamma applies to --schedule step only");
  if (lrMin !== undefined && schedule !== "cosine" && schedule !== "triangular") {
    throw new PrunekitError("USAGE", "--lr-min applies to --schedule cosine or triangular only");
  }
  const sched =
    schedule === "step"
      ? { kind: schedule, milestones: milestones ?? [], gamma: num("--gamma", v.gamma, 0, 1e3) ?? 0.1 }
      : schedule === "cosine"
        ? { kind: schedule, lrMin: lrMin ?? 0 }
        : schedule === "triangular"
          ? { kind: schedule, lrMin: lrMin ?? 1e-3 }
          : { kind: schedule };
  const batch = parseIntegerFlag("--batch", v.batch, 1, 65536) ?? 64;
  const limit = parseIntegerFlag("--limit", v.limit, 1, 1e9);
  const evalLimit = parseIntegerFlag("--eval-limit", v["eval-limit"], 1, 1e9);
  const evalEvery = parseIntegerFlag("--eval-every", v["eval-every"], 1, 1e6);
  if (v["no-eval"] && (evalEvery !== undefined || evalLimit !== undefined)) {
    throw new PrunekitError("USAGE", "--no-eval cannot be combined with --eval-every or --eval-limit");
  }
  const seed = parseIntegerFlag("--seed", v.seed, 0, 0xffffffff) ?? 0;
  const workers = v.workers === "auto" ? coreCount() : (parseIntegerFlag("--workers", v.workers, 1, 64) ?? 1);
  const mean = parseNumberList("--mean", v.mean);
  const std = parseNumberList("--std", v.std);
  await refuseOverwrite(output, [input]);
  await refuseDirectory(output);
  const taken = [input, output];
  for (const p of [v.report, v["report-md"]]) {
    if (typeof p !== "string") continue;
    await refuseOverwrite(p, taken);
    await refuseDirectory(p);
    taken.push(p);
  }

  const model = await readModelFile(input);
  const train = await loadImagesFromDisk(v.data, {
    split: "train",
    ...(limit === undefined ? {} : { limit }),
  });
  const test = v["no-eval"] ? undefined : await loadImagesFromDisk(v.data, { split: "test" });
  const resumeFrom =
    typeof v.resume === "string"
      ? await readInputFile(`${v.resume}/${CHECKPOINT_FILE}`, "checkpoint")
      : undefined;
  const checkpointDir = typeof v.checkpoint === "string" ? v.checkpoint : undefined;

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  const quiet = v.quiet === true || v.json === true;
  const bar = quiet ? undefined : progressBar();
  const plainLines = !quiet && !process.stderr.isTTY;
  try {
    const { bytes, report } = await finetune(model, {
      data: train,
      ...(test === undefined ? {} : { test }),
      epochs,
      batch,
      lr,
      schedule: sched,
      ...(v["warmup-epochs"] === undefined
        ? {}
        : { warmupEpochs: num("--warmup-epochs", v["warmup-epochs"], 0, 1e6)! }),
      ...(v.momentum === undefined ? {} : { momentum: num("--momentum", v.momentum, 0, 1)! }),
      ...(v["weight-decay"] === undefined
        ? {}
        : { weightDecay: num("--weight-decay", v["weight-decay"], 0, 1)! }),
      nesterov: v.nesterov === true,
      noDecayBnBias: v["no-decay-bn-bias"] === true,
      seed,
      shuffle: v["no-shuffle"] !== true,
      augment: v["no-augment"] !== true,
      ...(mean === undefined ? {} : { mean }),
      ...(std === undefined ? {} : { std }),
      ...(evalEvery === undefined ? {} : { evalEvery }),
      ...(evalLimit === undefined ? {} : { evalLimit }),
      ...(resumeFrom === undefined ? {} : { resumeFrom }),
      ...(workers > 1 ? { workers: createNodeTrainWorkers(workers) } : {}),
      ...(checkpointDir === undefined
        ? {}
        : {
            onCheckpoint: (b: Uint8Array) =>
              writeFileAtomic(`${checkpointDir}/${CHECKPOINT_FILE}`, b, [input]),
          }),
      ...(bar === undefined ? {} : { onProgress: bar }),
      onEpoch: (r) => {
        if (!plainLines) return;
        const test = r.testAccuracy === undefined ? "" : `, test ${percent(r.testAccuracy)}`;
        process.stderr.write(
          `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, train ${percent(r.accuracy)}${test}, ${r.seconds.toFixed(1)} s\n`,
        );
      },
      signal: controller.signal,
    });
    // A failed command leaves no output: every file is written, or none is left behind.
    const files: OutputFile[] = [{ path: output, data: bytes }];
    if (typeof v.report === "string")
      files.push({ path: v.report, data: `${JSON.stringify({ input, output, ...report }, null, 2)}\n` });
    if (typeof v["report-md"] === "string")
      files.push({ path: v["report-md"], data: finetuneReportMarkdown(report, { input, output }) });
    await writeFilesAtomic(files, [input]);
    if (v.json) {
      process.stdout.write(`${JSON.stringify({ input, output, ...report }, null, 2)}\n`);
      return 0;
    }
    const last = report.history.at(-1);
    process.stdout.write(
      [
        `model          ${input} -> ${output}`,
        `data           ${report.trainImages} training images; ${report.preprocessing}`,
        `epochs         ${report.epochs} (batch ${report.batch}, lr ${lr}, ${sched.kind})`,
        ...(last === undefined
          ? []
          : [`train          loss ${last.loss.toFixed(4)}, accuracy ${percent(last.accuracy)} (last epoch)`]),
        ...(report.before === undefined
          ? []
          : [
              `test top-1     ${percent(report.before)} before, ${percent(report.after!)} after (${report.testImages} images)`,
            ]),
        `speed          ${report.imagesPerSecond.toFixed(1)} training images/s, ${report.workers === 1 ? "one thread" : `${report.workers} workers`}; ${report.seconds.toFixed(1)} s in all`,
        ...report.warnings.map((w) => `warning        ${w}`),
        "",
      ].join("\n"),
    );
    return 0;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
