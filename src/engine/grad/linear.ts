// Gemm (A·B or A·Bᵀ, times alpha, plus a trained bias C broadcast over rows) and MatMul of an
// activation by a trained [K, F] initializer, for training. With Y = alpha·A·B':
//   dA = alpha·dY·B'ᵀ,  dB' = alpha·Aᵀ·dY (stored transposed when transB),  dC = Σ_rows dY.
import { attrFloat, attrInt } from "../../graph/ir.ts";
import { gemmScratchLen } from "../../wasm/kernels/gemm.ts";
import { exportFn, outputName, product, unsupported } from "../lower.ts";
import type { ParamHandle, TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { needActivation, trainInput } from "./common.ts";

interface LinearSpec {
  a: string;
  b: ParamHandle;
  bias: ParamHandle | undefined;
  transB: boolean;
  alpha: number;
  rows: number;
  k: number;
  n: number;
  y: string;
}

function linearStep(s: LinearSpec): TrainLowering {
  const { a, rows: m, k, n, alpha, transB, y } = s;
  const scratchLen = Math.max(
    gemmScratchLen(m, n, k),
    gemmScratchLen(m, k, n),
    gemmScratchLen(k, n, m),
    gemmScratchLen(n, k, m),
  );
  return {
    kind: "step",
    reads: [a],
    writes: [y],
    saved: [a],
    gradOf: [a],
    scratchLen,
    bind(b) {
      const nn = exportFn(b.exports, "gemm_nn");
      const nt = exportFn(b.exports, "gemm_nt");
      const tn = exportFn(b.exports, "gemm_tn");
      const biasCols = exportFn(b.exports, "act_bias_cols");
      const colSum = exportFn(b.exports, "reduce_col_sum");
      const ap = b.ptr(a);
      const yp = b.ptr(y);
      const wp = b.param(s.b);
      const bp = s.bias === undefined ? 0 : b.param(s.bias);
      const gs = b.scratchPtr;
      const dyp = b.dy(y);
      const dap = b.grad(a);
      const forward = () => {
        if (transB) nt(ap, wp, yp, gs, m, n, k, k, k, n, alpha, 0);
        else nn(ap, wp, yp, gs, m, n, k, k, n, n, alpha, 0);
        if (bp !== 0) biasCols(yp, m, n, bp, 0, 0, 0);
      };
      const backward = () => {
        if (s.bias !== undefined && b.wantsGrad(s.bias)) colSum(dyp, b.paramGrad(s.bias), m, n);
        if (b.wantsGrad(s.b)) {
          const dw = b.paramGrad(s.b);
          if (transB) tn(dyp, ap, dw, gs, n, k, m, n, k, k, alpha, 0);
          else tn(ap, dyp, dw, gs, k, n, m, k, n, n, alpha, 0);
        }
        if (dap !== 0) {
          if (transB) nn(dyp, wp, dap, gs, m, k, n, n, k, k, alpha, 0);
          else nt(dyp, wp, dap, gs, m, k, n, n, n, k, alpha, 0);
        }
      };
      return { forward, backward };
    },
  };
}

export const trainGemm = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const a = trainInput(ctx, 0);
  const bName = trainInput(ctx, 1);
  needActivation(ctx, a);
  if (attrInt(node, "transA", 0) !== 0) throw unsupported(node, "transA=1 is not supported for training");
  if (!ctx.isConst(bName)) throw unsupported(node, "its B input must be an initializer to be trained");
  const transB = attrInt(node, "transB", 0) !== 0;
  const alpha = attrFloat(node, "alpha", 1);
  const beta = attrFloat(node, "beta", 1);
  const aDims = ctx.dims(a);
  const bDims = ctx.dims(bName);
  if (aDims.length !== 2 || bDims.length !== 2) throw unsupported(node, "Gemm needs rank-2 inputs");
  const [m, k] = [aDims[0]!, aDims[1]!];
  const n = transB ? bDims[0]! : bDims[1]!;
  if ((transB ? bDims[1] : bDims[0]) !== k) {
    throw unsupported(node, `inner dims differ: A is [${aDims.join(", ")}], B is [${bDims.join(", ")}]`);
  }
  let bias: ParamHandle | undefined;
  const cName = node.inputs[2];
  if (cName !== undefined && cName !== "") {
    const cDims = ctx.dims(cName);
    if (!ctx.isConst(cName) || product(cDims) !== n || cDims.slice(0, -1).some((d) => d !== 1)) {
      throw unsupported(
        node,
        `its C input must be an initializer of ${n} values ([${n}] or [1, ${n}]) to be trained`,
      );
    }
    if (beta !== 1)
      throw unsupported(node, `beta=${beta} with a trained C is not supported (export with beta 1)`);
    bias = ctx.param(cName, "bias");
  }
  return linearStep({
    a,
    b: ctx.param(bName, "weight"),
    bias,
    transB,
    alpha,
    rows: m,
    k,
    n,
    y: outputName(node, 0),
  });
};

export const trainMatMul = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const a = trainInput(ctx, 0);
  const bName = trainInput(ctx, 1);
  needActivation(ctx, a);
  if (!ctx.isConst(bName)) throw unsupported(node, "its second input must be an initializer to be trained");
  const aDims = ctx.dims(a);
  const bDims = ctx.dims(bName);
  if (bDims.length !== 2 || aDims.length < 2)
    throw unsupported(node, "training needs A of rank >= 2 and B of rank 2");
  const k = aDims[aDims.length - 1]!;
  if (bDims[0] !== k)
    throw unsupported(node, `inner dims differ: [${aDims.join(", ")}] x [${bDims.join(", ")}]`);
  const rows = product(aDims, 0, aDims.length - 1);
  return linearStep({
    a,
    b: ctx.param(bName, "weight"),
    bias: undefined,
    transB: false,
    alpha: 1,
    rows,
    k,
    n: bDims[1]!,
    y: outputName(node, 0),
  });
};
