// Turning stored images into a model's input: zero-pad to the model's size, scale, normalise per
// channel, and feed 1-channel images to an N-channel model by replication. The convention is
// torchvision's `Pad(p)` (on the raw image), `ToTensor()`, `Normalize(mean, std)`, computed in
// float32 exactly as PyTorch does:
//
//   s = fround(pixel / 255)            byte pixels (ToTensor divides by 255; an f64 division rounded
//                                      to f32 equals the f32 division since 53 >= 2*24 + 2)
//   s = fround(pixel)                  float pixels (already scaled; scale 1)
//   x = fround(fround(s - mean[c]) / std[c])
//
// with mean and std rounded to float32 first. Padding happens BEFORE normalising, so a padding pixel
// is x = fround(fround(0 - mean[c]) / std[c]), as in torchvision.
import { PrunekitError } from "../errors.ts";
import type { RawImages } from "./images.ts";

/** Normalisation of {@link planPreprocessing}. */
export interface PreprocessOptions {
  /** One value (all channels) or one per model input channel; default 0. */
  mean?: readonly number[];
  /** One value (all channels) or one per model input channel, each finite and > 0; default 1. */
  std?: readonly number[];
}

/** How a set of images becomes a model's input; made by {@link planPreprocessing}. */
export interface Preprocessing {
  /** The model's input channels. */
  readonly inputChannels: number;
  /** The model's input height. */
  readonly inputHeight: number;
  /** The model's input width. */
  readonly inputWidth: number;
  /** Zero rows added above the image. */
  readonly padTop: number;
  /** Zero columns added left of the image. */
  readonly padLeft: number;
  /** Zero rows added below the image (the extra one when the difference is odd). */
  readonly padBottom: number;
  /** Zero columns added right of the image (the extra one when the difference is odd). */
  readonly padRight: number;
  /** True when 1-channel images feed a model with more channels (the channel is copied). */
  readonly replicateChannels: boolean;
  /** 1/255 for byte pixels, 1 for float pixels (bytes are divided by 255, see the file comment). */
  readonly scale: number;
  /** Per model input channel, as given (rounded to float32 when applied). */
  readonly mean: readonly number[];
  /** Per model input channel, as given (rounded to float32 when applied). */
  readonly std: readonly number[];
  /** The images' channels, height and width this plan was made for. */
  readonly imageChannels: number;
  /** The images' height this plan was made for. */
  readonly imageHeight: number;
  /** The images' width this plan was made for. */
  readonly imageWidth: number;
  /** Whether this plan was made for byte pixels. */
  readonly bytePixels: boolean;
  /** One line for a CLI, e.g. "fashion-mnist test: 28x28x1 -> zero-pad 2,2,2,2 -> 32x32, x = (pixel/255 - 0)/1, channel 1 -> 3 replicated". */
  readonly summary: string;
}

/**
 * Decide how `images` are fed to a model whose input is channels x height x width: zero padding
 * (centred; an odd difference puts the extra pixel at the bottom/right), channel replication
 * (1 -> N), scale and normalisation.
 *
 * @param images the stored images.
 * @param input the model's input size per image (C, H, W).
 * @param options mean and std (one value, or one per model input channel).
 * @returns the plan, with a one-line summary.
 * @throws PrunekitError `DATA_INVALID` if the images are larger than the model input or their channel
 *   count neither equals the model's nor is 1; `INVALID_ARGUMENT` for bad input sizes, a wrong number
 *   of mean/std values, a non-finite mean, or a std that is not finite and > 0.
 * @example
 * const plan = planPreprocessing(test, { channels: 1, height: 32, width: 32 }, { mean: [0.286], std: [0.353] });
 * plan.padTop; // 2
 */
