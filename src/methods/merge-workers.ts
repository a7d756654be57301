// The partner search of wide layers (docs/methods.md §2.4 / §2.5) on several threads, each with its own
// module instance. The kept filters are split into contiguous parts: the coordinating thread holds the
// first, each worker one of the others (normalised once, in its own memory, so the kept rows are held
// once in all). Block by block of removed rows, the coordinator normalises the block and sends it to
// every worker; each computes the block's cosines against its part with distance_cosine_cross_unit
// while the coordinator computes its own, and the coordinator assembles the block x kept cosines and
// selects the block's partners. Every cosine is computed entirely by one thread with the same kernel,
// whose entries do not depend on which rows a call covers (assembly/distance.ts), so the partners and
// scales are those of one thread bit for bit, whatever the worker count or the timing.
//
// Workers are Node worker_threads, started by src/node/partner-workers.ts, which registers itself
// (setPartnerWorkerStarter) when `prunekit/node` or the CLI is loaded; nothing here refers to Node, so
// bundles for browsers are unaffected. Without a starter (browsers, Deno, Node without prunekit/node)
// the search runs on one thread.
import { PrunekitError, type PrunekitErrorCode } from "../errors.ts";
import { createWasm, type Wasm, withArena } from "../wasm/instance.ts";
import {
  type FilterVectors,
  KeptPart,
  type PartnerOptions,
  PartnerSelection,
  partnerBlockRows,
  slice,
  vectorLen,
} from "../wasm/kernels/filter-vectors.ts";
import type { MergePartners } from "../wasm/kernels/merge.ts";

/** Coordinator → partner worker. */
export type ToPartnerWorker =
  | { kind: "init" }
  /** Start a kept part of `count` vectors of `len` elements (replaces any previous one). */
  | { kind: "part"; count: number; len: number }
  /** Append `count` raw kept vectors (count x len); the reply to the one that completes the part is `norms`. */
  | { kind: "kept"; count: number; rows: Float32Array }
  /** Cosines of `rows` unit removed vectors (rows x len) against the part; the reply is `cos`. */
  | { kind: "block"; seq: number; rows: number; unit: Float32Array }
  | { kind: "close" };

/** Partner worker → coordinator. */
export type FromPartnerWorker =
  | { kind: "ready" }
  | { kind: "norms"; norms: Float32Array }
  | { kind: "cos"; seq: number; cos: Float32Array }
  | { kind: "error"; code: string; message: string };

/** One partner worker as the coordinator sees it. */
export interface PartnerWorkerPort {
  /** Send a message; buffers in `transfer` are moved, not copied. */
  post(message: ToPartnerWorker, transfer?: ArrayBuffer[]): void;
  /** Register the handler of the worker's messages (called once). */
  listen(handler: (message: FromPartnerWorker) => void): void;
  /** Stop the worker. */
  terminate(): Promise<void> | void;
}

/**
 * The body of a partner worker, whatever the runtime: returns the handler of the coordinator's
 * messages (to be called one at a time, in order); replies go to `post`.
 */
export function servePartnerWorker(
  post: (message: FromPartnerWorker, transfer?: ArrayBuffer[]) => void,
): (message: ToPartnerWorker) => Promise<void> {
  let wasm: Wasm | undefined;
  let part: KeptPart | undefined;
  let loaded = 0;
  return async (m) => {
    try {
      if (m.kind === "init") {
        wasm = await createWasm();
        post({ kind: "ready" });
        return;
      }
      if (m.kind === "close") return;
      if (wasm === undefined)
        throw new PrunekitError("INVALID_ARGUMENT", `partner worker: ${m.kind} before init`);
      if (m.kind === "part") {
        part = undefined;
        wasm.arena.reset();
        part = new KeptPart(wasm, wasm.arena, m.count, m.len);
        loaded = 0;
        if (m.count === 0) post({ kind: "norms", norms: new Float32Array(0) });
        return;
      }
      if (part === undefined)
        throw new PrunekitError("INVALID_ARGUMENT", `partner worker: ${m.kind} before part`);
      const p = part;
      if (m.kind === "kept") {
        p.loadRows(m.rows, m.count);
        loaded += m.count;
        if (loaded === p.count) post({ kind: "norms", norms: wasm.arena.viewF32(p.norms).slice() });
        return;
      }
      const w = wasm;
      const cos = withArena(w, (arena) => {
        const unit = arena.copyInF32(m.unit);
        const out = arena.allocF32(m.rows * p.count);
        p.cosines(unit, m.rows, out);
        return arena.viewF32(out).slice();
      });
      post({ kind: "cos", seq: m.seq, cos }, [cos.buffer as ArrayBuffer]);
    } catch (e) {
      const code = e instanceof PrunekitError ? e.code : "INTERNAL";
      post({ kind: "error", code, message: e instanceof Error ? e.message : String(e) });
    }
  };
}

