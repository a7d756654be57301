// Model-based test of the arena (STYLE.md: stateful code gets fc.commands against a simple model).
//
// The real Arena runs over a standalone WebAssembly.Memory with a small `maximum`, so that growth across
// page boundaries and OUT_OF_MEMORY both happen within a few commands. The model is a bump pointer, a
// list of live allocations with the bytes written into each, and the expected page count.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { Arena, type Buf } from "../../src/wasm/arena.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { heapBase } from "../../src/wasm/load.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const PAGE = 65536;
const ALIGN = 16;

type Kind = "f32" | "f64" | "i32";
const ELEMENT_BYTES: Record<Kind, number> = { f32: 4, f64: 8, i32: 4 };

interface Allocation {
  readonly buf: Buf;
  readonly kind: Kind;
  /** The bytes written right after allocating; they must survive every later command. */
  readonly bytes: Uint8Array;
}

interface Model {
  readonly base: number;
  readonly maxPages: number;
  top: number;
  pages: number;
  live: Allocation[];
  marks: number[];
  nextId: number;
}

interface Real {
  readonly arena: Arena;
  readonly memory: WebAssembly.Memory;
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

/** The invariants that hold after every command. */
function checkInvariants(m: Model, r: Real): void {
  assert.equal(r.arena.mark(), m.top, "top");
  assert.equal(r.arena.usedBytes, m.top - m.base, "usedBytes");
  assert.equal(r.memory.buffer.byteLength, m.pages * PAGE, "memory size");
  const sorted = [...m.live].sort((a, b) => a.buf.ptr - b.buf.ptr);
  sorted.forEach((a, i) => {
    assert.equal(a.buf.ptr % ALIGN, 0, "16-byte alignment");
    assert.ok(a.buf.ptr >= m.base && a.buf.ptr + a.bytes.length <= m.top, "inside [base, top)");
    const next = sorted[i + 1];
    if (next !== undefined) assert.ok(a.buf.ptr + a.bytes.length <= next.buf.ptr, "live allocations overlap");
    // Read back through a fresh view: it sees exactly what was written, whatever happened since.
    assert.equal(
      Buffer.compare(bytesOf(view(r.arena, a.kind, a.buf)), a.bytes),
      0,
      `contents at ${a.buf.ptr}`,
    );
  });
}

class AllocCommand implements fc.Command<Model, Real> {
  constructor(
    readonly kind: Kind,
    readonly length: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const bytes = this.length * ELEMENT_BYTES[this.kind];
    const end = alignUp(m.top + bytes);
    const needPages = Math.ceil(end / PAGE);
    const live = m.live.at(-1);
    const before = live === undefined ? new Uint8Array(r.memory.buffer) : view(r.arena, live.kind, live.buf);
    const beforeBytes = before.byteLength;
    const alloc = () =>
      this.kind === "f32"
        ? r.arena.allocF32(this.length)
        : this.kind === "f64"
          ? r.arena.allocF64(this.length)
          : r.arena.allocI32(this.length);
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
      m.live.push({ buf, kind: this.kind, bytes: bytesOf(v).slice() });
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return `alloc${this.kind.toUpperCase()}(${this.length})`;
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
    assert.equal(mark, m.top);
    m.marks.push(mark);
    checkInvariants(m, r);
  }
  toString(): string {
    return "mark()";
  }
}

/** Release to a recorded mark (`pick` indexes the marks) or to a bogus position relative to top or base. */
class ReleaseCommand implements fc.Command<Model, Real> {
  private last = "";
  constructor(readonly pick: { recorded: number } | { fromTop: number } | { fromBase: number }) {}
  check(m: Model): boolean {
    return !("recorded" in this.pick) || m.marks.length > 0;
  }
  run(m: Model, r: Real): void {
    const p = this.pick;
    const mark =
      "recorded" in p
        ? m.marks[p.recorded % m.marks.length]!
        : "fromTop" in p
          ? m.top + p.fromTop
          : m.base + p.fromBase;
    this.last = String(mark);
    if (mark < m.base || mark > m.top || mark % ALIGN !== 0) {
      expectError(() => r.arena.release(mark), "INVALID_ARGUMENT");
    } else {
      r.arena.release(mark);
      m.top = mark;
      // The arena cannot tell a mark from any aligned position below top: releasing into the middle of
      // an allocation is allowed, and frees that allocation too.
      m.live = m.live.filter((a) => a.buf.ptr + a.bytes.length <= mark);
    }
    checkInvariants(m, r);
  }
  toString(): string {
    return `release(${JSON.stringify(this.pick)} = ${this.last})`;
  }
}

class ResetCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    r.arena.reset();
    m.top = m.base;
    m.live = [];
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
    fc.tuple(kind, length).map(([k, n]) => new AllocCommand(k, n)),
    fc
      .constantFrom(-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53)
      .map((n) => new InvalidAllocCommand(n)),
    fc.constant(new MarkCommand()),
    fc.oneof(
      fc.nat().map((i) => new ReleaseCommand({ recorded: i })),
      fc.constantFrom(-16, -8, 8, 16, 64).map((d) => new ReleaseCommand({ fromTop: d })),
      fc.constantFrom(-16, 8).map((d) => new ReleaseCommand({ fromBase: d })),
    ),
    fc.constant(new ResetCommand()),
  ],
  { maxCommands: 40, size: "max" },
);

test("arena behaves like a bump allocator over growing memory (model-based)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70_000 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 2, max: 8 }),
      commands,
      (heapBaseBytes, initialPages, maxPages, cmds) => {
        const memory = new WebAssembly.Memory({ initial: initialPages, maximum: maxPages });
        const arena = new Arena(memory, heapBaseBytes);
        const base = alignUp(heapBaseBytes);
        const model: Model = {
          base,
          maxPages,
          top: base,
          pages: initialPages,
          live: [],
          marks: [],
          nextId: 1,
        };
        fc.modelRun(() => ({ model, real: { arena, memory } }), cmds);
      },
    ),
  );
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
  const mark = w.arena.mark();
  assert.equal(mark % ALIGN, 0);
  assert.ok(mark >= heapBase(w.exports));
  const pages = w.exports.memory.buffer.byteLength / PAGE;
  const big = w.arena.allocF32((pages + 1) * (PAGE / 4));
  assert.ok(w.exports.memory.buffer.byteLength >= big.ptr + big.length * 4);
  w.arena.viewF32(big).fill(1.5);
  assert.equal(w.arena.viewF32(big).at(-1), 1.5);
  w.arena.release(mark);
  assert.equal(w.arena.mark(), mark);
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
