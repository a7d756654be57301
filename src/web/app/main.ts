// The web page: pick or drop an .onnx file, look at its layers, choose a method, prune in the worker,
// see the kept channels per layer, download the pruned model and the report. The element hooks with
// data-testid (index.html) are a contract for tests and embedders.
import type { ModelDescription, PruneReport } from "../../api.ts";
import { EPRUNER_DEFAULTS } from "../../methods/epruner.ts";
import { MERGE_DEFAULTS } from "../../methods/merge.ts";
import { layerChannelsChart } from "../../report/chart.ts";
import type { FromWorker, ToWorker, WebMethod, WebPruneOptions } from "../messages.ts";

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html has no #${id}`);
  return el as T;
}

const ui = {
  file: $<HTMLInputElement>("model-file"),
  drop: $<HTMLDivElement>("drop-zone"),
  modelStatus: $<HTMLParagraphElement>("model-status"),
  error: $<HTMLDivElement>("error"),
  layersSection: $<HTMLElement>("layers-section"),
  layerCaption: $<HTMLTableCaptionElement>("layer-caption"),
  layerRows: $<HTMLTableSectionElement>("layer-rows"),
  layerTotals: $<HTMLTableSectionElement>("layer-totals"),
  optionsSection: $<HTMLElement>("options-section"),
  form: $<HTMLFormElement>("options"),
  method: $<HTMLSelectElement>("method"),
  ratioOptions: $<HTMLFieldSetElement>("ratio-options"),
  ratio: $<HTMLInputElement>("ratio"),
  mergeOptions: $<HTMLFieldSetElement>("merge-options"),
  criterion: $<HTMLSelectElement>("criterion"),
  bnFormula: $<HTMLSelectElement>("bn-formula"),
  eprunerOptions: $<HTMLFieldSetElement>("epruner-options"),
  beta: $<HTMLInputElement>("beta"),
  eprunerMerge: $<HTMLInputElement>("epruner-merge"),
  run: $<HTMLButtonElement>("run"),
  progress: $<HTMLProgressElement>("progress"),
  progressText: $<HTMLSpanElement>("progress-text"),
  resultSection: $<HTMLElement>("result-section"),
  totalsRows: $<HTMLTableSectionElement>("totals-rows"),
  warnings: $<HTMLUListElement>("warnings"),
  chartBox: $<HTMLDivElement>("chart-box"),
  downloads: $<HTMLParagraphElement>("downloads"),
};

/** A download link; made here because an <a> in index.html would need an href before there is a file. */
function downloadLink(testId: string, text: string, className: string): HTMLAnchorElement {
  const a = document.createElement("a");
  a.dataset.testid = testId;
  a.className = className;
  a.textContent = text;
  return a;
}
const downloadModel = downloadLink("download-model", "Download the pruned model", "button");
const downloadReport = downloadLink("download-report", "Download the JSON report", "button secondary");
ui.downloads.replaceChildren(downloadModel, downloadReport);

// The library defaults, shown as the controls' initial values (so a run with untouched controls
// equals `prunekit prune --method M --ratio R`).
ui.criterion.value = MERGE_DEFAULTS.criterion;
ui.bnFormula.value = MERGE_DEFAULTS.bnFormula;
ui.beta.value = String(EPRUNER_DEFAULTS.beta);
ui.eprunerMerge.checked = EPRUNER_DEFAULTS.merge;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let nextId = 1;
let fileName = "model.onnx";
let busy = false;
let loaded = false;
const urls: string[] = [];

const fmt = new Intl.NumberFormat("en");
const count = (n: number) => fmt.format(n);

function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

function setBusy(value: boolean): void {
  busy = value;
  ui.run.disabled = value || !loaded;
  ui.file.disabled = value;
  ui.form.setAttribute("aria-busy", String(value));
}

/** Send a request; replies come back through `onReply` with the same id. */
function send(msg: ToWorker, transfer: Transferable[] = []): void {
  worker.postMessage(msg, transfer);
}

