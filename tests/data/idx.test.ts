import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { decodeIdx, isGzip, readIdx } from "../../src/data/idx.ts";
import { isPrunekitError } from "../../src/errors.ts";

// 2 x 3 unsigned bytes: magic 00 00 08 02, sizes 2 and 3, then 6 values.
const small = Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 10, 11, 12, 20, 21, 22);

test("decodeIdx reads sizes big-endian and returns the values without copying", () => {
  const { dims, data } = decodeIdx(small, "small", 2);
  assert.deepEqual(dims, [2, 3]);
  assert.deepEqual([...data], [10, 11, 12, 20, 21, 22]);
  assert.equal(data.buffer, small.buffer);
});

test("decodeIdx honours the view's byteOffset", () => {
  const padded = new Uint8Array(small.length + 5);
  padded.set(small, 5);
  assert.deepEqual(decodeIdx(padded.subarray(5), "small").dims, [2, 3]);
});

test("readIdx inflates gzip data detected by its magic bytes", async () => {
  const gz = new Uint8Array(gzipSync(small));
  assert.ok(isGzip(gz));
  assert.ok(!isGzip(small));
  assert.deepEqual(await readIdx(gz, "small.gz", 2), decodeIdx(small, "small", 2));
  assert.deepEqual(await readIdx(small, "small", 2), decodeIdx(small, "small", 2));
});

test("decodeIdx: every malformed header is DATA_INVALID naming the file", () => {
  const cases: [Uint8Array, string][] = [
    [Uint8Array.of(0, 0, 8), "at least 4 bytes"],
    [Uint8Array.of(0, 1, 8, 1, 0, 0, 0, 0), "magic number"],
    [Uint8Array.of(0, 0, 9, 1, 0, 0, 0, 0), "0x09"],
    [Uint8Array.of(0, 0, 8, 0), "0 dimensions"],
    [Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 1), "needs 12 bytes"],
    [small.subarray(0, small.length - 1), "truncated"],
    [Uint8Array.of(...small, 0), "1 extra"],
  ];
  for (const [bytes, part] of cases) {
    assert.throws(
      () => decodeIdx(bytes, "bad.idx"),
      (e: unknown) =>
        isPrunekitError(e) &&
        e.code === "DATA_INVALID" &&
        e.message.startsWith("bad.idx: ") &&
        e.message.includes(part),
      part,
    );
  }
  assert.throws(() => decodeIdx(small, "small", 1), /2 dimensions, expected 1/);
});
