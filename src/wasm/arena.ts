import { PrunekitError } from "../errors.ts";

/** A region of linear memory holding `length` elements; `ptr` is a byte offset. */
export interface Buf {
  readonly ptr: number;
  readonly length: number;
}

const PAGE_BYTES = 65536;
const ALIGN = 16;
/** The wasm32 address space is 4 GiB; stay below it. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - PAGE_BYTES;

/**
 * A bump allocator over one WebAssembly memory, starting at the module's HEAP_BASE.
 * Every allocation is 16-byte aligned. Memory grows on demand, which detaches old
 * typed-array views: make views on demand with `viewF32` and never keep them across calls.
 */
export class Arena {
  private readonly memory: WebAssembly.Memory;
  private readonly base: number;
  private top: number;

  constructor(memory: WebAssembly.Memory, heapBase: number) {
    this.memory = memory;
    this.base = alignUp(heapBase);
    this.top = this.base;
  }

  /** Bytes currently allocated. */
  get usedBytes(): number {
    return this.top - this.base;
  }

  /** A position to `release` back to. */
  mark(): number {
    return this.top;
  }

  /** Free everything allocated after `mark` (LIFO). */
  release(mark: number): void {
    if (mark < this.base || mark > this.top || mark % ALIGN !== 0) {
      throw new PrunekitError("INVALID_ARGUMENT", `arena.release: mark ${mark} is not a live mark`);
    }
    this.top = mark;
  }

  /** Free everything. */
  reset(): void {
    this.top = this.base;
  }

  /** Allocate `length` float32 elements (contents unspecified). */
  allocF32(length: number): Buf {
    return this.alloc(length, 4);
  }

  /** Allocate `length` float64 elements (contents unspecified). */
  allocF64(length: number): Buf {
    return this.alloc(length, 8);
  }

  /** Allocate `length` int32 elements (contents unspecified). */
  allocI32(length: number): Buf {
    return this.alloc(length, 4);
  }

  /** Allocate and fill with a copy of `data`. */
  copyInF32(data: ArrayLike<number>): Buf {
    const buf = this.allocF32(data.length);
    this.viewF32(buf).set(data);
    return buf;
  }

  /** Allocate and fill with a copy of `data`. */
  copyInF64(data: ArrayLike<number>): Buf {
    const buf = this.allocF64(data.length);
    this.viewF64(buf).set(data);
    return buf;
  }

  /** Allocate and fill with a copy of `data`. */
  copyInI32(data: ArrayLike<number>): Buf {
    const buf = this.allocI32(data.length);
    this.viewI32(buf).set(data);
    return buf;
  }

  /** A fresh view of a float32 buffer; valid until the next allocation or kernel call. */
  viewF32(buf: Buf): Float32Array {
    return new Float32Array(this.memory.buffer, buf.ptr, buf.length);
  }

  /** A fresh view of a float64 buffer; valid until the next allocation or kernel call. */
  viewF64(buf: Buf): Float64Array {
    return new Float64Array(this.memory.buffer, buf.ptr, buf.length);
  }

  /** A fresh view of an int32 buffer; valid until the next allocation or kernel call. */
  viewI32(buf: Buf): Int32Array {
    return new Int32Array(this.memory.buffer, buf.ptr, buf.length);
  }

  private alloc(length: number, elementBytes: number): Buf {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `arena: element count must be a non-negative integer, got ${length}`,
      );
    }
    const bytes = length * elementBytes;
    const ptr = this.top;
    const end = alignUp(ptr + bytes);
    if (end > MAX_BYTES) {
      throw new PrunekitError(
        "OUT_OF_MEMORY",
        `arena: allocating ${bytes} bytes would exceed the 4 GiB WebAssembly address space (in use: ${this.usedBytes} bytes)`,
      );
    }
    this.ensure(end);
    this.top = end;
    return { ptr, length };
  }

  private ensure(endByte: number): void {
    const have = this.memory.buffer.byteLength;
    if (endByte <= have) return;
    const pages = Math.ceil((endByte - have) / PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new PrunekitError(
        "OUT_OF_MEMORY",
        `arena: could not grow WebAssembly memory by ${pages} pages to ${endByte} bytes`,
        { cause: e },
      );
    }
  }
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
