// Node's partner workers for the parallel partner search of wide layers (methods/merge-workers.ts):
// worker_threads running partner-worker.ts, one module instance each. Importing this module registers
// the starter (setPartnerWorkerStarter); `prunekit/node` and the CLI import it.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  type FromPartnerWorker,
  type PartnerWorkerPort,
  setPartnerWorkerStarter,
  type ToPartnerWorker,
} from "../methods/merge-workers.ts";

/**
 * Start `count` partner workers on Node's worker_threads, each initialised with its own module instance.
 * @throws Error when a worker fails to start (its message).
 */
export async function startNodePartnerWorkers(count: number): Promise<PartnerWorkerPort[]> {
  // From the sources (tests, tsx) the worker is the .ts file and needs the same loader; from dist/ the .js.
  const fromSource = import.meta.url.endsWith(".ts");
  const script = new URL(fromSource ? "./partner-worker.ts" : "./partner-worker.js", import.meta.url);
  const boot = fromSource
    ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })`
    : undefined;
  const ports: PartnerWorkerPort[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const worker = boot === undefined ? new Worker(script) : new Worker(boot, { eval: true });
    worker.unref();
    let handler: ((m: FromPartnerWorker) => void) | undefined;
    let started: ((m: FromPartnerWorker) => void) | undefined;
    const deliver = (m: FromPartnerWorker) => (handler ?? started)?.(m);
    worker.on("message", (m: FromPartnerWorker) => deliver(m));
    worker.on("error", (e: Error) => deliver({ kind: "error", code: "INTERNAL", message: e.message }));
    worker.on("exit", (code: number) =>
      deliver({ kind: "error", code: "INTERNAL", message: `partner worker exited (code ${code})` }),
    );
    ready.push(
      new Promise<void>((resolve, reject) => {
        started = (m) => {
          if (m.kind === "ready") resolve();
          else if (m.kind === "error") reject(new Error(m.message));
        };
      }),
    );
    worker.postMessage({ kind: "init" } satisfies ToPartnerWorker);
    ports.push({
      post: (m, transfer) => worker.postMessage(m, transfer ?? []),
      listen: (h) => {
        handler = h;
      },
      terminate: async () => {
        handler = () => {};
        await worker.terminate();
      },
    });
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    await Promise.all(ports.map((p) => p.terminate()));
    throw e;
  }
  return ports;
}

setPartnerWorkerStarter({
  start: startNodePartnerWorkers,
  cores: () => Math.max(1, availableParallelism()),
});
