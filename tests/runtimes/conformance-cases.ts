// Fixed-seed kernel calls whose output bytes must be identical in every runtime.
//
// This module runs unchanged in Node, Deno and browsers: it uses only web-standard APIs
// (crypto.subtle, typed arrays) and the library. It loads the wasm through the default URL
// (no bytes passed), so each runtime also proves it can find build/prunekit.wasm on its own:
// a file: URL read with node:fs/promises in Node and Deno, an http: URL fetched in a browser.
//
// To cover a new kernel, add a case to CASES below and list the src/wasm/kernels/*.ts functions it
// calls in `covers`; tests/runtimes/conformance.test.ts fails while an export of src/wasm/kernels/
// is neither covered nor listed in NOT_KERNELS.

import { createWasm, getWasm, type Wasm } from "../../src/wasm/instance.ts";
import {
  type Activation,
  actApply,
  actBackward,
  actBiasCols,
  actBiasRows,
} from "../../src/wasm/kernels/act.ts";
import { affinityPropagation } from "../../src/wasm/kernels/affinity.ts";
import {
  type ConvWindow,
  conv2d,
  conv2dOutputShape,
  convCol2im,
  convDepthwise,
  convDepthwiseGradInput,
  convDepthwiseGradWeight,
  convIm2col,
  convIm2colLen,
  convOutputLen,
  convTapPixels,
  convTapSplit,
  convTapSplitPackWeights,
  convTapSplitScratchLen,
  convTapsInside,
  convWinograd4Filter,
  convWinograd4InputPacked,
  convWinograd4Output,
  convWinogradFilter,
  convWinogradInput,
  convWinogradInputPacked,
  convWinogradOutput,
  winograd4PadLen,
  winograd4TileCount,
  winogradPackedPadLen,
  winogradPadLen,
  winogradTileCount,
} from "../../src/wasm/kernels/conv.ts";
import {
  cosineSimilarity,
  cosineSimilarityCross,
  cosineSimilarityCrossUnit,
  gramMatrix,
  pairwiseSqEuclidean,
  pairwiseSqEuclideanGram,
  unitRows,
} from "../../src/wasm/kernels/distance.ts";
import { accumulate, type EltwiseOp, eltwiseBroadcast } from "../../src/wasm/kernels/eltwise.ts";
import {
  type FilterVectors,
  filterVectorNorms,
  filterVectorPartners,
  partnerBlockRows,
} from "../../src/wasm/kernels/filter-vectors.ts";
import {
  type GemmSpec,
  gemm,
  gemmPackA,
  gemmPackABuffers,
  gemmPackB,
  gemmPackedALen,
  gemmPackedBLen,
  gemmPrepacked,
  gemmPrepackedAB,
  gemmPrepackedBuffers,
  gemmScratchLen,
} from "../../src/wasm/kernels/gemm.ts";
import { softmaxCrossEntropy, softmaxCrossEntropyCorrect } from "../../src/wasm/kernels/loss.ts";
import {
  type MergeBnFormula,
  type MergeBnParams,
  type MergePartners,
  mergePartners,
  mergePartnersBn,
  mergePartnersPlain,
} from "../../src/wasm/kernels/merge.ts";
import {
  bnTrainBackward,
  bnTrainForward,
  channelAffineBackward,
  normAffineChannels,
  normFoldBnIntoConv,
} from "../../src/wasm/kernels/norm.ts";
import { addL1Grad, scaleInPlace, sgdStep } from "../../src/wasm/kernels/optim.ts";
import {
  type Pool2dSpec,
  poolAvg2d,
  poolAvg2dBackward,
  poolGlobalAvg,
  poolGlobalAvgBackward,
  poolGlobalMax,
  poolGlobalMaxBackward,
  poolMax2d,
  poolMax2dBackward,
  resolvePool2d,
} from "../../src/wasm/kernels/pool.ts";
import {
  channelSum,
  colSum,
  type RowReduction,
  rowReduce,
  rowSoftmax,
} from "../../src/wasm/kernels/reduce.ts";
import {
  rowArgmax,
  rowArgmaxMasked,
  rowArgmin,
  rowMedians,
  type TopKOrder,
  topK,
} from "../../src/wasm/kernels/select.ts";
import { relaxedSimdSupported } from "../../src/wasm/load.ts";
import * as gemmReference from "../../src/wasm/reference/gemm.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

/** Any output a kernel wrapper returns; its bytes are hashed in platform (little-endian) order. */
export type KernelOutput = Float32Array | Float64Array | Int32Array | Uint8Array;

/** One deterministic computation. */
export interface ConformanceCase {
  /** Unique, stable name, shown when runtimes disagree. */
  readonly name: string;
  /** The functions of src/wasm/kernels/ this case exercises (checked by the coverage test). */
  readonly covers: readonly string[];
  /** Run the kernels on fixed inputs and return the outputs whose bytes are compared. */
  run(w: Wasm): KernelOutput | KernelOutput[];
}

/** What one runtime computed for one case. */
export interface ConformanceResult {
  readonly name: string;
  /** Total bytes of the case's outputs. */
  readonly byteLength: number;
  /** SHA-256 of the outputs' bytes, concatenated in order, as lowercase hex. */
  readonly sha256: string;
}

/** What one runtime computed for all cases. */
export interface ConformanceReport {
  /** Sorted names of the module's own function exports (not the loader's `__` helpers). */
  readonly wasmFunctions: readonly string[];
  readonly results: readonly ConformanceResult[];
  /**
   * The opt-in relaxed-SIMD build in this runtime: whether feature detection found relaxed SIMD, and
   * if so which build `createWasm({ simd: "auto" })` loaded (through the default URL) and how far
   * its GEMM is from the f64 reference (relative to the largest |C|). Not compared across runtimes:
   * relaxed results may legitimately differ.
   */
  readonly relaxed: {
    readonly supported: boolean;
    readonly simd?: string;
    readonly gemmMaxRelError?: number;
  };
}

/** Functions of src/wasm/kernels/ that are plumbing, not kernels, and need no case. */
export const NOT_KERNELS: readonly string[] = [
  "checkMergeBn",
  // Plain-TS policy around the affinity kernels (option checks, §3.7 shortcuts), no WASM call.
  "checkAffinityOptions",
  "allEqualSimilarities",
  "degenerateResult",
  "finishAffinity",
];

