// The library's entry points: load a model, describe it, prune it. The same code runs in Node, Deno and
// browsers; file access is injected (`readFile`) so nothing here imports node:fs.
import { PrunekitError } from "./errors.ts";
import { countModel, type ModelCounts } from "./graph/count.ts";
import { type DependencyGroup, findDependencyGroups, isInner, pathIsMergeSafe } from "./graph/groups.ts";
import { buildGraph, type Graph } from "./graph/ir.ts";
import { inferShapes } from "./graph/shapes.ts";
import { applyPlan } from "./graph/surgery.ts";
import type { Criterion, KeptRounding } from "./methods/criteria.ts";
import { checkLayerNames, type MagnitudeOptions, planMagnitude } from "./methods/magnitude.ts";
import { MERGE_DEFAULTS, type MergeOptions, planMerge } from "./methods/merge.ts";
import type { MethodContext, ProgressEvent, PrunePlan } from "./methods/plan.ts";
import { encodeModel } from "./onnx/encode.ts";
import { inlineExternalData } from "./onnx/external-data.ts";
import { type LoadOnnxOptions, loadOnnx } from "./onnx/load.ts";
import type { ModelProto } from "./onnx/proto-types.ts";
import type { ExternalTensorData } from "./onnx/tensor.ts";
import { getWasm } from "./wasm/instance.ts";

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
  /** Bytes of tensors stored in external files. */
  readonly externalData: ExternalTensorData;
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

function analyse(proto: ModelProto, externalData: ExternalTensorData): Model {
  const graph = buildGraph(proto);
  const shapes = inferShapes(graph);
  const groups = findDependencyGroups(graph, { shapes });
  const counts = countModel(graph, shapes);
  return { proto, graph, groups, counts, externalData };
}

/** Names of the pruning methods. */
export type MethodName = "l1" | "l2" | "merge";

/** Options of {@link prune}. Options of another method are refused (INVALID_ARGUMENT), never ignored. */
export interface PruneOptions {
  /** Which method plans the pruning. */
  method: MethodName;
  /** Fraction of channels removed from each prunable layer (0..1). */
  ratio?: number;
  /** Per-layer ratios by producer node name. */
  layerRatios?: Record<string, number>;
  /**
   * Exact kept channel counts by producer node name (merge). For a layer whose channels grouped convs
   * split into B blocks (`describeModel` groups[].blocks), a multiple of B, else INVALID_ARGUMENT.
   */
  layers?: Record<string, number>;
  /** Producer node names to leave unpruned. */
  exclude?: string[];
  /** How N·(1−r) becomes an integer. */
  rounding?: KeptRounding;
  /** Kept-set criterion for merge: l1, l2 or gm. */
  criterion?: Criterion;
  /** Merge: cosine threshold t. */
  threshold?: number;
  /** Merge: λ weighting cosine distance against the BN bias term. */
  lambda?: number;
  /** Merge: BatchNorm formula. */
  bnFormula?: "exact" | "reference";
  /** Merge: false gives plain pruning with the same kept sets. */
  merge?: boolean;
  /** Merge: leave layers with unsafe paths unpruned (reported) instead of failing. */
  skipUnsafe?: boolean;
  /**
   * Merge: prune layers with unsafe paths without merging them (ALGORITHMS.md §2.6's fallback,
   * reported as a warning) instead of failing. Takes precedence over `skipUnsafe`.
   */
  pruneUnsafe?: boolean;
  /** Progress of long steps. */
  onProgress?: (event: ProgressEvent) => void;
  /** Non-fatal findings. */
  onWarning?: (message: string) => void;
}

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
  /** Non-fatal findings, e.g. layers left unpruned and why. */
  warnings: string[];
  /** Milliseconds per phase. */
  timings: Record<string, number>;
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
  const timings: Record<string, number> = {};
  const ctx: MethodContext = { wasm: await getWasm() };
  if (options.onProgress) ctx.onProgress = options.onProgress;
  const warnings: string[] = [];
  ctx.onWarning = (message) => {
    warnings.push(message);
    options.onWarning?.(message);
  };
  ctx.externalData = model.externalData;
  checkLayerNames(model.groups, Object.keys(options.layerRatios ?? {}), "layer ratio");
  checkLayerNames(model.groups, Object.keys(options.layers ?? {}), "layers");
  checkLayerNames(model.groups, options.exclude ?? [], "exclude");
  const ratio = options.ratio ?? 0.5;
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new PrunekitError("INVALID_ARGUMENT", `ratio must be in [0, 1], got ${options.ratio}`);
  }
  if (options.method === "l1" || options.method === "l2") {
    const mergeOnly = (
      [
        "layers",
        "criterion",
        "threshold",
        "lambda",
        "bnFormula",
        "merge",
        "skipUnsafe",
        "pruneUnsafe",
      ] as const
    ).filter((k) => options[k] !== undefined);
    if (mergeOnly.length > 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `option${mergeOnly.length > 1 ? "s" : ""} ${mergeOnly.join(", ")} apply to method "merge" only, not "${options.method}"`,
      );
    }
  }
  let t = now();
  let plan: PrunePlan;
  let used: Record<string, unknown>;
  switch (options.method) {
    case "l1":
    case "l2": {
      const o: Partial<MagnitudeOptions> = {
        criterion: options.method,
        ratio,
        layerRatios: options.layerRatios ?? {},
        exclude: options.exclude ?? [],
        rounding: options.rounding,
        externalData: model.externalData,
      };
      plan = await planMagnitude(model.graph, model.groups, o, ctx);
      used = {
        ratio,
        layerRatios: o.layerRatios,
        exclude: o.exclude,
        rounding: o.rounding ?? "round (linear) / floor (conv)",
      };
      break;
    }
    case "merge": {
      const o: Partial<MergeOptions> = {
        ratio,
        layerRatios: options.layerRatios ?? {},
        layers: options.layers ?? {},
        exclude: options.exclude ?? [],
        mode: options.merge === false ? "prune" : "merge",
        skipUnsafe: options.skipUnsafe ?? false,
        pruneUnsafe: options.pruneUnsafe ?? false,
      };
      if (options.rounding !== undefined) o.rounding = options.rounding;
      if (options.criterion !== undefined) o.criterion = options.criterion;
      if (options.threshold !== undefined) o.threshold = options.threshold;
      if (options.lambda !== undefined) o.lambda = options.lambda;
      if (options.bnFormula !== undefined) o.bnFormula = options.bnFormula;
      plan = await planMerge(model.graph, model.groups, o, ctx);
      used = { ...MERGE_DEFAULTS, ...o };
      break;
    }
    default:
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `unknown method "${String(options.method)}"; expected l1, l2 or merge`,
      );
  }
  timings.decomposition = now() - t;
  t = now();
  const surgery = applyPlan(model.graph, model.groups, plan, { externalData: model.externalData });
  timings.surgery = now() - t;
  t = now();
  // Self-contained output: untouched external tensors are inlined (their files would not follow the output).
  const outModel = inlineExternalData(surgery.model, model.externalData);
  const bytes = encodeModel(outModel);
  timings.encode = now() - t;
  t = now();
  const pruned = analyse(outModel, new Map());
  timings.analysis = now() - t;

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
      });
    }
  }
  const report: PruneReport = {
    method: options.method,
    options: { method: options.method, ...used },
    macsConvention: MACS_CONVENTION,
    before: sizeOf(model.counts),
    after: sizeOf(pruned.counts),
    layers,
    warnings,
    timings,
  };
  return { model: pruned, bytes, report };
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
      frozen: g.frozen,
      frozenReasons: g.frozenReasons,
    })),
  };
}
