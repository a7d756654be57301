// `--data` specs (`fashion-mnist`, `fashion-mnist:DIR`, `mnist:DIR`, `cifar10:DIR`) and loading the
// dataset one names, finding Fashion-MNIST by itself when no folder is given.
import { PrunekitError } from "../errors.ts";
import { loadCifar10 } from "./cifar10.ts";
import { FASHION_MNIST_DEFAULT_DIR, FASHION_MNIST_DIR_ENV, type ReadDataFile } from "./fashion-mnist.ts";
import { loadIdxImages } from "./idx-images.ts";
import type { DataSplit, RawImages } from "./images.ts";
import { FilesNotFound, joinDataPath } from "./read-files.ts";

/** The datasets a spec can name. */
export type DataKind = "fashion-mnist" | "mnist" | "cifar10";

/** A parsed `--data` spec. */
export interface DataSpec {
  kind: DataKind;
  /** The folder (or URL prefix); absent means "find it" (see {@link loadImages}). */
  dir?: string;
}

/** The accepted spec forms, for messages and help texts. */
export const DATA_SPEC_FORMS: readonly string[] = [
  "fashion-mnist",
  "fashion-mnist:DIR",
  "mnist:DIR",
  "cifar10:DIR",
];

const KINDS: readonly DataKind[] = ["fashion-mnist", "mnist", "cifar10"];

/**
 * Parse a dataset spec: a kind, optionally followed by `:` and a folder. Everything after the first
 * colon is the folder, so `cifar10:C:\data\cifar` names `C:\data\cifar`.
 *
 * @param text e.g. `fashion-mnist`, `mnist:data/mnist`, `cifar10:/data/cifar-10-batches-bin`.
 * @returns the kind and the folder if one was given.
 * @throws PrunekitError `INVALID_ARGUMENT` for an unknown kind or an empty folder, listing the forms.
 * @example
 * parseDataSpec("cifar10:data/cifar"); // { kind: "cifar10", dir: "data/cifar" }
 */
export function parseDataSpec(text: string): DataSpec {
  const colon = text.indexOf(":");
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  const forms = DATA_SPEC_FORMS.join(", ");
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `unknown dataset "${text}": expected ${forms} (mnist and cifar10 need a DIR unless downloaded to the cache)`,
    );
  }
  if (colon < 0) return { kind: kind as DataKind };
  const dir = text.slice(colon + 1);
  if (dir.trim() === "") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `dataset "${text}" names no folder after ":"; expected ${forms}`,
    );
  }
  return { kind: kind as DataKind, dir };
}

/** Options of {@link loadImages}. */
export interface LoadImagesOptions {
  /** `test` or `train`. */
  split: DataSplit;
  /** Keep only the first `limit` images (an integer ≥ 0). */
  limit?: number;
  /** Reads a file's bytes. */
  readFile: ReadDataFile;
  /** The environment, for {@link FASHION_MNIST_DIR_ENV} (e.g. `process.env`); default none. */
  env?: Record<string, string | undefined>;
  /** The download cache folder (see downloadDataset), searched when no folder is given. */
  cacheDir?: string;
}

/**
 * Load the images a spec names. With a folder, that folder is used. Without one:
 * - `fashion-mnist`: the {@link FASHION_MNIST_DIR_ENV} variable if set (used as if given explicitly),
 *   else the first of Debian's {@link FASHION_MNIST_DEFAULT_DIR} and `<cacheDir>/fashion-mnist`
 *   that holds the files;
 * - `mnist`, `cifar10`: `<cacheDir>/<kind>`.
 * Fashion-MNIST and MNIST are IDX files (gzipped or not); CIFAR-10 is the binary version.
 *
 * @param spec from {@link parseDataSpec}.
 * @param options split, limit, file reader, environment, cache folder.
 * @returns the raw images (bytes) and labels (< 10).
 * @throws PrunekitError `IO_ERROR` if the dataset is not found (saying where it looked and how to get
 *   it), `DATA_INVALID` for corrupt files, `INVALID_ARGUMENT` for bad options.
 * @example
 * const test = await loadImages(parseDataSpec("fashion-mnist"), { split: "test", readFile, env: process.env });
 */
export async function loadImages(spec: DataSpec, options: LoadImagesOptions): Promise<RawImages> {
  const { split, limit, readFile, env = {}, cacheDir } = options;
  if (split !== "test" && split !== "train") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadImages: split must be "test" or "train", got ${String(split)}`,
    );
  }
  if (!KINDS.includes(spec.kind)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadImages: unknown dataset kind "${spec.kind}"; expected one of ${KINDS.join(", ")}`,
    );
  }
  const load = (dir: string) =>
    spec.kind === "cifar10"
      ? loadCifar10({ dir, split, ...(limit === undefined ? {} : { limit }) }, readFile)
      : loadIdxImages({ name: spec.kind, dir, split, ...(limit === undefined ? {} : { limit }) }, readFile);
  const fromEnv = spec.kind === "fashion-mnist" ? env[FASHION_MNIST_DIR_ENV] : undefined;
  const chosen =
    spec.dir !== undefined && spec.dir !== ""
      ? { dir: spec.dir, why: "given" }
      : fromEnv !== undefined && fromEnv !== ""
        ? { dir: fromEnv, why: `from ${FASHION_MNIST_DIR_ENV}` }
        : undefined;
  const candidates =
    chosen !== undefined
      ? [chosen]
      : [
          ...(spec.kind === "fashion-mnist"
            ? [{ dir: FASHION_MNIST_DEFAULT_DIR, why: "Debian's location" }]
            : []),
          ...(cacheDir === undefined
            ? []
            : [{ dir: joinDataPath(cacheDir, spec.kind), why: "download cache" }]),
        ];
  const looked: string[] = [];
  let first: FilesNotFound | undefined;
  for (const { dir, why } of candidates) {
    try {
      return await load(dir);
    } catch (e) {
      if (!(e instanceof FilesNotFound)) throw e;
      first ??= e;
      const names = e.tried.map((p) => (p.startsWith(dir) ? p.slice(dir.length).replace(/^[/\\]/, "") : p));
      looked.push(`${dir} (${why}: no ${names.join(" or ")})`);
    }
  }
  const where =
    looked.length === 0
      ? "no folder was given and there is no download cache"
      : `looked in ${looked.join("; ")}`;
  throw new PrunekitError(
    "IO_ERROR",
    `${spec.kind} ${split} images not found: ${where}. ${howToGet(spec.kind)}`,
    first === undefined ? {} : { cause: first },
  );
}

function howToGet(kind: DataKind): string {
  switch (kind) {
    case "fashion-mnist":
      return `Install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist; files in ${FASHION_MNIST_DEFAULT_DIR}), run \`prunekit download fashion-mnist\`, or give a folder of the four IDX files: fashion-mnist:DIR or ${FASHION_MNIST_DIR_ENV}=DIR`;
    case "mnist":
      return "Give a folder holding the four MNIST IDX files ({t10k,train}-{images-idx3,labels-idx1}-ubyte, .gz or not): mnist:DIR";
    case "cifar10":
      return "Run `prunekit download cifar10`, or give the folder of the extracted binary version (data_batch_1.bin .. data_batch_5.bin, test_batch.bin, or cifar-10-batches-bin/ holding them): cifar10:DIR";
  }
}
