// The module instance a kernel wrapper runs on: the shared one (`getWasm`) or a private one
// (`createWasm`), each with its own arena, plus the two things every wrapper does with it: look up a
// kernel by its ABI name and scope its arena allocations.
import { PrunekitError } from "../errors.ts";
import { Arena } from "./arena.ts";
import {
  heapBase,
  instantiateWasm,
  loadWasm,
  resolveSimdLevel,
  type SimdLevel,
  type WasmExports,
  type WasmSource,
} from "./load.ts";

/** The loaded module and its one arena. */
export interface Wasm {
  readonly exports: WasmExports;
  readonly arena: Arena;
  /**
   * The instruction set of this instance: `baseline` (deterministic) or `relaxed` (opt-in, faster).
   * With an explicit `source` it is the level that was asked for; the bytes are not inspected.
   */
  readonly simd: SimdLevel;
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
      simd: "baseline" as const,
    }));
    memo.catch(() => {
      memo = undefined;
    });
  }
  return memo;
}

/** Options for `createWasm`. */
export interface CreateWasmOptions {
  /** Module bytes or URL; by default the build next to the library (see `instantiateWasm`). */
  source?: WasmSource;
  /**
   * `baseline` (default; bit-identical everywhere), `relaxed` (the FMA build; throws
   * `WASM_LOAD_FAILED` where the runtime lacks relaxed SIMD) or `auto` (relaxed where supported).
   */
  simd?: SimdLevel | "auto";
}

/**
 * A private module instance with its own memory and arena, not shared with `getWasm`. Use it to opt
 * in to the relaxed-SIMD build: every kernel wrapper takes the returned `Wasm`.
 *
 * @throws PrunekitError `WASM_LOAD_FAILED`, or `INVALID_ARGUMENT` on an unknown `simd` value.
 * @example
 * const fast = await createWasm({ simd: "auto" });
 * const c = gemm(fast, { m, n, k }, a, b); // fast.simd tells which build ran
 */
export async function createWasm(options: CreateWasmOptions = {}): Promise<Wasm> {
  const simd = resolveSimdLevel(options.simd);
  const exports = await instantiateWasm(options.source, { simd });
  return { exports, arena: new Arena(exports.memory, heapBase(exports)), simd };
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

/** Run `body` with an arena mark, releasing everything it allocated afterwards. */
export function withArena<T>(w: Wasm, body: (arena: Arena) => T): T {
  const mark = w.arena.mark();
  try {
    return body(w.arena);
  } finally {
    w.arena.release(mark);
  }
}
