// Gate Decorator (docs/methods.md §4): every BatchNormalization of a prunable group becomes a gated BN
// (engine/tape.ts gatedBatchNorms, §4.1), and where the channels have no BN (BN-free models, BN-fused
// exports) the conv's output is gated instead, bias included (gatedConvs, §4.9, experimental); Ticks
// score the channels by |g·∂L/∂g| summed over the tick set (§4.2) with the conv kernels frozen and prune
// a fraction of them globally (§4.4, gate-step.ts); Tocks train everything with an L1 penalty on the
// gates and a triangular learning rate (§4.5); the loop stops when the MACs of the network with the
// masked channels removed reach the target. Then the gates are folded into the BNs and convs and the
// masked channels removed by one plan (§4.6). Channels are never removed between steps: a pruned channel
// is a mask held at 0.
import { limitImages, type RawImages } from "../data/images.ts";
import { type Preprocessing, planPreprocessing, preprocessBatch } from "../data/preprocess.ts";
import { epochOrder } from "../engine/augment.ts";
import { decodeCheckpoint, type EpochRecord, encodeCheckpoint } from "../engine/checkpoint.ts";
import { exportFn } from "../engine/lower.ts";
import { WorkerPool } from "../engine/parallel.ts";
import { compileTrainer, type ParamStore, type Trainer } from "../engine/tape.ts";
import { restoreCheckpoint, storeCheckpoint, trainModel } from "../engine/train.ts";
import { PrunekitError } from "../errors.ts";
import { countModel } from "../graph/count.ts";
import type { DependencyGroup } from "../graph/group.ts";
import type { Graph } from "../graph/ir.ts";
import { inferShapes, type ShapeInfo } from "../graph/shapes.ts";
import type { GroupPlan, PrunePlan } from "../surgery/plan.ts";
import { createWasm, type Wasm } from "../wasm/instance.ts";
import { BUDGET_DEFAULTS, checkRoundTo, layerNodeName, plannedSize, roundMask } from "./budget.ts";
import type { MethodContext, MethodData } from "./context.ts";
import {
  findGateGroups,
  foldGates,
  type GateGroup,
  type GateMember,
  type GateState,
  gatedBatchNorms,
  gatedConvs,
  gateMode,
  groupScores,
} from "./gate-groups.ts";
import { pruneGlobally } from "./gate-step.ts";

/** Options of {@link planGate}. */
export interface GateOptions {
  /** Stop when the MACs of the pruned network are ≤ this fraction of the original (required, (0, 1]). */
  flopsTarget: number | undefined;
  /** p: fraction of the remaining channels pruned per Tick (§4.8: 0.002). */
  tickRatio: number;
  /** λ of the L1 penalty on the gates during Tocks (§4.8: 1e-3). */
  sparseLambda: number;
  /** Epochs of each Tock, fractional allowed; 0 skips Tocks (§4.8: 10). */
  tockEpochs: number;
  /** T: one Tock after every T Ticks (§4.8: 10). */
  ticksPerTock: number;
  /** Tick learning rate and low end of the Tock triangle (§4.8: 1e-3). */
  lrMin: number;
  /** Peak of the Tock triangle (§4.8: 1e-2). */
  lrMax: number;
  /** Protected minimum ratio: each group keeps max(1, floor(minRatio·C)) channels (§4.8: 0.1). */
  minRatio: number;
  /** η of the FLOPs-aware score (§4.2; §4.8: 0 = off). */
  eta: number;
  /** Fraction of the training set a Tick passes over (§4.5; default 1 = the full set, as the reference runs). */
  tickSubset: number;
  /** Images per step (default 64). */
  batch: number;
  /** Seed of the shuffling, augmentation and tick subset (default 0). */
  seed: number;
  /** Random ±2 px shifts and flips while training (default true). */
  augment: boolean;
  /** Test images measured after every Tock and at the end (with `data.test`); default 1000. */
  evalLimit: number;
  /** Layers (producer node or weight tensor names) whose groups are left unpruned (and ungated). */
  exclude: string[];
  /** Epochs of fine-tuning after pruning (§4.7: triangular 1e-3 → 1e-2 → 1e-3, momentum 0, wd 5e-4); run by prune(). */
  finetuneEpochs: number;
  /**
   * Freeze the linear (Gemm / MatMul) kernels during a Tick too, not only the conv kernels. Default false:
   * docs/methods.md §4.5 keeps linear layers training in a Tick.
   */
  tickFreezeLinear: boolean;
  /**
   * Hardware-friendly widths (beyond the paper): when the masks are final, each group's live count is
   * rounded to the nearest multiple of this by budget.ts roundMask, by |gate|. 1: off.
   */
  roundTo: number;
}

