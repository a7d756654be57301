import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { Md5, md5Hex } from "../../src/data/md5.ts";

const text = (s: string) => new TextEncoder().encode(s);

test("RFC 1321 appendix A.5 test suite", () => {
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  for (const [message, digest] of suite) assert.equal(md5Hex(text(message)), digest, JSON.stringify(message));
});

test("padding edges: lengths 55, 56, 63, 64 and 65 bytes match node:crypto", () => {
  for (const len of [55, 56, 57, 63, 64, 65, 119, 120, 128]) {
    const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 11) & 255);
    assert.equal(md5Hex(bytes), createHash("md5").update(bytes).digest("hex"), `length ${len}`);
  }
});

test("incremental updates at any split points equal the one-shot digest (and node:crypto)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600), { maxLength: 6 }), (bytes, cuts) => {
      const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
      const h = new Md5();
      let from = 0;
      for (const p of [...points, bytes.length]) {
        h.update(bytes.subarray(from, p));
        from = p;
      }
      const expected = createHash("md5").update(bytes).digest("hex");
      assert.equal(h.digestHex(), expected);
      assert.equal(md5Hex(bytes), expected);
    }),
  );
});
