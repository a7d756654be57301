// The module instance a kernel wrapper runs on: the shared one (`getWasm`) or a private one
// (`createWasm`), each with its own arena, plus the two things every wrapper does with it: look up a
// kernel by its ABI name and scope its arena allocations (`withArena`).
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
 * Every caller in the process shares this arena. Synchronous use (the array-level wrappers, or
 * `withArena`) is always safe. A long-running computation that keeps buffers across `await`s (a
 * training loop, say) should make its own instance with `createWasm()`, which nobody else can
 * disturb and which is cheap (the compiled module is shared). On this shared arena such a computation
 * must pass its `arena.mark()` to every allocation made after an `await`; its region then survives any
 * interleaved computation, though its memory comes back only once later regions are released too.
 *
 * @param source passed to `loadWasm` on the first call only.
 * @throws PrunekitError `WASM_LOAD_FAILED`
 * @example
 * const sums = rowReduce(await getWasm(), "sum", Float32Array.of(1, 2, 3, 4), 2, 2); // [3, 7]
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
 * A private module instance with its own memory and arena, not shared with `getWasm`. Use it for a
 * long-running computation that holds buffers across `await`s (nothing else allocates in its arena),
 * or to opt in to the relaxed-SIMD build: every kernel wrapper takes the returned `Wasm`. Cheap: the
 * default builds are compiled once per process and only instantiated here (bytes or a URL given as
 * `source` are compiled each time).
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

/**
 * Run `body` in a fresh arena region, releasing everything it allocated afterwards. The body must be
 * synchronous: its buffers are freed when it returns. Buffers held across `await`s need their own mark
 * (`arena.mark()`, passed to every allocation after an `await`) or, better, their own instance
 * (`createWasm`).
 * @throws PrunekitError `ARENA_MISUSE` if `body` returns a promise (its buffers would already be
 *   freed when it resumes); whatever `body` throws.
 * @example
 * const sums = withArena(w, (arena) => {
 *   const x = arena.copyInF32(Float32Array.of(1, 2, 3, 4));
 *   const out = arena.allocF32(2);
 *   reduceRows(w, "sum", x, out, 2, 2);
 *   return arena.viewF32(out).slice(); // [3, 7]
 * });
 */
export function withArena<T>(w: Wasm, body: (arena: Arena) => T): T {
  const mark = w.arena.mark();
  try {
    const result = body(w.arena);
    if (typeof (result as { then?: unknown } | null | undefined)?.then === "function") {
      throw new PrunekitError(
        "ARENA_MISUSE",
        "withArena: the body returned a promise, but its buffers are freed as soon as it returns; keep the body synchronous, or take a mark (or a createWasm instance) that lives as long as the async work",
      );
    }
    return result;
  } finally {
    w.arena.release(mark);
  }
}
