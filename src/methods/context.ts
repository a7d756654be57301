// What every method gets besides the graph and its groups.
import type { ProgressCallback, WarningCallback } from "../progress.ts";
import type { Wasm } from "../wasm/instance.ts";

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
}
