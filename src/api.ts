import type { RawImages } from "./data/images.ts";
import { type Preprocessing, planPreprocessing, preprocessBatch } from "./data/preprocess.ts";
import {
  type Checkpoint,
  decodeCheckpoint,
  type EpochRecord,
  encodeCheckpoint,
} from "./engine/checkpoint.ts";
import { type CompiledModel, compileModel } from "./engine/compile.ts";
import {
  compareCompiled,
  type EvaluationResult,
  evaluateCompiled,
  type LabeledSource,
  type OutputKind,
} from "./engine/evaluate.ts";
import { startEvalWorkers, type TrainWorkerPort, WorkerPool } from "./engine/parallel.ts";
import { type TrainOptions, trainModel } from "./engine/train.ts";
import { PrunekitError } from "./errors.ts";
import { countModel, type ModelCounts } from "./graph/count.ts";
import { findDependencyGroups } from "./graph/find-groups.ts";
import { type DependencyGroup, groupPatterns, isInner, pathIsMergeSafe } from "./graph/group.ts";
import { buildGraph, type Graph } from "./graph/ir.ts";
import { inferShapes } from "./graph/shapes.ts";
import { producerFilters } from "./graph/weights.ts";
import { type BudgetRounding, defaultRounding, keptRemovals } from "./methods/budget.ts";
import type { MethodContext, MethodData } from "./methods/context.ts";
import { type Criterion, filterScores } from "./methods/criteria.ts";
import type { EPrunerInit, LateBeta } from "./methods/epruner.ts";
import { type TaylorScores, taylorScores } from "./methods/gate.ts";
import { type MethodName, methodEntry, refuseForeignOptions } from "./methods/registry.ts";
import { encodeModel } from "./onnx/encode.ts";
import { inlineExternalData } from "./onnx/external-data.ts";
import { type LoadOnnxOptions, loadOnnx } from "./onnx/load.ts";
import { DataType, type ModelProto } from "./onnx/proto-types.ts";
import { type ExternalTensorData, viewFloat32 } from "./onnx/tensor.ts";
import type { ProgressEvent } from "./progress.ts";
import { applyPlan, type SurgeryResult } from "./surgery/apply.ts";
import { patchValues } from "./surgery/model-patch.ts";
import type { PrunePlan } from "./surgery/plan.ts";
import { createWasm, getWasm, type Wasm } from "./wasm/instance.ts";
import type { NoConvergenceMode } from "./wasm/kernels/affinity.ts";

/** A loaded, validated model with its graph analysis. */
export interface Model {
  /** The decoded ONNX model (never modified by prunekit). */
  readonly proto: ModelProto;
  /** The indexed graph. */
  readonly graph: Graph;
  /** Coupled-channel groups. */
  readonly groups: DependencyGroup[];
  /** Parameter and MAC counts. */
  readonly counts: ModelCounts;
}

/** Options of {@link loadModel}: decode limits and, in Node/Deno, a reader for external data files. */
export type LoadModelOptions = LoadOnnxOptions;

/**
 * Decode, validate and analyse an ONNX model.
 *
 * @param bytes the .onnx file's contents.
 * @param options limits, and `readFile` for external data (Node/Deno; see `folderFileReader`).
 * @returns the model with its graph, groups and counts.
 * @throws PrunekitError `ONNX_DECODE`, `ONNX_INVALID`, `ONNX_UNSUPPORTED`, `EXTERNAL_DATA`.
 * @example
 * const model = await loadModel(new Uint8Array(await (await fetch("model.onnx")).arrayBuffer()));
 */
export async function loadModel(bytes: Uint8Array, options: LoadModelOptions = {}): Promise<Model> {
  const { model, externalData } = await loadOnnx(bytes, options);
  return analyse(model, externalData);
}

function analyse(proto: ModelProto, externalData: ExternalTensorData = new Map()): Model {
  const graph = buildGraph(proto, externalData);
  const shapes = inferShapes(graph);
  const groups = findDependencyGroups(graph, { shapes });
  const counts = countModel(graph, shapes);
  return { proto, graph, groups, counts };
}

/** Names of the pruning methods (methods/registry.ts). */
export type { MethodName };

/** Options every method takes: the callbacks, data, cancellation and `allowUnchanged`. */
export interface CommonPruneOptions {
  /**
   * Write an unchanged copy when the method would remove no channel, instead of failing with
   * `NOTHING_TO_PRUNE`; default false.
   */
  allowUnchanged?: boolean;
  /**
   * Hardware-friendly widths (beyond the papers): every pruned layer's kept count rounded to the nearest
   * multiple of N (with grouped convs, of lcm(N, blocks)), never above its channels and at least N.
   * Layers the method keeps whole, and layers narrower than N, are left as computed. Exact `layers`
   * counts must already be multiples. Default 1 (off).
   */
  roundTo?: number;
  /** Images for methods that need data (gate). */
  data?: MethodData;
  /** Cancels long methods (ABORTED). */
  signal?: AbortSignal;
  /** Progress of long steps: planning, and `read`/`decode`, `surgery`, `encode`/`write` around it. */
  onProgress?: (event: ProgressEvent) => void;
  /** Non-fatal findings. */
  onWarning?: (message: string) => void;
  /**
   * Data-parallel training (gate's Tick-Tock, and the fine-tuning of any method): makes fresh worker
   * ports each time a training phase starts, e.g. `() => createNodeTrainWorkers(2)` from prunekit/node.
   * BN then normalises per shard (see {@link FinetuneOptions.workers}).
   */
  trainWorkers?: () => TrainWorkerPort[];
  /**
   * Receives resumable state (write it atomically): `method` after every phase of a training method
   * (gate: every Tick, Tock and Tock epoch), `finetune` after every fine-tuning epoch.
   */
  onCheckpoint?: (c: { kind: "method" | "finetune"; bytes: Uint8Array }) => Promise<void>;
  /** State to continue from: the latest `method` and `finetune` bytes given to `onCheckpoint`. */
  resumeFrom?: { method?: Uint8Array; finetune?: Uint8Array };
}

/** The widths of the ratio methods (l1, l2, merge): methods/budget.ts. */
export interface WidthPruneOptions {
  /** Fraction of channels removed from each prunable layer (0..1). */
  ratio?: number;
  /** Per-layer ratios by producer node name. */
  layerRatios?: Record<string, number>;
  /**
   * Exact kept channel counts by producer node name (win over ratios). For a layer whose channels grouped convs
   * split into B blocks (`describeModel` groups[].blocks), a multiple of B, else INVALID_ARGUMENT.
   */
  layers?: Record<string, number>;
  /** Producer node names to leave unpruned. */
  exclude?: string[];
  /** How N·(1−r) becomes an integer; `auto` (default): round for linear layers, floor for convs. */
  rounding?: BudgetRounding;
}