/** Defaults of {@link GateOptions}: docs/methods.md §4.8 (p, λ, Tock epochs, T, learning rates, 0.1, η) and §4.7 (40 epochs). */
export const GATE_DEFAULTS: GateOptions = {
  flopsTarget: undefined,
  tickRatio: 0.002,
  sparseLambda: 1e-3,
  tockEpochs: 10,
  ticksPerTock: 10,
  lrMin: 1e-3,
  lrMax: 1e-2,
  minRatio: 0.1,
  eta: 0,
  tickSubset: 1,
  batch: 64,
  seed: 0,
  augment: true,
  evalLimit: 1000,
  exclude: [],
  finetuneEpochs: 40,
  tickFreezeLinear: false,
  roundTo: BUDGET_DEFAULTS.roundTo,
};

/** One point of the Tick-Tock trajectory (the report's `details.trajectory`). */
export interface GateTrajectoryPoint {
  phase: "tock" | "tick";
  /** 1-based index of this Tick or Tock. */
  index: number;
  /** MACs of the network with the masked channels removed, as a fraction of the original. */
  macsFraction: number;
  /** Live channels over all gate groups (each group channel once). */
  channelsLeft: number;
  /** Mean training loss and accuracy over the phase. */
  trainLoss: number;
  trainAccuracy: number;
  /** Ticks: channels masked by this Tick, and how many of them scored exactly 0. */
  removed?: number;
  removedZeroScore?: number;
  /** Ticks: the threshold τ. */
  threshold?: number;
  /** Test top-1 (eval mode, masked network), when measured. */
  testAccuracy?: number;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new PrunekitError("INVALID_ARGUMENT", message);
}

/**
 * Validate the options (the public API's boundary).
 * @throws PrunekitError `INVALID_ARGUMENT` naming the option.
 */
export function checkGateOptions(o: GateOptions): void {
  const t = o.flopsTarget;
  check(
    t !== undefined && Number.isFinite(t) && t > 0 && t <= 1,
    `method gate needs flopsTarget, the MACs fraction to reach, in (0, 1]; got ${String(t)}`,
  );
  check(o.tickRatio > 0 && o.tickRatio < 1, `tickRatio must be in (0, 1), got ${o.tickRatio}`);
  check(
    o.sparseLambda >= 0 && Number.isFinite(o.sparseLambda),
    `sparseLambda must be >= 0, got ${o.sparseLambda}`,
  );
  check(o.tockEpochs >= 0 && Number.isFinite(o.tockEpochs), `tockEpochs must be >= 0, got ${o.tockEpochs}`);
  check(
    Number.isInteger(o.ticksPerTock) && o.ticksPerTock >= 1,
    `ticksPerTock must be an integer >= 1, got ${o.ticksPerTock}`,
  );
  check(o.lrMin >= 0 && o.lrMax >= o.lrMin, `need 0 <= lrMin <= lrMax, got ${o.lrMin} and ${o.lrMax}`);
  check(o.minRatio >= 0 && o.minRatio < 1, `minRatio must be in [0, 1), got ${o.minRatio}`);
  check(o.eta >= 0 && Number.isFinite(o.eta), `eta must be >= 0, got ${o.eta}`);
  check(o.tickSubset > 0 && o.tickSubset <= 1, `tickSubset must be in (0, 1], got ${o.tickSubset}`);
  check(Number.isInteger(o.batch) && o.batch >= 2, `batch must be an integer >= 2, got ${o.batch}`);
  check(
    Number.isInteger(o.finetuneEpochs) && o.finetuneEpochs >= 0,
    `finetuneEpochs must be an integer >= 0, got ${o.finetuneEpochs}`,
  );
  checkRoundTo(o.roundTo, "gate");
}

/** A seeded subset of `fraction` of the images (at least one), in file order. */
export function subsetImages(images: RawImages, fraction: number, seed: number): RawImages {
  if (fraction >= 1) return images;
  const n = Math.max(1, Math.round(fraction * images.count));
  const picked = epochOrder(images.count, seed, 0x7ffffff, true).slice(0, n).sort();
  const len = images.channels * images.height * images.width;
  const pixels = new (images.pixels.constructor as Uint8ArrayConstructor)(n * len) as
    | Uint8Array
    | Float32Array;
  const labels = new Int32Array(n);
  picked.forEach((idx, i) => {
    pixels.set(images.pixels.subarray(idx * len, (idx + 1) * len), i * len);
    labels[i] = images.labels[idx]!;
  });
  return { ...images, count: n, pixels, labels };
}

