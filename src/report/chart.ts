// SVG charts of a pruning run, as standalone SVG documents (plain string templating, no dependency).
// Shared by the CLI (files next to the report) and the web page (inlined into the DOM).

/** One layer's width before and after pruning. */
export interface LayerChannels {
  /** Layer (producer node) name; any text, escaped in the output. */
  name: string;
  /** Channels before pruning. */
  before: number;
  /** Channels after pruning. */
  after: number;
}

/** One point of an accuracy/size trajectory. */
export interface TrajectoryPoint {
  /** MACs as a fraction of the original model, in (0, 1]. */
  macs: number;
  /** Accuracy, 0..1. */
  accuracy: number;
  /** Shown on hover (the point's <title>), e.g. "tick 3". */
  label?: string;
}

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
const LIGHT = "#b8cfe8";
const DARK = "#1f4e8c";
const INK = "#1a1a1a";
const GRID = "#d9d9d9";
/** Names longer than this are cut (with an ellipsis) in labels; the full name stays in <title>. */
const MAX_LABEL_CHARS = 28;

/** Escape text for XML content and attribute values. */
function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;")
    .replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, "\ufffd"); // only XML 1.0's Char production
}

/** `text` cut to `max` characters (code points), the last replaced by an ellipsis when cut. */
function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** A count with thousands separators, independent of the locale: 1234567 -> "1,234,567". */
function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 ? `-${s}` : s;
}

/** Coordinates with at most two decimals, so output is short and stable. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A finite, non-negative number, or 0. */
function nonNegative(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}

function svgDocument(width: number, height: number, title: string, desc: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title chart-desc" font-family="${FONT}" font-size="12">\n` +
    `<title id="chart-title">${escapeXml(title)}</title>\n` +
    `<desc id="chart-desc">${escapeXml(desc)}</desc>\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n` +
    `<text x="12" y="22" font-size="15" font-weight="600" fill="${INK}">${escapeXml(title)}</text>\n` +
    body +
    "</svg>\n"
  );
}

/**
 * A horizontal bar chart of channels before (light) and after (dark) per layer, as a standalone SVG
 * document string (xmlns, width, height, viewBox, <title>, accessible <desc>, text labels escaped).
 * Bars share one scale: a bar's length is proportional to its channel count. Long names are cut in the
 * label and kept whole in each row's <title>.
 *
 * @param layers one row per layer, in the order given.
 * @param options `title` (default "Channels per layer").
 * @example
 * const svg = layerChannelsChart([{ name: "conv1", before: 64, after: 32 }]);
 */
export function layerChannelsChart(
  layers: readonly LayerChannels[],
  options: { title?: string } = {},
): string {
  const title = options.title ?? "Channels per layer";
  const width = 720;
  const top = 56;
  const rowHeight = 22;
  const labelWidth = 200;
  const valueWidth = 150;
  const barLeft = 12 + labelWidth;
  const barWidth = width - barLeft - valueWidth - 12;
  const max = Math.max(1, ...layers.map((l) => Math.max(nonNegative(l.before), nonNegative(l.after))));
  const totalBefore = layers.reduce((s, l) => s + nonNegative(l.before), 0);
  const totalAfter = layers.reduce((s, l) => s + nonNegative(l.after), 0);
  const desc =
    layers.length === 0
      ? "No layers to show."
      : `Channels before and after pruning for ${layers.length} layer${layers.length === 1 ? "" : "s"}: ` +
        `${formatCount(totalAfter)} of ${formatCount(totalBefore)} channels kept. ` +
        layers.map((l) => `${l.name}: ${formatCount(l.after)} of ${formatCount(l.before)}`).join("; ") +
        ".";
  const legend =
    `<g font-size="11" fill="${INK}">` +
    `<rect x="${barLeft}" y="32" width="12" height="12" fill="${LIGHT}"/><text x="${barLeft + 16}" y="42">before</text>` +
    `<rect x="${barLeft + 70}" y="32" width="12" height="12" fill="${DARK}"/><text x="${barLeft + 86}" y="42">after</text>` +
    "</g>\n";
  let rows = "";
  layers.forEach((l, i) => {
    const y = top + i * rowHeight;
    const before = nonNegative(l.before);
    const after = nonNegative(l.after);
    const wBefore = (before / max) * barWidth;
    const wAfter = (after / max) * barWidth;
    rows +=
      `<g class="layer">` +
      `<title>${escapeXml(`${l.name}: ${formatCount(l.after)} of ${formatCount(l.before)} channels kept`)}</title>` +
      `<text x="${barLeft - 8}" y="${px(y + 15)}" text-anchor="end" fill="${INK}">${escapeXml(truncate(l.name, MAX_LABEL_CHARS))}</text>` +
      `<rect class="before" x="${barLeft}" y="${px(y + 3)}" width="${px(wBefore)}" height="16" fill="${LIGHT}"/>` +
      `<rect class="after" x="${barLeft}" y="${px(y + 3)}" width="${px(wAfter)}" height="16" fill="${DARK}"/>` +
      `<text x="${px(barLeft + barWidth + 8)}" y="${px(y + 15)}" fill="${INK}">${formatCount(l.after)} / ${formatCount(l.before)}</text>` +
      "</g>\n";
  });
  if (layers.length === 0) {
    rows = `<text x="${width / 2}" y="${top + 20}" text-anchor="middle" fill="${INK}">No layers to show</text>\n`;
  }
  const height = top + Math.max(1, layers.length) * rowHeight + 16;
  return svgDocument(width, height, title, desc, legend + rows);
}

