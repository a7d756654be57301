// The arithmetic ceiling of WebAssembly SIMD on this machine, measured in the same run as the GEMMs.
//
// Each probe is a tiny hand-assembled module whose one function runs `iters` iterations of a
// register-only GEMM micro-tile: `rows` broadcast A vectors times two B vectors into rows * 2
// independent f32x4 accumulators (no loads, no stores). Its GFLOP/s is the most any kernel built
// from the same instructions can reach here:
//   - "mul+add": f32x4.mul then f32x4.add (baseline SIMD128, what the default build uses);
//   - "fma": f32x4.relaxed_madd (relaxed SIMD; only where the runtime enables it).

/** Which multiply-accumulate the probe uses. */
export type PeakKind = "mul+add" | "fma";

const F32X4_SPLAT = [0xfd, 0x13];
const F32X4_EXTRACT_LANE = [0xfd, 0x1f];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];
const F32X4_RELAXED_MADD = [0xfd, 0x85, 0x02];

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

function f32const(x: number): number[] {
  const b = new Uint8Array(new Float32Array([x]).buffer);
  return [0x43, ...b];
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];

/**
 * Bytes of a module exporting `run(iters: i32, s: f32): f32`, which performs iters * rows * 2
 * multiply-accumulates on f32x4 vectors (iters * rows * 16 flops).
 */
export function peakModule(kind: PeakKind, rows: number): Uint8Array<ArrayBuffer> {
  // Locals after the params (0: iters, 1: s): a[0..rows), b0, b1, acc[0..2*rows).
  const a = (r: number) => 2 + r;
  const b = (j: number) => 2 + rows + j;
  const acc = (r: number, j: number) => 2 + rows + 2 + r * 2 + j;
  const nLocals = rows + 2 + rows * 2;
  const get = (i: number) => [0x20, ...leb(i)];
  const set = (i: number) => [0x21, ...leb(i)];
  const body: number[] = [];
  for (let r = 0; r < rows; r++) body.push(...get(1), ...f32const(r + 1), 0x94, ...F32X4_SPLAT, ...set(a(r)));
  for (let j = 0; j < 2; j++) body.push(...f32const(0.999 - j * 0.001), ...F32X4_SPLAT, ...set(b(j)));
  body.push(0x02, 0x40, 0x03, 0x40); // block, loop
  body.push(...get(0), 0x45, 0x0d, 0x01); // if iters == 0 break
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < 2; j++) {
      if (kind === "fma") body.push(...get(a(r)), ...get(b(j)), ...get(acc(r, j)), ...F32X4_RELAXED_MADD);
      else body.push(...get(acc(r, j)), ...get(a(r)), ...get(b(j)), ...F32X4_MUL, ...F32X4_ADD);
      body.push(...set(acc(r, j)));
    }
  }
  body.push(...get(0), 0x41, 0x01, 0x6b, ...set(0)); // iters -= 1
  body.push(0x0c, 0x00, 0x0b, 0x0b); // br loop, end loop, end block
  // Keep every accumulator live: return lane 0 of their sum.
  body.push(...get(acc(0, 0)));
  for (let i = 1; i < rows * 2; i++) body.push(...get(acc(i >> 1, i & 1)), ...F32X4_ADD);
  body.push(...F32X4_EXTRACT_LANE, 0x00, 0x0b);
  const func = [0x01, ...leb(nLocals), 0x7b, ...body];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7d, 0x01, 0x7d]), // (i32, f32) -> f32
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // export "run" = func 0
    ...section(10, [0x01, ...leb(func.length), ...func]),
  ]);
}

/** A compiled probe: `measure()` returns GFLOP/s of one timed call. */
export interface PeakProbe {
  readonly kind: PeakKind;
  readonly rows: number;
  measure(): number;
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
  const run = instance.exports.run as (iters: number, s: number) => number;
  const flopsPerIter = rows * 16;
  let iters = 1 << 16;
  for (;;) {
    const t0 = performance.now();
    run(iters, 1);
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
    measure(): number {
      const t0 = performance.now();
      run(iters, 1);
      const ms = performance.now() - t0;
      return (iters * flopsPerIter) / (ms * 1e6);
    },
  };
}
