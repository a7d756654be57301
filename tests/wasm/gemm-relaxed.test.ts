// The opt-in relaxed-SIMD build (build/prunekit.relaxed.wasm): feature detection, the fallback where a
// runtime lacks relaxed SIMD, and its GEMM against the reference. scripts/run-node-tests.mjs starts
// Node with --experimental-wasm-relaxed-simd so these run here; the fallback cases run in a child
// Node without the flag.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { isPrunekitError } from "../../src/errors.ts";
import { createWasm, getWasm } from "../../src/wasm/instance.ts";
import { gemm } from "../../src/wasm/kernels/gemm.ts";
import { relaxedSimdSupported } from "../../src/wasm/load.ts";
import * as reference from "../../src/wasm/reference/gemm.ts";
import { seededFloats } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";
import { gemmCase } from "../helpers/gemm-cases.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const supported = relaxedSimdSupported();

test("the test runner enables relaxed SIMD, so the relaxed build is exercised here", () => {
  assert.equal(supported, true, "run the node tests with --experimental-wasm-relaxed-simd (npm test does)");
});

const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

test("relaxed GEMM matches the reference on ragged shapes, every transpose, alpha, beta and strides", async () => {
  const w = await createWasm({ simd: "relaxed" });
  assert.equal(w.simd, "relaxed");
  for (const [transA, transB] of TRANSPOSES) {
    fc.assert(
      fc.property(gemmCase(transA, transB), ({ spec, a, b, c }) =>
        assertClose(gemm(w, spec, a, b, c), reference.gemm(spec, a, b, c), {
          reductionLen: spec.k,
          scale: 16 * Math.max(1, Math.abs(spec.alpha)),
        }),
      ),
    );
  }
});

test("relaxed GEMM matches the reference across K, M and N block edges", async () => {
  const w = await createWasm({ simd: "relaxed" });
  for (const [m, n, k] of [
    [241, 9, 513],
    [7, 1037, 3],
    [9, 523, 577],
  ] as const) {
    const a = seededFloats(m + k, m * k);
    const b = seededFloats(n + k, k * n);
    const c = seededFloats(m + n, m * n);
    const spec = { transA: false, transB: false, m, n, k, alpha: 0.75, beta: -0.5, lda: k, ldb: n, ldc: n };
    assertClose(gemm(w, spec, a, b, c), reference.gemm(spec, a, b, c), { reductionLen: k, scale: 4 });
  }
});

test("the default build rounds every product; the relaxed build may fuse it", async () => {
  // C = 1 * -(1 + 2^-11) + (1 + 2^-12)^2. The exact product (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds
  // to 1 + 2^-11 in f32, so separate multiply and add give exactly 0; a fused multiply-add keeps the
  // 2^-24. The default build must give 0 in every runtime; the relaxed build gives 0 or 2^-24.
  const a = Float32Array.of(1, 1 + 2 ** -12);
  const b = Float32Array.of(-(1 + 2 ** -11), 1 + 2 ** -12);
  const spec = { m: 1, n: 1, k: 2 };
  assert.deepEqual(Array.from(gemm(await getWasm(), spec, a, b)), [0]);
  const relaxed = gemm(await createWasm({ simd: "relaxed" }), spec, a, b);
  assert.ok(relaxed[0] === 0 || relaxed[0] === 2 ** -24, `relaxed gave ${relaxed[0]}`);
});

test("createWasm gives a private instance: its arena is not getWasm's", async () => {
  const shared = await getWasm();
  const own = await createWasm();
  assert.equal(own.simd, "baseline");
  assert.notEqual(own.exports.memory, shared.exports.memory);
});

test("createWasm refuses an unknown simd level with INVALID_ARGUMENT", async () => {
  await assert.rejects(createWasm({ simd: "fast" as "auto" }), (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /simd: expected "baseline", "relaxed" or "auto", got "fast"/);
    return true;
  });
});

test("without relaxed SIMD (Node 20, no flag): auto falls back to baseline, relaxed is a typed error", async () => {
  const instanceTs = new URL("../../src/wasm/instance.ts", import.meta.url).href;
  const loadTs = new URL("../../src/wasm/load.ts", import.meta.url).href;
  const script = `
    const { createWasm } = await import(${JSON.stringify(instanceTs)});
    const { relaxedSimdSupported } = await import(${JSON.stringify(loadTs)});
    const auto = await createWasm({ simd: "auto" });
    let error;
    await createWasm({ simd: "relaxed" }).catch((e) => { error = { code: e.code, message: e.message }; });
    console.log(JSON.stringify({ supported: relaxedSimdSupported(), auto: auto.simd, error }));
  `;
  // The child gets no --experimental-wasm-relaxed-simd, whatever this process was started with.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "--eval", script],
    { cwd: root, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: "" } },
  );
  const got = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.equal(got.supported, false, "Node 20 without the flag should not validate relaxed SIMD");
  assert.equal(got.auto, "baseline");
  assert.equal(got.error?.code, "WASM_LOAD_FAILED");
  assert.match(got.error.message, /simd "relaxed" was requested but this runtime has no relaxed SIMD/);
});
