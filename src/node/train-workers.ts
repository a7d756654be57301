// Training workers on Node's worker_threads, for data-parallel fine-tuning (engine/parallel.ts).
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { FromWorker, TrainWorkerPort } from "../engine/parallel.ts";
import { PrunekitError } from "../errors.ts";

/** Cores this process may use (at least 1). */
export function coreCount(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Start `count` training workers, each with its own WebAssembly instance.
 * @throws PrunekitError `INVALID_ARGUMENT` for a count that is not an integer in 1..64.
 */
export function createNodeTrainWorkers(count: number): TrainWorkerPort[] {
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    throw new PrunekitError("INVALID_ARGUMENT", `workers must be an integer in 1..64, got ${String(count)}`);
  }
  // From the sources (tests, tsx) the worker is the .ts file and needs the same loader; from dist/ the .js.
  const fromSource = import.meta.url.endsWith(".ts");
  const script = new URL(fromSource ? "./train-worker.ts" : "./train-worker.js", import.meta.url);
  // A worker started from a .ts file registers tsx's loader first (execArgv --import does not reach
  // worker threads in every Node 20 release).
  const boot = fromSource
    ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })`
    : undefined;
  return Array.from({ length: count }, () => {
    const worker = boot === undefined ? new Worker(script) : new Worker(boot, { eval: true });
    worker.unref();
    return {
      post: (m) => worker.postMessage(m),
      listen(handler: (m: FromWorker) => void) {
        worker.on("message", handler);
        worker.on("error", (e) => handler({ kind: "error", code: "INTERNAL", message: e.message }));
      },
      terminate: async () => {
        await worker.terminate();
      },
    };
  });
}
