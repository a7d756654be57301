import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  FASHION_MNIST_DEFAULT_DIR,
  FASHION_MNIST_DIR_ENV,
  fashionMnistDir,
  type ImageSet,
  loadFashionMnist,
  type ReadDataFile,
} from "../../src/data/fashion-mnist.ts";
import { isPrunekitError } from "../../src/errors.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url);
const TEST_IMAGES = "t10k-images-idx3-ubyte";
const TEST_LABELS = "t10k-labels-idx1-ubyte";

function sliceFile(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, sliceDir)));
}

/** An in-memory folder "mem" holding `files` (name → bytes); anything else is missing. */
function memory(files: Record<string, Uint8Array>): ReadDataFile {
  return async (path) => {
    const name = path.replace(/^mem\//, "");
    const bytes = files[name];
    if (bytes === undefined) throw new Error(`ENOENT: no such file ${path}`);
    return bytes;
  };
}

/** The slice's test split, with the named file (inflated) replaced by `edit(raw)`, gzipped again. */
function editedSlice(name: string, edit: (raw: Uint8Array) => Uint8Array, gzip = true): ReadDataFile {
  const files: Record<string, Uint8Array> = {
    [`${TEST_IMAGES}.gz`]: sliceFile(`${TEST_IMAGES}.gz`),
    [`${TEST_LABELS}.gz`]: sliceFile(`${TEST_LABELS}.gz`),
  };
  const edited = edit(new Uint8Array(gunzipSync(files[`${name}.gz`]!)));
  if (gzip) files[`${name}.gz`] = new Uint8Array(gzipSync(edited));
  else {
    delete files[`${name}.gz`];
    files[name] = edited;
  }
  return memory(files);
}

const fromDisk: ReadDataFile = async (path) => new Uint8Array(readFileSync(path));
const dir = sliceDir.pathname;

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const part of parts) {
      if (typeof part === "string") assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
      else assert.match(e.message, part);
    }
    return true;
  });
}

function header(raw: Uint8Array, offset: number, value: number): Uint8Array {
  const out = raw.slice();
  new DataView(out.buffer).setUint32(offset, value, false);
  return out;
}

