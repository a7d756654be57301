import assert from "node:assert/strict";
import { test } from "node:test";
import { loadCifar10 } from "../../src/data/cifar10.ts";
import type { ReadDataFile } from "../../src/data/fashion-mnist.ts";
import { rejectsWith } from "./typed-errors.ts";

const RECORD = 3073;
const BATCH = 10000 * RECORD; // 30 730 000 bytes, the size of every official batch file

/**
 * A batch whose record n has label (n + shift) % 10 and, in channel c (0 R, 1 G, 2 B), pixel
 * (row, col) = (n + 3c + row + col) & 255: the byte at 1 + 1024c + 32row + col of the record.
 */
function batch(shift: number): Uint8Array {
  const out = new Uint8Array(BATCH);
  for (let n = 0; n < 10000; n++) {
    const at = n * RECORD;
    out[at] = (n + shift) % 10;
    for (let c = 0; c < 3; c++) {
      for (let r = 0; r < 32; r++) {
        for (let x = 0; x < 32; x++) out[at + 1 + c * 1024 + r * 32 + x] = (n + 3 * c + r + x) & 255;
      }
    }
  }
  return out;
}

const test0 = batch(0);
const train1 = batch(1);
const train2 = batch(2);

function memory(files: Record<string, Uint8Array>, reads: string[] = []): ReadDataFile {
  return async (path) => {
    reads.push(path);
    const bytes = files[path];
    if (bytes === undefined) throw new Error(`ENOENT: no such file ${path}`);
    return bytes;
  };
}

function pixel(p: Uint8Array | Float32Array, n: number, c: number, r: number, x: number): number {
  return p[((n * 3 + c) * 32 + r) * 32 + x]!;
}

test("test_batch.bin: 10000 RGB images, NCHW with the R, G, B planes of each record", async () => {
  const set = await loadCifar10({ dir: "c10", split: "test" }, memory({ "c10/test_batch.bin": test0 }));
  assert.equal(set.name, "cifar10");
  assert.equal(set.split, "test");
  assert.equal(set.source, "c10");
  assert.deepEqual([set.count, set.channels, set.height, set.width, set.classes], [10000, 3, 32, 32, 10]);
  assert.ok(set.pixels instanceof Uint8Array);
  assert.equal(set.pixels.length, 10000 * 3072);
  assert.deepEqual([...set.labels.subarray(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  for (const [n, c, r, x] of [
    [0, 0, 0, 0],
    [0, 2, 31, 31],
    [7, 1, 5, 9],
    [9999, 2, 0, 31],
  ] as const) {
    assert.equal(
      pixel(set.pixels, n, c, r, x),
      (n + 3 * c + r + x) & 255,
      `image ${n} channel ${c} (${r}, ${x})`,
    );
  }
});

test("train: batches in order; a limit reads only the batch files it needs", async () => {
  const reads: string[] = [];
  const files = {
    "c10/data_batch_1.bin": train1,
    "c10/data_batch_2.bin": train2,
  };
  const set = await loadCifar10({ dir: "c10/", split: "train", limit: 10002 }, memory(files, reads));
  assert.deepEqual(reads, ["c10/data_batch_1.bin", "c10/data_batch_2.bin"]);
  assert.equal(set.count, 10002);
  assert.equal(set.labels[0], 1);
  assert.equal(set.labels[9999], (9999 + 1) % 10);
  assert.equal(set.labels[10000], 2, "image 10000 is record 0 of data_batch_2.bin");
  assert.equal(set.labels[10001], 3);
  assert.equal(pixel(set.pixels, 10001, 1, 2, 3), (1 + 3 + 2 + 3) & 255);
  // The full split needs all five.
  await rejectsWith(
    loadCifar10({ dir: "c10", split: "train" }, memory(files)),
    "IO_ERROR",
    "c10/data_batch_3.bin",
  );
});

test("the folder cifar-10-batches-bin inside the given one is found", async () => {
  const reads: string[] = [];
  const files = { "data/cifar-10-batches-bin/test_batch.bin": test0 };
  const set = await loadCifar10({ dir: "data", split: "test", limit: 3 }, memory(files, reads));
  assert.equal(set.count, 3);
  assert.deepEqual(reads, ["data/test_batch.bin", "data/cifar-10-batches-bin/test_batch.bin"]);
  await rejectsWith(
    loadCifar10({ dir: "nowhere", split: "test" }, memory(files)),
    "IO_ERROR",
    "nowhere/test_batch.bin or nowhere/cifar-10-batches-bin/test_batch.bin",
  );
});

test("DATA_INVALID: a truncated or over-long batch names the file and both byte counts", async () => {
  await rejectsWith(
    loadCifar10({ dir: "c", split: "test" }, memory({ "c/test_batch.bin": test0.subarray(0, BATCH - 1) })),
    "DATA_INVALID",
    "c/test_batch.bin: 30729999 bytes, expected 30730000",
    "truncated",
  );
  await rejectsWith(
    loadCifar10({ dir: "c", split: "test" }, memory({ "c/test_batch.bin": test0.subarray(0, 5 * RECORD) })),
    "DATA_INVALID",
    "15365 bytes, expected 30730000",
    "only 5 whole records",
  );
  const long = new Uint8Array(BATCH + RECORD);
  long.set(test0);
  await rejectsWith(
    loadCifar10({ dir: "c", split: "test", limit: 1 }, memory({ "c/test_batch.bin": long })),
    "DATA_INVALID",
    "30733073 bytes, expected 30730000",
    "too long",
  );
});

test("DATA_INVALID: a label outside 0..9 names the file and the record", async () => {
  const bad = test0.slice();
  bad[4 * RECORD] = 10;
  await rejectsWith(
    loadCifar10({ dir: "c", split: "test" }, memory({ "c/test_batch.bin": bad })),
    "DATA_INVALID",
    "c/test_batch.bin: record 4 has label 10",
  );
  // Records past the limit are not looked at.
  assert.equal(
    (await loadCifar10({ dir: "c", split: "test", limit: 4 }, memory({ "c/test_batch.bin": bad }))).count,
    4,
  );
  await rejectsWith(
    loadCifar10({ dir: "c", split: "test", limit: -2 }, memory({ "c/test_batch.bin": test0 })),
    "INVALID_ARGUMENT",
    "limit",
  );
});
