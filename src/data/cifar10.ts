// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"): five
// training batches `data_batch_1.bin` .. `data_batch_5.bin` and `test_batch.bin`, each 10000 records of
//   1 byte label (0..9) | 1024 bytes red | 1024 bytes green | 1024 bytes blue
// where each plane is 32x32 row-major. A record's 3072 pixel bytes are therefore already one image in
// CHW order, and consecutive records are NCHW: they are copied, not rearranged.
import { PrunekitError } from "../errors.ts";
import type { ReadDataFile } from "./fashion-mnist.ts";
import type { DataSplit, RawImages } from "./images.ts";
import { type FoundFile, joinDataPath, readFirst } from "./read-files.ts";

/** The folder the official archive extracts to; accepted inside the folder given to {@link loadCifar10}. */
export const CIFAR10_FOLDER = "cifar-10-batches-bin";

/** Side of a CIFAR-10 image in pixels. */
export const CIFAR10_SIZE = 32;

/** Colour channels (R, G, B planes). */
export const CIFAR10_CHANNELS = 3;

/** Number of classes (labels 0..9). */
export const CIFAR10_CLASSES = 10;

/** Images per batch file. */
export const CIFAR10_BATCH_RECORDS = 10000;

/** Bytes per record: one label byte, then 3 x 32 x 32 pixel bytes. */
export const CIFAR10_RECORD_BYTES: number = 1 + CIFAR10_CHANNELS * CIFAR10_SIZE * CIFAR10_SIZE;

const IMAGE_BYTES = CIFAR10_CHANNELS * CIFAR10_SIZE * CIFAR10_SIZE;
const BATCH_BYTES = CIFAR10_BATCH_RECORDS * CIFAR10_RECORD_BYTES;

/** Options of {@link loadCifar10}. */
export interface Cifar10Options {
  /** Folder (or URL prefix) holding the `.bin` files, or holding `cifar-10-batches-bin/` with them. */
  dir: string;
  /** `test` (`test_batch.bin`, 10000 images) or `train` (`data_batch_1..5.bin`, 50000). */
  split: DataSplit;
  /** Keep only the first `limit` images (an integer ≥ 0); only the batch files needed are read. */
  limit?: number;
}

/** The batch file names of a split, in order. */
export function cifar10FileNames(split: DataSplit): string[] {
  return split === "test" ? ["test_batch.bin"] : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
}

/**
 * Load one split of CIFAR-10 (binary version) as raw bytes, 3 x 32 x 32 per image (R, G, B planes).
 *
 * @param options folder, split, limit.
 * @param readFile reads a file's bytes.
 * @returns the images (Uint8Array pixels, NCHW) and labels, 10 classes.
 * @throws PrunekitError `IO_ERROR` if a batch file cannot be read (naming the paths tried),
 *   `DATA_INVALID` if a file is not exactly 10000 records of 3073 bytes (naming the byte counts) or a
 *   label is ≥ 10, `INVALID_ARGUMENT` for a bad limit.
 * @example
 * const test = await loadCifar10({ dir: "data/cifar10", split: "test", limit: 1000 }, readFile);
 * test.pixels.length; // 1000 * 3 * 32 * 32
 */
export async function loadCifar10(options: Cifar10Options, readFile: ReadDataFile): Promise<RawImages> {
  const { dir, split, limit } = options;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new PrunekitError("INVALID_ARGUMENT", `cifar10: limit must be an integer >= 0, got ${limit}`);
  }
  const names = cifar10FileNames(split);
  const total = names.length * CIFAR10_BATCH_RECORDS;
  const count = limit === undefined ? total : Math.min(limit, total);
  // Read at least one file, so that a wrong folder fails even with limit 0.
  const batches = Math.max(1, Math.ceil(count / CIFAR10_BATCH_RECORDS));
  const what = `CIFAR-10 ${split} batch`;
  const first = await readFirst(
    [joinDataPath(dir, names[0]!), joinDataPath(joinDataPath(dir, CIFAR10_FOLDER), names[0]!)],
    readFile,
    what,
  );
  const folder = first.path.slice(0, first.path.length - names[0]!.length);
  const pixels = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  for (let b = 0; b < batches; b++) {
    const file: FoundFile = b === 0 ? first : await readFirst([`${folder}${names[b]!}`], readFile, what);
    checkBatchSize(file);
    const begin = b * CIFAR10_BATCH_RECORDS;
    const end = Math.min(count, begin + CIFAR10_BATCH_RECORDS);
    const bytes = file.bytes;
    for (let n = begin; n < end; n++) {
      const at = (n - begin) * CIFAR10_RECORD_BYTES;
      const label = bytes[at]!;
      if (label >= CIFAR10_CLASSES) {
        throw new PrunekitError(
          "DATA_INVALID",
          `${file.path}: record ${n - begin} has label ${label}, expected a class id in 0..${CIFAR10_CLASSES - 1}`,
        );
      }
      labels[n] = label;
      pixels.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), n * IMAGE_BYTES);
    }
  }
  return {
    name: "cifar10",
    split,
    source: dir,
    count,
    channels: CIFAR10_CHANNELS,
    height: CIFAR10_SIZE,
    width: CIFAR10_SIZE,
    pixels,
    labels,
    classes: CIFAR10_CLASSES,
  };
}

function checkBatchSize(file: FoundFile): void {
  const found = file.bytes.length;
  if (found === BATCH_BYTES) return;
  const records = `${CIFAR10_BATCH_RECORDS} records of ${CIFAR10_RECORD_BYTES} bytes (1 label byte + ${IMAGE_BYTES} pixel bytes)`;
  const why =
    found < BATCH_BYTES
      ? found % CIFAR10_RECORD_BYTES === 0
        ? `only ${found / CIFAR10_RECORD_BYTES} whole records; the file is truncated`
        : "the file is truncated"
      : "the file is too long; is it a CIFAR-10 binary batch (not the Python or CIFAR-100 version)?";
  throw new PrunekitError(
    "DATA_INVALID",
    `${file.path}: ${found} bytes, expected ${BATCH_BYTES} (${records}); ${why}; re-download or re-extract cifar-10-binary.tar.gz`,
  );
}
