// The training loop: epochs of mini-batch SGD over a labelled image set on the training executor
// (tape.ts). The order of each epoch and the augmentation of each image come from (seed, epoch,
// position) (data/augment.ts), the last partial batch is kept (a second compilation of the graph at its
// size, on the same parameters), and the state is handed to `onCheckpoint` at every epoch boundary, so
// that a resumed run continues bit for bit. Cancellation (AbortSignal) is checked between steps and
// throws ABORTED: nothing half-done is returned.

import type { RawImages } from "../data/images.ts";
import type { Preprocessing } from "../data/preprocess.ts";
import { preprocessBatch } from "../data/preprocess.ts";
import { PrunekitError } from "../errors.ts";
import type { Graph } from "../graph/ir.ts";
import type { ProgressCallback } from "../progress.ts";
import type { Wasm } from "../wasm/instance.ts";
import { augmentImages, epochOrder } from "./augment.ts";
import type { Checkpoint, CheckpointTensor, EpochRecord } from "./checkpoint.ts";
import { learningRate, type Schedule, sgdStep } from "./optim.ts";
import type { WorkerPool } from "./parallel.ts";
import {
  compileTrainer,
  createTrainStore,
  type ParamStore,
  type Trainer,
  type TrainerOptions,
  type TrainParam,
} from "./tape.ts";

/** Options of {@link trainModel}. */
export interface TrainOptions {
  /** Epochs to train (a fraction trains that share of the last epoch's batches). */
  epochs: number;
  /** Images per step; default 64. */
  batch?: number;
  /** Peak learning rate; default 0.01. */
  lr?: number;
  /** Default constant. */
  schedule?: Schedule;
  /** Linear warm-up over this many epochs (may be fractional); default 0. */
  warmupEpochs?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 5e-4. */
  weightDecay?: number;
  /** Default false. */
  nesterov?: boolean;
  /** No weight decay on BN parameters and biases; default false (decay on every trainable parameter). */
  noDecayBnBias?: boolean;
  /** Seed of the shuffling and augmentation; default 0. */
  seed?: number;
  /** Default true. */
  shuffle?: boolean;
  /** Random ±2 px shift and horizontal flip; default true. */
  augment?: boolean;
  /** Parameters kept exactly as they are (no gradient step, no decay, no momentum). */
  frozen?: (p: TrainParam) => boolean;
  /**
   * Called after each backward, before the SGD step: reads gradients (Gate Decorator's scores) or adds
   * penalty gradients (an L1 term). `step` is the batch's size and mean loss.
   */
  regularize?: (store: ParamStore, step: { images: number; loss: number }) => void;
  /**
   * A trainer the caller owns (compiled for `batch` images, or fewer when the set is smaller): training
   * runs on its ParamStore, which keeps its values, gradients and momentum after the call; neither is
   * disposed. Its frozen set is replaced by `frozen` (none when not given). Default: a trainer of its own.
   */
  trainer?: Trainer;
  /** Compile options for the trainers this call makes (e.g. `gatedBatchNorms`); must match `trainer`'s. */
  trainerOptions?: Pick<TrainerOptions, "gatedBatchNorms" | "gatedConvs">;
  /** Test accuracy after an epoch, when `evalEvery` says so (the caller evaluates the current values). */
  evaluate?: (values: Map<string, Float32Array>) => Promise<number>;
  /** Evaluate every K epochs (and after the last); default 0 = never. */
  evalEvery?: number;
  /** State to continue from (its epochs are skipped). */
  resume?: Checkpoint;
  /** Settings a checkpoint must match; stored in each checkpoint. */
  fingerprint?: Readonly<Record<string, unknown>>;
  /** Receives the state after every epoch (write it atomically). */
  onCheckpoint?: (c: Checkpoint) => Promise<void>;
  /** Receives one record per finished epoch. */
  onEpoch?: (r: EpochRecord) => void;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Data-parallel workers (already initialised with the model, see engine/parallel.ts): each step's
   * batch is split across them and their gradients combined in a fixed order. BN then normalises per
   * shard; without workers (the default) training keeps full-batch semantics. With `trainer`, the
   * workers step on that trainer's ParamStore (they must have been initialised with the same
   * `gatedBatchNorms`).
   */
  workers?: WorkerPool;
}

