import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  FASHION_MNIST_DEFAULT_DIR,
  FASHION_MNIST_DIR_ENV,
  type ReadDataFile,
} from "../../src/data/fashion-mnist.ts";
import { DATA_SPEC_FORMS, loadImages, parseDataSpec } from "../../src/data/spec.ts";
import { rejectsWith, throwsWith } from "./typed-errors.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url);
const slice = (name: string) => new Uint8Array(readFileSync(new URL(name, sliceDir)));
const SLICE_FILES = [
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
];

/** A file system holding the slice's four files in each of `dirs` (plus `extra` files by path). */
function folders(dirs: string[], extra: Record<string, Uint8Array> = {}, reads: string[] = []): ReadDataFile {
  const files: Record<string, Uint8Array> = {};
  for (const d of dirs) for (const f of SLICE_FILES) files[`${d}/${f}`] = slice(f);
  Object.assign(files, extra);
  return async (path) => {
    reads.push(path);
    const bytes = files[path];
    if (bytes === undefined) throw new Error(`ENOENT: no such file ${path}`);
    return bytes;
  };
}

test("parseDataSpec: the accepted forms; everything after the first colon is the folder", () => {
  assert.deepEqual(parseDataSpec("fashion-mnist"), { kind: "fashion-mnist" });
  assert.deepEqual(parseDataSpec("fashion-mnist:data/fm"), { kind: "fashion-mnist", dir: "data/fm" });
  assert.deepEqual(parseDataSpec("mnist:/srv/mnist"), { kind: "mnist", dir: "/srv/mnist" });
  assert.deepEqual(parseDataSpec("cifar10:C:\\data\\cifar"), { kind: "cifar10", dir: "C:\\data\\cifar" });
  assert.deepEqual(parseDataSpec("cifar10:http://host:8080/c10/"), {
    kind: "cifar10",
    dir: "http://host:8080/c10/",
  });
  assert.deepEqual(parseDataSpec("mnist"), { kind: "mnist" });
  assert.deepEqual(DATA_SPEC_FORMS, ["fashion-mnist", "fashion-mnist:DIR", "mnist:DIR", "cifar10:DIR"]);
});

test("parseDataSpec: INVALID_ARGUMENT for unknown kinds and empty folders, listing the forms", () => {
  for (const bad of ["imagenet", "cifar100:/x", "C:\\data", "", "Fashion-MNIST", "fashionmnist:x"]) {
    throwsWith(
      () => parseDataSpec(bad),
      "INVALID_ARGUMENT",
      "fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR",
    );
  }
  throwsWith(() => parseDataSpec("mnist:"), "INVALID_ARGUMENT", "names no folder");
});