function preprocessingFor(graph: Graph, images: RawImages, data: MethodData): Preprocessing {
  const dims = graph.inputs[0]?.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue ?? 0)) ?? [];
  if (graph.inputs.length !== 1 || dims.length !== 4 || dims.slice(1).some((d) => !(d > 0))) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `method gate needs a model with one image input [batch, channels, height, width] of known size, got [${dims.join(", ")}]`,
    );
  }
  return planPreprocessing(
    images,
    { channels: dims[1]!, height: dims[2]!, width: dims[3]! },
    {
      ...(data.mean === undefined ? {} : { mean: data.mean }),
      ...(data.std === undefined ? {} : { std: data.std }),
    },
  );
}

/** The warning of a run with conv gates (§4.9 is not part of the published method). */
export const CONV_GATES_WARNING = "experimental: gates on conv outputs (§4.9)";

/** The gate groups of the model, or GRAPH_UNSUPPORTED naming why there are none. */
function gateGroupsOf(
  graph: Graph,
  groups: DependencyGroup[],
  minRatio: number,
  ctx: MethodContext,
  exclude: readonly string[] = [],
): GateGroup[] {
  const excluded = new Set(exclude.map((n) => layerNodeName(groups, n, "exclude")));
  const { gateGroups: all, skipped } = findGateGroups(groups, minRatio, graph);
  const gateGroups = all.filter((g) => !groups[g.groupId]!.producers.some((p) => excluded.has(p.node)));
  if (gateGroups.length === 0) {
    const why = skipped.find((s) => !groups[s.groupId]!.frozen)?.reason ?? "every group is frozen";
    throw new PrunekitError(
      "GRAPH_UNSUPPORTED",
      `method gate found no channel group it can gate (${why}); it gates BatchNormalization layers and, in groups without one, conv outputs (docs/methods.md §4.9)`,
    );
  }
  for (const s of skipped) {
    if (!groups[s.groupId]!.frozen) ctx.onWarning?.(`group ${s.groupId} is not pruned by gate: ${s.reason}`);
  }
  if (gateMode(gateGroups) !== "bn") ctx.onWarning?.(CONV_GATES_WARNING);
  return gateGroups;
}

/** Per gate (a gated BN or a gated conv): its channel count and the groups' shares of it. */
interface BnInfo {
  node: string;
  channels: number;
  /** Output H·W (A_L of §4.2). */
  area: number;
  member: GateMember;
}

function bnInfos(graph: Graph, shapes: ShapeInfo, gateGroups: GateGroup[]): Map<string, BnInfo> {
  const out = new Map<string, BnInfo>();
  for (const g of gateGroups) {
    for (const m of g.members) {
      if (out.has(m.node)) continue;
      const node = graph.order.find((n) => n.name === m.node)!;
      const dims = shapes.shapes.get(node.outputs[0] ?? "") ?? [];
      const area = dims.slice(2).reduce((a, b) => a * b, 1);
      out.set(m.node, { node: m.node, channels: dims[1] ?? g.channels, area, member: m });
    }
  }
  return out;
}

/** Accumulates Θ_c += |g_c·∂L_t/∂g_c| per batch (§4.2). */
function scoreAccumulator(bns: Map<string, BnInfo>): {
  scores: Map<string, Float64Array>;
  add: (store: ParamStore) => void;
} {
  const scores = new Map([...bns.values()].map((b) => [b.node, new Float64Array(b.channels)]));
  return {
    scores,
    add(store) {
      for (const [node, s] of scores) {
        const g = store.read(`${node}#gate`);
        const dg = store.readGrad(`${node}#gate`);
        const m = store.read(`${node}#mask`);
        for (let c = 0; c < s.length; c++) if (m[c] !== 0) s[c]! += Math.abs(g[c]! * dg[c]!);
      }
    },
  };
}

function zeroMomentum(store: ParamStore): void {
  for (const p of store.params) if (p.trainable) store.writeMomentum(p.name, new Float32Array(p.length));
}

/** Top-1 of the gated network in evaluation mode on the first `limit` test images (whole batches). */
function evalTop1(
  trainer: Trainer,
  images: RawImages,
  plan: Preprocessing,
  limit: number,
): number | undefined {
  const B = trainer.batch;
  const n = Math.floor(Math.min(images.count, limit) / B) * B;
  if (n === 0) return undefined;
  const perImage = trainer.input.dims.slice(1).reduce((a, b) => a * b, 1);
  const classes = trainer.logits.dims[1]!;
  const x = new Float32Array(B * perImage);
  let correct = 0;
  for (let start = 0; start < n; start += B) {
    preprocessBatch(images, plan, start, B, x);
    const y = trainer.forward(x, { training: false });
    for (let i = 0; i < B; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (y[i * classes + k]! > y[i * classes + best]!) best = k;
      if (best === images.labels[start + i]) correct++;
    }
  }
  return correct / n;
}

