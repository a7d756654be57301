// The training executor: a graph compiled once per batch size into forward steps that keep what their
// backward needs, a softmax cross-entropy loss on the classifier's output, and the backward steps in
// reverse order (reverse mode). Parameters, their gradients and the SGD momentum buffers live in one
// flat region of the module's memory (a ParamStore, shared by the compilations for other batch sizes,
// e.g. the last partial batch); activations and their gradients share one block planned by liveness over
// the whole forward + loss + backward schedule, so a value lives only until the last step that needs it.
//
// The ops come from the training op table (train-ops.ts), each lowered to a TrainStep: forward and
// backward closures over pointers, the values the backward reads (`saved`) and the inputs whose
// gradients it writes (`gradOf`). A value read by several steps gets the sum of their gradients: the
// first step (in backward order) to write it writes in place, the later ones write into scratch and
// add (eltwise_accumulate). Unlike inference, nothing is fused: BatchNormalization runs with batch
// statistics and updates its running statistics as nn.BatchNorm2d does.
import { PrunekitError } from "../errors.ts";
import type { Graph, GraphNode } from "../graph/ir.ts";
import { inferShapes } from "../graph/shapes.ts";
import { DataType } from "../onnx/proto-types.ts";
import { readFloat32 } from "../onnx/tensor.ts";
import type { ArenaMark } from "../wasm/arena.ts";
import type { Wasm } from "../wasm/instance.ts";
import { concreteInput, planOffsets, withDims } from "./compile.ts";
import { channelGateStep } from "./grad/gate.ts";
import { exportFn, product, quoteName, unsupported } from "./lower.ts";
import {
  FIXED_ROLES,
  type ParamRole,
  type ParamStore,
  type StateRef,
  type TrainBinding,
  type TrainLowerContext,
  type TrainParam,
  type TrainStep,
} from "./train-lower.ts";
import { trainLowering } from "./train-ops.ts";

export type { ParamRole, ParamStore, TrainParam } from "./train-lower.ts";

/** Options of {@link compileTrainer}. */
export interface TrainerOptions {
  /** Images per step. Default 32. */
  batch?: number;
  /** Dims (without the batch) of inputs with symbolic dims, by name. */
  inputDims?: Readonly<Record<string, readonly number[]>>;
  /** The parameter memory of another compilation of the same graph (for another batch size). */
  params?: ParamStore;
  /** Time every step by op type (see Trainer.profile); default false. */
  profile?: boolean;
  /**
   * BatchNormalization nodes (by node name) to run as Gate Decorator's gated BN (docs/methods.md §4.1):
   * y = m·g·(x̂ + b') with synthetic parameters `<node>#gate` (g, from γ), `<node>#shift` (b', from
   * clamp(β/γ, ±10), 0 where γ = 0) and `<node>#mask` (m, 1); the BN's own γ and β are not trained.
   */
  gatedBatchNorms?: ReadonlySet<string>;
  /**
   * Conv nodes (by node name) whose output is gated (docs/methods.md §4.9, experimental):
   * y = m·g·(W∗x + b), bias included, with synthetic parameters `<node>#gate` (g, initialised to 1) and
   * `<node>#mask` (m, 1, never trained); the conv's weight and bias stay parameters.
   */
  gatedConvs?: ReadonlySet<string>;
}

/** Milliseconds spent per op type (and "loss", "sgd" when the caller adds them), forward and backward. */
export interface TrainProfile {
  forward: Record<string, number>;
  backward: Record<string, number>;
}

/** Result of one forward + backward. */
export interface StepResult {
  /** Mean softmax cross-entropy over the batch. */
  loss: number;
  /** Images whose highest logit is their label. */
  correct: number;
}