test("loadImages: an explicit folder; mnist IDX files gzipped or not", async () => {
  const test10 = await loadImages(parseDataSpec("fashion-mnist:fm"), {
    split: "test",
    limit: 10,
    readFile: folders(["fm"]),
  });
  assert.equal(test10.name, "fashion-mnist");
  assert.equal(test10.source, "fm");
  assert.deepEqual(
    [test10.count, test10.channels, test10.height, test10.width, test10.classes],
    [10, 1, 28, 28, 10],
  );
  assert.deepEqual([...test10.labels], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  const plain = {
    "m/train-images-idx3-ubyte": new Uint8Array(gunzipSync(slice("train-images-idx3-ubyte.gz"))),
    "m/train-labels-idx1-ubyte": new Uint8Array(gunzipSync(slice("train-labels-idx1-ubyte.gz"))),
  };
  const mnist = await loadImages(
    { kind: "mnist", dir: "m" },
    { split: "train", readFile: folders([], plain) },
  );
  assert.equal(mnist.name, "mnist");
  assert.equal(mnist.count, 2000);
  assert.ok(mnist.pixels instanceof Uint8Array);
  assert.equal(mnist.pixels.length, 2000 * 784);
});

test("fashion-mnist without a folder: the environment variable, then Debian's folder, then the cache", async () => {
  const env = { [FASHION_MNIST_DIR_ENV]: "envdir" };
  const fromEnv = await loadImages(
    { kind: "fashion-mnist" },
    {
      split: "test",
      limit: 1,
      env,
      readFile: folders(["envdir", FASHION_MNIST_DEFAULT_DIR]),
    },
  );
  assert.equal(fromEnv.source, "envdir");
  const explicit = await loadImages(
    { kind: "fashion-mnist", dir: "given" },
    {
      split: "test",
      limit: 1,
      env,
      readFile: folders(["envdir", "given"]),
    },
  );
  assert.equal(explicit.source, "given");
  const debian = await loadImages(
    { kind: "fashion-mnist" },
    {
      split: "test",
      limit: 1,
      cacheDir: "cache",
      readFile: folders([FASHION_MNIST_DEFAULT_DIR, "cache/fashion-mnist"]),
    },
  );
  assert.equal(debian.source, FASHION_MNIST_DEFAULT_DIR);
  const cached = await loadImages(
    { kind: "fashion-mnist" },
    {
      split: "test",
      limit: 1,
      cacheDir: "cache/",
      readFile: folders(["cache/fashion-mnist"]),
    },
  );
  assert.equal(cached.source, "cache/fashion-mnist");
});

test("a dataset found nowhere: IO_ERROR saying where it looked and how to get it", async () => {
  await rejectsWith(
    loadImages({ kind: "fashion-mnist" }, { split: "train", cacheDir: "cache", readFile: folders([]) }),
    "IO_ERROR",
    `looked in ${FASHION_MNIST_DEFAULT_DIR} (Debian's location: no train-images-idx3-ubyte.gz or train-images-idx3-ubyte); cache/fashion-mnist (download cache`,
    "apt-get install dataset-fashion-mnist",
    "prunekit download fashion-mnist",
    FASHION_MNIST_DIR_ENV,
  );
  // A variable pointing at an empty folder is reported, not silently replaced.
  await rejectsWith(
    loadImages(
      { kind: "fashion-mnist" },
      {
        split: "test",
        env: { [FASHION_MNIST_DIR_ENV]: "typo" },
        readFile: folders([FASHION_MNIST_DEFAULT_DIR]),
      },
    ),
    "IO_ERROR",
    `typo (from ${FASHION_MNIST_DIR_ENV}: no t10k-images-idx3-ubyte.gz`,
  );
  await rejectsWith(
    loadImages({ kind: "mnist" }, { split: "test", readFile: folders([]) }),
    "IO_ERROR",
    "no folder was given and there is no download cache",
    "mnist:DIR",
  );
  await rejectsWith(
    loadImages({ kind: "cifar10", dir: "c" }, { split: "test", readFile: folders([]) }),
    "IO_ERROR",
    "looked in c (given: no test_batch.bin or cifar-10-batches-bin/test_batch.bin)",
    "prunekit download cifar10",
  );
});

test("cifar10 without a folder comes from <cache>/cifar10/cifar-10-batches-bin", async () => {
  const batch = new Uint8Array(10000 * 3073);
  for (let n = 0; n < 10000; n++) batch[n * 3073] = 7;
  const set = await loadImages(
    { kind: "cifar10" },
    {
      split: "test",
      limit: 2,
      cacheDir: "cache",
      readFile: folders([], { "cache/cifar10/cifar-10-batches-bin/test_batch.bin": batch }),
    },
  );
  assert.equal(set.source, "cache/cifar10");
  assert.deepEqual([...set.labels], [7, 7]);
});

test("corrupt files are DATA_INVALID, not 'not found'; labels must be below 10", async () => {
  const raw = new Uint8Array(gunzipSync(slice("t10k-labels-idx1-ubyte.gz")));
  raw[8 + 3] = 10;
  const readFile = folders([FASHION_MNIST_DEFAULT_DIR, "cache/fashion-mnist"], {
    [`${FASHION_MNIST_DEFAULT_DIR}/t10k-labels-idx1-ubyte.gz`]: new Uint8Array(gzipSync(raw)),
  });
  // The Debian folder has a bad label file: reported, even though the cache has good files.
  await rejectsWith(
    loadImages({ kind: "fashion-mnist" }, { split: "test", cacheDir: "cache", readFile }),
    "DATA_INVALID",
    "t10k-labels-idx1-ubyte.gz: label 3 is 10, expected a class id in 0..9",
  );
  await rejectsWith(
    loadImages({ kind: "fashion-mnist", dir: "x" }, { split: "valid" as "test", readFile }),
    "INVALID_ARGUMENT",
    "split",
  );
  await rejectsWith(
    loadImages({ kind: "fashion-mnist", dir: "x" }, { split: "test", limit: 0.5, readFile: folders(["x"]) }),
    "INVALID_ARGUMENT",
    "limit",
  );
});
