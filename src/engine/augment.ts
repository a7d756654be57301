// Order and augmentation of training images, reproducible from a seed: the shuffled order of an epoch
// and the random shift and flip of every image depend only on (seed, epoch, position), never on what
// ran before, so a run resumed at an epoch boundary sees exactly the images an uninterrupted run would.
//
// Augmentation is the CIFAR recipe's: a random shift of up to ±2 pixels in each direction with zero
// fill (the value a raw pixel 0 takes after normalisation, as torchvision's RandomCrop(pad=2) on the
// raw image) and a horizontal flip with probability 1/2.
import { seededUniform } from "../wasm/seeded-random.ts";

/** Mix a seed with up to two indices into one 32-bit seed (splitmix-style). */
function mix(seed: number, a: number, b = 0): number {
  let h = (seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The image order of one epoch: 0..count−1 shuffled (Fisher–Yates) from (seed, epoch), or in file
 * order when `shuffle` is false.
 * @example
 * epochOrder(5, 0, 1, true); // the same permutation of 0..4 for seed 0, epoch 1, everywhere
 */
export function epochOrder(count: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!shuffle) return order;
  const next = seededUniform(mix(seed, epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Options of {@link augmentImages}. */
export interface AugmentOptions {
  /** Largest shift in pixels per direction; default 2. */
  shift?: number;
  /** Flip horizontally with probability 1/2; default true. */
  flip?: boolean;
}

/**
 * Shift and flip `n` preprocessed images in place (NCHW, `channels`×`height`×`width` each), image i of
 * the batch drawing from (seed, epoch, first + i). Pixels shifted in are `fill[c]` (the normalised
 * zero of channel c).
 */
export function augmentImages(
  x: Float32Array,
  n: number,
  dims: { channels: number; height: number; width: number },
  fill: Float32Array,
  seed: number,
  epoch: number,
  first: number,
  options: AugmentOptions = {},
): void {
  const { channels: C, height: H, width: W } = dims;
  const maxShift = options.shift ?? 2;
  const flip = options.flip ?? true;
  const plane = new Float32Array(H * W);
  for (let i = 0; i < n; i++) {
    const next = seededUniform(mix(seed, epoch, first + i + 0x10000));
    const dy = Math.floor(next() * (2 * maxShift + 1)) - maxShift;
    const dx = Math.floor(next() * (2 * maxShift + 1)) - maxShift;
    const mirror = flip && next() < 0.5;
    if (dy === 0 && dx === 0 && !mirror) continue;
    for (let c = 0; c < C; c++) {
      const base = (i * C + c) * H * W;
      plane.set(x.subarray(base, base + H * W));
      const f = fill[c]!;
      for (let r = 0; r < H; r++) {
        const sr = r + dy;
        for (let col = 0; col < W; col++) {
          const sc0 = mirror ? W - 1 - col : col;
          const sc = sc0 + dx;
          x[base + r * W + col] = sr >= 0 && sr < H && sc >= 0 && sc < W ? plane[sr * W + sc]! : f;
        }
      }
    }
  }
}
