// Data-parallel training over workers (worker_threads in Node, Web Workers in browsers), each with its
// own module instance: a batch is split into contiguous shards (the first workers take one image more
// when it does not divide), every worker runs forward, loss and backward on its shard with the current
// parameter values, and the coordinator combines the results in worker order — gradients as
// Σ_w (n_w / n)·g_w, losses likewise, BN running statistics as the shard-weighted mean — then applies SGD
// once. The order is fixed, so a run gives the same bits whatever the timing; but BatchNormalization
// normalises each shard with that shard's statistics (as torch.nn.DataParallel without SyncBatchNorm),
// so runs with different worker counts differ. One worker (the default everywhere) keeps PyTorch's
// full-batch semantics exactly.
//
// The protocol is plain messages (structured-clone friendly); serveTrainWorker is a worker's whole body,
// whatever the runtime, and WorkerPool drives a set of ports from the coordinator.
import { PrunekitError, type PrunekitErrorCode } from "../errors.ts";
import { buildGraph } from "../graph/ir.ts";
import { decodeModel } from "../onnx/decode.ts";
import { createWasm } from "../wasm/instance.ts";
import { type CompiledModel, compileModel } from "./compile.ts";
import type { BatchRunner } from "./evaluate.ts";
import { compileTrainer, type ParamStore, type Trainer } from "./tape.ts";

/** Coordinator → worker. */
export type ToWorker =
  | { kind: "init"; model: Uint8Array; gatedBatchNorms?: string[]; gatedConvs?: string[] }
  | { kind: "step"; id: number; x: Float32Array; labels: Int32Array; values: Float32Array; frozen: string[] }
  | { kind: "eval-init"; model: Uint8Array; batch: number }
  | { kind: "eval-run"; id: number; x: Float32Array }
  | { kind: "close" };

/** Worker → coordinator. */
export type FromWorker =
  | { kind: "ready"; params: { name: string; length: number; trainable: boolean }[] }
  | { kind: "step"; id: number; loss: number; correct: number; grads: Float32Array; state: Float32Array }
  | { kind: "eval-ready" }
  | { kind: "eval-out"; id: number; y: Float32Array }
  | { kind: "error"; code: string; message: string };

/** One worker as the coordinator sees it. */
export interface TrainWorkerPort {
  post(message: ToWorker): void;
  /** Register the handler of the worker's messages (called once). */
  listen(handler: (message: FromWorker) => void): void;
  /** Stop the worker. */
  terminate(): Promise<void> | void;
}

/**
 * The body of a training worker: returns the handler of the coordinator's messages; replies go to
 * `post`. The worker keeps one module instance, one ParamStore and a trainer per shard size.
 */
export function serveTrainWorker(post: (message: FromWorker) => void): (message: ToWorker) => Promise<void> {
  let store: ParamStore | undefined;
  const trainers = new Map<number, Trainer>();
  let make: ((n: number) => Trainer) | undefined;
  let compiled: CompiledModel | undefined;
  return async (m) => {
    try {
      if (m.kind === "eval-init") {
        const wasm = await createWasm();
        compiled = compileModel(wasm, buildGraph(decodeModel(m.model)), { batch: m.batch });
        post({ kind: "eval-ready" });
      } else if (m.kind === "eval-run") {
        if (compiled === undefined) throw new PrunekitError("INVALID_ARGUMENT", "eval-run before eval-init");
        const input = compiled.inputs[0]!.name;
        const y = compiled.run({ [input]: m.x })[compiled.outputs[0]!.name]!;
        post({ kind: "eval-out", id: m.id, y });
      } else if (m.kind === "init") {
        const wasm = await createWasm();
        const graph = buildGraph(decodeModel(m.model));
        const gated = {
          ...(m.gatedBatchNorms === undefined ? {} : { gatedBatchNorms: new Set(m.gatedBatchNorms) }),
          ...(m.gatedConvs === undefined ? {} : { gatedConvs: new Set(m.gatedConvs) }),
        };
        make = (n) => {
          const t = compileTrainer(wasm, graph, {
            batch: n,
            ...gated,
            ...(store === undefined ? {} : { params: store }),
          });
          store = t.store;
          return t;
        };
        const first = make(2);
        trainers.set(2, first);
        post({
          kind: "ready",
          params: first.store.params.map((p) => ({ name: p.name, length: p.length, trainable: p.trainable })),
        });
      } else if (m.kind === "step") {
        if (make === undefined) throw new PrunekitError("INVALID_ARGUMENT", "step before init");
        const n = m.labels.length;
        let t = trainers.get(n);
        if (t === undefined) {
          t = make(n);
          trainers.set(n, t);
        }
        const s = t.store;
        let at = 0;
        for (const p of s.params) {
          s.write(p.name, m.values.subarray(at, at + p.length));
          at += p.length;
        }
        const frozen = new Set(m.frozen);
        t.setFrozen((p) => frozen.has(p.name));
        const r = t.step(m.x, m.labels);
        const trainable = s.params.filter((p) => p.trainable);
        const grads = new Float32Array(trainable.reduce((k, p) => k + p.length, 0));
        at = 0;
        for (const p of trainable) {
          if (!frozen.has(p.name)) grads.set(s.readGrad(p.name), at);
          at += p.length;
        }
        const fixed = s.params.filter((p) => !p.trainable);
        const state = new Float32Array(fixed.reduce((k, p) => k + p.length, 0));
        at = 0;
        for (const p of fixed) {
          state.set(s.read(p.name), at);
          at += p.length;
        }
        post({ kind: "step", id: m.id, loss: r.loss, correct: r.correct, grads, state });
      } else {
        for (const t of trainers.values()) t.dispose();
        store?.dispose();
        compiled?.dispose();
      }
    } catch (e) {
      const code = e instanceof PrunekitError ? e.code : "INTERNAL";
      post({ kind: "error", code, message: (e as Error).message });
    }
  };
}