/** What {@link trainModel} returns. */
export interface TrainResult {
  /** The trained values of every parameter and BN statistic, by initializer name. */
  values: Map<string, Float32Array>;
  history: EpochRecord[];
  /** Steps taken in this call (not counting resumed epochs). */
  steps: number;
  /** Training images per second over this call. */
  imagesPerSecond: number;
  /** Warnings (e.g. a dropped last batch). */
  warnings: string[];
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

/** The checkpoint of a store. */
export function storeCheckpoint(
  store: ParamStore,
  epoch: number,
  fingerprint: Readonly<Record<string, unknown>>,
  history: readonly EpochRecord[],
): Checkpoint {
  const tensors: CheckpointTensor[] = store.params.map((p) =>
    p.trainable
      ? { name: p.name, values: store.read(p.name), momentum: store.readMomentum(p.name) }
      : { name: p.name, values: store.read(p.name) },
  );
  return { epoch, fingerprint, history: [...history], tensors };
}

/** Load a checkpoint into a store, refusing one of another model or run. */
export function restoreCheckpoint(
  store: ParamStore,
  c: Checkpoint,
  fingerprint: Readonly<Record<string, unknown>>,
): void {
  for (const [k, v] of Object.entries(fingerprint)) {
    if (JSON.stringify(c.fingerprint[k]) !== JSON.stringify(v)) {
      throw new PrunekitError(
        "CHECKPOINT_INVALID",
        `the checkpoint was made with ${k} = ${JSON.stringify(c.fingerprint[k])}, this run has ${JSON.stringify(v)}; resume with the same settings`,
      );
    }
  }
  const byName = new Map(c.tensors.map((t) => [t.name, t]));
  for (const p of store.params) {
    const t = byName.get(p.name);
    if (t === undefined || t.values.length !== p.length || (p.trainable && t.momentum === undefined)) {
      throw new PrunekitError(
        "CHECKPOINT_INVALID",
        `the checkpoint has no matching tensor ${JSON.stringify(p.name)} (${p.length} values); it is of another model`,
      );
    }
  }
  if (byName.size !== store.params.length) {
    throw new PrunekitError("CHECKPOINT_INVALID", "the checkpoint holds tensors this model does not have");
  }
  for (const p of store.params) {
    const t = byName.get(p.name)!;
    store.write(p.name, t.values);
    if (p.trainable) store.writeMomentum(p.name, t.momentum!);
  }
}

/**
 * Train a classifier's graph on labelled images with SGD.
 * @param wasm the module instance to run on (its own, as it is used across awaits).
 * @param graph the model's graph (its initializers are the starting values).
 * @param images the training images. @param plan their preprocessing for the model's input.
 * @throws PrunekitError `ONNX_UNSUPPORTED` (an op the training engine cannot differentiate),
 *   `INVALID_ARGUMENT` (options, labels), `CHECKPOINT_INVALID` (a checkpoint of another run), `ABORTED`.
 */
export async function trainModel(
  wasm: Wasm,
  graph: Graph,
  images: RawImages,
  plan: Preprocessing,
  options: TrainOptions,
): Promise<TrainResult> {
  const epochs = options.epochs;
  if (!(Number.isFinite(epochs) && epochs >= 0)) {
    throw new PrunekitError("INVALID_ARGUMENT", `epochs must be a number >= 0, got ${String(epochs)}`);
  }
  const batch = options.batch ?? 64;
  const lr = options.lr ?? 0.01;
  if (!(Number.isFinite(lr) && lr >= 0))
    throw new PrunekitError("INVALID_ARGUMENT", `lr must be >= 0, got ${lr}`);
  const seed = options.seed ?? 0;
  const shuffle = options.shuffle ?? true;
  const augment = options.augment ?? true;
  const schedule = options.schedule ?? { kind: "constant" };
  const count = images.count;
  if (count === 0) throw new PrunekitError("INVALID_ARGUMENT", "no training images");
  const warnings: string[] = [];
  const owned = options.trainer === undefined;
  // Workers compute the steps when given; this thread applies SGD (on the caller's store, if any).
  const pool = options.workers;
  const main =
    options.trainer ??
    (pool === undefined
      ? compileTrainer(wasm, graph, { ...options.trainerOptions, batch: Math.min(batch, count) })
      : undefined);
  const shared =
    main === undefined
      ? createTrainStore(wasm, graph, {
          ...(options.trainerOptions?.gatedBatchNorms === undefined
            ? {}
            : { gatedBatchNorms: options.trainerOptions.gatedBatchNorms }),
          ...(options.trainerOptions?.gatedConvs === undefined
            ? {}
            : { gatedConvs: options.trainerOptions.gatedConvs }),
        })
      : undefined;
  const store = main?.store ?? shared!.store;
  const inputDims = main?.input.dims ?? shared!.input.dims;
  const trainers = new Map<number, Trainer>(main === undefined ? [] : [[main.batch, main]]);
  try {
    // A last batch that BatchNormalization cannot train on (one value per channel) is dropped, with a warning.
    const dropped = new Set<number>();
    const trainerFor = (n: number): Trainer | undefined => {
      let t = trainers.get(n);
      if (t === undefined && !dropped.has(n)) {
        try {
          t = compileTrainer(wasm, graph, { ...options.trainerOptions, batch: n, params: store });
        } catch (e) {
          if (!(e instanceof PrunekitError && e.code === "INVALID_ARGUMENT" && n < batch)) throw e;
          dropped.add(n);
          warnings.push(`the last batch of ${n} image(s) of every epoch is skipped: ${e.message}`);
          return undefined;
        }
        trainers.set(n, t);
      }
      return t;
    };
    const frozenSet = new Set(
      store.params.filter((p) => p.trainable && options.frozen?.(p) === true).map((p) => p.name),
    );
    main?.setFrozen((p) => frozenSet.has(p.name));
    const frozen = (name: string) => frozenSet.has(name);
    const fingerprint = options.fingerprint ?? {};
    let startEpoch = 0;
    const history: EpochRecord[] = [];
    if (options.resume !== undefined) {
      restoreCheckpoint(store, options.resume, fingerprint);
      startEpoch = options.resume.epoch;
      history.push(...options.resume.history);
    }
    const B = main?.batch ?? Math.min(batch, count);
    const itersPerEpoch = Math.ceil(count / B);
    const totalIters = Math.round(epochs * itersPerEpoch);
    const totalEpochs = Math.ceil(totalIters / itersPerEpoch);
    const warmupIters = Math.round((options.warmupEpochs ?? 0) * itersPerEpoch);
    const [, C, H, W] = inputDims as [number, number, number, number];
    const perImage = C * H * W;
    const x = new Float32Array(B * perImage);
    const labels = new Int32Array(B);
    const fill = new Float32Array(C);
    for (let c = 0; c < C; c++)
      fill[c] = Math.fround(0 - Math.fround(plan.mean[c]!)) / Math.fround(plan.std[c]!);
    const started = now();
    let steps = 0;
    let imagesDone = 0;
    const sgd = {
      lr,
      ...(options.momentum === undefined ? {} : { momentum: options.momentum }),
      ...(options.weightDecay === undefined ? {} : { weightDecay: options.weightDecay }),
      ...(options.nesterov === undefined ? {} : { nesterov: options.nesterov }),
      ...(options.noDecayBnBias === undefined ? {} : { noDecayBnBias: options.noDecayBnBias }),
    };
    const totalSteps = Math.max(0, totalIters - startEpoch * itersPerEpoch);
    for (let epoch = startEpoch; epoch < totalEpochs; epoch++) {
      const epochStart = now();
      const order = epochOrder(count, seed, epoch, shuffle);
      const iters = Math.min(itersPerEpoch, totalIters - epoch * itersPerEpoch);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let it = 0; it < iters; it++) {
        if (options.signal?.aborted === true) throw new PrunekitError("ABORTED", "training was cancelled");
        const first = it * B;
        const n = Math.min(B, count - first);
        const t = pool === undefined ? trainerFor(n) : undefined;
        if (pool === undefined && t === undefined) continue;
        for (let i = 0; i < n; i++) {
          const idx = order[first + i]!;
          preprocessBatch(images, plan, idx, 1, x.subarray(i * perImage, (i + 1) * perImage));
          labels[i] = images.labels[idx]!;
        }
        if (augment) augmentImages(x, n, { channels: C, height: H, width: W }, fill, seed, epoch, first);
        const xs = n === B ? x : x.subarray(0, n * perImage);
        const ls = n === B ? labels : labels.subarray(0, n);
        const r = t !== undefined ? t.step(xs, ls) : await pool!.step(store, xs, ls, perImage, frozenSet);
        if (!Number.isFinite(r.loss)) {
          throw new PrunekitError(
            "INVALID_ARGUMENT",
            `the training loss became ${r.loss} at epoch ${epoch + 1}, step ${it + 1}; lower the learning rate (--lr)`,
          );
        }
        options.regularize?.(store, { images: n, loss: r.loss });
        const globalIter = epoch * itersPerEpoch + it;
        const rate = learningRate(lr, schedule, { iter: globalIter, itersPerEpoch, epochs }, warmupIters);
        sgdStep(store, { ...sgd, lr: rate }, frozen);
        lossSum += r.loss * n;
        correct += r.correct;
        seen += n;
        steps++;
        imagesDone += n;
        if (options.onProgress !== undefined) {
          const elapsed = (now() - started) / 1000;
          const ips = imagesDone / Math.max(elapsed, 1e-9);
          const eta = ((totalSteps - steps) * B) / ips;
          options.onProgress({
            phase: "train",
            done: steps,
            total: totalSteps,
            detail: `epoch ${epoch + 1}/${totalEpochs} loss ${(lossSum / seen).toFixed(4)} acc ${((100 * correct) / seen).toFixed(1)} % ${ips.toFixed(0)} img/s ETA ${fmtTime(eta)}`,
          });
        }
        if (steps % 4 === 0) await nextTask();
      }
      const record: EpochRecord = {
        epoch: epoch + 1,
        loss: seen === 0 ? 0 : lossSum / seen,
        accuracy: seen === 0 ? 0 : correct / seen,
        seconds: (now() - epochStart) / 1000,
      };
      const every = options.evalEvery ?? 0;
      if (
        options.evaluate !== undefined &&
        every > 0 &&
        ((epoch + 1) % every === 0 || epoch + 1 === totalEpochs)
      ) {
        record.testAccuracy = await options.evaluate(readValues(store));
      }
      history.push(record);
      options.onEpoch?.(record);
      if (options.signal?.aborted === true) throw new PrunekitError("ABORTED", "training was cancelled");
      if (options.onCheckpoint !== undefined) {
        await options.onCheckpoint(storeCheckpoint(store, epoch + 1, fingerprint, history));
      }
    }
    const seconds = (now() - started) / 1000;
    return {
      values: readValues(store),
      history,
      steps,
      imagesPerSecond: seconds > 0 ? imagesDone / seconds : 0,
      warnings,
    };
  } finally {
    for (const t of trainers.values()) if (owned || t !== main) t.dispose();
    if (owned) store.dispose();
  }
}

/** Every parameter's current values. */
export function readValues(store: ParamStore): Map<string, Float32Array> {
  return new Map(store.params.map((p) => [p.name, store.read(p.name)]));
}
