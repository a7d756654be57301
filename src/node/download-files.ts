// The Node (and Deno) implementation of DownloadIo: the global fetch and node:fs/promises.
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { DownloadIo } from "../data/download.ts";

/**
 * File-system and network access for downloadDataset, over `node:fs/promises` and the global
 * `fetch`. Errors are passed on as they are; downloadDataset turns them into typed errors naming
 * the path.
 *
 * @param fetchImpl the fetch to use; default the global one.
 * @returns the I/O object.
 * @example
 * await downloadDataset("fashion-mnist", { cacheDir: defaultDataCacheDir(), io: nodeDownloadIo() });
 */
export function nodeDownloadIo(fetchImpl: typeof fetch = globalThis.fetch): DownloadIo {
  return {
    fetch: (input, init) => fetchImpl(input, init),
    readFile: async (path) => {
      const b = await readFile(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    writeFile: (path, data) => writeFile(path, data),
    appendFile: (path, data) => appendFile(path, data),
    rename: (from, to) => rename(from, to),
    stat: async (path) => {
      try {
        const info = await stat(path);
        return info.isFile() ? info.size : undefined;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
    },
    mkdir: async (path) => {
      await mkdir(path, { recursive: true });
    },
    remove: (path) => rm(path, { force: true }),
  };
}
