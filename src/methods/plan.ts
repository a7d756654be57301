import type { ExternalTensorData } from "../onnx/tensor.ts";
import type { Wasm } from "../wasm/instance.ts";

/**
 * How one removed channel is folded into a kept one by the consumers of its group
 * (Neuron Merging's scaling matrix Z, ALGORITHMS.md §2.2, stored by rows: Z[from, into] = scale).
 * For every consumer weight W' with input axis over the group's channels:
 *   W'_new[.., into, ..] = W'[.., into, ..] + Σ scale · W'[.., from, ..]   (then `from` is removed).
 */
export interface ChannelMerge {
  /** Removed channel index in the group's original channel space. */
  from: number;
  /** Kept channel index (original channel space) that absorbs it. */
  into: number;
  /** Non-negative scale z. */
  scale: number;
}

/** What to do with one dependency group. Groups not listed in a plan are left unchanged. */
export interface GroupPlan {
  /** `DependencyGroup.id` from graph/groups.ts. */
  groupId: number;
  /** Kept channel indices of the group's original channel space, ascending, at least one. */
  keep: number[];
  /** Optional compensation; every `from` must be a removed channel and every `into` a kept one. */
  merges?: ChannelMerge[];
}

/** The output of every method: kept channels per group plus optional compensation. Surgery applies it. */
export interface PrunePlan {
  /** Name of the method that made the plan, e.g. "merge", "l1". */
  method: string;
  /** One entry per group to change. */
  groups: GroupPlan[];
}

/** A progress event reported by long operations. */
export interface ProgressEvent {
  /** Short name of the current phase, e.g. "decode", "analysis", "decomposition". */
  phase: string;
  /** Units done in this phase. */
  done: number;
  /** Units in this phase (0 if unknown). */
  total: number;
}

/** What every method gets besides the graph: the WASM kernels and the reporting callbacks. */
export interface MethodContext {
  /** The loaded kernels (src/wasm/instance.ts getWasm()). */
  wasm: Wasm;
  /** Progress of long steps. */
  onProgress?: (event: ProgressEvent) => void;
  /** Non-fatal findings the user should see (e.g. a layer left unpruned and why). */
  onWarning?: (message: string) => void;
  /** External tensor bytes from loadOnnx, when the model stores weights outside the file. */
  externalData?: ExternalTensorData;
}
