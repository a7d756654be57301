// Compile an ONNX graph once into a list of steps over the WASM kernels, for a fixed batch size:
// attributes and constant values are read once, BN and activations are fused into the layer before them
// (see the lowerings in ops/), shape arithmetic is folded, and every activation gets a place in one memory
// block planned by liveness, so values that are never alive at the same time share memory. The model then
// runs with `CompiledModel.run` as often as needed, on the module instance it was compiled on.

import { PrunekitError } from "../errors.ts";
import type { Graph, GraphNode } from "../graph/ir.ts";
import { inferShapes } from "../graph/shapes.ts";
import { DataType, type ValueInfoProto } from "../onnx/proto-types.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import type { Wasm } from "../wasm/instance.ts";
import { gemmPackA } from "../wasm/kernels/gemm.ts";
import type { Binding, LowerContext, ParamRef, Step } from "./lower.ts";
import { product, quoteName, unsupported } from "./lower.ts";
import { engineLowering } from "./op-table.ts";

/** Options of {@link compileModel}. */
export interface CompileOptions {
  /** Images per run (the first dim of every graph input). Default 1. */
  batch?: number;
  /**
   * Dims (without the batch) of graph inputs whose declared shape has symbolic dims other than the
   * batch, by input name, e.g. `{ input: [3, 224, 224] }`.
   */
  inputDims?: Readonly<Record<string, readonly number[]>>;
  /**
   * Run 3x3, stride-1, dilation-1, single-group convs with at least 16 channels and filters and 4
   * output tiles (2x2) in the batch as Winograd (within the forward tests' 1e-4 of onnxruntime, not
   * bit-identical to the im2col path). Default true: F(4x4, 3x3) (2.25 products per output pixel) where
   * it needs fewer products than F(2x2, 3x3) (4 per pixel) and has 16+ 4x4 tiles in the batch, F(2x2, 3x3)
   * on the others (src/engine/ops/conv.ts, autoWinograd). "2x2" / "4x4" force that variant on every
   * eligible conv; false keeps every conv on im2col + GEMM.
   */
  winograd?: boolean | "2x2" | "4x4";
  /** Time every step (see CompiledModel.profile); default false. */
  profile?: boolean;
}

/** Wall time of one compiled step, summed over every run since compile. */
export interface StepTiming {
  /** The node the step was lowered from (the first of a fused chain). */
  readonly node: string;
  readonly opType: string;
  readonly ms: number;
}

/** A graph input or output of a compiled model. */
export interface CompiledValue {
  readonly name: string;
  /** Concrete dims, the batch first. */
  readonly dims: readonly number[];
}

/** A model compiled for one batch size, bound to one module instance. */
export interface CompiledModel {
  readonly batch: number;
  readonly inputs: readonly CompiledValue[];
  readonly outputs: readonly CompiledValue[];
  /** Steps that run per call (after fusion and folding). */
  readonly stepCount: number;
  /** Bytes of the planned activation block (every activation and scratch, after reuse). */
  readonly activationBytes: number;
  /** Bytes activations would need without reuse, for comparison. */
  readonly activationBytesUnplanned: number;
  /** Bytes of parameters copied into the engine's memory. */
  readonly paramBytes: number;
  /**
   * Run once: `feeds` holds every graph input (batch × dims elements, float32, NCHW). Returns every
   * graph output as a fresh array.
   */
  run(feeds: Readonly<Record<string, Float32Array>>): Record<string, Float32Array>;
  /** Time per step since compile, in step order, when compiled with `profile: true` (else empty). */
  profile(): StepTiming[];
  /** Release the engine memory this model holds (its module instance stays usable). */
  dispose(): void;
}

/** Constant types readFloat32 converts to float32. */
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);

/**
 * Compile a graph for the engine.
 * @param wasm the module instance to run on; give the model its own (`createWasm()`) when it is used
 *   across `await`s next to other work (its memory block stays allocated until `dispose`).
 * @param graph the model's graph (buildGraph).
 * @param options batch size and extra input dims.
 * @throws PrunekitError `ONNX_UNSUPPORTED` naming the node and op type for anything the engine cannot
 *   run (never a silent wrong answer), `INVALID_ARGUMENT` for a bad batch, input dims or winograd option.
 */
