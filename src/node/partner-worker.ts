// The body of a Node partner worker (worker_threads) for the partner search of wide layers: serves the
// coordinator's messages with servePartnerWorker (methods/merge-workers.ts). Started by
// startNodePartnerWorkers (partner-workers.ts); not an entry point of its own.
import { parentPort } from "node:worker_threads";
import {
  type FromPartnerWorker,
  servePartnerWorker,
  type ToPartnerWorker,
} from "../methods/merge-workers.ts";

const port = parentPort;
if (port !== null) {
  const handle = servePartnerWorker((m: FromPartnerWorker, transfer?: ArrayBuffer[]) =>
    port.postMessage(m, transfer ?? []),
  );
  // Messages are handled one at a time, in order.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (m: ToPartnerWorker) => {
    queue = queue.then(() => handle(m));
    if (m.kind === "close") void queue.then(() => port.close());
  });
}
