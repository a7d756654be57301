import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import {
  channelSum,
  channelSumBuffers,
  colSum,
  colSumBuffers,
  rowReduce,
  rowSoftmax,
  softmaxRows,
} from "../../src/wasm/kernels/reduce.ts";
import * as reference from "../../src/wasm/reference/reduce.ts";
import { f32Array, matrix, size } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";
import { assertBitExact } from "../helpers/exact.ts";
import { assertUlps, wideF32Array } from "../helpers/f32.ts";

const w = await getWasm();

for (const kind of ["sum", "l1", "l2"] as const) {
  test(`rowReduce ${kind} matches the reference on ragged shapes`, () => {
    fc.assert(
      fc.property(matrix(), ({ rows, cols, x }) =>
        assertClose(rowReduce(w, kind, x, rows, cols), reference.reduceRows(kind, x, rows, cols), {
          reductionLen: cols,
          scale: 4,
        }),
      ),
    );
  });
}

test("row norms are non-negative and L2 <= L1", () => {
  fc.assert(
    fc.property(matrix(), ({ rows, cols, x }) => {
      const l1 = rowReduce(w, "l1", x, rows, cols);
      const l2 = rowReduce(w, "l2", x, rows, cols);
      for (let r = 0; r < rows; r++) {
        if (!(l2[r]! >= 0 && l2[r]! <= l1[r]! * (1 + 1e-5) + 1e-6)) return false;
      }
      return true;
    }),
  );
});

// Softmax and log-softmax go through exp / log: Mathf (musl, f32) in the kernel, Math (f64, rounded) in
// the reference, so each e_c may differ by an ulp and the sums, quotients and logs by a few more.
const SOFTMAX_ULPS = 4;

const softmaxMatrix = (bound: number) =>
  fc
    .tuple(size(12), size(70))
    .chain(([rows, cols]) => wideF32Array(rows * cols, bound).map((x) => ({ rows, cols, x })));

test("rowSoftmax matches the reference within a few ulps (ragged rows, NaN, Inf, huge values)", () => {
  fc.assert(
    fc.property(softmaxMatrix(60), ({ rows, cols, x }) =>
      assertUlps(
        rowSoftmax(w, "softmax", x, rows, cols),
        reference.reduceRowSoftmax(x, rows, cols),
        SOFTMAX_ULPS,
        1e-44,
      ),
    ),
  );
});

test("rowSoftmax logSoftmax matches the reference within a few ulps or 1e-6", () => {
  fc.assert(
    fc.property(softmaxMatrix(60), ({ rows, cols, x }) =>
      assertUlps(
        rowSoftmax(w, "logSoftmax", x, rows, cols),
        reference.reduceRowLogSoftmax(x, rows, cols),
        SOFTMAX_ULPS,
        1e-6,
      ),
    ),
  );
});

test("softmax rows of finite values are in [0, 1], sum to 1, keep the order, and equal exp(logSoftmax)", () => {
  fc.assert(
    fc.property(
      fc.tuple(size(6), fc.integer({ min: 1, max: 70 })).chain(([rows, cols]) =>
        fc
          .array(fc.float({ min: -80, max: 80, noNaN: true }), {
            minLength: rows * cols,
            maxLength: rows * cols,
          })
          .map((v) => ({ rows, cols, x: Float32Array.from(v) })),
      ),
      ({ rows, cols, x }) => {
        const y = rowSoftmax(w, "softmax", x, rows, cols);
        const ly = rowSoftmax(w, "logSoftmax", x, rows, cols);
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let c = 0; c < cols; c++) {
            const i = r * cols + c;
            assert.ok(y[i]! >= 0 && y[i]! <= 1, `y[${i}] = ${y[i]}`);
            assert.ok(ly[i]! <= 0, `logSoftmax[${i}] = ${ly[i]}`);
            assert.ok(
              Math.abs(Math.exp(ly[i]!) - y[i]!) <= 1e-6 * (1 + c),
              `exp(logSoftmax) != softmax at ${i}`,
            );
            if (c > 0 && x[i]! > x[i - 1]!) assert.ok(y[i]! >= y[i - 1]!);
            s += y[i]!;
          }
          assert.ok(Math.abs(s - 1) <= 1e-6 * cols, `row ${r} sums to ${s}`);
        }
        return true;
      },
    ),
  );
});