export function planPreprocessing(
  images: RawImages,
  input: { channels: number; height: number; width: number },
  options: PreprocessOptions = {},
): Preprocessing {
  const where = `${images.name} ${images.split}`;
  for (const key of ["channels", "height", "width"] as const) {
    const v = input[key];
    if (!(Number.isSafeInteger(v) && v >= 1)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `planPreprocessing: the model input's ${key} must be an integer >= 1, got ${v}`,
      );
    }
  }
  const { channels, height, width } = input;
  const imageSize = `${images.height}x${images.width}x${images.channels}`;
  const modelSize = `${height}x${width}x${channels}`;
  if (images.height > height || images.width > width) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${where} (${images.source}): images are ${imageSize} (HxWxC), larger than the model input ${modelSize}; prunekit pads smaller images but never crops or resizes`,
    );
  }
  const replicateChannels = images.channels === 1 && channels > 1;
  if (images.channels !== channels && !replicateChannels) {
    throw new PrunekitError(
      "DATA_INVALID",
      `${where} (${images.source}): images have ${images.channels} channels, the model input has ${channels}; expected equal counts, or 1-channel images (replicated)`,
    );
  }
  const mean = perChannel("mean", options.mean, 0, channels);
  const std = perChannel("std", options.std, 1, channels);
  mean.forEach((m, c) => {
    if (!Number.isFinite(m)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `preprocessing option mean[${c}] is ${m}, expected a finite number`,
      );
    }
  });
  std.forEach((s, c) => {
    if (!(Number.isFinite(s) && Math.fround(s) > 0)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `preprocessing option std[${c}] is ${s}, expected a finite number > 0`,
      );
    }
  });
  const padTop = Math.floor((height - images.height) / 2);
  const padLeft = Math.floor((width - images.width) / 2);
  const padBottom = height - images.height - padTop;
  const padRight = width - images.width - padLeft;
  const bytePixels = images.pixels instanceof Uint8Array;
  const list = (v: readonly number[]) => (v.length === 1 ? String(v[0]) : `[${v.join(",")}]`);
  const same = (v: readonly number[]) => v.every((x) => x === v[0]);
  const steps = [`${where}: ${imageSize}`];
  if (padTop + padLeft + padBottom + padRight > 0) {
    steps.push(`zero-pad ${padTop},${padLeft},${padBottom},${padRight} -> ${height}x${width}`);
  }
  let summary = steps.join(" -> ");
  summary += `, x = (${bytePixels ? "pixel/255" : "pixel"} - ${list(same(mean) ? [mean[0]!] : mean)})/${list(same(std) ? [std[0]!] : std)}`;
  if (replicateChannels) summary += `, channel 1 -> ${channels} replicated`;
  return {
    inputChannels: channels,
    inputHeight: height,
    inputWidth: width,
    padTop,
    padLeft,
    padBottom,
    padRight,
    replicateChannels,
    scale: bytePixels ? 1 / 255 : 1,
    mean,
    std,
    imageChannels: images.channels,
    imageHeight: images.height,
    imageWidth: images.width,
    bytePixels,
    summary,
  };
}

function perChannel(
  key: string,
  given: readonly number[] | undefined,
  fallback: number,
  channels: number,
): number[] {
  if (given === undefined) return new Array<number>(channels).fill(fallback);
  if (given.length === 1) return new Array<number>(channels).fill(given[0]!);
  if (given.length !== channels) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `preprocessing option ${key} has ${given.length} values, expected 1 (all channels) or ${channels} (one per model input channel)`,
    );
  }
  return [...given];
}

/**
 * Write images start..start+count−1, preprocessed by `plan`, into `out` as NCHW float32
 * (count x inputChannels x inputHeight x inputWidth values from index 0; the rest of `out` is left
 * as it is, so one buffer serves a short last batch).
 *
 * @param images the images the plan was made for.
 * @param plan from {@link planPreprocessing}.
 * @param start index of the first image.
 * @param count number of images.
 * @param out receives count·C·H·W floats.
 * @throws PrunekitError `INVALID_ARGUMENT` if the range leaves the set, `out` is too short, or the plan
 *   was made for images of another size or pixel type.
 * @example
 * const batch = new Float32Array(64 * 1 * 32 * 32);
 * preprocessBatch(test, plan, 0, 64, batch);
 */
export function preprocessBatch(
  images: RawImages,
  plan: Preprocessing,
  start: number,
  count: number,
  out: Float32Array,
): void {
  const bad = (what: string) =>
    new PrunekitError("INVALID_ARGUMENT", `preprocessBatch (${images.name}): ${what}`);
  if (
    plan.imageChannels !== images.channels ||
    plan.imageHeight !== images.height ||
    plan.imageWidth !== images.width ||
    plan.bytePixels !== images.pixels instanceof Uint8Array
  ) {
    throw bad(
      "the plan was made for images of another size or pixel type; call planPreprocessing for this set",
    );
  }
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0)) {
    throw bad(`start and count must be integers >= 0, got ${start} and ${count}`);
  }
  if (start + count > images.count) {
    throw bad(`images ${start}..${start + count - 1} requested, the set has ${images.count}`);
  }
  const { inputChannels: C, inputHeight: H, inputWidth: W } = plan;
  const { channels: ic, height: ih, width: iw } = images;
  const outLen = count * C * H * W;
  if (out.length < outLen) throw bad(`out has ${out.length} floats, ${count} images need ${outLen}`);
  // Per model channel: the value of a padding pixel, and for bytes a table of the 256 values.
  const pads = new Float32Array(C);
  const tables: Float32Array[] = [];
  for (let c = 0; c < C; c++) {
    const mean = Math.fround(plan.mean[c]!);
    const std = Math.fround(plan.std[c]!);
    pads[c] = Math.fround(0 - mean) / std;
    if (plan.bytePixels) {
      const t = new Float32Array(256);
      for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(v / 255) - mean) / std;
      tables.push(t);
    }
  }
  const src = images.pixels;
  const imageLen = ic * ih * iw;
  for (let n = 0; n < count; n++) {
    const srcImage = (start + n) * imageLen;
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      out.fill(pads[c]!, plane, plane + H * W);
      const srcPlane = srcImage + (plan.replicateChannels ? 0 : c) * ih * iw;
      const table = tables[c];
      const mean = Math.fround(plan.mean[c]!);
      const std = Math.fround(plan.std[c]!);
      for (let r = 0; r < ih; r++) {
        const from = srcPlane + r * iw;
        const to = plane + (r + plan.padTop) * W + plan.padLeft;
        if (table !== undefined) {
          for (let x = 0; x < iw; x++) out[to + x] = table[src[from + x]!]!;
        } else {
          for (let x = 0; x < iw; x++) out[to + x] = Math.fround(Math.fround(src[from + x]!) - mean) / std;
        }
      }
    }
  }
}
