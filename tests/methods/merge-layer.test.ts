import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { decomposeLayer, type LayerDecompositionInput } from "../../src/methods/merge-layer.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import {
  absorbConv,
  absorbDense,
  conv2d,
  dense,
  maxAbsDiff,
  relu,
  rng,
  scalingMatrix,
  sliceRows,
} from "./helpers.ts";

const w = await getWasm();

const BASE: Omit<LayerDecompositionInput, "weights" | "filters"> = {
  criterion: "l1",
  threshold: 0.99,
  lambda: 0.85,
  bnFormula: "exact",
  mode: "merge",
};

test("decomposeLayer doc example: a 2x duplicate merges with z = 0.5", () => {
  const d = decomposeLayer({ ...BASE, weights: Float32Array.of(1, 2, 2, 4), filters: 2, keptCount: 1 }, w);
  assert.deepEqual(d, { keep: [1], merges: [{ from: 0, into: 1, scale: 0.5 }], merged: 1, dropped: 0 });
});

/**
 * A layer of `families` kept base filters plus removed exact positive multiples of them, in a seeded
 * random order. Returns the base (kept) indices and, per filter, its base index and multiplier.
 */
function familyLayout(seed: number, families: number, extra: number) {
  const r = rng(seed);
  const n = families + extra;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r(0, 1) * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const base = order.slice(0, families).sort((a, b) => a - b);
  const of = new Array<number>(n);
  const mult = new Array<number>(n).fill(1);
  base.forEach((b) => {
    of[b] = b;
  });
  for (const i of order.slice(families)) {
    of[i] = base[Math.floor(r(0, 1) * families)]!;
    mult[i] = r(0.25, 3);
  }
  return { n, base, of, mult, r };
}

interface FcNet {
  n: number;
  d: number;
  m: number;
  base: number[];
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  xs: number[][];
}

/** LeNet-style FC pair: removed neurons are positive multiples of kept ones, bias included (§2.9 test 1). */
function fcFamily(
  seed: number,
  families: number,
  extra: number,
  d: number,
  m: number,
  positive: boolean,
): FcNet {
  const { n, base, of, mult, r } = familyLayout(seed, families, extra);
  const lo = positive ? 0 : -1;
  const w1 = new Float32Array(n * d);
  const b1 = new Float32Array(n);
  for (const b of base) {
    for (let c = 0; c < d; c++) w1[b * d + c] = r(lo, 1);
    b1[b] = positive ? r(0.1, 1) : r(-0.5, 0.5);
  }
  for (let i = 0; i < n; i++) {
    if (of[i] === i) continue;
    for (let c = 0; c < d; c++) w1[i * d + c] = mult[i]! * w1[of[i]! * d + c]!;
    b1[i] = mult[i]! * b1[of[i]!]!;
  }
  const w2 = Float32Array.from({ length: m * n }, () => (positive ? r(0.1, 1) : r(-1, 1)));
  const b2 = Float32Array.from({ length: m }, () => r(-1, 1));
  const xs = Array.from({ length: 4 }, () => Array.from({ length: d }, () => r(positive ? 0 : -1, 1)));
  return { n, d, m, base, w1, b1, w2, b2, xs };
}

/** Max output difference between the FC pair and its decomposition (slice layer 1, W2·Z). */
function fcError(net: FcNet, keep: number[], z: Float64Array): number {
  const w1k = sliceRows(net.w1, net.d, keep);
  const b1k = keep.map((k) => net.b1[k]!);
  const w2z = absorbDense(net.w2, net.m, net.n, z);
  let err = 0;
  for (const x of net.xs) {
    const y = dense(net.w2, net.b2, dense(net.w1, net.b1, x).map(relu));
    const yh = dense(w2z, net.b2, dense(w1k, b1k, x).map(relu));
    err = Math.max(err, maxAbsDiff(y, yh));
  }
  return err;
}

const fcArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 }),
  families: fc.integer({ min: 1, max: 6 }),
  extra: fc.integer({ min: 0, max: 10 }),
  d: fc.integer({ min: 3, max: 24 }),
  m: fc.integer({ min: 1, max: 5 }),
});