/** {@link prune} options of magnitude pruning (`l1`, `l2`). */
export interface MagnitudePruneOptions extends CommonPruneOptions, WidthPruneOptions {
  /** Which method plans the pruning. */
  method: "l1" | "l2";
}

/** {@link prune} options of Neuron Merging (`merge`). */
export interface MergePruneOptions extends CommonPruneOptions, WidthPruneOptions {
  method: "merge";
  /** Kept-set criterion: l1, l2 or gm. */
  criterion?: Criterion;
  /** Cosine threshold t. */
  threshold?: number;
  /** λ weighting cosine distance against the BN bias term. */
  lambda?: number;
  /** BatchNorm formula. */
  bnFormula?: "exact" | "reference";
  /** False gives plain pruning with the same kept sets. */
  merge?: boolean;
  /** Leave layers with unsafe paths unpruned (reported) instead of failing (the default). */
  skipUnsafe?: boolean;
  /**
   * Prune layers with unsafe paths without merging them (docs/methods.md §2.6's fallback, reported as a
   * warning) instead of failing. Takes precedence over `skipUnsafe`.
   */
  pruneUnsafe?: boolean;
  /**
   * Threads for the partner search of wide layers, 1..64 or `auto` (default: one per core). Node only
   * (worker_threads, available once `prunekit/node` is imported; the CLI does); browsers and Deno use
   * one thread. The output is the same bit for bit.
   */
  workers?: number | "auto";
  /**
   * Experimental, beyond the paper: also prune residual streams and fold each removed stream channel
   * into its most similar kept one, compared over all the layers adding into the stream (docs/methods.md
   * §2.10). With `merge: false`, the same stream channels are pruned plainly. Default false.
   */
  mergeResidual?: boolean;
}

/** {@link prune} options of EPruner (`epruner`). */
export interface EPrunerPruneOptions extends CommonPruneOptions {
  method: "epruner";
  /** β of the preferences β·(row median) (default 0.75); larger prunes more. */
  beta?: number;
  /** β per layer (node or weight tensor name), overriding `beta` and `lateBeta`. */
  layerBetas?: Record<string, number>;
  /** β for the clustered layers from index `fromIndex` on (0-based, model order). */
  lateBeta?: LateBeta;
  /** Layers (node or weight tensor names) left unpruned. */
  exclude?: string[];
  /** Initialisation of the pruned network (default `exemplar`). */
  init?: EPrunerInit;
  /** True folds every cluster member into its exemplar (default false). */
  merge?: boolean;
  /** The largest fraction of the original learnable parameters; searches the global β. */
  targetParams?: number;
  /** The largest fraction of the original MACs; searches the global β. */
  targetMacs?: number;
  /** What a layer whose affinity propagation does not converge gets (default `lastIteration`). */
  onNoConvergence?: NoConvergenceMode;
  /** Seed of affinity propagation's tie-breaking noise (off when not given). */
  noiseSeed?: number;
  /**
   * Seed of the fresh weights of `init: "random"` and `"reference"` and of the projections of
   * `"random-projection"` (default 0).
   */
  seed?: number;
}

/** {@link prune} options of Gate Decorator (`gate`); it needs `data`. */
export interface GatePruneOptions extends CommonPruneOptions {
  method: "gate";
  /** Stop when MACs are ≤ this fraction of the original (required for gate). */
  flopsTarget?: number;
  /** Fraction of the remaining channels pruned per Tick (default 0.002). */
  tickRatio?: number;
  /** λ of the L1 penalty on the gates in Tocks (default 1e-3). */
  sparseLambda?: number;
  /** Epochs per Tock, fractional allowed, 0 skips Tocks (default 10). */
  tockEpochs?: number;
  /** A Tock after every T Ticks (default 10). */
  ticksPerTock?: number;
  /** Tick learning rate and low end of the triangles (default 1e-3). */
  lrMin?: number;
  /** Peak of the triangles (default 1e-2). */
  lrMax?: number;
  /** Protected minimum ratio per group (default 0.1). */
  minRatio?: number;
  /** η of the FLOPs-aware score (default 0, off). */
  eta?: number;
  /** Fraction of the training set a Tick passes over (default 1). */
  tickSubset?: number;
  /** Images per step (default 64). */
  batch?: number;
  /** Seed of the order, augmentation and tick subset (default 0). */
  seed?: number;
  /** Random shifts and flips while training (default true). */
  augment?: boolean;
  /** Test images measured along the way (default 1000). */
  evalLimit?: number;
  /** Layers (node or weight tensor names) left unpruned and ungated. */
  exclude?: string[];
  /** Epochs of §4.7's fine-tuning of the pruned model (default 40; 0 skips). */
  finetuneEpochs?: number;
  /** Freeze the linear kernels in a Tick too (default false, §4.5). */
  tickFreezeLinear?: boolean;
}

/**
 * Options of {@link prune}: one member per method, told apart by `method`, so TypeScript refuses an
 * option of another method (`{ method: "l1", criterion: "gm" }`). At run time options of another method
 * and unknown keys are refused too (INVALID_ARGUMENT, methods/registry.ts), never ignored. Defaults are
 * the method's `*_DEFAULTS`.
 */
export type PruneOptions = MagnitudePruneOptions | MergePruneOptions | EPrunerPruneOptions | GatePruneOptions;

/** Every option key of some method's {@link PruneOptions} (for option tables such as the CLI's). */
export type PruneOptionKey = PruneOptions extends infer T ? (T extends unknown ? keyof T : never) : never;

/** One pruned layer in a report (the same shape for every method). */
export interface LayerReport {
  /** Producer node name. */
  node: string;
  /** Its weight tensor. */
  weight: string;
  /** Output channels before. */
  channelsBefore: number;
  /** Output channels after. */
  channelsAfter: number;
  /** Kept channel indices, 0-based, ascending. */
  kept: number[];
  /** Removed channels folded into kept ones. */
  merged: number;
  /** Removed channels dropped. */
  dropped: number;
  /** EPruner: exemplar indices, ascending (= kept). */
  exemplars?: number[];
  /** EPruner: cluster label of every filter (position of its exemplar in `exemplars`). */
  labels?: number[];
  /** EPruner: iterations of affinity propagation. */
  iterations?: number;
  /** EPruner: whether affinity propagation converged. */
  converged?: boolean;
  /** EPruner: the β this layer used. */
  beta?: number;
  /** With `roundTo`: the kept count before rounding (channelsAfter is after), when rounding changed it. */
  keptBeforeRounding?: number;
  /** Merge with `mergeResidual`: the layers adding into this residual stream (one entry each). */
  residualStream?: string[];
}