test("the shipped slice: 1000 test images, known first labels, pixel/255 equal to the PyTorch input of lenet300.io.json", async () => {
  const set = await loadFashionMnist({ dir, split: "test" }, fromDisk);
  assert.equal(set.count, 1000);
  assert.equal(set.height, 28);
  assert.equal(set.width, 28);
  assert.equal(set.images.length, 1000 * 28 * 28);
  assert.equal(set.labels.length, 1000);
  // Fashion-MNIST's first test labels (ankle boot, pullover, trouser, trouser, shirt, ...).
  assert.deepEqual([...set.labels.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  const io = JSON.parse(readFileSync(new URL("../fixtures/lenet300.io.json", import.meta.url), "utf8"));
  const torchInput = Float32Array.from(io.input.data as number[]);
  assert.deepEqual(io.input.shape, [8, 1, 28, 28]);
  assert.deepEqual(set.images.subarray(0, torchInput.length), torchInput);
  let min = Infinity;
  let max = -Infinity;
  for (const v of set.images) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
});

test("the shipped slice: 2000 training images; limit keeps a prefix", async () => {
  const train = await loadFashionMnist({ dir, split: "train" }, fromDisk);
  assert.equal(train.count, 2000);
  const first = await loadFashionMnist({ dir: `${dir}/`, split: "train", limit: 10 }, fromDisk);
  assert.equal(first.count, 10);
  assert.deepEqual(first.labels, train.labels.subarray(0, 10));
  assert.deepEqual(first.images, train.images.subarray(0, 10 * 784));
  const all = await loadFashionMnist({ dir, split: "train", limit: 5000 }, fromDisk);
  assert.equal(all.count, 2000, "limit above the file's count keeps everything");
  assert.equal((await loadFashionMnist({ dir, split: "test", limit: 0 }, fromDisk)).count, 0);
});

test("uncompressed IDX files (gzip is detected by magic bytes, not by name) load identically", async () => {
  const plain = memory({
    [TEST_IMAGES]: new Uint8Array(gunzipSync(sliceFile(`${TEST_IMAGES}.gz`))),
    [TEST_LABELS]: new Uint8Array(gunzipSync(sliceFile(`${TEST_LABELS}.gz`))),
  });
  const a = await loadFashionMnist({ dir: "mem", split: "test", limit: 50 }, plain);
  const b = await loadFashionMnist({ dir, split: "test", limit: 50 }, fromDisk);
  assert.deepEqual(a, b);
  // A plain file behind a .gz name is still read as plain IDX.
  const misnamed = memory({
    [`${TEST_IMAGES}.gz`]: new Uint8Array(gunzipSync(sliceFile(`${TEST_IMAGES}.gz`))),
    [`${TEST_LABELS}.gz`]: sliceFile(`${TEST_LABELS}.gz`),
  });
  assert.deepEqual(await loadFashionMnist({ dir: "mem", split: "test", limit: 50 }, misnamed), b);
});

test("DATA_INVALID: bad magic number, value type or number of dimensions names the file", async () => {
  const opts = { dir: "mem", split: "test" } as const;
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_IMAGES, (r) => header(r, 0, 0x01000803)),
    ),
    "DATA_INVALID",
    TEST_IMAGES,
    "magic number",
  );
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, (r) => header(r, 0, 0x00000d01)),
    ),
    "DATA_INVALID",
    TEST_LABELS,
    "0x0d",
    "unsigned byte",
  );
  // A labels file swapped for an images file: 3 dimensions where 1 is expected.
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, () => new Uint8Array(gunzipSync(sliceFile(`${TEST_IMAGES}.gz`)))),
    ),
    "DATA_INVALID",
    TEST_LABELS,
    "3 dimensions, expected 1",
  );
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, () => Uint8Array.of(0, 0)),
    ),
    "DATA_INVALID",
    TEST_LABELS,
    "at least 4 bytes",
  );
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_IMAGES, () => Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1)),
    ),
    "DATA_INVALID",
    TEST_IMAGES,
    "needs 16 bytes",
  );
});

test("DATA_INVALID: truncated or over-long data, corrupt or truncated gzip", async () => {
  const opts = { dir: "mem", split: "test" } as const;
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_IMAGES, (r) => r.subarray(0, r.length - 100)),
    ),
    "DATA_INVALID",
    `${TEST_IMAGES}.gz`,
    "truncated",
    "1000 x 28 x 28 = 784000",
  );
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, (r) => Uint8Array.of(...r, 1, 2, 3), false),
    ),
    "DATA_INVALID",
    TEST_LABELS,
    "3 extra",
  );
  // A header claiming 2^32 − 1 images must fail on the length check, never allocate.
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_IMAGES, (r) => header(r, 4, 0xffffffff)),
    ),
    "DATA_INVALID",
    "truncated",
    "4294967295 x 28 x 28",
  );
  const gz = sliceFile(`${TEST_LABELS}.gz`);
  const truncatedGz = memory({
    [`${TEST_IMAGES}.gz`]: sliceFile(`${TEST_IMAGES}.gz`),
    [`${TEST_LABELS}.gz`]: gz.subarray(0, gz.length - 30),
  });
  await rejectsWith(loadFashionMnist(opts, truncatedGz), "DATA_INVALID", `${TEST_LABELS}.gz`, "gzip");
  const corruptGz = gz.slice();
  for (let i = 20; i < 60; i++) corruptGz[i] = 0xff;
  const corrupt = memory({
    [`${TEST_IMAGES}.gz`]: sliceFile(`${TEST_IMAGES}.gz`),
    [`${TEST_LABELS}.gz`]: corruptGz,
  });
  await rejectsWith(loadFashionMnist(opts, corrupt), "DATA_INVALID", `${TEST_LABELS}.gz`, "gzip");
});

