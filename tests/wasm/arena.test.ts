// Model-based test of the arena (STYLE.md: stateful code gets fc.commands against a simple model).
//
// The real Arena runs over a standalone WebAssembly.Memory with a small `maximum`, so that growth across
// page boundaries and OUT_OF_MEMORY both happen within a few commands. The model is a bump pointer, the
// list of every allocation not yet reclaimed (in address order) with its region and the bytes written
// into it, the regions opened so far, and the expected page count. Releasing a region kills its
// allocations; the top then drops past the dead allocations at the end of the list, and no further.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { Arena, type ArenaMark, type Buf } from "../../src/wasm/arena.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { heapBase } from "../../src/wasm/load.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const PAGE = 65536;
const ALIGN = 16;

type Kind = "f32" | "f64" | "i32";
const ELEMENT_BYTES: Record<Kind, number> = { f32: 4, f64: 8, i32: 4 };

interface Region {
  readonly mark: ArenaMark | undefined;
  live: boolean;
}

interface Allocation {
  readonly buf: Buf;
  readonly kind: Kind;
  readonly region: Region;
  /** The bytes written right after allocating; they must survive while the region is live. */
  readonly bytes: Uint8Array;
}

interface Model {
  readonly base: number;
  readonly maxPages: number;
  top: number;
  pages: number;
  /** Allocations not yet reclaimed, in address order (live and dead). */
  allocs: Allocation[];
  /** Allocations whose region was released or reset, reclaimed or not: every use must be refused. */
  dead: Allocation[];
  /** Every region opened by mark(), in order. */
  regions: Region[];
  /** Owner of allocations made while no region is open. */
  root: Region;
  nextId: number;
}

interface Real {
  readonly arena: Arena;
  readonly memory: WebAssembly.Memory;
  /** Another arena, for marks and buffers that must be refused. */
  readonly other: Arena;
}

const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

function expectError(fn: () => unknown, code: PrunekitErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

function view(arena: Arena, kind: Kind, buf: Buf): Float32Array | Float64Array | Int32Array {
  return kind === "f32" ? arena.viewF32(buf) : kind === "f64" ? arena.viewF64(buf) : arena.viewI32(buf);
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** The region an allocation without an explicit mark goes to: the latest open one, else the root. */
function defaultRegion(m: Model): Region {
  return m.regions.filter((r) => r.live).at(-1) ?? m.root;
}

/** Drop the dead allocations at the end of the list; the top falls to the first one dropped. */
function reclaim(m: Model): void {
  let last = m.allocs.at(-1);
  while (last !== undefined && !last.region.live) {
    m.top = last.buf.ptr;
    m.allocs.pop();
    last = m.allocs.at(-1);
  }
}

function kill(m: Model, region: Region): void {
  region.live = false;
  m.dead.push(...m.allocs.filter((a) => a.region === region));
}

/** The invariants that hold after every command. */
function checkInvariants(m: Model, r: Real): void {
  assert.equal(r.arena.usedBytes, m.top - m.base, "usedBytes");
  assert.equal(r.memory.buffer.byteLength, m.pages * PAGE, "memory size");
  let end = m.base;
  for (const a of m.allocs) {
    assert.equal(a.buf.ptr % ALIGN, 0, "16-byte alignment");
    assert.ok(a.buf.ptr >= end, "allocations overlap");
    end = a.buf.ptr + a.bytes.length;
    assert.ok(end <= m.top, "inside [base, top)");
    if (!a.region.live) continue;
    // Read back through a fresh view: it sees exactly what was written, whatever happened since.
    assert.equal(
      Buffer.compare(bytesOf(view(r.arena, a.kind, a.buf)), a.bytes),
      0,
      `contents at ${a.buf.ptr}`,
    );
  }
}

/** Allocate into the default region, or into a live region picked by index when `pick` is given. */
class AllocCommand implements fc.Command<Model, Real> {
  constructor(
    readonly kind: Kind,
    readonly length: number,
    readonly pick: number | undefined,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const open = m.regions.filter((g) => g.live);
    const explicit =
      this.pick === undefined || open.length === 0 ? undefined : open[this.pick % open.length]!;
    const region = explicit ?? defaultRegion(m);
    const bytes = this.length * ELEMENT_BYTES[this.kind];
    const end = alignUp(m.top + bytes);
    const needPages = Math.ceil(end / PAGE);
    const live = m.allocs.filter((a) => a.region.live).at(-1);
    const before = live === undefined ? new Uint8Array(r.memory.buffer) : view(r.arena, live.kind, live.buf);
    const beforeBytes = before.byteLength;
    const mark = explicit?.mark;
    const alloc = () =>
      this.kind === "f32"
        ? r.arena.allocF32(this.length, mark)
        : this.kind === "f64"
          ? r.arena.allocF64(this.length, mark)
          : r.arena.allocI32(this.length, mark);
    if (needPages > m.maxPages) {
      expectError(alloc, "OUT_OF_MEMORY");
    } else {
      const buf = alloc();
      assert.equal(buf.ptr, m.top, "a bump allocator returns the old top");
      assert.equal(buf.length, this.length);
      const grew = needPages > m.pages;
      // Growing memory detaches every old view; otherwise old views stay usable.
      assert.equal(before.byteLength, grew ? 0 : beforeBytes, grew ? "old view detached" : "old view kept");
      m.pages = Math.max(m.pages, needPages);
      m.top = end;
      const v = view(r.arena, this.kind, buf);
      const data = seededFloats(m.nextId++, this.length);
      if (this.kind === "i32") v.set(data.map((x) => Math.round(x * 2 ** 30)));
      else v.set(data);
      m.allocs.push({ buf, kind: this.kind, region, bytes: bytesOf(v).slice() });
    }
    checkInvariants(m, r);
  }
  toString(): string {
    const into = this.pick === undefined ? "" : `, open region #${this.pick}`;
    return `alloc${this.kind.toUpperCase()}(${this.length}${into})`;
  }
}

class InvalidAllocCommand implements fc.Command<Model, Real> {
  constructor(readonly length: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    expectError(() => r.arena.allocF32(this.length), "INVALID_ARGUMENT");
    checkInvariants(m, r);
  }
  toString(): string {
    return `allocF32(${this.length}) rejected`;
  }
}

class MarkCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const mark = r.arena.mark();
    assert.equal(mark.live, true);
    m.regions.push({ mark, live: true });
    checkInvariants(m, r);
  }
  toString(): string {
    return "mark()";
  }
}

