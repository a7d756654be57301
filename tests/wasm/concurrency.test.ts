// Long computations that hold arena buffers across `await`s, interleaved with each other (a training
// loop next to a pruning run). Before arena regions were owned, a run that finished first released its
// mark and so freed the memory of every run that had allocated after it.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import type { ArenaMark, Buf } from "../../src/wasm/arena.ts";
import { createWasm, getWasm, type Wasm, withArena } from "../../src/wasm/instance.ts";
import { reduceRows, rowReduce } from "../../src/wasm/kernels/reduce.ts";

/** A pattern no other run or step writes: run `run`, step `step`, `len` values. */
function pattern(run: number, step: number, len: number): Float32Array {
  return Float32Array.from({ length: len }, (_, i) => run * 1000 + step * 10 + (i % 7));
}

function sum(x: Float32Array): number {
  return x.reduce((a, b) => a + b, 0);
}

function expectMisuse(fn: () => unknown, message: RegExp): void {
  expectCode(fn, "ARENA_MISUSE", message);
}

function expectCode(fn: () => unknown, code: PrunekitErrorCode, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One long computation: opens a region, then each step allocates a buffer in it (naming its mark, as it
 * must after an `await`), fills it with its own pattern, runs a kernel on it, yields, and checks that
 * every buffer it holds still has its contents. Releases its region at the end.
 * When `mark` is not given the run takes none and relies on the default region (a private instance).
 */
async function longRun(
  w: Wasm,
  run: number,
  steps: number,
  yieldTurn: () => Promise<void>,
  options: { ownMark: boolean } = { ownMark: true },
): Promise<void> {
  const { arena } = w;
  const mark: ArenaMark | undefined = options.ownMark ? arena.mark() : undefined;
  const held: Buf[] = [];
  for (let step = 0; step < steps; step++) {
    const len = 3 + ((run * 5 + step * 3) % 11);
    const buf = arena.copyInF32(pattern(run, step, len), mark);
    const out = arena.allocF32(1, mark);
    held.push(buf);
    await yieldTurn();
    // A buffer-level kernel on buffers held across the await, and an array-level one (its own
    // synchronous region, nested above whatever the other runs hold).
    reduceRows(w, "sum", buf, out, 1, len);
    assert.equal(
      arena.viewF32(out)[0],
      sum(pattern(run, step, len)),
      `run ${run} step ${step}: kernel input`,
    );
    assert.deepEqual(
      rowReduce(w, "sum", pattern(run, step, 4), 1, 4),
      Float32Array.of(sum(pattern(run, step, 4))),
    );
    await yieldTurn();
    held.forEach((b, i) => {
      const want = pattern(run, i, b.length);
      assert.deepEqual(arena.viewF32(b), want, `run ${run}: buffer of step ${i} changed by step ${step}`);
    });
  }
  if (mark !== undefined) arena.release(mark);
}

test("two interleaved async runs on the shared arena never corrupt each other, released out of order", async () => {
  const w = await getWasm();
  const used = w.arena.usedBytes;
  // Run 1 opens its region first and finishes first: its release comes while run 2's later region is
  // live and holds buffers above it. Before regions were owned, that release freed run 2's buffers.
  await Promise.all([longRun(w, 1, 3, nextTurn), longRun(w, 2, 6, nextTurn)]);
  assert.equal(w.arena.usedBytes, used, "every byte comes back once both runs are done");
  // And the other way round (LIFO), with a third run joining late.
  await Promise.all([
    longRun(w, 3, 6, nextTurn),
    longRun(w, 4, 2, nextTurn),
    nextTurn().then(() => longRun(w, 5, 4, nextTurn)),
  ]);
  assert.equal(w.arena.usedBytes, used);
});

test("any interleaving of up to three runs on the shared arena keeps every run's buffers (fc.scheduler)", async () => {
  const w = await getWasm();
  const used = w.arena.usedBytes;
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 3 }),
      async (s, steps) => {
        const runs = steps.map((n, run) => longRun(w, run + 1, n, () => s.schedule(Promise.resolve())));
        await s.waitFor(Promise.all(runs));
        assert.equal(w.arena.usedBytes, used);
      },
    ),
  );
});

test("private instances from createWasm need no marks: interleaved runs cannot touch each other", async () => {
  const [a, b] = [await createWasm(), await createWasm()];
  assert.notEqual(a.exports.memory, b.exports.memory);
  await Promise.all([
    longRun(a, 1, 3, nextTurn, { ownMark: false }),
    longRun(b, 2, 5, nextTurn, { ownMark: false }),
  ]);
  a.arena.reset();
  b.arena.reset();
  assert.equal(a.arena.usedBytes + b.arena.usedBytes, 0);
});

test("a run that allocates after an await without naming its mark is refused, never handed freed memory", async () => {
  const w = await getWasm();
  const { arena } = w;
  const used = arena.usedBytes;
  const mine = arena.mark();
  const early = arena.copyInF32(pattern(1, 0, 5)); // before any await: the default region is mine
  await nextTurn();
  const theirs = arena.mark(); // another computation opens a region meanwhile
  const late = arena.copyInF32(pattern(1, 1, 5)); // no mark named: lands in theirs
  const out = arena.allocF32(1, mine);
  arena.release(theirs);
  arena.copyInF32(pattern(2, 0, 16)); // their memory is reused (by the root) ...
  expectMisuse(() => arena.viewF32(late), /is dead: its region was released/); // ... and never shown as mine
  expectMisuse(() => reduceRows(w, "sum", late, out, 1, 5), /reduceRows: the buffer at byte \d+ is dead/);
  assert.deepEqual(arena.viewF32(early), pattern(1, 0, 5));
  arena.release(mine);
  arena.reset();
  assert.ok(arena.usedBytes <= used);
});

test("arena misuse is a typed ARENA_MISUSE error, never silent", async () => {
  const w = await getWasm();
  const other = await createWasm();
  const { arena } = w;
  const mark = arena.mark();
  const buf = arena.allocF32(4);
  const out = arena.allocF32(1);
  const theirs = other.arena.allocF32(4);
  expectMisuse(() => arena.reset(), /arena.reset: 1 region\(s\) opened by arena.mark\(\) are still live/);
  expectMisuse(() => arena.release(other.arena.mark()), /belongs to another WebAssembly instance/);
  expectMisuse(() => arena.release({ live: true }), /expected a mark made by arena.mark\(\)/);
  expectMisuse(() => arena.viewF32(theirs), /belongs to another WebAssembly instance's arena/);
  expectMisuse(() => reduceRows(w, "sum", theirs, out, 1, 4), /reduceRows: .*another WebAssembly instance/);
  arena.release(mark);
  expectMisuse(() => arena.release(mark), /already released; release each mark exactly once/);
  expectMisuse(() => arena.allocF32(1, mark), /arena.alloc: the mark was already released/);
  expectMisuse(() => arena.viewF32(buf), /is dead/);
  expectMisuse(
    () => arena.viewF32({ ptr: buf.ptr, length: 4 }),
    /ends past the arena's top \d+: its memory was freed/,
  );
  // A withArena body that awaits would find its buffers freed when it resumes.
  const promise = Promise.resolve();
  expectMisuse(() => withArena(w, () => promise), /withArena: the body returned a promise/);
  // Errors other than misuse keep their codes.
  expectCode(() => arena.allocF32(-1), "INVALID_ARGUMENT", /non-negative integer/);
});