/**
 * Plan Gate Decorator's pruning (docs/methods.md §4): Tick-Tock on the gated network until the MACs
 * target is met, then the gates folded into the BNs and convs (`values`) and the masked channels removed
 * (`groups`).
 * @param graph the model. @param groups its dependency groups.
 * @param options see {@link GateOptions}; `flopsTarget` is required.
 * @param ctx needs `data.train` (and uses `data.test` for the trajectory's test accuracy).
 * @throws PrunekitError `INVALID_ARGUMENT` (options, missing data), `GRAPH_UNSUPPORTED` (nothing to
 *   gate: no group with a BN or a conv producer), `ONNX_UNSUPPORTED` (an op the training engine cannot run), `ABORTED`.
 */
export async function planGate(
  graph: Graph,
  groups: DependencyGroup[],
  options: Partial<GateOptions>,
  ctx: MethodContext,
): Promise<PrunePlan> {
  const o: GateOptions = { ...GATE_DEFAULTS, ...options };
  checkGateOptions(o);
  const data = ctx.data;
  if (data === undefined || data.train.count === 0) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      "method gate needs training images (PruneOptions.data.train; --data SPEC on the command line)",
    );
  }
  const target = o.flopsTarget!;
  const gateGroups = gateGroupsOf(graph, groups, o.minRatio, ctx, o.exclude);
  const shapes = inferShapes(graph);
  const originalMacs = countModel(graph, shapes).macs;
  const bns = bnInfos(graph, shapes, gateGroups);
  const gated = { gatedBatchNorms: gatedBatchNorms(gateGroups), gatedConvs: gatedConvs(gateGroups) };
  const train = data.train;
  const prep = preprocessingFor(graph, train, data);
  const tickSet = subsetImages(train, o.tickSubset, o.seed);
  const testPrep = data.test === undefined ? undefined : preprocessingFor(graph, data.test, data);
  const wasm: Wasm = await createWasm();
  const trainer = compileTrainer(wasm, graph, {
    batch: Math.min(o.batch, train.count),
    ...gated,
  });
  const store = trainer.store;
  let pool: WorkerPool | undefined;
  if (ctx.trainWorkers !== undefined) {
    pool = new WorkerPool(ctx.trainWorkers.create());
    try {
      await pool.init(ctx.trainWorkers.model(), [...gated.gatedBatchNorms], [...gated.gatedConvs]);
    } catch (e) {
      await pool.close();
      trainer.dispose();
      store.dispose();
      throw e;
    }
  }
  const masks = new Map<number, Uint8Array>(
    gateGroups.map((g) => [g.groupId, new Uint8Array(g.channels).fill(1)]),
  );
  const liveChannels = () => [...masks.values()].reduce((s, m) => s + m.reduce((a, b) => a + b, 0), 0);
  const macsFraction = () => {
    if (originalMacs === 0) return 0;
    const kept = new Map([...masks].map(([id, m]) => [id, m.reduce((a, b) => a + b, 0)]));
    return plannedSize(graph, shapes, groups, kept).macs / originalMacs;
  };
  const writeMasks = () => {
    const perBn = new Map([...bns.values()].map((b) => [b.node, new Float32Array(b.channels).fill(1)]));
    for (const g of gateGroups) {
      const m = masks.get(g.groupId)!;
      for (const mem of g.members) {
        const t = perBn.get(mem.node)!;
        for (let c = 0; c < g.channels; c++) t[mem.offset + c] = m[c]!;
      }
    }
    for (const [node, t] of perBn) store.write(`${node}#mask`, t);
  };
  const tickFrozenOps = new Set(o.tickFreezeLinear ? ["Conv", "Gemm", "MatMul"] : ["Conv"]);
  const convParams = new Set(
    graph.order
      .filter((n) => tickFrozenOps.has(n.opType))
      .flatMap((n) => n.inputs.slice(1).filter((i) => i !== "")),
  );
  const trajectory: GateTrajectoryPoint[] = [];
  const common = {
    batch: o.batch,
    augment: o.augment,
    momentum: 0.9,
    weightDecay: 5e-4,
    trainer,
    trainerOptions: gated,
    ...(pool === undefined ? {} : { workers: pool }),
  };
  const l1 = exportFn(wasm.exports, "optim_add_l1_grad");
  let phase = 0;
  let tocks = 0;
  let ticks = 0;
  const measure = () =>
    data.test === undefined ? undefined : evalTop1(trainer, data.test, testPrep!, o.evalLimit);
  const progress = (name: string) =>
    ctx.onProgress === undefined
      ? {}
      : {
          onProgress: (e: { done: number; total: number; detail?: string }) =>
            ctx.onProgress!({
              phase: name,
              done: e.done,
              total: e.total,
              detail: `${name} at ${(100 * macsFraction()).toFixed(1)} % MACs: ${e.detail ?? ""}`,
            }),
        };
  const fingerprint = gateFingerprint(graph, o, train, pool?.size ?? 1);
  let resumedTock: { epoch: number; history: EpochRecord[] } | undefined;
  let finished = false;
  if (ctx.resumeFrom !== undefined) {
    const c = decodeCheckpoint(ctx.resumeFrom, "the gate checkpoint");
    restoreCheckpoint(store, c, fingerprint);
    const st = checkRunState(c.state, masks);
    ticks = st.ticks;
    tocks = st.tocks;
    phase = st.phase;
    finished = st.done === true;
    trajectory.push(...st.trajectory);
    for (const [id, m] of st.masks) masks.set(id, Uint8Array.from(m));
    if (st.tockEpochs !== undefined) resumedTock = { epoch: st.tockEpochs, history: st.tockHistory ?? [] };
  }
  // Resumable state after every Tick and Tock (and every epoch of a Tock): the store (gates and masks
  // included), the group masks and the loop's counters.
  const save = async (extra: Partial<GateRunState> = {}) => {
    if (ctx.onCheckpoint === undefined) return;
    const state: GateRunState = {
      ticks,
      tocks,
      phase,
      masks: [...masks].map(([id, m]) => [id, Array.from(m)]),
      trajectory,
      ...extra,
    };
    await ctx.onCheckpoint(encodeCheckpoint({ ...storeCheckpoint(store, phase, fingerprint, []), state }));
  };
  const tock = async () => {
    const name = `tock ${tocks + 1}`;
    const resume = resumedTock;
    resumedTock = undefined;
    if (resume === undefined) zeroMomentum(store);
    const r = await trainModel(wasm, graph, train, prep, {
      ...common,
      epochs: o.tockEpochs,
      lr: o.lrMax,
      schedule: { kind: "triangular", lrMin: o.lrMin },
      seed: o.seed + phase,
      // loss + λ·Σ|g| (§4.5): λ·sign(g) added to every gate's gradient after the backward.
      regularize: (s) => {
        if (o.sparseLambda === 0) return;
        for (const b of bns.values())
          l1(s.valuePtr(`${b.node}#gate`), s.gradPtr(`${b.node}#gate`), b.channels, o.sparseLambda);
      },
      ...(resume === undefined
        ? {}
        : {
            resume: {
              epoch: resume.epoch,
              fingerprint: {},
              history: resume.history,
              tensors: storeCheckpoint(store, 0, {}, []).tensors,
            },
          }),
      ...(ctx.onCheckpoint === undefined
        ? {}
        : { onCheckpoint: (c) => save({ tockEpochs: c.epoch, tockHistory: [...c.history] }) }),
      ...progress(name),
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    });
    phase++;
    tocks++;
    const h = r.history;
    const test = measure();
    trajectory.push({
      phase: "tock",
      index: tocks,
      macsFraction: macsFraction(),
      channelsLeft: liveChannels(),
      trainLoss: h.length === 0 ? 0 : h.reduce((s, e) => s + e.loss, 0) / h.length,
      trainAccuracy: h.length === 0 ? 0 : h.reduce((s, e) => s + e.accuracy, 0) / h.length,
      ...(test === undefined ? {} : { testAccuracy: test }),
    });
    await save();
  };
  const tick = async (): Promise<boolean> => {
    zeroMomentum(store);
    const acc = scoreAccumulator(bns);
    // Conv kernels frozen for real (no step, no decay, no momentum); gates, shifts, linear layers and
    // BN statistics train at lrMin with the task loss only (§4.5).
    const r = await trainModel(wasm, graph, tickSet, prep, {
      ...common,
      epochs: 1,
      lr: o.lrMin,
      schedule: { kind: "constant" },
      seed: o.seed + phase,
      frozen: (p) => convParams.has(p.name),
      regularize: (s) => acc.add(s),
      ...progress(`tick ${ticks + 1}`),
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    });
    phase++;
    ticks++;
    const scores = flopsAware(acc.scores, bns, gateGroups, masks, o.eta);
    const step = pruneGlobally(
      gateGroups.map((g) => ({
        scores: groupScores(g, scores, masks.get(g.groupId)!),
        mask: masks.get(g.groupId)!,
        minimal: g.minimal,
        count: g.members.length,
      })),
      o.tickRatio,
      { atLeastOne: true },
    );
    gateGroups.forEach((g, i) => {
      masks.set(g.groupId, step.masks[i]!);
    });
    writeMasks();
    if (step.removedZeroScore > 0) {
      ctx.onWarning?.(
        `tick ${ticks}: ${step.removedZeroScore} live channel(s) scored exactly 0 and were pruned`,
      );
    }
    const h = r.history[0];
    trajectory.push({
      phase: "tick",
      index: ticks,
      macsFraction: macsFraction(),
      channelsLeft: liveChannels(),
      trainLoss: h?.loss ?? 0,
      trainAccuracy: h?.accuracy ?? 0,
      removed: step.removed,
      removedZeroScore: step.removedZeroScore,
      ...(step.threshold === undefined ? {} : { threshold: step.threshold }),
    });
    await save();
    return step.removed > 0;
  };

  try {
    // One Tock first, then a Tock after every T Ticks until the target is met (§4.5). The counters make
    // the loop continue from any saved state.
    const tocksDue = () => (o.tockEpochs > 0 ? 1 + Math.floor(ticks / o.ticksPerTock) : 0);
    while (!finished) {
      const met = macsFraction() <= target;
      if (tocks < tocksDue() && (ticks === 0 || !met)) {
        await tock();
        continue;
      }
      if (met) break;
      if (!(await tick())) {
        ctx.onWarning?.(
          `gate: stopped at ${(100 * macsFraction()).toFixed(1)} % of the MACs, above the target ${(100 * target).toFixed(1)} %: every group is at its protected minimum (minRatio ${o.minRatio})`,
        );
        break;
      }
    }
    if (!finished) await save({ done: true });
    const rawLive = new Map([...masks].map(([id, m]) => [id, m.reduce((a, b) => a + b, 0)]));
    if (o.roundTo > 1) {
      // budget.ts roundMask: unmask / mask by |gate| summed over the group's gates.
      const gates = new Map([...bns.values()].map((b) => [b.node, store.read(`${b.node}#gate`)]));
      for (const g of gateGroups) {
        const score = new Float64Array(g.channels);
        for (const m of g.members) {
          const t = gates.get(m.node)!;
          for (let c = 0; c < g.channels; c++) score[c]! += Math.abs(t[m.offset + c]!);
        }
        masks.set(g.groupId, roundMask(masks.get(g.groupId)!, score, o.roundTo, g.minimal));
      }
      writeMasks();
    }
    const finalTest = measure();
    const folded = foldIntoPlan(store, gateGroups);
    for (const gp of folded.groups) {
      const raw = rawLive.get(gp.groupId)!;
      if (raw !== gp.keep.length) gp.details = { keptBeforeRounding: raw };
    }
    return {
      method: "gate",
      groups: folded.groups,
      values: folded.values,
      details: {
        flopsTarget: target,
        macsFraction: macsFraction(),
        met: macsFraction() <= target,
        ticks,
        tocks,
        gateGroups: gateGroups.length,
        gateMode: gateMode(gateGroups),
        workers: pool?.size ?? 1,
        trajectory,
        ...(ctx.resumeFrom === undefined ? {} : { resumed: true }),
        ...(finalTest === undefined ? {} : { testAccuracyBeforeFinetune: finalTest }),
      },
    };
  } finally {
    trainer.dispose();
    store.dispose();
    await pool?.close();
  }
}

