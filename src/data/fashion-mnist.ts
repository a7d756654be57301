// Fashion-MNIST as model input: the four IDX files of the original distribution turned into NCHW
// float32 batches with the preprocessing a model was trained with. File access is injected, so the
// same code runs in Node, Deno and browsers.
import { PrunekitError } from "../errors.ts";
import { readIdx } from "./idx.ts";

/** Reads one file's bytes: `node:fs/promises` readFile, Deno.readFile, or a `fetch` wrapper. */
export type ReadDataFile = (path: string) => Promise<Uint8Array>;

/** Where Debian's `dataset-fashion-mnist` package installs the files (the CI machines install it). */
export const FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist";

/** Environment variable that overrides {@link FASHION_MNIST_DEFAULT_DIR}. */
export const FASHION_MNIST_DIR_ENV = "PRUNEKIT_FASHION_MNIST_DIR";

/** Side of a Fashion-MNIST image in pixels. */
export const FASHION_MNIST_SIZE = 28;

/** Number of Fashion-MNIST classes (labels are 0..9). */
export const FASHION_MNIST_CLASSES = 10;

/** Which half of the dataset. */
export type FashionMnistSplit = "test" | "train";

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Folder (or URL prefix) holding `{t10k,train}-{images-idx3,labels-idx1}-ubyte[.gz]`. */
  dir: string;
  /** `test` (10 000 images) or `train` (60 000). */
  split: FashionMnistSplit;
  /** Keep only the first `limit` images (a non-negative integer); default all. */
  limit?: number;
  /**
   * Zero pixels added on every side, like torchvision's `Pad(pad)` before `ToTensor()`: 2 turns
   * 28x28 into the 32x32 that LeNet-5-style conv nets are trained on. Default 0.
   */
  pad?: number;
  /**
   * Per-pixel normalisation after scaling to [0, 1] and padding, like torchvision's
   * `Normalize([mean], [std])`: x = (pixel/255 − mean)/std. Padding pixels become (0 − mean)/std,
   * exactly as in torchvision. Default none (x = pixel/255).
   */
  normalize?: { mean: number; std: number };
}

/** Images and labels ready to feed a model with input `[batch, 1, height, width]`. */
export interface ImageSet {
  /** count x 1 x height x width float32, NCHW. */
  images: Float32Array;
  /** count class ids, 0..9. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels (28 + 2·pad). */
  height: number;
  /** Image width in pixels (28 + 2·pad). */
  width: number;
}

/**
 * The Fashion-MNIST folder to use: an explicit choice, else the {@link FASHION_MNIST_DIR_ENV}
 * environment variable, else {@link FASHION_MNIST_DEFAULT_DIR}.
 *
 * @param env the environment (e.g. `process.env`; `{}` in a browser).
 * @param explicit a folder given by the user (a `--data` flag), if any.
 * @returns the folder.
 * @example
 * const dir = fashionMnistDir(process.env, flags.data);
 */
export function fashionMnistDir(env: Record<string, string | undefined>, explicit?: string): string {
  if (explicit !== undefined && explicit !== "") return explicit;
  const fromEnv = env[FASHION_MNIST_DIR_ENV];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : FASHION_MNIST_DEFAULT_DIR;
}

/**
 * Load one split of Fashion-MNIST from the original IDX files (gzipped or not; gzip is detected by
 * its magic bytes) as NCHW float32 with x = pixel/255, optionally padded and normalised.
 * For each file the name ending in `.gz` is tried first, then the name without it.
 *
 * @param options folder, split, limit, padding, normalisation.
 * @param readFile reads a file's bytes (see {@link ReadDataFile}).
 * @returns images (count x 1 x H x W), labels and count.
 * @throws PrunekitError `INVALID_ARGUMENT` for bad options, `IO_ERROR` if a file cannot be read,
 *   `DATA_INVALID` if a file is corrupt, truncated, not 28x28, or images and labels disagree.
 * @example
 * const test = await loadFashionMnist({ dir: "data/fashion-mnist", split: "test", limit: 1000 },
 *   async (p) => new Uint8Array(await readFile(p)));
 * test.images.length; // 1000 * 1 * 28 * 28
 */
