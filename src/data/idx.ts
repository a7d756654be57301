// IDX files (the MNIST / Fashion-MNIST container), optionally gzipped. Everything read from the file is
// checked against the bytes present before anything is allocated: a corrupt header can never make us
// allocate gigabytes or read past the end.
//
// Layout (big-endian): 0x00 0x00 <type> <ndims>, then ndims uint32 sizes, then the values row-major.
// Only type 0x08 (unsigned byte) is supported; it is the only type the MNIST-family files use.
import { PrunekitError } from "../errors.ts";

/** A decoded IDX array of unsigned bytes. */
export interface IdxArray {
  /** Sizes from the header, outermost first (e.g. [10000, 28, 28]). */
  dims: number[];
  /** The values, row-major; length is the product of `dims`. */
  data: Uint8Array;
}

/** IDX type byte of unsigned 8-bit values. */
const IDX_UBYTE = 0x08;

/** True if `bytes` start with the gzip magic number 1f 8b (RFC 1952 §2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflate gzip data with the web-standard `DecompressionStream("gzip")` (Node ≥ 18, Deno, browsers).
 *
 * @param bytes a complete gzip member.
 * @param file the file name, used in error messages.
 * @returns the inflated bytes.
 * @throws PrunekitError `DATA_INVALID` if the stream is corrupt or truncated.
 * @example
 * const raw = await gunzip(gzBytes, "t10k-labels-idx1-ubyte.gz");
 */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    const source = new ReadableStream<BufferSource>({
      start(controller) {
        // The DOM typings exclude views of a SharedArrayBuffer; file readers never return one.
        controller.enqueue(bytes as Uint8Array<ArrayBuffer>);
        controller.close();
      },
    });
    const reader = source.pipeThrough(new DecompressionStream("gzip")).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new PrunekitError(
      "DATA_INVALID",
      `${file}: gzip data is corrupt or truncated (${why}); re-download or re-extract the file`,
      { cause },
    );
  }
}

/**
 * Decode an uncompressed IDX file of unsigned bytes, checking the magic number, the number of
 * dimensions and that the data length equals the product of the sizes.
 *
 * @param bytes the whole file, already inflated.
 * @param file the file name, used in error messages.
 * @param expectedDims the number of dimensions required (1 for labels, 3 for images), if any.
 * @returns the sizes and a view of the values (no copy).
 * @throws PrunekitError `DATA_INVALID` naming the file and what is wrong.
 * @example
 * const { dims, data } = decodeIdx(raw, "t10k-labels-idx1-ubyte", 1); // dims [10000]
 */
export function decodeIdx(bytes: Uint8Array, file: string, expectedDims?: number): IdxArray {
  const bad = (what: string) => new PrunekitError("DATA_INVALID", `${file}: ${what}`);
  if (bytes.length < 4) {
    throw bad(`expected an IDX header of at least 4 bytes, found ${bytes.length} bytes`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw bad(
      `not an IDX file: magic number starts with 0x${hex(bytes[0]!)} 0x${hex(bytes[1]!)}, expected 0x00 0x00`,
    );
  }
  const type = bytes[2]!;
  if (type !== IDX_UBYTE) {
    throw bad(`IDX value type 0x${hex(type)} is not supported, expected 0x08 (unsigned byte)`);
  }
  const ndims = bytes[3]!;
  if (expectedDims !== undefined && ndims !== expectedDims) {
    throw bad(`IDX header says ${ndims} dimensions, expected ${expectedDims}`);
  }
  if (ndims === 0) throw bad("IDX header says 0 dimensions, expected at least 1");
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw bad(`the header of ${ndims} dimensions needs ${headerLen} bytes, the file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const present = bytes.length - headerLen;
  if (count !== present) {
    const shape = dims.join(" x ");
    throw bad(
      count > present
        ? `truncated: header says ${shape} = ${count} values, only ${present} bytes follow the header`
        : `header says ${shape} = ${count} values, but ${present} bytes follow the header (${present - count} extra)`,
    );
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/**
 * Decode an IDX file that may be gzipped (detected by its magic bytes, not by its name).
 *
 * @param bytes the file as read from disk or the network.
 * @param file the file name, used in error messages.
 * @param expectedDims the number of dimensions required, if any.
 * @returns the sizes and values.
 * @throws PrunekitError `DATA_INVALID` for corrupt gzip data or a malformed IDX file.
 * @example
 * const labels = await readIdx(await readFile("t10k-labels-idx1-ubyte.gz"), "t10k-labels-idx1-ubyte.gz", 1);
 */
export async function readIdx(bytes: Uint8Array, file: string, expectedDims?: number): Promise<IdxArray> {
  return decodeIdx(isGzip(bytes) ? await gunzip(bytes, file) : bytes, file, expectedDims);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}