/** Load the relaxed build where the runtime has relaxed SIMD and check one ragged GEMM against the reference. */
async function relaxedReport(): Promise<ConformanceReport["relaxed"]> {
  const supported = relaxedSimdSupported();
  if (!supported) return { supported };
  const w = await createWasm({ simd: "auto" });
  const [m, n, k] = [37, 29, 61];
  const a = seededFloats(71, m * k);
  const b = seededFloats(72, k * n);
  const c = seededFloats(73, m * n);
  const spec = { transA: false, transB: true, m, n, k, alpha: 0.5, beta: 2, lda: k, ldb: k, ldc: n };
  const got = gemm(w, spec, a, b, c);
  const want = gemmReference.gemm(spec, a, b, c);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
  return { supported, simd: w.simd, gemmMaxRelError: worst };
}

/**
 * Values that stress rounding without producing NaN (whose bit pattern WebAssembly leaves
 * nondeterministic): signed zeros, subnormals, the largest finite f32, values whose squares
 * overflow, and magnitudes far apart so that the summation order shows in the result.
 */
function awkwardFloats(len: number): Float32Array {
  const specials = [0, -0, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38, 1e30, 1e-30, 16777217];
  const out = seededFloats(0x5eed, len);
  for (let i = 0; i < len; i++) {
    if (i % 3 === 0) out[i] = specials[(i / 3) % specials.length]!;
    else out[i] = out[i]! * 10 ** ((i % 7) - 3);
  }
  return out;
}

/** Row-major shapes that cross the 4-lane SIMD edge and one larger layer-like shape. */
const REDUCE_SHAPES: readonly (readonly [rows: number, cols: number])[] = [
  [1, 1],
  [3, 7],
  [9, 37],
  [64, 289],
];

function reduceCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const kinds: readonly RowReduction[] = ["sum", "l1", "l2"];
  for (const kind of kinds) {
    cases.push({
      name: `rowReduce ${kind} on seeded inputs`,
      covers: ["rowReduce", "reduceRows"],
      run: (w) =>
        REDUCE_SHAPES.map(([rows, cols], i) =>
          rowReduce(w, kind, seededFloats(100 + i, rows * cols), rows, cols),
        ),
    });
    cases.push({
      name: `rowReduce ${kind} on awkward values`,
      covers: ["rowReduce", "reduceRows"],
      // Rows of 10 put each special value in every lane position over the matrix.
      run: (w) => rowReduce(w, kind, awkwardFloats(13 * 10), 13, 10),
    });
  }
  return cases;
}

/** Seeded values in [-1, 1) scaled by 10^-3 .. 10^3, so that rounding depends on the summation order. */
function scaledFloats(seed: number, len: number): Float32Array {
  const out = seededFloats(seed, len);
  for (let i = 0; i < len; i++) out[i] = out[i]! * 10 ** ((i % 7) - 3);
  return out;
}

/** Elements of a stored rows x cols matrix with row stride ld. */
function storedLen(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/**
 * GEMM shapes crossing the register tile (5 x 8), the k block (256) and the n block (2048), plus an
 * im2col-shaped ResNet-18 layer (3x3 conv, 64 -> 64 channels, on a 14 x 14 map).
 */
const GEMM_SHAPES: readonly (readonly [m: number, n: number, k: number])[] = [
  [1, 1, 1],
  [7, 9, 13],
  [11, 17, 300],
  [6, 2100, 5],
  [64, 196, 576],
];

function gemmCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const covers = ["gemm", "gemmBuffers", "gemmScratchLen"];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const op = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
      cases.push({
        name: `gemm ${op} on seeded inputs`,
        covers,
        run: (w) =>
          GEMM_SHAPES.map(([m, n, k], i) => {
            const spec: GemmSpec = { transA, transB, m, n, k };
            const a = scaledFloats(200 + i, m * k);
            const b = scaledFloats(300 + i, k * n);
            return gemm(w, spec, a, b);
          }),
      });
    }
  }
  cases.push({
    name: "gemm with alpha, beta and padded leading dimensions",
    covers,
    run: (w) => {
      const [m, n, k, lda, ldb, ldc] = [13, 19, 37, 41, 40, 24];
      const spec: GemmSpec = { transB: true, m, n, k, alpha: 0.75, beta: -1.25, lda, ldb, ldc };
      const a = scaledFloats(400, storedLen(m, k, lda));
      const b = scaledFloats(401, storedLen(n, k, ldb));
      const c = scaledFloats(402, storedLen(m, n, ldc));
      return gemm(w, spec, a, b, c);
    },
  });
  cases.push({
    name: "gemm with a prepacked A, through arrays and arena buffers",
    covers: ["gemmPackA", "gemmPackABuffers", "gemmPackedALen", "gemmPrepacked", "gemmPrepackedBuffers"],
    run: (w) => {
      const [m, n, k] = [13, 29, 517];
      const a = scaledFloats(410, m * k);
      const b = scaledFloats(411, k * n);
      const c = scaledFloats(412, m * n);
      const spec = { m, n, k, alpha: 0.5, beta: 2 };
      const packed = gemmPackA(w, { m, k }, a);
      const viaArrays = gemmPrepacked(w, spec, packed, b, c);
      const mark = w.arena.mark();
      const ab = w.arena.copyInF32(a);
      const pb = w.arena.allocF32(gemmPackedALen(m, k));
      const bb = w.arena.copyInF32(b);
      const cb = w.arena.copyInF32(c);
      const sb = w.arena.allocF32(gemmScratchLen(m, n, k));
      gemmPackABuffers(w, { m, k }, ab, pb);
      gemmPrepackedBuffers(w, spec, pb, bb, cb, sb);
      const viaBuffers = w.arena.viewF32(cb).slice();
      w.arena.release(mark);
      return [packed, viaArrays, viaBuffers];
    },
  });
  cases.push({
    name: "gemm with a prepacked A and a prepacked B (two K slices, a ragged last panel)",
    covers: ["gemmPackB", "gemmPackedBLen", "gemmPrepackedAB"],
    run: (w) => {
      const [m, n, k] = [13, 29, 517];
      const packedA = gemmPackA(w, { m, k }, scaledFloats(413, m * k));
      const packedB = gemmPackB(w, { k, n }, scaledFloats(414, k * n));
      if (packedB.length !== gemmPackedBLen(k, n)) throw new Error("gemmPackedBLen: unexpected length");
      const spec = { m, n, k, alpha: 0.5, beta: 2 };
      const thin = gemmPrepackedAB(
        w,
        { m, n: 11, k },
        packedA,
        gemmPackB(w, { k, n: 11 }, scaledFloats(415, k * 11)),
      );
      return [packedB, gemmPrepackedAB(w, spec, packedA, packedB, scaledFloats(412, m * n)), thin];
    },
  });
  return cases;
}