export async function loadFashionMnist(
  options: FashionMnistOptions,
  readFile: ReadDataFile,
): Promise<ImageSet> {
  const { dir, split, limit, pad = 0, normalize } = options;
  if (split !== "test" && split !== "train") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadFashionMnist: split must be "test" or "train", got ${String(split)}`,
    );
  }
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadFashionMnist: limit must be an integer >= 0, got ${limit}`,
    );
  }
  if (!(Number.isInteger(pad) && pad >= 0 && pad <= 64)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadFashionMnist: pad must be an integer in [0, 64], got ${pad}`,
    );
  }
  if (
    normalize !== undefined &&
    !(Number.isFinite(normalize.mean) && Number.isFinite(normalize.std) && normalize.std > 0)
  ) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `loadFashionMnist: normalize needs a finite mean and a std > 0, got mean ${normalize.mean}, std ${normalize.std}`,
    );
  }
  const prefix = split === "test" ? "t10k" : "train";
  const imageFile = await readEither(dir, `${prefix}-images-idx3-ubyte`, readFile);
  const labelFile = await readEither(dir, `${prefix}-labels-idx1-ubyte`, readFile);
  const images = await readIdx(imageFile.bytes, imageFile.path, 3);
  const labels = await readIdx(labelFile.bytes, labelFile.path, 1);
  const [available, rows, cols] = images.dims as [number, number, number];
  if (rows !== FASHION_MNIST_SIZE || cols !== FASHION_MNIST_SIZE) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${imageFile.path}: images are ${rows}x${cols}, expected ${FASHION_MNIST_SIZE}x${FASHION_MNIST_SIZE} (Fashion-MNIST)`,
    );
  }
  if (labels.dims[0] !== available) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${labelFile.path}: ${labels.dims[0]} labels, but ${imageFile.path} has ${available} images; the two files must come from the same split`,
    );
  }
  const count = limit === undefined ? available : Math.min(limit, available);
  const outLabels = labels.data.slice(0, count);
  for (let i = 0; i < count; i++) {
    if (outLabels[i]! >= FASHION_MNIST_CLASSES) {
      throw new PrunekitError(
        "DATA_INVALID",
        `${labelFile.path}: label ${i} is ${outLabels[i]}, expected a class id in 0..${FASHION_MNIST_CLASSES - 1}`,
      );
    }
  }
  const height = rows + 2 * pad;
  const width = cols + 2 * pad;
  // One table of the 256 possible values, computed as PyTorch does in float32: ToTensor's pixel/255
  // (f64 division then rounding to f32 equals the f32 division, as 53 >= 2·24 + 2), then Normalize's
  // sub_(mean).div_(std) with each step rounded to f32.
  const mean = Math.fround(normalize?.mean ?? 0);
  const std = Math.fround(normalize?.std ?? 1);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    const x = Math.fround(v / 255);
    lut[v] = normalize === undefined ? x : Math.fround(x - mean) / std;
  }
  const out = new Float32Array(count * height * width);
  if (pad > 0 && lut[0] !== 0) out.fill(lut[0]!);
  const src = images.data;
  for (let n = 0; n < count; n++) {
    for (let r = 0; r < rows; r++) {
      const from = (n * rows + r) * cols;
      const to = (n * height + r + pad) * width + pad;
      for (let c = 0; c < cols; c++) out[to + c] = lut[src[from + c]!]!;
    }
  }
  return { images: out, labels: outLabels, count, height, width };
}

async function readEither(
  dir: string,
  name: string,
  readFile: ReadDataFile,
): Promise<{ path: string; bytes: Uint8Array }> {
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  const tried: string[] = [];
  let first: unknown;
  for (const path of [`${base}${name}.gz`, `${base}${name}`]) {
    try {
      return { path, bytes: await readFile(path) };
    } catch (e) {
      first ??= e;
      tried.push(path);
    }
  }
  const why = first instanceof Error ? first.message : String(first);
  throw new PrunekitError(
    "IO_ERROR",
    `cannot read Fashion-MNIST file ${tried.join(" or ")} (${why}); install Debian's dataset-fashion-mnist, or point ${FASHION_MNIST_DIR_ENV} / --data at a folder with the original IDX files`,
    { cause: first },
  );
}