test("exactness (§2.9.1): merging positive multiples with matching biases leaves FC outputs unchanged", () => {
  fc.assert(
    fc.property(fcArb, ({ seed, families, extra, d, m }) => {
      const net = fcFamily(seed, families, extra, d, m, false);
      const dec = decomposeLayer(
        { ...BASE, weights: net.w1, filters: net.n, bias: net.b1, keep: net.base },
        w,
      );
      assert.deepEqual(dec.keep, net.base);
      assert.equal(dec.merged, extra);
      assert.equal(dec.dropped, 0);
      assert.ok(fcError(net, dec.keep, scalingMatrix(net.n, dec.keep, dec.merges)) <= 1e-4);
    }),
  );
});

test("plain pruning is NOT exact on the duplicate family, and merging is never worse than pruning", () => {
  fc.assert(
    fc.property(fcArb, fc.boolean(), ({ seed, families, extra, d, m }, positive) => {
      const net = fcFamily(seed, families, extra, d, m, positive);
      const args = { ...BASE, weights: net.w1, filters: net.n, bias: net.b1, keep: net.base };
      const merged = decomposeLayer(args, w);
      const pruned = decomposeLayer({ ...args, mode: "prune" }, w);
      assert.deepEqual(pruned.merges, []);
      assert.equal(pruned.dropped, extra);
      const mergeErr = fcError(net, merged.keep, scalingMatrix(net.n, merged.keep, merged.merges));
      const pruneErr = fcError(net, pruned.keep, scalingMatrix(net.n, pruned.keep, pruned.merges));
      assert.ok(mergeErr <= pruneErr + 1e-6, `merge ${mergeErr} > prune ${pruneErr}`);
      // With positive weights, inputs and biases every removed neuron is active and its consumer
      // column positive, so dropping it must change the outputs.
      if (positive && extra > 0) assert.ok(pruneErr > 1e-3, `prune error ${pruneErr} unexpectedly small`);
    }),
  );
});

interface ConvNet {
  n: number;
  base: number[];
  weights: Float32Array;
  bias: Float32Array;
  bn: { gamma: Float64Array; beta: Float64Array; mean: Float64Array; var: Float64Array; eps: number };
  w2: Float32Array;
  m: number;
  xs: number[][];
}

const CIN = 2;
const HW = 5;
const K = 3;

/**
 * conv(3x3, bias) -> BN -> ReLU -> conv(3x3 over the 3x3 map). Removed filters are positive multiples
 * s·F_k of kept ones, with BN entries chosen so that B = 0 in the exact formula (§2.5, §2.9.1):
 * β_p = −(γ_p/σ_p)·(s·(μ'_k − σ_k·β_k/γ_k) − μ'_p), where μ' = μ − conv bias (§0).
 */
function convFamily(seed: number, families: number, extra: number, m: number): ConvNet {
  const { n, base, of, mult, r } = familyLayout(seed, families, extra);
  const d = CIN * K * K;
  const eps = 1e-5;
  const weights = new Float32Array(n * d);
  const bias = Float32Array.from({ length: n }, () => r(-0.5, 0.5));
  const gamma = Float64Array.from({ length: n }, () => r(0.5, 2));
  const variance = Float64Array.from({ length: n }, () => r(0.1, 2));
  const mean = Float64Array.from({ length: n }, () => r(-0.5, 0.5));
  const beta = Float64Array.from({ length: n }, () => r(-0.5, 0.5));
  for (const b of base) for (let c = 0; c < d; c++) weights[b * d + c] = r(-1, 1);
  for (let p = 0; p < n; p++) {
    const k = of[p]!;
    if (k === p) continue;
    const s = mult[p]!;
    for (let c = 0; c < d; c++) weights[p * d + c] = s * weights[k * d + c]!;
    const sp = Math.sqrt(variance[p]! + eps);
    const sk = Math.sqrt(variance[k]! + eps);
    const mk = mean[k]! - bias[k]!;
    const mp = mean[p]! - bias[p]!;
    beta[p] = -(gamma[p]! / sp) * (s * (mk - (sk * beta[k]!) / gamma[k]!) - mp);
  }
  const w2 = Float32Array.from({ length: m * n * K * K }, () => r(-1, 1));
  const xs = Array.from({ length: 3 }, () => Array.from({ length: CIN * HW * HW }, () => r(-1, 1)));
  return { n, base, weights, bias, bn: { gamma, beta, mean, var: variance, eps }, w2, m, xs };
}

