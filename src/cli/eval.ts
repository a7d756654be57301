import { evaluate } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { coreCount, createNodeTrainWorkers } from "../node/train-workers.ts";
import { parseCli, parseNumberFlag } from "./args.ts";
import { DATA_FLAG_HELP, DATA_FLAG_OPTIONS, percent, readDataFlags, readModelFile } from "./data-flags.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit eval <model.onnx> --data SPEC [--split test|train] [--limit N] [--batch B]
                     [--mean M --std S] [--workers N|auto] [--json] [--quiet]

Top-1 and top-5 accuracy, mean cross-entropy and images/s of a classifier, computed by prunekit's own
engine. The preprocessing applied (padding to the model's input, scaling, normalisation, channel
replication) is printed.
${DATA_FLAG_HELP}  --workers N|auto   evaluate on N threads (default 1; auto = one per core); same results
Example:
  prunekit eval resnet20.onnx --data fashion-mnist --limit 1000
`;

/** \`prunekit eval\`. */
export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, { ...DATA_FLAG_OPTIONS, workers: { type: "string" } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) {
    throw new PrunekitError("USAGE", "expected exactly one model path (see prunekit eval --help)");
  }
  const data = await readDataFlags(values, "eval");
  const threads =
    values.workers === "auto"
      ? coreCount()
      : values.workers === undefined
        ? 1
        : parseNumberFlag("--workers", String(values.workers), 1, 64);
  if (!Number.isInteger(threads)) throw new PrunekitError("USAGE", "--workers must be an integer or auto");
  const model = await readModelFile(path);
  const r = await evaluate(model, data.images, {
    batch: data.batch,
    ...(data.mean === undefined ? {} : { mean: data.mean }),
    ...(data.std === undefined ? {} : { std: data.std }),
    ...(values.quiet || values.json ? {} : { onProgress: progressBar() }),
    ...(threads > 1 ? { workers: createNodeTrainWorkers(threads - 1) } : {}),
  });
  if (values.json) {
    const { predictions: _p, ...rest } = r;
    process.stdout.write(
      `${JSON.stringify({ model: path, data: values.data, split: data.images.split, ...rest }, null, 2)}\n`,
    );
    return 0;
  }
  process.stdout.write(
    [
      `model          ${path}`,
      `data           ${r.preprocessing}`,
      `images         ${r.images}`,
      `top-1          ${percent(r.top1)}`,
      `top-5          ${percent(r.top5)}`,
      `loss           ${r.loss.toFixed(4)}`,
      `images/s       ${r.imagesPerSecond.toFixed(1)} (batch ${data.batch}, ${threads === 1 ? "one thread" : `${threads} threads`})`,
      "",
    ].join("\n"),
  );
  return 0;
}