test("hand-computed softmax: uniform rows, huge logits without overflow, in place on the arena", () => {
  assert.deepEqual(
    Array.from(rowSoftmax(w, "softmax", Float32Array.of(3, 3, 3, 3, 3), 1, 5)),
    [0.2, 0.2, 0.2, 0.2, 0.2].map(Math.fround),
  );
  // exp(1000) overflows f32; subtracting the row max (1000) keeps it finite: [1/2, 1/2, exp(-1e30) = 0].
  const big = rowSoftmax(w, "softmax", Float32Array.of(1000, 1000, -1e30), 1, 3);
  assert.deepEqual(Array.from(big), [0.5, 0.5, 0]);
  const log = rowSoftmax(w, "logSoftmax", Float32Array.of(0, 0, 0, 0, 1000), 1, 5);
  assert.deepEqual(Array.from(log), [-1000, -1000, -1000, -1000, 0]);
  assert.ok(rowSoftmax(w, "softmax", Float32Array.of(1, Number.POSITIVE_INFINITY), 1, 2).every(Number.isNaN));
  assert.deepEqual(Array.from(rowSoftmax(w, "softmax", new Float32Array(0), 3, 0)), []);
  const separate = withArena(w, (arena) => {
    const x = arena.copyInF32(Float32Array.of(1, 2, 3, 4, 5, 6, 7));
    const y = arena.allocF32(7);
    softmaxRows(w, "logSoftmax", x, y, 1, 7);
    return { x: arena.viewF32(x).slice(), y: arena.viewF32(y).slice() };
  });
  assert.deepEqual(Array.from(separate.x), [1, 2, 3, 4, 5, 6, 7]);
  assertUlps(
    separate.y,
    reference.reduceRowLogSoftmax(Float32Array.of(1, 2, 3, 4, 5, 6, 7), 1, 7),
    SOFTMAX_ULPS,
    1e-6,
  );
});

test("channelSum matches the f64 reference on ragged NCHW shapes", () => {
  const arb = fc
    .tuple(fc.integer({ min: 0, max: 4 }), size(7), size(40))
    .chain(([batch, channels, planeLen]) =>
      f32Array(batch * channels * planeLen).map((x) => ({ batch, channels, planeLen, x })),
    );
  fc.assert(
    fc.property(arb, ({ batch, channels, planeLen, x }) =>
      assertClose(
        channelSum(w, x, batch, channels, planeLen),
        reference.channelSum(x, batch, channels, planeLen),
        {
          reductionLen: batch * planeLen,
          scale: 4,
        },
      ),
    ),
  );
});

test("colSum is bit-exact with the f32 row-order reference on ragged shapes", () => {
  fc.assert(
    fc.property(matrix(), ({ rows, cols, x }) =>
      assertBitExact(colSum(w, x, rows, cols), reference.colSum(x, rows, cols)),
    ),
  );
});

test("channelSum and colSum by hand; the sums overwrite their output", () => {
  const x = Float32Array.from({ length: 20 }, (_, i) => i + 1);
  // batch 2, channels 2, planeLen 5: channel 0 = 1..5 and 11..15, channel 1 = 6..10 and 16..20.
  assert.deepEqual(Array.from(channelSum(w, x, 2, 2, 5)), [80, 130]);
  assert.deepEqual(Array.from(colSum(w, x, 4, 5)), [34, 38, 42, 46, 50]);
  assert.deepEqual(Array.from(colSum(w, new Float32Array(0), 0, 3)), [0, 0, 0]);
  const out = withArena(w, (arena) => {
    const xb = arena.copyInF32(x);
    const a = arena.copyInF32([9, 9]);
    const b = arena.copyInF32([9, 9, 9, 9, 9]);
    channelSumBuffers(w, xb, a, 2, 2, 5);
    colSumBuffers(w, xb, b, 4, 5);
    return [...arena.viewF32(a), ...arena.viewF32(b)];
  });
  assert.deepEqual(out, [80, 130, 34, 38, 42, 46, 50]);
});

test("channelSum and colSum refuse bad sizes and overlaps", () => {
  const code = { code: "INVALID_ARGUMENT" };
  assert.throws(() => channelSum(w, new Float32Array(5), 1, 2, 3), {
    ...code,
    message: /channelSum x: expected 6/,
  });
  assert.throws(() => colSum(w, new Float32Array(5), 2, 3), { ...code, message: /colSum x: expected 6/ });
  assert.throws(() => channelSum(w, new Float32Array(0), 1, -1, 3), {
    ...code,
    message: /channelSum channels/,
  });
  withArena(w, (arena) => {
    const buf = arena.allocF32(6);
    assert.throws(() => colSumBuffers(w, buf, { ptr: buf.ptr + 4, length: 3 }, 2, 3), {
      ...code,
      message: /overlap/,
    });
    assert.throws(() => channelSumBuffers(w, buf, { ptr: buf.ptr, length: 2 }, 1, 2, 3), {
      ...code,
      message: /overlap/,
    });
  });
});
