import { instantiate } from "@assemblyscript/loader";
import { PrunekitError } from "../errors.ts";

/** The raw exports of prunekit.wasm (kernels are typed in kernels.ts). */
export interface WasmExports {
  readonly memory: WebAssembly.Memory;
  readonly HEAP_BASE: WebAssembly.Global | number;
  readonly [name: string]: unknown;
}

/** What `loadWasm` accepts: the module's bytes, a URL to fetch, or nothing (find it next to this file). */
export type WasmSource = ArrayBuffer | Uint8Array | URL | string | undefined;

const DEFAULT_URL = "../../build/prunekit.wasm";

let memo: Promise<WasmExports> | undefined;

async function readSource(source: WasmSource): Promise<ArrayBuffer | Uint8Array> {
  if (source instanceof ArrayBuffer || source instanceof Uint8Array) return source;
  const url =
    source === undefined ? new URL(DEFAULT_URL, import.meta.url) : new URL(String(source), import.meta.url);
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

/**
 * Read, compile and instantiate prunekit.wasm, with no memoisation: every call makes a new instance with
 * its own memory. Library code uses `loadWasm`; this exists for tests and for users who need a
 * private instance.
 *
 * @param source module bytes, a URL, or nothing to load `build/prunekit.wasm` relative to this file.
 * @throws PrunekitError `WASM_LOAD_FAILED` if the module cannot be read or instantiated.
 * @example
 * const exports = await instantiateWasm(await readFile("build/prunekit.wasm"));
 */
export async function instantiateWasm(source?: WasmSource): Promise<WasmExports> {
  try {
    const bytes = await readSource(source);
    const module = await WebAssembly.compile(bytes as BufferSource);
    const { exports } = await instantiate<Record<string, unknown>>(module, {});
    return exports as unknown as WasmExports;
  } catch (e) {
    if (e instanceof PrunekitError) throw e;
    const hint = source === undefined ? " (run `npm run build` to produce build/prunekit.wasm)" : "";
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `could not load prunekit.wasm: ${(e as Error).message}${hint}`,
      { cause: e },
    );
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
