import { instantiate } from "@assemblyscript/loader";
import { PrunekitError } from "../errors.ts";

/** The raw exports of prunekit.wasm (the kernels are typed in kernels/<family>.ts). */
export interface WasmExports {
  readonly memory: WebAssembly.Memory;
  readonly HEAP_BASE: WebAssembly.Global | number;
  readonly [name: string]: unknown;
}

/** What `loadWasm` accepts: the module's bytes, a URL to fetch, or nothing (find it next to this file). */
export type WasmSource = ArrayBuffer | Uint8Array | URL | string | undefined;

/**
 * Where the builds live, relative to this file. Each is written as a literal `new URL("...",
 * import.meta.url)`, the pattern bundlers (Vite, webpack 5, Parcel) recognise as an asset to copy.
 */
function defaultUrl(level: SimdLevel): URL {
  return level === "relaxed"
    ? new URL("../../build/prunekit.relaxed.wasm", import.meta.url)
    : new URL("../../build/prunekit.wasm", import.meta.url);
}

/**
 * Which SIMD instruction set a module instance uses.
 * - `baseline`: WebAssembly SIMD128 only. Deterministic: the same output bits in every runtime and on
 *   every CPU. The default everywhere.
 * - `relaxed`: build/prunekit.relaxed.wasm, whose GEMM micro-kernel uses `f32x4.relaxed_madd` (a fused
 *   multiply-add where the CPU has one). Faster, but results may differ in the last bits between CPUs
 *   and runtimes. Needs a runtime with relaxed SIMD (Deno, Chromium; Node 20 only with
 *   `--experimental-wasm-relaxed-simd`).
 */
export type SimdLevel = "baseline" | "relaxed";

/** Options for `instantiateWasm`. */
export interface WasmOptions {
  /**
   * `baseline` (default), `relaxed` (throw `WASM_LOAD_FAILED` if this runtime has no relaxed SIMD),
   * or `auto` (relaxed where the runtime supports it, baseline elsewhere). Only chooses the default
   * file when no `source` is given; bytes or a URL are used as they are.
   */
  simd?: SimdLevel | "auto";
}

// The smallest module that uses a relaxed-SIMD instruction: (func (result v128) v128.const 0 x3
// f32x4.relaxed_madd). WebAssembly.validate accepts it only where relaxed SIMD is enabled.
const V128_ZERO: number[] = [0xfd, 0x0c, ...new Array<number>(16).fill(0)]; // v128.const 0
// biome-ignore format: a byte table, one section per line
const RELAXED_PROBE: Uint8Array<ArrayBuffer> = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code section: one body of 59 bytes, no locals
  ...V128_ZERO, ...V128_ZERO, ...V128_ZERO,
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
);

let relaxedSupport: boolean | undefined;

/**
 * Whether this runtime accepts relaxed-SIMD instructions (feature detection by validating a tiny
 * module; no runtime sniffing). Memoised.
 *
 * @example
 * const wasm = await createWasm({ simd: relaxedSimdSupported() ? "relaxed" : "baseline" });
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSupport === undefined) {
    try {
      relaxedSupport = WebAssembly.validate(RELAXED_PROBE);
    } catch {
      relaxedSupport = false;
    }
  }
  return relaxedSupport;
}

/** Resolve a `simd` option to the level to load, or throw when relaxed SIMD is required but missing. */
export function resolveSimdLevel(simd: SimdLevel | "auto" | undefined): SimdLevel {
  const want = simd ?? "baseline";
  if (want !== "baseline" && want !== "relaxed" && want !== "auto") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `simd: expected "baseline", "relaxed" or "auto", got ${JSON.stringify(want)}`,
    );
  }
  if (want === "baseline") return "baseline";
  if (relaxedSimdSupported()) return "relaxed";
  if (want === "auto") return "baseline";
  throw new PrunekitError(
    "WASM_LOAD_FAILED",
    'simd "relaxed" was requested but this runtime has no relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd); use simd "auto" to fall back to baseline',
  );
}

let memo: Promise<WasmExports> | undefined;

