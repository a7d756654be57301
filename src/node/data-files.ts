// Datasets from disk in Node and Deno: the file reader, the default cache folder, and one call that
// loads a `--data` spec.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { DATA_CACHE_DIR_ENV, type DownloadIo } from "../data/download.ts";
import type { ReadDataFile } from "../data/fashion-mnist.ts";
import type { DataSplit, RawImages } from "../data/images.ts";
import { type DataSpec, loadImages, parseDataSpec } from "../data/spec.ts";
import { nodeDownloadIo } from "./download-files.ts";

/** Everything the data API needs from Node: a file reader, download I/O, the environment, the cache. */
export interface NodeDataIo {
  /** Reads a whole file (errors passed on; the loaders name the path). */
  readFile: ReadDataFile;
  /** For downloadDataset. */
  download: DownloadIo;
  /** `process.env`. */
  env: Record<string, string | undefined>;
  /** {@link defaultDataCacheDir} of that environment. */
  cacheDir: string;
}

/** Reads a whole file with `node:fs/promises`, as a Uint8Array view of the buffer. */
export const nodeReadDataFile: ReadDataFile = async (path) => {
  const b = await readFile(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

/**
 * The dataset cache folder: `$PRUNEKIT_DATA_CACHE` if set, else `$XDG_CACHE_HOME/prunekit/datasets`,
 * else `%LOCALAPPDATA%\prunekit\datasets` on Windows, else `~/.cache/prunekit/datasets`.
 *
 * @param env the environment; default `process.env`.
 * @returns the folder (not created).
 * @example
 * defaultDataCacheDir({ XDG_CACHE_HOME: "/tmp/c" }); // "/tmp/c/prunekit/datasets"
 */
export function defaultDataCacheDir(env: Record<string, string | undefined> = process.env): string {
  const set = (v: string | undefined): v is string => v !== undefined && v !== "";
  const explicit = env[DATA_CACHE_DIR_ENV];
  if (set(explicit)) return explicit;
  const xdg = env.XDG_CACHE_HOME;
  if (set(xdg)) return join(xdg, "prunekit", "datasets");
  const local = env.LOCALAPPDATA;
  if (process.platform === "win32" && set(local)) return join(local, "prunekit", "datasets");
  return join(homedir(), ".cache", "prunekit", "datasets");
}

/**
 * The Node I/O for the data API: file reader, download I/O, `process.env` and the default cache.
 *
 * @example
 * const io = nodeDataIo();
 * await downloadDataset("cifar10", { cacheDir: io.cacheDir, io: io.download });
 */
export function nodeDataIo(): NodeDataIo {
  return {
    readFile: nodeReadDataFile,
    download: nodeDownloadIo(),
    env: process.env,
    cacheDir: defaultDataCacheDir(process.env),
  };
}

/** Options of {@link loadImagesFromDisk}. */
export interface LoadImagesFromDiskOptions {
  /** `test` or `train`. */
  split: DataSplit;
  /** Keep only the first `limit` images. */
  limit?: number;
  /** The download cache; default {@link defaultDataCacheDir}. */
  cacheDir?: string;
  /** The environment; default `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * Load a dataset spec (`fashion-mnist`, `mnist:DIR`, `cifar10:DIR`, ...) from disk.
 *
 * @param spec a spec string (parsed with parseDataSpec) or a parsed spec.
 * @param options split, limit, cache folder, environment.
 * @returns the raw images.
 * @throws PrunekitError as parseDataSpec and loadImages.
 * @example
 * const test = await loadImagesFromDisk("fashion-mnist", { split: "test", limit: 1000 });
 */
export async function loadImagesFromDisk(
  spec: string | DataSpec,
  options: LoadImagesFromDiskOptions,
): Promise<RawImages> {
  const env = options.env ?? process.env;
  return loadImages(typeof spec === "string" ? parseDataSpec(spec) : spec, {
    split: options.split,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    readFile: nodeReadDataFile,
    env,
    cacheDir: options.cacheDir ?? defaultDataCacheDir(env),
  });
}
