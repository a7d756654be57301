import assert from "node:assert/strict";
import { test } from "node:test";
import { imagesFromArrays, limitImages } from "../../src/data/images.ts";
import { throwsWith } from "./typed-errors.ts";

test("imagesFromArrays wraps pixels without copying; classes default to max label + 1", () => {
  const pixels = Uint8Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => i);
  const set = imagesFromArrays({ pixels, labels: [4, 0, 2], channels: 2, height: 2, width: 2 });
  assert.equal(set.name, "memory");
  assert.equal(set.source, "memory");
  assert.equal(set.split, "test");
  assert.equal(set.count, 3);
  assert.equal(set.classes, 5);
  assert.equal(set.pixels, pixels);
  assert.ok(set.labels instanceof Int32Array);
  assert.deepEqual([...set.labels], [4, 0, 2]);
  const named = imagesFromArrays({
    pixels: new Float32Array(4),
    labels: Int32Array.of(1),
    channels: 1,
    height: 2,
    width: 2,
    classes: 10,
    name: "mine",
    split: "train",
  });
  assert.equal(named.classes, 10);
  assert.equal(named.name, "mine");
  assert.equal(named.split, "train");
});

test("imagesFromArrays: INVALID_ARGUMENT for sizes, counts, labels and non-finite floats", () => {
  const base = { pixels: new Uint8Array(8), labels: [0, 1], channels: 1, height: 2, width: 2 };
  throwsWith(
    () => imagesFromArrays({ ...base, height: 0 }),
    "INVALID_ARGUMENT",
    "height must be an integer >= 1",
  );
  throwsWith(() => imagesFromArrays({ ...base, width: 2.5 }), "INVALID_ARGUMENT", "width");
  throwsWith(
    () => imagesFromArrays({ ...base, pixels: new Uint8Array(7) }),
    "INVALID_ARGUMENT",
    "2 labels need 2 x 1 x 2 x 2 = 8 pixel values, got 7",
  );
  throwsWith(() => imagesFromArrays({ ...base, labels: [0, -1] }), "INVALID_ARGUMENT", "label 1 is -1");
  throwsWith(() => imagesFromArrays({ ...base, labels: [0.5, 1] }), "INVALID_ARGUMENT", "label 0 is 0.5");
  throwsWith(
    () => imagesFromArrays({ ...base, labels: [3, 1], classes: 3 }),
    "INVALID_ARGUMENT",
    "label 0 is 3, expected a class id in 0..2",
  );
  throwsWith(
    () => imagesFromArrays({ ...base, pixels: Float32Array.of(0, 1, Number.NaN, 0, 0, 0, 0, 0) }),
    "INVALID_ARGUMENT",
    "pixel value 2 (image 0) is NaN",
  );
  throwsWith(
    () => imagesFromArrays({ ...base, pixels: [0, 0, 0, 0, 0, 0, 0, 0] as unknown as Uint8Array }),
    "INVALID_ARGUMENT",
    "Uint8Array",
  );
});

test("limitImages keeps a prefix as views of the same memory", () => {
  const pixels = Uint8Array.from({ length: 4 * 3 }, (_, i) => i);
  const set = imagesFromArrays({ pixels, labels: [1, 2, 3, 0], channels: 3, height: 1, width: 1 });
  const two = limitImages(set, 2);
  assert.equal(two.count, 2);
  assert.deepEqual([...two.pixels], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...two.labels], [1, 2]);
  assert.equal(two.pixels.buffer, pixels.buffer);
  assert.equal(two.classes, 4);
  assert.equal(limitImages(set, 10), set);
  assert.equal(limitImages(set, 0).pixels.length, 0);
  throwsWith(() => limitImages(set, -1), "INVALID_ARGUMENT", "limit must be an integer >= 0, got -1");
});
