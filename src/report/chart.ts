// Placeholder for the SVG charts (the real module comes from the chart branch at merge): same exports,
// a plain but valid SVG.

/** One layer's output channels before and after pruning. */
export interface LayerChannels {
  name: string;
  before: number;
  after: number;
}

/** One point of an accuracy-versus-MACs trajectory. */
export interface TrajectoryPoint {
  /** MACs as a fraction of the original, in (0, 1]. */
  macs: number;
  /** Accuracy, 0..1. */
  accuracy: number;
  label?: string;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function svg(width: number, height: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><title>${escapeXml(title)}</title>${body}</svg>\n`;
}

/**
 * Kept channels per layer as horizontal bars (before in grey, after in blue), as a standalone SVG document.
 * @example
 * layerChannelsChart([{ name: "conv1", before: 16, after: 8 }]);
 */
export function layerChannelsChart(
  layers: readonly LayerChannels[],
  options: { title?: string } = {},
): string {
  const max = Math.max(1, ...layers.map((l) => l.before));
  const rows = layers
    .map((l, i) => {
      const y = 20 + i * 16;
      return `<text x="0" y="${y + 10}" font-size="10">${escapeXml(l.name)}</text><rect x="160" y="${y}" width="${(300 * l.before) / max}" height="12" fill="#ccc"/><rect x="160" y="${y}" width="${(300 * l.after) / max}" height="12" fill="#36c"/>`;
    })
    .join("");
  return svg(480, 30 + layers.length * 16, options.title ?? "channels per layer", rows);
}

/**
 * Accuracy against the MACs fraction as a polyline, as a standalone SVG document.
 * @example
 * accuracyMacsChart([{ macs: 1, accuracy: 0.9 }, { macs: 0.5, accuracy: 0.88 }]);
 */
export function accuracyMacsChart(
  points: readonly TrajectoryPoint[],
  options: { title?: string } = {},
): string {
  const xy = points.map((p) => `${(20 + 400 * p.macs).toFixed(1)},${(220 - 200 * p.accuracy).toFixed(1)}`);
  return svg(
    440,
    240,
    options.title ?? "accuracy vs MACs",
    `<polyline fill="none" stroke="#36c" points="${xy.join(" ")}"/>`,
  );
}
