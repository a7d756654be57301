// Neuron Merging vs plain pruning on the trained conv + BatchNorm networks of tests/fixtures/trained/
// (docs/methods.md §2.5, §2.7, §2.8): a CIFAR-style VGG-16-BN and a CIFAR-style ResNet trained on
// Fashion-MNIST padded to 32x32. For each model: the baseline accuracy, then for every configuration
// (VGG-16: the published fixed-width recipe and uniform ratios; ResNet: uniform ratios, inner convs
// only) three files written by the library — plain pruning (`merge: false`), merging with the exact BN
// formula, merging with the reference BN formula — each run by onnxruntime-node. Accuracy, WARE (§2.8,
// zero policy skip) and the report's params/MACs are tabulated, followed by diagnostics of why merging
// does or does not help (per-layer merge quality measured on the original network's activations).
//
//   node --import tsx bench/experiments/merge-convnets.ts [--data DIR] [--out FILE] [--limit N]
//        [--batch N] [--model FILE ...] [--diag N]
//
// --data defaults to $PRUNEKIT_FASHION_MNIST_DIR, else Debian's dataset-fashion-mnist location.
// --out defaults to bench/experiments/merge-convnets.md; each model's section (between its
// `<!-- begin/end FILE -->` comments) is replaced or appended, the rest of the file is kept.
// --limit N evaluates on the first N test images only (default all 10 000); `--limit FILE=N` limits one
// model (FILE relative to tests/fixtures). --model (repeatable) replaces the manifest's trained conv
// models, e.g. the random-init tests/fixtures/vgg_bn.onnx for plumbing. --diag: images for the
// activation diagnostics and the VGG per-layer ablation (default 500). Never part of `npm test`
// (on 2 shared cores: ResNet-20 ~3 min, VGG-16 ~12 min for the full test set).
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import {
  loadModel,
  type MergePruneOptions,
  type Model,
  type PruneOptions,
  type PruneResult,
  prune,
} from "../../src/api.ts";
import { fashionMnistDir, type ImageSet, loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { ware } from "../../src/engine/metrics.ts";
import { attrFloat, type Graph, type GraphNode } from "../../src/graph/ir.ts";
import { planMerge } from "../../src/methods/merge.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import { readFloat32 } from "../../src/onnx/tensor.ts";
import type { PrunePlan } from "../../src/surgery/plan.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { correctCount, ortLogits, ortOutputs } from "../../tests/e2e/ort-eval.ts";

const { values: flags } = parseArgs({
  options: {
    data: { type: "string" },
    out: { type: "string" },
    limit: { type: "string", multiple: true },
    batch: { type: "string" },
    model: { type: "string", multiple: true },
    diag: { type: "string" },
  },
});
const dataDir = fashionMnistDir(process.env, flags.data);
const outFile = flags.out ?? new URL("./merge-convnets.md", import.meta.url).pathname;
/** `--limit N` for every model, `--limit FILE=N` (FILE relative to tests/fixtures) for one. */
function limitFor(file: string): number | undefined {
  let n: number | undefined;
  for (const l of flags.limit ?? []) {
    const eq = l.lastIndexOf("=");
    if (eq < 0) n ??= Number(l);
    else if (l.slice(0, eq) === file) return Number(l.slice(eq + 1));
  }
  return n;
}
const batch = Number(flags.batch ?? "250");
const diagImages = Number(flags.diag ?? "500");

const THRESHOLD = 0.1;
const LAMBDA = 0.85;
const CRITERION = "l1" as const;
const RATIOS = [0.3, 0.5, 0.7];

const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const readBytes = async (p: string | URL) => new Uint8Array(await readFile(p));
const manifest = JSON.parse(await readFile(new URL("manifest.json", fixtures), "utf8"));
const fmt = (x: number, digits = 2) => (Number.isNaN(x) ? "–" : x.toFixed(digits));
const sig = (x: number) => (Number.isNaN(x) ? "–" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

// --- which models, and their preprocessing ---------------------------------------------------------

interface Target {
  /** Path relative to tests/fixtures. */
  file: string;
  bytes: Uint8Array;
  entry: ManifestEntry | undefined;
  pad: number;
}

interface ManifestEntry {
  input: { shape: (number | string)[] };
  trained?: {
    preprocessing: string;
    testCorrect: number;
    testTotal: number;
    sliceTestCorrect: number;
  };
}

const PAD_WORDS = /zero-padded by (\d+)/;

/**
 * pad / normalisation from the manifest: the trained entries state them in words (train_convnets.py
 * PREPROCESSING); refuse anything but "zero pad, byte/255, no mean/std", which is all this runner does.
 */
function preprocessing(file: string, entry: ManifestEntry | undefined): number {
  const shape = entry?.input.shape ?? [];
  const [, channels, height, width] = shape as [unknown, number, number, number];
  if (channels !== 1 || height !== width || (height - 28) % 2 !== 0)
    throw new Error(`${file}: input ${JSON.stringify(shape)} is not [batch, 1, 28 + 2p, 28 + 2p]`);
  const pad = (height - 28) / 2;
  const words = entry?.trained?.preprocessing;
  if (words !== undefined) {
    if (!/no mean\/std normali[sz]ation/.test(words) || !/byte\) \/ 255/.test(words))
      throw new Error(`${file}: preprocessing "${words}" is not byte/255 without mean/std`);
    if (Number(PAD_WORDS.exec(words)?.[1] ?? "0") !== pad)
      throw new Error(`${file}: preprocessing "${words}" disagrees with the input shape`);
  }
  return pad;
}

async function targets(): Promise<Target[]> {
  const files =
    flags.model?.map((f) => path.relative(new URL(fixtures).pathname, path.resolve(f))) ??
    Object.keys(manifest.models)
      .filter((k) => k.startsWith("trained/") && /vgg|resnet/.test(k))
      .sort();
  const out: Target[] = [];
  for (const file of files) {
    const entry: ManifestEntry | undefined = manifest.models[file];
    out.push({
      file,
      bytes: await readBytes(new URL(file, fixtures)),
      entry,
      pad: preprocessing(file, entry),
    });
  }
  return out;
}

/**
 * The first 8 test images and PyTorch's logits for them (NAME.io.json): the loaded images must equal
 * them bit for bit, and onnxruntime's logits must agree, or the preprocessing is not the trained one.
 */
async function checkIo(t: Target, set: ImageSet): Promise<string> {
  const ioName = (t.entry as { io?: string } | undefined)?.io;
  if (ioName === undefined || t.entry?.trained === undefined) return "no io.json check (not a trained file)";
  const io = JSON.parse(await readFile(new URL(ioName, fixtures), "utf8"));
  const x = Float32Array.from(io.input.data as number[]);
  const n = io.input.shape[0] as number;
  const pixels = set.height * set.width;
  for (let i = 0; i < n * pixels; i++) {
    if (x[i] !== set.images[i])
      throw new Error(`${t.file}: test image ${Math.floor(i / pixels)} differs from ${ioName} at ${i}`);
  }
  const y = Float32Array.from(io.output.data as number[]);
  const got = await ortLogits(t.bytes, { ...set, images: set.images.subarray(0, n * pixels), count: n }, n);
  let maxDiff = 0;
  for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.logits[i]! - y[i]!));
  if (maxDiff > 1e-3) throw new Error(`${t.file}: onnxruntime vs PyTorch logits differ by ${maxDiff}`);
  return `the first ${n} preprocessed images equal \`${ioName}\` bit for bit and onnxruntime reproduces its PyTorch logits within ${maxDiff.toExponential(1)}`;
}

