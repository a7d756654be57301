// Neuron Merging on wide layers: the partner search on several threads gives one thread's result bit for
// bit, and its memory is bounded by blocks of rows (issue: a 32,768-wide FC allocated removed x kept
// cosines, 1 GB).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { loadModel, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { PARALLEL_MIN_WORK } from "../../src/methods/merge.ts";
import { decomposeLayer } from "../../src/methods/merge-layer.ts";
import {
  type FromPartnerWorker,
  type PartnerWorkerPort,
  PartnerWorkers,
  resolveWorkerCount,
  servePartnerWorker,
  type ToPartnerWorker,
} from "../../src/methods/merge-workers.ts";
import { startNodePartnerWorkers } from "../../src/node/partner-workers.ts";
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../../src/onnx/tensor.ts";
import { createWasm, getWasm } from "../../src/wasm/instance.ts";
import { type FilterVectors, filterVectorPartners } from "../../src/wasm/kernels/filter-vectors.ts";
import { seededFloats } from "../helpers/arbitraries.ts";

const w = await getWasm();

/**
 * `count` partner workers served in this thread (servePartnerWorker behind a port that copies messages
 * as postMessage does and answers asynchronously): the protocol without starting threads.
 */
async function inThreadPorts(count: number): Promise<PartnerWorkerPort[]> {
  const ports: PartnerWorkerPort[] = [];
  for (let i = 0; i < count; i++) {
    let handler: ((m: FromPartnerWorker) => void) | undefined;
    const handle = servePartnerWorker((m) => {
      // The "ready" reply to init is what startNodePartnerWorkers waits for; PartnerWorkers never sees it.
      if (m.kind === "ready") return;
      const copy = structuredClone(m);
      setImmediate(() => handler?.(copy));
    });
    await handle({ kind: "init" });
    let queue: Promise<void> = Promise.resolve();
    ports.push({
      post: (m: ToPartnerWorker) => {
        const copy = structuredClone(m);
        queue = queue.then(() => handle(copy));
      },
      listen: (h) => {
        handler = h;
      },
      terminate: () => {},
    });
  }
  return ports;
}

/** A layer of n filters whose first third are noisy positive multiples of the last ones. */
const layer = fc
  .record({
    n: fc.integer({ min: 2, max: 40 }),
    d: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 90 })),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
    withBias: fc.boolean(),
    withBn: fc.boolean(),
    ratio: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
    threads: fc.integer({ min: 2, max: 4 }),
    blockRows: fc.integer({ min: 1, max: 9 }),
  })
  .map(({ n, d, seed, withBias, withBn, ratio, threads, blockRows }) => {
    const weights = seededFloats(seed, n * d);
    const noise = seededFloats(seed + 1, n * d);
    for (let i = 0; i < Math.floor(n / 3); i++) {
      for (let j = 0; j < d; j++)
        weights[i * d + j] = (1.5 + i) * weights[(n - 1 - i) * d + j]! + 0.01 * noise[i * d + j]!;
    }
    const v: FilterVectors = { weights, rows: n, cols: d };
    if (withBias) v.appended = seededFloats(seed + 2, n);
    const kept = Math.max(1, Math.min(n - 1, Math.round(n * (1 - ratio))));
    const keep = Array.from({ length: n }, (_, i) => i).filter((i) => (i * 7919 + seed) % n < kept);
    const removed = Array.from({ length: n }, (_, i) => i).filter((i) => !keep.includes(i));
    const bn = withBn
      ? {
          gamma: seededFloats(seed + 3, n),
          beta: seededFloats(seed + 4, n),
          mean: seededFloats(seed + 5, n),
          var: Array.from(seededFloats(seed + 6, n), (x) => Math.abs(x) + 0.1),
          eps: 1e-5,
        }
      : undefined;
    return { v, keep, removed, bn, threads, blockRows };
  });

