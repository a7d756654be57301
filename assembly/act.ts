// Element-wise activations: on their own (act_apply) and as the fused epilogue of a conv
// (act_bias_rows) or a Gemm/MatMul (act_bias_cols).
//
// Codes and formulas (the ONNX operator each one implements; a0, a1 are the f32 parameters):
//   ACT_NONE         y = x
//   ACT_RELU         y = max(x, 0)                          Relu   (NaN stays NaN; -0 gives +0)
//   ACT_LEAKY_RELU   y = x < 0 ? a0 * x : x                 LeakyRelu, a0 = alpha
//   ACT_CLIP         y = min(max(x, a0), a1)                Clip, a0 = min, a1 = max
//   ACT_SIGMOID      y = 1 / (1 + exp(-x)), computed as (x >= 0 ? 1 : e) / (1 + e) with e = exp(-|x|)
//                    (e is in [0, 1], so no Inf / Inf: +-Inf give 1 and 0; only NaN gives NaN)
//   ACT_HARD_SIGMOID y = max(0, min(1, a0 * x + a1))        HardSigmoid, a0 = alpha, a1 = beta
//   ACT_HARD_SWISH   y = x * max(0, min(1, x * (1/6) + 0.5)) HardSwish (ONNX formula: -Inf gives NaN)
//   ACT_TANH         y = tanh(x)                            Tanh
// Any other code is treated as ACT_NONE (the TS wrappers refuse it first).
//
// Every operation rounds to f32 in the order written (no fused multiply-add), so everything but
// sigmoid and tanh is bit-exact with src/wasm/reference/act.ts; those two use Mathf.exp / Mathf.tanh
// (musl, < 1 ulp) per lane. min/max are IEEE minimum/maximum (NaN wins, -0 < +0) in both the scalar
// and the SIMD forms.
//
// Layout: y is rows x cols, row-major (row r starts at y + r*cols*4 bytes); bias has rows (act_bias_rows)
// or cols (act_bias_cols) f32. A bias pointer of 0 means "no bias": HEAP_BASE > 0, so 0 is never a
// buffer.

export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_LEAKY_RELU: i32 = 2;
export const ACT_CLIP: i32 = 3;
export const ACT_SIGMOID: i32 = 4;
export const ACT_HARD_SIGMOID: i32 = 5;
export const ACT_HARD_SWISH: i32 = 6;
export const ACT_TANH: i32 = 7;

/** The epilogues work on blocks of about this many elements: bias pass, then activation pass, in cache. */
const BLOCK_LEN: i32 = 4096;

const SIXTH: f32 = <f32>(1.0 / 6.0);

function at(ptr: usize, i: i32): usize {
  return ptr + ((<usize>i) << 2);
}

// ---- per-element math, scalar and f32x4 ----
// Other families reuse actF32 (one value), actSpan (a span, SIMD) and the scalar helpers; the f32x4
// forms stay private to this file (exporting a v128 function from a module draws AS112 warnings).

/** max(x, 0). */
export function reluF32(x: f32): f32 {
  return Mathf.max(x, 0);
}

function reluF32x4(v: v128): v128 {
  return f32x4.max(v, f32x4.splat(0));
}

/** x < 0 ? alpha * x : x. */
export function leakyReluF32(x: f32, alpha: f32): f32 {
  return x < 0 ? alpha * x : x;
}

function leakyReluF32x4(v: v128, vAlpha: v128): v128 {
  return v128.bitselect(f32x4.mul(v, vAlpha), v, f32x4.lt(v, f32x4.splat(0)));
}

/** min(max(x, lo), hi). */
export function clipF32(x: f32, lo: f32, hi: f32): f32 {
  return Mathf.min(Mathf.max(x, lo), hi);
}

function clipF32x4(v: v128, vLo: v128, vHi: v128): v128 {
  return f32x4.min(f32x4.max(v, vLo), vHi);
}

/** 1 / (1 + exp(-x)) as (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|): never NaN unless x is. */
export function sigmoidF32(x: f32): f32 {
  const e = Mathf.exp(-Mathf.abs(x));
  return (x >= 0 ? <f32>1 : e) / (<f32>1 + e);
}

/** max(0, min(1, alpha * x + beta)). */
export function hardSigmoidF32(x: f32, alpha: f32, beta: f32): f32 {
  return Mathf.max(<f32>0, Mathf.min(<f32>1, alpha * x + beta));
}

