import { criterionScores, gateScores } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { oneOf, parseCli, parseNumberFlag } from "./args.ts";
import { DATA_FLAG_HELP, DATA_FLAG_OPTIONS, readDataFlags, readModelFile } from "./data-flags.ts";
import { formatTable } from "./format.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit scores <model.onnx> --method gate --data SPEC [--limit N] [--batch B] [--batches N]
                       [--no-shuffle] [--bn train|eval] [--top K] [--mean M --std S] [--json] [--quiet]
       prunekit scores <model.onnx> --method l1|l2|gm [--top K] [--json]

The importance of every prunable channel, per layer and per group, ranked from least to most important.
--method gate (the default): Gate Decorator's Taylor importance (docs/methods.md §4.2), the sum over
training batches of |g * dL/dg| (mean loss per batch, absolute value per batch), with the sums over
each group of gates joined by residual adds (§4.3). Gates are the BatchNormalization layers; where a
channel group has no BN (BN-free models, BN-fused exports) the conv output is gated instead
(experimental, §4.9). One score-only pass: nothing is trained, no augmentation.
--method l1|l2|gm: the data-free criteria (§2.3) of the producers' filters, summed per group as
magnitude pruning ranks them; no --data needed.
  --method M         gate | l1 | l2 | gm (default gate)
  --batches N        batches to sum over (default: every whole batch of --limit N images, else 10)
  --no-shuffle       take the first images in file order (default: a seeded random order)
  --bn train|eval    BN on batch statistics as during a Tick (train, default) or on its running
                     statistics (eval)
  --top K            channels listed per group in the table (default 5, least important first)
${DATA_FLAG_HELP}  (the training split is used unless --split)
JSON (gate): { gateMode, bn, shuffle, layers: [{ node, kind, scale, channels, scores }], groups: [...] }; a
layer is a BatchNormalization node (kind "bn", scale its scale initializer) or a Conv node (kind "conv",
scale its weight, which the gate folds into). JSON (l1|l2|gm): { criterion, layers: [{ node, kind:
"filter", scale, bn, channels, scores }], groups }: node is the conv or linear producer, scale its
weight, bn the BatchNormalization after it (gate's node for the same channels).
Examples:
  prunekit scores resnet20.onnx --method gate --data fashion-mnist --limit 2048 --no-shuffle --json > taylor.json
  prunekit scores resnet20.onnx --method l1 --json > l1.json
`;

/** \`prunekit scores\`. */
export async function scoresCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    ...DATA_FLAG_OPTIONS,
    batches: { type: "string" },
    top: { type: "string" },
    method: { type: "string" },
    "no-shuffle": { type: "boolean" },
    bn: { type: "string" },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) {
    throw new PrunekitError("USAGE", "expected exactly one model path (see prunekit scores --help)");
  }
  const integer = (flag: string, text: unknown, fallback: number) => {
    if (text === undefined) return fallback;
    const n = parseNumberFlag(flag, String(text), 1, 1e9);
    if (!Number.isInteger(n))
      throw new PrunekitError("USAGE", `${flag} must be an integer, got "${String(text)}"`);
    return n;
  };
  const method = oneOf("--method", values.method, ["gate", "l1", "l2", "gm"] as const) ?? "gate";
  const top = integer("--top", values.top, 5);
  if (method !== "gate") {
    const stray = ["data", "limit", "batch", "batches", "no-shuffle", "bn", "mean", "std", "split"].find(
      (f) => (values as Record<string, unknown>)[f] !== undefined,
    );
    if (stray !== undefined) {
      throw new PrunekitError("USAGE", `--${stray} applies to --method gate only; ${method} is data-free`);
    }
    const model = await readModelFile(path);
    const c = await criterionScores(model, { criterion: method });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ model: path, ...c }, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(
      `${groupTable(c.groups, top, "producers")}\n${method} of every producer's filters, summed per group; --json for every channel's score\n`,
    );
    return 0;
  }
  const bn = oneOf("--bn", values.bn, ["train", "eval"] as const) ?? "train";
  const data = await readDataFlags({ ...values, split: values.split ?? "train" }, "scores");
  const batches =
    values.batches === undefined && data.limit !== undefined
      ? Math.max(1, Math.floor(data.images.count / Math.min(data.batch, data.images.count)))
      : integer("--batches", values.batches, 10);
  const model = await readModelFile(path);
  const s = await gateScores(
    model,
    {
      train: data.images,
      ...(data.mean === undefined ? {} : { mean: data.mean }),
      ...(data.std === undefined ? {} : { std: data.std }),
    },
    {
      batches,
      batch: data.batch,
      bn,
      shuffle: values["no-shuffle"] !== true,
      ...(values.quiet || values.json ? {} : { onProgress: progressBar() }),
      onWarning: (m) => {
        if (!values.quiet && !values.json) process.stderr.write(`warning: ${m}\n`);
      },
    },
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: path, data: values.data, ...s }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `${groupTable(s.groups, top, "gates")}\n${s.batches} batch(es), ${s.images} images, BN ${s.bn === "train" ? "on batch statistics" : "on running statistics"}, ${s.shuffle ? "seeded order" : "file order"}; --json for every channel's score\n`,
  );
  return 0;
}

function groupTable(
  groups: readonly {
    groupId: number;
    members: string[];
    channels: number;
    scores: number[];
    ranking: number[];
  }[],
  top: number,
  who: string,
): string {
  const rows = groups.map((g) => {
    const total = g.scores.reduce((a, b) => a + b, 0);
    const low = g.ranking
      .slice(0, top)
      .map((c) => `${c}:${g.scores[c]!.toExponential(2)}`)
      .join(" ");
    return [String(g.groupId), g.members.join(", "), String(g.channels), total.toExponential(3), low];
  });
  return formatTable(
    ["group", who, "channels", "score sum", `least important (channel:score), first ${top}`],
    rows,
    [true, false, true, true, false],
  );
}
