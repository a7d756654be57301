// The body of a Node training worker (worker_threads): serves the coordinator's messages with
// serveTrainWorker. Started by createNodeTrainWorkers; not an entry point of its own.
import { parentPort } from "node:worker_threads";
import { type FromWorker, serveTrainWorker, type ToWorker } from "../engine/parallel.ts";

const port = parentPort;
if (port !== null) {
  const handle = serveTrainWorker((m: FromWorker) => port.postMessage(m));
  // Messages are handled one at a time, in order.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (m: ToWorker) => {
    queue = queue.then(() => handle(m));
    if (m.kind === "close") void queue.then(() => port.close());
  });
}