function hardSigmoidF32x4(v: v128, vAlpha: v128, vBeta: v128): v128 {
  return f32x4.max(f32x4.splat(0), f32x4.min(f32x4.splat(1), f32x4.add(f32x4.mul(v, vAlpha), vBeta)));
}

/** x * max(0, min(1, x * (1/6) + 0.5)). */
export function hardSwishF32(x: f32): f32 {
  return x * hardSigmoidF32(x, SIXTH, 0.5);
}

function hardSwishF32x4(v: v128): v128 {
  return f32x4.mul(v, hardSigmoidF32x4(v, f32x4.splat(SIXTH), f32x4.splat(0.5)));
}

export function tanhF32(x: f32): f32 {
  return Mathf.tanh(x);
}

/** One activation of code `act` (see the table above) on one value. */
export function actF32(x: f32, act: i32, a0: f32, a1: f32): f32 {
  switch (act) {
    case ACT_RELU:
      return reluF32(x);
    case ACT_LEAKY_RELU:
      return leakyReluF32(x, a0);
    case ACT_CLIP:
      return clipF32(x, a0, a1);
    case ACT_SIGMOID:
      return sigmoidF32(x);
    case ACT_HARD_SIGMOID:
      return hardSigmoidF32(x, a0, a1);
    case ACT_HARD_SWISH:
      return hardSwishF32(x);
    case ACT_TANH:
      return tanhF32(x);
    default:
      return x;
  }
}

/**
 * y[i] = act(x[i]) for i < len; x and y may be the same buffer. One switch, then a SIMD loop per code
 * (sigmoid and tanh are scalar per element: exp dominates) and a scalar tail.
 */
export function actSpan(xPtr: usize, yPtr: usize, len: i32, act: i32, a0: f32, a1: f32): void {
  let i = 0;
  switch (act) {
    case ACT_RELU: {
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), reluF32x4(v128.load(at(xPtr, i))));
      break;
    }
    case ACT_LEAKY_RELU: {
      const vA = f32x4.splat(a0);
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), leakyReluF32x4(v128.load(at(xPtr, i)), vA));
      break;
    }
    case ACT_CLIP: {
      const vLo = f32x4.splat(a0);
      const vHi = f32x4.splat(a1);
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), clipF32x4(v128.load(at(xPtr, i)), vLo, vHi));
      break;
    }
    case ACT_HARD_SIGMOID: {
      const vA = f32x4.splat(a0);
      const vB = f32x4.splat(a1);
      for (; i + 4 <= len; i += 4) {
        v128.store(at(yPtr, i), hardSigmoidF32x4(v128.load(at(xPtr, i)), vA, vB));
      }
      break;
    }
    case ACT_HARD_SWISH: {
      for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), hardSwishF32x4(v128.load(at(xPtr, i))));
      break;
    }
    case ACT_SIGMOID:
    case ACT_TANH:
      break;
    default: {
      // ACT_NONE and unknown codes: a copy (memory.copy handles overlap).
      if (xPtr !== yPtr && len > 0) memory.copy(yPtr, xPtr, (<usize>len) << 2);
      return;
    }
  }
  for (; i < len; i++) store<f32>(at(yPtr, i), actF32(load<f32>(at(xPtr, i)), act, a0, a1));
}

/** y[i] += b for i < len. */
function addScalarSpan(yPtr: usize, len: i32, b: f32): void {
  const vb = f32x4.splat(b);
  let i = 0;
  for (; i + 4 <= len; i += 4) v128.store(at(yPtr, i), f32x4.add(v128.load(at(yPtr, i)), vb));
  for (; i < len; i++) store<f32>(at(yPtr, i), load<f32>(at(yPtr, i)) + b);
}

/** y[i] += b[i] for i < len. */
export function addSpan(yPtr: usize, bPtr: usize, len: i32): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    v128.store(at(yPtr, i), f32x4.add(v128.load(at(yPtr, i)), v128.load(at(bPtr, i))));
  }
  for (; i < len; i++) store<f32>(at(yPtr, i), load<f32>(at(yPtr, i)) + load<f32>(at(bPtr, i)));
}

/** Rows per block of about BLOCK_LEN elements (at least 1). */
function blockRows(cols: i32): i32 {
  return cols >= BLOCK_LEN ? 1 : BLOCK_LEN / cols;
}