function cell(row: HTMLTableRowElement, text: string, className?: string, header = false): void {
  const c = document.createElement(header ? "th" : "td");
  if (header) c.setAttribute("scope", "row");
  c.textContent = text;
  if (className) c.className = className;
  row.append(c);
}

function showDescription(d: ModelDescription): void {
  const groupOf = new Map<string, ModelDescription["groups"][number]>();
  for (const g of d.groups) for (const p of g.producers) groupOf.set(p, g);
  ui.layerRows.replaceChildren();
  for (const l of d.layers) {
    const row = document.createElement("tr");
    const g = groupOf.get(l.node);
    cell(row, l.node, undefined, true);
    cell(row, l.opType);
    cell(row, l.outputShape ? l.outputShape.join("×") : "?");
    cell(row, count(l.params), "num");
    cell(row, count(l.macs), "num");
    cell(row, g === undefined ? "—" : String(g.id), "num");
    cell(row, g === undefined ? "—" : count(g.channels), "num");
    if (g === undefined) cell(row, "no (consumer only)", "frozen");
    else if (g.frozen) cell(row, g.frozenReasons.join("; ") || "frozen", "frozen");
    else cell(row, g.isResidual ? "yes (residual group)" : "yes");
    ui.layerRows.append(row);
  }
  const total = document.createElement("tr");
  cell(total, "Total", undefined, true);
  cell(total, "");
  cell(total, "");
  cell(total, count(d.totals.params), "num");
  cell(total, count(d.totals.macs), "num");
  cell(total, "");
  cell(total, "");
  cell(total, `${d.groups.filter((g) => !g.frozen).length} of ${d.groups.length} groups prunable`);
  ui.layerTotals.replaceChildren(total);
  ui.layerCaption.textContent = `${fileName}: ${d.layers.length} conv/linear layers, opset ${d.opset}${d.producer ? `, from ${d.producer}` : ""}. MACs: ${d.macsConvention}.`;
  ui.layersSection.hidden = false;
  ui.optionsSection.hidden = false;
}

function readOptions(): WebPruneOptions | string {
  const method = ui.method.value as WebMethod;
  if (method === "epruner") {
    const beta = Number(ui.beta.value);
    if (ui.beta.value.trim() === "" || !Number.isFinite(beta) || beta < 0)
      return `β must be a number ≥ 0, got "${ui.beta.value}"`;
    return { method, beta, merge: ui.eprunerMerge.checked };
  }
  const ratio = Number(ui.ratio.value);
  if (ui.ratio.value.trim() === "" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1)
    return `the ratio must be a number from 0 to 1, got "${ui.ratio.value}"`;
  if (method === "merge") {
    return {
      method,
      ratio,
      criterion: ui.criterion.value as "l1" | "l2" | "gm",
      bnFormula: ui.bnFormula.value as "exact" | "reference",
    };
  }
  return { method, ratio };
}

function showMethodOptions(): void {
  const method = ui.method.value;
  const show = (el: HTMLFieldSetElement, on: boolean) => {
    el.hidden = !on;
    el.disabled = !on;
  };
  show(ui.ratioOptions, method !== "epruner");
  show(ui.mergeOptions, method === "merge");
  show(ui.eprunerOptions, method === "epruner");
}

function download(a: HTMLAnchorElement, data: BlobPart, type: string, name: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  urls.push(url);
  a.href = url;
  a.download = name;
}