export function compileModel(wasm: Wasm, graph: Graph, options: CompileOptions = {}): CompiledModel {
  const batch = options.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1 || batch > 65536) {
    throw new PrunekitError("INVALID_ARGUMENT", `batch must be an integer in 1..65536, got ${String(batch)}`);
  }
  const winograd = options.winograd ?? true;
  if (winograd !== true && winograd !== false && winograd !== "2x2" && winograd !== "4x4") {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `winograd must be true, false, "2x2" or "4x4", got ${JSON.stringify(winograd) ?? String(winograd)}`,
    );
  }
  const inputs = graph.inputs.map((vi) => concreteInput(vi, batch, options.inputDims));
  const concrete: Graph = {
    ...graph,
    inputs: inputs.map((v) => withDims(graph.inputs.find((i) => i.name === v.name)!, v.dims)),
    valueInfo: new Map(),
    outputs: [],
  };
  const { shapes, values } = inferShapes(concrete);

  const params: (Float32Array | Int32Array)[] = [];
  const fused = new Set<GraphNode>();
  const lowered: { node: GraphNode; step: Step }[] = [];
  const aliasOf = new Map<string, string>();
  const floatCache = new Map<string, Float32Array>();

  const _isGraphOutput = (name: string): boolean => graph.tensors.get(name)?.isGraphOutput === true;
  // Values a step may read by now: the graph inputs, then each lowered node's outputs and its fused ones'.
  const computed = new Set<string>(graph.inputs.flatMap((i) => (i.name === undefined ? [] : [i.name])));
  for (const node of graph.order) {
    if (fused.has(node)) continue;
    if (node.opType === "Constant" && node.domain === "") continue; // in graph.constants
    if (node.outputs.every((o) => o === "" || values.has(o) || graph.constants.has(o))) continue; // folded
    const lower = engineLowering(node);
    if (lower === undefined) {
      throw unsupported(
        node,
        `the engine has no kernel for ${node.domain === "" ? "" : `${node.domain}.`}${node.opType}; supported ops are listed in docs/engine.md`,
      );
    }
    const fusedNow: GraphNode[] = [];
    const ctx: LowerContext = {
      node,
      batch,
      opset: graph.opsetVersion,
      winograd: winograd === true ? "auto" : winograd,
      dims(name) {
        const d = shapes.get(name);
        if (d === undefined) throw unsupported(node, `the shape of ${quoteName(name)} cannot be inferred`);
        return d;
      },
      intValue: (name) => values.get(name),
      floatConst(name) {
        const t = graph.constants.get(name);
        if (t === undefined) return undefined;
        let data = floatCache.get(name);
        if (data === undefined) {
          if (!FLOAT_TYPES.has(t.dataType ?? 0)) {
            throw unsupported(node, `constant ${quoteName(name)} is not a float tensor`);
          }
          data = readFloat32(t, graph.externalData);
          floatCache.set(name, data);
        }
        return data;
      },
      isConst: (name) => graph.constants.has(name),
      soleConsumer(name) {
        const ref = graph.tensors.get(name);
        if (ref === undefined || ref.isGraphOutput || ref.consumers.length !== 1) return undefined;
        const c = ref.consumers[0]!;
        return c.inputs.filter((i) => i === name).length === 1 ? c : undefined;
      },
      fuse(n) {
        fused.add(n);
        fusedNow.push(n);
      },
      computed: (name) => computed.has(name) && !graph.constants.has(name),
      param(data) {
        params.push(data);
        return { id: params.length - 1, length: data.length };
      },
      paramI32(data) {
        params.push(data);
        return { id: params.length - 1, length: data.length };
      },
      packGemmA: (a, m, k) => gemmPackA(wasm, { m, k }, a),
    };
    const result = lower(ctx);
    for (const n of [node, ...fusedNow]) for (const o of n.outputs) if (o !== "") computed.add(o);
    if (result.kind === "alias") aliasOf.set(result.output, result.input);
    else if (result.kind === "step") lowered.push({ node, step: result });
  }

  // Values read at run time that are constants become parameters too.
  const constParam = new Map<string, ParamRef>();
  const rootOf = (name: string): string => {
    let n = name;
    for (let a = aliasOf.get(n); a !== undefined; a = aliasOf.get(n)) n = a;
    return n;
  };
  for (const { node, step } of lowered) {
    for (const r of step.reads) {
      const root = rootOf(r);
      if (graph.constants.has(root) && !constParam.has(root)) {
        const t = graph.constants.get(root)!;
        if (t.dataType !== DataType.FLOAT) {
          throw unsupported(node, `reads the ${quoteName(root)} constant of a non-float type at run time`);
        }
        constParam.set(root, { id: params.push(readFloat32(t, graph.externalData)) - 1, length: 0 });
      }
    }
  }

  // Liveness: each storage (a value that is not an alias and not a constant) lives from the step that
  // writes it to the last step that reads it or any alias of it; graph inputs from before the first step,
  // graph outputs to after the last.
  const end = lowered.length;
  const birth = new Map<string, number>();
  const death = new Map<string, number>();
  for (const v of inputs) {
    birth.set(v.name, -1);
    death.set(v.name, -1);
  }
  lowered.forEach(({ step }, i) => {
    for (const w of step.writes) {
      if (!birth.has(w)) birth.set(w, i);
      death.set(w, Math.max(death.get(w) ?? i, i));
    }
    for (const r of step.reads) {
      const root = rootOf(r);
      if (constParam.has(root)) continue;
      death.set(root, Math.max(death.get(root) ?? i, i));
    }
  });
  const outputs: CompiledValue[] = graph.outputs.map((o) => {
    const name = o.name ?? "";
    const dims = shapes.get(name);
    const root = rootOf(name);
    if (dims === undefined || !birth.has(root)) {
      const producer = graph.tensors.get(name)?.producer;
      throw new PrunekitError(
        "ONNX_UNSUPPORTED",
        `graph output ${quoteName(name)}${producer === undefined ? "" : ` of node ${quoteName(producer.name)} (${producer.opType})`} is not computed by the engine (a constant or unknown shape)`,
      );
    }
    death.set(root, end);
    return { name, dims };
  });
  for (const name of death.keys()) if (!birth.has(name)) birth.set(name, 0);

  const storageLen = (name: string): number => {
    const d = shapes.get(name);
    if (d === undefined)
      throw new PrunekitError("ONNX_UNSUPPORTED", `the shape of ${quoteName(name)} is unknown`);
    return product(d);
  };
  const plan = planOffsets(
    [...birth.keys()].map((name) => ({
      name,
      bytes: alignUp(storageLen(name) * 4),
      from: birth.get(name)!,
      to: death.get(name)!,
    })),
  );
  const scratchLen = lowered.reduce((m, { step }) => Math.max(m, step.scratchLen), 0);
  const scratchBytes = alignUp(scratchLen * 4);

  // One block: parameters, then activations, then scratch.
  const arena = wasm.arena;
  const mark = arena.mark();
  let disposed = false;
  try {
    const paramPtrs = params.map(
      (p) => (p instanceof Int32Array ? arena.copyInI32(p, mark) : arena.copyInF32(p, mark)).ptr,
    );
    const block = arena.allocF32(Math.max(1, (plan.totalBytes + scratchBytes) / 4), mark);
    const activationPtr = new Map<string, number>();
    for (const [name, offset] of plan.offsets) activationPtr.set(name, block.ptr + offset);
    const scratchPtr = block.ptr + plan.totalBytes;
    const memory = wasm.exports.memory;
    const ptrOf = (name: string): number => {
      const root = rootOf(name);
      const cp = constParam.get(root);
      if (cp !== undefined) return paramPtrs[cp.id]!;
      const p = activationPtr.get(root);
      if (p === undefined)
        throw new PrunekitError("ONNX_UNSUPPORTED", `value ${quoteName(name)} has no memory`);
      return p;
    };
    const binding: Binding = {
      exports: wasm.exports,
      ptr: ptrOf,
      param: (ref) => paramPtrs[ref.id]!,
      scratchPtr,
      f32: () => new Float32Array(memory.buffer),
    };
    const bound = lowered.map(({ step }) => step.bind(binding));
    const stepMs = new Float64Array(bound.length);
    const runs =
      options.profile === true
        ? bound.map((r, i) => () => {
            const t0 = performance.now();
            r();
            stepMs[i]! += performance.now() - t0;
          })
        : bound;
    const inputPtrs = inputs.map((v) => ({ ...v, ptr: ptrOf(v.name), len: product(v.dims) }));
    const outputPtrs = outputs.map((v) => ({ ...v, ptr: ptrOf(v.name), len: product(v.dims) }));
    return {
      batch,
      inputs,
      outputs,
      stepCount: runs.length,
      activationBytes: plan.totalBytes + scratchBytes,
      activationBytesUnplanned: plan.unplannedBytes + scratchBytes,
      paramBytes: params.reduce((s, p) => s + p.length * 4, 0),
      run(feeds) {
        if (disposed) throw new PrunekitError("INVALID_ARGUMENT", "this compiled model was disposed");
        const mem = new Float32Array(memory.buffer);
        for (const v of inputPtrs) {
          const x = feeds[v.name];
          if (x === undefined) {
            throw new PrunekitError(
              "INVALID_ARGUMENT",
              `missing input ${quoteName(v.name)} (dims ${v.dims.join("x")})`,
            );
          }
          if (x.length !== v.len) {
            throw new PrunekitError(
              "INVALID_ARGUMENT",
              `input ${quoteName(v.name)} has ${x.length} values, expected ${v.len} (dims ${v.dims.join("x")})`,
            );
          }
          mem.set(x, v.ptr / 4);
        }
        for (const r of runs) r();
        const out = new Float32Array(memory.buffer);
        const result: Record<string, Float32Array> = {};
        for (const v of outputPtrs) result[v.name] = out.slice(v.ptr / 4, v.ptr / 4 + v.len);
        return result;
      },
      profile: () =>
        options.profile === true
          ? lowered.map(({ node }, i) => ({ node: node.name, opType: node.opType, ms: stepMs[i]! }))
          : [],
      dispose() {
        if (disposed) return;
        disposed = true;
        arena.release(mark);
      },
    };
  } catch (e) {
    arena.release(mark);
    throw e;
  }
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

