// Activations: the ones the WASM act family computes (fused into the layer before them when that layer
// is their only producer and they its only consumer, else a step of their own), and the rarer unary ops
// computed in TS over the engine's memory.
import { attrFloat, type GraphNode } from "../../graph/ir.ts";
import {
  type Binding,
  exportFn,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  product,
  step,
  unsupported,
} from "../lower.ts";

/** Activation codes of assembly/act.ts (ACT_*); tests check them against the module's exports. */
export const ACT = {
  none: 0,
  relu: 1,
  leakyRelu: 2,
  clip: 3,
  sigmoid: 4,
  hardSigmoid: 5,
  hardSwish: 6,
  tanh: 7,
} as const;

/** An activation as the kernels take it. */
export interface Activation {
  readonly code: number;
  readonly a0: number;
  readonly a1: number;
}

export const NO_ACTIVATION: Activation = { code: ACT.none, a0: 0, a1: 0 };

/** The kernel activation a node computes, or undefined when it is not one (or its parameters are not constants). */
export function activationOf(ctx: Pick<LowerContext, "floatConst">, node: GraphNode): Activation | undefined {
  if (node.domain !== "") return undefined;
  switch (node.opType) {
    case "Relu":
      return { code: ACT.relu, a0: 0, a1: 0 };
    case "LeakyRelu":
      return { code: ACT.leakyRelu, a0: attrFloat(node, "alpha", 0.01), a1: 0 };
    case "Sigmoid":
      return { code: ACT.sigmoid, a0: 0, a1: 0 };
    case "Tanh":
      return { code: ACT.tanh, a0: 0, a1: 0 };
    case "HardSigmoid":
      return { code: ACT.hardSigmoid, a0: attrFloat(node, "alpha", 0.2), a1: attrFloat(node, "beta", 0.5) };
    case "HardSwish":
      return { code: ACT.hardSwish, a0: 0, a1: 0 };
    case "Clip": {
      if (node.attributes.has("min") || node.attributes.has("max")) {
        return {
          code: ACT.clip,
          a0: attrFloat(node, "min", -3.4028234663852886e38),
          a1: attrFloat(node, "max", 3.4028234663852886e38),
        };
      }
      const bound = (i: number, fallback: number): number | undefined => {
        const name = node.inputs[i];
        if (name === undefined || name === "") return fallback;
        const v = ctx.floatConst(name);
        return v === undefined || v.length !== 1 ? undefined : v[0]!;
      };
      const lo = bound(1, -3.4028234663852886e38);
      const hi = bound(2, 3.4028234663852886e38);
      return lo === undefined || hi === undefined ? undefined : { code: ACT.clip, a0: lo, a1: hi };
    }
    default:
      return undefined;
  }
}

/**
 * If the value's only consumer is an activation the kernels compute, fuse it: returns the activation and
 * the value the fused step now writes. Otherwise no activation and the same value.
 */
export function fuseActivation(ctx: LowerContext, value: string): { act: Activation; output: string } {
  const consumer = ctx.soleConsumer(value);
  if (consumer !== undefined && consumer.inputs[0] === value) {
    const act = activationOf(ctx, consumer);
    const out = consumer.outputs[0];
    if (act !== undefined && out !== undefined && out !== "") {
      ctx.fuse(consumer);
      return { act, output: out };
    }
  }
  return { act: NO_ACTIVATION, output: value };
}

/** A standalone kernel activation (not fused because its input has other readers). */
export const lowerKernelActivation = (ctx: LowerContext): Lowering => {
  const act = activationOf(ctx, ctx.node);
  if (act === undefined) throw unsupported(ctx.node, "its min/max inputs must be scalar constants");
  const x = inputName(ctx, 0);
  const y = outputName(ctx.node, 0);
  const len = product(ctx.dims(x));
  return step([x], [y], 0, (b) => {
    const apply = exportFn(b.exports, "act_apply");
    const xp = b.ptr(x);
    const yp = b.ptr(y);
    return () => apply(xp, yp, len, act.code, act.a0, act.a1);
  });
};

/** Per-element functions of the unary ops the engine computes in TS (float64 math, rounded to f32). */
const UNARY: Readonly<Record<string, (node: GraphNode) => (x: number) => number>> = {
  Abs: () => Math.abs,
  Neg: () => (x) => -x,
  Exp: () => Math.exp,
  Log: () => Math.log,
  Sqrt: () => Math.sqrt,
  Reciprocal: () => (x) => 1 / x,
  Erf: () => erf,
  Softplus: () => (x) => (x > 20 ? x : Math.log1p(Math.exp(x))),
  Softsign: () => (x) => x / (1 + Math.abs(x)),
  Mish: () => (x) => x * Math.tanh(x > 20 ? x : Math.log1p(Math.exp(x))),
  Elu: (n) => {
    const alpha = attrFloat(n, "alpha", 1);
    return (x) => (x >= 0 ? x : alpha * Math.expm1(x));
  },
  Celu: (n) => {
    const alpha = attrFloat(n, "alpha", 1);
    return (x) => Math.max(0, x) + Math.min(0, alpha * Math.expm1(x / alpha));
  },
  Selu: (n) => {
    const alpha = attrFloat(n, "alpha", 1.6732632);
    const gamma = attrFloat(n, "gamma", 1.050701);
    return (x) => gamma * (x > 0 ? x : alpha * Math.expm1(x));
  },
  Gelu: (n) => {
    const approximate = n.attributes.get("approximate")?.s;
    const tanhMode = approximate !== undefined && new TextDecoder().decode(approximate) === "tanh";
    return tanhMode
      ? (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
      : (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
  },
};

/** Op types of the TS unary lowering. */
export const UNARY_OPS: readonly string[] = Object.keys(UNARY);

/** A unary op computed in TS over the engine's memory. */
export const lowerUnary = (ctx: LowerContext): Lowering => {
  const make = UNARY[ctx.node.opType];
  if (make === undefined) throw unsupported(ctx.node, "not a unary op");
  const f = make(ctx.node);
  const x = inputName(ctx, 0);
  const y = outputName(ctx.node, 0);
  const len = product(ctx.dims(x));
  return step([x], [y], 0, (b: Binding) => {
    const xo = b.ptr(x) / 4;
    const yo = b.ptr(y) / 4;
    return () => {
      const m = b.f32();
      for (let i = 0; i < len; i++) m[yo + i] = f(m[xo + i]!);
    };
  });
};

/**
 * The error function, to about 1e-15 relative: a series for |x| < 3, else a continued fraction of erfc.
 * @param x any number.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) evaluated backwards.
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}