/**
 * What starts partner workers where the runtime has threads: registered by the Node side
 * (src/node/partner-workers.ts, loaded with `prunekit/node` and by the CLI), so that nothing reachable
 * from the browser entry refers to Node's worker_threads. Without it the search runs on one thread.
 */
export interface PartnerWorkerStarter {
  /** Start `count` workers, each initialised with its own module instance. */
  start(count: number): Promise<PartnerWorkerPort[]>;
  /** Cores available (what `workers: "auto"` means). */
  cores(): number;
}

let starter: PartnerWorkerStarter | undefined;

/** Register (or with undefined, remove) the partner-worker starter. */
export function setPartnerWorkerStarter(s: PartnerWorkerStarter | undefined): void {
  starter = s;
}

/**
 * Threads a `workers` option asks for: `auto` is one per core where partner workers can be started (a
 * registered starter), else 1.
 * @throws PrunekitError `INVALID_ARGUMENT` unless `workers` is an integer in 1..64 or `auto`.
 * @example
 * resolveWorkerCount(2); // 2
 */
export function resolveWorkerCount(workers: number | "auto"): number {
  if (workers === "auto") return starter?.cores() ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `workers must be an integer in 1..64 or "auto", got ${typeof workers === "string" ? JSON.stringify(workers) : String(workers)}`,
    );
  }
  return workers;
}

/**
 * Start `count` partner workers with the registered starter; undefined where none is registered (a
 * browser, Deno, or Node without `prunekit/node`).
 * @throws Error when a worker fails to start (its message).
 */
export async function startPartnerWorkers(count: number): Promise<PartnerWorkerPort[] | undefined> {
  if (starter === undefined || count < 1) return undefined;
  return starter.start(count);
}

/** The error a worker reported: its PrunekitError again, or a plain Error (internal) for anything else. */
function workerError(w: number, m: { code: string; message: string }): Error {
  if (m.code !== "INTERNAL")
    return new PrunekitError(m.code as PrunekitErrorCode, `partner worker ${w}: ${m.message}`);
  return new Error(`partner worker ${w} failed: ${m.message}`);
}

/** Sizes of `n` items split into `k` contiguous parts (the first take one more when it does not divide). */
export function partSizes(n: number, k: number): number[] {
  const base = Math.floor(n / k);
  return Array.from({ length: k }, (_, i) => base + (i < n % k ? 1 : 0));
}

/** Replies of one worker, awaited in order. */
class ReplyQueue {
  private readonly waiting: { resolve: (m: FromPartnerWorker) => void; reject: (e: Error) => void }[] = [];
  private readonly early: FromPartnerWorker[] = [];
  private failure: Error | undefined;

  constructor(port: PartnerWorkerPort, index: number) {
    port.listen((m) => {
      if (m.kind === "error") {
        this.failure ??= workerError(index, m);
        for (const w of this.waiting.splice(0)) w.reject(this.failure);
        return;
      }
      const w = this.waiting.shift();
      if (w === undefined) this.early.push(m);
      else w.resolve(m);
    });
  }

  next(): Promise<FromPartnerWorker> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const m = this.early.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}

/** Partner workers driven from the coordinating thread (see the top of this file). */
export class PartnerWorkers {
  private readonly queues: ReplyQueue[];

  constructor(private readonly ports: readonly PartnerWorkerPort[]) {
    this.queues = ports.map((p, i) => new ReplyQueue(p, i));
  }

  /** Threads a search uses: the workers and the coordinator. */
  get threads(): number {
    return this.ports.length + 1;
  }

