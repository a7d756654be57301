import { gateScores } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { parseCli, parseNumberFlag } from "./args.ts";
import { DATA_FLAG_HELP, DATA_FLAG_OPTIONS, readDataFlags, readModelFile } from "./data-flags.ts";
import { formatTable } from "./format.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit scores <model.onnx> --data SPEC [--method gate] [--batches N] [--batch B]
                       [--top K] [--mean M --std S] [--json] [--quiet]

Gate Decorator's Taylor importance (docs/methods.md §4.2) of every gateable channel: the sum over N
training batches of |g * dL/dg| (mean loss per batch, absolute value per batch), with the sums over
each group of gates joined by residual adds (§4.3) and each group's channels ranked from least to most
important. Gates are the BatchNormalization layers; where a channel group has no BN (BN-free models,
BN-fused exports) the conv output is gated instead (experimental, §4.9). Nothing is trained. The
training split is used unless --split.
  --method gate      the criterion (gate, the only one so far)
  --batches N        batches to sum over (default 10)
  --top K            channels listed per group in the table (default 5, least important first)
${DATA_FLAG_HELP}
JSON: { gateMode, layers: [{ node, kind, scale, channels, scores }], groups: [...] }; a layer is a
BatchNormalization node (kind "bn", scale its scale initializer) or a Conv node (kind "conv", scale its
weight, which the gate folds into).
Example:
  prunekit scores resnet20.onnx --data fashion-mnist --batches 20 --json > scores.json
`;

/** \`prunekit scores\`. */
export async function scoresCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    ...DATA_FLAG_OPTIONS,
    batches: { type: "string" },
    top: { type: "string" },
    method: { type: "string" },
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
  if (values.method !== undefined && values.method !== "gate") {
    throw new PrunekitError("USAGE", `--method must be gate for prunekit scores, got "${values.method}"`);
  }
  const batches = integer("--batches", values.batches, 10);
  const top = integer("--top", values.top, 5);
  const data = await readDataFlags({ ...values, split: values.split ?? "train" }, "scores");
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
  const rows = s.groups.map((g) => {
    const total = g.scores.reduce((a, b) => a + b, 0);
    const low = g.ranking
      .slice(0, top)
      .map((c) => `${c}:${g.scores[c]!.toExponential(2)}`)
      .join(" ");
    return [String(g.groupId), g.members.join(", "), String(g.channels), total.toExponential(3), low];
  });
  process.stdout.write(
    `${formatTable(["group", "gates", "channels", "score sum", `least important (channel:score), first ${top}`], rows, [true, false, true, true, false])}\n` +
      `${s.batches} batch(es), ${s.images} images; --json for every channel's score\n`,
  );
  return 0;
}
