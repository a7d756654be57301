// BatchNormalization for training, as nn.BatchNorm2d in train(): the batch mean and the biased batch
// variance normalise (norm_bn_train_forward), the running statistics are updated with ONNX's momentum m
// (PyTorch's 1 − m, 0.1 by default) and the unbiased variance:
//   running_mean = m·running_mean + (1 − m)·mean,  running_var = m·running_var + (1 − m)·var·M/(M − 1)
// with M = N·H·W values per channel; the backward is norm_bn_train_backward. Outside training (a forward
// with `training: false`) it normalises with the running statistics, as at inference. A BN listed in
// TrainerOptions.gatedBatchNorms runs as Gate Decorator's gated BN, y = m·g·(x̂ + b') (§4.1).
import { PrunekitError } from "../../errors.ts";
import { attrFloat, attrInt } from "../../graph/ir.ts";
import { exportFn, outputName, product, quoteName, unsupported } from "../lower.ts";
import type { ParamHandle, TrainLowerContext, TrainLowering } from "../train-lower.ts";
import { trainInput } from "./common.ts";

export const trainBatchNorm = (ctx: TrainLowerContext): TrainLowering => {
  const node = ctx.node;
  const x = trainInput(ctx, 0);
  for (const o of node.outputs.slice(1)) {
    if (o !== "")
      throw unsupported(node, `its statistics output ${quoteName(o)} is used; re-export with model.eval()`);
  }
  const dims = ctx.dims(x);
  if (dims.length < 2) throw unsupported(node, "its input needs a channel axis");
  const [batch, channels] = [dims[0]!, dims[1]!];
  const plane = product(dims, 2);
  const count = batch * plane;
  if (count < 2) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `node ${quoteName(node.name)} (BatchNormalization) needs more than one value per channel to train (batch ${batch} × ${plane} pixels); use a larger batch`,
      { node: node.name },
    );
  }
  const names = [1, 2, 3, 4].map((i) => trainInput(ctx, i));
  for (const n of names) {
    if (!ctx.isConst(n) || product(ctx.dims(n)) !== channels) {
      throw unsupported(node, `${quoteName(n)} must be an initializer of ${channels} values`);
    }
  }
  const gatedNode = ctx.gated(node);
  let gamma: ParamHandle;
  let beta: ParamHandle;
  let gate: { g: ParamHandle; shift: ParamHandle; mask: ParamHandle } | undefined;
  if (gatedNode) {
    // Gate Decorator's reparameterisation (docs/methods.md §4.1): g from γ, b' = clamp(β/γ, ±10).
    const g0 = ctx.floatConst(names[0]!)!;
    const b0 = ctx.floatConst(names[1]!)!;
    const shift0 = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      shift0[c] = g0[c] === 0 ? 0 : Math.max(-10, Math.min(10, b0[c]! / g0[c]!));
    }
    gate = {
      g: ctx.syntheticParam(`${node.name}#gate`, "gate", Float32Array.from(g0)),
      shift: ctx.syntheticParam(`${node.name}#shift`, "gate-shift", shift0),
      mask: ctx.syntheticParam(`${node.name}#mask`, "gate-mask", new Float32Array(channels).fill(1)),
    };
    gamma = gate.g;
    beta = gate.shift;
  } else {
    gamma = ctx.param(names[0]!, "bn-scale");
    beta = ctx.param(names[1]!, "bn-bias");
  }
  const runMean = ctx.param(names[2]!, "running-mean");
  const runVar = ctx.param(names[3]!, "running-var");
  if (attrInt(node, "spatial", 1) !== 1) throw unsupported(node, "spatial=0 is not supported");
  const eps = Math.fround(attrFloat(node, "epsilon", 1e-5));
  const momentum = attrFloat(node, "momentum", 0.9);
  const keep = Math.fround(momentum);
  const take = Math.fround(1 - momentum);
  const unbias = count / (count - 1);
  const y = outputName(node, 0);
  // mean, var, invStd; for a gated BN also the effective scale and shift (m·g, m·g·b').
  const stats = ctx.state(5 * channels);
  return {
    kind: "step",
    reads: [x],
    writes: [y],
    saved: [x],
    gradOf: [x],
    scratchLen: 4 * channels,
    bind(b) {
      const trainForward = exportFn(b.exports, "norm_bn_train_forward");
      const trainBackward = exportFn(b.exports, "norm_bn_train_backward");
      const affine = exportFn(b.exports, "norm_affine_channels");
      const xp = b.ptr(x);
      const yp = b.ptr(y);
      const s = b.state(stats);
      const meanP = s;
      const varP = s + channels * 4;
      const invP = s + 2 * channels * 4;
      const effScale = s + 3 * channels * 4;
      const effShift = s + 4 * channels * 4;
      const gp = b.param(gamma);
      const bp = b.param(beta);
      const mp = gate === undefined ? 0 : b.param(gate.mask);
      const rm = b.param(runMean) / 4;
      const rv = b.param(runVar) / 4;
      // The scale and shift the kernels see: γ and β, or for a gated BN m·g and m·g·b'.
      const effective = (): { scale: number; shift: number } => {
        if (gate === undefined) return { scale: gp, shift: bp };
        const m = b.f32();
        for (let c = 0; c < channels; c++) {
          const k = Math.fround(m[mp / 4 + c]! * m[gp / 4 + c]!);
          m[effScale / 4 + c] = k;
          m[effShift / 4 + c] = Math.fround(k * m[bp / 4 + c]!);
        }
        return { scale: effScale, shift: effShift };
      };
      const forward = () => {
        const e = effective();
        if (b.mode.training) {
          trainForward(xp, yp, e.scale, e.shift, meanP, varP, invP, batch, channels, plane, eps);
          const m = b.f32();
          for (let c = 0; c < channels; c++) {
            const mean = m[meanP / 4 + c]!;
            const v = Math.fround(m[varP / 4 + c]! * unbias);
            m[rm + c] = Math.fround(Math.fround(keep * m[rm + c]!) + Math.fround(take * mean));
            m[rv + c] = Math.fround(Math.fround(keep * m[rv + c]!) + Math.fround(take * v));
          }
        } else {
          const m = b.f32();
          const scale = b.scratchPtr;
          const shift = b.scratchPtr + channels * 4;
          for (let c = 0; c < channels; c++) {
            const inv = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(m[rv + c]! + eps))));
            const k = Math.fround(m[e.scale / 4 + c]! * inv);
            m[scale / 4 + c] = k;
            m[shift / 4 + c] = Math.fround(m[e.shift / 4 + c]! - Math.fround(m[rm + c]! * k));
          }
          affine(xp, yp, batch, channels, plane, scale, shift);
        }
      };
      const dyp = b.dy(y);
      const dxp = b.grad(x);
      const affineBackward = exportFn(b.exports, "norm_channel_affine_backward");
      // Backward of the evaluation-mode forward (running statistics, Trainer.step with training false:
      // Gate Decorator's scores with --bn eval): y = k·x + s with k = γ·inv, s = β − μ·k, so
      // dx = k·dy, dγ = inv·(Σdy·x − μ·Σdy), dβ = Σdy.
      const evalBackward = (dScale: number, dShift: number) => {
        const e = effective();
        const m = b.f32();
        const k = b.scratchPtr;
        const inv = b.scratchPtr + channels * 4;
        for (let c = 0; c < channels; c++) {
          m[inv / 4 + c] = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(m[rv + c]! + eps))));
          m[k / 4 + c] = Math.fround(m[e.scale / 4 + c]! * m[inv / 4 + c]!);
        }
        affineBackward(xp, dyp, k, dxp === 0 ? 0 : dxp, dScale, dShift, batch, channels, plane);
        const f = b.f32();
        for (let c = 0; c < channels; c++) {
          const sx = f[dScale / 4 + c]!;
          const s1 = f[dShift / 4 + c]!;
          f[dScale / 4 + c] = Math.fround(f[inv / 4 + c]! * Math.fround(sx - Math.fround(f[rm + c]! * s1)));
        }
      };
      const backward = () => {
        const dScale = gate === undefined ? b.paramGrad(gamma) : b.scratchPtr + 2 * channels * 4;
        const dShift = gate === undefined ? b.paramGrad(beta) : b.scratchPtr + 3 * channels * 4;
        if (!b.mode.training) evalBackward(dScale, dShift);
        // dx in place of dy when the input's gradient is not wanted (dy is dead after this step).
        else
          trainBackward(
            xp,
            dyp,
            gate === undefined ? gp : effScale,
            meanP,
            invP,
            dxp === 0 ? dyp : dxp,
            dScale,
            dShift,
            batch,
            channels,
            plane,
          );
        if (gate !== undefined) {
          // y = m·g·(x̂ + b'): ∂g = m·(Σdy·x̂ + b'·Σdy), ∂b' = m·g·Σdy.
          const m = b.f32();
          const dg = b.paramGrad(gate.g) / 4;
          const db = b.paramGrad(gate.shift) / 4;
          for (let c = 0; c < channels; c++) {
            const mask = m[mp / 4 + c]!;
            const sx = m[dScale / 4 + c]!;
            const s1 = m[dShift / 4 + c]!;
            m[dg + c] = Math.fround(mask * Math.fround(sx + Math.fround(m[bp / 4 + c]! * s1)));
            m[db + c] = Math.fround(Math.fround(mask * m[gp / 4 + c]!) * s1);
          }
        }
      };
      return { forward, backward };
    },
  };
};