/** Row-major shapes for the distance kernels; every third matrix gets a zero row (cosine's special case). */
const DISTANCE_SHAPES: readonly (readonly [rows: number, cols: number])[] = [
  [1, 1],
  [5, 7],
  [17, 33],
  [40, 129],
];

function distanceInput(seed: number, rows: number, cols: number): Float32Array {
  const x = scaledFloats(seed, rows * cols);
  if (rows > 2) x.fill(0, cols, 2 * cols);
  return x;
}

function distanceCases(): ConformanceCase[] {
  const each = <T>(f: (x: Float32Array, rows: number, cols: number, i: number) => T): T[] =>
    DISTANCE_SHAPES.map(([rows, cols], i) => f(distanceInput(500 + i, rows, cols), rows, cols, i));
  return [
    {
      name: "gramMatrix on seeded inputs",
      covers: ["gramMatrix", "distanceGram"],
      run: (w) => each((x, rows, cols) => gramMatrix(w, x, rows, cols)),
    },
    {
      name: "pairwiseSqEuclidean on seeded inputs",
      covers: ["pairwiseSqEuclidean", "distancePairwiseSqEuclidean"],
      run: (w) => each((x, rows, cols) => pairwiseSqEuclidean(w, x, rows, cols)),
    },
    {
      name: "pairwiseSqEuclideanGram on seeded inputs",
      covers: [
        "pairwiseSqEuclideanGram",
        "distancePairwiseSqEuclideanGram",
        "distancePairwiseSqEuclideanGramScratchLen",
      ],
      // 9 x 600 crosses the kernel's 256-column slices twice.
      run: (w) => [
        ...each((x, rows, cols) => pairwiseSqEuclideanGram(w, x, rows, cols)),
        pairwiseSqEuclideanGram(w, distanceInput(599, 9, 600), 9, 600),
      ],
    },
    {
      name: "cosineSimilarity on seeded inputs with a zero row",
      covers: ["cosineSimilarity", "distanceCosine"],
      run: (w) => each((x, rows, cols) => cosineSimilarity(w, x, rows, cols)),
    },
    {
      name: "cosineSimilarityCross on seeded inputs with a zero row",
      covers: ["cosineSimilarityCross", "distanceCosineCross"],
      run: (w) =>
        each((x, rows, cols, i) => {
          const yRows = rows + 3;
          return cosineSimilarityCross(w, x, distanceInput(600 + i, yRows, cols), rows, yRows, cols);
        }),
    },
    {
      name: "unitRows and cosineSimilarityCrossUnit on seeded inputs with a zero row",
      covers: ["unitRows", "distanceNormalizeRows", "cosineSimilarityCrossUnit", "distanceCosineCrossUnit"],
      run: (w) =>
        each((x, rows, cols, i) => {
          const yRows = rows + 3;
          const u = unitRows(w, x, rows, cols);
          const v = unitRows(w, distanceInput(600 + i, yRows, cols), yRows, cols);
          return [u, cosineSimilarityCrossUnit(w, u, v, rows, yRows, cols)];
        }).flat(),
    },
  ];
}

/**
 * One layer for Neuron Merging: N filters of D weights, where every third removed filter is a scaled,
 * slightly perturbed copy of a kept one (so partners are found), plus BatchNorm entries per filter.
 */
const MERGE_N = 24;
const MERGE_D = 37;
const MERGE_REMOVED = [1, 4, 7, 10, 13, 16, 19, 22];
const MERGE_KEPT = Array.from({ length: MERGE_N }, (_, i) => i).filter((i) => !MERGE_REMOVED.includes(i));

function mergeLayer(): { vectors: Float32Array; bn: MergeBnParams } {
  const vectors = scaledFloats(700, MERGE_N * MERGE_D);
  const noise = seededFloats(701, MERGE_N * MERGE_D);
  MERGE_REMOVED.forEach((r, i) => {
    if (i % 3 !== 0) return;
    const k = MERGE_KEPT[i]!;
    for (let j = 0; j < MERGE_D; j++) {
      vectors[r * MERGE_D + j] = 1.7 * vectors[k * MERGE_D + j]! + 1e-3 * noise[r * MERGE_D + j]!;
    }
  });
  const bn: MergeBnParams = {
    gamma: seededFloats(702, MERGE_N),
    beta: seededFloats(703, MERGE_N),
    mean: seededFloats(704, MERGE_N),
    var: seededFloats(705, MERGE_N).map((v) => Math.abs(v) + 0.1),
    eps: 1e-5,
  };
  return { vectors, bn };
}

const partnerOutputs = (p: MergePartners): KernelOutput[] => [p.partner, p.scale];

