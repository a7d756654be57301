import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import {
  softmaxCrossEntropy,
  softmaxCrossEntropyBuffers,
  softmaxCrossEntropyCorrect,
  softmaxCrossEntropyCorrectBuffers,
} from "../../src/wasm/kernels/loss.ts";
import * as reference from "../../src/wasm/reference/loss.ts";
import { f32Array } from "../helpers/arbitraries.ts";

const w = await getWasm();

/** rows x cols logits (ragged cols, at least one class) with valid labels. */
function xentCase(bound = 8, maxRows = 9, maxCols = 13) {
  return fc
    .tuple(fc.integer({ min: 0, max: maxRows }), fc.integer({ min: 1, max: maxCols }))
    .chain(([rows, cols]) =>
      fc.record({
        rows: fc.constant(rows),
        cols: fc.constant(cols),
        logits: f32Array(rows * cols, bound),
        labels: fc.array(fc.integer({ min: 0, max: cols - 1 }), { minLength: rows, maxLength: rows }),
      }),
    );
}

const F32_EPS = 2 ** -23;

test("softmaxCrossEntropy matches the f64 reference (loss to 1e-12, dLogits to f32 rounding)", () => {
  fc.assert(
    fc.property(xentCase(30), ({ rows, cols, logits, labels }) => {
      const got = softmaxCrossEntropy(w, logits, labels, rows, cols);
      const want = reference.softmaxCrossEntropy(logits, labels, rows, cols);
      assert.ok(
        Math.abs(got.loss - want.loss) <= 1e-12 * (1 + Math.abs(want.loss)),
        `${got.loss} vs ${want.loss}`,
      );
      for (let i = 0; i < want.dLogits.length; i++) {
        const e = want.dLogits[i]!;
        const tol = F32_EPS * Math.abs(e) + 1e-14 / Math.max(1, rows);
        if (!(Math.abs(got.dLogits[i]! - e) <= tol)) assert.fail(`dLogits[${i}]: ${got.dLogits[i]} vs ${e}`);
      }
      return true;
    }),
  );
});

test("softmaxCrossEntropy reference = finite differences of the f64 loss w.r.t. the logits", () => {
  const h = 1e-6;
  fc.assert(
    fc.property(xentCase(6, 4, 7), ({ rows, cols, logits, labels }) => {
      const { dLogits } = reference.softmaxCrossEntropy(logits, labels, rows, cols);
      const x = Float64Array.from(logits);
      for (let i = 0; i < x.length; i++) {
        const plus = Float64Array.from(x);
        const minus = Float64Array.from(x);
        plus[i] = plus[i]! + h;
        minus[i] = minus[i]! - h;
        const fd =
          (reference.softmaxCrossEntropy(plus, labels, rows, cols).loss -
            reference.softmaxCrossEntropy(minus, labels, rows, cols).loss) /
          (2 * h);
        if (!(Math.abs(fd - dLogits[i]!) <= 1e-7))
          assert.fail(`logit ${i}: backward ${dLogits[i]}, finite differences ${fd}`);
      }
      return true;
    }),
  );
});

test("dLogits rows sum to 0 and the loss is >= 0; huge logits do not overflow", () => {
  fc.assert(
    fc.property(xentCase(1e4), ({ rows, cols, logits, labels }) => {
      const got = softmaxCrossEntropy(w, logits, labels, rows, cols);
      assert.ok(got.loss >= 0 && Number.isFinite(got.loss), `loss ${got.loss}`);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let j = 0; j < cols; j++) s += got.dLogits[r * cols + j]!;
        assert.ok(Math.abs(s) <= (4 * cols * F32_EPS) / rows, `row ${r} sums to ${s}`);
      }
      return true;
    }),
  );
});