async function readSource(source: WasmSource, level: SimdLevel): Promise<ArrayBuffer | Uint8Array> {
  if (source instanceof ArrayBuffer || source instanceof Uint8Array) return source;
  const url = source === undefined ? defaultUrl(level) : new URL(String(source), import.meta.url);
  if (url.protocol === "file:") {
    // Node and Deno both provide node:fs/promises; browsers never see file: URLs here.
    const fs = await import("node:fs/promises");
    return new Uint8Array(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `could not fetch prunekit.wasm from ${url.href}: HTTP ${response.status}`,
    );
  }
  return await response.arrayBuffer();
}

/** The compiled default build of each SIMD level, shared by every instance made from it. */
const compiled = new Map<SimdLevel, Promise<WebAssembly.Module>>();

/** Read and compile the default build of `level` once per process; a failure is not kept. */
function compileDefault(level: SimdLevel): Promise<WebAssembly.Module> {
  let module = compiled.get(level);
  if (module === undefined) {
    const pending = readSource(undefined, level).then((bytes) => WebAssembly.compile(bytes as BufferSource));
    compiled.set(level, pending);
    // A failed compile must not poison later attempts (e.g. after the user builds the module).
    pending.catch(() => {
      if (compiled.get(level) === pending) compiled.delete(level);
    });
    module = pending;
  }
  return module;
}

/**
 * Read, compile and instantiate prunekit.wasm, with no memoisation of the instance: every call makes a
 * new instance with its own memory. The default builds (no `source`) are compiled once per process
 * and the compiled module is shared, so a private instance costs one instantiation; bytes and URLs are
 * compiled on every call. Library code uses `loadWasm`; this exists for tests and for users who need
 * a private instance.
 *
 * @param source module bytes, a URL, or nothing to load `build/prunekit.wasm` (or, with
 *   `simd: "relaxed"`, `build/prunekit.relaxed.wasm`) relative to this file.
 * @throws PrunekitError `WASM_LOAD_FAILED` if the module cannot be read or instantiated, or relaxed
 *   SIMD is required and missing; `INVALID_ARGUMENT` on an unknown `simd` value.
 * @example
 * const exports = await instantiateWasm(await readFile("build/prunekit.wasm"));
 */
export async function instantiateWasm(source?: WasmSource, options: WasmOptions = {}): Promise<WasmExports> {
  const level = resolveSimdLevel(options.simd);
  try {
    const module =
      source === undefined
        ? await compileDefault(level)
        : await WebAssembly.compile((await readSource(source, level)) as BufferSource);
    const { exports } = await instantiate<Record<string, unknown>>(module, {});
    return exports as unknown as WasmExports;
  } catch (e) {
    if (e instanceof PrunekitError) throw e;
    const file = level === "relaxed" ? "prunekit.relaxed.wasm" : "prunekit.wasm";
    const hint = source === undefined ? ` (run \`npm run build\` to produce build/${file})` : "";
    throw new PrunekitError("WASM_LOAD_FAILED", `could not load ${file}: ${(e as Error).message}${hint}`, {
      cause: e,
    });
  }
}

/**
 * Load and instantiate prunekit.wasm once; concurrent and later callers share the same instance.
 * The first call decides the source; later calls ignore theirs.
 *
 * @param source module bytes, a URL, or nothing to load `build/prunekit.wasm` relative to this file.
 * @throws PrunekitError `WASM_LOAD_FAILED` if the module cannot be read or instantiated.
 * @example
 * const wasm = await loadWasm();
 */
export function loadWasm(source?: WasmSource): Promise<WasmExports> {
  if (memo === undefined) {
    memo = instantiateWasm(source);
    // A failed load must not poison later attempts (e.g. after the user builds the module).
    memo.catch(() => {
      memo = undefined;
    });
  }
  return memo;
}

/** Read the exported HEAP_BASE as a number. */
export function heapBase(exports: WasmExports): number {
  const g = exports.HEAP_BASE;
  return typeof g === "number" ? g : Number(g.value);
}
