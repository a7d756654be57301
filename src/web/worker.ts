// The web app's worker: runs the library off the page's thread. It loads prunekit.wasm from next to
// itself (dist/web/prunekit.wasm), keeps the last loaded model, and answers the messages of
// messages.ts. Nothing is sent anywhere but back to the page.
import { describeModel, loadModel, type Model, prune } from "../api.ts";
import { isPrunekitError, PrunekitError } from "../errors.ts";
import { getWasm } from "../wasm/instance.ts";
import type { FromWorker, ToWorker, WebPruneOptions, WorkerError } from "./messages.ts";

interface WorkerScope {
  postMessage(message: FromWorker, options?: { transfer?: Transferable[] }): void;
  addEventListener(type: "message", listener: (event: MessageEvent<ToWorker>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

/** The first getWasm call decides the source; prime it with the module next to this script. */
const wasmReady = getWasm(new URL("./prunekit.wasm", import.meta.url));

let model: Model | undefined;

function asError(e: unknown): WorkerError {
  if (isPrunekitError(e)) return { code: e.code, message: e.message };
  return { code: "INTERNAL", message: e instanceof Error ? e.message : String(e) };
}

/** The library options of a page request: only the chosen method's keys (prune() refuses others). */
function pruneOptions(o: WebPruneOptions) {
  if (o.method === "epruner") {
    return {
      method: o.method,
      ...(o.beta === undefined ? {} : { beta: o.beta }),
      ...(o.merge === undefined ? {} : { merge: o.merge }),
    };
  }
  return {
    method: o.method,
    ...(o.ratio === undefined ? {} : { ratio: o.ratio }),
    ...(o.method === "merge" && o.criterion !== undefined ? { criterion: o.criterion } : {}),
    ...(o.method === "merge" && o.bnFormula !== undefined ? { bnFormula: o.bnFormula } : {}),
  };
}

async function handle(msg: ToWorker): Promise<void> {
  await wasmReady;
  if (msg.type === "load") {
    model = undefined;
    model = await loadModel(new Uint8Array(msg.bytes));
    scope.postMessage({ type: "loaded", id: msg.id, description: describeModel(model) });
    return;
  }
  if (model === undefined)
    throw new PrunekitError("INVALID_ARGUMENT", "no model is loaded: choose an .onnx file first");
  // The page shows an unchanged result (and says so) rather than failing with NOTHING_TO_PRUNE.
  const result = await prune(model, {
    ...pruneOptions(msg.options),
    allowUnchanged: true,
    onProgress: (event) => scope.postMessage({ type: "progress", id: msg.id, event }),
    onWarning: (message) => scope.postMessage({ type: "warning", id: msg.id, message }),
  });
  if (result.report.layers.every((l) => l.channelsAfter === l.channelsBefore)) {
    scope.postMessage({
      type: "warning",
      id: msg.id,
      message: `nothing was pruned: ${result.report.unpruned.map((u) => `group ${u.group}: ${u.reason}`).join("; ")}`,
    });
  }
  const bytes = result.bytes.slice().buffer; // a copy of exactly the model's bytes, transferred
  scope.postMessage({ type: "pruned", id: msg.id, bytes, report: result.report }, { transfer: [bytes] });
}

// One request at a time, in order: the model and the wasm arena are shared.
let queue: Promise<void> = Promise.resolve();
scope.addEventListener("message", (event) => {
  const msg = event.data;
  queue = queue.then(() =>
    handle(msg).catch((e: unknown) => scope.postMessage({ type: "error", id: msg.id, error: asError(e) })),
  );
});
