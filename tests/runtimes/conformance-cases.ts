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

import { getWasm, type RowReduction, rowReduce, type Wasm } from "../../src/wasm/kernels.ts";
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

/** Every case, in a fixed order. Add new kernel families here. */
export const CASES: readonly ConformanceCase[] = [...reduceCases()];

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
