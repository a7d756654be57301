// Fixed-seed kernel calls whose output bytes must be identical in every runtime.
//
// This module runs unchanged in Node, Deno and browsers: it uses only web-standard APIs
// (crypto.subtle, typed arrays) and the library. It loads the wasm through the default URL
// (no bytes passed), so each runtime also proves it can find build/prunekit.wasm on its own:
// a file: URL read with node:fs/promises in Node and Deno, an http: URL fetched in a browser.
//
// To cover a new kernel, add a case to CASES below and list the kernels.ts functions it calls
// in `covers`; tests/runtimes/conformance.test.ts fails while an export of src/wasm/kernels.ts
// is neither covered nor listed in NOT_KERNELS.

import {
  cosineSimilarity,
  cosineSimilarityCross,
  type GemmSpec,
  gemm,
  getWasm,
  gramMatrix,
  pairwiseSqEuclidean,
  type RowReduction,
  rowReduce,
  type Wasm,
} from "../../src/wasm/kernels.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

/** Any output a kernel wrapper returns; its bytes are hashed in platform (little-endian) order. */
export type KernelOutput = Float32Array | Float64Array | Int32Array | Uint8Array;

/** One deterministic computation. */
export interface ConformanceCase {
  /** Unique, stable name, shown when runtimes disagree. */
  readonly name: string;
  /** The functions of src/wasm/kernels.ts this case exercises (checked by the coverage test). */
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
}

/** Exports of src/wasm/kernels.ts that are plumbing, not kernels, and need no case. */
export const NOT_KERNELS: readonly string[] = ["getWasm", "kernel", "checkSize", "checkLength", "withArena"];

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
  ];
}

/** Every case, in a fixed order. Add new kernel families here. */
export const CASES: readonly ConformanceCase[] = [...reduceCases(), ...gemmCases(), ...distanceCases()];

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
  return { wasmFunctions, results };
}