/** y[i] = act(x[i]) for i < len (codes and formulas above). x and y may be the same buffer. */
export function act_apply(xPtr: usize, yPtr: usize, len: i32, act: i32, a0: f32, a1: f32): void {
  actSpan(xPtr, yPtr, len, act, a0, a1);
}

/**
 * The conv epilogue, in place: y[r, j] = act(y[r, j] + bias[r]) for y rows x cols (rows = output
 * channels, cols = H*W of one image), bias `rows` f32, or biasPtr = 0 for y[r, j] = act(y[r, j]).
 */
export function act_bias_rows(
  yPtr: usize,
  rows: i32,
  cols: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
): void {
  if (rows <= 0 || cols <= 0) return;
  const step = blockRows(cols);
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r1 = min(rows, r0 + step);
    const block = yPtr + <usize>r0 * <usize>cols * 4;
    if (biasPtr !== 0) {
      for (let r = r0; r < r1; r++) {
        addScalarSpan(yPtr + <usize>r * <usize>cols * 4, cols, load<f32>(at(biasPtr, r)));
      }
    }
    actSpan(block, block, (r1 - r0) * cols, act, a0, a1);
  }
}

/**
 * The Gemm/MatMul epilogue, in place: y[r, j] = act(y[r, j] + bias[j]) for y rows x cols, bias `cols`
 * f32, or biasPtr = 0 for y[r, j] = act(y[r, j]).
 */
export function act_bias_cols(
  yPtr: usize,
  rows: i32,
  cols: i32,
  biasPtr: usize,
  act: i32,
  a0: f32,
  a1: f32,
): void {
  if (rows <= 0 || cols <= 0) return;
  const step = blockRows(cols);
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r1 = min(rows, r0 + step);
    const block = yPtr + <usize>r0 * <usize>cols * 4;
    if (biasPtr !== 0) {
      for (let r = r0; r < r1; r++) addSpan(yPtr + <usize>r * <usize>cols * 4, biasPtr, cols);
    }
    actSpan(block, block, (r1 - r0) * cols, act, a0, a1);
  }
}

// ---- backward (training) ----
//
// act_backward: dx = dy * f'(x), x the activation's INPUT, with PyTorch's conventions at the kinks
// (the derivative of the branch that excludes the kink point, as its *_backward kernels do):
//   ACT_NONE         dx = dy
//   ACT_RELU         dx = x > 0 ? dy : 0                         (threshold_backward)
//   ACT_LEAKY_RELU   dx = x > 0 ? dy : a0 * dy                   (leaky_relu_backward)
//   ACT_CLIP         dx = a0 < x < a1 ? dy : 0                   (hardtanh_backward: 0 at x <= a0 or x >= a1)
//   ACT_SIGMOID      dx = dy * s(1 - s), as dy * (e / ((1 + e) * (1 + e))) with e = exp(-|x|)
//   ACT_TANH         dx = dy * (1 - t^2), as dy * (4e / ((1 + e) * (1 + e))) with e = exp(-2|x|)
//   ACT_HARD_SIGMOID dx = 0 < v < 1 ? a0 * dy : 0, v = a0 * x + a1 rounded as the forward does
//   ACT_HARD_SWISH   dx = x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 0.5) : dy   (hardswish_backward)
// The sigmoid and tanh forms equal s(1 - s) and 1 - t^2 but keep their relative accuracy where the
// derivative is tiny (|x| large), where 1 - s or 1 - t*t would cancel to 0. Comparisons with NaN are
// false, so a NaN x gives 0 (relu, clip, hard sigmoid), a0 * dy (leaky), dy (hard swish) or NaN
// (sigmoid, tanh). Unknown codes are treated as ACT_NONE.

/** e / ((1 + e) * (1 + e)) with e = exp(-|x|): sigmoid'(x), never NaN unless x is. */
function sigmoidGradF32(x: f32): f32 {
  const e = Mathf.exp(-Mathf.abs(x));
  const d = <f32>1 + e;
  return e / (d * d);
}

/** 4e / ((1 + e) * (1 + e)) with e = exp(-2|x|): tanh'(x) = 1 - tanh(x)^2. */
function tanhGradF32(x: f32): f32 {
  const e = Mathf.exp(<f32>-2 * Mathf.abs(x));
  const d = <f32>1 + e;
  return (<f32>4 * e) / (d * d);
}

