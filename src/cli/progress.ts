import type { ProgressEvent } from "../progress.ts";

export type { ProgressEvent };
/**
 * Turn progress events into a one-line bar on a TTY. When stderr is not a terminal (a pipe, a log),
 * a phase that took a second or more gets one plain line when it ends ("train: 938/938 in 61.2 s ..."),
 * and shorter ones nothing, so the error line of a quick failure stays the only line on stderr.
 * Single-step phases (total 1: `read`, `decode`, `surgery`, `encode`, `write`) show no count.
 */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (e: ProgressEvent) => void {
  let lastPhase = "";
  let lastDraw = 0;
  let phaseStart = Date.now();
  let plainPhase = "";
  return (e) => {
    const now = Date.now();
    if (!stream.isTTY) {
      if (e.phase !== plainPhase) {
        plainPhase = e.phase;
        phaseStart = now;
      }
      const done = e.total > 0 && e.done >= e.total;
      if (done && now - phaseStart >= 1000) {
        const detail = e.detail === undefined ? "" : ` ${e.detail}`;
        const count = e.total === 1 ? "" : ` ${e.done}/${e.total}`;
        stream.write(`${e.phase}:${count} in ${((now - phaseStart) / 1000).toFixed(1)} s${detail}\n`);
        plainPhase = "";
      }
      return;
    }
    const finished = e.total > 0 && e.done >= e.total;
    if (e.phase === lastPhase && !finished && now - lastDraw < 50) return;
    lastDraw = now;
    lastPhase = e.phase;
    const width = 30;
    const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
    const filled = Math.round(frac * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    const count =
      e.total === 1 ? (finished ? "done" : "...") : e.total > 0 ? `${e.done}/${e.total}` : `${e.done}`;
    const detail = e.detail === undefined ? "" : ` ${e.detail}`;
    stream.write(`\r${e.phase.padEnd(14)} [${bar}] ${count}${detail}\x1b[K${finished ? "\n" : ""}`);
  };
}