// --- configurations ------------------------------------------------------------------------------

interface Config {
  label: string;
  options: Pick<MergePruneOptions, "ratio" | "layers" | "exclude">;
}

function configsFor(model: Model): { kind: "vgg" | "resnet"; configs: Config[] } {
  const convs = model.graph.order.filter((n) => n.opType === "Conv").map((n) => n.name);
  const residual = model.graph.nodes.some((n) => n.opType === "Add");
  if (residual) {
    // Residual-coupled groups are not inner (§2.6): the library prunes only each block's first conv.
    return {
      kind: "resnet",
      configs: RATIOS.map((r) => ({ label: `r = ${r}`, options: { ratio: r } })),
    };
  }
  // VGG: uniform ratios prune the conv layers only; the classifier Linear layers keep their width and
  // the first one absorbs the last conv's Z (as in the recipe).
  const fcProducers = model.groups
    .flatMap((g) => g.producers)
    .filter((p) => p.opType !== "Conv")
    .map((p) => p.node);
  const configs: Config[] = [];
  if (convs.length === 13) {
    const layers: Record<string, number> = { [convs[0]!]: 32 };
    for (let i = 7; i < 13; i++) layers[convs[i]!] = 256;
    configs.push({
      label: "recipe (conv1 64→32, conv8–13 512→256)",
      options: { ratio: 0, layers, exclude: fcProducers },
    });
  }
  for (const r of RATIOS) configs.push({ label: `r = ${r}`, options: { ratio: r, exclude: fcProducers } });
  return { kind: "vgg", configs };
}

type Variant = "pruned" | "exact" | "reference";
const VARIANTS: Variant[] = ["pruned", "exact", "reference"];

function optionsFor(c: Config, v: Variant): PruneOptions {
  return {
    method: "merge",
    ...c.options,
    criterion: CRITERION,
    threshold: THRESHOLD,
    lambda: LAMBDA,
    bnFormula: v === "reference" ? "reference" : "exact",
    merge: v !== "pruned",
  };
}

// --- evaluation ----------------------------------------------------------------------------------

interface Evaluated {
  correct: number;
  ware: number;
  skipped: number;
  result: PruneResult;
  seconds: number;
}

async function evaluate(original: Uint8Array, base: Float32Array, set: ImageSet, c: Config, v: Variant) {
  const result = await prune(await loadModel(original), optionsFor(c, v));
  const t0 = performance.now();
  const out = await ortLogits(result.bytes, set, batch);
  const seconds = (performance.now() - t0) / 1000;
  const w = ware(base, out.logits, set.count, out.classes, { zeroPolicy: "skip" });
  return {
    correct: correctCount(out.logits, out.classes, set.labels),
    ware: w.ware,
    skipped: w.skippedTerms,
    result,
    seconds,
  } satisfies Evaluated;
}