/** Totals before or after pruning. */
export interface SizeReport {
  /** Learnable parameters (conv/linear weights and biases, BN scale and shift). */
  params: number;
  /** Conv and linear weights and biases only. */
  convLinearParams: number;
  /** Multiply-accumulates per sample of conv and linear layers. */
  macs: number;
}

/** What {@link prune} did. */
export interface PruneReport {
  /** Method name. */
  method: MethodName;
  /** The options used, defaults filled in (callbacks omitted). */
  options: Record<string, unknown>;
  /** How MACs are counted. */
  macsConvention: string;
  /** Totals of the input model. */
  before: SizeReport;
  /** Totals of the pruned model. */
  after: SizeReport;
  /** One entry per pruned producer. */
  layers: LayerReport[];
  /** What the method reports about the whole plan (EPruner: the β used, and the budget search). */
  details?: Record<string, unknown>;
  /** Non-fatal findings, e.g. layers left unpruned and why. */
  warnings: string[];
  /**
   * Milliseconds per phase: `plan` (the method; also under its older name `decomposition`), `surgery`,
   * `encode`, `analysis` (of the pruned model), `finetune` when it ran. The CLI adds `read` and `decode`
   * (of the input) and `write` (of the pruned model file).
   */
  timings: Record<string, number>;
  /** The fine-tuning that belongs to the method (gate, §4.7), when it ran. */
  finetune?: FinetuneReport;
  /** Every dependency group left with all its channels, and why. */
  unpruned: UnprunedGroup[];
}

/** A group prune left whole, with the reason. */
export interface UnprunedGroup {
  /** Group id (as `prunekit info` numbers them). */
  group: number;
  /** Its producing layers (node names). */
  layers: string[];
  /**
   * `frozen` (the graph cannot prune it safely), `residual` (a residual stream, or a model output:
   * merge and EPruner prune inner layers only), `unsafe` (merge with `skipUnsafe`: a non-linear
   * activation, squeeze-excitation, depthwise conv or normalisation between it and its consumers, §2.6),
   * or `kept` (the options or the method kept every channel: ratio 0, excluded, at its minimum, or left
   * alone with a warning).
   */
  kind: "frozen" | "residual" | "unsafe" | "kept";
  reason: string;
}

/** The result of {@link prune}. */
export interface PruneResult {
  /** The pruned model, analysed. */
  model: Model;
  /** Its ONNX bytes. */
  bytes: Uint8Array;
  /** What was done. */
  report: PruneReport;
}

/** The MAC counting convention, stated in every report. */
export const MACS_CONVENTION =
  "multiply-accumulates of Conv (kh*kw*(Cin/groups)*Cout*Hout*Wout) and Gemm/MatMul (in*out) layers, batch 1";

function sizeOf(counts: ModelCounts): SizeReport {
  return { params: counts.learnableParams, convLinearParams: counts.convLinearParams, macs: counts.macs };
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

/** The planning half of {@link prune}: validate the options, run the method, collect warnings. */
async function runPlanning(model: Model, options: PruneOptions) {
  const timings: Record<string, number> = {};
  const entry = methodEntry(options.method);
  const given = options as unknown as Record<string, unknown>;
  refuseForeignOptions(entry, given, [
    "method",
    "onProgress",
    "onWarning",
    "data",
    "signal",
    "allowUnchanged",
    "trainWorkers",
    "onCheckpoint",
    "resumeFrom",
  ]);
  if (entry.needsData && options.data === undefined) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `method "${entry.name}" needs data: pass PruneOptions.data ({ train, test? }), or --data SPEC on the command line`,
    );
  }
  const ctx: MethodContext = { wasm: await getWasm() };
  if (options.data !== undefined) ctx.data = options.data;
  if (options.signal !== undefined) ctx.signal = options.signal;
  if (options.onProgress) ctx.onProgress = options.onProgress;
  if (options.trainWorkers !== undefined) {
    const create = options.trainWorkers;
    ctx.trainWorkers = {
      create,
      model: () => encodeModel(inlineExternalData(model.proto, model.graph.externalData)),
    };
  }
  if (options.resumeFrom?.method !== undefined) ctx.resumeFrom = options.resumeFrom.method;
  if (options.onCheckpoint !== undefined) {
    const save = options.onCheckpoint;
    ctx.onCheckpoint = (bytes) => save({ kind: "method", bytes });
  }
  const warnings: string[] = [];
  ctx.onWarning = (message) => {
    warnings.push(message);
    options.onWarning?.(message);
  };
  const t = now();
  const methodOptions = entry.options(given);
  const plan = await entry.plan(model.graph, model.groups, methodOptions, ctx);
  const used: Record<string, unknown> = { ...entry.defaults, ...methodOptions };
  // The report records the values used, not "auto".
  if (used.rounding === "auto") {
    const kinds = new Set(
      model.groups.filter((g) => !g.frozen && g.producers.length > 0).map((g) => defaultRounding(g)),
    );
    used.rounding = kinds.size === 1 ? [...kinds][0] : "round for fully connected layers, floor for convs";
  }
  if (used.threshold === "auto" && typeof plan.details?.threshold === "number")
    used.threshold = plan.details.threshold;
  if (used.workers === "auto" && typeof plan.details?.workers === "number")
    used.workers = plan.details.workers;
  // A budget search (targetParams / targetMacs) replaces the global β by the one it chose.
  if (plan.details?.search !== undefined && typeof plan.details.beta === "number")
    used.beta = plan.details.beta;
  if (used.ratio === 1 && plan.groups.length > 0) {
    ctx.onWarning(`ratio 1 keeps one channel (the minimum) in every pruned layer`);
  }
  // `plan` is the planning time under its phase name; `decomposition` is the same number, kept for
  // readers of older reports.
  timings.plan = now() - t;
  timings.decomposition = timings.plan;
  return { entry, plan, used, ctx, warnings, timings };
}

/** One layer of a {@link PrunePlanReport}: its output channels before and after. */
export interface PlannedLayer {
  /** Producer node name. */
  node: string;
  /** Its weight tensor. */
  weight: string;
  /** Output channels before. */
  channelsBefore: number;
  /** Output channels the plan keeps. */
  channelsAfter: number;
  /** Kept channel indices, 0-based, ascending. */
  kept: number[];
  /** With `roundTo`: the kept count before rounding, when rounding changed it. */
  keptBeforeRounding?: number;
}

function keptBeforeRounding(gp: { details?: Readonly<Record<string, unknown>> }): {
  keptBeforeRounding?: number;
} {
  const raw = gp.details?.keptBeforeRounding;
  return typeof raw === "number" ? { keptBeforeRounding: raw } : {};
}