/** Consumer outputs of the original conv block vs the decomposed one (keep sliced, W2 absorbs Z). */
function convError(net: ConvNet, keep: number[], z: Float64Array): number {
  const ho = HW - K + 1;
  const bnRelu = (u: number[], channels: number[]) =>
    u.map((v, i) => {
      const c = channels[Math.floor(i / (ho * ho))]!;
      const { gamma, beta, mean, var: variance, eps } = net.bn;
      return relu((gamma[c]! * (v - mean[c]!)) / Math.sqrt(variance[c]! + eps) + beta[c]!);
    });
  const all = Array.from({ length: net.n }, (_, i) => i);
  const wk = sliceRows(net.weights, CIN * K * K, keep);
  const bk = keep.map((k) => net.bias[k]!);
  const w2z = absorbConv(net.w2, net.m, net.n, K * K, z);
  let err = 0;
  for (const x of net.xs) {
    const a = bnRelu(conv2d(x, CIN, HW, HW, net.weights, net.bias, net.n, K, K), all);
    const y = conv2d(a, net.n, ho, ho, net.w2, undefined, net.m, K, K);
    const ah = bnRelu(conv2d(x, CIN, HW, HW, wk, bk, keep.length, K, K), keep);
    const yh = conv2d(ah, keep.length, ho, ho, w2z, undefined, net.m, K, K);
    err = Math.max(err, maxAbsDiff(y, yh));
  }
  return err;
}

const convArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 }),
  families: fc.integer({ min: 1, max: 5 }),
  extra: fc.integer({ min: 0, max: 6 }),
  m: fc.integer({ min: 1, max: 3 }),
});

test("exactness (§2.9.1): conv -> BN -> ReLU in exact mode with B = 0 leaves consumer outputs unchanged", () => {
  fc.assert(
    fc.property(convArb, ({ seed, families, extra, m }) => {
      const net = convFamily(seed, families, extra, m);
      const dec = decomposeLayer(
        { ...BASE, weights: net.weights, filters: net.n, bias: net.bias, bn: net.bn, keep: net.base },
        w,
      );
      assert.equal(dec.merged, extra);
      const err = convError(net, dec.keep, scalingMatrix(net.n, dec.keep, dec.merges));
      assert.ok(err <= 1e-4, `merged conv block differs by ${err}`);
      const pruned = decomposeLayer(
        {
          ...BASE,
          weights: net.weights,
          filters: net.n,
          bias: net.bias,
          bn: net.bn,
          keep: net.base,
          mode: "prune",
        },
        w,
      );
      const pruneErr = convError(net, pruned.keep, scalingMatrix(net.n, pruned.keep, pruned.merges));
      assert.ok(err <= pruneErr + 1e-6, `merge ${err} > prune ${pruneErr}`);
    }),
  );
});

