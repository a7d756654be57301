import { dirname } from "node:path";
import { describeModel, loadModel } from "../api.ts";
import { PrunekitError } from "../errors.ts";
import { readInputFile } from "../node/files.ts";
import { folderFileReader } from "../node/model-files.ts";
import { parseCli } from "./args.ts";
import { formatTable, human } from "./format.ts";

const HELP = `Usage: prunekit info <model.onnx> [--json] [--quiet]

Shows inputs, outputs, per-layer parameters and MACs, and the prune groups of a model
(with member layers, channel counts, the blocks of channels grouped convs tie together, and why a
group is frozen). Long producer and consumer lists are shortened to "+N more"; --json lists all.
  --json   print the description as JSON
  --quiet  accepted like every command's (info shows no progress; the description is its output)

Example:
  prunekit info model.onnx --json > info.json
`;

/** `prunekit info`. */
export async function infoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0)
    throw new PrunekitError("USAGE", "expected exactly one model path (see prunekit info --help)");
  const bytes = await readInputFile(path, "model");
  const model = await loadModel(bytes, { readFile: folderFileReader(dirname(path)) });
  const info = describeModel(model);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`model     ${path}`);
  out.push(`producer  ${info.producer || "(unknown)"}, opset ${info.opset}`);
  for (const i of info.inputs) out.push(`input     ${i.name} [${i.shape.join(", ")}]`);
  for (const o of info.outputs) out.push(`output    ${o.name} [${o.shape.join(", ")}]`);
  out.push("");
  out.push(
    formatTable(
      ["layer", "op", "output", "params", "MACs"],
      info.layers.map((l) => [
        l.node,
        l.opType,
        l.outputShape ? `[${l.outputShape.join(",")}]` : "?",
        human(l.params),
        human(l.macs),
      ]),
      [false, false, false, true, true],
    ),
  );
  out.push(
    `total: ${human(info.totals.params)} params (${human(info.totals.convLinearParams)} in conv/linear layers), ${human(info.totals.macs)} MACs`,
  );
  out.push(`MACs: ${info.macsConvention}`);
  out.push("");
  out.push(
    formatTable(
      ["group", "channels", "kind", "producers", "consumers"],
      info.groups.map((g) => [
        String(g.id),
        // Grouped convs: the channels form equal blocks that each keep the same count.
        g.blocks > 1 ? `${g.channels} (${g.blocks} blocks)` : String(g.channels),
        (g.frozen
          ? "frozen"
          : g.isResidual
            ? "residual"
            : g.inner
              ? g.mergeSafe
                ? "inner"
                : "inner, no merge"
              : "prunable") + (g.patterns.length > 0 ? ` (${g.patterns.join(", ")})` : ""),
        nameList(g.producers),
        nameList(g.consumers),
      ]),
      [true, true, false, false, false],
    ),
  );
  const frozen = info.groups.filter((g) => g.frozen);
  out.push(`${info.groups.length - frozen.length} prunable groups, ${frozen.length} frozen`);
  for (const g of frozen) for (const r of g.frozenReasons) out.push(`  group ${g.id}: ${r}`);
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

/**
 * At most `max` names, then "+N more", so that a residual stream with dozens of producers keeps the
 * table readable (`--json` lists them all).
 */
export function nameList(names: readonly string[], max = 2): string {
  if (names.length === 0) return "-";
  if (names.length <= max + 1) return names.join(", ");
  return `${names.slice(0, max).join(", ")}, +${names.length - max} more`;
}
