// Gemm and MatMul on the packed GEMM, with a per-column bias (Gemm's C, or the Add of a constant that
// follows a MatMul) and the activation after it fused into the epilogue (act_bias_cols).
import { attrFloat, attrInt } from "../../graph/ir.ts";
import { gemmScratchLen } from "../../wasm/kernels/gemm.ts";
import {
  exportFn,
  inputName,
  type LowerContext,
  type Lowering,
  outputName,
  type ParamRef,
  product,
  step,
  unsupported,
} from "../lower.ts";
import { fuseActivation } from "./act.ts";

const GEMM_EXPORT = ["gemm_nn", "gemm_nt", "gemm_tn", "gemm_tt"] as const;

/** A bias of n values from a constant broadcastable to [.., n] (scalar, [n], [1, n]), or undefined. */
function columnBias(
  data: Float32Array,
  dims: readonly number[],
  n: number,
  scale: number,
): Float32Array | undefined {
  if (dims.slice(0, -1).some((d) => d !== 1)) return undefined;
  const last = dims.length === 0 ? 1 : dims[dims.length - 1]!;
  if (last !== 1 && last !== n) return undefined;
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = Math.fround(scale * data[last === 1 ? 0 : j]!);
  return out;
}

export const lowerGemm = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const a = inputName(ctx, 0);
  const bName = inputName(ctx, 1);
  const transA = attrInt(node, "transA", 0) !== 0;
  const transB = attrInt(node, "transB", 0) !== 0;
  const alpha = attrFloat(node, "alpha", 1);
  const beta = attrFloat(node, "beta", 1);
  const aDims = ctx.dims(a);
  const bDims = ctx.dims(bName);
  if (aDims.length !== 2 || bDims.length !== 2) throw unsupported(node, "Gemm needs rank-2 inputs");
  const m = transA ? aDims[1]! : aDims[0]!;
  const k = transA ? aDims[0]! : aDims[1]!;
  const n = transB ? bDims[0]! : bDims[1]!;
  if ((transB ? bDims[1] : bDims[0]) !== k)
    throw unsupported(node, `inner dims differ: A is [${aDims.join(", ")}], B is [${bDims.join(", ")}]`);
  let bias: Float32Array | undefined;
  const cName = node.inputs[2];
  if (cName !== undefined && cName !== "" && beta !== 0) {
    const c = ctx.floatConst(cName);
    bias = c === undefined ? undefined : columnBias(c, ctx.dims(cName), n, beta);
    if (bias === undefined)
      throw unsupported(node, "its C input must be a constant broadcast over rows ([N], [1, N] or a scalar)");
  }
  const bConst = ctx.floatConst(bName);
  const bRef = bConst === undefined ? undefined : ctx.param(bConst);
  return linearStep(ctx, {
    a,
    b: bName,
    bRef,
    transA,
    transB,
    m,
    n,
    k,
    alpha,
    bias,
    output: outputName(node, 0),
    lda: aDims[1]!,
    ldb: bDims[1]!,
    batches: 1,
    aStride: 0,
    bStride: 0,
  });
};

export const lowerMatMul = (ctx: LowerContext): Lowering => {
  const node = ctx.node;
  const a = inputName(ctx, 0);
  const bName = inputName(ctx, 1);
  const aDims = ctx.dims(a);
  const bDims = ctx.dims(bName);
  if (aDims.length < 1 || bDims.length < 1) throw unsupported(node, "MatMul needs inputs of rank >= 1");
  const a2 = aDims.length === 1 ? [1, aDims[0]!] : aDims;
  const b2 = bDims.length === 1 ? [bDims[0]!, 1] : bDims;
  const m = a2[a2.length - 2]!;
  const k = a2[a2.length - 1]!;
  const n = b2[b2.length - 1]!;
  if (b2[b2.length - 2] !== k)
    throw unsupported(node, `inner dims differ: [${aDims.join(", ")}] x [${bDims.join(", ")}]`);
  const aBatch = product(a2, 0, a2.length - 2);
  const bBatch = product(b2, 0, b2.length - 2);
  // B of rank 2 with A of any rank: one GEMM over all of A's rows. Otherwise the batch dims must match.
  let batches = 1;
  let rows = m;
  let aStride = 0;
  let bStride = 0;
  if (bBatch === 1 && b2.length <= 2) {
    rows = aBatch * m;
  } else if (aBatch === bBatch && a2.slice(0, -2).join() === b2.slice(0, -2).join()) {
    batches = aBatch;
    aStride = m * k;
    bStride = k * n;
  } else if (aBatch === 1) {
    batches = bBatch;
    bStride = k * n;
  } else {
    throw unsupported(
      node,
      `broadcast batch dims [${aDims.join(", ")}] x [${bDims.join(", ")}] are not supported`,
    );
  }
  let output = outputName(node, 0);
  let bias: Float32Array | undefined;
  const add = ctx.soleConsumer(output);
  if (add !== undefined && add.opType === "Add" && add.domain === "" && batches === 1) {
    const other = add.inputs[0] === output ? add.inputs[1] : add.inputs[0];
    const c = other === undefined ? undefined : ctx.floatConst(other);
    const cb = c === undefined ? undefined : columnBias(c, ctx.dims(other!), n, 1);
    if (cb !== undefined && ctx.dims(outputName(add, 0)).join() === ctx.dims(output).join()) {
      ctx.fuse(add);
      bias = cb;
      output = outputName(add, 0);
    }
  }
  const bConst = ctx.floatConst(bName);
  const bRef = bConst === undefined ? undefined : ctx.param(bConst);
  return linearStep(ctx, {
    a,
    b: bName,
    bRef,
    transA: false,
    transB: false,
    m: rows,
    n,
    k,
    alpha: 1,
    bias,
    output,
    lda: k,
    ldb: n,
    batches,
    aStride,
    bStride,
  });
};

interface LinearSpec {
  a: string;
  b: string;
  bRef: ParamRef | undefined;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  bias: Float32Array | undefined;
  output: string;
  lda: number;
  ldb: number;
  batches: number;
  aStride: number;
  bStride: number;
}

function linearStep(ctx: LowerContext, s: LinearSpec): Lowering {
  const fused = fuseActivation(ctx, s.output);
  const act = fused.act;
  const output = fused.output;
  const biasRef = s.bias === undefined ? undefined : ctx.param(s.bias);
  const reads = s.bRef === undefined ? [s.a, s.b] : [s.a];
  const name = GEMM_EXPORT[(s.transA ? 2 : 0) + (s.transB ? 1 : 0)]!;
  return step(reads, [output], gemmScratchLen(s.m, s.n, s.k), (b) => {
    const gemm = exportFn(b.exports, name);
    const epilogue = exportFn(b.exports, "act_bias_cols");
    const ap = b.ptr(s.a);
    const bp = s.bRef === undefined ? b.ptr(s.b) : b.param(s.bRef);
    const yp = b.ptr(output);
    const biasPtr = biasRef === undefined ? 0 : b.param(biasRef);
    const cStride = s.m * s.n;
    return () => {
      for (let i = 0; i < s.batches; i++) {
        const yi = yp + i * cStride * 4;
        gemm(
          ap + i * s.aStride * 4,
          bp + i * s.bStride * 4,
          yi,
          b.scratchPtr,
          s.m,
          s.n,
          s.k,
          s.lda,
          s.ldb,
          s.n,
          s.alpha,
          0,
        );
        if (biasPtr !== 0 || act.code !== 0) epilogue(yi, s.m, s.n, biasPtr, act.code, act.a0, act.a1);
      }
    };
  });
}
