// The arithmetic ceiling of WebAssembly SIMD in this runtime, measured in the same run as the GEMMs,
// with the structure of bench/native/peak.c so that the two compare.
//
// Each probe is a tiny hand-assembled module whose one function runs `iters` iterations of a GEMM
// micro-tile's inner loop: `rows` A vectors (already broadcast) loaded from a 1 KB buffer at an offset
// that moves by one vector every iteration, times two B vectors loaded once before the loop, into
// rows x 2 independent f32x4 accumulators (8 chains for rows = 4, 10 for 5, 12 for 6):
//   - "mul+add": f32x4.mul then f32x4.add (baseline SIMD128, what the default build and tfjs-wasm use);
//   - "fma": f32x4.relaxed_madd (relaxed SIMD; only where the runtime enables it).
// The A loads are what keep the multiplies in the loop: with constant operands (the previous probe)
// V8's scheduler hoisted every product out of the loop and the probe timed additions only. B comes from
// memory too, so V8 cannot rematerialise it as a constant inside the loop.
//
// Checked in V8's code (`node --no-liftoff --no-wasm-lazy-compilation --print-wasm-code`, Node 20.20 /
// V8 11.3, x64 with AVX; bench/lib/peak-code.ts, tests/bench/peak.test.ts): the loop body is `rows`
// vmovdqu loads from the buffer, 2·rows vmulps and 2·rows vaddps on registers (mul+add) or 2·rows
// vfmadd231ps (fma), the offset's add / and, the counter and the stack check: no store, no rbp/rsp
// operand. mul+add with rows = 6 needs 16 vector registers (12 accumulators, 2 of B, A and the product)
// where V8 has 15 (xmm15 is its scratch) and spills one accumulator per iteration; fma with rows = 6
// needs 15 and does not. The GEMM bench uses mul+add with 5 rows and fma with 6.

/** Which multiply-accumulate the probe uses. */
export type PeakKind = "mul+add" | "fma";

const V128_LOAD = [0xfd, 0x00];
const F32X4_EXTRACT_LANE = [0xfd, 0x1f];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];
const F32X4_RELAXED_MADD = [0xfd, 0x85, 0x02];

/** Bytes of the moving A buffer (64 vectors); the offset wraps with `& (A_BYTES - 16)`. */
const A_BYTES = 1024;
/** Where B's two vectors live, after A and its slack of up to 8 rows. */
const B_OFFSET = A_BYTES + 8 * 16;

function leb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const i32const = (n: number): number[] => [0x41, ...sleb(n)];
/** v128.load with 16-byte alignment at a constant offset from the address on the stack. */
const load = (offset: number): number[] => [...V128_LOAD, 0x04, ...leb(offset)];

/**
 * Bytes of a module exporting `memory` (one page) and `run(iters: i32): f32`, which performs
 * iters * rows * 2 multiply-accumulates on f32x4 vectors (iters * rows * 16 flops). Fill the memory with
 * {@link fillPeakMemory} before the first call.
 */