test("softmaxCrossEntropy by hand: uniform rows give log(cols); the loss-only call writes nothing", () => {
  const logits = Float32Array.of(0, 0, 0, 0, 2, 2, 2, 2);
  const got = softmaxCrossEntropy(w, logits, [3, 0], 2, 4);
  assert.ok(Math.abs(got.loss - Math.log(4)) < 1e-15);
  assert.deepEqual(Array.from(got.dLogits), [0.125, 0.125, 0.125, -0.375, -0.375, 0.125, 0.125, 0.125]);
  // -log softmax([1, 2, 3])[2] = log(e^-2 + e^-1 + 1).
  const one = softmaxCrossEntropy(w, Float32Array.of(1, 2, 3), [2], 1, 3);
  assert.ok(Math.abs(one.loss - Math.log(Math.exp(-2) + Math.exp(-1) + 1)) < 1e-15);
  const lossOnly = withArena(w, (arena) => {
    const lb = arena.copyInF32(logits);
    const d = arena.copyInF32(new Float32Array(8).fill(7));
    const l1 = softmaxCrossEntropyBuffers(w, lb, arena.copyInI32([3, 0]), undefined, 2, 4);
    const l2 = softmaxCrossEntropyBuffers(w, lb, arena.copyInI32([3, 0]), d, 2, 4);
    return { l1, l2, logits: arena.viewF32(lb).slice() };
  });
  assert.equal(lossOnly.l1, got.loss);
  assert.equal(lossOnly.l2, got.loss);
  assert.deepEqual(lossOnly.logits, logits);
  assert.equal(softmaxCrossEntropy(w, new Float32Array(0), [], 0, 3).loss, 0);
});

test("softmaxCrossEntropyCorrect counts first-maximum hits like the reference (ties included)", () => {
  const tied = fc
    .tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 9 }))
    .chain(([rows, cols]) =>
      fc.record({
        rows: fc.constant(rows),
        cols: fc.constant(cols),
        logits: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: rows * cols, maxLength: rows * cols }),
        labels: fc.array(fc.integer({ min: 0, max: cols - 1 }), { minLength: rows, maxLength: rows }),
      }),
    );
  fc.assert(
    fc.property(tied, ({ rows, cols, logits, labels }) => {
      const x = Float32Array.from(logits);
      const got = softmaxCrossEntropyCorrect(w, x, labels, rows, cols);
      assert.equal(got, reference.softmaxCrossEntropyCorrect(x, labels, rows, cols));
      return true;
    }),
  );
  assert.equal(softmaxCrossEntropyCorrect(w, Float32Array.of(1, 2, 5, 5, 0, -1), [1, 1, 0], 3, 2), 2);
});

test("loss wrappers refuse bad labels naming the row, and bad lengths and overlaps", () => {
  const code = { code: "INVALID_ARGUMENT" };
  const x = new Float32Array(6);
  assert.throws(() => softmaxCrossEntropy(w, x, [0, 3], 2, 3), {
    ...code,
    message: /softmaxCrossEntropy: row 1 has label 3, expected an integer class index in \[0, 3\)/,
  });
  assert.throws(() => softmaxCrossEntropy(w, x, [-1, 0], 2, 3), { ...code, message: /row 0 has label -1/ });
  assert.throws(() => softmaxCrossEntropy(w, x, [0.5, 0], 2, 3), { ...code, message: /row 0 has label 0.5/ });
  assert.throws(() => softmaxCrossEntropyCorrect(w, x, [0, 1, 7], 3, 2), {
    ...code,
    message: /row 2 has label 7/,
  });
  assert.throws(() => softmaxCrossEntropy(w, x, [0], 2, 3), { ...code, message: /labels: expected 2/ });
  assert.throws(() => softmaxCrossEntropy(w, new Float32Array(5), [0, 0], 2, 3), {
    ...code,
    message: /logits: expected 6/,
  });
  withArena(w, (arena) => {
    const buf = arena.allocF32(8);
    const labels = arena.copyInI32([0, 9]);
    assert.throws(() => softmaxCrossEntropyCorrectBuffers(w, arena.allocF32(6), labels, 2, 3), {
      ...code,
      message: /row 1 has label 9/,
    });
    assert.throws(
      () =>
        softmaxCrossEntropyBuffers(
          w,
          { ptr: buf.ptr, length: 6 },
          arena.copyInI32([0, 0]),
          { ptr: buf.ptr + 8, length: 6 },
          2,
          3,
        ),
      { ...code, message: /partly overlaps logits/ },
    );
  });
});
