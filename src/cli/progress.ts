import type { ProgressEvent } from "../progress.ts";

export type { ProgressEvent };
/** Turn progress events into a one-line bar on a TTY (nothing when stderr is not a terminal). */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (e: ProgressEvent) => void {
  let lastPhase = "";
  let lastDraw = 0;
  return (e) => {
    const now = Date.now();
    // Only a terminal gets a bar: logs and pipes stay clean, so an error is the only line on stderr.
    if (!stream.isTTY) return;
    const finished = e.total > 0 && e.done >= e.total;
    if (e.phase === lastPhase && !finished && now - lastDraw < 50) return;
    lastDraw = now;
    lastPhase = e.phase;
    const width = 30;
    const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
    const filled = Math.round(frac * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    const count = e.total > 0 ? `${e.done}/${e.total}` : `${e.done}`;
    const detail = e.detail === undefined ? "" : ` ${e.detail}`;
    stream.write(`\r${e.phase.padEnd(14)} [${bar}] ${count}${detail}\x1b[K${finished ? "\n" : ""}`);
  };
}