test("DATA_INVALID: images and labels disagree, images not 28x28, a label outside 0..9", async () => {
  const opts = { dir: "mem", split: "test" } as const;
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, (r) => header(r, 4, 999).subarray(0, r.length - 1)),
    ),
    "DATA_INVALID",
    "999 labels",
    "1000 images",
  );
  // 1000 x 28 x 28 bytes re-described as 1000 x 56 x 14.
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_IMAGES, (r) => header(header(r, 8, 56), 12, 14)),
    ),
    "DATA_INVALID",
    "56x14",
    "expected 28x28",
  );
  await rejectsWith(
    loadFashionMnist(
      opts,
      editedSlice(TEST_LABELS, (r) => {
        const out = r.slice();
        out[8 + 7] = 10;
        return out;
      }),
    ),
    "DATA_INVALID",
    "label 7 is 10",
  );
});

test("IO_ERROR for a missing folder names both file names tried and the override", async () => {
  await rejectsWith(
    loadFashionMnist({ dir: "mem", split: "train" }, memory({})),
    "IO_ERROR",
    "mem/train-images-idx3-ubyte.gz or mem/train-images-idx3-ubyte",
    FASHION_MNIST_DIR_ENV,
  );
});

test("INVALID_ARGUMENT for bad options", async () => {
  const bad = [
    { split: "valid" },
    { split: "test", limit: -1 },
    { split: "test", limit: 1.5 },
    { split: "test", pad: -2 },
    { split: "test", normalize: { mean: 0, std: 0 } },
  ];
  for (const o of bad) {
    await rejectsWith(
      loadFashionMnist({ dir, ...o } as unknown as Parameters<typeof loadFashionMnist>[0], fromDisk),
      "INVALID_ARGUMENT",
    );
  }
});

function pixel(set: ImageSet, n: number, r: number, c: number): number {
  return set.images[(n * set.height + r) * set.width + c]!;
}

test("padding geometry: pad 2 gives 32x32 with a zero border and the image shifted by (2, 2)", async () => {
  const plain = await loadFashionMnist({ dir, split: "test", limit: 20 }, fromDisk);
  const padded = await loadFashionMnist({ dir, split: "test", limit: 20, pad: 2 }, fromDisk);
  assert.equal(padded.height, 32);
  assert.equal(padded.width, 32);
  assert.equal(padded.images.length, 20 * 32 * 32);
  assert.deepEqual(padded.labels, plain.labels);
  for (let n = 0; n < 20; n++) {
    for (let r = 0; r < 32; r++) {
      for (let c = 0; c < 32; c++) {
        const inside = r >= 2 && r < 30 && c >= 2 && c < 30;
        const expected = inside ? pixel(plain, n, r - 2, c - 2) : 0;
        assert.equal(pixel(padded, n, r, c), expected, `image ${n} (${r}, ${c})`);
      }
    }
  }
});

test("normalisation follows torchvision (Pad, ToTensor, Normalize): border (0 − mean)/std, float32 steps", async () => {
  const plain = await loadFashionMnist({ dir, split: "test", limit: 5 }, fromDisk);
  const normalize = { mean: 0.286, std: 0.353 };
  const set = await loadFashionMnist({ dir, split: "test", limit: 5, pad: 2, normalize }, fromDisk);
  const mean = Math.fround(normalize.mean);
  const std = Math.fround(normalize.std);
  assert.equal(pixel(set, 0, 0, 0), Math.fround(-mean / std));
  assert.equal(pixel(set, 4, 31, 31), Math.fround(-mean / std));
  for (let n = 0; n < 5; n++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        const x = pixel(plain, n, r, c);
        assert.equal(pixel(set, n, r + 2, c + 2), Math.fround(Math.fround(x - mean) / std));
      }
    }
  }
});

test("fashionMnistDir: explicit folder, then the environment variable, then Debian's location", () => {
  assert.equal(fashionMnistDir({}, "data/x"), "data/x");
  assert.equal(fashionMnistDir({ [FASHION_MNIST_DIR_ENV]: "env/dir" }, "data/x"), "data/x");
  assert.equal(fashionMnistDir({ [FASHION_MNIST_DIR_ENV]: "env/dir" }), "env/dir");
  assert.equal(fashionMnistDir({ [FASHION_MNIST_DIR_ENV]: "" }), FASHION_MNIST_DEFAULT_DIR);
  assert.equal(fashionMnistDir({}), FASHION_MNIST_DEFAULT_DIR);
});