/** Gate's position in its loop, the `state` of its checkpoints. */
interface GateRunState {
  ticks: number;
  tocks: number;
  /** Phases started so far (each phase's seed is seed + its index). */
  phase: number;
  /** Per gate group (by group id): its mask. */
  masks: [number, number[]][];
  trajectory: GateTrajectoryPoint[];
  /** Epochs done of the Tock in progress (number tocks + 1), and their records. */
  tockEpochs?: number;
  tockHistory?: EpochRecord[];
  /** Tick-Tock has finished: what is left is folding (and the caller's fine-tuning). */
  done?: boolean;
}

function checkRunState(state: unknown, masks: Map<number, Uint8Array>): GateRunState {
  const bad = (why: string) =>
    new PrunekitError("CHECKPOINT_INVALID", `the gate checkpoint: ${why}; it is not a gate run's state`);
  if (typeof state !== "object" || state === null) throw bad("no Tick-Tock state");
  const s = state as Partial<GateRunState>;
  for (const k of ["ticks", "tocks", "phase"] as const) {
    if (!Number.isInteger(s[k]) || (s[k] as number) < 0) throw bad(`bad ${k}`);
  }
  if (!Array.isArray(s.trajectory) || !Array.isArray(s.masks)) throw bad("bad trajectory or masks");
  for (const entry of s.masks) {
    const [id, m] = Array.isArray(entry) ? entry : [];
    const mine = typeof id === "number" ? masks.get(id) : undefined;
    if (
      mine === undefined ||
      !Array.isArray(m) ||
      m.length !== mine.length ||
      m.some((v) => v !== 0 && v !== 1)
    ) {
      throw bad(`a mask does not match this model's gate groups`);
    }
  }
  if (s.masks.length !== masks.size) throw bad("the gate groups differ");
  return s as GateRunState;
}