// --- diagnostics ---------------------------------------------------------------------------------

/** A pruned conv, the BN after it and the ReLU output its consumer reads. */
interface LayerInfo {
  node: string;
  channels: number;
  /** Filters, channels x d, float64. */
  filters: Float64Array;
  d: number;
  gamma: Float64Array;
  beta: Float64Array;
  /** Running mean with the conv bias folded in (μ − b, §0). */
  mean: Float64Array;
  var: Float64Array;
  eps: number;
  /** The ReLU output tensor after the BN. */
  activation: string;
  /** ‖filter‖₂ per channel. */
  norms: Float64Array;
  /** Filters scaled to unit norm. */
  unit: Float64Array;
  /** Cosines computed so far, by a·channels + b. */
  cos: Map<number, number>;
}

function vector(graph: Graph, name: string): Float64Array {
  return Float64Array.from(readFloat32(graph.constants.get(name)!));
}

function layerInfo(graph: Graph, conv: GraphNode): LayerInfo {
  const w = graph.constants.get(conv.inputs[1]!)!;
  const channels = w.dims[0]!;
  const filters = Float64Array.from(readFloat32(w));
  const bn = graph.tensors.get(conv.outputs[0]!)!.consumers[0]!;
  if (bn.opType !== "BatchNormalization") throw new Error(`${conv.name}: no BN after it`);
  const relu = graph.tensors.get(bn.outputs[0]!)!.consumers[0]!;
  if (relu.opType !== "Relu") throw new Error(`${conv.name}: no ReLU after its BN`);
  const mean = vector(graph, bn.inputs[3]!);
  if (conv.inputs[2] !== undefined && conv.inputs[2] !== "") {
    const b = vector(graph, conv.inputs[2]);
    for (let i = 0; i < channels; i++) mean[i]! -= b[i]!;
  }
  const d = filters.length / channels;
  const norms = new Float64Array(channels);
  const unit = new Float64Array(filters.length);
  for (let i = 0; i < channels; i++) {
    let ss = 0;
    for (let q = 0; q < d; q++) ss += filters[i * d + q]! ** 2;
    norms[i] = Math.sqrt(ss);
    for (let q = 0; q < d; q++) unit[i * d + q] = norms[i]! > 0 ? filters[i * d + q]! / norms[i]! : 0;
  }
  return {
    node: conv.name,
    channels,
    filters,
    d,
    norms,
    unit,
    cos: new Map(),
    gamma: vector(graph, bn.inputs[1]!),
    beta: vector(graph, bn.inputs[2]!),
    mean,
    var: vector(graph, bn.inputs[4]!),
    eps: attrFloat(bn, "epsilon", 1e-5),
    activation: relu.outputs[0]!,
  };
}

/** Σ over images and positions of a_i·a_j for the channel pairs some merge needs. */
class PairSums {
  readonly diag: Float64Array;
  readonly pairs = new Map<number, number>();
  constructor(readonly channels: number) {
    this.diag = new Float64Array(channels);
  }
  want(i: number, j: number) {
    if (i !== j) this.pairs.set(Math.min(i, j) * this.channels + Math.max(i, j), 0);
  }
  get(i: number, j: number): number {
    return i === j ? this.diag[i]! : this.pairs.get(Math.min(i, j) * this.channels + Math.max(i, j))!;
  }
}

/**
 * Fill every layer's PairSums from its ReLU output in the ORIGINAL network over the first `count`
 * images (intermediate tensors added as graph outputs): enough to score any merge p → k with any scale.
 */
async function accumulateSums(
  model: Model,
  layers: LayerInfo[],
  sums: PairSums[],
  set: ImageSet,
  count: number,
) {
  const proto = model.proto;
  const extra = layers.map((l) => ({ name: l.activation, type: { tensorType: { elemType: 1 } } }));
  const probe = encodeModel({
    ...proto,
    graph: { ...proto.graph!, output: [...proto.graph!.output, ...extra] },
  });
  const sub = { ...set, images: set.images.subarray(0, count * set.height * set.width), count };
  const pairLists = sums.map((s) => [...s.pairs.keys()]);
  await ortOutputs(
    probe,
    sub,
    layers.map((l) => l.activation),
    50,
    (outputs) => {
      for (let li = 0; li < layers.length; li++) {
        const data = outputs[li]!.data;
        const [n, c, h, w] = outputs[li]!.dims as [number, number, number, number];
        const hw = h * w;
        const ps = sums[li]!;
        const keys = pairLists[li]!;
        for (let m = 0; m < n; m++) {
          const base = m * c * hw;
          for (let i = 0; i < c; i++) {
            let s = 0;
            for (let q = base + i * hw, e = q + hw; q < e; q++) s += data[q]! * data[q]!;
            ps.diag[i]! += s;
          }
          for (const key of keys) {
            const i = Math.floor(key / c);
            const j = key - i * c;
            let s = 0;
            const ai = base + i * hw;
            const aj = base + j * hw;
            for (let q = 0; q < hw; q++) s += data[ai + q]! * data[aj + q]!;
            ps.pairs.set(key, ps.pairs.get(key)! + s);
          }
        }
      }
    },
  );
}

