// MD5 (RFC 1321), incremental, in plain TypeScript: the dataset authors publish MD5 checksums, and
// WebCrypto has no MD5. Used only to verify downloads, never for security.
import { PrunekitError } from "../errors.ts";

/** Per-round shift amounts (RFC 1321 §3.4). */
const S = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
  14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
  21, 6, 10, 15, 21,
];

/** T[i] = floor(2^32 · |sin(i + 1)|) (RFC 1321 §3.4). */
const T = Int32Array.from({ length: 64 }, (_, i) => Math.floor(2 ** 32 * Math.abs(Math.sin(i + 1))) | 0);

/** An incremental MD5 hash: `update` any number of times, then `digestHex` once. */
export class Md5 {
  private a = 0x67452301;
  private b = 0xefcdab89 | 0;
  private c = 0x98badcfe | 0;
  private d = 0x10325476;
  private readonly block = new Uint8Array(64);
  private readonly words = new Int32Array(16);
  private blockLen = 0;
  private totalLen = 0;
  private done = false;

  /** Add bytes to the message. */
  update(bytes: Uint8Array): this {
    if (this.done) throw new PrunekitError("INVALID_ARGUMENT", "Md5.update called after digestHex");
    let i = 0;
    this.totalLen += bytes.length;
    if (this.blockLen > 0) {
      const take = Math.min(64 - this.blockLen, bytes.length);
      this.block.set(bytes.subarray(0, take), this.blockLen);
      this.blockLen += take;
      i = take;
      if (this.blockLen < 64) return this;
      this.compress(this.block, 0);
      this.blockLen = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) this.compress(bytes, i);
    if (i < bytes.length) {
      this.block.set(bytes.subarray(i), 0);
      this.blockLen = bytes.length - i;
    }
    return this;
  }

  /** The 32 lower-case hex digits of the digest (RFC 1321 §3.5: A, B, C, D little-endian). */
  digestHex(): string {
    if (this.done) throw new PrunekitError("INVALID_ARGUMENT", "Md5.digestHex called twice");
    const bitLen = this.totalLen * 8;
    const padLen = this.blockLen < 56 ? 56 - this.blockLen : 120 - this.blockLen;
    const tail = new Uint8Array(padLen + 8);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(padLen, bitLen >>> 0, true);
    view.setUint32(padLen + 4, Math.floor(bitLen / 2 ** 32), true);
    this.update(tail);
    this.done = true;
    let hex = "";
    for (const word of [this.a, this.b, this.c, this.d]) {
      for (let k = 0; k < 4; k++) hex += ((word >>> (8 * k)) & 0xff).toString(16).padStart(2, "0");
    }
    return hex;
  }

  private compress(bytes: Uint8Array, at: number): void {
    const x = this.words;
    for (let j = 0; j < 16; j++) {
      const o = at + 4 * j;
      x[j] = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
    }
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const sum = (a + f + T[i]! + x[g]!) | 0;
      const s = S[i]!;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    this.a = (this.a + a) | 0;
    this.b = (this.b + b) | 0;
    this.c = (this.c + c) | 0;
    this.d = (this.d + d) | 0;
  }
}

/**
 * The MD5 digest of `bytes` as 32 lower-case hex digits.
 *
 * @example
 * md5Hex(new TextEncoder().encode("abc")); // "900150983cd24fb0d6963f7d28e17f72"
 */
export function md5Hex(bytes: Uint8Array): string {
  return new Md5().update(bytes).digestHex();
}