test("PartnerWorkers give filterVectorPartners' partners and scales bit for bit (2-4 threads, ragged parts and blocks)", async () => {
  const own = await createWasm();
  const pools = new Map<number, PartnerWorkers>();
  for (const threads of [2, 3, 4]) pools.set(threads, new PartnerWorkers(await inThreadPorts(threads - 1)));
  await fc.assert(
    fc.asyncProperty(layer, async ({ v, keep, removed, bn, threads, blockRows }) => {
      const opts = { threshold: 0.1, bn, lambda: 0.85, formula: "exact" as const };
      const one = filterVectorPartners(w, v, removed, keep, opts);
      // More threads than kept filters leaves some parts empty.
      const many = await pools.get(threads)!.search(own, v, removed, keep, { ...opts, blockRows });
      assert.deepEqual(many, one);
    }),
    { numRuns: 60 },
  );
  assert.equal(own.arena.usedBytes, 0, "the search releases its arena region");
});

test("PartnerWorkers on Node worker threads give one thread's result on a long-row layer", async () => {
  // 70 filters of 9000 weights: the cache-blocked cosine tiles, several blocks of removed rows.
  const n = 70;
  const d = 9000;
  const weights = seededFloats(3, n * d);
  for (let j = 0; j < d; j++) weights[j] = 2 * weights[(n - 1) * d + j]!;
  const v: FilterVectors = { weights, rows: n, cols: d, appended: seededFloats(4, n) };
  const keep = Array.from({ length: 40 }, (_, i) => n - 1 - i).reverse();
  const removed = Array.from({ length: n - 40 }, (_, i) => i);
  const ports = await startNodePartnerWorkers(2);
  assert.ok(ports !== undefined, "Node has worker threads");
  const pool = new PartnerWorkers(ports);
  try {
    const own = await createWasm();
    const one = filterVectorPartners(w, v, removed, keep, { threshold: 0.1 });
    assert.deepEqual(await pool.search(own, v, removed, keep, { threshold: 0.1, blockRows: 8 }), one);
    assert.equal(one.partner[0], keep.length - 1, "the planted 2x copy of the last filter finds it");
  } finally {
    await pool.close();
  }
});

test("a worker's error reaches the search with its code", async () => {
  const failing: PartnerWorkerPort = {
    post: () => {},
    listen: (h) => setImmediate(() => h({ kind: "error", code: "INVALID_ARGUMENT", message: "bad rows" })),
    terminate: () => {},
  };
  const v: FilterVectors = { weights: seededFloats(1, 8 * 3), rows: 8, cols: 3 };
  const search = new PartnerWorkers([failing]).search(await createWasm(), v, [0, 1, 2], [3, 4, 5, 6, 7], {
    threshold: 0.1,
  });
  await assert.rejects(
    search,
    (e) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /bad rows/.test(e.message),
  );
});

test("workers must be an integer in 1..64 or auto", async () => {
  assert.equal(resolveWorkerCount(3), 3);
  assert.ok(resolveWorkerCount("auto") >= 1);
  const model = await loadModel(wideMlp(8, 16, 1, 0));
  for (const workers of [0, 1.5, 65, "two"]) {
    assert.throws(() => resolveWorkerCount(workers as number), { code: "INVALID_ARGUMENT" });
    await assert.rejects(prune(model, { method: "merge", ratio: 0.5, workers: workers as number }), (e) => {
      return isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /workers/.test(e.message);
    });
  }
});

/**
 * input [batch, inF] -> Gemm fc1 (hidden) -> Relu -> Gemm fc2 (outF). A fraction `planted` of fc1's
 * rows are noisy positive multiples of other rows, so merges happen.
 */
