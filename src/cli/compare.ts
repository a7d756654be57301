import { compare } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { parseCli } from "./args.ts";
import { DATA_FLAG_HELP, DATA_FLAG_OPTIONS, percent, readDataFlags, readModelFile } from "./data-flags.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit compare <a.onnx> <b.onnx> --data SPEC [--limit N] [--json] [data options]

Evaluates two models (say the original and the pruned one) on the same images: accuracy of both,
how often they predict the same class, WARE (the weighted average reconstruction error of the
outputs, docs/methods.md §2.8) and the largest and mean |difference| of their outputs.
${DATA_FLAG_HELP}
Example:
  prunekit compare model.onnx pruned.onnx --data fashion-mnist --limit 2000
`;

/** \`prunekit compare\`. */
export async function compareCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, DATA_FLAG_OPTIONS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [pathA, pathB, ...extra] = positionals;
  if (pathA === undefined || pathB === undefined || extra.length > 0) {
    throw new PrunekitError("USAGE", "expected two model paths (see prunekit compare --help)");
  }
  const data = await readDataFlags(values, "compare");
  const a = await readModelFile(pathA);
  const b = await readModelFile(pathB);
  const r = await compare(a, b, data.images, {
    batch: data.batch,
    ...(data.mean === undefined ? {} : { mean: data.mean }),
    ...(data.std === undefined ? {} : { std: data.std }),
    ...(values.quiet || values.json ? {} : { onProgress: progressBar() }),
  });
  const strip = ({ predictions: _p, ...rest }: typeof r.a) => rest;
  if (values.json) {
    const out = {
      a: { model: pathA, ...strip(r.a) },
      b: { model: pathB, ...strip(r.b) },
      agreement: r.agreement,
      ware: r.ware,
      maxAbsDiff: r.maxAbsDiff,
      meanAbsDiff: r.meanAbsDiff,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    [
      `data           ${r.a.preprocessing}`,
      `images         ${r.a.images}`,
      `               ${"top-1".padEnd(10)}${"top-5".padEnd(10)}loss`,
      `a              ${percent(r.a.top1).padEnd(10)}${percent(r.a.top5).padEnd(10)}${r.a.loss.toFixed(4)}  ${pathA}`,
      `b              ${percent(r.b.top1).padEnd(10)}${percent(r.b.top5).padEnd(10)}${r.b.loss.toFixed(4)}  ${pathB}`,
      `agreement      ${percent(r.agreement)}`,
      `WARE           ${r.ware.toPrecision(4)}`,
      `max |Δ|        ${r.maxAbsDiff.toPrecision(4)}`,
      `mean |Δ|       ${r.meanAbsDiff.toPrecision(4)}`,
      "",
    ].join("\n"),
  );
  return 0;
}