/** dy * f'(x) for one value (codes above). */
function actGradF32(x: f32, dy: f32, act: i32, a0: f32, a1: f32): f32 {
  switch (act) {
    case ACT_RELU:
      return x > 0 ? dy : 0;
    case ACT_LEAKY_RELU:
      return x > 0 ? dy : a0 * dy;
    case ACT_CLIP:
      return x > a0 && x < a1 ? dy : 0;
    case ACT_SIGMOID:
      return dy * sigmoidGradF32(x);
    case ACT_HARD_SIGMOID: {
      const v = a0 * x + a1;
      return v > 0 && v < 1 ? a0 * dy : 0;
    }
    case ACT_HARD_SWISH:
      return x < -3 ? 0 : x <= 3 ? dy * (x / 3 + <f32>0.5) : dy;
    case ACT_TANH:
      return dy * tanhGradF32(x);
    default:
      return dy;
  }
}

/**
 * dx[i] = dy[i] * f'(x[i]) for i < len, where x is the activation's input and act, a0, a1 are exactly
 * what act_apply takes (formulas above). dx may be the same buffer as dy or as x (in place); no other
 * overlap. SIMD per code (sigmoid and tanh scalar: exp dominates), scalar tail.
 */
export function act_backward(
  xPtr: usize,
  dyPtr: usize,
  dxPtr: usize,
  len: i32,
  act: i32,
  a0: f32,
  a1: f32,
): void {
  let i = 0;
  const zero = f32x4.splat(0);
  switch (act) {
    case ACT_RELU: {
      for (; i + 4 <= len; i += 4) {
        const keep = f32x4.gt(v128.load(at(xPtr, i)), zero);
        v128.store(at(dxPtr, i), v128.and(v128.load(at(dyPtr, i)), keep));
      }
      break;
    }
    case ACT_LEAKY_RELU: {
      const vA = f32x4.splat(a0);
      for (; i + 4 <= len; i += 4) {
        const dy = v128.load(at(dyPtr, i));
        const pos = f32x4.gt(v128.load(at(xPtr, i)), zero);
        v128.store(at(dxPtr, i), v128.bitselect(dy, f32x4.mul(vA, dy), pos));
      }
      break;
    }
    case ACT_CLIP: {
      const vLo = f32x4.splat(a0);
      const vHi = f32x4.splat(a1);
      for (; i + 4 <= len; i += 4) {
        const x = v128.load(at(xPtr, i));
        const inside = v128.and(f32x4.gt(x, vLo), f32x4.lt(x, vHi));
        v128.store(at(dxPtr, i), v128.and(v128.load(at(dyPtr, i)), inside));
      }
      break;
    }
    case ACT_HARD_SIGMOID: {
      const vA = f32x4.splat(a0);
      const vB = f32x4.splat(a1);
      const one = f32x4.splat(1);
      for (; i + 4 <= len; i += 4) {
        const v = f32x4.add(f32x4.mul(vA, v128.load(at(xPtr, i))), vB);
        const inside = v128.and(f32x4.gt(v, zero), f32x4.lt(v, one));
        v128.store(at(dxPtr, i), v128.and(f32x4.mul(vA, v128.load(at(dyPtr, i))), inside));
      }
      break;
    }
    case ACT_HARD_SWISH: {
      const three = f32x4.splat(3);
      const minusThree = f32x4.splat(-3);
      const half = f32x4.splat(0.5);
      for (; i + 4 <= len; i += 4) {
        const x = v128.load(at(xPtr, i));
        const dy = v128.load(at(dyPtr, i));
        const mid = f32x4.mul(dy, f32x4.add(f32x4.div(x, three), half));
        // x <= 3: the middle branch; otherwise (x > 3 or NaN) dy; then x < -3 zeroes.
        const r = v128.bitselect(mid, dy, f32x4.le(x, three));
        v128.store(at(dxPtr, i), v128.andnot(r, f32x4.lt(x, minusThree)));
      }
      break;
    }
    case ACT_SIGMOID:
    case ACT_TANH:
      break;
    default: {
      // ACT_NONE and unknown codes: a copy (memory.copy handles dx = dy).
      if (dxPtr !== dyPtr && len > 0) memory.copy(dxPtr, dyPtr, (<usize>len) << 2);
      return;
    }
  }
  for (; i < len; i++) {
    store<f32>(at(dxPtr, i), actGradF32(load<f32>(at(xPtr, i)), load<f32>(at(dyPtr, i)), act, a0, a1));
  }
}