function mergeCases(): ConformanceCase[] {
  const formulas: readonly MergeBnFormula[] = ["exact", "reference"];
  const withCosines = (w: Wasm) => {
    const { vectors, bn } = mergeLayer();
    const rows = (idx: number[]) =>
      Float32Array.from(idx.flatMap((i) => Array.from(vectors.subarray(i * MERGE_D, (i + 1) * MERGE_D))));
    const cos = cosineSimilarityCross(
      w,
      rows(MERGE_REMOVED),
      rows(MERGE_KEPT),
      MERGE_REMOVED.length,
      MERGE_KEPT.length,
      MERGE_D,
    );
    const norm = rowReduce(w, "l2", vectors, MERGE_N, MERGE_D);
    return { cos, norm, bn };
  };
  return [
    {
      name: "mergePartnersPlain from kernel-computed cosines and norms",
      covers: ["mergePartnersPlain", "mergeSelectPlain"],
      run: (w) => {
        const { cos, norm } = withCosines(w);
        return [0, 0.5, 0.99].flatMap((t) =>
          partnerOutputs(mergePartnersPlain(w, cos, norm, MERGE_REMOVED, MERGE_KEPT, t)),
        );
      },
    },
    ...formulas.map(
      (formula): ConformanceCase => ({
        name: `mergePartnersBn (${formula} formula) from kernel-computed cosines and norms`,
        covers: ["mergePartnersBn", "mergeSelectBn"],
        run: (w) => {
          const { cos, norm, bn } = withCosines(w);
          return [0, 0.5].flatMap((t) =>
            partnerOutputs(mergePartnersBn(w, cos, norm, MERGE_REMOVED, MERGE_KEPT, bn, t, 0.85, formula)),
          );
        },
      }),
    ),
    {
      name: "mergePartners end to end, without and with BatchNorm",
      covers: ["mergePartners", "selectMergePartners"],
      run: (w) => {
        const { vectors, bn } = mergeLayer();
        const call = (opts: Parameters<typeof mergePartners>[6]) =>
          partnerOutputs(mergePartners(w, vectors, MERGE_N, MERGE_D, MERGE_REMOVED, MERGE_KEPT, opts));
        return [
          ...call({ threshold: 0.1 }),
          ...call({ threshold: 0.1, bn }),
          ...call({ threshold: 0.1, bn, lambda: 0.5, formula: "reference" }),
        ];
      },
    },
    {
      // src/wasm/kernels/filter-vectors.ts: the same kernels on vectors copied in row by row with the bias appended.
      name: "filterVectorNorms and filterVectorPartners with an appended bias",
      covers: [
        "filterVectorNorms",
        "filterVectorPartners",
        "reduceRows",
        "distanceCosineCross",
        "mergeSelectPlain",
        "mergeSelectBn",
        // The blocked partner search's building blocks (blockRows 3: several blocks, a ragged last one).
        "KeptPart",
        "PartnerSelection",
        "copyVectorsIn",
        "partnerBlockRows",
        "slice",
        "vectorLen",
      ],
      run: (w) => {
        const { vectors, bn } = mergeLayer();
        const v: FilterVectors = {
          weights: vectors,
          rows: MERGE_N,
          cols: MERGE_D,
          appended: seededFloats(706, MERGE_N),
        };
        const call = (opts: Parameters<typeof filterVectorPartners>[4]) =>
          partnerOutputs(filterVectorPartners(w, v, MERGE_REMOVED, MERGE_KEPT, opts));
        return [
          filterVectorNorms(w, "l1", v),
          filterVectorNorms(w, "l2", v),
          ...call({ threshold: 0.1 }),
          ...call({ threshold: 0.1, bn, lambda: 0.5, formula: "reference" }),
          ...call({ threshold: 0.1, bn, lambda: 0.85, formula: "exact", blockRows: 3 }),
          Float32Array.of(partnerBlockRows(MERGE_KEPT.length, MERGE_D + 1)),
        ];
      },
    },
  ];
}

/**
 * Seeded values rounded to multiples of 1/8, so that rows hold ties; signed zeros and (when `withNaN`)
 * NaN inputs test the ranking rule. The select kernels return indices, so NaN inputs are safe here.
 */
function tiedFloats(seed: number, len: number, withNaN: boolean): Float32Array {
  const out = seededFloats(seed, len).map((v) => Math.round(v * 8) / 8);
  for (let i = 5; i < len; i += 11) out[i] = i % 2 === 0 ? 0 : -0;
  if (withNaN) for (let i = 3; i < len; i += 13) out[i] = Number.NaN;
  return out;
}

/** Select shapes: SIMD edges, a layer-sized matrix and an empty row. */
const SELECT_SHAPES: readonly (readonly [rows: number, cols: number])[] = [
  [1, 1],
  [3, 7],
  [9, 37],
  [64, 289],
  [3, 0],
];

function selectCases(): ConformanceCase[] {
  const each = <T>(
    seed: number,
    withNaN: boolean,
    f: (x: Float32Array, rows: number, cols: number) => T,
  ): T[] => SELECT_SHAPES.map(([rows, cols], i) => f(tiedFloats(seed + i, rows * cols, withNaN), rows, cols));
  const orders: readonly TopKOrder[] = ["index", "score"];
  return [
    {
      name: "rowArgmax on tied, signed-zero and NaN inputs",
      covers: ["rowArgmax", "selectRowArgmax"],
      run: (w) => each(800, true, (x, rows, cols) => rowArgmax(w, x, rows, cols)),
    },
    {
      name: "rowArgmin on tied, signed-zero and NaN inputs",
      covers: ["rowArgmin", "selectRowArgmin"],
      run: (w) => each(810, true, (x, rows, cols) => rowArgmin(w, x, rows, cols)),
    },
    {
      name: "rowArgmaxMasked with a partial and an empty mask",
      covers: ["rowArgmaxMasked", "selectRowArgmaxMasked"],
      run: (w) =>
        each(820, true, (x, rows, cols) => [
          rowArgmaxMasked(
            w,
            x,
            Int32Array.from({ length: cols }, (_, c) => (c % 3 === 0 ? 0 : 1)),
            rows,
            cols,
          ),
          rowArgmaxMasked(w, x, new Int32Array(cols), rows, cols),
        ]).flat(),
    },
    ...orders.map(
      (order): ConformanceCase => ({
        name: `topK by ${order} on tied, signed-zero and NaN scores`,
        covers: ["topK", "selectTopK"],
        run: (w) => {
          const scores = tiedFloats(830, 1000, true);
          return [0, 1, 7, 100, 999, 1000].map((k) => topK(w, scores, k, order));
        },
      }),
    ),
    {
      name: "rowMedians on odd and even row lengths",
      covers: ["rowMedians", "selectRowMedian"],
      run: (w) =>
        SELECT_SHAPES.filter(([, cols]) => cols > 0)
          .flatMap(([rows, cols]) => [
            [rows, cols],
            [rows, cols + 1],
          ])
          .map(([rows, cols], i) => {
            const x = Float64Array.from(tiedFloats(840 + i, rows! * cols!, false), (v) => v / 3);
            return rowMedians(w, x, rows!, cols!);
          }),
    },
  ];
}

/** Fixed-seed floats in [-2, 2) with signed zeros mixed in (no overflow, so no NaN). */
function convFloats(seed: number, len: number): Float32Array {
  const out = seededFloats(seed, len);
  for (let i = 0; i < len; i++) out[i] = i % 11 === 0 ? (i % 22 === 0 ? 0 : -0) : out[i]! * 2;
  return out;
}

/** A window whose outH/outW follow the ONNX formula. */
function convWindow(
  channels: number,
  height: number,
  width: number,
  kernel: number,
  stride: number,
  pads: readonly [number, number, number, number],
  dilation: number,
): ConvWindow {
  return {
    channels,
    height,
    width,
    kernelH: kernel,
    kernelW: kernel,
    strideH: stride,
    strideW: stride,
    padTop: pads[0],
    padLeft: pads[1],
    dilationH: dilation,
    dilationW: dilation,
    outH: convOutputLen(height, kernel, stride, pads[0], pads[2], dilation),
    outW: convOutputLen(width, kernel, stride, pads[1], pads[3], dilation),
  };
}