/** Release a region picked among every one opened so far: live ones end, released ones are refused. */
class ReleaseCommand implements fc.Command<Model, Real> {
  constructor(readonly pick: number) {}
  check(m: Model): boolean {
    return m.regions.length > 0;
  }
  run(m: Model, r: Real): void {
    const region = m.regions[this.pick % m.regions.length]!;
    const mark = region.mark!;
    if (!region.live) {
      expectError(() => r.arena.release(mark), "ARENA_MISUSE");
    } else {
      r.arena.release(mark);
      assert.equal(mark.live, false);
      kill(m, region);
      reclaim(m);
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return `release(region #${this.pick})`;
  }
}

/** Marks the arena never issued, or issued by another arena: refused, and nothing changes. */
class ForeignMarkCommand implements fc.Command<Model, Real> {
  constructor(readonly what: "number" | "object" | "other arena" | "alloc into released") {}
  check(m: Model): boolean {
    return this.what !== "alloc into released" || m.regions.some((g) => !g.live);
  }
  run(m: Model, r: Real): void {
    if (this.what === "alloc into released") {
      const released = m.regions.find((g) => !g.live)!;
      expectError(() => r.arena.allocF32(1, released.mark), "ARENA_MISUSE");
    } else {
      const mark =
        this.what === "number"
          ? (m.top as unknown as ArenaMark)
          : this.what === "object"
            ? { live: true }
            : r.other.mark();
      expectError(() => r.arena.release(mark), "ARENA_MISUSE");
      expectError(() => r.arena.allocF32(1, mark), "ARENA_MISUSE");
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return `foreign mark (${this.what}) refused`;
  }
}

/** Every use of a buffer of a released region (or of another arena) is refused. */
class DeadBufferCommand implements fc.Command<Model, Real> {
  constructor(readonly pick: number) {}
  check(m: Model): boolean {
    return m.dead.length > 0;
  }
  run(m: Model, r: Real): void {
    const a = m.dead[this.pick % m.dead.length]!;
    expectError(() => view(r.arena, a.kind, a.buf), "ARENA_MISUSE");
    expectError(() => r.arena.checkLive("test", a.buf), "ARENA_MISUSE");
    expectError(() => r.other.checkLive("test", a.buf), "ARENA_MISUSE");
    checkInvariants(m, r);
  }
  toString(): string {
    return `dead buffer #${this.pick} refused`;
  }
}

class ResetCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    if (m.regions.some((g) => g.live)) {
      expectError(() => r.arena.reset(), "ARENA_MISUSE");
    } else {
      r.arena.reset();
      kill(m, m.root);
      m.root = { mark: undefined, live: true };
      m.allocs = [];
      m.top = m.base;
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return "reset()";
  }
}

const kind = fc.constantFrom<Kind>("f32", "f64", "i32");
/** Element counts: tiny (SIMD edges), page-sized (growth), and beyond the 4 GiB address space. */
const length = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 9 }) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 30, 2 ** 31, Number.MAX_SAFE_INTEGER) },
);
const commands = fc.commands(
  [
    fc
      .tuple(kind, length, fc.option(fc.nat(), { nil: undefined }))
      .map(([k, n, pick]) => new AllocCommand(k, n, pick)),
    fc
      .constantFrom(-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53)
      .map((n) => new InvalidAllocCommand(n)),
    fc.constant(new MarkCommand()),
    fc.nat().map((i) => new ReleaseCommand(i)),
    fc
      .constantFrom("number", "object", "other arena", "alloc into released" as const)
      .map((what) => new ForeignMarkCommand(what)),
    fc.nat().map((i) => new DeadBufferCommand(i)),
    fc.constant(new ResetCommand()),
  ],
  { maxCommands: 40, size: "max" },
);