/** What a gate checkpoint must match to be resumed: the model, the data and every Tick-Tock option. */
function gateFingerprint(
  graph: Graph,
  o: GateOptions,
  train: RawImages,
  workers: number,
): Record<string, unknown> {
  const { finetuneEpochs: _f, evalLimit: _e, ...options } = o;
  return {
    method: "gate",
    options,
    model: { nodes: graph.order.length, inputs: graph.inputs.map((i) => i.name) },
    data: { count: train.count, channels: train.channels, height: train.height, width: train.width },
    workers,
  };
}

/**
 * Fold a gated trainer's state into a plan against the original model (§4.6): every trained tensor's
 * values, γ := m·g and β := m·g·b' for the gated BNs (running statistics kept), W_c := m_c·g_c·W_c and
 * b_c := m_c·g_c·b_c for the gated convs (§4.9), and per gate group the channels whose mask is 1.
 * Surgery then removes the rest statically through the dependency groups.
 * @param store the ParamStore of a trainer compiled with the gate groups' BNs and convs gated.
 */
export function foldIntoPlan(
  store: ParamStore,
  gateGroups: readonly GateGroup[],
): { values: Map<string, { data: Float32Array }>; groups: GroupPlan[] } {
  const values = new Map<string, { data: Float32Array }>();
  for (const p of store.params) if (!p.synthetic) values.set(p.name, { data: store.read(p.name) });
  const states = new Map<string, GateState>();
  const members = new Map<string, GateMember>();
  for (const g of gateGroups) {
    for (const m of g.members) {
      if (states.has(m.node)) continue;
      members.set(m.node, m);
      states.set(m.node, {
        gate: store.read(`${m.node}#gate`),
        ...(m.kind === "bn" ? { shift: store.read(`${m.node}#shift`) } : {}),
        mask: store.read(`${m.node}#mask`),
      });
    }
  }
  for (const [name, v] of foldGates(states, members, (t) => values.get(t)!.data)) values.set(name, v);
  const groups: GroupPlan[] = [];
  for (const g of gateGroups) {
    const first = g.members[0]!;
    const mask = states.get(first.node)!.mask;
    const keep: number[] = [];
    for (let c = 0; c < g.channels; c++) if (mask[first.offset + c] !== 0) keep.push(c);
    if (keep.length < g.channels) groups.push({ groupId: g.groupId, keep });
  }
  return { values, groups };
}

