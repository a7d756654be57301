// Downloading Fashion-MNIST and CIFAR-10 from their official locations into a cache folder, with
// checksums, resumption and no half-written files. All I/O is injected (DownloadIo), so the same code
// runs wherever `fetch` exists; src/node/download-files.ts provides the Node implementation.
//
// One file: a cached file whose MD5 matches is used as it is. Otherwise bytes go to `<file>.part`;
// when a .part exists the request carries `Range: bytes=<size>-` and a 206 answer is appended (a 200
// answer means the server ignored the range: the .part is restarted). A cut connection keeps what
// arrived and is retried with a range. Only a .part whose MD5 matches is renamed to `<file>`; one
// that does not match is deleted.
import { PrunekitError } from "../errors.ts";
import type { ProgressCallback, WarningCallback } from "../progress.ts";
import { CIFAR10_FOLDER, cifar10FileNames } from "./cifar10.ts";
import { gunzip } from "./idx.ts";
import { md5Hex } from "./md5.ts";
import { joinDataPath } from "./read-files.ts";
import { readTar } from "./tar.ts";

/** Datasets {@link downloadDataset} knows. */
export type DownloadName = "fashion-mnist" | "cifar10";

/** Every {@link DownloadName}. */
export const DOWNLOAD_NAMES: readonly DownloadName[] = ["fashion-mnist", "cifar10"];

/** Fashion-MNIST's official host (zalandoresearch/fashion-mnist, README "Get the Data"). */
export const FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/** The folder of CIFAR-10's official archive (https://www.cs.toronto.edu/~kriz/cifar.html). */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/";

/** The CIFAR-10 binary-version archive, extracted to `cifar-10-batches-bin/`. */
export const CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz";

/** Environment variable naming the dataset cache folder (used by the Node helpers and the CLI). */
export const DATA_CACHE_DIR_ENV = "PRUNEKIT_DATA_CACHE";

/** One file to fetch: its name at the host and its published MD5. */
export interface DatasetFile {
  readonly file: string;
  readonly md5: string;
}

/**
 * The files of each dataset with their published MD5s: Fashion-MNIST's from the
 * zalandoresearch/fashion-mnist README (also in torchvision's FashionMNIST), CIFAR-10's from the
 * dataset page.
 */
