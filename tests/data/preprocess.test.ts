import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { loadFashionMnist } from "../../src/data/fashion-mnist.ts";
import { loadIdxImages } from "../../src/data/idx-images.ts";
import { imagesFromArrays } from "../../src/data/images.ts";
import { planPreprocessing, preprocessBatch } from "../../src/data/preprocess.ts";
import { throwsWith } from "./typed-errors.ts";

const fromDisk = async (path: string) => new Uint8Array(readFileSync(path));
const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;

test("a 2x2 byte image padded to 4x4, mean 0.5 std 0.25: hand-computed float32 values", () => {
  // Pixels 0, 51, 102, 255 are 0, 0.2, 0.4, 1 after /255. In float32:
  //   0:   (0 - 0.5)/0.25 = -2 (exact); also every padding pixel.
  //   51:  0.2f = 13421773·2^-26; 0.2f - 0.5 = -20132659·2^-26 needs 25 bits, rounds (tie to even)
  //        to -10066330·2^-25; /0.25 (exact) = -10066330·2^-23.
  //   102: 0.4f = 13421773·2^-25; 0.4f - 0.5 = -3355443·2^-25 (exact); /0.25 = -3355443·2^-23.
  //   255: (1 - 0.5)/0.25 = 2 (exact).
  const images = imagesFromArrays({
    pixels: Uint8Array.of(0, 51, 102, 255),
    labels: [0],
    channels: 1,
    height: 2,
    width: 2,
  });
  const plan = planPreprocessing(images, { channels: 1, height: 4, width: 4 }, { mean: [0.5], std: [0.25] });
  assert.deepEqual([plan.padTop, plan.padLeft, plan.padBottom, plan.padRight], [1, 1, 1, 1]);
  assert.equal(plan.scale, 1 / 255);
  assert.equal(plan.replicateChannels, false);
  const out = new Float32Array(16);
  preprocessBatch(images, plan, 0, 1, out);
  const p = -2;
  const a = -10066330 * 2 ** -23;
  const b = -3355443 * 2 ** -23;
  // biome-ignore format: the 4x4 image
  assert.deepEqual([...out], [
    p, p, p, p,
    p, -2, a, p,
    p, b, 2, p,
    p, p, p, p,
  ]);
});

test("1 channel replicated to 3 with per-channel mean and std; an odd difference pads bottom/right", () => {
  // 2x2 -> 3x3: top 0, left 0, bottom 1, right 1. Pixels 0 and 255 scale to 0 and 1 exactly.
  // mean [0.5, 0, 0.25], std [0.25, 1, 0.5]:
  //   channel 0: 0 -> -2, 1 -> 2;  channel 1: 0 -> 0, 1 -> 1;  channel 2: 0 -> -0.5, 1 -> 1.5.
  const images = imagesFromArrays({
    pixels: Uint8Array.of(0, 255, 255, 0),
    labels: [3],
    channels: 1,
    height: 2,
    width: 2,
  });
  const plan = planPreprocessing(
    images,
    { channels: 3, height: 3, width: 3 },
    { mean: [0.5, 0, 0.25], std: [0.25, 1, 0.5] },
  );
  assert.deepEqual([plan.padTop, plan.padLeft, plan.padBottom, plan.padRight], [0, 0, 1, 1]);
  assert.equal(plan.replicateChannels, true);
  assert.deepEqual(plan.mean, [0.5, 0, 0.25]);
  assert.deepEqual(plan.std, [0.25, 1, 0.5]);
  const out = new Float32Array(27);
  preprocessBatch(images, plan, 0, 1, out);
  // biome-ignore format: three 3x3 planes
  assert.deepEqual([...out], [
    -2, 2, -2,   2, -2, -2,   -2, -2, -2,
    0, 1, 0,     1, 0, 0,     0, 0, 0,
    -0.5, 1.5, -0.5,   1.5, -0.5, -0.5,   -0.5, -0.5, -0.5,
  ]);
});

test("float pixels are used as they are (scale 1); one mean/std value applies to every channel", () => {
  // Two 3-channel 1x1 images; (x - 0.25)/0.5.
  const images = imagesFromArrays({
    pixels: Float32Array.of(0.75, -1, 3, 0.25, 0, 1),
    labels: [0, 1],
    channels: 3,
    height: 1,
    width: 1,
  });
  const plan = planPreprocessing(images, { channels: 3, height: 1, width: 1 }, { mean: [0.25], std: [0.5] });
  assert.equal(plan.scale, 1);
  assert.deepEqual(plan.mean, [0.25, 0.25, 0.25]);
  const out = new Float32Array(6).fill(99);
  preprocessBatch(images, plan, 1, 1, out);
  assert.deepEqual([...out], [0, -0.5, 1.5, 99, 99, 99], "only count·C·H·W values are written");
  preprocessBatch(images, plan, 0, 2, out);
  assert.deepEqual([...out], [1, -2.5, 5.5, 0, -0.5, 1.5]);
  assert.equal(plan.summary, "memory test: 1x1x3, x = (pixel - 0.25)/0.5");
});

test("bytes scale as PyTorch's ToTensor: the slice equals the PyTorch input recorded in lenet300.io.json", async () => {
  const images = await loadIdxImages(
    { name: "fashion-mnist", dir: sliceDir, split: "test", limit: 8 },
    fromDisk,
  );
  const plan = planPreprocessing(images, { channels: 1, height: 28, width: 28 });
  const out = new Float32Array(8 * 784);
  preprocessBatch(images, plan, 0, 8, out);
  const io = JSON.parse(readFileSync(new URL("../fixtures/lenet300.io.json", import.meta.url), "utf8"));
  assert.deepEqual(io.input.shape, [8, 1, 28, 28]);
  assert.deepEqual(out, Float32Array.from(io.input.data as number[]));
});

