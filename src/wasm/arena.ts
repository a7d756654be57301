import { PrunekitError } from "../errors.ts";

/** A buffer in linear memory holding `length` elements; `ptr` is a byte offset. */
export interface Buf {
  readonly ptr: number;
  readonly length: number;
}

const PAGE_BYTES = 65536;
const ALIGN = 16;
/** The wasm32 address space is 4 GiB; stay below it. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - PAGE_BYTES;

/**
 * A region of an arena, opened by `Arena.mark`. Pass it to `release` exactly once; pass it to the
 * `alloc*` and `copyIn*` methods to allocate into it explicitly (needed after an `await`, see `Arena`).
 */
export interface ArenaMark {
  /** True until the region is released. */
  readonly live: boolean;
}

/** The one implementation of ArenaMark; `owner` tells which arena issued it. */
class Region implements ArenaMark {
  live = true;
  constructor(readonly owner: Arena) {}
}

/** A run of consecutive allocations of one region, from `start` to the next segment (or the top). */
interface Segment {
  readonly region: Region;
  readonly start: number;
}

/** The region of every buffer an arena handed out, to detect use after release (or in another arena). */
const bufRegions = new WeakMap<Buf, Region>();

/**
 * A bump allocator over one WebAssembly memory, starting at the module's HEAP_BASE.
 * Every allocation is 16-byte aligned. Memory grows on demand, which detaches old
 * typed-array views: make views on demand with `viewF32` and never keep them across calls.
 *
 * Allocations belong to regions. `mark()` opens one; an allocation goes into the region it names, or
 * by default into the most recently opened live one (or, with none open, into the arena's root, freed
 * only by `reset`). `release(mark)` ends a region. Memory is reclaimed from the top down, and only
 * past released regions: a region released while a later one is still live (another computation
 * interleaved with it across an `await`) keeps its memory until that one is released too, so a
 * release never frees memory another live region owns. Buffers of a released region are dead at once:
 * views of them and the kernel wrappers refuse them with `ARENA_MISUSE`, as they refuse a mark released
 * twice or a mark or buffer of another arena.
 *
 * Synchronous code needs none of this (`withArena` scopes nest). A computation that holds buffers
 * across `await`s should use its own instance from `createWasm` (it shares the compiled module); on a
 * shared arena it must pass its mark to every allocation made after an `await`, because by then the
 * most recent region may belong to someone else.
 *
 * @example
 * const mark = arena.mark();
 * const weights = arena.copyInF32(data); // before the first await, the default region is ours
 * await nextBatch();
 * const grads = arena.allocF32(data.length, mark); // after it, name the region
 * arena.release(mark); // frees both, now or once every region opened after ours is released
 */
export class Arena {
  private readonly memory: WebAssembly.Memory;
  private readonly base: number;
  private top: number;
  /** Allocations since the base, in address order; released regions are popped off the end. */
  private segments: Segment[] = [];
  /** Regions not yet released, in the order they were opened. */
  private readonly open: Region[] = [];
  /** Owner of allocations made while no region is open; replaced by `reset`. */
  private root: Region = new Region(this);

  constructor(memory: WebAssembly.Memory, heapBase: number) {
    this.memory = memory;
    this.base = alignUp(heapBase);
    this.top = this.base;
  }

  /** Bytes currently allocated, including those of released regions still below a live one. */
  get usedBytes(): number {
    return this.top - this.base;
  }

  /**
   * Open a region: later allocations go into it by default until it is released or another region is
   * opened. Release every mark exactly once: a mark never released keeps the memory of every region
   * opened before it.
   */
  mark(): ArenaMark {
    const region = new Region(this);
    this.open.push(region);
    return region;
  }

  /**
   * End the region `mark` opened: its buffers are dead, and its memory, with that of every released
   * region above it, is reclaimed unless a live region's allocations lie above it (then later).
   * @throws PrunekitError `ARENA_MISUSE` if `mark` was already released or is not a mark of this arena.
   */
  release(mark: ArenaMark): void {
    const region = this.ownRegion("arena.release", mark);
    region.live = false;
    this.open.splice(this.open.lastIndexOf(region), 1);
    let last = this.segments.at(-1);
    while (last !== undefined && !last.region.live) {
      this.top = last.start;
      this.segments.pop();
      last = this.segments.at(-1);
    }
  }

  /**
   * Free everything, root allocations included.
   * @throws PrunekitError `ARENA_MISUSE` while a region is open: its owner still uses it.
   */
  reset(): void {
    if (this.open.length > 0) {
      throw new PrunekitError(
        "ARENA_MISUSE",
        `arena.reset: ${this.open.length} region(s) opened by arena.mark() are still live; release them first`,
      );
    }
    this.root.live = false;
    this.root = new Region(this);
    this.segments = [];
    this.top = this.base;
  }