test("arena behaves like a bump allocator of owned regions over growing memory (model-based)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70_000 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 2, max: 8 }),
      commands,
      (heapBaseBytes, initialPages, maxPages, cmds) => {
        const memory = new WebAssembly.Memory({ initial: initialPages, maximum: maxPages });
        const arena = new Arena(memory, heapBaseBytes);
        const other = new Arena(new WebAssembly.Memory({ initial: 0, maximum: 1 }), 0);
        const base = alignUp(heapBaseBytes);
        const model: Model = {
          base,
          maxPages,
          top: base,
          pages: initialPages,
          allocs: [],
          dead: [],
          regions: [],
          root: { mark: undefined, live: true },
          nextId: 1,
        };
        fc.modelRun(() => ({ model, real: { arena, memory, other } }), cmds);
      },
    ),
  );
});

test("releasing an older region while a newer one is live frees nothing the newer one owns", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const arena = new Arena(memory, 0);
  const older = arena.mark();
  const a = arena.copyInF32([1, 2, 3]);
  const newer = arena.mark();
  const b = arena.copyInF32([4, 5]);
  const a2 = arena.copyInF32([6], older); // the older region allocates again, above the newer one
  arena.release(older);
  assert.deepEqual([...arena.viewF32(b)], [4, 5], "the newer region's buffer survives");
  expectError(() => arena.viewF32(a), "ARENA_MISUSE");
  expectError(() => arena.viewF32(a2), "ARENA_MISUSE");
  // a2 lay at the top and comes back at once; a waits below the newer region.
  assert.equal(arena.usedBytes, 32, "the older region's memory below the newer one waits for it");
  arena.release(newer);
  assert.equal(arena.usedBytes, 0, "then everything comes back");
});

test("an allocation beyond the 4 GiB address space fails with OUT_OF_MEMORY without growing", () => {
  const memory = new WebAssembly.Memory({ initial: 0 });
  const arena = new Arena(memory, 0);
  expectError(() => arena.allocF32(2 ** 30), "OUT_OF_MEMORY");
  expectError(() => arena.allocF64(2 ** 29), "OUT_OF_MEMORY");
  assert.equal(memory.buffer.byteLength, 0);
  assert.equal(arena.usedBytes, 0);
});

test("the module's arena starts at the aligned HEAP_BASE and grows the module's memory", async () => {
  const w = await getWasm();
  const used = w.arena.usedBytes;
  const mark = w.arena.mark();
  const first = w.arena.allocF32(0);
  assert.equal(first.ptr % ALIGN, 0);
  assert.ok(first.ptr >= heapBase(w.exports));
  const pages = w.exports.memory.buffer.byteLength / PAGE;
  const big = w.arena.allocF32((pages + 1) * (PAGE / 4));
  assert.ok(w.exports.memory.buffer.byteLength >= big.ptr + big.length * 4);
  w.arena.viewF32(big).fill(1.5);
  assert.equal(w.arena.viewF32(big).at(-1), 1.5);
  w.arena.release(mark);
  assert.equal(w.arena.usedBytes, used);
});

test("copyIn* round-trips values through linear memory", async () => {
  const { arena } = await getWasm();
  const mark = arena.mark();
  const f32 = seededFloats(7, 33);
  const f64 = Float64Array.from(seededFloats(8, 17), (x) => x / 3);
  const i32 = Int32Array.from(seededFloats(9, 9), (x) => Math.round(x * 2 ** 31));
  assert.deepEqual(arena.viewF32(arena.copyInF32(f32)), f32);
  assert.deepEqual(arena.viewF64(arena.copyInF64(f64)), f64);
  assert.deepEqual(arena.viewI32(arena.copyInI32(i32)), i32);
  arena.release(mark);
});