/** §2.5 S and B of pruned p against kept k, both formulas, in float64. */
function bnScale(l: LayerInfo, p: number, k: number) {
  const s = l.norms[p]! / l.norms[k]!;
  const sd = (i: number) => Math.sqrt(l.var[i]! + l.eps);
  const [gp, gk, bp, bk, mp, mk] = [l.gamma[p]!, l.gamma[k]!, l.beta[p]!, l.beta[k]!, l.mean[p]!, l.mean[k]!];
  const S = s * (gp / gk) * (sd(k) / sd(p));
  const B = bp + (gp / sd(p)) * (s * (mk - (sd(k) * bk) / gk) - mp);
  const [vp, vk] = [l.var[p]!, l.var[k]!];
  const sRef = s * (gk / gp) * (vp / vk);
  const bRef = (gk / vk) * (s * (mp - (vp * bp) / gp) - mk) + bk;
  return { s, S, B, sRef, bRef };
}

function cosine(l: LayerInfo, a: number, b: number): number {
  const key = Math.min(a, b) * l.channels + Math.max(a, b);
  let c = l.cos.get(key);
  if (c === undefined) {
    c = 0;
    for (let q = 0; q < l.d; q++) c += l.unit[a * l.d + q]! * l.unit[b * l.d + q]!;
    l.cos.set(key, c);
  }
  return c;
}

/**
 * §2.5 partner selection written out again in float64 from the ONNX tensors (not the library's
 * kernels): the partner and scale of every removed filter, or undefined when it is dropped.
 */
function f64Partners(l: LayerInfo, keep: number[], removed: number[], formula: "exact" | "reference") {
  const out = new Map<number, { into: number; scale: number }>();
  for (const p of removed) {
    if (!(l.gamma[p]! !== 0)) continue;
    const cands: { k: number; cos: number; S: number; bias: number }[] = [];
    for (const k of keep) {
      if (l.gamma[k] === 0) continue;
      if (formula === "reference" && (l.var[k] === 0 || l.var[p] === 0)) continue;
      const { S, B, sRef, bRef } = bnScale(l, p, k);
      const scale = formula === "exact" ? S : sRef;
      if (!Number.isFinite(scale) || (formula === "exact" && !(S > 0))) continue;
      cands.push({
        k,
        cos: cosine(l, p, k),
        S: scale,
        bias: Math.abs(formula === "exact" ? B : bRef) / scale,
      });
    }
    if (cands.length === 0) continue;
    const lo = Math.min(...cands.map((c) => c.bias));
    const hi = Math.max(...cands.map((c) => c.bias));
    let best = cands[0]!;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const c of cands) {
      const bhat = hi > lo ? (c.bias - lo) / (hi - lo) : 0;
      const score = LAMBDA * (1 - c.cos) + (1 - LAMBDA) * bhat;
      if (score < bestScore) [best, bestScore] = [c, score];
    }
    if (best.cos >= THRESHOLD && best.S > 0) out.set(p, { into: best.k, scale: best.S });
  }
  return out;
}

interface LayerDiag {
  node: string;
  /** The plan's merges of this layer. */
  merges: { from: number; into: number; scale: number }[];
  removed: number;
  merged: number;
  /** Merges whose folded copy S·a_k is closer to a_p than 0 (Σ over the diagnostic images). */
  helps: number;
  /** Σ_p ‖a_p − S·a_k‖² / Σ_p ‖a_p‖² over ALL removed channels (dropped ones count as 1). */
  errorRatio: number;
  /** The same if every merge used the least-squares scale for its partner (a diagnostic, not a method). */
  errorRatioBestScale: number;
  /** Removed channels whose best-cosine kept filter has γ of the other sign (S ≤ 0, skipped in exact). */
  bestIsNegative: number;
  /** (removed, kept) pairs with S ≤ 0 over all pairs. */
  negativePairs: number;
  pairs: number;
  /** Median over merges of |B| / |γ_p| (B in units of the pruned channel's BN-output std). */
  medianB: number;
  /** Median over merges of the chosen cosine. */
  medianCos: number;
  /** Median over removed channels of the best cosine to any kept filter. */
  medianBestCos: number;
  /** Removed filters where the library's partner or scale (rel. 1e-4) differs from {@link f64Partners}. */
  disagreements: number;
  /** Median over merges of S / S_ls, S_ls = Σa_p·a_k / Σa_k² the least-squares scale for that partner. */
  medianScaleOverLs: number;
  /** Helpful / all merges per chosen-cosine bin (COS_BINS). */
  bins: { helps: number; count: number }[];
}

const COS_BINS = [0.1, 0.3, 0.5, 0.7, 1.0001];

async function mergePlan(model: Model, c: Config, v: Variant): Promise<PrunePlan> {
  return planMerge(
    model.graph,
    model.groups,
    {
      ...c.options,
      criterion: CRITERION,
      threshold: THRESHOLD,
      lambda: LAMBDA,
      bnFormula: v === "reference" ? "reference" : "exact",
      mode: "merge",
    },
    { wasm: await getWasm() },
  );
}