/** What {@link planPrune} found: the plan's widths and sizes, exactly as {@link prune} would report them. */
export interface PrunePlanReport {
  /** Method name. */
  method: MethodName;
  /** The options used, defaults filled in (callbacks omitted). */
  options: Record<string, unknown>;
  /** How MACs are counted. */
  macsConvention: string;
  /** Totals of the input model. */
  before: SizeReport;
  /** Totals the pruned model would have (equal to prune's `report.after`, before any fine-tuning). */
  after: SizeReport;
  /** One entry per pruned producer. */
  layers: PlannedLayer[];
  /** What the method reports about the whole plan. */
  details?: Record<string, unknown>;
  /** Non-fatal findings. */
  warnings: string[];
  /** Milliseconds per phase. */
  timings: Record<string, number>;
}

/**
 * Plan a pruning without doing it: the method runs (for gate that is its whole Tick-Tock training),
 * but no surgery is made and no bytes are encoded. The sizes are counted on the original graph with
 * the plan's channels removed (graph/count.ts), the same numbers {@link prune} reports.
 *
 * @param model from {@link loadModel}.
 * @param options as for {@link prune}.
 * @returns layer widths before and after, and params / MACs before and after.
 * @throws PrunekitError as {@link prune}: `INVALID_ARGUMENT`, `UNSAFE_MERGE`, `PLAN_INVALID`.
 * @example
 * const plan = await planPrune(await loadModel(input), { method: "l1", ratio: 0.5 }); // plan.after.macs
 */
export async function planPrune(model: Model, options: PruneOptions): Promise<PrunePlanReport> {
  const { entry, plan, used, warnings, timings } = await runPlanning(model, options);
  const t = now();
  const kept = new Map<number, number>();
  const layers: PlannedLayer[] = [];
  for (const gp of plan.groups) {
    const group = model.groups[gp.groupId]!;
    kept.set(gp.groupId, gp.keep.length);
    for (const p of group.producers) {
      layers.push({
        node: p.node,
        weight: p.weight,
        channelsBefore: group.channels,
        channelsAfter: gp.keep.length,
        kept: [...gp.keep],
        ...keptBeforeRounding(gp),
      });
    }
  }
  const after = countModel(model.graph, inferShapes(model.graph), keptRemovals(model.groups, kept));
  timings.count = now() - t;
  return {
    method: entry.name,
    options: { method: entry.name, ...used },
    macsConvention: MACS_CONVENTION,
    before: sizeOf(model.counts),
    after: sizeOf(after),
    layers,
    ...(plan.details ? { details: { ...plan.details } } : {}),
    warnings,
    timings,
  };
}

/**
 * Prune a model with one method and return the smaller model, its bytes and a report.
 *
 * @param model from {@link loadModel}.
 * @param options method, ratio and method options.
 * @returns the pruned model, its ONNX bytes and the report.
 * @throws PrunekitError `INVALID_ARGUMENT` (bad option), `UNSAFE_MERGE`, `PLAN_INVALID`.
 * @example
 * const { bytes, report } = await prune(await loadModel(input), { method: "l1", ratio: 0.5 });
 */