/** Stride 1, 2 and 3, dilation 2, asymmetric pads, a row long enough for the bulk-copy path. */
const CONV_WINDOWS: readonly ConvWindow[] = [
  convWindow(3, 9, 10, 3, 1, [1, 1, 1, 1], 1),
  convWindow(2, 11, 13, 3, 2, [2, 1, 0, 2], 2),
  convWindow(2, 8, 9, 5, 3, [2, 2, 2, 2], 1),
  convWindow(1, 3, 70, 3, 1, [1, 1, 1, 1], 1),
  convWindow(4, 30, 29, 3, 2, [1, 1, 1, 1], 1),
];

function convNormCases(): ConformanceCase[] {
  return [
    {
      name: "convIm2col on padded, strided and dilated windows",
      covers: ["convIm2col", "convIm2colBuffers", "convIm2colLen", "convOutputLen"],
      run: (w) =>
        CONV_WINDOWS.map((g, i) => {
          const col = convIm2col(w, convFloats(900 + i, g.channels * g.height * g.width), g);
          if (col.length !== convIm2colLen(g)) throw new Error("convIm2col: unexpected length");
          return col;
        }),
    },
    {
      name: "convDepthwise on padded, strided and dilated windows",
      covers: ["convDepthwise", "convDepthwiseBuffers"],
      run: (w) =>
        CONV_WINDOWS.map((g, i) =>
          convDepthwise(
            w,
            convFloats(910 + i, g.channels * g.height * g.width),
            convFloats(920 + i, g.channels * g.kernelH * g.kernelW),
            g,
          ),
        ),
    },
    {
      name: "convCol2im on padded, strided and dilated windows",
      covers: ["convCol2im", "convCol2imBuffers"],
      run: (w) => CONV_WINDOWS.map((g, i) => convCol2im(w, convFloats(970 + i, convIm2colLen(g)), g)),
    },
    {
      name: "convDepthwiseGradInput and convDepthwiseGradWeight on padded, strided and dilated windows",
      covers: [
        "convDepthwiseGradInput",
        "convDepthwiseGradInputBuffers",
        "convDepthwiseGradWeight",
        "convDepthwiseGradWeightBuffers",
      ],
      run: (w) =>
        CONV_WINDOWS.flatMap((g, i) => {
          const dy = convFloats(980 + i, g.channels * g.outH * g.outW);
          return [
            convDepthwiseGradInput(w, dy, convFloats(920 + i, g.channels * g.kernelH * g.kernelW), g),
            convDepthwiseGradWeight(w, convFloats(910 + i, g.channels * g.height * g.width), dy, g),
          ];
        }),
    },
    {
      name: "conv2d dense, pointwise, depthwise and grouped, with bias",
      covers: ["conv2d", "conv2dOutputShape"],
      run: (w) =>
        (
          [
            [1, 6, 5, 3, [1, 1, 1, 1]],
            [1, 6, 7, 1, [0, 0, 0, 0]],
            [6, 6, 6, 3, [1, 1, 1, 1]],
            [2, 6, 4, 3, [0, 1, 2, 1]],
          ] as const
        ).map(([groups, channels, outChannels, kernel, pads], i) => {
          const spec = {
            batch: 2,
            channels,
            height: 9,
            width: 10,
            outChannels,
            kernelH: kernel,
            kernelW: kernel,
            pads,
            groups,
          };
          const [batch, m, outH, outW] = conv2dOutputShape(spec);
          const y = conv2d(
            w,
            spec,
            convFloats(930 + i, 2 * channels * 90),
            convFloats(940 + i, (outChannels * channels * kernel * kernel) / groups),
            convFloats(950 + i, outChannels),
          );
          if (y.length !== batch * m * outH * outW) throw new Error("conv2d: unexpected length");
          return y;
        }),
    },
    {
      name: "Winograd F(2x2, 3x3) filter, input and output transforms on odd sizes, padded, strided blocks",
      covers: [
        "convWinogradFilter",
        "convWinogradInput",
        "convWinogradOutput",
        "winogradTileCount",
        "winogradPadLen",
      ],
      run: (w) => {
        // 2 images of 3 channels, 7 x 9, pads 1 (a 7 x 9 output: ragged 2x2 tiles), 5 filters.
        const [channels, filters] = [3, 5];
        const base = { images: 2, channels, height: 7, width: 9, padTop: 1, padLeft: 1, outH: 7, outW: 9 };
        const tiles = winogradTileCount(base);
        const u = convWinogradFilter(convFloats(990, filters * channels * 9), filters, channels);
        const v = convWinogradInput(w, convFloats(991, 2 * channels * 63), {
          ...base,
          eLen: channels * tiles + 3,
        });
        const vBorders = convWinogradInput(w, convFloats(991, 2 * channels * 63), base, { padded: false });
        if (winogradPadLen(4, 5) !== 120) throw new Error("winogradPadLen: unexpected length");
        const m = convFloats(992, 16 * (filters * tiles + 1));
        const y = convWinogradOutput(
          w,
          m,
          { ...base, eLen: filters * tiles + 1 },
          filters,
          convFloats(993, filters),
          { kind: "relu" },
        );
        // The fused residual Add (conv_winograd_output_res).
        const yr = convWinogradOutput(
          w,
          m,
          { ...base, eLen: filters * tiles + 1 },
          filters,
          convFloats(1004, filters),
          { kind: "clip", min: -1, max: 6 },
          convFloats(1005, 2 * filters * 63),
        );
        return [u, v, vBorders, y, yr];
      },
    },
    {
      name: "tap-split convolution on small maps: 2x2 and 1x1 maps, pads, a stride, one- and two-column taps",
      covers: [
        "convTapPixels",
        "convTapSplit",
        "convTapSplitPackWeights",
        "convTapSplitScratchLen",
        "convTapsInside",
      ],
      run: (w) => {
        const win = (h: number, wd: number, pad: number, stride: number, out: number) => ({
          channels: 5,
          height: h,
          width: wd,
          kernelH: 3,
          kernelW: 3,
          strideH: stride,
          strideW: stride,
          padTop: pad,
          padLeft: pad,
          dilationH: 1,
          dilationW: 1,
          outH: out,
          outW: out,
        });
        const two = win(2, 2, 1, 1, 2);
        const one = win(1, 1, 1, 1, 1);
        const strided = win(3, 3, 1, 2, 2);
        if (convTapsInside(one).join() !== "4")
          throw new Error("convTapsInside: a 1x1 map reaches tap 4 only");
        if (convTapPixels(two).join() !== "1,2,1,2,4,2,1,2,1") {
          throw new Error("convTapPixels: a 2x2 map's corner taps reach 1 pixel, edges 2, the centre 4");
        }
        if (convTapSplitScratchLen(5, 6, 4) !== 20 + 24 + gemmScratchLen(6, 4, 5)) {
          throw new Error("convTapSplitScratchLen: unexpected length");
        }
        const weight = convFloats(1010, 6 * 5 * 9);
        const packed = convTapSplitPackWeights(
          weight,
          6,
          5,
          3,
          3,
          (a, m, k) => gemmPackA(w, { m, k }, a),
          [4],
        );
        return [
          convTapSplit(w, convFloats(1011, 5 * 4), weight, two, 6),
          convTapSplit(w, convFloats(1012, 5), weight, one, 6),
          convTapSplit(w, convFloats(1013, 5 * 9), weight, strided, 6),
          packed,
        ];
      },
    },
    {
      name: "Winograd input transform into the GEMM's packed-B panels (tile groups across panels)",
      covers: ["convWinogradInputPacked", "winogradPackedPadLen"],
      run: (w) => {
        // 2 images of 3 channels, 7 x 9, pads 1: 4 x 5 tiles per image, 40 tiles, rows start off 4-tile groups.
        const base = { images: 2, channels: 3, height: 7, width: 9, padTop: 1, padLeft: 1, outH: 7, outW: 9 };
        if (winogradPackedPadLen(4, 5) !== 184) throw new Error("winogradPackedPadLen: unexpected length");
        return [
          convWinogradInputPacked(w, convFloats(991, 2 * 3 * 63), base),
          convWinogradInputPacked(w, convFloats(994, 3 * 15), {
            ...base,
            images: 1,
            height: 3,
            width: 5,
            outH: 3,
            outW: 5,
            eLen: 3 * 8 + 5,
          }),
        ];
      },
    },
    {
      name: "Winograd F(4x4, 3x3) filter, packed input and output transforms on odd sizes and narrow maps, padded, strided blocks",
      covers: [
        "convWinograd4Filter",
        "convWinograd4InputPacked",
        "convWinograd4Output",
        "winograd4PadLen",
        "winograd4TileCount",
      ],
      run: (w) => {
        // 2 images of 5 channels, 9 x 11, pads 1 (a 9 x 11 output: 3 x 3 ragged 4x4 tiles), 3 filters.
        const [channels, filters] = [5, 3];
        const base = { images: 2, channels, height: 9, width: 11, padTop: 1, padLeft: 1, outH: 9, outW: 11 };
        const tiles = winograd4TileCount(base);
        if (winograd4PadLen(3, 3) !== 484) throw new Error("winograd4PadLen: unexpected length");
        const u = convWinograd4Filter(convFloats(995, filters * channels * 9), filters, channels);
        const v = convWinograd4InputPacked(w, convFloats(996, 2 * channels * 99), {
          ...base,
          eLen: Math.ceil(tiles / 8) * 8 * channels + 3,
        });
        const m = convFloats(997, 36 * (filters * tiles + 1));
        const y = convWinograd4Output(
          w,
          m,
          { ...base, eLen: filters * tiles + 1 },
          filters,
          convFloats(998, filters),
          { kind: "relu" },
        );
        // 3 images of 8 x 8 (2 x 2 whole tiles each): both transforms' four-tiles-across-rows path.
        const narrow = { images: 3, channels, height: 8, width: 8, padTop: 1, padLeft: 1, outH: 8, outW: 8 };
        const v8 = convWinograd4InputPacked(w, convFloats(999, 3 * channels * 64), {
          ...narrow,
          eLen: 16 * channels + 5,
        });
        const y8 = convWinograd4Output(
          w,
          convFloats(1000, 36 * (filters * 12 + 2)),
          { ...narrow, eLen: filters * 12 + 2 },
          filters,
          convFloats(1001, filters),
          { kind: "leakyRelu", alpha: 0.1 },
        );
        // The fused residual Add (conv_winograd4_output_res).
        const yr = convWinograd4Output(
          w,
          m,
          { ...base, eLen: filters * tiles + 1 },
          filters,
          convFloats(1002, filters),
          { kind: "relu" },
          convFloats(1003, 2 * filters * 99),
        );
        return [u, v, y, v8, y8, yr];
      },
    },
    {
      name: "normFoldBnIntoConv and normAffineChannels on ragged sizes",
      covers: [
        "normFoldBnIntoConv",
        "normFoldBnIntoConvBuffers",
        "normAffineChannels",
        "normAffineChannelsBuffers",
      ],
      run: (w) => {
        const [outChannels, perChannelLen] = [7, 27];
        const bn = {
          gamma: convFloats(960, outChannels),
          beta: convFloats(961, outChannels),
          mean: convFloats(962, outChannels),
          variance: convFloats(963, outChannels).map((v) => Math.abs(v) + 0.1),
        };
        const folded = normFoldBnIntoConv(
          w,
          convFloats(964, outChannels * perChannelLen),
          convFloats(965, outChannels),
          outChannels,
          perChannelLen,
          bn,
          1e-5,
        );
        const y = normAffineChannels(
          w,
          convFloats(966, 3 * 5 * 13),
          3,
          5,
          13,
          convFloats(967, 5),
          convFloats(968, 5),
        );
        return [folded.weight, folded.bias, y];
      },
    },
  ];
}

