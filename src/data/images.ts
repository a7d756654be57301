// A labelled image set as stored (raw bytes or already-scaled floats, NCHW per image), before any
// preprocessing for a particular model. Every dataset loader returns one; so does imagesFromArrays
// for data a library user already holds in memory.
import { PrunekitError } from "../errors.ts";

/** Which half of a dataset. */
export type DataSplit = "test" | "train";

/** Labelled images as stored, before any preprocessing (see planPreprocessing). */
export interface RawImages {
  /** `"fashion-mnist"`, `"mnist"`, `"cifar10"`, or `"memory"` (or the name given to imagesFromArrays). */
  readonly name: string;
  /** The split the images come from. */
  readonly split: DataSplit;
  /** The folder, URL prefix, or `"memory"` the images were read from, for messages. */
  readonly source: string;
  /** Number of images. */
  readonly count: number;
  /** Channels per image (1 for the MNIST family, 3 for CIFAR-10). */
  readonly channels: number;
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
  /**
   * count·channels·height·width values, each image NCHW (channel planes, rows, columns). A
   * Uint8Array holds raw bytes 0..255; a Float32Array holds values already scaled (used as they are).
   */
  readonly pixels: Uint8Array | Float32Array;
  /** count class ids, each in 0..classes−1. */
  readonly labels: Int32Array;
  /** Number of classes: 10 for the bundled datasets; max label + 1 for memory sets unless given. */
  readonly classes: number;
}

/** Argument of {@link imagesFromArrays}. */
export interface ImagesFromArraysInit {
  /** count·channels·height·width values, NCHW per image (bytes 0..255 or already-scaled floats). */
  pixels: Uint8Array | Float32Array;
  /** count class ids, non-negative integers. */
  labels: ArrayLike<number>;
  /** Channels per image (integer ≥ 1). */
  channels: number;
  /** Image height in pixels (integer ≥ 1). */
  height: number;
  /** Image width in pixels (integer ≥ 1). */
  width: number;
  /** Number of classes; default max label + 1. Every label must be below it. */
  classes?: number;
  /** Name used in messages; default `"memory"`. */
  name?: string;
  /** Default `"test"`. */
  split?: DataSplit;
}

/**
 * Wrap images already in memory (say, decoded by the caller) as {@link RawImages}. Nothing is copied
 * except the labels (converted to Int32Array).
 *
 * @param init pixels (NCHW per image), labels, image size, optional class count, name and split.
 * @returns the image set, source `"memory"`.
 * @throws PrunekitError `INVALID_ARGUMENT` if a size is not a positive integer, the pixel count is not
 *   a whole number of images matching the labels, a label is not an integer in 0..classes−1, or a
 *   float pixel is not finite.
 * @example
 * const set = imagesFromArrays({ pixels: new Uint8Array(2 * 4), labels: [0, 1], channels: 1, height: 2, width: 2 });
 * set.count; // 2
 */
export function imagesFromArrays(init: ImagesFromArraysInit): RawImages {
  const { pixels, labels, channels, height, width } = init;
  const name = init.name ?? "memory";
  const split = init.split ?? "test";
  const bad = (what: string) => new PrunekitError("INVALID_ARGUMENT", `imagesFromArrays (${name}): ${what}`);
  if (!(pixels instanceof Uint8Array || pixels instanceof Float32Array)) {
    throw bad("pixels must be a Uint8Array (bytes 0..255) or a Float32Array (already-scaled values)");
  }
  for (const [key, value] of [
    ["channels", channels],
    ["height", height],
    ["width", width],
  ] as const) {
    if (!(Number.isSafeInteger(value) && value >= 1))
      throw bad(`${key} must be an integer >= 1, got ${value}`);
  }
  if (split !== "test" && split !== "train")
    throw bad(`split must be "test" or "train", got ${String(split)}`);
  const imageLen = channels * height * width;
  const count = labels.length;
  if (pixels.length !== count * imageLen) {
    throw bad(
      `${count} labels need ${count} x ${channels} x ${height} x ${width} = ${count * imageLen} pixel values, got ${pixels.length}`,
    );
  }
  let maxLabel = -1;
  const outLabels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels[i]!;
    if (!(Number.isInteger(label) && label >= 0 && label <= 0x7fffffff)) {
      throw bad(`label ${i} is ${label}, expected a non-negative integer class id`);
    }
    outLabels[i] = label;
    if (label > maxLabel) maxLabel = label;
  }
  const classes = init.classes ?? maxLabel + 1;
  if (!(Number.isSafeInteger(classes) && classes >= 1)) {
    throw bad(`classes must be an integer >= 1, got ${init.classes ?? `${classes} (no labels)`}`);
  }
  if (maxLabel >= classes) {
    const at = outLabels.indexOf(maxLabel);
    throw bad(`label ${at} is ${maxLabel}, expected a class id in 0..${classes - 1} (classes: ${classes})`);
  }
  if (pixels instanceof Float32Array) {
    for (let i = 0; i < pixels.length; i++) {
      if (!Number.isFinite(pixels[i]!)) {
        throw bad(
          `pixel value ${i} (image ${Math.floor(i / imageLen)}) is ${pixels[i]}, expected a finite number`,
        );
      }
    }
  }
  return {
    name,
    split,
    source: "memory",
    count,
    channels,
    height,
    width,
    pixels,
    labels: outLabels,
    classes,
  };
}

/**
 * The first `limit` images of a set (all of them if it has fewer), as views of the same memory.
 *
 * @param images the set.
 * @param limit how many images to keep (an integer ≥ 0).
 * @returns a set of min(limit, count) images sharing `images`' buffers.
 * @throws PrunekitError `INVALID_ARGUMENT` if `limit` is not an integer ≥ 0.
 * @example
 * const first100 = limitImages(test, 100);
 */
export function limitImages(images: RawImages, limit: number): RawImages {
  if (!(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `limitImages (${images.name} ${images.split}): limit must be an integer >= 0, got ${limit}`,
    );
  }
  if (limit >= images.count) return images;
  const imageLen = images.channels * images.height * images.width;
  return {
    ...images,
    count: limit,
    pixels: images.pixels.subarray(0, limit * imageLen),
    labels: images.labels.subarray(0, limit),
  };
}