function diagnose(
  model: Model,
  plan: PrunePlan,
  v: Variant,
  infos: Map<string, LayerInfo>,
  sums: Map<string, PairSums>,
): LayerDiag[] {
  const out: LayerDiag[] = [];
  for (const gp of plan.groups) {
    const node = model.groups[gp.groupId]!.producers[0]!.node;
    const l = infos.get(node)!;
    const g = sums.get(node)!;
    const n = l.channels;
    const keep = new Set(gp.keep);
    const removed = [...Array(n).keys()].filter((i) => !keep.has(i));
    const merges = new Map((gp.merges ?? []).map((m) => [m.from, m]));
    const mine = f64Partners(l, gp.keep, removed, v === "reference" ? "reference" : "exact");
    let disagreements = 0;
    for (const p of removed) {
      const a = merges.get(p);
      const b = mine.get(p);
      if ((a === undefined) !== (b === undefined)) disagreements++;
      else if (
        a !== undefined &&
        b !== undefined &&
        (a.into !== b.into || Math.abs(a.scale / b.scale - 1) > 1e-4)
      )
        disagreements++;
    }
    const bins = COS_BINS.slice(0, -1).map(() => ({ helps: 0, count: 0 }));
    let helps = 0;
    let eMerge = 0;
    let eBest = 0;
    let ePrune = 0;
    let bestIsNegative = 0;
    let negativePairs = 0;
    const bs: number[] = [];
    const cosChosen: number[] = [];
    const overLs: number[] = [];
    const cosBest: number[] = [];
    for (const p of removed) {
      const pp = g.get(p, p);
      ePrune += pp;
      let best = -2;
      let bestK = -1;
      for (const k of gp.keep) {
        const cs = cosine(l, p, k);
        if (cs > best) [best, bestK] = [cs, k];
        if (l.gamma[p]! * l.gamma[k]! <= 0) negativePairs++;
      }
      cosBest.push(best);
      if (l.gamma[p]! * l.gamma[bestK]! <= 0) bestIsNegative++;
      const m = merges.get(p);
      if (m === undefined) {
        eMerge += pp;
        eBest += pp;
        continue;
      }
      const k = m.into;
      const pk = g.get(p, k);
      const kk = g.get(k, k);
      const e = pp - 2 * m.scale * pk + m.scale * m.scale * kk;
      if (e < pp) helps++;
      const cs = cosine(l, p, k);
      const bin =
        bins[
          Math.max(
            0,
            COS_BINS.findIndex((b, i) => cs >= b && cs < COS_BINS[i + 1]!),
          )
        ]!;
      bin.count++;
      if (e < pp) bin.helps++;
      eMerge += e;
      if (pk > 0 && kk > 0) overLs.push(m.scale / (pk / kk));
      eBest += kk > 0 ? pp - (Math.max(0, pk) * Math.max(0, pk)) / kk : pp;
      bs.push(Math.abs(bnScale(l, p, k).B) / Math.abs(l.gamma[p]!));
      cosChosen.push(cosine(l, p, k));
    }
    out.push({
      node,
      merges: gp.merges ?? [],
      removed: removed.length,
      merged: merges.size,
      helps,
      errorRatio: ePrune > 0 ? eMerge / ePrune : 1,
      errorRatioBestScale: ePrune > 0 ? eBest / ePrune : 1,
      bestIsNegative,
      negativePairs,
      pairs: removed.length * gp.keep.length,
      medianB: median(bs),
      medianCos: median(cosChosen),
      medianBestCos: median(cosBest),
      disagreements,
      medianScaleOverLs: median(overLs),
      bins,
    });
  }
  return out;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Scale of the reference formula against the exact one on the same merges: median S_ref / S. */
function referenceScaleRatio(l: LayerInfo, merges: { from: number; into: number }[]) {
  const r = merges.map((m) => {
    const s = bnScale(l, m.from, m.into);
    return s.sRef / s.S;
  });
  return { median: median(r), over10: r.filter((x) => x > 10 || x < 0.1).length, count: r.length };
}

// --- run -----------------------------------------------------------------------------------------

const date = new Date().toISOString().slice(0, 10);
/** conv number (1-based, graph order) of every Conv node of the model being reported. */
const convNumber = new Map<string, number>();
const TITLE = "## Neuron Merging on trained conv + BN networks / Fashion-MNIST 32x32 (no fine-tuning)";
const command = `node --import tsx bench/experiments/merge-convnets.ts${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;

for (const t of await targets()) {
  const md: string[] = [`<!-- begin ${t.file} -->`];
  const set = await loadFashionMnist(
    { dir: dataDir, split: "test", pad: t.pad, limit: limitFor(t.file) },
    readBytes,
  );
  const ioCheck = await checkIo(t, set);
  const model = await loadModel(t.bytes);
  const { kind, configs } = configsFor(model);
  convNumber.clear();
  for (const n of model.graph.order.filter((x) => x.opType === "Conv"))
    convNumber.set(n.name, convNumber.size + 1);
  const t0 = performance.now();
  const base = await ortLogits(t.bytes, set, batch);
  const baseSeconds = (performance.now() - t0) / 1000;
  const baseCorrect = correctCount(base.logits, base.classes, set.labels);
  console.log(`${t.file}: baseline ${baseCorrect}/${set.count} in ${fmt(baseSeconds, 1)} s`);

  const rows: { config: Config; variants: Record<Variant, Evaluated> }[] = [];
  for (const config of configs) {
    const variants = {} as Record<Variant, Evaluated>;
    for (const v of VARIANTS) {
      variants[v] = await evaluate(t.bytes, base.logits, set, config, v);
      const e = variants[v];
      console.log(
        `  ${config.label} ${v}: ${e.correct}/${set.count} WARE ${fmt(e.ware, 4)} merged ${e.result.report.layers.reduce((s, l) => s + l.merged, 0)} (${fmt(e.seconds, 1)} s)`,
      );
    }
    const keptOf = (v: Variant) => JSON.stringify(variants[v].result.report.layers.map((l) => l.kept));
    if (keptOf("pruned") !== keptOf("exact") || keptOf("pruned") !== keptOf("reference"))
      throw new Error(`${config.label}: the three variants kept different channels`);
    rows.push({ config, variants });
  }

  // Diagnostics on the original network's activations.
  const convByName = new Map(model.graph.nodes.map((n) => [n.name, n]));
  const prunedNodes = [
    ...new Set(rows.flatMap((r) => r.variants.exact.result.report.layers.map((l) => l.node))),
  ];
  const infos = new Map(prunedNodes.map((name) => [name, layerInfo(model.graph, convByName.get(name)!)]));
  const nDiag = Math.min(diagImages, set.count);
  const plans: { config: Config; v: Variant; plan: PrunePlan }[] = [];
  for (const r of rows)
    for (const v of ["exact", "reference"] as const)
      plans.push({ config: r.config, v, plan: await mergePlan(model, r.config, v) });
  const sums = new Map([...infos].map(([k, l]) => [k, new PairSums(l.channels)]));
  for (const { plan } of plans)
    for (const gp of plan.groups) {
      const ps = sums.get(model.groups[gp.groupId]!.producers[0]!.node)!;
      for (const m of gp.merges ?? []) ps.want(m.from, m.into);
    }
  await accumulateSums(model, [...infos.values()], [...sums.values()], set, nDiag);
  const diags = plans.map(({ config, v, plan }) => ({
    config,
    v,
    layers: diagnose(model, plan, v, infos, sums),
  }));

  // VGG: the recipe one layer at a time, on the diagnostic images (which cut costs what, and whether
  // merging rescues it).
  const ablation: {
    node: string;
    kept: number;
    acc: Record<Variant, number>;
    ware: Record<Variant, number>;
    merged: number;
  }[] = [];
  const recipe = configs.find((c) => c.label.startsWith("recipe"));
  const sub = { ...set, images: set.images.subarray(0, nDiag * set.height * set.width), count: nDiag };
  sub.labels = set.labels.subarray(0, nDiag);
  const subBase = base.logits.subarray(0, nDiag * base.classes);
  for (const [node, kept] of Object.entries(recipe?.options.layers ?? {})) {
    const one: Config = { label: node, options: { ...recipe!.options, layers: { [node]: kept } } };
    const acc = {} as Record<Variant, number>;
    const wares = {} as Record<Variant, number>;
    let merged = 0;
    for (const v of VARIANTS) {
      const e = await evaluate(t.bytes, subBase, sub, one, v);
      acc[v] = e.correct;
      wares[v] = e.ware;
      if (v === "exact") merged = e.result.report.layers[0]!.merged;
    }
    ablation.push({ node, kept, acc, ware: wares, merged });
    console.log(`  alone ${node}: ${VARIANTS.map((v) => acc[v]).join(" / ")} of ${nDiag}`);
  }
  const subCorrect = correctCount(subBase, base.classes, sub.labels);

  // --- Markdown ------------------------------------------------------------------------------------
  const sha = createHash("sha256").update(t.bytes).digest("hex").slice(0, 12);
  const trained = t.entry?.trained;
  const pct = (c: number) => (100 * c) / set.count;
  md.push(`### \`${t.file}\` (${kind === "vgg" ? "VGG-16-BN" : "ResNet"})`, "");
  md.push(
    `How measured (${date}): \`tests/fixtures/${t.file}\` (sha256 ${sha}…); ` +
      `${set.count === 10000 ? "all 10 000" : `the first ${set.count}`} Fashion-MNIST test images (\`${dataDir}/t10k-*\`) ` +
      `read by \`loadFashionMnist({ pad: ${t.pad} })\`: byte/255 as float32, zero-padded to ${set.height}x${set.width}, no mean/std ` +
      `(manifest: "${trained?.preprocessing ?? "n/a"}"; ${ioCheck}); ` +
      `files written by \`prune(await loadModel(bytes), { method: "merge", ratio | layers, criterion: "${CRITERION}", threshold: ${THRESHOLD}, lambda: ${LAMBDA}, bnFormula, merge })\` ` +
      `and run by onnxruntime-node ${ort.env.versions.node} (CPU, 1 thread, batch ${batch}) under Node ${process.version} on ${os.cpus().length} shared cores; ` +
      `\`${command}\`.`,
    "",
  );
  const pyNote =
    trained === undefined
      ? ""
      : set.count === trained.testTotal
        ? ` (manifest, PyTorch: ${trained.testCorrect}/${trained.testTotal})`
        : ` (manifest, PyTorch: ${trained.testCorrect}/${trained.testTotal} on all test images)`;
  const totalSkipped = rows.reduce((s, r) => s + VARIANTS.reduce((a, v) => a + r.variants[v].skipped, 0), 0);
  md.push(
    `Baseline: **${fmt(pct(baseCorrect))} %** (${baseCorrect}/${set.count})${pyNote}. ` +
      `WARE (§2.8) over ${set.count} × 10 logits against the original model, w_i = 1, zero policy **skip** ` +
      `(terms with y = 0 left out, normaliser M·N kept; ${totalSkipped} terms skipped in this table). ` +
      "Params = all learnable parameters (conv/linear weights and biases, BN γ and β); MACs = conv + linear, batch 1 (the report's convention).",
    "",
  );
  md.push(
    "| config | kept widths | params before → after | MACs before → after | variant | acc % | Δ acc | WARE | merged / removed |",
  );
  md.push("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const rep = r.variants.exact.result.report;
    const widths = summariseWidths(rep.layers.map((l) => `${l.channelsBefore}→${l.channelsAfter}`));
    const params = `${fmtCount(rep.before.params)} → ${fmtCount(rep.after.params)} (−${fmt(100 * (1 - rep.after.params / rep.before.params), 1)} %)`;
    const macs = `${fmtCount(rep.before.macs)} → ${fmtCount(rep.after.macs)} (−${fmt(100 * (1 - rep.after.macs / rep.before.macs), 1)} %)`;
    const best = Math.min(...VARIANTS.map((v) => r.variants[v].ware));
    for (const v of VARIANTS) {
      const e = r.variants[v];
      const removed = e.result.report.layers.reduce((s, l) => s + l.channelsBefore - l.channelsAfter, 0);
      const merged = e.result.report.layers.reduce((s, l) => s + l.merged, 0);
      const first = v === "pruned";
      const mark = v !== "pruned" && e.correct < r.variants.pruned.correct ? " ⚠" : "";
      const wmark = e.ware === best ? "**" : "";
      md.push(
        `| ${first ? r.config.label : ""} | ${first ? widths : ""} | ${first ? params : ""} | ${first ? macs : ""} | ${v === "pruned" ? "pruned" : `merged (${v})`} | ${fmt(pct(e.correct))}${mark} | ${fmt(pct(e.correct) - pct(baseCorrect))} | ${wmark}${fmt(e.ware, 4)}${wmark} | ${merged} / ${removed} |`,
      );
    }
  }
  md.push(
    "",
    "⚠: merged accuracy below plain pruning of the same kept set. Bold: lowest WARE of the three.",
    "",
  );

  md.push(`#### Diagnostics (\`${t.file}\`)`, "");
  if (ablation.length > 0) {
    md.push(
      `The recipe one layer at a time (the other layers untouched), first ${nDiag} test images, baseline ${subCorrect}/${nDiag}:`,
      "",
    );
    md.push(
      "| layer | width | correct: pruned | merged (exact) | merged (reference) | WARE: pruned | merged (exact) | merged (reference) | merged / removed (exact) |",
    );
    md.push("|---|---|---|---|---|---|---|---|---|");
    for (const a of ablation) {
      const before = infos.get(a.node)!.channels;
      md.push(
        `| ${shortName(a.node)} | ${before}→${a.kept} | ${a.acc.pruned} | ${a.acc.exact} | ${a.acc.reference} | ${fmt(a.ware.pruned, 4)} | ${fmt(a.ware.exact, 4)} | ${fmt(a.ware.reference, 4)} | ${a.merged} / ${before - a.kept} |`,
      );
    }
    md.push("");
  }
  md.push(
    `Measured on the ORIGINAL network's ReLU outputs after each pruned conv's BN, over the first ${nDiag} test images ` +
      "(all positions): a merge p → k with scale S helps iff Σ(a_p − S·a_k)² < Σ a_p² (dropping a_p). " +
      "err = Σ_p ‖a_p − â_p‖² / Σ_p ‖a_p‖² over all removed channels of the layer (1 = plain pruning, < 1 = merging reconstructs the consumer's input better); " +
      "err* = the same with each merge's least-squares scale for the partner the library chose (not a method: shows whether the partner or the scale is at fault). " +
      "S ≤ 0: removed channels whose highest-cosine kept filter has a γ of the other sign (exact mode must skip that candidate), and the share of such (removed, kept) pairs. " +
      "|B|/|γ_p|: median over merges of the exact-formula offset in units of the pruned channel's BN-output std. cos: median chosen cosine / median best cosine over removed channels.",
    "",
  );
  const binHeads = COS_BINS.slice(0, -1).map((lo, i) => `cos ${lo}–${Math.min(1, COS_BINS[i + 1]!)}`);
  md.push(
    `| config | formula | merged / removed | helpful merges | ${binHeads.join(" | ")} | err (mean over layers) | err* | S ≤ 0 best / pairs | median \\|B\\|/\\|γ_p\\| | median cos chosen / best | f64 re-check disagreements |`,
  );
  md.push(`|---|---|---|---|${binHeads.map(() => "---").join("|")}|---|---|---|---|---|---|`);
  for (const d of diags) {
    const sum = (f: (x: LayerDiag) => number) => d.layers.reduce((s, x) => s + f(x), 0);
    const bins = binHeads.map((_, b) => `${sum((x) => x.bins[b]!.helps)}/${sum((x) => x.bins[b]!.count)}`);
    const negPairs =
      (100 * sum((x) => x.negativePairs)) /
      Math.max(
        1,
        sum((x) => x.pairs),
      );
    const medB = median(d.layers.map((x) => x.medianB).filter(Number.isFinite));
    const medCos = median(d.layers.map((x) => x.medianCos).filter(Number.isFinite));
    const cells = [
      d.config.label,
      d.v,
      `${sum((x) => x.merged)} / ${sum((x) => x.removed)}`,
      `${sum((x) => x.helps)} / ${sum((x) => x.merged)}`,
      ...bins,
      fmt(meanErr(d.layers, "errorRatio"), 3),
      fmt(meanErr(d.layers, "errorRatioBestScale"), 3),
      `${sum((x) => x.bestIsNegative)} / ${fmt(negPairs, 1)} %`,
      sig(medB),
      `${fmt(medCos, 3)} / ${fmt(median(d.layers.map((x) => x.medianBestCos)), 3)}`,
      String(sum((x) => x.disagreements)),
    ];
    md.push(`| ${cells.join(" | ")} |`);
  }
  md.push("");
  // Per layer, for the recipe (VGG) and r = 0.5.
  for (const label of ["recipe", "0.5"]) {
    const ex = diags.find((d) => d.v === "exact" && d.config.label.includes(label));
    if (ex === undefined) continue;
    const ref = diags.find((d) => d.v === "reference" && d.config === ex.config)!;
    md.push(`Per layer, ${ex.config.label}:`, "");
    md.push(
      "| layer | removed | merged exact / ref | helpful exact / ref | err exact | err reference | err* exact | median \\|B\\|/\\|γ_p\\| | median S / S_ls exact | median S_ref / S | median cos chosen / best |",
    );
    md.push("|---|---|---|---|---|---|---|---|---|---|---|");
    for (let i = 0; i < ex.layers.length; i++) {
      const x = ex.layers[i]!;
      const y = ref.layers[i]!;
      const ratio = referenceScaleRatio(infos.get(x.node)!, x.merges);
      const cells = [
        shortName(x.node),
        x.removed,
        `${x.merged} / ${y.merged}`,
        `${x.helps} / ${y.helps}`,
        fmt(x.errorRatio, 3),
        fmt(y.errorRatio, 3),
        fmt(x.errorRatioBestScale, 3),
        sig(x.medianB),
        sig(x.medianScaleOverLs),
        sig(ratio.median),
        `${fmt(x.medianCos, 3)} / ${fmt(x.medianBestCos, 3)}`,
      ];
      md.push(`| ${cells.join(" | ")} |`);
    }
    md.push("");
  }
  md.push(`<!-- end ${t.file} -->`);
  await writeSection(t.file, md.join("\n"));
}