/** Every activation kind, with parameters where it has them. */
const ACTIVATIONS: readonly Activation[] = [
  { kind: "none" },
  { kind: "relu" },
  { kind: "leakyRelu", alpha: 0.1 },
  { kind: "clip", min: -0.5, max: 6 },
  { kind: "sigmoid" },
  { kind: "hardSigmoid", alpha: 0.2, beta: 0.5 },
  { kind: "hardSwish" },
  { kind: "tanh" },
];

function actCases(): ConformanceCase[] {
  // Seeded values times 10^-3 .. 10^3, so sigmoid and tanh see saturated and tiny inputs.
  const x = scaledFloats(900, 3 * 37);
  return ACTIVATIONS.map(
    (act): ConformanceCase => ({
      name: `activation ${act.kind}: apply and the row / column bias epilogues`,
      covers: [
        "actApply",
        "actApplyBuffers",
        "actBiasRows",
        "actBiasRowsBuffers",
        "actBiasCols",
        "actBiasColsBuffers",
        "activationCode",
      ],
      run: (w) => [
        actApply(w, x, act),
        actBiasRows(w, x, 3, 37, seededFloats(901, 3), act),
        actBiasCols(w, x, 3, 37, seededFloats(902, 37), act),
        actBiasCols(w, x, 37, 3, undefined, act),
      ],
    }),
  );
}