/** §4.2's optional FLOPs term: Θ_c − (η / A_min)·A_L·n_L for live channels (η = 0 leaves Θ as it is). */
function flopsAware(
  scores: Map<string, Float64Array>,
  bns: Map<string, BnInfo>,
  gateGroups: GateGroup[],
  masks: Map<number, Uint8Array>,
  eta: number,
): Map<string, Float64Array> {
  if (eta === 0) return scores;
  const aMin = Math.min(...[...bns.values()].map((b) => b.area));
  const live = new Map<string, Uint8Array>();
  for (const g of gateGroups) {
    const m = masks.get(g.groupId)!;
    for (const mem of g.members) {
      let t = live.get(mem.node);
      if (t === undefined) {
        t = new Uint8Array(bns.get(mem.node)!.channels);
        live.set(mem.node, t);
      }
      for (let c = 0; c < g.channels; c++) t[mem.offset + c] = m[c]!;
    }
  }
  const out = new Map<string, Float64Array>();
  for (const [node, s] of scores) {
    const b = bns.get(node)!;
    const l = live.get(node)!;
    const n = l.reduce((a, x) => a + x, 0);
    const cost = (eta / aMin) * b.area * n;
    out.set(
      node,
      s.map((v, c) => (l[c] === 1 ? v - cost : 0)),
    );
  }
  return out;
}