/** Random layers with every option mixed: weights, bias, BN (with odd entries), criteria, modes. */
const anyLayer = fc
  .record({
    n: fc.integer({ min: 1, max: 24 }),
    d: fc.integer({ min: 1, max: 20 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
    withBias: fc.boolean(),
    withBn: fc.boolean(),
    criterion: fc.constantFrom("l1", "l2", "gm") as fc.Arbitrary<"l1" | "l2" | "gm">,
    threshold: fc.constantFrom(-1, 0, 0.1, 0.45, 0.9),
    lambda: fc.constantFrom(0, 0.7, 0.85, 1),
    bnFormula: fc.constantFrom("exact", "reference") as fc.Arbitrary<"exact" | "reference">,
    mode: fc.constantFrom("merge", "prune") as fc.Arbitrary<"merge" | "prune">,
    keptFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((c) => {
    const r = rng(c.seed);
    const pick = (xs: number[]) => xs[Math.floor(r(0, 1) * xs.length)]!;
    const weights = Float32Array.from({ length: c.n * c.d }, () => (r(0, 1) < 0.1 ? 0 : r(-1, 1)));
    if (r(0, 1) < 0.3) weights.fill(0, 0, c.d); // a dead filter
    const arr = (f: () => number) => Float64Array.from({ length: c.n }, f);
    return {
      ...c,
      keptCount: Math.max(1, Math.round(c.keptFraction * c.n)),
      weights,
      bias: c.withBias ? Float32Array.from({ length: c.n }, () => r(-1, 1)) : undefined,
      bn: c.withBn
        ? {
            gamma: arr(() => pick([0, -0.5, r(0.1, 2), r(0.1, 2)])),
            beta: arr(() => r(-1, 1)),
            mean: arr(() => r(-1, 1)),
            var: arr(() => pick([0, r(0.01, 2), r(0.01, 2)])),
            eps: 1e-5,
          }
        : undefined,
    };
  });

test("validity (§2.2, §2.9.3): every Z row has at most one entry, non-negative, into a kept filter", () => {
  fc.assert(
    fc.property(anyLayer, (c) => {
      const dec = decomposeLayer(
        {
          weights: c.weights,
          filters: c.n,
          bias: c.bias,
          bn: c.bn,
          keptCount: c.keptCount,
          criterion: c.criterion,
          threshold: c.threshold,
          lambda: c.lambda,
          bnFormula: c.bnFormula,
          mode: c.mode,
        },
        w,
      );
      assert.equal(dec.keep.length, c.keptCount);
      for (let i = 1; i < dec.keep.length; i++) assert.ok(dec.keep[i - 1]! < dec.keep[i]!);
      const kept = new Set(dec.keep);
      const from = new Set<number>();
      for (const mg of dec.merges) {
        assert.ok(!kept.has(mg.from) && mg.from >= 0 && mg.from < c.n);
        assert.ok(!from.has(mg.from), "a removed row has two entries");
        from.add(mg.from);
        assert.ok(kept.has(mg.into));
        assert.ok(mg.scale >= 0 && Number.isFinite(mg.scale));
      }
      assert.equal(dec.merged, dec.merges.length);
      assert.equal(dec.merged + dec.dropped, c.n - c.keptCount);
      if (c.mode === "prune") assert.equal(dec.merged, 0);
      const z = scalingMatrix(c.n, dec.keep, dec.merges);
      for (let i = 0; i < c.n; i++) {
        const row = z.subarray(i * dec.keep.length, (i + 1) * dec.keep.length);
        assert.ok(row.filter((v) => v !== 0).length <= 1 && row.every((v) => v >= 0));
      }
    }),
  );
});

test("the kept set follows the criterion on [weights ; bias] without BN and on weights alone with BN", () => {
  // Filter 0 has the larger weights, filter 1 the larger bias.
  const weights = Float32Array.of(3, 0, 1, 0);
  const bias = [0, 5];
  const noBn = decomposeLayer({ ...BASE, weights, filters: 2, bias, keptCount: 1 }, w);
  assert.deepEqual(noBn.keep, [1]);
  // cos([3, 0, 0], [1, 0, 5]) = 0.196 < t: no merge.
  assert.deepEqual(noBn.merges, []);
  const bn = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], var: [1, 1], eps: 0 };
  const withBn = decomposeLayer({ ...BASE, weights, filters: 2, bias, bn, keptCount: 1 }, w);
  assert.deepEqual(withBn.keep, [0]);
});

test("decomposeLayer rejects inconsistent input with INVALID_ARGUMENT", () => {
  const bad = (patch: Partial<LayerDecompositionInput>) =>
    assert.throws(
      () =>
        decomposeLayer(
          { ...BASE, weights: Float32Array.of(1, 2, 3, 4), filters: 2, keptCount: 1, ...patch },
          w,
        ),
      (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT",
    );
  bad({ filters: 3 });
  bad({ bias: [1] });
  bad({ keep: [0] });
  bad({ keptCount: undefined, keep: [] });
  bad({ keptCount: undefined, keep: [0, 0] });
  bad({ keptCount: undefined, keep: [2] });
  bad({ keptCount: 0 });
  bad({ lambda: 2 });
  bad({ bn: { gamma: [1], beta: [0], mean: [0], var: [1], eps: 0 } });
});
