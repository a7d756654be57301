// What an op's lowering sees and returns. Compile (compile.ts) walks the graph in topological order and
// hands every node to its op's lowering (op-table.ts); the lowering reads shapes, attributes and constant
// values through a LowerContext and returns either a Step (work at run time, with the values it reads and
// writes, so that compile can plan memory by liveness) or an Alias (the output is the input's memory under
// other dims: Reshape, Flatten, Identity...). A lowering may fuse the node's sole consumer (BN and the
// activation into a conv) by calling `ctx.fuse`; the step then writes the fused node's output.
import { PrunekitError } from "../errors.ts";
import type { GraphNode } from "../graph/ir.ts";
import type { WasmExports } from "../wasm/load.ts";

/** Float constant copied into the engine's memory once, at compile time. */
export interface ParamRef {
  readonly id: number;
  readonly length: number;
}

/** Pointers a step is bound to, resolved after memory planning. */
export interface Binding {
  readonly exports: WasmExports;
  /** Byte offset of a value (an activation, a graph input or a float constant) by name. */
  ptr(name: string): number;
  /** Byte offset of a parameter made by `LowerContext.param`. */
  param(ref: ParamRef): number;
  /** Byte offset of this step's scratch area (16-byte aligned), valid only while the step runs. */
  readonly scratchPtr: number;
  /** A fresh Float32Array view of the whole memory (call it inside the step: memory can grow). */
  f32(): Float32Array;
}

/** Work done at run time. */
export interface Step {
  readonly kind: "step";
  /** Activations and constants it reads. */
  readonly reads: readonly string[];
  /** Activations it writes (allocated by compile, never aliasing a read unless `inPlace`). */
  readonly writes: readonly string[];
  /** f32 elements of scratch it needs while it runs. */
  readonly scratchLen: number;
  /** Make the closure that runs it. */
  bind(b: Binding): () => void;
}

/** The output is the input's memory, viewed with other dims. */
export interface Alias {
  readonly kind: "alias";
  readonly output: string;
  readonly input: string;
}

/** The outputs are integer values compile already knows (shape arithmetic); nothing runs. */
export interface Folded {
  readonly kind: "folded";
}

export type Lowering = Step | Alias | Folded;

/** What a lowering may ask about the graph around its node. */
export interface LowerContext {
  /** The node being lowered. */
  readonly node: GraphNode;
  /** Images per run: dims below have it as their first entry. */
  readonly batch: number;
  /** Opset version of the default ONNX domain. */
  readonly opset: number;
  /**
   * Run eligible 3x3 convs as Winograd (CompileOptions.winograd): "auto" picks F(4x4, 3x3) or F(2x2, 3x3)
   * per conv, "2x2" / "4x4" force one, false none.
   */
  readonly winograd: false | "auto" | "2x2" | "4x4";
  /** Concrete dims of a value (the batch included). Throws ENGINE_UNSUPPORTED when unknown. */
  dims(name: string): readonly number[];
  /** Integer values known at compile time (shape arithmetic), or undefined. */
  intValue(name: string): readonly number[] | undefined;
  /** Float data of a constant (initializer or Constant), or undefined for an activation. */
  floatConst(name: string): Float32Array | undefined;
  /** True when the value is a constant of the graph. */
  isConst(name: string): boolean;
  /** The value's only consumer, if it has exactly one and is not a graph output; else undefined. */
  soleConsumer(name: string): GraphNode | undefined;
  /** Mark a consumer as fused into this node's step: compile will not lower it. */
  fuse(node: GraphNode): void;
  /**
   * True when the value is a graph input or an output of a node lowered (or fused) before this one, so a
   * step of this node may read it; false for constants and for values written later in the step order.
   */
  computed(name: string): boolean;
  /** Copy float data into the engine's memory once. */
  param(data: Float32Array): ParamRef;
  /** Copy int32 data (shapes, strides for a kernel) into the engine's memory once. */
  paramI32(data: Int32Array): ParamRef;
  /**
   * A row-major m x k matrix packed as the A operand of gemm_nn_prepacked (the module's gemm_pack_a, run
   * once now): constant weights then skip the packing on every run.
   */
  packGemmA(a: Float32Array, m: number, k: number): Float32Array;
}

/** A lowering: one per op type in the engine's op table. */
export type Lower = (ctx: LowerContext) => Lowering;

/** Quote a name from the model for a message (one line, even if the name holds a newline). */
export function quoteName(name: string): string {
  return JSON.stringify(name);
}

/** A typed error for a node the engine cannot run, naming the node and op. */
export function unsupported(node: GraphNode, why: string): PrunekitError {
  return new PrunekitError("ONNX_UNSUPPORTED", `node ${quoteName(node.name)} (${node.opType}): ${why}`, {
    node: node.name,
  });
}

/** The node's i-th input name, required. */
export function inputName(ctx: LowerContext, i: number): string {
  const name = ctx.node.inputs[i];
  if (name === undefined || name === "") throw unsupported(ctx.node, `input ${i} is missing`);
  return name;
}

/** The node's i-th output name, required. */
export function outputName(node: GraphNode, i: number): string {
  const name = node.outputs[i];
  if (name === undefined || name === "") throw unsupported(node, `output ${i} is missing`);
  return name;
}

/** Product of dims. */
export function product(dims: readonly number[], from: number = 0, to: number = dims.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= dims[i]!;
  return n;
}

/** A step from its parts. */
export function step(
  reads: readonly string[],
  writes: readonly string[],
  scratchLen: number,
  bind: (b: Binding) => () => void,
): Step {
  return { kind: "step", reads, writes, scratchLen, bind };
}

/** Look up an export by name; a missing one is a load error naming it. */
export function exportFn(exports: WasmExports, name: string): (...args: number[]) => number | undefined {
  const fn = exports[name];
  if (typeof fn !== "function") {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `prunekit.wasm has no export "${name}"; rebuild with \`npm run build\``,
    );
  }
  return fn as (...args: number[]) => number | undefined;
}
