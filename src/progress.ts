// Ground floor: how long operations report progress and non-fatal findings. Every floor may import it.

/** A progress event reported by long operations. */
export interface ProgressEvent {
  /**
   * Short name of the current phase. The CLI reports `read` and `decode` of the input, then the
   * method's own phases (e.g. "scoring", "decomposition", "clustering", "tick 3"), then prune's
   * `surgery` and `encode` (done 0 then 1 of 1), then `write`.
   */
  phase: string;
  /** Units done in this phase. */
  done: number;
  /** Units in this phase (0 if unknown). */
  total: number;
  /** A short status to show next to the bar, e.g. "epoch 2/5 loss 0.412 acc 86.1 % 812 img/s ETA 1:20". */
  detail?: string;
}

/** Receives progress events. */
export type ProgressCallback = (event: ProgressEvent) => void;

/** Receives non-fatal findings the user should see (e.g. a layer left unpruned and why). */
export type WarningCallback = (message: string) => void;