/**
 * Accuracy (y, %) against MACs (x, % of the original) as a line with points, standalone SVG. Points
 * are joined in the order given; non-finite points are left out (and counted in the <desc>).
 *
 * @param points `macs` as a fraction of the original (0..1], `accuracy` 0..1.
 * @param options `title` (default "Accuracy against MACs").
 * @example
 * const svg = accuracyMacsChart([{ macs: 1, accuracy: 0.92 }, { macs: 0.5, accuracy: 0.9 }]);
 */
export function accuracyMacsChart(
  points: readonly TrajectoryPoint[],
  options: { title?: string } = {},
): string {
  const title = options.title ?? "Accuracy against MACs";
  const width = 640;
  const height = 400;
  const left = 64;
  const right = 24;
  const top = 44;
  const bottom = 56;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const shown = points.filter((p) => Number.isFinite(p.macs) && Number.isFinite(p.accuracy));
  const skipped = points.length - shown.length;
  // x: 0..100 % of the original MACs, wider if a point lies beyond (a model can grow by a rounding).
  const xMax = Math.max(100, ...shown.map((p) => Math.ceil((p.macs * 100) / 10) * 10));
  const xMin = Math.min(0, ...shown.map((p) => Math.floor((p.macs * 100) / 10) * 10));
  // y: accuracy %, zoomed to the data in steps of 5 %, at least 5 % tall.
  const accs = shown.map((p) => p.accuracy * 100);
  let yMin = accs.length === 0 ? 0 : Math.floor((Math.min(...accs) - 1) / 5) * 5;
  let yMax = accs.length === 0 ? 100 : Math.ceil((Math.max(...accs) + 1) / 5) * 5;
  if (accs.length > 0 && Math.min(...accs) >= 0) yMin = Math.max(0, yMin);
  if (accs.length > 0 && Math.max(...accs) <= 100) yMax = Math.min(100, yMax);
  if (yMax - yMin < 5) yMax = yMin + 5;
  const sx = (macsPct: number) => left + ((macsPct - xMin) / (xMax - xMin)) * plotW;
  const sy = (accPct: number) => top + plotH - ((accPct - yMin) / (yMax - yMin)) * plotH;

  let body = "";
  body += `<g stroke="${GRID}" stroke-width="1">`;
  const xTicks = 5;
  const yTicks = 5;
  for (let i = 0; i <= yTicks; i++) {
    const y = sy(yMin + ((yMax - yMin) * i) / yTicks);
    body += `<line x1="${left}" y1="${px(y)}" x2="${left + plotW}" y2="${px(y)}"/>`;
  }
  for (let i = 0; i <= xTicks; i++) {
    const x = sx(xMin + ((xMax - xMin) * i) / xTicks);
    body += `<line x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${top + plotH}"/>`;
  }
  body += "</g>\n";
  body += `<g fill="${INK}" font-size="11">`;
  for (let i = 0; i <= yTicks; i++) {
    const v = yMin + ((yMax - yMin) * i) / yTicks;
    body += `<text x="${left - 6}" y="${px(sy(v) + 4)}" text-anchor="end">${px(v)}</text>`;
  }
  for (let i = 0; i <= xTicks; i++) {
    const v = xMin + ((xMax - xMin) * i) / xTicks;
    body += `<text x="${px(sx(v))}" y="${top + plotH + 16}" text-anchor="middle">${px(v)}</text>`;
  }
  body += "</g>\n";
  body +=
    `<text x="${left + plotW / 2}" y="${height - 14}" text-anchor="middle" fill="${INK}">MACs (% of the original)</text>\n` +
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="${INK}">Accuracy (%)</text>\n`;
  body += `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="${INK}"/>\n`;
  if (shown.length === 0) {
    body += `<text x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle" fill="${INK}">No points to show</text>\n`;
  }
  if (shown.length > 1) {
    const coords = shown.map((p) => `${px(sx(p.macs * 100))},${px(sy(p.accuracy * 100))}`).join(" ");
    body += `<polyline class="trajectory" points="${coords}" fill="none" stroke="${DARK}" stroke-width="2"/>\n`;
  }
  for (const p of shown) {
    const text = `${p.label === undefined ? "" : `${p.label}: `}${px(p.accuracy * 100)} % accuracy at ${px(p.macs * 100)} % MACs`;
    body += `<circle class="point" cx="${px(sx(p.macs * 100))}" cy="${px(sy(p.accuracy * 100))}" r="4" fill="${DARK}"><title>${escapeXml(text)}</title></circle>\n`;
  }
  const desc =
    shown.length === 0
      ? "No points to show."
      : `Accuracy against MACs for ${shown.length} point${shown.length === 1 ? "" : "s"}: ` +
        shown
          .map(
            (p) =>
              `${p.label === undefined ? "" : `${p.label} `}${px(p.macs * 100)} % MACs, ${px(p.accuracy * 100)} % accuracy`,
          )
          .join("; ") +
        "." +
        (skipped > 0 ? ` ${skipped} non-finite point${skipped === 1 ? "" : "s"} left out.` : "");
  return svgDocument(width, height, title, desc, body);
}
