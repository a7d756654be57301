import { PrunekitError } from "../errors.ts";
import { Arena, type Buf } from "./arena.ts";
import { heapBase, loadWasm, type WasmExports, type WasmSource } from "./load.ts";

/** The loaded module and its one arena. */
export interface Wasm {
  readonly exports: WasmExports;
  readonly arena: Arena;
}

let memo: Promise<Wasm> | undefined;

/**
 * The shared module instance and arena, loaded lazily on first use.
 *
 * @param source passed to `loadWasm` on the first call only.
 * @throws PrunekitError `WASM_LOAD_FAILED`
 */
export function getWasm(source?: WasmSource): Promise<Wasm> {
  if (memo === undefined) {
    memo = loadWasm(source).then((exports) => ({
      exports,
      arena: new Arena(exports.memory, heapBase(exports)),
    }));
    memo.catch(() => {
      memo = undefined;
    });
  }
  return memo;
}

type KernelFn = (...args: number[]) => number | undefined;

/** Look up an exported kernel by its ABI name. */
export function kernel(w: Wasm, name: string): KernelFn {
  const fn = w.exports[name];
  if (typeof fn !== "function") {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `prunekit.wasm has no export "${name}"; rebuild with \`npm run build\``,
    );
  }
  return fn as KernelFn;
}

/** Throw INVALID_ARGUMENT unless `n` is a non-negative int32. */
export function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected a non-negative integer size, got ${n}`);
  }
}

/** Throw INVALID_ARGUMENT unless `buf` holds exactly `expected` elements. */
export function checkLength(what: string, buf: { length: number }, expected: number): void {
  if (buf.length !== expected) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected ${expected} elements, got ${buf.length}`);
  }
}

/** Run `body` with an arena mark, releasing everything it allocated afterwards. */
export function withArena<T>(w: Wasm, body: (arena: Arena) => T): T {
  const mark = w.arena.mark();
  try {
    return body(w.arena);
  } finally {
    w.arena.release(mark);
  }
}

// --- reduce: row sums and norms -------------------------------------------------------------

/** Which row reduction to compute. */
export type RowReduction = "sum" | "l1" | "l2";

const REDUCE_EXPORTS: Record<RowReduction, string> = {
  sum: "reduce_row_sum",
  l1: "reduce_row_l1",
  l2: "reduce_row_l2",
};

/**
 * Row reduction on arena buffers: out[r] = sum / L1 norm / L2 norm of row r of x (rows x cols, row-major).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 */
export function reduceRows(w: Wasm, kind: RowReduction, x: Buf, out: Buf, rows: number, cols: number): void {
  checkSize("reduceRows rows", rows);
  checkSize("reduceRows cols", cols);
  checkLength("reduceRows x", x, rows * cols);
  checkLength("reduceRows out", out, rows);
  kernel(w, REDUCE_EXPORTS[kind])(x.ptr, out.ptr, rows, cols);
}

/**
 * Row reduction of a JS array: copies in, one kernel call, copies out.
 * @param x rows x cols, row-major.
 * @returns `rows` values.
 */
export function rowReduce(
  w: Wasm,
  kind: RowReduction,
  x: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  checkLength("rowReduce x", x, rows * cols);
  return withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const out = arena.allocF32(rows);
    reduceRows(w, kind, xb, out, rows, cols);
    return arena.viewF32(out).slice();
  });
}

// --- gemm -----------------------------------------------------------------------------------

// --- distance -------------------------------------------------------------------------------

// --- select ---------------------------------------------------------------------------------