  /**
   * Throw unless every buffer is usable in this arena: not from a released region, not from another
   * arena. Buffers the arena did not hand out (say, `{ ptr: b.ptr + 16, length }`) are not tracked.
   * @throws PrunekitError `ARENA_MISUSE`
   */
  checkLive(what: string, ...bufs: Buf[]): void {
    for (const buf of bufs) {
      const region = bufRegions.get(buf);
      if (region === undefined || (region.live && region.owner === this)) continue;
      throw new PrunekitError(
        "ARENA_MISUSE",
        region.owner !== this
          ? `${what}: the buffer at byte ${buf.ptr} belongs to another WebAssembly instance's arena`
          : `${what}: the buffer at byte ${buf.ptr} is dead: its region was released (or the arena reset); allocate it again, or keep its mark until you are done`,
      );
    }
  }

  /** Allocate `length` float32 elements (contents unspecified) in region `mark` (default: the latest open). */
  allocF32(length: number, mark?: ArenaMark): Buf {
    return this.alloc(length, 4, mark);
  }

  /** Allocate `length` float64 elements (contents unspecified) in region `mark` (default: the latest open). */
  allocF64(length: number, mark?: ArenaMark): Buf {
    return this.alloc(length, 8, mark);
  }

  /** Allocate `length` int32 elements (contents unspecified) in region `mark` (default: the latest open). */
  allocI32(length: number, mark?: ArenaMark): Buf {
    return this.alloc(length, 4, mark);
  }

  /** Allocate (in region `mark`, default: the latest open) and fill with a copy of `data`. */
  copyInF32(data: ArrayLike<number>, mark?: ArenaMark): Buf {
    const buf = this.allocF32(data.length, mark);
    this.viewF32(buf).set(data);
    return buf;
  }

  /** Allocate (in region `mark`, default: the latest open) and fill with a copy of `data`. */
  copyInF64(data: ArrayLike<number>, mark?: ArenaMark): Buf {
    const buf = this.allocF64(data.length, mark);
    this.viewF64(buf).set(data);
    return buf;
  }

  /** Allocate (in region `mark`, default: the latest open) and fill with a copy of `data`. */
  copyInI32(data: ArrayLike<number>, mark?: ArenaMark): Buf {
    const buf = this.allocI32(data.length, mark);
    this.viewI32(buf).set(data);
    return buf;
  }

  /**
   * A fresh view of a float32 buffer; valid until the next allocation or kernel call.
   * @throws PrunekitError `ARENA_MISUSE` for a dead buffer, one of another arena, or one past the top.
   */
  viewF32(buf: Buf): Float32Array {
    this.checkView("viewF32", buf, 4);
    return new Float32Array(this.memory.buffer, buf.ptr, buf.length);
  }

  /**
   * A fresh view of a float64 buffer; valid until the next allocation or kernel call.
   * @throws PrunekitError `ARENA_MISUSE` for a dead buffer, one of another arena, or one past the top.
   */
  viewF64(buf: Buf): Float64Array {
    this.checkView("viewF64", buf, 8);
    return new Float64Array(this.memory.buffer, buf.ptr, buf.length);
  }

  /**
   * A fresh view of an int32 buffer; valid until the next allocation or kernel call.
   * @throws PrunekitError `ARENA_MISUSE` for a dead buffer, one of another arena, or one past the top.
   */
  viewI32(buf: Buf): Int32Array {
    this.checkView("viewI32", buf, 4);
    return new Int32Array(this.memory.buffer, buf.ptr, buf.length);
  }

  private alloc(length: number, elementBytes: number, mark: ArenaMark | undefined): Buf {
    const region = mark === undefined ? (this.open.at(-1) ?? this.root) : this.ownRegion("arena.alloc", mark);
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
    if (this.segments.at(-1)?.region !== region) this.segments.push({ region, start: ptr });
    const buf: Buf = { ptr, length };
    bufRegions.set(buf, region);
    return buf;
  }

  /** `mark` as this arena's live Region, or ARENA_MISUSE. */
  private ownRegion(what: string, mark: ArenaMark): Region {
    if (mark instanceof Region && mark.owner === this && mark.live) return mark;
    throw new PrunekitError(
      "ARENA_MISUSE",
      !(mark instanceof Region)
        ? `${what}: expected a mark made by arena.mark(), got ${String(mark)}`
        : mark.owner !== this
          ? `${what}: the mark belongs to another WebAssembly instance's arena`
          : `${what}: the mark was already released; release each mark exactly once`,
    );
  }

  /** A view must be of a live buffer of this arena, below the top. */
  private checkView(what: string, buf: Buf, elementBytes: number): void {
    this.checkLive(`arena.${what}`, buf);
    if (buf.ptr + buf.length * elementBytes > this.top) {
      throw new PrunekitError(
        "ARENA_MISUSE",
        `arena.${what}: the buffer [${buf.ptr}, ${buf.ptr + buf.length * elementBytes}) ends past the arena's top ${this.top}: its memory was freed`,
      );
    }
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
