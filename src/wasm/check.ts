// Argument checks shared by the kernel wrappers (STYLE.md: validate at the boundaries). A kernel never
// checks anything itself, so every size, length and index a kernel trusts is checked here first.
import { PrunekitError } from "../errors.ts";

/** Throw INVALID_ARGUMENT unless `n` is a non-negative int32. */
export function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected a non-negative integer size, got ${n}`);
  }
}

/** Throw INVALID_ARGUMENT unless `buf` holds exactly `expected` elements. */
export function checkLength(what: string, buf: { length: number }, expected: number): void {
  if (buf.length !== expected) {
    throw new PrunekitError("INVALID_ARGUMENT", `${what}: expected ${expected} elements, got ${buf.length}`);
  }
}

/** Throw INVALID_ARGUMENT unless `buf` holds at least `expected` elements. */
export function checkAtLeast(what: string, buf: { length: number }, expected: number): void {
  if (buf.length < expected) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: expected at least ${expected} elements, got ${buf.length}`,
    );
  }
}

/** Throw INVALID_ARGUMENT unless every entry of `idx` is an integer in [0, n). */
export function checkIndices(what: string, idx: ArrayLike<number>, n: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${what}: index ${v} at position ${i} is outside [0, ${n})`,
      );
    }
  }
}
