import { instantiate } from "@assemblyscript/loader";
import { PrunekitError } from "../errors.ts";

/** The raw exports of prunekit.wasm (the kernels are typed in kernels/<family>.ts). */
export interface WasmExports {
  readonly memory: WebAssembly.Memory;
  readonly HEAP_BASE: WebAssembly.Global | number;
  readonly [name: string]: unknown;
}

/**
 * What `loadWasm` accepts: the module's bytes, a URL, or nothing (find it next to this file). A
 * `file:` URL is read from the file system where the runtime has one (Node, Deno); any other URL is
 * fetched. A relative string is resolved against the page's location, or in Node and Deno against
 * this file.
 */
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

/** Where each SIMD level's build is read from instead of its default file (see `setWasmSource`). */
export interface WasmSources {
  /** The deterministic build, `prunekit.wasm`: used by `prune`, `planPrune`, `evaluate`, `finetune`. */
  baseline?: WasmSource;
  /** The relaxed-SIMD build, `prunekit.relaxed.wasm`: used only with `simd: "relaxed"` or `"auto"`. */
  relaxed?: WasmSource;
}

/** The compiled default build of each SIMD level, shared by every instance made from it. */
const compiled = new Map<SimdLevel, Promise<WebAssembly.Module>>();

const sourceOverrides = new Map<SimdLevel, WasmSource>();

function isWasmSource(v: unknown): boolean {
  return v instanceof ArrayBuffer || v instanceof Uint8Array || v instanceof URL || typeof v === "string";
}

/**
 * Set where prunekit reads its WebAssembly builds from, for apps whose bundler does not copy the
 * `new URL("../../build/prunekit.wasm", import.meta.url)` asset (esbuild) or that serve the file
 * elsewhere. Call it once at start-up, before the first `prune`; every later load of a given level,
 * shared or private (`createWasm()`), reads from its new source. A level given as `undefined` goes
 * back to the file next to the library; a level left out keeps its current source. Instances loaded
 * before the call are kept. A relative URL string is resolved as `fetch` resolves it, against the
 * page's `location` (elsewhere, against the library's own file).
 *
 * @param sources module bytes or a URL per SIMD level.
 * @throws PrunekitError `INVALID_ARGUMENT` on an unknown key or a value that is not bytes, a URL or a
 *   string.
 * @example
 * setWasmSource({ baseline: new URL("./prunekit.wasm", import.meta.url) }); // copied next to the bundle
 */
export function setWasmSource(sources: WasmSources): void {
  if (typeof sources !== "object" || sources === null) {
    throw new PrunekitError("INVALID_ARGUMENT", `setWasmSource: expected an object, got ${String(sources)}`);
  }
  const entries = Object.entries(sources);
  for (const [key, value] of entries) {
    if (key !== "baseline" && key !== "relaxed") {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `setWasmSource: unknown key ${JSON.stringify(key)}; expected "baseline" or "relaxed"`,
      );
    }
    if (value !== undefined && !isWasmSource(value)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `setWasmSource: ${key} must be a Uint8Array, an ArrayBuffer, a URL or a URL string, got ${Object.prototype.toString.call(value)}`,
      );
    }
  }
  for (const [key, value] of entries) {
    const level = key as SimdLevel;
    if (value === undefined) sourceOverrides.delete(level);
    else sourceOverrides.set(level, value);
    compiled.delete(level);
  }
}

/** The file system's `readFile`, where the runtime has one (Node 20.16+, Deno 2), or undefined. */
function builtinReadFile(): ((url: URL) => Promise<Uint8Array>) | undefined {
  // process.getBuiltinModule is a function call, not an import: a bundler for the browser finds no
  // node: module to resolve, and a page (no process) falls through to fetch.
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.("node:fs/promises") as
    | { readFile(url: URL): Promise<Uint8Array> }
    | undefined;
  return fs === undefined ? undefined : (url) => fs.readFile(url);
}

/**
 * What a relative URL string is relative to: the page or worker's location, as for `fetch`; where
 * there is none (Node, Deno), this file. Not `import.meta.url` alone: webpack replaces it with the
 * build machine's file: URL.
 */
function stringBase(): string {
  return (globalThis as { location?: { href?: string } }).location?.href ?? import.meta.url;
}

async function readSource(source: WasmSource, level: SimdLevel): Promise<ArrayBuffer | Uint8Array> {
  if (source instanceof ArrayBuffer || source instanceof Uint8Array) return source;
  const url = source === undefined ? defaultUrl(level) : new URL(String(source), stringBase());
  if (url.protocol === "file:") {
    const readFile = builtinReadFile();
    if (readFile !== undefined) return new Uint8Array(await readFile(url));
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    const hint =
      url.protocol === "file:"
        ? "; this runtime reads no file: URLs: pass the module's bytes or its http(s) URL with setWasmSource"
        : "";
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `could not fetch prunekit.wasm from ${url.href}: ${(e as Error).message}${hint}`,
      { cause: e },
    );
  }
  if (!response.ok) {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `could not fetch prunekit.wasm from ${url.href}: HTTP ${response.status} (if a bundler did not copy it, serve build/prunekit.wasm and pass its URL to setWasmSource; see docs/bundlers.md)`,
    );
  }
  return await response.arrayBuffer();
}

/** Read and compile the build of `level` (its `setWasmSource` source or default file) once; a failure is not kept. */
function compileDefault(level: SimdLevel): Promise<WebAssembly.Module> {
  let module = compiled.get(level);
  if (module === undefined) {
    const pending = readSource(sourceOverrides.get(level), level).then((bytes) =>
      WebAssembly.compile(bytes as BufferSource),
    );
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
 *   `simd: "relaxed"`, `build/prunekit.relaxed.wasm`) relative to this file, or from where
 *   `setWasmSource` says.
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
    const hint =
      source === undefined && !sourceOverrides.has(level)
        ? ` (run \`npm run build\` to produce build/${file})`
        : "";
    throw new PrunekitError("WASM_LOAD_FAILED", `could not load ${file}: ${(e as Error).message}${hint}`, {
      cause: e,
    });
  }
}

/**
 * Load and instantiate prunekit.wasm once; concurrent and later callers share the same instance.
 * The first call decides the source; later calls ignore theirs.
 *
 * @param source module bytes, a URL, or nothing to load `build/prunekit.wasm` relative to this file
 *   (or from where `setWasmSource` says).
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
