// Gate Decorator's gate on a conv's output (docs/methods.md §4.9, experimental): y = m_c·g_c·z with
// z = W∗x + b the conv's output, bias included, so a zero gate or mask makes the channel exactly 0.
// compileTrainer (tape.ts) renames the conv's output to z and appends this step for every node in
// TrainerOptions.gatedConvs. Forward is norm_affine_channels with scale m·g and shift 0; backward is
// norm_channel_affine_backward: ∂z = m·g·∂y and ∂g = m·Σ ∂y·z (over images and pixels).
import { exportFn, product } from "../lower.ts";
import type { ParamHandle, TrainLowerContext, TrainStep } from "../train-lower.ts";

/**
 * The gate step between a conv's ungated output `z` and its graph output `y` (both [batch, C, ...]).
 * @param gate g, `C` values (trainable). @param mask m, `C` values of 0 or 1 (never trained).
 */
export function channelGateStep(
  ctx: TrainLowerContext,
  z: string,
  y: string,
  gate: ParamHandle,
  mask: ParamHandle,
): TrainStep {
  const dims = ctx.dims(z);
  const [batch, channels] = [dims[0]!, dims[1] ?? 1];
  const plane = product(dims, 2);
  // m·g and zeros (the shift), kept for the backward.
  const state = ctx.state(2 * channels);
  return {
    kind: "step",
    reads: [z],
    writes: [y],
    saved: [z],
    gradOf: [z],
    scratchLen: 2 * channels,
    bind(b) {
      const affine = exportFn(b.exports, "norm_affine_channels");
      const affineBackward = exportFn(b.exports, "norm_channel_affine_backward");
      const zp = b.ptr(z);
      const yp = b.ptr(y);
      const gp = b.param(gate);
      const mp = b.param(mask);
      const scale = b.state(state);
      const zeros = scale + channels * 4;
      const forward = () => {
        const m = b.f32();
        for (let c = 0; c < channels; c++) {
          m[scale / 4 + c] = Math.fround(m[mp / 4 + c]! * m[gp / 4 + c]!);
          m[zeros / 4 + c] = 0;
        }
        affine(zp, yp, batch, channels, plane, scale, zeros);
      };
      const dyp = b.dy(y);
      const dzp = b.grad(z);
      const backward = () => {
        const wantG = b.wantsGrad(gate);
        if (!wantG && dzp === 0) return;
        const dScale = b.scratchPtr;
        const dShift = b.scratchPtr + channels * 4;
        affineBackward(zp, dyp, scale, dzp, dScale, dShift, batch, channels, plane);
        if (wantG) {
          const m = b.f32();
          const dg = b.paramGrad(gate) / 4;
          for (let c = 0; c < channels; c++) m[dg + c] = Math.fround(m[mp / 4 + c]! * m[dScale / 4 + c]!);
        }
      };
      return { forward, backward };
    },
  };
}
