// Markdown reports of a prune or finetune run: what a user pastes into an issue or keeps next to the model.
import type { FinetuneReport, PruneReport } from "../api.ts";

/** Where a run read and wrote its model, as the report states it. */
export interface ReportFiles {
  /** The input model path. */
  input: string;
  /** The output model path. */
  output: string;
}

/** A cell of a Markdown table: pipes escaped, newlines turned into spaces, never empty. */
export function markdownCell(value: unknown): string {
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  const cell = text
    .replace(/\\/g, "\\\\")
    .replace(/\|/g, "\\|")
    .replace(/\r\n|\r|\n/g, " ")
    .trim();
  return cell === "" ? " " : cell;
}

/** Inline code that survives backticks in the text. */
function code(text: string): string {
  const flat = text.replace(/\r\n|\r|\n/g, " ");
  const ticks = "`".repeat(Math.max(0, ...(flat.match(/`+/g) ?? []).map((m) => m.length)) + 1);
  return flat.includes("`") ? `${ticks} ${flat} ${ticks}` : `${ticks}${flat}${ticks}`;
}

function table(header: string[], rows: unknown[][], right: boolean[] = []): string {
  const line = (cells: unknown[]) => `| ${cells.map(markdownCell).join(" | ")} |`;
  const rule = `|${header.map((_, i) => (right[i] ? " ---: " : " --- ")).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

const pct = (f: number | undefined) => (f === undefined ? "-" : `${(100 * f).toFixed(2)} %`);

/** 1234567 → "1,234,567 (1.23M)". */
function size(n: number): string {
  const a = Math.abs(n);
  const short =
    a >= 1e9
      ? `${(n / 1e9).toFixed(2)}G`
      : a >= 1e6
        ? `${(n / 1e6).toFixed(2)}M`
        : a >= 1e4
          ? `${(n / 1e3).toFixed(1)}K`
          : undefined;
  const exact = n.toLocaleString("en-US");
  return short === undefined ? exact : `${exact} (${short})`;
}

function change(before: number, after: number): string {
  if (before === 0) return "-";
  const d = (100 * (after - before)) / before;
  return `${d > 0 ? "+" : ""}${d.toFixed(1)} %`;
}

function optionRows(options: Record<string, unknown>): unknown[][] {
  return Object.entries(options)
    .filter(([, v]) => v !== undefined && typeof v !== "function")
    .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

function warningsSection(warnings: readonly string[]): string[] {
  if (warnings.length === 0) return ["## Warnings", "", "None."];
  return ["## Warnings", "", ...warnings.map((w) => `- ${w.replace(/\r\n|\r|\n/g, " ")}`)];
}

function timingRows(timings: Record<string, number>): unknown[][] {
  return Object.entries(timings).map(([phase, ms]) => [phase, ms.toFixed(1)]);
}

/** The epoch table and accuracy lines of a fine-tuning run, under a heading of the given level. */
function finetuneSections(report: FinetuneReport, level: string): string[] {
  const out: string[] = [];
  out.push(
    `${level} Fine-tuning`,
    "",
    `${report.epochs} epoch(s), batch ${report.batch}, ${report.trainImages} training images, ` +
      `${report.workers === 1 ? "one thread" : `${report.workers} workers`}, ` +
      `${report.imagesPerSecond.toFixed(1)} images/s, ${report.seconds.toFixed(1)} s.`,
    "",
    `Preprocessing: ${report.preprocessing.replace(/\r\n|\r|\n/g, " ")}`,
    "",
  );
  if (report.before !== undefined || report.after !== undefined) {
    out.push(
      table(
        ["test top-1", "before", "after", "change", "images"],
        [
          [
            "accuracy",
            pct(report.before),
            pct(report.after),
            report.before === undefined || report.after === undefined
              ? "-"
              : `${(100 * (report.after - report.before)).toFixed(2)} points`,
            report.testImages ?? "-",
          ],
        ],
        [false, true, true, true, true],
      ),
      "",
    );
  } else out.push("No test images: accuracy not measured.", "");
  out.push(`${level}# Epochs`, "");
  if (report.history.length === 0) out.push("No epoch ran.", "");
  else {
    out.push(
      table(
        ["epoch", "loss", "train top-1", "test top-1", "seconds"],
        report.history.map((e) => [
          e.epoch,
          e.loss.toFixed(4),
          pct(e.accuracy),
          pct(e.testAccuracy),
          e.seconds.toFixed(1),
        ]),
        [true, true, true, true, true],
      ),
      "",
    );
  }
  out.push(`${level}# Fine-tuning options`, "", table(["option", "value"], optionRows(report.options)), "");
  return out;
}

interface TrajectoryRow {
  phase?: unknown;
  index?: unknown;
  macsFraction?: unknown;
  channelsLeft?: unknown;
  trainLoss?: unknown;
  trainAccuracy?: unknown;
  removed?: unknown;
  testAccuracy?: unknown;
}

const num = (v: unknown) => (typeof v === "number" ? v : undefined);

/**
 * A prune run as Markdown: method, options, params and MACs before and after (with the counting
 * convention), the per-layer table, the gate Tick-Tock trajectory and the fine-tuning (when they
 * ran), warnings and timings.
 *
 * @param report from `prune` (or the CLI's report, with its `finetune`).
 * @param files the input and output model paths.
 * @returns a Markdown document ending in a newline.
 * @example
 * const md = pruneReportMarkdown(report, { input: "model.onnx", output: "small.onnx" });
 */
export function pruneReportMarkdown(report: PruneReport, files: ReportFiles): string {
  const out: string[] = [];
  out.push(
    `# prunekit prune: ${report.method}`,
    "",
    `- input: ${code(files.input)}`,
    `- output: ${code(files.output)}`,
    `- method: ${code(report.method)}`,
    "",
  );
  out.push("## Size", "");
  const b = report.before;
  const a = report.after;
  out.push(
    table(
      ["", "before", "after", "change"],
      [
        ["params (learnable)", size(b.params), size(a.params), change(b.params, a.params)],
        [
          "params (conv/linear)",
          size(b.convLinearParams),
          size(a.convLinearParams),
          change(b.convLinearParams, a.convLinearParams),
        ],
        ["MACs", size(b.macs), size(a.macs), change(b.macs, a.macs)],
      ],
      [false, true, true, true],
    ),
    "",
    `MACs: ${code(report.macsConvention)}.`,
    "",
  );
  out.push("## Layers", "");
  if (report.layers.length === 0) out.push("No layer was pruned.", "");
  else {
    out.push(
      table(
        ["node", "weight", "channels", "merged", "dropped"],
        report.layers.map((l) => [
          l.node,
          l.weight,
          `${l.channelsBefore} → ${l.channelsAfter}`,
          l.merged,
          l.dropped,
        ]),
        [false, false, true, true, true],
      ),
      "",
    );
  }
  const unpruned = report.unpruned ?? [];
  if (unpruned.length > 0) {
    out.push(
      "## Groups left unpruned",
      "",
      table(
        ["group", "layers", "kind", "reason"],
        unpruned.map((u) => [u.group, u.layers.join(", "), u.kind, u.reason]),
        [true, false, false, false],
      ),
      "",
    );
  }
  const details = report.details ?? {};
  const trajectory = Array.isArray(details.trajectory) ? (details.trajectory as TrajectoryRow[]) : undefined;
  if (trajectory !== undefined) {
    out.push("## Tick-Tock trajectory", "");
    out.push(
      `${String(details.ticks ?? "?")} tick(s), ${String(details.tocks ?? "?")} tock(s); MACs ${pct(num(details.macsFraction))} of the original, target ${pct(num(details.flopsTarget))}.`,
      "",
    );
    out.push(
      table(
        ["phase", "#", "MACs", "channels left", "removed", "train loss", "train top-1", "test top-1"],
        trajectory.map((p) => [
          p.phase,
          p.index,
          pct(num(p.macsFraction)),
          p.channelsLeft,
          p.removed ?? "-",
          num(p.trainLoss)?.toFixed(4) ?? "-",
          pct(num(p.trainAccuracy)),
          pct(num(p.testAccuracy)),
        ]),
        [false, true, true, true, true, true, true, true],
      ),
      "",
    );
  }
  const otherDetails = Object.entries(details).filter(([k]) => k !== "trajectory");
  if (otherDetails.length > 0) {
    out.push("## Details", "", table(["detail", "value"], optionRows(Object.fromEntries(otherDetails))), "");
  }
  if (report.finetune !== undefined) out.push(...finetuneSections(report.finetune, "##"));
  out.push("## Options", "", table(["option", "value"], optionRows(report.options)), "");
  out.push(...warningsSection(report.warnings), "");
  out.push("## Timings", "", table(["phase", "ms"], timingRows(report.timings), [false, true]), "");
  return `${out.join("\n").trimEnd()}\n`;
}

/**
 * A finetune run as Markdown: accuracy before and after, the epoch history, options and warnings.
 *
 * @param report from `finetune`.
 * @param files the input and output model paths.
 * @returns a Markdown document ending in a newline.
 * @example
 * const md = finetuneReportMarkdown(report, { input: "pruned.onnx", output: "tuned.onnx" });
 */
export function finetuneReportMarkdown(report: FinetuneReport, files: ReportFiles): string {
  const out: string[] = [
    "# prunekit finetune",
    "",
    `- input: ${code(files.input)}`,
    `- output: ${code(files.output)}`,
    "",
    ...finetuneSections(report, "##"),
    ...warningsSection(report.warnings),
  ];
  return `${out.join("\n").trimEnd()}\n`;
}
