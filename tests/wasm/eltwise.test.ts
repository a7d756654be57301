import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { getWasm, withArena } from "../../src/wasm/instance.ts";
import { type Activation, activationCode } from "../../src/wasm/kernels/act.ts";
import {
  accumulate,
  accumulateBuffers,
  type BroadcastPlan,
  broadcastStrides,
  ELTWISE_ADD,
  ELTWISE_DIV,
  ELTWISE_MUL,
  ELTWISE_SUB,
  type EltwiseOp,
  eltwiseBinaryBuffers,
  eltwiseBroadcast,
} from "../../src/wasm/kernels/eltwise.ts";
import * as reference from "../../src/wasm/reference/eltwise.ts";
import { size } from "../helpers/arbitraries.ts";
import { assertSameF32, assertUlps, wideF32Array } from "../helpers/f32.ts";

const w = await getWasm();

const OPS: readonly EltwiseOp[] = ["add", "sub", "mul", "div"];
const OP_CODE: Record<EltwiseOp, number> = {
  add: ELTWISE_ADD,
  sub: ELTWISE_SUB,
  mul: ELTWISE_MUL,
  div: ELTWISE_DIV,
};
const ACTS: readonly Activation[] = [
  { kind: "none" },
  { kind: "relu" },
  { kind: "leakyRelu", alpha: 0.1 },
  { kind: "clip", min: -1, max: 6 },
  { kind: "sigmoid" },
  { kind: "hardSigmoid", alpha: 0.2, beta: 0.5 },
  { kind: "hardSwish" },
  { kind: "tanh" },
];

const product = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);

function check(act: Activation, got: ArrayLike<number>, want: ArrayLike<number>): true {
  return act.kind === "sigmoid" || act.kind === "tanh"
    ? assertUlps(got, want, 2, 1e-44)
    : assertSameF32(got, want);
}

function expected(op: EltwiseOp, a: Float32Array, b: Float32Array, plan: BroadcastPlan, act: Activation) {
  const { act: code, a0, a1 } = activationCode(act);
  return reference.eltwiseBinary(OP_CODE[op], a, b, plan.dims, plan.aStrides, plan.bStrides, code, a0, a1);
}

/** Output dims of rank 1..5: small sizes (1 often), sometimes a long inner dim, rarely a 0. */
const outDims = fc
  .integer({ min: 1, max: 5 })
  .chain((rank) =>
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 1, max: 6 }) },
        { weight: 2, arbitrary: fc.integer({ min: 7, max: 19 }) },
        { weight: 1, arbitrary: fc.constant(0) },
      ),
      { minLength: rank, maxLength: rank },
    ),
  );

type Pattern = "same" | "scalar" | "perChannel" | "row" | "random";

/** The dims of an operand broadcast to `dims` by `pattern` (dropping leading dims sometimes). */
function operandDims(dims: readonly number[], pattern: Pattern): fc.Arbitrary<number[]> {
  switch (pattern) {
    case "same":
      return fc.constant([...dims]);
    case "scalar":
      return fc.constantFrom(
        [],
        [1],
        dims.map(() => 1),
      );
    case "perChannel":
      // [1, C, 1, 1]-like: keep dim 1 (or 0 at rank 1), 1 elsewhere.
      return fc.constant(dims.map((d, i) => (i === Math.min(1, dims.length - 1) ? d : 1)));
    case "row":
      return fc.constantFrom(
        [dims.at(-1)!],
        dims.map((d, i) => (i === dims.length - 1 ? d : 1)),
      );
    case "random":
      return fc
        .tuple(
          fc.array(fc.boolean(), { minLength: dims.length, maxLength: dims.length }),
          fc.integer({ min: 0, max: dims.length }),
        )
        .map(([keep, drop]) => dims.map((d, i) => (keep[i] ? d : 1)).slice(drop));
  }
}

const pattern = fc.constantFrom<Pattern>("same", "scalar", "perChannel", "row", "random");

const broadcastCase = fc
  .tuple(outDims, pattern, pattern, fc.boolean())
  .chain(([dims, pa, pb, swap]) => fc.tuple(operandDims(dims, pa), operandDims(dims, pb), fc.constant(swap)))
  .map(([x, y, swap]) => (swap ? [y, x] : [x, y]) as [number[], number[]])
  .chain(([aDims, bDims]) =>
    fc.record({
      aDims: fc.constant(aDims),
      bDims: fc.constant(bDims),
      a: wideF32Array(product(aDims)),
      b: wideF32Array(product(bDims)),
      op: fc.constantFrom(...OPS),
      act: fc.constantFrom(...ACTS),
    }),
  );