function showResult(bytes: ArrayBuffer, report: PruneReport, warnings: readonly string[]): void {
  for (const url of urls.splice(0)) URL.revokeObjectURL(url);
  const rows: [string, number, number][] = [
    ["Parameters", report.before.params, report.after.params],
    ["MACs", report.before.macs, report.after.macs],
  ];
  ui.totalsRows.replaceChildren(
    ...rows.map(([name, before, after]) => {
      const row = document.createElement("tr");
      cell(row, name, undefined, true);
      cell(row, count(before), "num");
      cell(row, count(after), "num");
      cell(row, before > 0 ? `${((100 * after) / before).toFixed(1)} %` : "—", "num");
      return row;
    }),
  );
  ui.warnings.replaceChildren(
    ...warnings.map((w) => {
      const li = document.createElement("li");
      li.textContent = `Warning: ${w}`;
      return li;
    }),
  );
  const svgText = layerChannelsChart(
    report.layers.map((l) => ({ name: l.node, before: l.channelsBefore, after: l.channelsAfter })),
    { title: `${fileName}: channels kept by ${report.method}` },
  );
  // Parsed as SVG (never as HTML), so names from the model cannot inject markup.
  const svg = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
  svg.setAttribute("data-testid", "chart");
  svg.setAttribute("class", "chart");
  ui.chartBox.replaceChildren(document.importNode(svg, true));
  const base = fileName.replace(/\.onnx$/i, "");
  const outName = `${base}.pruned.onnx`;
  download(downloadModel, bytes, "application/octet-stream", outName);
  const json = `${JSON.stringify({ input: fileName, output: outName, ...report }, null, 2)}\n`;
  download(downloadReport, json, "application/json", `${base}.report.json`);
  ui.resultSection.hidden = false;
}

let pending: { id: number; warnings: string[] } | undefined;

worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
  const msg = event.data;
  if (pending === undefined || msg.id !== pending.id) return; // a reply to a request no longer shown
  switch (msg.type) {
    case "loaded":
      pending = undefined;
      loaded = true;
      setBusy(false);
      ui.modelStatus.textContent = `Loaded ${fileName}.`;
      showDescription(msg.description);
      return;
    case "progress": {
      const { phase, done, total, detail } = msg.event;
      if (total > 0) ui.progress.value = Math.min(1, done / total);
      else ui.progress.removeAttribute("value"); // indeterminate
      ui.progressText.textContent = `${phase}${total > 0 ? ` ${done}/${total}` : ""}${detail ? ` — ${detail}` : ""}`;
      return;
    }
    case "warning":
      pending.warnings.push(msg.message);
      return;
    case "pruned":
      ui.progress.value = 1;
      ui.progressText.textContent = "Done.";
      showResult(msg.bytes, msg.report, pending.warnings);
      pending = undefined;
      setBusy(false);
      return;
    case "error":
      pending = undefined;
      showError(`${msg.error.message}${msg.error.code === "INTERNAL" ? "" : ` (${msg.error.code})`}`);
      ui.progress.value = 0;
      ui.progressText.textContent = "";
      setBusy(false);
      return;
  }
});

worker.addEventListener("error", (event) => {
  showError(`The worker failed: ${event.message || "it could not be started"}`);
  pending = undefined;
  setBusy(false);
});

async function openFile(file: File): Promise<void> {
  if (busy) return;
  clearError();
  loaded = false;
  fileName = file.name || "model.onnx";
  ui.layersSection.hidden = true;
  ui.optionsSection.hidden = true;
  ui.resultSection.hidden = true;
  ui.modelStatus.textContent = `Reading ${fileName}…`;
  setBusy(true);
  const bytes = await file.arrayBuffer();
  const id = nextId++;
  pending = { id, warnings: [] };
  send({ type: "load", id, bytes }, [bytes]);
}

ui.file.addEventListener("change", () => {
  const file = ui.file.files?.[0];
  if (file) void openFile(file);
});

ui.drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.drop.classList.add("over");
});
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.drop.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file) void openFile(file);
});

ui.method.addEventListener("change", showMethodOptions);

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (busy || !loaded) return;
  clearError();
  const options = readOptions();
  if (typeof options === "string") {
    showError(options);
    return;
  }
  ui.resultSection.hidden = true;
  ui.progress.value = 0;
  ui.progressText.textContent = "Starting…";
  setBusy(true);
  const id = nextId++;
  pending = { id, warnings: [] };
  send({ type: "prune", id, options });
});

showMethodOptions();
setBusy(false);