export function peakModule(kind: PeakKind, rows: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(rows) || rows < 1 || rows > 8) throw new Error(`rows must be 1..8, got ${rows}`);
  // Locals after the param (0: iters): off (i32), then v128: b0, b1, a, acc[0..2*rows).
  const OFF = 1;
  const b = (j: number) => 2 + j;
  const A = 4;
  const acc = (r: number, j: number) => 5 + r * 2 + j;
  const get = (i: number) => [0x20, ...leb(i)];
  const set = (i: number) => [0x21, ...leb(i)];
  const body: number[] = [];
  for (let j = 0; j < 2; j++) body.push(...i32const(0), ...load(B_OFFSET + 16 * j), ...set(b(j)));
  body.push(0x02, 0x40, 0x03, 0x40); // block, loop
  body.push(...get(0), 0x45, 0x0d, 0x01); // if iters == 0 break
  for (let r = 0; r < rows; r++) {
    body.push(...get(OFF), ...load(16 * r), ...set(A));
    for (let j = 0; j < 2; j++) {
      if (kind === "fma") body.push(...get(A), ...get(b(j)), ...get(acc(r, j)), ...F32X4_RELAXED_MADD);
      else body.push(...get(acc(r, j)), ...get(A), ...get(b(j)), ...F32X4_MUL, ...F32X4_ADD);
      body.push(...set(acc(r, j)));
    }
  }
  // off = (off + 16) & (A_BYTES - 16): the next row of A, wrapping within the buffer.
  body.push(...get(OFF), ...i32const(16), 0x6a, ...i32const(A_BYTES - 16), 0x71, ...set(OFF));
  body.push(...get(0), ...i32const(1), 0x6b, ...set(0)); // iters -= 1
  body.push(0x0c, 0x00, 0x0b, 0x0b); // br loop, end loop, end block
  // Keep every accumulator live: return lane 0 of their sum.
  body.push(...get(acc(0, 0)));
  for (let i = 1; i < rows * 2; i++) body.push(...get(acc(i >> 1, i & 1)), ...F32X4_ADD);
  body.push(...F32X4_EXTRACT_LANE, 0x00, 0x0b);
  const locals = [0x02, 0x01, 0x7f, ...leb(3 + rows * 2), 0x7b]; // 1 x i32, (3 + 2 rows) x v128
  const func = [...locals, ...body];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7d]), // (i32) -> f32
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x00, 0x01]), // memory: min 1 page
    // exports: "run" = func 0, "memory" = memory 0
    ...section(7, [
      0x02,
      0x03,
      0x72,
      0x75,
      0x6e,
      0x00,
      0x00,
      0x06,
      ...[..."memory"].map((c) => c.charCodeAt(0)),
      0x02,
      0x00,
    ]),
    ...section(10, [0x01, ...leb(func.length), ...func]),
  ]);
}

/** A: values in [0.5, 1] (finite sums, no denormals for any count used here); B: 0.999 and 0.998. */
export function fillPeakMemory(memory: WebAssembly.Memory): void {
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < B_OFFSET / 4; i++) f[i] = 0.5 + ((i >> 2) % 97) / 194;
  f.fill(0.999, B_OFFSET / 4, B_OFFSET / 4 + 4);
  f.fill(0.998, B_OFFSET / 4 + 4, B_OFFSET / 4 + 8);
}

/** GFLOP/s of one timed call, by wall clock and by process CPU time. */
export interface PeakRate {
  wall: number;
  /** Robust to the thread being descheduled on a shared machine (not to a busy hyperthread sibling). */
  cpu: number;
}

/** A compiled probe: `measure()` times one call. */
export interface PeakProbe {
  readonly kind: PeakKind;
  readonly rows: number;
  measure(): PeakRate;
}

/**
 * Compile a probe (synchronously, so it can be built after `--no-liftoff` is set) and size it to
 * run about `targetMs` per call. Returns undefined when the runtime rejects the module (no relaxed
 * SIMD for "fma").
 */
export function peakProbe(kind: PeakKind, rows: number, targetMs = 40): PeakProbe | undefined {
  const bytes = peakModule(kind, rows);
  if (!WebAssembly.validate(bytes)) return undefined;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  fillPeakMemory(instance.exports.memory as WebAssembly.Memory);
  const run = instance.exports.run as (iters: number) => number;
  const flopsPerIter = rows * 16;
  let iters = 1 << 14;
  for (;;) {
    const t0 = performance.now();
    run(iters);
    const ms = performance.now() - t0;
    if (ms > targetMs / 4 || iters >= 1 << 30) {
      iters = Math.max(1, Math.round((iters * targetMs) / Math.max(ms, 1e-3)));
      break;
    }
    iters *= 4;
  }
  return {
    kind,
    rows,
    measure(): PeakRate {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      run(iters);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const cpuMs = Math.max((c.user + c.system) / 1000, 1e-3);
      return { wall: (iters * flopsPerIter) / (ms * 1e6), cpu: (iters * flopsPerIter) / (cpuMs * 1e6) };
    },
  };
}