/**
 * The error a worker reported, for the caller: its PrunekitError again (a user error, e.g. a model the
 * engine cannot differentiate), or a plain Error for anything else (an internal failure, exit 2).
 */
function workerError(where: string, m: { code: string; message: string }): Error {
  if (m.code !== "INTERNAL") return new PrunekitError(m.code as PrunekitErrorCode, `${where}: ${m.message}`);
  return new Error(`${where} failed: ${m.message}`);
}

/** The shard sizes of a batch of n over k workers (contiguous; the first take one more). */
export function shardSizes(n: number, k: number): number[] {
  const used = Math.min(k, n);
  const base = Math.floor(n / used);
  return Array.from({ length: used }, (_, i) => base + (i < n % used ? 1 : 0));
}

/** Drives training workers from the coordinator. */
export class WorkerPool {
  /** Replies awaited, by `${step id}:${worker}`. */
  private readonly pending = new Map<string, { resolve: (m: FromWorker) => void }>();
  private readonly ready: Promise<void>[] = [];
  private nextId = 1;
  private failure: Error | undefined;

  constructor(private readonly ports: readonly TrainWorkerPort[]) {
    if (ports.length === 0)
      throw new PrunekitError("INVALID_ARGUMENT", "a worker pool needs at least one worker");
  }

  /** Workers in the pool. */
  get size(): number {
    return this.ports.length;
  }

  /**
   * Send the model to every worker and wait until each has compiled it (with Gate Decorator's gated
   * BNs and gated convs, when given: the same sets as the coordinator's trainer).
   */
  async init(
    model: Uint8Array,
    gatedBatchNorms?: readonly string[],
    gatedConvs?: readonly string[],
  ): Promise<void> {
    const waits = this.ports.map(
      (port, w) =>
        new Promise<void>((resolve, reject) => {
          port.listen((m) => {
            if (m.kind === "ready") resolve();
            else if (m.kind === "error") {
              const err = workerError(`training worker ${w}`, m);
              this.failure = err;
              reject(err);
              for (const p of this.pending.values()) p.resolve(m);
            } else if (m.kind === "step") {
              const p = this.pending.get(`${m.id}:${w}`);
              this.pending.delete(`${m.id}:${w}`);
              p?.resolve(m);
            }
          });
          port.post({
            kind: "init",
            model,
            ...(gatedBatchNorms === undefined ? {} : { gatedBatchNorms: [...gatedBatchNorms] }),
            ...(gatedConvs === undefined ? {} : { gatedConvs: [...gatedConvs] }),
          });
        }),
    );
    this.ready.push(...waits);
    await Promise.all(waits);
  }

