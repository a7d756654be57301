// What every method gets besides the graph and its groups.
import type { RawImages } from "../data/images.ts";
import type { TrainWorkerPort } from "../engine/parallel.ts";
import type { ProgressCallback, WarningCallback } from "../progress.ts";
import type { Wasm } from "../wasm/instance.ts";

/** Images for methods that need data (`needsData` in the method table): Gate Decorator's Tick-Tock. */
export interface MethodData {
  /** Training images (scores and training). */
  train: RawImages;
  /** Test images (accuracy along the way, when given). */
  test?: RawImages;
  /** Per-channel (or one) mean and std after scaling pixels to [0, 1]; default 0 and 1. */
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * What every method gets besides the graph: the WASM kernels and the reporting callbacks. Tensor
 * values, external data included, come from the graph (`Graph.externalData`).
 */
export interface MethodContext {
  /** The loaded kernels (getWasm() or a private createWasm() instance). */
  wasm: Wasm;
  /** Progress of long steps. */
  onProgress?: ProgressCallback;
  /** Non-fatal findings the user should see (e.g. a layer left unpruned and why). */
  onWarning?: WarningCallback;
  /** Images, for methods that need data. */
  data?: MethodData;
  /** Cancels long methods (they throw ABORTED). */
  signal?: AbortSignal;
  /**
   * Data-parallel training for methods that train (gate): `create()` makes fresh worker ports, and
   * `model()` the model's self-contained bytes to initialise them with.
   */
  trainWorkers?: { create: () => TrainWorkerPort[]; model: () => Uint8Array };
  /** A training method's state to continue from (bytes it handed to `onCheckpoint`). */
  resumeFrom?: Uint8Array;
  /** Receives a training method's resumable state at every phase boundary (write it atomically). */
  onCheckpoint?: (bytes: Uint8Array) => Promise<void>;
}