test("padding and normalisation agree with loadFashionMnist (torchvision Pad, ToTensor, Normalize)", async () => {
  const normalize = { mean: 0.286, std: 0.353 };
  const old = await loadFashionMnist(
    { dir: sliceDir, split: "test", limit: 30, pad: 2, normalize },
    fromDisk,
  );
  const images = await loadIdxImages(
    { name: "fashion-mnist", dir: sliceDir, split: "test", limit: 30 },
    fromDisk,
  );
  const plan = planPreprocessing(
    images,
    { channels: 1, height: 32, width: 32 },
    {
      mean: [normalize.mean],
      std: [normalize.std],
    },
  );
  const out = new Float32Array(30 * 32 * 32);
  preprocessBatch(images, plan, 0, 30, out);
  assert.deepEqual(out, old.images);
  // A batch from the middle equals the same images of the full run.
  const mid = new Float32Array(5 * 32 * 32);
  preprocessBatch(images, plan, 10, 5, mid);
  assert.deepEqual(mid, old.images.subarray(10 * 1024, 15 * 1024));
});

test("summary: one line with the sizes, padding, formula and replication", async () => {
  const images = await loadIdxImages(
    { name: "fashion-mnist", dir: sliceDir, split: "test", limit: 1 },
    fromDisk,
  );
  const plan = planPreprocessing(images, { channels: 3, height: 32, width: 32 });
  assert.equal(
    plan.summary,
    "fashion-mnist test: 28x28x1 -> zero-pad 2,2,2,2 -> 32x32, x = (pixel/255 - 0)/1, channel 1 -> 3 replicated",
  );
  const rgb = imagesFromArrays({ pixels: new Uint8Array(12), labels: [0], channels: 3, height: 2, width: 2 });
  const perChannel = planPreprocessing(
    rgb,
    { channels: 3, height: 2, width: 2 },
    {
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
  );
  assert.equal(
    perChannel.summary,
    "memory test: 2x2x3, x = (pixel/255 - [0.485,0.456,0.406])/[0.229,0.224,0.225]",
  );
});

test("planPreprocessing: typed errors naming the option or the sizes", () => {
  const gray = imagesFromArrays({
    pixels: new Uint8Array(16),
    labels: [0],
    channels: 1,
    height: 4,
    width: 4,
  });
  const rgb = imagesFromArrays({ pixels: new Uint8Array(48), labels: [0], channels: 3, height: 4, width: 4 });
  const input = { channels: 3, height: 4, width: 4 };
  throwsWith(
    () => planPreprocessing(gray, { channels: 1, height: 3, width: 8 }),
    "DATA_INVALID",
    "4x4x1",
    "larger than the model input 3x8x1",
  );
  throwsWith(
    () => planPreprocessing(rgb, { channels: 1, height: 4, width: 4 }),
    "DATA_INVALID",
    "3 channels",
    "has 1",
  );
  const two = imagesFromArrays({ pixels: new Uint8Array(32), labels: [0], channels: 2, height: 4, width: 4 });
  throwsWith(() => planPreprocessing(two, input), "DATA_INVALID", "2 channels", "has 3");
  throwsWith(
    () => planPreprocessing(gray, input, { mean: [0, 0] }),
    "INVALID_ARGUMENT",
    "mean has 2 values, expected 1 (all channels) or 3",
  );
  throwsWith(
    () => planPreprocessing(gray, input, { std: [1, 1, 1, 1] }),
    "INVALID_ARGUMENT",
    "std has 4 values",
  );
  throwsWith(() => planPreprocessing(gray, input, { std: [1, 0, 1] }), "INVALID_ARGUMENT", "std[1] is 0");
  throwsWith(() => planPreprocessing(gray, input, { std: [-1] }), "INVALID_ARGUMENT", "std[0] is -1");
  throwsWith(
    () => planPreprocessing(gray, input, { std: [Number.NaN] }),
    "INVALID_ARGUMENT",
    "std[0] is NaN",
  );
  throwsWith(
    () => planPreprocessing(gray, input, { mean: [Infinity] }),
    "INVALID_ARGUMENT",
    "mean[0] is Infinity",
  );
  throwsWith(
    () => planPreprocessing(gray, { channels: 3, height: 0, width: 4 }),
    "INVALID_ARGUMENT",
    "height must be an integer >= 1",
  );
});

test("preprocessBatch: typed errors for a range outside the set, a short buffer, a plan of other images", () => {
  const gray = imagesFromArrays({
    pixels: new Uint8Array(8),
    labels: [0, 1],
    channels: 1,
    height: 2,
    width: 2,
  });
  const plan = planPreprocessing(gray, { channels: 1, height: 2, width: 2 });
  throwsWith(
    () => preprocessBatch(gray, plan, 1, 2, new Float32Array(8)),
    "INVALID_ARGUMENT",
    "images 1..2",
    "has 2",
  );
  throwsWith(
    () => preprocessBatch(gray, plan, 0, 2, new Float32Array(7)),
    "INVALID_ARGUMENT",
    "out has 7 floats",
  );
  throwsWith(
    () => preprocessBatch(gray, plan, -1, 1, new Float32Array(8)),
    "INVALID_ARGUMENT",
    "start and count",
  );
  const floats = imagesFromArrays({
    pixels: new Float32Array(8),
    labels: [0, 1],
    channels: 1,
    height: 2,
    width: 2,
  });
  throwsWith(
    () => preprocessBatch(floats, plan, 0, 1, new Float32Array(4)),
    "INVALID_ARGUMENT",
    "another size or pixel type",
  );
});