export const DATASET_FILES: Readonly<Record<DownloadName, readonly DatasetFile[]>> = {
  "fashion-mnist": [
    { file: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" },
    { file: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" },
    { file: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" },
    { file: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" },
  ],
  cifar10: [{ file: CIFAR10_ARCHIVE, md5: "c32a1d4ab5d03f1284b67883e8d87530" }],
};

const DEFAULT_URLS: Readonly<Record<DownloadName, string>> = {
  "fashion-mnist": FASHION_MNIST_URL,
  cifar10: CIFAR10_URL,
};

/** File-system and network access used by {@link downloadDataset}. Paths use `/` separators. */
export interface DownloadIo {
  /** The web-standard fetch. */
  fetch: typeof fetch;
  /** A whole file's bytes; rejects if it does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  /** Create or replace a file. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Append to a file, creating it if needed. */
  appendFile(path: string, data: Uint8Array): Promise<void>;
  /** Rename a file, replacing the target. */
  rename(from: string, to: string): Promise<void>;
  /** A file's size in bytes, or undefined if it does not exist. */
  stat(path: string): Promise<number | undefined>;
  /** Create a folder and its parents; no error if it exists. */
  mkdir(path: string): Promise<void>;
  /** Delete a file; no error if it does not exist. */
  remove(path: string): Promise<void>;
}

/** Options of {@link downloadDataset}. */
export interface DownloadOptions {
  /** The cache folder; the dataset goes to `<cacheDir>/<name>/` (see {@link datasetCacheDir}). */
  cacheDir: string;
  /** File-system and network access (`nodeDownloadIo()` from `prunekit/node` in Node and Deno). */
  io: DownloadIo;
  /** Replaces the official URL prefix (a mirror, or a local server in tests). */
  baseUrl?: string;
  /** Replaces published MD5s, by file name (for mirrors of other files, and tests). */
  checksums?: Readonly<Record<string, string>>;
  /** How many times a cut connection or a network error is retried (resuming); default 3. */
  retries?: number;
  /** Progress in bytes, phase `download <file>`; also `extract <archive>` in entries. */
  onProgress?: ProgressCallback;
  /** Non-fatal events: a retry, a server ignoring Range, a cached file with a wrong checksum. */
  onWarning?: WarningCallback;
  /** Cancels the download; the .part file is kept for resuming. */
  signal?: AbortSignal;
}

/** One file of a finished download. */
export interface DownloadedFile {
  /** File name (as at the host). */
  readonly file: string;
  /** Where it is now. */
  readonly path: string;
  /** Where it came from (or would have). */
  readonly url: string;
  /** False if the cached copy was used. */
  readonly fetched: boolean;
}

/** Result of {@link downloadDataset}. */
export interface DownloadResult {
  readonly name: DownloadName;
  /** The folder to load the dataset from (`fashion-mnist:DIR`, `cifar10:DIR`). */
  readonly dir: string;
  readonly files: readonly DownloadedFile[];
}

/**
 * The folder a dataset is cached in: `<cacheDir>/<name>`.
 *
 * @example
 * datasetCacheDir("/home/me/.cache/prunekit/datasets", "cifar10"); // ".../datasets/cifar10"
 */
export function datasetCacheDir(cacheDir: string, name: string): string {
  return joinDataPath(cacheDir, name);
}

/**
 * Download a dataset into `<cacheDir>/<name>/`, verify each file's MD5, and (CIFAR-10) extract the
 * archive to `cifar-10-batches-bin/`. Files already cached with the right checksum are not fetched.
 *
 * @param name `fashion-mnist` (four `.gz` IDX files) or `cifar10` (the binary archive, extracted).
 * @param options cache folder, I/O, URL and checksum overrides, retries, callbacks, abort signal.
 * @returns the dataset folder and, per file, whether it was fetched.
 * @throws PrunekitError `DOWNLOAD_FAILED` (HTTP error, network error after retries, checksum
 *   mismatch; each naming the URL), `ABORTED`, `IO_ERROR` (the cache folder cannot be written),
 *   `DATA_INVALID` (a corrupt archive), `INVALID_ARGUMENT` (unknown name, bad retries).
 * @example
 * const { dir } = await downloadDataset("fashion-mnist", { cacheDir, io: nodeDownloadIo() });
 * const test = await loadImages({ kind: "fashion-mnist", dir }, { split: "test", readFile });
 */
export async function downloadDataset(name: DownloadName, options: DownloadOptions): Promise<DownloadResult> {
  const files = DATASET_FILES[name as DownloadName];
  if (!Object.hasOwn(DATASET_FILES, name) || files === undefined) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `downloadDataset: unknown dataset "${name}"; expected one of ${DOWNLOAD_NAMES.join(", ")}`,
    );
  }
  const retries = options.retries ?? 3;
  if (!(Number.isSafeInteger(retries) && retries >= 0)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `downloadDataset: retries must be an integer >= 0, got ${retries}`,
    );
  }
  const { io } = options;
  const dir = datasetCacheDir(options.cacheDir, name);
  const base = options.baseUrl ?? DEFAULT_URLS[name];
  if (name === "cifar10" && (await cifar10Extracted(dir, io))) {
    const file = files[0]!.file;
    return {
      name,
      dir,
      files: [{ file, path: joinDataPath(dir, file), url: urlOf(base, file), fetched: false }],
    };
  }
  await ioStep(`create the folder ${dir}`, dir, () => io.mkdir(dir));
  const done: DownloadedFile[] = [];
  for (const { file, md5 } of files) {
    const url = urlOf(base, file);
    const path = joinDataPath(dir, file);
    const expected = (options.checksums?.[file] ?? md5).toLowerCase();
    const fetched = await fetchVerified(url, path, expected, retries, options);
    done.push({ file, path, url, fetched });
  }
  if (name === "cifar10") await extractCifar10(done[0]!.path, dir, options);
  return { name, dir, files: done };
}

function urlOf(base: string, file: string): string {
  return base.endsWith("/") ? `${base}${file}` : `${base}/${file}`;
}

/** Every batch file is present: extraction writes each under a temporary name, then renames it. */
async function cifar10Extracted(dir: string, io: DownloadIo): Promise<boolean> {
  const folder = joinDataPath(dir, CIFAR10_FOLDER);
  for (const file of [...cifar10FileNames("train"), ...cifar10FileNames("test")]) {
    const path = joinDataPath(folder, file);
    if ((await ioStep(`check ${path}`, path, () => io.stat(path))) === undefined) return false;
  }
  return true;
}

async function extractCifar10(archive: string, dir: string, options: DownloadOptions): Promise<void> {
  const { io } = options;
  const name = archive.slice(archive.lastIndexOf("/") + 1);
  const gz = await ioStep(`read ${archive}`, archive, () => io.readFile(archive));
  const entries = readTar(await gunzip(gz, archive), name);
  let n = 0;
  for (const entry of entries) {
    throwIfAborted(options.signal, archive);
    const target = joinDataPath(dir, entry.path);
    if (entry.type === "directory") {
      await ioStep(`create the folder ${target}`, target, () => io.mkdir(target));
    } else {
      const parent = target.slice(0, target.lastIndexOf("/"));
      await ioStep(`create the folder ${parent}`, parent, () => io.mkdir(parent));
      const tmp = `${target}.part`;
      await ioStep(`write ${tmp}`, tmp, () => io.writeFile(tmp, entry.data));
      await ioStep(`rename ${tmp}`, target, () => io.rename(tmp, target));
    }
    options.onProgress?.({ phase: `extract ${name}`, done: ++n, total: entries.length });
  }
  const missing: string[] = [];
  for (const file of [...cifar10FileNames("train"), ...cifar10FileNames("test")]) {
    if (!entries.some((e) => e.type === "file" && e.path === `${CIFAR10_FOLDER}/${file}`)) missing.push(file);
  }
  if (missing.length > 0) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${archive}: the archive has no ${CIFAR10_FOLDER}/${missing.join(", ")}; is it the CIFAR-10 binary version?`,
    );
  }
}

/** Fetch `url` into `path` unless a copy with the right MD5 is there; returns whether it fetched. */
async function fetchVerified(
  url: string,
  path: string,
  md5: string,
  retries: number,
  options: DownloadOptions,
): Promise<boolean> {
  const { io } = options;
  const file = path.slice(path.lastIndexOf("/") + 1);
  const size = await ioStep(`check ${path}`, path, () => io.stat(path));
  if (size !== undefined) {
    const found = md5Hex(await ioStep(`read ${path}`, path, () => io.readFile(path)));
    if (found === md5) {
      options.onProgress?.({ phase: `download ${file}`, done: size, total: size });
      return false;
    }
    options.onWarning?.(`${path}: cached file has MD5 ${found}, expected ${md5}; downloading it again`);
    await ioStep(`delete ${path}`, path, () => io.remove(path));
  }
  const part = `${path}.part`;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchIntoPart(url, part, file, options);
      break;
    } catch (e) {
      if (!(e instanceof RetryableError)) throw e;
      if (attempt >= retries) {
        throw new PrunekitError(
          "DOWNLOAD_FAILED",
          `${url}: ${e.message}; gave up after ${attempt + 1} attempts (the partial file ${part} is kept; run the download again to resume)`,
          { cause: e.cause },
        );
      }
      options.onWarning?.(`${url}: ${e.message}; retrying (${attempt + 1} of ${retries}), resuming ${part}`);
    }
  }
  const found = md5Hex(await ioStep(`read ${part}`, part, () => io.readFile(part)));
  if (found !== md5) {
    await ioStep(`delete ${part}`, part, () => io.remove(part));
    throw new PrunekitError(
      "DOWNLOAD_FAILED",
      `${url}: checksum mismatch: the download has MD5 ${found}, expected ${md5}; deleted ${part}. Try again; if it persists, the server or a proxy serves a different file`,
    );
  }
  await ioStep(`rename ${part}`, path, () => io.rename(part, path));
  return true;
}

/** A failure worth another attempt (a network error or cut connection); its message has no URL. */
class RetryableError extends Error {}

/** Bytes collected before one appendFile. */
const FLUSH_BYTES = 1 << 20;

/** One request: resume `part` with a Range request, or restart it; resolves when the body ended. */
async function fetchIntoPart(
  url: string,
  part: string,
  file: string,
  options: DownloadOptions,
): Promise<void> {
  const { io, signal } = options;
  throwIfAborted(signal, url);
  let have = (await ioStep(`check ${part}`, part, () => io.stat(part))) ?? 0;
  let response: Response;
  try {
    response = await io.fetch(url, {
      headers: have > 0 ? { Range: `bytes=${have}-` } : {},
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (cause) {
    throwIfAborted(signal, url, cause);
    throw new RetryableError(`network error (${describe(cause)})`, { cause });
  }
  if (have > 0 && response.status === 416) {
    // Nothing past the end: the .part holds the whole file already (the checksum decides).
    await response.body?.cancel();
    return;
  }
  if (have > 0 && response.status === 206) {
    const range = response.headers.get("content-range") ?? "";
    if (!range.startsWith(`bytes ${have}-`)) {
      await response.body?.cancel();
      await ioStep(`delete ${part}`, part, () => io.remove(part));
      throw new RetryableError(
        `the server answered Range bytes=${have}- with Content-Range "${range}"; restarting`,
      );
    }
  } else if (response.status === 200) {
    if (have > 0) {
      options.onWarning?.(`${url}: the server ignored the Range request; restarting ${part} from byte 0`);
      have = 0;
    }
    await ioStep(`write ${part}`, part, () => io.writeFile(part, new Uint8Array(0)));
  } else {
    await response.body?.cancel();
    const why = `HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new RetryableError(`the server answered ${why}`);
    }
    throw new PrunekitError("DOWNLOAD_FAILED", `${url}: the server answered ${why}; check the URL or mirror`);
  }
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  const total = Number.isFinite(length) ? have + length : 0;
  const body = response.body;
  if (body === null) throw new RetryableError("the response has no body");
  const reader = body.getReader();
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let received = have;
  const flush = async () => {
    if (pendingLen === 0) return;
    const chunk = new Uint8Array(pendingLen);
    let o = 0;
    for (const p of pending) {
      chunk.set(p, o);
      o += p.length;
    }
    pending = [];
    pendingLen = 0;
    await ioStep(`append to ${part}`, part, () => io.appendFile(part, chunk));
  };
  const phase = `download ${file}`;
  options.onProgress?.({ phase, done: received, total });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending.push(value);
      pendingLen += value.length;
      received += value.length;
      if (pendingLen >= FLUSH_BYTES) await flush();
      options.onProgress?.({ phase, done: received, total });
    }
  } catch (cause) {
    await flush();
    throwIfAborted(signal, url, cause, part);
    throw new RetryableError(`connection lost after ${received} bytes (${describe(cause)})`, { cause });
  }
  await flush();
  if (total > 0 && received < total) {
    throw new RetryableError(`connection closed after ${received} of ${total} bytes`);
  }
}

function throwIfAborted(signal: AbortSignal | undefined, url: string, cause?: unknown, part?: string): void {
  if (signal?.aborted !== true) return;
  const kept = part === undefined ? "" : `; ${part} is kept for resuming`;
  throw new PrunekitError("ABORTED", `download of ${url} aborted${kept}`, { cause: cause ?? signal.reason });
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const inner = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e.message}${inner}`;
}

/** Run one I/O step, turning a failure into IO_ERROR naming the path. */
async function ioStep<T>(what: string, path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (cause) {
    if (cause instanceof PrunekitError) throw cause;
    throw new PrunekitError("IO_ERROR", `cannot ${what} (${path}): ${describe(cause)}`, { cause });
  }
}