test("broadcastStrides follows the numpy rule: each output index reads the operand index clamped on size-1 dims", () => {
  fc.assert(
    fc.property(broadcastCase, ({ aDims, bDims }) => {
      const plan = broadcastStrides(aDims, bDims);
      const rank = Math.max(aDims.length, bDims.length);
      assert.equal(plan.dims.length, rank);
      const total = product(plan.dims);
      for (let flat = 0; flat < total; flat++) {
        // The output multi-index, then numpy's operand index for it, computed independently of the plan.
        const idx: number[] = [];
        let rest = flat;
        for (let d = rank - 1; d >= 0; d--) {
          idx[d] = rest % plan.dims[d]!;
          rest = Math.floor(rest / plan.dims[d]!);
        }
        for (const [dims, strides] of [
          [aDims, plan.aStrides],
          [bDims, plan.bStrides],
        ] as const) {
          let want = 0;
          for (let k = 0; k < dims.length; k++) {
            want = want * dims[k]! + (dims[k] === 1 ? 0 : idx[rank - dims.length + k]!);
          }
          const got = idx.reduce((s, i, d) => s + i * strides[d]!, 0);
          assert.equal(got, want, `dims [${dims}] at output index [${idx}]`);
        }
      }
      return true;
    }),
  );
});

test("broadcastStrides: hand-computed plans and clear refusals", () => {
  assert.deepEqual(broadcastStrides([2, 3, 4, 5], [3, 1, 1]), {
    dims: [2, 3, 4, 5],
    aStrides: [60, 20, 5, 1],
    bStrides: [0, 1, 0, 0],
  });
  assert.deepEqual(broadcastStrides([1, 4], [3, 1]), { dims: [3, 4], aStrides: [0, 1], bStrides: [1, 0] });
  assert.deepEqual(broadcastStrides([], [2]), { dims: [2], aStrides: [0], bStrides: [1] });
  assert.deepEqual(broadcastStrides([], []), { dims: [], aStrides: [], bStrides: [] });
  const refuse = (a: number[], b: number[], message: RegExp) =>
    assert.throws(
      () => broadcastStrides(a, b),
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  refuse([2, 3], [4, 3], /\[2, 3\] and \[4, 3\] do not broadcast: output dim 0 is 2 in a and 4 in b/);
  refuse([0], [5], /do not broadcast/);
  refuse([2, -1], [1], /aDims: dim 1 must be a non-negative integer/);
  refuse([1, 1, 1, 1, 1, 1, 1, 1, 1], [1], /rank 9 is above the supported 8/);
});

test("eltwiseBroadcast matches the reference on every broadcast pattern, op and activation", () => {
  fc.assert(
    fc.property(broadcastCase, ({ aDims, bDims, a, b, op, act }) => {
      const plan = broadcastStrides(aDims, bDims);
      return check(act, eltwiseBroadcast(w, op, a, aDims, b, bDims, { act }), expected(op, a, b, plan, act));
    }),
  );
});

test("eltwise_binary on arbitrary strides (steps 0..3, the general path) matches the reference", () => {
  const stridedCase = outDims.chain((dims) =>
    fc
      .tuple(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: dims.length, maxLength: dims.length }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: dims.length, maxLength: dims.length }),
      )
      .chain(([aStrides, bStrides]) => {
        const span = (s: number[]) =>
          dims.includes(0) ? 0 : 1 + dims.reduce((n, d, i) => n + (d - 1) * s[i]!, 0);
        return fc.record({
          plan: fc.constant<BroadcastPlan>({ dims, aStrides, bStrides }),
          a: wideF32Array(span(aStrides)),
          b: wideF32Array(span(bStrides)),
          op: fc.constantFrom(...OPS),
          act: fc.constantFrom(...ACTS),
        });
      }),
  );
  fc.assert(
    fc.property(stridedCase, ({ plan, a, b, op, act }) => {
      const got = withArena(w, (arena) => {
        const y = arena.allocF32(product(plan.dims));
        eltwiseBinaryBuffers(w, op, arena.copyInF32(a), arena.copyInF32(b), y, plan, act);
        return arena.viewF32(y).slice();
      });
      return check(act, got, expected(op, a, b, plan, act));
    }),
  );
});

test("y may be the non-broadcast operand (in place, either side)", () => {
  fc.assert(
    fc.property(broadcastCase, fc.boolean(), ({ aDims, bDims, a, b, op, act }, intoB) => {
      const plan = broadcastStrides(aDims, bDims);
      const full = intoB ? bDims : aDims;
      fc.pre(product(full) === product(plan.dims) && full.length === plan.dims.length);
      const got = withArena(w, (arena) => {
        const ab = arena.copyInF32(a);
        const bb = arena.copyInF32(b);
        eltwiseBinaryBuffers(w, op, ab, bb, intoB ? bb : ab, plan, act);
        return arena.viewF32(intoB ? bb : ab).slice();
      });
      return check(act, got, expected(op, a, b, plan, act));
    }),
  );
});

test("large same-shape, per-channel and scalar cases cross the activation blocks", () => {
  const dims = [2, 16, 15, 17];
  const a = Float32Array.from({ length: product(dims) }, (_, i) => Math.sin(i) * 4);
  for (const bDims of [dims, [1, 16, 1, 1], [1], [17], [2, 1, 15, 1]]) {
    const b = Float32Array.from({ length: product(bDims) }, (_, i) => Math.cos(i) * 2);
    for (const op of OPS) {
      const act: Activation = { kind: "relu" };
      const plan = broadcastStrides(dims, bDims);
      assertSameF32(
        eltwiseBroadcast(w, op, a, dims, b, bDims, { act }),
        expected(op, a, b, plan, act),
        `${op} [${bDims}]`,
      );
      assertSameF32(
        eltwiseBroadcast(w, op, b, bDims, a, dims),
        expected(op, b, a, broadcastStrides(bDims, dims), { kind: "none" }),
      );
    }
  }
});