  /**
   * One data-parallel step on n images: the combined loss, correct count, gradients (one array per
   * trainable parameter, in store order) and running statistics (per non-trainable parameter).
   */
  async step(
    store: ParamStore,
    x: Float32Array,
    labels: Int32Array,
    perImage: number,
    frozen: ReadonlySet<string>,
  ): Promise<{ loss: number; correct: number }> {
    if (this.failure !== undefined) throw this.failure;
    const n = labels.length;
    const sizes = shardSizes(n, this.ports.length);
    const values = new Float32Array(store.params.reduce((k, p) => k + p.length, 0));
    let at = 0;
    for (const p of store.params) {
      values.set(store.read(p.name), at);
      at += p.length;
    }
    const id = this.nextId++;
    let first = 0;
    const replies = sizes.map((size, w) => {
      const shardX = x.slice(first * perImage, (first + size) * perImage);
      const shardLabels = labels.slice(first, first + size);
      first += size;
      return new Promise<FromWorker>((resolve) => {
        this.pending.set(`${id}:${w}`, { resolve });
        this.ports[w]!.post({
          kind: "step",
          id,
          x: shardX,
          labels: shardLabels,
          values,
          frozen: [...frozen],
        });
      });
    });
    const results = await Promise.all(replies);
    if (this.failure !== undefined) throw this.failure;
    const trainable = store.params.filter((p) => p.trainable);
    const fixed = store.params.filter((p) => !p.trainable);
    let loss = 0;
    let correct = 0;
    const grads = trainable.map((p) => new Float32Array(p.length));
    const states = fixed.map((p) => new Float32Array(p.length));
    results.forEach((r, w) => {
      if (r.kind !== "step") throw new PrunekitError("INVALID_ARGUMENT", `training worker ${w} failed`);
      const share = Math.fround(sizes[w]! / n);
      loss += (r.loss * sizes[w]!) / n;
      correct += r.correct;
      let o = 0;
      trainable.forEach((p, i) => {
        const g = grads[i]!;
        for (let j = 0; j < p.length; j++) g[j] = Math.fround(g[j]! + Math.fround(share * r.grads[o + j]!));
        o += p.length;
      });
      o = 0;
      fixed.forEach((p, i) => {
        const s = states[i]!;
        for (let j = 0; j < p.length; j++) s[j] = Math.fround(s[j]! + Math.fround(share * r.state[o + j]!));
        o += p.length;
      });
    });
    trainable.forEach((p, i) => {
      store.writeGrad(p.name, grads[i]!);
    });
    fixed.forEach((p, i) => {
      // Masks and other fixed values are the same in every worker; only BN statistics change.
      if (p.role === "running-mean" || p.role === "running-var") store.write(p.name, states[i]!);
    });
    return { loss, correct };
  }

  /** Stop every worker. */
  async close(): Promise<void> {
    for (const p of this.ports) p.post({ kind: "close" });
    await Promise.all(this.ports.map((p) => p.terminate()));
  }
}

/**
 * Evaluation workers: each compiles the model for `batch` images and runs whole batches; `runners` feed
 * evaluateCompiled (outputs are scored in image order, so the result equals one thread's bit for bit).
 */
export async function startEvalWorkers(
  ports: readonly TrainWorkerPort[],
  model: Uint8Array,
  batch: number,
): Promise<{ runners: BatchRunner[]; close: () => Promise<void> }> {
  let nextId = 1;
  const runners = await Promise.all(
    ports.map(
      (port, w) =>
        new Promise<BatchRunner>((resolve, reject) => {
          const pending = new Map<
            number,
            { resolve: (y: Float32Array) => void; reject: (e: Error) => void }
          >();
          port.listen((m) => {
            if (m.kind === "eval-ready") {
              resolve({
                run: (x) =>
                  new Promise<Float32Array>((res, rej) => {
                    const id = nextId++;
                    pending.set(id, { resolve: res, reject: rej });
                    port.post({ kind: "eval-run", id, x });
                  }),
              });
            } else if (m.kind === "eval-out") {
              pending.get(m.id)?.resolve(m.y);
              pending.delete(m.id);
            } else if (m.kind === "error") {
              const err = workerError(`evaluation worker ${w}`, m);
              reject(err);
              for (const p of pending.values()) p.reject(err);
              pending.clear();
            }
          });
          port.post({ kind: "eval-init", model, batch });
        }),
    ),
  );
  return {
    runners,
    close: async () => {
      for (const p of ports) p.post({ kind: "close" });
      await Promise.all(ports.map((p) => p.terminate()));
    },
  };
}
