// SGD as torch.optim.SGD (dampening 0, optional Nesterov; momentum buffers start at zero, which equals
// PyTorch's first-step clone when dampening is 0), weight decay on every trainable parameter unless BN
// parameters and biases are exempted, and the learning-rate schedules of the recipes the methods use.
import { PrunekitError } from "../errors.ts";
import { exportFn } from "./lower.ts";
import type { ParamStore, TrainParam } from "./train-lower.ts";

/** Options of {@link sgdStep}. */
export interface SgdOptions {
  lr: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 5e-4. */
  weightDecay?: number;
  /** Default false. */
  nesterov?: boolean;
  /** Exempt BN scales/shifts and biases from weight decay (`--no-decay-bn-bias`); default false. */
  noDecayBnBias?: boolean;
}

/** True for parameters that get weight decay under the options. */
export function decays(p: TrainParam, options: Pick<SgdOptions, "noDecayBnBias">): boolean {
  if (options.noDecayBnBias !== true) return true;
  return p.role === "weight";
}

/**
 * One SGD update of every trainable parameter not listed in `frozen`, from the gradients in the store:
 * d = g + wd·w; v = μ·v + d; d = nesterov ? d + μ·v : v; w -= lr·d (float32, optim_sgd).
 * A frozen parameter is left exactly as it is: no decay and no momentum drift.
 */
export function sgdStep(store: ParamStore, options: SgdOptions, frozen: (name: string) => boolean): void {
  const sgd = exportFn(store.wasm.exports, "optim_sgd");
  const momentum = options.momentum ?? 0.9;
  const wd = options.weightDecay ?? 5e-4;
  const nesterov = options.nesterov === true ? 1 : 0;
  for (const p of store.params) {
    if (!p.trainable || frozen(p.name)) continue;
    sgd(
      store.valuePtr(p.name),
      store.gradPtr(p.name),
      store.momentumPtr(p.name),
      p.length,
      options.lr,
      momentum,
      decays(p, options) ? wd : 0,
      nesterov,
    );
  }
}

/** A learning-rate schedule. */
export type Schedule =
  | { kind: "constant" }
  /** lr · gamma^(milestones passed), by epoch (torch MultiStepLR). */
  | { kind: "step"; milestones: readonly number[]; gamma: number }
  /** lrMin + (lr − lrMin)(1 + cos(π·t/T))/2 per iteration over the run (torch CosineAnnealingLR). */
  | { kind: "cosine"; lrMin: number }
  /** Linear from lrMin up to lr at the middle of the run, back down to lrMin (Gate Decorator). */
  | { kind: "triangular"; lrMin: number };

export const SCHEDULES = ["constant", "step", "cosine", "triangular"] as const;

/** Where a run is: iteration `iter` (0-based) of `itersPerEpoch`, over `epochs` (may be fractional). */
export interface ScheduleAt {
  iter: number;
  itersPerEpoch: number;
  epochs: number;
}

/**
 * The learning rate at an iteration, with an optional linear warm-up over the first `warmupIters`
 * (from lr/warmupIters·1 up to lr, torch LinearLR-style, multiplied into the schedule).
 */
export function learningRate(lr: number, schedule: Schedule, at: ScheduleAt, warmupIters = 0): number {
  const total = Math.max(1, Math.round(at.epochs * at.itersPerEpoch));
  const t = at.iter;
  let rate: number;
  switch (schedule.kind) {
    case "constant":
      rate = lr;
      break;
    case "step": {
      const epoch = Math.floor(t / at.itersPerEpoch);
      const passed = schedule.milestones.filter((m) => epoch >= m).length;
      rate = lr * schedule.gamma ** passed;
      break;
    }
    case "cosine":
      rate = schedule.lrMin + ((lr - schedule.lrMin) * (1 + Math.cos((Math.PI * t) / total))) / 2;
      break;
    case "triangular": {
      const half = total / 2;
      const f = t <= half ? t / half : (total - t) / half;
      rate = schedule.lrMin + (lr - schedule.lrMin) * Math.max(0, Math.min(1, f));
      break;
    }
  }
  if (warmupIters > 0 && t < warmupIters) rate *= (t + 1) / warmupIters;
  return rate;
}

/** Parse `--schedule` and its options. */
export function parseSchedule(
  kind: string,
  options: { milestones?: readonly number[]; gamma?: number; lrMin?: number },
): Schedule {
  switch (kind) {
    case "constant":
      return { kind };
    case "step":
      return { kind, milestones: options.milestones ?? [], gamma: options.gamma ?? 0.1 };
    case "cosine":
      return { kind, lrMin: options.lrMin ?? 0 };
    case "triangular":
      return { kind, lrMin: options.lrMin ?? 1e-3 };
    default:
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `unknown schedule ${JSON.stringify(kind)}; expected one of ${SCHEDULES.join(", ")}`,
      );
  }
}