function actBackwardCases(): ConformanceCase[] {
  // The same inputs as actCases, with the kink points mixed in.
  const x = scaledFloats(900, 3 * 37);
  for (const [i, v] of [0, -0, -3, 3, -0.5, 6, -1, 1].entries()) x[i * 13] = v;
  const dy = seededFloats(903, x.length);
  return [
    {
      name: "actBackward for every activation, at the kinks and saturated",
      covers: ["actBackward", "actBackwardBuffers"],
      run: (w) => ACTIVATIONS.map((act) => actBackward(w, x, dy, act)),
    },
  ];
}

function eltwiseCases(): ConformanceCase[] {
  const dims = [2, 5, 3, 7];
  const patterns: readonly (readonly number[])[] = [dims, [1, 5, 1, 1], [], [7], [2, 1, 3, 1]];
  const ops: readonly EltwiseOp[] = ["add", "sub", "mul", "div"];
  return ops.map(
    (op): ConformanceCase => ({
      name: `eltwise ${op} with same-shape, per-channel, scalar, row and mixed broadcasts`,
      covers: ["eltwiseBroadcast", "eltwiseBinaryBuffers", "broadcastStrides"],
      run: (w) => {
        const a = scaledFloats(910, 2 * 5 * 3 * 7);
        return patterns.flatMap((bDims, i) => {
          const b = seededFloats(
            911 + i,
            bDims.reduce((n, d) => n * d, 1),
          ).map((v) => v + 2);
          return [
            eltwiseBroadcast(w, op, a, dims, b, bDims, { act: { kind: "relu" } }),
            eltwiseBroadcast(w, op, b, bDims, a, dims),
          ];
        });
      },
    }),
  );
}

function poolCases(): ConformanceCase[] {
  const base: Pool2dSpec = { planes: 6, height: 13, width: 17, kernelH: 3, kernelW: 3 };
  const specs: readonly Pool2dSpec[] = [
    base,
    { ...base, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1 },
    {
      ...base,
      kernelH: 2,
      kernelW: 4,
      strideH: 3,
      strideW: 3,
      padTop: 1,
      padLeft: 0,
      padBottom: 0,
      padRight: 2,
    },
    { ...base, kernelH: 13, kernelW: 17 },
  ];
  const x = scaledFloats(920, 6 * 13 * 17);
  return [
    {
      name: "poolMax2d with strides, asymmetric pads, dilation and a whole-image kernel",
      covers: ["poolMax2d", "poolMax2dBuffers", "resolvePool2d"],
      run: (w) =>
        [...specs, { ...specs[1]!, dilationH: 2, dilationW: 2 }].map((spec) => poolMax2d(w, x, spec)),
    },
    {
      name: "poolAvg2d with and without count_include_pad",
      covers: ["poolAvg2d", "poolAvg2dBuffers", "resolvePool2d"],
      run: (w) =>
        specs.flatMap((spec) => [poolAvg2d(w, x, spec), poolAvg2d(w, x, spec, { countIncludePad: true })]),
    },
    {
      name: "poolGlobalAvg and poolGlobalMax on ragged planes",
      covers: ["poolGlobalAvg", "poolGlobalAvgBuffers", "poolGlobalMax", "poolGlobalMaxBuffers"],
      run: (w) =>
        [1, 7, 49, 197].flatMap((planeLen, i) => {
          const v = scaledFloats(930 + i, 5 * planeLen);
          return [poolGlobalAvg(w, v, 5, planeLen), poolGlobalMax(w, v, 5, planeLen)];
        }),
    },
    {
      name: "poolMax2dBackward and poolAvg2dBackward on the same specs",
      covers: [
        "poolMax2dBackward",
        "poolMax2dBackwardBuffers",
        "poolAvg2dBackward",
        "poolAvg2dBackwardBuffers",
      ],
      run: (w) =>
        specs.flatMap((spec, i) => {
          const s = resolvePool2d("conformance", spec);
          const dy = seededFloats(935 + i, s.planes * s.outH * s.outW);
          return [
            poolMax2dBackward(w, x, dy, spec),
            poolAvg2dBackward(w, dy, spec),
            poolAvg2dBackward(w, dy, spec, { countIncludePad: true }),
          ];
        }),
    },
    {
      name: "poolGlobalAvgBackward and poolGlobalMaxBackward on ragged planes",
      covers: [
        "poolGlobalAvgBackward",
        "poolGlobalAvgBackwardBuffers",
        "poolGlobalMaxBackward",
        "poolGlobalMaxBackwardBuffers",
      ],
      run: (w) =>
        [1, 7, 49, 197].flatMap((planeLen, i) => {
          const v = scaledFloats(930 + i, 5 * planeLen);
          const dy = seededFloats(945 + i, 5);
          return [poolGlobalAvgBackward(w, dy, 5, planeLen), poolGlobalMaxBackward(w, v, dy, 5, planeLen)];
        }),
    },
  ];
}

function softmaxCases(): ConformanceCase[] {
  return (["softmax", "logSoftmax"] as const).map(
    (kind): ConformanceCase => ({
      name: `rowSoftmax ${kind} on seeded inputs`,
      covers: ["rowSoftmax", "softmaxRows"],
      run: (w) =>
        REDUCE_SHAPES.map(([rows, cols], i) =>
          rowSoftmax(
            w,
            kind,
            seededFloats(940 + i, rows * cols).map((v) => v * 30),
            rows,
            cols,
          ),
        ),
    }),
  );
}

/** Every case, in a fixed order. Add new kernel families here. */
export const CASES: readonly ConformanceCase[] = [
  ...reduceCases(),
  ...gemmCases(),
  ...distanceCases(),
  ...selectCases(),
  ...mergeCases(),
  ...convNormCases(),
  ...actCases(),
  ...actBackwardCases(),
  ...eltwiseCases(),
  ...poolCases(),
  ...softmaxCases(),
  ...affinityCases(),
  ...trainingCases(),
];

/** Seeded integer labels in [0, cols). */
function seededLabels(seed: number, rows: number, cols: number): Int32Array {
  return Int32Array.from(seededFloats(seed, rows), (v) =>
    Math.min(cols - 1, Math.floor(((v + 1) / 2) * cols)),
  );
}