/** Dims of a graph input with the batch (first dim) set and symbolic dims filled from `inputDims`. */
export function concreteInput(
  vi: ValueInfoProto,
  batch: number,
  inputDims: Readonly<Record<string, readonly number[]>> | undefined,
): CompiledValue {
  const name = vi.name ?? "";
  const tensorType = vi.type?.tensorType;
  if (tensorType?.elemType !== undefined && tensorType.elemType !== DataType.FLOAT) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `graph input ${quoteName(name)} is not float32; the engine runs float32 models only`,
    );
  }
  const given = inputDims?.[name];
  if (given !== undefined) {
    if (!given.every((d) => Number.isInteger(d) && d > 0)) {
      throw new PrunekitError("INVALID_ARGUMENT", `inputDims[${quoteName(name)}] must be positive integers`);
    }
    return { name, dims: [batch, ...given] };
  }
  const dims = tensorType?.shape?.dim;
  if (dims === undefined || dims.length === 0) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `graph input ${quoteName(name)} has no declared shape; pass its dims (without the batch) as inputDims`,
    );
  }
  const out = [batch];
  for (let i = 1; i < dims.length; i++) {
    const d = dims[i]!.dimValue;
    if (d === undefined || d <= 0) {
      throw new PrunekitError(
        "ONNX_UNSUPPORTED",
        `graph input ${quoteName(name)} has a symbolic dim ${i} (${dims[i]!.dimParam ?? "?"}); pass its dims (without the batch) as inputDims`,
      );
    }
    out.push(d);
  }
  return { name, dims: out };
}