export async function prune(model: Model, options: PruneOptions): Promise<PruneResult> {
  const { entry, plan, used, ctx, warnings, timings } = await runPlanning(model, options);
  let t = now();
  if (
    !plan.groups.some((gp) => gp.keep.length < model.groups[gp.groupId]!.channels) &&
    !options.allowUnchanged
  ) {
    const left = unprunedGroups(model.groups, plan, entry.name);
    const training = model.graph.order.some(
      (n) => n.opType === "BatchNormalization" && n.outputs.slice(1).some((o) => o !== ""),
    );
    const counts = summarizeUnpruned(left);
    throw new PrunekitError(
      "NOTHING_TO_PRUNE",
      `${entry.name} would remove no channel (${counts === "" ? "no prunable group" : counts}${left[0] === undefined ? "" : `; e.g. group ${left[0].group}: ${left[0].reason}`})${training ? "; the model is a training-mode export: re-export in eval mode, torch.onnx.export(model.eval(), ...)" : ""}; pass allowUnchanged (--allow-unchanged) to write an unchanged copy`,
    );
  }
  const phase = (name: string, done: number) => options.onProgress?.({ phase: name, done, total: 1 });
  phase("surgery", 0);
  const surgeryOptions = plan.values ? { values: plan.values } : {};
  let surgery = applyPlan(model.graph, model.groups, plan, surgeryOptions);
  // Compensation never writes non-finite values: a layer whose merges would (extreme but finite BN or
  // weight values overflow) is pruned without merging instead, with a warning.
  const overflow = nonFiniteChanged(model.graph, surgery);
  if (overflow.size > 0 && plan.groups.some((g) => (g.merges?.length ?? 0) > 0)) {
    plan.groups = plan.groups.map((gp) => {
      const group = model.groups[gp.groupId]!;
      const hit = group.consumers.filter((c) => overflow.has(c.weight)).map((c) => c.weight);
      if (hit.length === 0 || gp.merges === undefined || gp.merges.length === 0) return gp;
      ctx.onWarning?.(
        `${group.producers.map((p) => JSON.stringify(p.node)).join(", ")}: merging would write non-finite values into ${hit.map((h) => JSON.stringify(h)).join(", ")} (extreme BatchNorm or weight values); pruned without merging`,
      );
      const { merges: _m, ...rest } = gp;
      return rest;
    });
    surgery = applyPlan(model.graph, model.groups, plan, surgeryOptions);
  }
  const still = nonFiniteChanged(model.graph, surgery);
  if (still.size > 0) {
    throw new PrunekitError(
      "SINGULAR_SYSTEM",
      `pruning would write non-finite values into ${[...still].map((n) => JSON.stringify(n)).join(", ")}; nothing was written`,
      { tensor: [...still][0]! },
    );
  }
  timings.surgery = now() - t;
  phase("surgery", 1);
  phase("encode", 0);
  t = now();
  // Self-contained output: untouched external tensors are inlined (their files would not follow the output).
  const outModel = inlineExternalData(surgery.model, model.graph.externalData);
  const bytes = encodeModel(outModel);
  timings.encode = now() - t;
  phase("encode", 1);
  t = now();
  let pruned = analyse(outModel);
  timings.analysis = now() - t;
  let outBytes = bytes;
  const recipe = entry.finetune?.(used);
  let tuned: FinetuneResult | undefined;
  if (recipe !== undefined && options.data !== undefined) {
    t = now();
    tuned = await finetune(pruned, {
      ...recipe,
      data: options.data.train,
      ...(options.data.test === undefined ? {} : { test: options.data.test }),
      ...(options.data.mean === undefined ? {} : { mean: options.data.mean }),
      ...(options.data.std === undefined ? {} : { std: options.data.std }),
      ...(options.method !== "gate" || options.evalLimit === undefined
        ? {}
        : { evalLimit: options.evalLimit }),
      ...(options.method !== "gate" || options.augment === undefined ? {} : { augment: options.augment }),
      ...(options.trainWorkers === undefined ? {} : { workers: options.trainWorkers() }),
      ...(options.resumeFrom?.finetune === undefined ? {} : { resumeFrom: options.resumeFrom.finetune }),
      ...(options.onCheckpoint === undefined
        ? {}
        : {
            onCheckpoint: (bytes: Uint8Array) => options.onCheckpoint!({ kind: "finetune", bytes }),
          }),
      ...(options.onProgress === undefined
        ? {}
        : { onProgress: (e: ProgressEvent) => options.onProgress!({ ...e, phase: "finetune" }) }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    pruned = tuned.model;
    outBytes = tuned.bytes;
    timings.finetune = now() - t;
  }

  const byGroup = new Map(surgery.groups.map((g) => [g.groupId, g]));
  const layers: LayerReport[] = [];
  for (const gp of plan.groups) {
    const group = model.groups[gp.groupId]!;
    const s = byGroup.get(gp.groupId)!;
    for (const p of group.producers) {
      layers.push({
        node: p.node,
        weight: p.weight,
        channelsBefore: s.channelsBefore,
        channelsAfter: s.channelsAfter,
        kept: [...gp.keep],
        merged: s.merged,
        dropped: s.dropped,
        ...(gp.details as Partial<LayerReport> | undefined),
      });
    }
  }
  const unpruned = unprunedGroups(model.groups, plan, entry.name);
  const report: PruneReport = {
    unpruned,
    method: entry.name,
    options: { method: entry.name, ...used },
    macsConvention: MACS_CONVENTION,
    before: sizeOf(model.counts),
    after: sizeOf(pruned.counts),
    layers,
    ...(plan.details ? { details: { ...plan.details } } : {}),
    warnings,
    timings,
    ...(tuned === undefined ? {} : { finetune: tuned.report }),
  };
  return { model: pruned, bytes: outBytes, report };
}

/** Options of {@link gateScores}. */
export interface GateScoresOptions {
  /** Batches to sum the scores over (default 10). */
  batches?: number;
  /** Images per batch (default 64). */
  batch?: number;
  /** Seed of the image order (default 0). */
  seed?: number;
  /** Take the images in a seeded random order (default true); false: the first ones in file order. */
  shuffle?: boolean;
  /** BN on batch statistics as during a Tick ("train", default) or on its running statistics ("eval"). */
  bn?: "train" | "eval";
  onProgress?: (event: ProgressEvent) => void;
  onWarning?: (message: string) => void;
}

export type { TaylorScores };

/**
 * Gate Decorator's Taylor importance (docs/methods.md §4.2) of every gate channel of the model as it is
 * (BN gates; conv gates where a group has no BN, §4.9, experimental), summed over some training
 * batches, with the group sums (§4.3) and a ranking per group. Nothing is trained.
 * @throws PrunekitError `GRAPH_UNSUPPORTED` (nothing to gate), `INVALID_ARGUMENT` (images that do not fit).
 * @example
 * const s = await gateScores(model, { train }, { batches: 4 }); // s.groups[0].ranking[0]: least important
 */
export async function gateScores(
  model: Model,
  data: MethodData,
  options: GateScoresOptions = {},
): Promise<TaylorScores> {
  const batches = options.batches ?? 10;
  if (!(Number.isInteger(batches) && batches >= 1)) {
    throw new PrunekitError("INVALID_ARGUMENT", `batches must be an integer >= 1, got ${batches}`);
  }
  const ctx: MethodContext = { wasm: await getWasm() };
  if (options.onProgress) ctx.onProgress = options.onProgress;
  if (options.onWarning) ctx.onWarning = options.onWarning;
  return taylorScores(
    model.graph,
    model.groups,
    data,
    {
      batches,
      ...(options.batch === undefined ? {} : { batch: options.batch }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.shuffle === undefined ? {} : { shuffle: options.shuffle }),
      ...(options.bn === undefined ? {} : { bn: options.bn }),
    },
    ctx,
  );
}

/** Options of {@link criterionScores}. */
export interface CriterionScoresOptions {
  /** The data-free criterion (docs/methods.md §2.3). */
  criterion: Criterion;
}

/** Data-free importance of every prunable channel, in the shape of {@link TaylorScores}. */
export interface CriterionScores {
  criterion: Criterion;
  /**
   * One entry per producer of a prunable group: `node` the producer (conv or linear), `scale` its weight
   * (the tensor the score is computed from), `bn` the BatchNormalization right after it, if any (the
   * `node` of the same channels in gate's scores).
   */
  layers: { node: string; kind: "filter"; scale: string; bn?: string; channels: number; scores: number[] }[];
  /** Per group: its producers, the summed scores (as magnitude pruning ranks them) and the ranking. */
  groups: { groupId: number; members: string[]; channels: number; scores: number[]; ranking: number[] }[];
}

/**
 * l1 / l2 norms or the geometric-median score (docs/methods.md §2.3) of every output channel of every
 * prunable group's producers, with the group sums and a ranking from least to most important: what
 * `prunekit scores --method l1|l2|gm` prints, side by side with gate's Taylor scores.
 * @throws PrunekitError `INVALID_ARGUMENT` (an unknown criterion).
 * @example
 * const s = await criterionScores(model, { criterion: "l1" }); // s.groups[0].ranking[0]: least important
 */
export async function criterionScores(
  model: Model,
  options: CriterionScoresOptions,
): Promise<CriterionScores> {
  const criterion = options.criterion;
  if (criterion !== "l1" && criterion !== "l2" && criterion !== "gm") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `criterion must be "l1", "l2" or "gm", got ${JSON.stringify(criterion)}`,
    );
  }
  const wasm = await getWasm();
  const layers: CriterionScores["layers"] = [];
  const groups: CriterionScores["groups"] = [];
  for (const group of model.groups) {
    if (group.frozen || group.producers.length === 0) continue;
    const sum = new Float64Array(group.channels);
    for (const p of group.producers) {
      const f = producerFilters(model.graph, p);
      const s = filterScores(wasm, criterion, f.data, f.rows, f.cols);
      for (let c = 0; c < group.channels; c++) sum[c]! += s[c]!;
      const next = model.graph.tensors.get(model.graph.nodeByName.get(p.node)?.outputs[0] ?? "")?.consumers;
      const bn = next?.length === 1 && next[0]!.opType === "BatchNormalization" ? next[0]!.name : undefined;
      layers.push({
        node: p.node,
        kind: "filter",
        scale: p.weight,
        ...(bn === undefined ? {} : { bn }),
        channels: f.rows,
        scores: Array.from(s),
      });
    }
    const ranking = Array.from(sum.keys()).sort((a, b) => sum[a]! - sum[b]! || a - b);
    groups.push({
      groupId: group.id,
      members: group.producers.map((p) => p.node),
      channels: group.channels,
      scores: Array.from(sum),
      ranking,
    });
  }
  return { criterion, layers, groups };
}

/** Every group the plan leaves whole, with the reason (in group order). */
function unprunedGroups(groups: DependencyGroup[], plan: PrunePlan, method: string): UnprunedGroup[] {
  const cut = new Set(
    plan.groups.filter((gp) => gp.keep.length < groups[gp.groupId]!.channels).map((gp) => gp.groupId),
  );
  const innerOnly = method === "merge" || method === "epruner";
  const unsafe = new Map(
    ((plan.details?.skippedUnsafe ?? []) as { group: number; reason: string }[]).map((u) => [
      u.group,
      u.reason,
    ]),
  );
  return groups
    .filter((g) => !cut.has(g.id) && g.producers.length > 0)
    .map((g) => {
      const layers = g.producers.map((p) => p.node);
      if (g.frozen)
        return { group: g.id, layers, kind: "frozen" as const, reason: g.frozenReasons.join("; ") };
      const why = unsafe.get(g.id);
      if (why !== undefined)
        return { group: g.id, layers, kind: "unsafe" as const, reason: `not merge-safe: ${why}` };
      // Merge with mergeResidual prunes residual streams too; what it leaves is a model output or kept.
      const streamsToo = plan.details?.mergeResidual === true && !g.reachesGraphOutput;
      if (innerOnly && !isInner(g) && !streamsToo) {
        const reason =
          g.producers.length > 1 || g.isResidual
            ? `a residual stream (${g.producers.length} producers joined); ${method} prunes inner layers only`
            : g.reachesGraphOutput
              ? "its channels are a model output"
              : `${method} prunes inner layers only`;
        return { group: g.id, layers, kind: "residual" as const, reason };
      }
      return {
        group: g.id,
        layers,
        kind: "kept" as const,
        reason: "every channel kept (ratio 0, excluded, at the minimum, or left alone with a warning)",
      };
    });
}

/** "8 residual streams, 3 frozen, 1 kept whole" for a one-line summary. */
export function summarizeUnpruned(unpruned: readonly UnprunedGroup[]): string {
  const n = (kind: UnprunedGroup["kind"]) => unpruned.filter((u) => u.kind === kind).length;
  const parts: string[] = [];
  if (n("residual") > 0)
    parts.push(`${n("residual")} residual stream${n("residual") === 1 ? "" : "s"} or outputs`);
  if (n("unsafe") > 0) parts.push(`${n("unsafe")} not merge-safe (skipped)`);
  if (n("frozen") > 0) parts.push(`${n("frozen")} frozen`);
  if (n("kept") > 0) parts.push(`${n("kept")} kept whole`);
  return parts.join(", ");
}

/** Float initializers the surgery changed that hold a NaN or infinity where the input's had none. */
function nonFiniteChanged(graph: Graph, surgery: SurgeryResult): Set<string> {
  const out = new Set<string>();
  const changed = new Set(surgery.changedTensors);
  const hasNonFinite = (a: Float32Array) => a.some((v) => !Number.isFinite(v));
  for (const t of surgery.model.graph?.initializer ?? []) {
    const name = t.name ?? "";
    if (!changed.has(name) || t.dataType !== DataType.FLOAT) continue;
    if (!hasNonFinite(viewFloat32(t, graph.externalData))) continue;
    const before = graph.constants.get(name);
    if (
      before !== undefined &&
      before.dataType === DataType.FLOAT &&
      hasNonFinite(viewFloat32(before, graph.externalData))
    )
      continue;
    out.add(name);
  }
  return out;
}

/** A group as `describeModel` lists it. */
export interface GroupSummary {
  /** Group id. */
  id: number;
  /** Channels. */
  channels: number;
  /**
   * Block constraint from grouped convs: the channels form this many contiguous equal blocks, and
   * pruning keeps the same number from each (kept counts are multiples of it). 1 when unconstrained.
   */
  blocks: number;
  /** Producer node names. */
  producers: string[];
  /** Consumer node names. */
  consumers: string[];
  /** Member nodes (BN, depthwise). */
  members: string[];
  /** Residual group. */
  isResidual: boolean;
  /** Single producer, consumers are conv/linear (Neuron Merging and EPruner prune these). */
  inner: boolean;
  /** Merging across its path is safe. */
  mergeSafe: boolean;
  /**
   * Decomposed activations and squeeze-excitation blocks on its path, by name ("SiLU", "HardSwish",
   * "GELU", "squeeze-excitation", ...), once each (graph/patterns.ts).
   */
  patterns: string[];
  /** Cannot be pruned. */
  frozen: boolean;
  /** Why it is frozen. */
  frozenReasons: string[];
}

/** What `prunekit info` shows. */
export interface ModelDescription {
  /** Graph inputs with shapes. */
  inputs: { name: string; shape: (number | string)[] }[];
  /** Graph outputs with shapes. */
  outputs: { name: string; shape: (number | string)[] }[];
  /** Opset of the default domain. */
  opset: number;
  /** Producer name and version. */
  producer: string;
  /** Per conv/linear layer counts. */
  layers: { node: string; opType: string; outputShape: number[] | undefined; params: number; macs: number }[];
  /** Totals. */
  totals: SizeReport;
  /** How MACs are counted. */
  macsConvention: string;
  /** Groups. */
  groups: GroupSummary[];
}

function shapeOf(v: {
  type?: { tensorType?: { shape?: { dim: { dimValue?: number; dimParam?: string }[] } } };
}) {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? d.dimParam ?? "?");
}

