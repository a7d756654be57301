// The messages between the web page (app/main.ts) and the worker (worker.ts) that runs the library.
// Both sides import these types, so a change here is checked on both ends. Bytes travel as
// transferred ArrayBuffers (no copy); errors as plain data (a PrunekitError's code and message).
import type { ModelDescription, PruneReport } from "../api.ts";
import type { ProgressEvent } from "../progress.ts";

/** The methods the page offers: the data-free ones (gate needs a training set). */
export const WEB_METHODS: readonly WebMethod[] = ["l1", "l2", "merge", "epruner"];

/** A data-free method name. */
export type WebMethod = "l1" | "l2" | "merge" | "epruner";

/**
 * The prune options the page can set. Only the keys of the chosen method are sent (prune() refuses
 * the options of another method), so an unset key takes the library default, as on the command line.
 */
export interface WebPruneOptions {
  method: WebMethod;
  /** l1, l2, merge: fraction of channels removed per layer (0..1). */
  ratio?: number;
  /** merge: kept-set criterion. */
  criterion?: "l1" | "l2" | "gm";
  /** merge: BatchNorm formula. */
  bnFormula?: "exact" | "reference";
  /** epruner: preference coefficient β. */
  beta?: number;
  /** epruner: fold each cluster member into its exemplar. */
  merge?: boolean;
}

/** Page -> worker. `id` pairs a request with its replies; a newer request does not cancel an older one. */
export type ToWorker =
  /** Decode and analyse a model; it stays loaded in the worker for the next `prune`. */
  | { type: "load"; id: number; bytes: ArrayBuffer }
  /** Prune the loaded model. */
  | { type: "prune"; id: number; options: WebPruneOptions };

/** An error as data: a PrunekitError's stable code, or "INTERNAL" for anything else. */
export interface WorkerError {
  code: string;
  message: string;
}

/** Worker -> page. */
export type FromWorker =
  | { type: "loaded"; id: number; description: ModelDescription }
  | { type: "progress"; id: number; event: ProgressEvent }
  | { type: "warning"; id: number; message: string }
  | { type: "pruned"; id: number; bytes: ArrayBuffer; report: PruneReport }
  | { type: "error"; id: number; error: WorkerError };