  /**
   * The partner search of one layer on `w` (the coordinator's instance) and the workers, with the
   * result of kernels/filter-vectors.ts filterVectorPartners bit for bit.
   * @throws PrunekitError `INVALID_ARGUMENT` as filterVectorPartners; Error when a worker fails.
   */
  async search(
    w: Wasm,
    v: FilterVectors,
    removed: ArrayLike<number>,
    kept: ArrayLike<number>,
    opts: PartnerOptions & { blockRows?: number },
  ): Promise<MergePartners> {
    const len = vectorLen("PartnerWorkers.search", v);
    const p = kept.length;
    const sizes = partSizes(p, this.threads);
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const arena = w.arena;
    const mark = arena.mark();
    try {
      const sel = new PartnerSelection(w, arena, v, removed, kept, opts, opts.blockRows);
      // Kept rows to the workers, in chunks of one block's worth of vector elements.
      const chunkRows = partnerBlockRows(0, len);
      this.ports.forEach((port, i) => {
        const from = starts[i + 1]!;
        const count = sizes[i + 1]!;
        port.post({ kind: "part", count, len });
        for (let j = 0; j < count; j += chunkRows) {
          const chunk = Math.min(chunkRows, count - j);
          const rows = keptRows(v, kept, from + j, chunk, len);
          port.post({ kind: "kept", count: chunk, rows }, [rows.buffer as ArrayBuffer]);
        }
      });
      const own = new KeptPart(w, arena, sizes[0]!, len);
      own.load(v, kept, 0, sizes[0]!);
      sel.setKeptNorms(0, arena.viewF32(own.norms));
      for (let i = 0; i < this.ports.length; i++) {
        const m = await this.queues[i]!.next();
        if (m.kind !== "norms") throw new Error(`partner worker ${i}: expected norms, got ${m.kind}`);
        sel.setKeptNorms(starts[i + 1]!, m.norms);
      }
      const ownCos = arena.allocF32(sel.blockRows * sizes[0]!, mark);
      for (let r0 = 0, seq = 0; r0 < removed.length; r0 += sel.blockRows, seq++) {
        const rows = Math.min(sel.blockRows, removed.length - r0);
        const unit = sel.loadBlock(r0, rows);
        const unitRows = arena.viewF32(unit).slice();
        for (const port of this.ports) port.post({ kind: "block", seq, rows, unit: unitRows });
        const mine = slice(ownCos, 0, rows * sizes[0]!);
        own.cosines(unit, rows, mine);
        scatter(arena.viewF32(sel.cos), arena.viewF32(mine), rows, p, 0, sizes[0]!);
        for (let i = 0; i < this.ports.length; i++) {
          const m = await this.queues[i]!.next();
          if (m.kind !== "cos" || m.seq !== seq)
            throw new Error(`partner worker ${i}: expected the cosines of block ${seq}, got ${m.kind}`);
          scatter(arena.viewF32(sel.cos), m.cos, rows, p, starts[i + 1]!, sizes[i + 1]!);
        }
        sel.select(r0, rows);
      }
      return sel.result();
    } finally {
      arena.release(mark);
    }
  }

  /** Stop every worker. */
  async close(): Promise<void> {
    for (const p of this.ports) p.post({ kind: "close" });
    await Promise.all(this.ports.map((p) => p.terminate()));
  }
}

/** Kept vectors kept[from .. from + count) as one count x len array (for a message). */
function keptRows(
  v: FilterVectors,
  kept: ArrayLike<number>,
  from: number,
  count: number,
  len: number,
): Float32Array {
  const out = new Float32Array(count * len);
  const d = v.cols;
  for (let i = 0; i < count; i++) {
    const row = kept[from + i]!;
    out.set(v.weights.subarray(row * d, row * d + d), i * len);
    if (v.appended !== undefined) out[i * len + d] = v.appended[row]!;
  }
  return out;
}

/** Copy a rows x width block into columns col .. col + width of a rows x stride matrix. */
function scatter(
  dst: Float32Array,
  src: Float32Array,
  rows: number,
  stride: number,
  col: number,
  width: number,
): void {
  if (width === stride) {
    dst.set(src.subarray(0, rows * width));
    return;
  }
  for (let i = 0; i < rows; i++) dst.set(src.subarray(i * width, (i + 1) * width), i * stride + col);
}