function wideMlp(inF: number, hidden: number, seed: number, planted: number, outF = 10): Uint8Array {
  const initializers: TensorProto[] = [];
  const w1 = seededFloats(seed, hidden * inF);
  const noise = seededFloats(seed + 1, hidden * inF);
  const copies = Math.floor(hidden * planted);
  for (let r = 0; r < copies; r++) {
    const scale = 0.5 + (r % 5) / 4;
    for (let i = 0; i < inF; i++)
      w1[r * inF + i] = scale * w1[(hidden - 1 - r) * inF + i]! * (1 + 0.01 * noise[r * inF + i]!);
  }
  initializers.push(makeFloat32Tensor("fc1.weight", [hidden, inF], w1));
  initializers.push(
    makeFloat32Tensor(
      "fc1.bias",
      [hidden],
      seededFloats(seed + 2, hidden).map((x) => x * 0.01),
    ),
  );
  initializers.push(makeFloat32Tensor("fc2.weight", [outF, hidden], seededFloats(seed + 3, outF * hidden)));
  initializers.push(makeFloat32Tensor("fc2.bias", [outF], seededFloats(seed + 4, outF)));
  const nodes: BuildNode[] = [
    {
      opType: "Gemm",
      name: "fc1",
      inputs: ["input", "fc1.weight", "fc1.bias"],
      outputs: ["h"],
      attributes: { transB: 1 },
    },
    { opType: "Relu", name: "relu", inputs: ["h"], outputs: ["r"] },
    {
      opType: "Gemm",
      name: "fc2",
      inputs: ["r", "fc2.weight", "fc2.bias"],
      outputs: ["output"],
      attributes: { transB: 1 },
    },
  ];
  return encodeModel(
    buildModel({
      inputs: [{ name: "input", shape: ["batch", inF] }],
      outputs: [{ name: "output", shape: ["batch", outF] }],
      nodes,
      initializers,
      opset: 13,
      name: "wide_mlp",
    }),
  );
}

test("prune gives the same bytes with 1 and 2 workers on a layer above PARALLEL_MIN_WORK", async () => {
  // fc1: 1024 x 1024 (+ bias) at ratio 0.5 is 512 x 512 x 1025 multiply-adds, just above the threshold.
  assert.ok(512 * 512 * 1025 >= PARALLEL_MIN_WORK);
  const model = await loadModel(wideMlp(1024, 1024, 7, 0.25));
  const one = await prune(model, { method: "merge", ratio: 0.5, workers: 1 });
  const two = await prune(model, { method: "merge", ratio: 0.5, workers: 2 });
  assert.deepEqual(two.bytes, one.bytes);
  assert.equal((one.report.details as { workers: number }).workers, 1);
  assert.equal((two.report.details as { workers: number }).workers, 2, "the report records the threads used");
  const fc1 = two.report.layers.find((l) => l.node === "fc1")!;
  assert.ok(fc1.merged >= 50, `planted copies merge (${fc1.merged} merged)`);
});

test("merging a 32,768-wide FC keeps the partner search in O(block x N) memory (no removed x kept matrix)", async () => {
  // 32768 filters of 12 weights + bias (a 1.6 MB layer). Removed x kept cosines at ratio 0.5 would be
  // 16384 x 16384 f32 = 1 GiB of wasm memory; blocks of 256 removed rows need 16 MiB.
  const n = 32768;
  const d = 12;
  const weights = seededFloats(11, n * d);
  for (let r = 0; r < 1000; r++)
    for (let i = 0; i < d; i++) weights[r * d + i] = 3 * weights[(n - 1 - r) * d + i]!;
  const bias = seededFloats(12, n).map((b) => b * 0.01);
  for (let r = 0; r < 1000; r++) bias[r] = 3 * bias[n - 1 - r]!;
  const fresh = await createWasm();
  const dec = decomposeLayer(
    {
      weights,
      bias,
      filters: n,
      keptCount: n / 2,
      criterion: "l1",
      threshold: 0.45,
      lambda: 0.85,
      bnFormula: "exact",
      mode: "merge",
    },
    fresh,
  );
  // WebAssembly memory never shrinks: its size is the high-water mark of the whole decomposition.
  const peak = fresh.exports.memory.buffer.byteLength;
  assert.ok(peak < 64 * 2 ** 20, `wasm memory grew to ${peak} bytes`);
  assert.equal(dec.keep.length, n / 2);
  assert.ok(dec.merged >= 1000, `the 1000 planted 3x copies merge (${dec.merged})`);
});

test("prune merges a model with a 32,768-wide FC (a 1.6 MB file)", async () => {
  const bytes = wideMlp(10, 32768, 5, 0.05, 1);
  assert.ok(bytes.length < 1.7e6, `${bytes.length} bytes`);
  const { report } = await prune(await loadModel(bytes), { method: "merge", ratio: 0.5, workers: 1 });
  const fc1 = report.layers.find((l) => l.node === "fc1")!;
  assert.equal(fc1.channelsAfter, 16384);
  assert.ok(fc1.merged > 0);
});
