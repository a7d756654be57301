// MNIST-family datasets (Fashion-MNIST, MNIST) as RawImages: the four IDX files of the original
// distribution, `{t10k,train}-{images-idx3,labels-idx1}-ubyte`, each gzipped or not.
import { PrunekitError } from "../errors.ts";
import type { ReadDataFile } from "./fashion-mnist.ts";
import { readIdx } from "./idx.ts";
import type { DataSplit, RawImages } from "./images.ts";
import { joinDataPath, readFirst } from "./read-files.ts";

/** Side of an MNIST-family image in pixels. */
export const IDX_IMAGE_SIZE = 28;

/** Number of classes of the MNIST-family datasets (labels 0..9). */
export const IDX_CLASSES = 10;

/** Options of {@link loadIdxImages}. */
export interface IdxImagesOptions {
  /** Dataset name for messages and `RawImages.name`: `"fashion-mnist"` or `"mnist"`. */
  name: "fashion-mnist" | "mnist";
  /** Folder (or URL prefix) holding the IDX files. */
  dir: string;
  /** `test` (the `t10k-*` files) or `train`. */
  split: DataSplit;
  /** Keep only the first `limit` images (an integer ≥ 0); default all. */
  limit?: number;
}

/** The IDX file names of one split, without `.gz`: images first, then labels. */
export function idxFileNames(split: DataSplit): [images: string, labels: string] {
  const prefix = split === "test" ? "t10k" : "train";
  return [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`];
}

/**
 * Load one split of an MNIST-family dataset as raw bytes (1 x 28 x 28 per image). For each file the
 * name ending in `.gz` is tried first, then the name without it; gzip is detected by magic bytes.
 *
 * @param options dataset name, folder, split, limit.
 * @param readFile reads a file's bytes.
 * @returns the images (Uint8Array pixels) and labels, 10 classes.
 * @throws PrunekitError `IO_ERROR` if a file cannot be read (naming both names tried),
 *   `DATA_INVALID` if a file is corrupt, not 28x28, images and labels disagree, or a label is ≥ 10;
 *   `INVALID_ARGUMENT` for a bad limit.
 * @example
 * const test = await loadIdxImages({ name: "mnist", dir: "data/mnist", split: "test" }, readFile);
 */
export async function loadIdxImages(options: IdxImagesOptions, readFile: ReadDataFile): Promise<RawImages> {
  const { name, dir, split, limit } = options;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new PrunekitError("INVALID_ARGUMENT", `${name}: limit must be an integer >= 0, got ${limit}`);
  }
  const what = `${name} ${split} file`;
  const [imageName, labelName] = idxFileNames(split);
  const candidates = (file: string) => [joinDataPath(dir, `${file}.gz`), joinDataPath(dir, file)];
  const imageFile = await readFirst(candidates(imageName), readFile, what);
  const labelFile = await readFirst(candidates(labelName), readFile, what);
  const images = await readIdx(imageFile.bytes, imageFile.path, 3);
  const labels = await readIdx(labelFile.bytes, labelFile.path, 1);
  const [available, rows, cols] = images.dims as [number, number, number];
  if (rows !== IDX_IMAGE_SIZE || cols !== IDX_IMAGE_SIZE) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${imageFile.path}: images are ${rows}x${cols}, expected ${IDX_IMAGE_SIZE}x${IDX_IMAGE_SIZE} (${name})`,
    );
  }
  if (labels.dims[0] !== available) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${labelFile.path}: ${labels.dims[0]} labels, but ${imageFile.path} has ${available} images; the two files must come from the same split`,
    );
  }
  const count = limit === undefined ? available : Math.min(limit, available);
  const outLabels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label >= IDX_CLASSES) {
      throw new PrunekitError(
        "DATA_INVALID",
        `${labelFile.path}: label ${i} is ${label}, expected a class id in 0..${IDX_CLASSES - 1}`,
      );
    }
    outLabels[i] = label;
  }
  return {
    name,
    split,
    source: dir,
    count,
    channels: 1,
    height: rows,
    width: cols,
    pixels: images.data.subarray(0, count * rows * cols),
    labels: outLabels,
    classes: IDX_CLASSES,
  };
}