/** A graph compiled for training at one batch size. */
export interface Trainer {
  readonly batch: number;
  /** The image input. */
  readonly input: { readonly name: string; readonly dims: readonly number[] };
  /** The value the loss reads (the logits; a final Softmax / LogSoftmax is skipped). */
  readonly logits: { readonly name: string; readonly dims: readonly number[] };
  readonly store: ParamStore;
  readonly stepCount: number;
  /** Bytes of the planned activation + gradient block. */
  readonly activationBytes: number;
  /**
   * Forward in training mode (batch statistics, running statistics updated), loss, and backward:
   * every trainable parameter's gradient is written (frozen ones are skipped).
   * @param x batch × input elements. @param labels batch class ids.
   */
  step(x: Float32Array, labels: Int32Array, options?: { training?: boolean }): StepResult;
  /** Forward only, in training mode without backward, returning the logits (for tests). */
  forward(x: Float32Array, options?: { training?: boolean }): Float32Array;
  /** Freeze (true) or unfreeze parameters: a frozen one gets no gradient and is skipped by SGD. */
  setFrozen(predicate: (p: TrainParam) => boolean): void;
  isFrozen(name: string): boolean;
  /** Time per op type since compile, when compiled with `profile: true` (else empty). */
  profile(): TrainProfile;
  /** Release the activation block (the ParamStore stays; dispose it separately). */
  dispose(): void;
}

/** Ops after the logits that the loss replaces (the loss applies its own log-softmax). */
const FINAL_SOFTMAX = new Set(["Softmax", "LogSoftmax"]);

/** Create the parameter memory for a graph: every declared parameter, its gradient and momentum buffer. */
function createParamStore(
  wasm: Wasm,
  graph: Graph,
  declared: Map<string, ParamRole>,
  synthetic: ReadonlyMap<string, Float32Array>,
): ParamStore {
  const arena = wasm.arena;
  const mark: ArenaMark = arena.mark();
  const params: TrainParam[] = [];
  const valuePtr = new Map<string, number>();
  const gradPtr = new Map<string, number>();
  const momentumPtr = new Map<string, number>();
  const memory = wasm.exports.memory;
  try {
    for (const [name, role] of declared) {
      const own = synthetic.get(name);
      const t = graph.constants.get(name);
      const data = own ?? readFloat32(t!, graph.externalData);
      const dims = own === undefined ? (t!.dims ?? []).map(Number) : [own.length];
      const trainable = !FIXED_ROLES.has(role);
      params.push({ name, dims, length: data.length, role, trainable, synthetic: own !== undefined });
      valuePtr.set(name, arena.copyInF32(data, mark).ptr);
      if (trainable) {
        gradPtr.set(name, arena.allocF32(Math.max(1, data.length), mark).ptr);
        momentumPtr.set(name, arena.allocF32(Math.max(1, data.length), mark).ptr);
      }
    }
  } catch (e) {
    arena.release(mark);
    throw e;
  }
  const lengthOf = new Map(params.map((p) => [p.name, p.length]));
  const need = (m: Map<string, number>, name: string, what: string): number => {
    const p = m.get(name);
    if (p === undefined)
      throw new PrunekitError("INVALID_ARGUMENT", `${quoteName(name)} is not a ${what} of this trainer`);
    return p;
  };
  const copyOut = (ptr: number, name: string) =>
    new Float32Array(memory.buffer).slice(ptr / 4, ptr / 4 + lengthOf.get(name)!);
  const copyIn = (ptr: number, name: string, data: Float32Array) => {
    if (data.length !== lengthOf.get(name)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `${quoteName(name)} has ${lengthOf.get(name)} values, got ${data.length}`,
      );
    }
    new Float32Array(memory.buffer).set(data, ptr / 4);
  };
  let disposed = false;
  return {
    wasm,
    params,
    valuePtr: (n) => need(valuePtr, n, "parameter"),
    gradPtr: (n) => need(gradPtr, n, "trainable parameter"),
    momentumPtr: (n) => need(momentumPtr, n, "trainable parameter"),
    read: (n) => copyOut(need(valuePtr, n, "parameter"), n),
    readGrad: (n) => copyOut(need(gradPtr, n, "trainable parameter"), n),
    readMomentum: (n) => copyOut(need(momentumPtr, n, "trainable parameter"), n),
    write: (n, d) => copyIn(need(valuePtr, n, "parameter"), n, d),
    writeMomentum: (n, d) => copyIn(need(momentumPtr, n, "trainable parameter"), n, d),
    writeGrad: (n, d) => copyIn(need(gradPtr, n, "trainable parameter"), n, d),
    dispose() {
      if (disposed) return;
      disposed = true;
      arena.release(mark);
    },
  };
}