/** Per-channel Taylor scores of every gate over some batches (`prunekit scores`). */
export interface TaylorScores {
  /** Batches and images scored. */
  batches: number;
  images: number;
  /** BN on batch statistics as in a Tick ("train") or on its running statistics ("eval"). */
  bn: "train" | "eval";
  /** Whether the images were taken in a seeded random order (false: file order). */
  shuffle: boolean;
  /** "bn" (every gate a gated BN), "conv" (every gate on a conv output, §4.9) or "mixed". */
  gateMode: "bn" | "conv" | "mixed";
  /**
   * Θ per gate channel (§4.2). `node` is the BatchNormalization node (`kind` "bn", `scale` its scale
   * initializer) or, for a gate on a conv output (§4.9), the Conv node (`kind` "conv", `scale` its weight,
   * the tensor the gate folds into).
   */
  layers: { node: string; kind: "bn" | "conv"; scale: string; channels: number; scores: number[] }[];
  /** Per gate group: its gates' nodes, the summed scores (§4.3) and the channels from least to most important. */
  groups: { groupId: number; members: string[]; channels: number; scores: number[]; ranking: number[] }[];
}

/**
 * Θ_c = Σ_t |g_c·∂L_t/∂g_c| over the first `batches` batches of a seeded order (or file order with
 * `shuffle: false`), without training (no parameter changes, no augmentation), with BN on batch
 * statistics (`bn: "train"`, as in a Tick; the default) or on its running statistics (`bn: "eval"`). The gradients are those of the model as it is: every BN gate at its BN's γ, every
 * conv gate at 1 (so Θ_c = Σ_t |Σ y·∂L_t/∂y| over the channel's output either way).
 * @throws PrunekitError as {@link planGate} for models with nothing to gate.
 */
export async function taylorScores(
  graph: Graph,
  groups: DependencyGroup[],
  data: MethodData,
  options: { batches: number; batch?: number; seed?: number; shuffle?: boolean; bn?: "train" | "eval" },
  ctx: MethodContext,
): Promise<TaylorScores> {
  const gateGroups = gateGroupsOf(graph, groups, GATE_DEFAULTS.minRatio, ctx);
  const shapes = inferShapes(graph);
  const bns = bnInfos(graph, shapes, gateGroups);
  const images = limitImages(data.train, data.train.count);
  const prep = preprocessingFor(graph, images, data);
  const B = Math.min(options.batch ?? 64, images.count);
  const wasm = await createWasm();
  const trainer = compileTrainer(wasm, graph, {
    batch: B,
    gatedBatchNorms: gatedBatchNorms(gateGroups),
    gatedConvs: gatedConvs(gateGroups),
  });
  const acc = scoreAccumulator(bns);
  const order = epochOrder(images.count, options.seed ?? 0, 0, options.shuffle ?? true);
  const training = (options.bn ?? "train") === "train";
  const perImage = trainer.input.dims.slice(1).reduce((a, b) => a * b, 1);
  const x = new Float32Array(B * perImage);
  const labels = new Int32Array(B);
  const batches = Math.min(options.batches, Math.floor(images.count / B));
  try {
    for (let t = 0; t < batches; t++) {
      for (let i = 0; i < B; i++) {
        const idx = order[t * B + i]!;
        preprocessBatch(images, prep, idx, 1, x.subarray(i * perImage, (i + 1) * perImage));
        labels[i] = images.labels[idx]!;
      }
      trainer.step(x, labels, { training });
      acc.add(trainer.store);
      ctx.onProgress?.({ phase: "scores", done: t + 1, total: batches });
    }
  } finally {
    trainer.dispose();
    trainer.store.dispose();
  }
  const ones = (n: number): Uint8Array => new Uint8Array(n).fill(1);
  return {
    batches,
    images: batches * B,
    bn: training ? "train" : "eval",
    shuffle: options.shuffle ?? true,
    gateMode: gateMode(gateGroups),
    layers: [...acc.scores].map(([node, s]) => {
      const m = bns.get(node)!.member;
      return { node, kind: m.kind, scale: m.scale, channels: s.length, scores: Array.from(s) };
    }),
    groups: gateGroups.map((g) => {
      const s = groupScores(g, acc.scores, ones(g.channels));
      const ranking = Array.from(s.keys()).sort((a, b) => s[a]! - s[b]! || a - b);
      return {
        groupId: g.groupId,
        members: g.members.map((m) => m.node),
        channels: g.channels,
        scores: Array.from(s),
        ranking,
      };
    }),
  };
}
