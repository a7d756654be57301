// What a training lowering sees and returns (the training counterpart of lower.ts): compileTrainer
// (tape.ts) hands every node to its op's lowering (train-ops.ts, grad/*.ts) with a TrainLowerContext and
// gets back a TrainStep (forward and backward closures over pointers, what the backward reads, which
// input gradients it writes) or a TrainAlias.
import type { GraphNode } from "../graph/ir.ts";
import type { Wasm } from "../wasm/instance.ts";
import type { WasmExports } from "../wasm/load.ts";

/** What a parameter is, which decides weight decay (`decayBnAndBias`) and what is trained. */
export type ParamRole =
  | "weight"
  | "bias"
  | "bn-scale"
  | "bn-bias"
  | "running-mean"
  | "running-var"
  /** Gate Decorator's per-channel gate g (a synthetic parameter, not a tensor of the model). */
  | "gate"
  /** The gated BN's shift b' (synthetic). */
  | "gate-shift"
  /** The gated BN's 0/1 mask (synthetic, never trained). */
  | "gate-mask";

/** Roles that SGD never updates. */
export const FIXED_ROLES: ReadonlySet<ParamRole> = new Set(["running-mean", "running-var", "gate-mask"]);

/** One tensor of the model the trainer holds: trained (weights, biases, BN affine) or updated (BN statistics). */
export interface TrainParam {
  /** The initializer's name in the model. */
  readonly name: string;
  readonly dims: readonly number[];
  readonly length: number;
  readonly role: ParamRole;
  /** False for BN running statistics (updated by the forward pass, never by SGD) and gate masks. */
  readonly trainable: boolean;
  /** True for a parameter the trainer made (gates), which is not a tensor of the model. */
  readonly synthetic: boolean;
}

/** Parameters, gradients and momentum buffers in the module's memory, shared across batch sizes. */
export interface ParamStore {
  readonly wasm: Wasm;
  readonly params: readonly TrainParam[];
  /** Byte offset of a parameter's values. */
  valuePtr(name: string): number;
  /** Byte offset of a trainable parameter's gradient (same length). */
  gradPtr(name: string): number;
  /** Byte offset of a trainable parameter's SGD momentum buffer. */
  momentumPtr(name: string): number;
  /** A copy of a parameter's values. */
  read(name: string): Float32Array;
  /** A copy of a trainable parameter's last gradient. */
  readGrad(name: string): Float32Array;
  /** A copy of a trainable parameter's momentum buffer. */
  readMomentum(name: string): Float32Array;
  /** Overwrite a parameter's values (length must match). */
  write(name: string, data: Float32Array): void;
  /** Overwrite a momentum buffer (length must match). */
  writeMomentum(name: string, data: Float32Array): void;
  /** Overwrite a trainable parameter's gradient (data-parallel reduction). */
  writeGrad(name: string, data: Float32Array): void;
  /** Release the memory (after every trainer on it is disposed). */
  dispose(): void;
}

/** A parameter declared by a lowering. */
export interface ParamHandle {
  readonly name: string;
}

/** Persistent f32 state of one step (BN's saved batch statistics). */
export interface StateRef {
  readonly id: number;
  readonly length: number;
}

/** What a training lowering may ask about its node. */
export interface TrainLowerContext {
  readonly node: GraphNode;
  readonly batch: number;
  readonly opset: number;
  dims(name: string): readonly number[];
  intValue(name: string): readonly number[] | undefined;
  floatConst(name: string): Float32Array | undefined;
  isConst(name: string): boolean;
  /** Declare a constant input as a parameter of the trainer (trained unless a running statistic). */
  param(name: string, role: ParamRole): ParamHandle;
  /** Declare a parameter that is not a tensor of the model (a gate), with its initial values. */
  syntheticParam(name: string, role: ParamRole, initial: Float32Array): ParamHandle;
  /** True when this BatchNormalization node is to be gated (TrainerOptions.gatedBatchNorms). */
  gated(node: GraphNode): boolean;
  /** Persistent f32 state for this step (kept between forward and backward). */
  state(length: number): StateRef;
}

/** Pointers a training step is bound to. */
export interface TrainBinding {
  readonly exports: WasmExports;
  /** Byte offset of an activation, graph input or float constant read at run time. */
  ptr(name: string): number;
  /**
   * Where this step's backward writes the gradient of one of its `gradOf` inputs (overwriting; the
   * executor adds it to other contributions), or 0 when that gradient is not needed.
   */
  grad(name: string): number;
  /** Byte offset of the gradient of one of this step's outputs (complete when the backward runs), or 0. */
  dy(name: string): number;
  /** Byte offset of a parameter's values. */
  param(p: ParamHandle): number;
  /** Byte offset of a parameter's gradient (written by backward). */
  paramGrad(p: ParamHandle): number;
  /** True when the parameter's gradient is wanted at this step (false for frozen ones). */
  wantsGrad(p: ParamHandle): boolean;
  /** Byte offset of this step's state. */
  state(s: StateRef): number;
  /** This step's scratch (16-byte aligned), valid while the step runs. */
  readonly scratchPtr: number;
  /** A fresh view of the whole memory (memory can grow). */
  f32(): Float32Array;
  /** The current pass: training (batch statistics) or not. Read inside the closures. */
  readonly mode: { readonly training: boolean };
}

/** Work of one node, forward and backward. */
export interface TrainStep {
  readonly kind: "step";
  /** Values the forward reads (activations and run-time constants; not declared parameters). */
  readonly reads: readonly string[];
  /** Values the forward writes. */
  readonly writes: readonly string[];
  /** Values (among reads and writes) the backward reads. */
  readonly saved: readonly string[];
  /** Reads whose gradients the backward writes. */
  readonly gradOf: readonly string[];
  /** f32 elements of scratch either pass needs. */
  readonly scratchLen: number;
  bind(b: TrainBinding): { forward: () => void; backward: () => void };
}

/** The output is the input's memory under other dims (and so is its gradient). */
export interface TrainAlias {
  readonly kind: "alias";
  readonly output: string;
  readonly input: string;
}

export type TrainLowering = TrainStep | TrainAlias;
export type TrainLower = (ctx: TrainLowerContext) => TrainLowering;