/** The value info with float32 type and these concrete dims. */
export function withDims(vi: ValueInfoProto, dims: readonly number[]): ValueInfoProto {
  return {
    ...vi,
    type: {
      ...vi.type,
      tensorType: {
        ...vi.type?.tensorType,
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => ({ dimValue: d })) },
      },
    },
  } as ValueInfoProto;
}

interface Storage {
  readonly name: string;
  readonly bytes: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Place storages in one block so that two whose lifetimes [from, to] intersect never overlap: largest
 * first, each at the lowest offset free of every placed storage it is alive with (greedy by size).
 */
export function planOffsets(storages: readonly Storage[]): {
  offsets: Map<string, number>;
  totalBytes: number;
  unplannedBytes: number;
} {
  const order = [...storages].sort(
    (a, b) => b.bytes - a.bytes || a.from - b.from || (a.name < b.name ? -1 : 1),
  );
  const placed: { s: Storage; offset: number }[] = [];
  const offsets = new Map<string, number>();
  let totalBytes = 0;
  for (const s of order) {
    const clashes = placed
      .filter((p) => p.s.from <= s.to && s.from <= p.s.to)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const p of clashes) {
      if (offset + s.bytes <= p.offset) break;
      offset = Math.max(offset, p.offset + p.s.bytes);
    }
    placed.push({ s, offset });
    offsets.set(s.name, offset);
    totalBytes = Math.max(totalBytes, offset + s.bytes);
  }
  return { offsets, totalBytes, unplannedBytes: storages.reduce((t, s) => t + s.bytes, 0) };
}