/**
 * Replace this model's section of the output file (between its begin/end comments), or append it;
 * everything else in the file (other models, hand-written analysis) is kept.
 */
async function writeSection(file: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(outFile, "utf8");
  } catch {
    text = `${TITLE}\n\n`;
  }
  const begin = text.indexOf(`<!-- begin ${file} -->`);
  const endMark = `<!-- end ${file} -->`;
  const end = text.indexOf(endMark);
  text =
    begin >= 0 && end > begin
      ? text.slice(0, begin) + section + text.slice(end + endMark.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(outFile, text);
}

/** Mean over layers of a per-layer error ratio (layers differ in activation scale: equal weights). */
function meanErr(layers: LayerDiag[], key: "errorRatio" | "errorRatioBestScale") {
  return layers.reduce((s, x) => s + x[key], 0) / Math.max(1, layers.length);
}

function shortName(node: string): string {
  const i = convNumber.get(node);
  return `${i === undefined ? "" : `conv${i} `}\`${node}\``;
}

function fmtCount(n: number): string {
  return n >= 1e6 ? `${fmt(n / 1e6, 2)} M` : n >= 1e3 ? `${fmt(n / 1e3, 1)} k` : String(n);
}

/** "64→32, 512→256 ×6" style: runs of equal entries collapsed. */
function summariseWidths(ws: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < ws.length; ) {
    let j = i;
    while (j < ws.length && ws[j] === ws[i]) j++;
    out.push(j - i > 1 ? `${ws[i]} ×${j - i}` : ws[i]!);
    i = j;
  }
  return out.join(", ");
}

console.log(`wrote ${outFile}`);
