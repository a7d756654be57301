import { dirname } from "node:path";
import { loadModel, type MethodName, type PruneOptions, prune } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { readInputFile, refuseOverwrite, writeFileAtomic } from "../node/files.ts";
import { folderFileReader } from "../node/model-files.ts";
import { oneOf, parseCli, parseNumberFlag, parsePairs } from "./args.ts";
import { formatTable, human } from "./format.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit prune <in.onnx> -o <out.onnx> --method <l1|l2|merge> --ratio R [options]

  -o, --output FILE        pruned model (written atomically; never the input file)
  --method NAME            l1 | l2 (magnitude), merge (Neuron Merging, data-free)
  --ratio R                fraction of channels removed per prunable layer, 0..1 (default 0.5)
  --layer-ratio NAME=R     ratio for one layer (producer node name); repeatable
  --layers NAME=P[,...]    exact kept channel count per layer (merge); repeatable
  --exclude NAME           leave a layer unpruned; repeatable
  --rounding MODE          round | floor | corrected (default: round for linear, floor for conv)
  --report FILE            write the JSON report
  merge only:
  --criterion C            l1 | l2 | gm kept-set criterion (default l1)
  --threshold T            cosine threshold t (default 0.1 for conv nets, 0.45 for MLPs)
  --lambda L               weight of cosine distance vs. BN bias term (default 0.85)
  --bn-formula F           exact | reference (default exact)
  --no-merge               plain pruning with the same kept sets (baseline)
  --skip-unsafe            leave layers whose path cannot absorb a merge unpruned instead of failing
  --prune-unsafe           prune such layers without merging them (the paper's fallback) instead of failing
  --quiet                  no progress or summary
`;

/** `prunekit prune`. */
export async function pruneCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCli(argv, {
    output: { type: "string", short: "o" },
    method: { type: "string" },
    ratio: { type: "string" },
    "layer-ratio": { type: "string", multiple: true },
    layers: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    rounding: { type: "string" },
    report: { type: "string" },
    criterion: { type: "string" },
    threshold: { type: "string" },
    lambda: { type: "string" },
    "bn-formula": { type: "string" },
    "no-merge": { type: "boolean" },
    "skip-unsafe": { type: "boolean" },
    "prune-unsafe": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [input, ...extra] = positionals;
  if (input === undefined || extra.length > 0)
    throw new PrunekitError("USAGE", "expected exactly one input model path (see prunekit prune --help)");
  const output = v.output as string | undefined;
  if (output === undefined)
    throw new PrunekitError("USAGE", "missing -o/--output: where should the pruned model go?");
  const method = oneOf<MethodName>("--method", v.method, ["l1", "l2", "merge"]);
  if (method === undefined) throw new PrunekitError("USAGE", "missing --method (l1, l2 or merge)");
  if (method !== "merge") {
    for (const f of [
      "criterion",
      "threshold",
      "lambda",
      "bn-formula",
      "no-merge",
      "skip-unsafe",
      "prune-unsafe",
      "layers",
    ]) {
      if (v[f] !== undefined) throw new PrunekitError("USAGE", `--${f} applies to --method merge only`);
    }
  }
  const options: PruneOptions = { method };
  if (v.ratio !== undefined) options.ratio = parseNumberFlag("--ratio", v.ratio as string, 0, 1);
  if (v["layer-ratio"]) options.layerRatios = parsePairs("--layer-ratio", v["layer-ratio"] as string[], 0, 1);
  if (v.layers) options.layers = parsePairs("--layers", v.layers as string[], 1, 2 ** 31);
  if (v.exclude) options.exclude = v.exclude as string[];
  const rounding = oneOf("--rounding", v.rounding, ["round", "floor", "corrected"] as const);
  if (rounding) options.rounding = rounding;
  const criterion = oneOf("--criterion", v.criterion, ["l1", "l2", "gm"] as const);
  if (criterion) options.criterion = criterion;
  if (v.threshold !== undefined)
    options.threshold = parseNumberFlag("--threshold", v.threshold as string, -1, 1);
  if (v.lambda !== undefined) options.lambda = parseNumberFlag("--lambda", v.lambda as string, 0, 1);
  const bnFormula = oneOf("--bn-formula", v["bn-formula"], ["exact", "reference"] as const);
  if (bnFormula) options.bnFormula = bnFormula;
  if (v["no-merge"]) options.merge = false;
  if (v["skip-unsafe"]) options.skipUnsafe = true;
  if (v["prune-unsafe"]) options.pruneUnsafe = true;
  const quiet = Boolean(v.quiet);
  if (!quiet) {
    options.onProgress = progressBar();
    options.onWarning = (m) => process.stderr.write(`warning: ${m}\n`);
  }

  await refuseOverwrite(output, [input]);
  if (typeof v.report === "string") await refuseOverwrite(v.report, [input, output]);
  const started = Date.now();
  const bytes = await readInputFile(input, "model");
  const model = await loadModel(bytes, { readFile: folderFileReader(dirname(input)) });
  const { bytes: out, report } = await prune(model, options);
  await writeFileAtomic(output, out, [input]);
  if (typeof v.report === "string") {
    await writeFileAtomic(v.report, `${JSON.stringify({ input, output, ...report }, null, 2)}\n`, [
      input,
      output,
    ]);
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
        (report.warnings.length > 0
          ? `${report.warnings.length} warning(s), see above and in the report\n`
          : "") +
        `wrote ${output} (${human(out.length)} bytes) in ${((Date.now() - started) / 1000).toFixed(2)} s\n`,
    );
  }
  return 0;
}