/** The training kernels (BN with batch statistics, backward passes, loss, SGD, gradient sums) on ragged shapes. */
function trainingCases(): ConformanceCase[] {
  return [
    {
      name: "bnTrainForward, bnTrainBackward (in place) and channelAffineBackward on ragged NCHW batches",
      covers: [
        "bnTrainForward",
        "bnTrainForwardBuffers",
        "bnTrainBackward",
        "bnTrainBackwardBuffers",
        "channelAffineBackward",
        "channelAffineBackwardBuffers",
      ],
      run: (w) =>
        (
          [
            [3, 5, 13],
            [2, 7, 1],
            [1, 4, 49],
          ] as const
        ).flatMap(([batch, channels, planeLen], i) => {
          const len = batch * channels * planeLen;
          const x = scaledFloats(980 + i, len);
          const dy = seededFloats(983 + i, len);
          const gamma = seededFloats(986 + i, channels);
          const fwd = bnTrainForward(
            w,
            x,
            batch,
            channels,
            planeLen,
            gamma,
            seededFloats(989 + i, channels),
            1e-5,
          );
          const back = bnTrainBackward(w, x, dy, batch, channels, planeLen, gamma, fwd);
          const affine = channelAffineBackward(w, x, dy, batch, channels, planeLen, gamma);
          return [
            fwd.y,
            fwd.mean,
            fwd.variance,
            fwd.invStd,
            back.dx,
            back.dGamma,
            back.dBeta,
            affine.dx,
            affine.dScale,
            affine.dShift,
          ];
        }),
    },
    {
      name: "softmaxCrossEntropy and softmaxCrossEntropyCorrect on seeded logits",
      covers: [
        "softmaxCrossEntropy",
        "softmaxCrossEntropyBuffers",
        "softmaxCrossEntropyCorrect",
        "softmaxCrossEntropyCorrectBuffers",
      ],
      run: (w) =>
        REDUCE_SHAPES.flatMap(([rows, cols], i) => {
          const logits = seededFloats(990 + i, rows * cols).map((v) => v * 20);
          const labels = seededLabels(994 + i, rows, cols);
          const { loss, dLogits } = softmaxCrossEntropy(w, logits, labels, rows, cols);
          return [
            Float64Array.of(loss),
            dLogits,
            Int32Array.of(softmaxCrossEntropyCorrect(w, logits, labels, rows, cols)),
          ];
        }),
    },
    {
      name: "sgdStep (plain, momentum, Nesterov, weight decay) over three steps, scaleInPlace and addL1Grad",
      covers: [
        "sgdStep",
        "sgdStepBuffers",
        "scaleInPlace",
        "scaleInPlaceBuffers",
        "addL1Grad",
        "addL1GradBuffers",
      ],
      run: (w) => {
        const len = 37;
        const outputs: KernelOutput[] = [];
        const settings = [
          { lr: 0.1 },
          { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
          { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, nesterov: true },
        ];
        settings.forEach((options, k) => {
          let state: { weights: Float32Array; velocity: Float32Array | undefined } = {
            weights: scaledFloats(1000 + k, len),
            velocity: undefined,
          };
          for (let t = 0; t < 3; t++) {
            state = sgdStep(w, state.weights, scaledFloats(1010 + 3 * k + t, len), state.velocity, options);
          }
          outputs.push(state.weights, state.velocity ?? new Float32Array(0));
        });
        const x = awkwardFloats(len).map((v, i) => (i % 5 === 0 ? -v : v));
        outputs.push(scaleInPlace(w, x.slice(), 0.3), addL1Grad(w, x, seededFloats(1020, len), 1e-3));
        return outputs;
      },
    },
    {
      name: "channelSum, colSum and accumulate on ragged shapes",
      covers: [
        "channelSum",
        "channelSumBuffers",
        "colSum",
        "colSumBuffers",
        "accumulate",
        "accumulateBuffers",
      ],
      run: (w) => [
        channelSum(w, scaledFloats(1030, 3 * 5 * 13), 3, 5, 13),
        channelSum(w, scaledFloats(1031, 2 * 64 * 49), 2, 64, 49),
        ...REDUCE_SHAPES.map(([rows, cols], i) => colSum(w, scaledFloats(1032 + i, rows * cols), rows, cols)),
        accumulate(w, scaledFloats(1036, 101), scaledFloats(1037, 101)),
      ],
    },
  ];
}

/** Affinity propagation on seeded filters of ragged sizes (EPruner §3.2-§3.3), as EPruner builds it. */
function affinityCases(): ConformanceCase[] {
  return [
    {
      name: "affinityPropagation on seeded layers, beta 0.5 / 0.75 / 1.5",
      covers: ["affinityPropagation", "affinityIterate", "affinityExemplars", "affinityIterateScratchLen"],
      run: (w) =>
        [
          [37, 50],
          [64, 9],
          [129, 27],
        ].flatMap(([n, d], i) => {
          const x = seededFloats(900 + i, n! * d!);
          const s = pairwiseSqEuclidean(w, x, n!, d!).map((v) => -v);
          const med = rowMedians(w, s, n!, n!);
          return [0.5, 0.75, 1.5].map((beta) => {
            const r = affinityPropagation(
              w,
              s,
              Array.from(med, (m) => beta * m),
              n!,
            );
            return Int32Array.from([r.iterations, r.converged ? 1 : 0, ...r.exemplars, ...r.labels]);
          });
        }),
    },
  ];
}

function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function digest(outputs: KernelOutput[]): Promise<{ byteLength: number; sha256: string }> {
  const byteLength = outputs.reduce((n, o) => n + o.byteLength, 0);
  const all = new Uint8Array(byteLength);
  let at = 0;
  for (const o of outputs) {
    all.set(new Uint8Array(o.buffer, o.byteOffset, o.byteLength), at);
    at += o.byteLength;
  }
  return { byteLength, sha256: toHex(await crypto.subtle.digest("SHA-256", all)) };
}

/**
 * Load the wasm from its default location and run every case.
 * @returns one result per case, in CASES order.
 */
export async function runConformance(): Promise<ConformanceReport> {
  const w = await getWasm();
  const wasmFunctions = Object.keys(w.exports)
    .filter((k) => typeof w.exports[k] === "function" && !k.startsWith("__"))
    .sort();
  const results: ConformanceResult[] = [];
  for (const c of CASES) {
    const out = c.run(w);
    const { byteLength, sha256 } = await digest(Array.isArray(out) ? out : [out]);
    results.push({ name: c.name, byteLength, sha256 });
  }
  return { wasmFunctions, results, relaxed: await relaxedReport() };
}