/**
 * Summarise a model: inputs, outputs, per-layer parameters and MACs, and its prune groups.
 * @example
 * const info = describeModel(await loadModel(bytes));
 */
export function describeModel(model: Model): ModelDescription {
  const p = model.proto;
  return {
    inputs: model.graph.inputs.map((v) => ({ name: v.name ?? "", shape: shapeOf(v) })),
    outputs: model.graph.outputs.map((v) => ({ name: v.name ?? "", shape: shapeOf(v) })),
    opset: model.graph.opsetVersion,
    producer: `${p.producerName ?? ""} ${p.producerVersion ?? ""}`.trim(),
    layers: model.counts.layers.map((l) => ({
      node: l.node,
      opType: l.opType,
      outputShape: l.outputShape,
      params: l.weightParams + l.biasParams,
      macs: l.macs,
    })),
    totals: sizeOf(model.counts),
    macsConvention: MACS_CONVENTION,
    groups: model.groups.map((g) => ({
      id: g.id,
      channels: g.channels,
      blocks: g.blocks,
      producers: g.producers.map((x) => x.node),
      consumers: g.consumers.map((x) => x.node),
      members: g.members.map((x) => x.node),
      isResidual: g.isResidual,
      inner: isInner(g),
      mergeSafe: pathIsMergeSafe(g),
      patterns: [...new Set(groupPatterns(g).map((p) => p.name))],
      frozen: g.frozen,
      frozenReasons: g.frozenReasons,
    })),
  };
}