test("hand-computed: the residual Add + Relu, per-channel Mul, scalar Div and row Sub", () => {
  const x = Float32Array.of(1, -2, 3, -4, 5, -6, 7, -8); // [1, 2, 2, 2]
  assert.deepEqual(
    Array.from(
      eltwiseBroadcast(w, "add", x, [1, 2, 2, 2], Float32Array.of(1, 1, 1, 1, -1, -1, -1, -1), [1, 2, 2, 2], {
        act: { kind: "relu" },
      }),
    ),
    [2, 0, 4, 0, 4, 0, 6, 0],
  );
  assert.deepEqual(
    Array.from(eltwiseBroadcast(w, "mul", x, [1, 2, 2, 2], Float32Array.of(10, -1), [1, 2, 1, 1])),
    [10, -20, 30, -40, -5, 6, -7, 8],
  );
  assert.deepEqual(
    Array.from(eltwiseBroadcast(w, "div", Float32Array.of(2), [], x, [8])),
    [2, -1, 2 / 3, -0.5, 0.4, -1 / 3, 2 / 7, -0.25].map(Math.fround),
  );
  assert.deepEqual(
    Array.from(
      eltwiseBroadcast(w, "sub", Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], Float32Array.of(1, 2, 3), [3]),
    ),
    [0, 0, 0, 3, 3, 3],
  );
  assert.deepEqual(
    Array.from(eltwiseBroadcast(w, "add", Float32Array.of(5), [], Float32Array.of(-2), [])),
    [3],
  );
  assert.deepEqual(
    Array.from(eltwiseBroadcast(w, "add", new Float32Array(0), [0, 3], Float32Array.of(1, 2, 3), [3])),
    [],
  );
});

test("the wrappers refuse bad ops, lengths and plans", () => {
  const invalid = (f: () => unknown, message: RegExp) =>
    assert.throws(
      f,
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && message.test(e.message),
    );
  invalid(
    () => eltwiseBroadcast(w, "pow" as EltwiseOp, new Float32Array(2), [2], new Float32Array(2), [2]),
    /unknown op "pow"/,
  );
  invalid(
    () => eltwiseBroadcast(w, "add", new Float32Array(3), [2], new Float32Array(2), [2]),
    /a \(dims \[2\]\): expected 2/,
  );
  invalid(
    () => eltwiseBroadcast(w, "add", new Float32Array(6), [2, 3], new Float32Array(2), [2]),
    /do not broadcast/,
  );
  invalid(
    () =>
      withArena(w, (arena) =>
        eltwiseBinaryBuffers(w, "add", arena.allocF32(4), arena.allocF32(4), arena.allocF32(4), {
          dims: [2, 2],
          aStrides: [2, 1],
          bStrides: [3, 1],
        }),
      ),
    /the plan reads 4 of a and 5 of b/,
  );
  invalid(
    () =>
      withArena(w, (arena) =>
        eltwiseBinaryBuffers(w, "add", arena.allocF32(4), arena.allocF32(4), arena.allocF32(4), {
          dims: [2, 2],
          aStrides: [2],
          bStrides: [2, 1],
        }),
      ),
    /expected one stride of each per dim/,
  );
});

test("accumulate is bit-exact with the reference on ragged lengths, and in place doubles", () => {
  const arb = size(70).chain((len) => fc.tuple(wideF32Array(len), wideF32Array(len)));
  fc.assert(
    fc.property(arb, ([dst, src]) => {
      assertSameF32(accumulate(w, dst, src), reference.accumulate(dst, src));
      const doubled = withArena(w, (arena) => {
        const b = arena.copyInF32(dst);
        accumulateBuffers(w, b, b);
        return arena.viewF32(b).slice();
      });
      return assertSameF32(doubled, reference.accumulate(dst, dst));
    }),
  );
  assert.deepEqual(
    Array.from(accumulate(w, Float32Array.of(1, 2, 3, 4, 5), Float32Array.of(0.5, -2, 0, 1, -5))),
    [1.5, 0, 3, 5, 0],
  );
});

test("accumulate refuses a length mismatch and a partial overlap", () => {
  assert.throws(() => accumulate(w, new Float32Array(3), new Float32Array(2)), {
    code: "INVALID_ARGUMENT",
    message: /accumulate src: expected 3/,
  });
  withArena(w, (arena) => {
    const buf = arena.allocF32(8);
    assert.throws(() => accumulateBuffers(w, { ptr: buf.ptr, length: 4 }, { ptr: buf.ptr + 4, length: 4 }), {
      code: "INVALID_ARGUMENT",
      message: /partly overlaps/,
    });
  });
});