interface Lowered {
  readonly node: GraphNode;
  readonly step: TrainStep;
  readonly states: readonly StateRef[];
}

/**
 * Compile a classifier's graph for training: one image input, one output of [batch, classes] logits
 * (or probabilities from a final Softmax, which the loss skips).
 * @throws PrunekitError `ONNX_UNSUPPORTED` naming the node and op type for an op the training engine
 *   cannot differentiate; `INVALID_ARGUMENT` for a bad batch, a foreign ParamStore or a model that is
 *   not a classifier.
 */
export function compileTrainer(wasm: Wasm, graph: Graph, options: TrainerOptions = {}): Trainer {
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1 || batch > 65536) {
    throw new PrunekitError("INVALID_ARGUMENT", `batch must be an integer in 1..65536, got ${String(batch)}`);
  }
  if (graph.inputs.length !== 1 || graph.outputs.length < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `training needs a model with one input and a classifier output; this one has ${graph.inputs.length} inputs and ${graph.outputs.length} outputs`,
    );
  }
  const vi = graph.inputs[0]!;
  const inputName = vi.name ?? "";
  const inputDims = concreteInput(vi, batch, options.inputDims).dims;
  const concrete: Graph = {
    ...graph,
    inputs: [withDims(vi, inputDims)],
    valueInfo: new Map(),
    outputs: [],
  };
  const { shapes, values } = inferShapes(concrete);

  // The logits: the first output, or the input of a final Softmax / LogSoftmax.
  let logitsName = graph.outputs[0]!.name ?? "";
  let skip: GraphNode | undefined;
  const finalNode = graph.tensors.get(logitsName)?.producer;
  if (finalNode !== undefined && finalNode.domain === "" && FINAL_SOFTMAX.has(finalNode.opType)) {
    skip = finalNode;
    logitsName = finalNode.inputs[0] ?? "";
  }
  const logitsDims = shapes.get(logitsName);
  if (logitsDims === undefined || logitsDims.length !== 2 || logitsDims[0] !== batch) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `training needs [batch, classes] logits; ${quoteName(logitsName)} has dims [${(logitsDims ?? []).join(", ")}]`,
    );
  }
  const classes = logitsDims[1]!;

  // Lower every node the logits depend on.
  const needed = upstreamNodes(graph, logitsName);
  const declared = new Map<string, ParamRole>();
  const synthetic = new Map<string, Float32Array>();
  const paramOwner = new Map<string, GraphNode>();
  const lowered: Lowered[] = [];
  const aliasOf = new Map<string, string>();
  const floatCache = new Map<string, Float32Array>();
  let stateCount = 0;
  for (const node of graph.order) {
    if (node === skip || !needed.has(node)) continue;
    if (node.opType === "Constant" && node.domain === "") continue;
    if (node.outputs.every((o) => o === "" || values.has(o) || graph.constants.has(o))) continue;
    const lower = trainLowering(node);
    if (lower === undefined) {
      throw unsupported(
        node,
        `the training engine cannot differentiate ${node.domain === "" ? "" : `${node.domain}.`}${node.opType}; supported ops are listed in docs/engine.md`,
      );
    }
    // A gated conv writes its ungated output z, and a gate step maps z to the graph's value (§4.9).
    const gatedConv = options.gatedConvs?.has(node.name) === true && node.opType === "Conv";
    const y = node.outputs[0] ?? "";
    const ungated = `${y}#ungated`;
    if (gatedConv) {
      if (graph.tensors.has(ungated) || shapes.has(ungated)) {
        throw unsupported(node, `the gate's value ${quoteName(ungated)} clashes with a tensor name`);
      }
      shapes.set(ungated, shapes.get(y)!);
    }
    const lowerNode: GraphNode = gatedConv ? { ...node, outputs: [ungated, ...node.outputs.slice(1)] } : node;
    let states: StateRef[] = [];
    const ctx: TrainLowerContext = {
      node: lowerNode,
      batch,
      opset: graph.opsetVersion,
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
          if (t.dataType !== DataType.FLOAT)
            throw unsupported(node, `constant ${quoteName(name)} is not float32`);
          data = readFloat32(t, graph.externalData);
          floatCache.set(name, data);
        }
        return data;
      },
      isConst: (name) => graph.constants.has(name),
      param(name, role) {
        const t = graph.constants.get(name);
        if (t === undefined || t.dataType !== DataType.FLOAT) {
          throw unsupported(node, `${quoteName(name)} must be a float32 initializer to be trained`);
        }
        const owner = paramOwner.get(name);
        if (owner !== undefined && owner !== node) {
          throw unsupported(
            node,
            `shares the parameter ${quoteName(name)} with node ${quoteName(owner.name)}; shared parameters cannot be trained yet`,
          );
        }
        paramOwner.set(name, node);
        const before = declared.get(name);
        if (before !== undefined && before !== role) {
          throw unsupported(node, `${quoteName(name)} is used both as ${before} and as ${role}`);
        }
        declared.set(name, role);
        return { name };
      },
      syntheticParam(name, role, initial) {
        if (graph.constants.has(name) || synthetic.has(name)) {
          throw unsupported(node, `the synthetic parameter ${quoteName(name)} clashes with a tensor name`);
        }
        synthetic.set(name, initial);
        declared.set(name, role);
        return { name };
      },
      gated: (n) => options.gatedBatchNorms?.has(n.name) === true,
      state(length) {
        const s = { id: stateCount++, length };
        states.push(s);
        return s;
      },
    };
    const result = lower(ctx);
    if (result.kind === "alias") aliasOf.set(result.output, result.input);
    else lowered.push({ node: lowerNode, step: result, states });
    if (gatedConv) {
      const channels = shapes.get(y)![1] ?? 1;
      const gate = ctx.syntheticParam(`${node.name}#gate`, "gate", new Float32Array(channels).fill(1));
      const mask = ctx.syntheticParam(`${node.name}#mask`, "gate-mask", new Float32Array(channels).fill(1));
      states = [];
      const step = channelGateStep(ctx, ungated, y, gate, mask);
      // The gate step's own node: its inputs name the gate, so the values after it need gradients.
      const gateNode: GraphNode = {
        ...node,
        name: `${node.name}#gate`,
        opType: "ConvGate",
        inputs: [ungated, gate.name, mask.name],
        outputs: [y],
      };
      lowered.push({ node: gateNode, step, states });
    }
  }

  for (const name of options.gatedBatchNorms ?? []) {
    const n = graph.order.find((m) => m.name === name);
    if (n === undefined || n.opType !== "BatchNormalization" || !needed.has(n)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `gatedBatchNorms: ${quoteName(name)} is not a BatchNormalization node the logits depend on`,
      );
    }
  }
  for (const name of options.gatedConvs ?? []) {
    const n = graph.order.find((m) => m.name === name);
    if (n === undefined || n.opType !== "Conv" || !needed.has(n)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `gatedConvs: ${quoteName(name)} is not a Conv node the logits depend on`,
      );
    }
  }
  let store = options.params;
  if (store === undefined) store = createParamStore(wasm, graph, declared, synthetic);
  else {
    if (store.wasm !== wasm) {
      throw new PrunekitError("INVALID_ARGUMENT", "the ParamStore belongs to another module instance");
    }
    const names = new Set(store.params.map((p) => p.name));
    for (const name of declared.keys()) {
      if (!names.has(name)) throw new PrunekitError("INVALID_ARGUMENT", "the ParamStore is of another graph");
    }
  }

  const rootOf = (name: string): string => {
    let n = name;
    for (let a = aliasOf.get(n); a !== undefined; a = aliasOf.get(n)) n = a;
    return n;
  };
  // Constants read at run time (not parameters) are copied in once.
  const runtimeConst = new Map<string, Float32Array>();
  for (const { node, step } of lowered) {
    for (const r of step.reads) {
      const root = rootOf(r);
      if (graph.constants.has(root) && !runtimeConst.has(root)) {
        const t = graph.constants.get(root)!;
        if (t.dataType !== DataType.FLOAT)
          throw unsupported(node, `reads the non-float constant ${quoteName(root)}`);
        runtimeConst.set(root, readFloat32(t, graph.externalData));
      }
    }
  }
  const isActivation = (root: string) => !runtimeConst.has(root);

  // Which activations need gradients: those downstream of a trainable parameter.
  const S = lowered.length;
  const needsGrad = new Set<string>();
  lowered.forEach(({ step, node }) => {
    const fromParam =
      node.inputs.some((i) => declared.has(i) && !FIXED_ROLES.has(declared.get(i)!)) ||
      (node.opType === "BatchNormalization" && options.gatedBatchNorms?.has(node.name) === true);
    const fromGrad = step.reads.some((r) => needsGrad.has(rootOf(r)));
    if (fromParam || fromGrad) for (const w of step.writes) needsGrad.add(rootOf(w));
  });

  // Schedule: forward i -> i, loss -> S, backward of step i -> 2S - i.
  const lossAt = S;
  const backAt = (i: number) => 2 * S - i;
  const storages = new Map<string, { name: string; bytes: number; from: number; to: number }>();
  const live = (key: string, len: number, at: number) => {
    const s = storages.get(key);
    if (s === undefined) storages.set(key, { name: key, bytes: alignUp(len * 4), from: at, to: at });
    else storages.set(key, { ...s, from: Math.min(s.from, at), to: Math.max(s.to, at) });
  };
  const lenOf = (name: string): number => {
    const d = shapes.get(name);
    if (d === undefined)
      throw new PrunekitError("ONNX_UNSUPPORTED", `the shape of ${quoteName(name)} is unknown`);
    return product(d);
  };
  live(inputName, lenOf(inputName), -1);
  // Per step, the gradients it writes and whether each is the first contribution (in backward order).
  const gradWrites: { name: string; direct: boolean }[][] = lowered.map(() => []);
  const contributed = new Set<string>();
  contributed.add(rootOf(logitsName)); // the loss writes it first
  for (let i = S - 1; i >= 0; i--) {
    const { step } = lowered[i]!;
    for (const g of new Set(step.gradOf)) {
      const root = rootOf(g);
      if (!needsGrad.has(root) || !isActivation(root)) continue;
      if (gradWrites[i]!.some((w) => w.name === root)) continue; // one pointer per value and step
      gradWrites[i]!.push({ name: root, direct: !contributed.has(root) });
      contributed.add(root);
    }
  }
  lowered.forEach(({ step }, i) => {
    for (const w of step.writes) live(rootOf(w), lenOf(rootOf(w)), i);
    for (const r of step.reads) {
      const root = rootOf(r);
      if (isActivation(root)) live(root, lenOf(root), i);
    }
    for (const s of step.saved) {
      const root = rootOf(s);
      if (isActivation(root)) live(root, lenOf(root), backAt(i));
    }
    // The gradient of each output is read by this backward; each gradOf gradient is written by it.
    for (const w of step.writes) {
      const root = rootOf(w);
      if (needsGrad.has(root)) live(`∂${root}`, lenOf(root), backAt(i));
    }
    for (const gw of gradWrites[i]!) live(`∂${gw.name}`, lenOf(gw.name), backAt(i));
  });
  const logitsRoot = rootOf(logitsName);
  live(logitsRoot, lenOf(logitsRoot), lossAt);
  live(`∂${logitsRoot}`, lenOf(logitsRoot), lossAt);
  const plan = planOffsets([...storages.values()]);
  // Scratch: the largest step scratch, plus room for the accumulated gradients of one step.
  let scratchLen = 0;
  lowered.forEach(({ step }, i) => {
    const acc = gradWrites[i]!.filter((w) => !w.direct).reduce(
      (s, w) => s + alignUp(lenOf(w.name) * 4) / 4,
      0,
    );
    scratchLen = Math.max(scratchLen, alignUp(step.scratchLen * 4) / 4 + acc);
  });

  const arena = wasm.arena;
  const mark = arena.mark();
  const memory = wasm.exports.memory;
  const frozen = new Set<string>();
  const profile: TrainProfile = { forward: {}, backward: {} };
  const mode = { training: true };
  let disposed = false;
  try {
    const constPtr = new Map<string, number>();
    for (const [name, data] of runtimeConst) constPtr.set(name, arena.copyInF32(data, mark).ptr);
    const stateLen = lowered.reduce(
      (s, l) => s + l.states.reduce((t, r) => t + alignUp(r.length * 4) / 4, 0),
      0,
    );
    const stateBlock = arena.allocF32(Math.max(1, stateLen), mark).ptr;
    const statePtr = new Map<number, number>();
    {
      let at = stateBlock;
      for (const l of lowered)
        for (const s of l.states) {
          statePtr.set(s.id, at);
          at += alignUp(s.length * 4);
        }
    }
    const labelsPtr = arena.allocI32(batch, mark).ptr;
    const block = arena.allocF32(Math.max(1, (plan.totalBytes + scratchLen * 4) / 4), mark).ptr;
    const scratchPtr = block + plan.totalBytes;
    const at = (key: string): number => {
      const off = plan.offsets.get(key);
      if (off === undefined)
        throw new PrunekitError("ONNX_UNSUPPORTED", `value ${quoteName(key)} has no memory`);
      return block + off;
    };
    const ptrOf = (name: string): number => {
      const root = rootOf(name);
      return constPtr.get(root) ?? at(root);
    };
    const s = store;
    const accumulate = exportFn(wasm.exports, "eltwise_accumulate");
    const steps = lowered.map(({ step }, i) => {
      const writes = gradWrites[i]!;
      // Scratch for accumulated gradients sits after the step's own scratch.
      const temps = new Map<string, number>();
      let tempAt = scratchPtr + alignUp(step.scratchLen * 4);
      const adds: { temp: number; target: number; len: number }[] = [];
      for (const w of writes) {
        if (w.direct || temps.has(w.name)) continue;
        temps.set(w.name, tempAt);
        adds.push({ temp: tempAt, target: at(`∂${w.name}`), len: lenOf(w.name) });
        tempAt += alignUp(lenOf(w.name) * 4);
      }
      const binding: TrainBinding = {
        exports: wasm.exports,
        ptr: ptrOf,
        grad(name) {
          const root = rootOf(name);
          if (!needsGrad.has(root) || !isActivation(root)) return 0;
          return temps.get(root) ?? at(`∂${root}`);
        },
        dy(name) {
          const root = rootOf(name);
          return needsGrad.has(root) ? at(`∂${root}`) : 0;
        },
        param: (p) => s.valuePtr(p.name),
        paramGrad: (p) => s.gradPtr(p.name),
        wantsGrad: (p) => !frozen.has(p.name),
        state: (r) => statePtr.get(r.id)!,
        scratchPtr,
        f32: () => new Float32Array(memory.buffer),
        mode,
      };
      const fns = step.bind(binding);
      // Outputs whose gradient no consumer writes (unused outputs) read as zero.
      const zeros = step.writes
        .map(rootOf)
        .filter((w) => needsGrad.has(w) && !contributed.has(w))
        .map((w) => ({ ptr: at(`∂${w}`), len: lenOf(w) }));
      const hasGradOut = step.writes.some((w) => needsGrad.has(rootOf(w)));
      const backward = !hasGradOut
        ? () => {}
        : () => {
            if (zeros.length > 0) {
              const m = new Float32Array(memory.buffer);
              for (const z of zeros) m.fill(0, z.ptr / 4, z.ptr / 4 + z.len);
            }
            fns.backward();
            for (const a of adds) accumulate(a.target, a.temp, a.len);
          };
      if (options.profile !== true) return { forward: fns.forward, backward };
      const op = lowered[i]!.node.opType;
      return {
        forward: () => {
          const t0 = performance.now();
          fns.forward();
          profile.forward[op] = (profile.forward[op] ?? 0) + performance.now() - t0;
        },
        backward: () => {
          const t0 = performance.now();
          backward();
          profile.backward[op] = (profile.backward[op] ?? 0) + performance.now() - t0;
        },
      };
    });
    const xPtr = at(inputName);
    const xLen = product(inputDims);
    const logitsPtr = at(logitsRoot);
    const dLogitsPtr = at(`∂${logitsRoot}`);
    const xent = exportFn(wasm.exports, "loss_softmax_xent");
    const correctFn = exportFn(wasm.exports, "loss_softmax_xent_correct");
    const checkLive = () => {
      if (disposed) throw new PrunekitError("INVALID_ARGUMENT", "this trainer was disposed");
    };
    const feed = (x: Float32Array) => {
      if (x.length !== xLen) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `input ${quoteName(inputName)} has ${x.length} values, expected ${xLen} (dims ${inputDims.join("x")})`,
        );
      }
      new Float32Array(memory.buffer).set(x, xPtr / 4);
    };
    return {
      batch,
      input: { name: inputName, dims: inputDims },
      logits: { name: logitsName, dims: logitsDims },
      store: s,
      stepCount: steps.length,
      activationBytes: plan.totalBytes + scratchLen * 4,
      step(x, labels, opts = {}) {
        checkLive();
        feed(x);
        if (labels.length !== batch) {
          throw new PrunekitError("INVALID_ARGUMENT", `expected ${batch} labels, got ${labels.length}`);
        }
        for (let i = 0; i < batch; i++) {
          const l = labels[i]!;
          if (!Number.isInteger(l) || l < 0 || l >= classes) {
            throw new PrunekitError(
              "INVALID_ARGUMENT",
              `label ${l} of image ${i} of the batch is outside 0..${classes - 1} (the model has ${classes} outputs)`,
            );
          }
        }
        new Int32Array(memory.buffer).set(labels, labelsPtr / 4);
        // training false: BN on its running statistics, forward and backward (scores only; no SGD
        // should follow, as the statistics are not batch statistics).
        mode.training = opts.training ?? true;
        for (const st of steps) st.forward();
        const t0 = options.profile === true ? performance.now() : 0;
        const correct = correctFn(logitsPtr, labelsPtr, batch, classes) as number;
        const loss = xent(logitsPtr, labelsPtr, dLogitsPtr, batch, classes) as number;
        if (options.profile === true)
          profile.forward.loss = (profile.forward.loss ?? 0) + performance.now() - t0;
        for (let i = steps.length - 1; i >= 0; i--) steps[i]!.backward();
        mode.training = true;
        return { loss, correct };
      },
      forward(x, opts = {}) {
        checkLive();
        feed(x);
        mode.training = opts.training ?? true;
        for (const st of steps) st.forward();
        mode.training = true;
        return new Float32Array(memory.buffer).slice(logitsPtr / 4, logitsPtr / 4 + batch * classes);
      },
      setFrozen(predicate) {
        frozen.clear();
        for (const p of s.params) if (p.trainable && predicate(p)) frozen.add(p.name);
      },
      isFrozen: (name) => frozen.has(name),
      profile: () => ({ forward: { ...profile.forward }, backward: { ...profile.backward } }),
      dispose() {
        if (disposed) return;
        disposed = true;
        arena.release(mark);
      },
    };
  } catch (e) {
    arena.release(mark);
    if (options.params === undefined) store.dispose();
    throw e;
  }
}

/**
 * The parameter memory of a graph without a trainer kept (for a coordinator that only applies SGD while
 * workers compute the gradients): compiles at batch 2 to find the parameters, then releases the rest.
 */
export function createTrainStore(
  wasm: Wasm,
  graph: Graph,
  options: Pick<TrainerOptions, "inputDims" | "gatedBatchNorms" | "gatedConvs"> = {},
): { store: ParamStore; input: Trainer["input"] } {
  const t = compileTrainer(wasm, graph, { ...options, batch: 2 });
  t.dispose();
  return { store: t.store, input: t.input };
}

/** The nodes the value depends on. */
function upstreamNodes(graph: Graph, value: string): Set<GraphNode> {
  const seen = new Set<GraphNode>();
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const p = graph.tensors.get(v)?.producer;
    if (p === undefined || seen.has(p)) continue;
    seen.add(p);
    for (const i of p.inputs) if (i !== "") stack.push(i);
  }
  return seen;
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