/** Options of {@link evaluate} and {@link compare}. */
export interface EvaluateModelOptions {
  /** Images per forward run (default 64). */
  batch?: number;
  /** Evaluate the first N images only. */
  limit?: number;
  /** Per-channel (or one) mean and std applied after scaling pixels to [0, 1]; default 0 and 1. */
  mean?: readonly number[];
  std?: readonly number[];
  /** What the model's first output holds (default: detected from a final Softmax / LogSoftmax). */
  outputKind?: OutputKind;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Module instance to run on; by default a private one (createWasm), released afterwards. */
  wasm?: Wasm;
  /**
   * Extra worker threads for `evaluate` (e.g. `createNodeTrainWorkers(1)` from prunekit/node: this
   * thread plus one worker); the result is the same bits as with none. Stopped at the end.
   */
  workers?: TrainWorkerPort[];
}

/** {@link evaluate}'s result: accuracy, loss, speed, and the preprocessing that was applied. */
export interface EvaluateModelResult extends Omit<EvaluationResult, "predictions" | "outputs"> {
  /** One line saying how the images were preprocessed (padding, scaling, normalisation, channels). */
  preprocessing: string;
  /** Predicted class of every image. */
  predictions: Int32Array;
}

function outputKindOf(graph: Graph): OutputKind {
  const name = graph.outputs[0]?.name ?? "";
  const op = graph.tensors.get(name)?.producer?.opType;
  return op === "Softmax" ? "probabilities" : op === "LogSoftmax" ? "log-probabilities" : "logits";
}

function imageSource(images: RawImages, plan: Preprocessing): LabeledSource {
  return {
    count: images.count,
    fill: (start, n, out) => preprocessBatch(images, plan, start, n, out),
    label: (i) => images.labels[i]!,
  };
}

async function withCompiled<T>(
  models: readonly Model[],
  options: EvaluateModelOptions,
  body: (compiled: CompiledModel[]) => Promise<T>,
): Promise<T> {
  const wasm = options.wasm ?? (await createWasm());
  const compiled: CompiledModel[] = [];
  try {
    for (const m of models) compiled.push(compileModel(wasm, m.graph, { batch: options.batch ?? 64 }));
    return await body(compiled);
  } finally {
    for (const c of compiled) c.dispose();
  }
}

function planFor(c: CompiledModel, images: RawImages, options: EvaluateModelOptions): Preprocessing {
  const dims = c.inputs[0]?.dims ?? [];
  if (dims.length !== 4) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `evaluation needs a model with one image input [batch, channels, height, width], got [${dims.join(", ")}]`,
    );
  }
  return planPreprocessing(
    images,
    { channels: dims[1]!, height: dims[2]!, width: dims[3]! },
    {
      ...(options.mean === undefined ? {} : { mean: options.mean }),
      ...(options.std === undefined ? {} : { std: options.std }),
    },
  );
}

/**
 * Top-1 / top-5 accuracy, mean cross-entropy and speed of a classifier on labelled images, computed by
 * prunekit's own engine (the same in Node, Deno and browsers).
 * @throws PrunekitError `ONNX_UNSUPPORTED` for an op the engine cannot run, `INVALID_ARGUMENT` for
 *   images that do not fit the model's input, `ABORTED` when `signal` fires.
 * @example
 * const r = await evaluate(model, images, { mean: [0.286], std: [0.353] }); // r.top1 in [0, 1]
 */
export async function evaluate(
  model: Model,
  images: RawImages,
  options: EvaluateModelOptions = {},
): Promise<EvaluateModelResult> {
  return withCompiled([model], options, async ([c]) => {
    const plan = planFor(c!, images, options);
    const pool =
      options.workers === undefined || options.workers.length === 0
        ? undefined
        : await startEvalWorkers(
            options.workers,
            encodeModel(inlineExternalData(model.proto, model.graph.externalData)),
            c!.batch,
          );
    try {
      const { outputs: _outputs, ...r } = await evaluateCompiled(c!, imageSource(images, plan), {
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        outputKind: options.outputKind ?? outputKindOf(model.graph),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(pool === undefined ? {} : { runners: pool.runners }),
      });
      return { ...r, preprocessing: plan.summary };
    } finally {
      await pool?.close();
    }
  });
}

/** {@link compare}'s result. */
export interface CompareModelsResult {
  a: EvaluateModelResult;
  b: EvaluateModelResult;
  agreement: number;
  ware: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
}

/**
 * Evaluate two models (typically the original and the pruned one) on the same images: accuracy of both,
 * prediction agreement, WARE (docs/methods.md §2.8) and max / mean |Δ output|.
 * @throws PrunekitError as {@link evaluate}; `INVALID_ARGUMENT` when the models' inputs or outputs differ.
 */
export async function compare(
  a: Model,
  b: Model,
  images: RawImages,
  options: EvaluateModelOptions = {},
): Promise<CompareModelsResult> {
  return withCompiled([a, b], options, async ([ca, cb]) => {
    const plan = planFor(ca!, images, options);
    if (ca!.inputs[0]!.dims.join() !== cb!.inputs[0]!.dims.join()) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `the models' inputs differ: [${ca!.inputs[0]!.dims.join(", ")}] and [${cb!.inputs[0]!.dims.join(", ")}]`,
      );
    }
    const r = await compareCompiled(ca!, cb!, imageSource(images, plan), {
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      outputKind: options.outputKind ?? outputKindOf(a.graph),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const strip = ({ outputs: _o, ...rest }: EvaluationResult) => ({ ...rest, preprocessing: plan.summary });
    return { ...r, a: strip(r.a), b: strip(r.b) };
  });
}

/** Options of {@link finetune}. */
export interface FinetuneOptions
  extends Omit<
    TrainOptions,
    "evaluate" | "fingerprint" | "regularize" | "frozen" | "onCheckpoint" | "workers"
  > {
  /** The training images. */
  data: RawImages;
  /** Images to measure accuracy on before, after, and every `evalEvery` epochs (optional). */
  test?: RawImages;
  /** Evaluate on the first N test images only. */
  evalLimit?: number;
  /** Per-channel (or one) mean and std after scaling pixels to [0, 1]; default 0 and 1. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Receives the run's state after every epoch, as checkpoint bytes (write them atomically). */
  onCheckpoint?: (bytes: Uint8Array, epoch: number) => Promise<void>;
  /** Checkpoint bytes to continue from (a run with the same settings; see onCheckpoint). */
  resumeFrom?: Uint8Array;
  /**
   * Data-parallel training workers (e.g. `createNodeTrainWorkers(2)` from prunekit/node): each batch
   * is split across them. BN then normalises per shard (results depend on the worker count, never on
   * timing); without workers, full-batch PyTorch semantics. The workers are stopped at the end.
   */
  workers?: TrainWorkerPort[];
}

/** What {@link finetune} did. */
export interface FinetuneReport {
  epochs: number;
  batch: number;
  /** The options in effect (defaults filled in). */
  options: Record<string, unknown>;
  /** How training images were preprocessed. */
  preprocessing: string;
  trainImages: number;
  history: EpochRecord[];
  /** Test top-1 before and after training, when test images were given. */
  before?: number;
  after?: number;
  testImages?: number;
  /** Training images per second (this call). */
  imagesPerSecond: number;
  /** Data-parallel workers used (1: none). */
  workers: number;
  seconds: number;
  warnings: string[];
}

/** The result of {@link finetune}. */
export interface FinetuneResult {
  /** The trained model, analysed (same graph, names, opset and metadata; new tensor values). */
  model: Model;
  bytes: Uint8Array;
  report: FinetuneReport;
}

/**
 * Fine-tune a classifier with SGD (PyTorch semantics: torch.optim.SGD, nn.BatchNorm2d in train mode)
 * on prunekit's own training engine, and write the trained values back into an otherwise unchanged
 * model.
 * @throws PrunekitError `ONNX_UNSUPPORTED` for an op the training engine cannot differentiate,
 *   `INVALID_ARGUMENT` for bad options or images that do not fit, `CHECKPOINT_INVALID` for a checkpoint
 *   of another model or run, `ABORTED` when `signal` fires (nothing is returned).
 * @example
 * const { bytes, report } = await finetune(model, { data: train, test, epochs: 2, lr: 0.01 });
 */
export async function finetune(model: Model, options: FinetuneOptions): Promise<FinetuneResult> {
  const started = now();
  const wasm = await createWasm();
  const batch = options.batch ?? 64;
  const dims = model.graph.inputs[0]?.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue ?? 0)) ?? [];
  if (model.graph.inputs.length !== 1 || dims.length !== 4 || dims.slice(1).some((d) => !(d > 0))) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `fine-tuning needs a model with one image input [batch, channels, height, width] of known size, got [${dims.join(", ")}]`,
    );
  }
  const norm = {
    ...(options.mean === undefined ? {} : { mean: options.mean }),
    ...(options.std === undefined ? {} : { std: options.std }),
  };
  const plan = planPreprocessing(
    options.data,
    { channels: dims[1]!, height: dims[2]!, width: dims[3]! },
    norm,
  );
  const evalOptions: EvaluateModelOptions = {
    batch: Math.max(batch, 64),
    ...norm,
    ...(options.evalLimit === undefined ? {} : { limit: options.evalLimit }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    wasm,
  };
  const test = options.test;
  const measure = async (m: Model) =>
    test === undefined ? undefined : (await evaluate(m, test, evalOptions)).top1;
  const before = await measure(model);
  const schedule = options.schedule ?? { kind: "constant" };
  const used = {
    epochs: options.epochs,
    batch,
    lr: options.lr ?? 0.01,
    schedule,
    warmupEpochs: options.warmupEpochs ?? 0,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 5e-4,
    nesterov: options.nesterov ?? false,
    noDecayBnBias: options.noDecayBnBias ?? false,
    seed: options.seed ?? 0,
    shuffle: options.shuffle ?? true,
    augment: options.augment ?? true,
  };
  const { epochs: _e, ...fingerprintOptions } = used;
  const workerCount = options.workers?.length ?? 1;
  const fingerprint = {
    ...fingerprintOptions,
    model: { nodes: model.graph.order.length, params: model.counts.learnableParams },
    workers: workerCount,
    data: { name: options.data.name, count: options.data.count, preprocessing: plan.summary },
  };
  const resume =
    options.resumeFrom === undefined ? undefined : decodeCheckpoint(options.resumeFrom, "the checkpoint");
  const pool = options.workers === undefined ? undefined : new WorkerPool(options.workers);
  if (pool !== undefined) {
    try {
      await pool.init(encodeModel(inlineExternalData(model.proto, model.graph.externalData)));
    } catch (e) {
      await pool.close();
      throw e;
    }
  }
  const workersUsed = pool?.size ?? 1;
  const trained = await trainModel(wasm, model.graph, options.data, plan, {
    ...(pool === undefined ? {} : { workers: pool }),
    ...used,
    ...(options.evalEvery === undefined ? {} : { evalEvery: options.evalEvery }),
    ...(test === undefined
      ? {}
      : {
          evaluate: async (values: Map<string, Float32Array>) =>
            (await evaluate(withValues(model, values), test, evalOptions)).top1,
        }),
    fingerprint,
    ...(resume === undefined ? {} : { resume }),
    ...(options.onCheckpoint === undefined
      ? {}
      : { onCheckpoint: (c: Checkpoint) => options.onCheckpoint!(encodeCheckpoint(c), c.epoch) }),
    ...(options.onEpoch === undefined ? {} : { onEpoch: options.onEpoch }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  }).finally(() => pool?.close());
  const out = withValues(model, trained.values);
  const after = await measure(out);
  const bytes = encodeModel(inlineExternalData(out.proto, model.graph.externalData));
  return {
    model: out,
    bytes,
    report: {
      epochs: options.epochs,
      batch,
      options: used,
      preprocessing: plan.summary,
      trainImages: options.data.count,
      history: trained.history,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
      ...(test === undefined ? {} : { testImages: Math.min(test.count, options.evalLimit ?? test.count) }),
      imagesPerSecond: trained.imagesPerSecond,
      workers: workersUsed,
      seconds: (now() - started) / 1000,
      warnings: trained.warnings,
    },
  };
}

/** The model with new values for named tensors (surgery's values patch), analysed. */
function withValues(model: Model, values: Map<string, Float32Array>): Model {
  const patch = new Map(
    [...values].filter(([name]) => model.graph.constants.has(name)).map(([name, data]) => [name, { data }]),
  );
  return analyse(patchValues(model.graph, patch), model.graph.externalData);
}
