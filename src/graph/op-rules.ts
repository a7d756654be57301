// THE op table: how every ONNX op_type prunekit knows treats the channel axis of its activation
// inputs. Dependency analysis (find-groups.ts) is generic over this table; op knowledge lives here only.
// An op missing from the table is never guessed to be element-wise: every group it touches is frozen
// (STYLE.md, "Op knowledge lives in one table").
//
// "Positively homogeneous" is meant in the sense Neuron Merging needs (docs/methods.md §2.6): the op
// applies the *same* function f to every channel and f(s·x) = s·f(x) for s > 0, so a channel that is a
// positive multiple of another stays one after the op.
import {
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  type Graph,
  type GraphNode,
  inputAt,
  numel,
  opTableEntry,
} from "./ir.ts";
import { readSmallFloats, SHAPE_RULE_OPS, type ShapeInfo } from "./shapes.ts";

/**
 * Channel behaviour of a node:
 * - `linear`: reads all input channels with a constant weight and writes fresh output channels (Conv
 *   with group 1, Gemm, MatMul with a constant 2-D weight). Producer of its output, consumer of its input.
 * - `depthwise`: Conv with group = C_in = C_out; ties input channel c to output channel c.
 * - `grouped`: Conv with 1 < group that is not depthwise with multiplier 1: a `linear` node whose output
 *   channel o (in block floor(o / (C_out/G))) reads only input block b's C_in/G channels. Producer and
 *   consumer like `linear`; its groups get a block constraint (graph/group.ts DependencyGroup.blocks).
 * - `transposed`: ConvTranspose. Frozen (not supported for pruning).
 * - `channelwise-param`: per-channel parameters, channels kept apart (BatchNormalization, PRelu with
 *   per-channel slope, Mul/Add/Sub/Div by a per-channel constant, InstanceNormalization).
 * - `elementwise`: the same function on every channel (activations, pools, dropout, identity, pad...).
 * - `join`: element-wise op of two or more activations (residual Add, attention Mul); all share channels.
 * - `concat`: Concat along the channel axis; output channels are the inputs' channels side by side.
 * - `flatten`: Flatten / Reshape to [N, C·K]; channel c becomes features [c·K, (c+1)·K) (NCHW order).
 * - `shape-only`: reads only the shape of its input (Shape, Size); never affected by pruning.
 * - `barrier`: a known op that mixes or moves channels without weights prunekit can edit. Frozen.
 * - `unknown`: not in the table (or a non-default domain). Frozen.
 */
export type ChannelKind =
  | "linear"
  | "depthwise"
  | "grouped"
  | "transposed"
  | "channelwise-param"
  | "elementwise"
  | "join"
  | "concat"
  | "flatten"
  | "shape-only"
  | "barrier"
  | "unknown";

/** What a per-channel parameter tensor holds. */
export type ParamRole =
  | "bn-scale"
  | "bn-bias"
  | "bn-mean"
  | "bn-var"
  | "depthwise-weight"
  | "depthwise-bias"
  | "slope"
  | "multiplier"
  | "addend"
  | "scale"
  | "bias";

/** A constant tensor with one slice per channel along `axis`. */
export interface ChannelParam {
  /** Initializer or Constant output name. */
  tensor: string;
  /** Axis of the tensor that indexes channels (0 for BN vectors, OIHW axis 0 for depthwise weight). */
  axis: number;
  /** What the values mean. */
  role: ParamRole;
}

/** The weight of a `linear` node. */
export interface LinearWeight {
  /** Weight tensor name (a constant). */
  tensor: string;
  /** Axis indexing input channels: Conv OIHW 1, Gemm 1 if transB else 0, MatMul [in, out] 0. */
  inputAxis: number;
  /** Axis indexing output channels: Conv 0, Gemm 0 if transB else 1, MatMul 1. */
  outputAxis: number;
  /** Bias tensor indexed by output channel (axis 0), when there is one per output channel. */
  bias: string | undefined;
  /** Number of output channels. */
  outputChannels: number;
}

/** The classification of one node, given its inputs. */
export interface OpBehaviour {
  /** How the node treats channels. */
  kind: ChannelKind;
  /** Same positively homogeneous function on every channel (see the file comment). */
  positivelyHomogeneous: boolean;
  /** For frozen kinds (`transposed`, `barrier`, `unknown`): a sentence saying why. */
  reason?: string;
  /** For `linear` and `grouped`. */
  weight?: LinearWeight;
  /** For `channelwise-param` and `depthwise`: the per-channel constants. */
  params?: ChannelParam[];
  /** For `flatten`: features per channel (the product of the dims after the channel axis). */
  blockSize?: number;
  /**
   * For `depthwise`: the Conv `group` attribute (= channel count); surgery rewrites it. For `grouped`:
   * the Conv `group` attribute G (> 1), which surgery keeps.
   */
  group?: number;
  /**
   * For `elementwise` ops that drop or add axes after the channel axis (Squeeze, Unsqueeze, reductions
   * with keepdims=0, Reshape to [N, C, H·W]): the channel axis of the output. When absent, the output's
   * channel axis is the input's shifted by the rank difference (right-aligned, as broadcasting does).
   */
  outputChannelAxis?: number;
  /**
   * Indices of the inputs that carry channels (activations); other inputs are constants or shape values.
   * For `linear` and `depthwise` this is [0].
   */
  dataInputs: number[];
}

/** What a rule may look at. */
export interface OpRuleContext {
  /** The graph. */
  graph: Graph;
  /** Inferred shapes and integer values. */
  shapes: ShapeInfo;
  /** Channel axis of an activation value, or undefined when the value is a constant or a shape value. */
  channelAxis(name: string): number | undefined;
}

/** One row of the op table. */
export interface OpRule {
  /** Kinds this op can be classified as (documentation and tests). */
  kinds: readonly ChannelKind[];
  /** Classify one node of this op type. */
  classify(node: GraphNode, ctx: OpRuleContext): OpBehaviour;
}

function activationInputs(node: GraphNode, ctx: OpRuleContext): number[] {
  const out: number[] = [];
  node.inputs.forEach((name, i) => {
    if (name !== "" && ctx.channelAxis(name) !== undefined) out.push(i);
  });
  return out;
}

function barrier(node: GraphNode, ctx: OpRuleContext, why: string): OpBehaviour {
  return {
    kind: "barrier",
    positivelyHomogeneous: false,
    reason: `node "${node.name}" (op ${node.opType}) ${why}`,
    dataInputs: activationInputs(node, ctx),
  };
}

function isConstant(ctx: OpRuleContext, name: string | undefined): name is string {
  return name !== undefined && ctx.graph.constants.has(name);
}

function dimsOf(ctx: OpRuleContext, name: string | undefined): number[] | undefined {
  return name === undefined ? undefined : ctx.shapes.shapes.get(name);
}

/**
 * A barrier for a node whose channel behaviour depends on a shape that was not inferred: names the first
 * of `values` without a shape and the node where shape inference lost it (an op without a shape rule,
 * or a rule that could not compute it), so that the reason points at the op to fix, not at this one.
 */
function unknownShape(
  node: GraphNode,
  ctx: OpRuleContext,
  values: readonly (string | undefined)[],
): OpBehaviour {
  const name = values.find((v) => v !== undefined && v !== "" && dimsOf(ctx, v) === undefined);
  if (name === undefined) return barrier(node, ctx, "has a channel axis that is not known");
  return barrier(node, ctx, `has value "${name}" of unknown shape (${shapeLostAt(ctx, name)})`);
}

/** Where shape inference lost `name`'s shape, as a phrase naming the node and op. */
export function shapeLostAt(ctx: Pick<OpRuleContext, "graph" | "shapes">, name: string): string {
  const known = (v: string) => ctx.shapes.shapes.has(v) || ctx.graph.constants.has(v);
  let cur = name;
  const seen = new Set<string>();
  for (;;) {
    const producer = ctx.graph.tensors.get(cur)?.producer;
    if (producer === undefined) return `graph input "${cur}" has no static shape`;
    const upstream = producer.inputs.find((i) => i !== "" && !known(i));
    if (upstream === undefined || seen.has(upstream)) {
      const op = producer.domain === "" ? producer.opType : `${producer.domain}::${producer.opType}`;
      const why =
        producer.domain === "" && SHAPE_RULE_OPS.has(producer.opType)
          ? "whose output shape could not be inferred"
          : "which has no shape rule";
      return `shape inference stops at node "${producer.name}" (op ${op}), ${why}`;
    }
    seen.add(upstream);
    cur = upstream;
  }
}

/** A fixed behaviour for ops that keep channels apart and treat them all alike. */
function elementwise(positivelyHomogeneous: boolean): OpRule {
  return {
    kinds: ["elementwise"],
    classify: (node, ctx) => ({
      kind: "elementwise",
      positivelyHomogeneous,
      dataInputs: dataOnly(node, ctx),
    }),
  };
}

/** Input 0 when it is an activation (other inputs of these ops are scalars such as Clip's min/max). */
function dataOnly(node: GraphNode, ctx: OpRuleContext): number[] {
  const first = inputAt(node, 0);
  return first !== undefined && ctx.channelAxis(first) !== undefined ? [0] : [];
}

const conv: OpRule = {
  kinds: ["linear", "depthwise", "grouped", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const w = inputAt(node, 1);
    if (!isConstant(ctx, w)) return barrier(node, ctx, `has weight "${w ?? ""}" that is not a constant`);
    const wDims = ctx.graph.constants.get(w)!.dims;
    const cin = dimsOf(ctx, x)?.[1];
    const cout = wDims[0]!;
    const group = attrInt(node, "group", 1);
    const b = inputAt(node, 2);
    if (b !== undefined && !isConstant(ctx, b))
      return barrier(node, ctx, `has bias "${b}" that is not a constant`);
    if (group === 1) {
      return {
        kind: "linear",
        positivelyHomogeneous: false,
        weight: { tensor: w, inputAxis: 1, outputAxis: 0, bias: b, outputChannels: cout },
        dataInputs: [0],
      };
    }
    if (cin !== undefined && group === cin && cout === cin) {
      const params: ChannelParam[] = [{ tensor: w, axis: 0, role: "depthwise-weight" }];
      if (b !== undefined) params.push({ tensor: b, axis: 0, role: "depthwise-bias" });
      // Different filters per channel: not the same function on every channel, so not merge-safe.
      return { kind: "depthwise", positivelyHomogeneous: false, params, group, dataInputs: [0] };
    }
    // Grouped (ResNeXt, RegNet) or depthwise with a channel multiplier: output channel o reads only the
    // C_in/G input channels of its block floor(o / (C_out/G)) (ONNX Conv, W [C_out, C_in/G, kH, kW]).
    if (cout % group !== 0 || (cin !== undefined && cin % group !== 0)) {
      return barrier(
        node,
        ctx,
        `has group=${group}, which does not divide its ${cin ?? "?"} -> ${cout} channels`,
      );
    }
    return {
      kind: "grouped",
      positivelyHomogeneous: false,
      weight: { tensor: w, inputAxis: 1, outputAxis: 0, bias: b, outputChannels: cout },
      group,
      dataInputs: [0],
    };
  },
};

const gemm: OpRule = {
  kinds: ["linear", "barrier"],
  classify(node, ctx) {
    const acts = activationInputs(node, ctx);
    const b = inputAt(node, 1);
    if (acts.length !== 1 || acts[0] !== 0 || !isConstant(ctx, b)) {
      return barrier(node, ctx, "multiplies two run-time values; only a constant weight B can be pruned");
    }
    if (attrInt(node, "transA", 0) !== 0)
      return barrier(node, ctx, "has transA=1, which reads channels along axis 0");
    const transB = attrInt(node, "transB", 0) !== 0;
    const bDims = ctx.graph.constants.get(b)!.dims;
    const outAxis = transB ? 0 : 1;
    const n = bDims[outAxis]!;
    const c = inputAt(node, 2);
    let bias: string | undefined;
    if (c !== undefined) {
      const cDims = ctx.graph.constants.get(c)?.dims;
      if (cDims === undefined) return barrier(node, ctx, `has bias C "${c}" that is not a constant`);
      if (cDims[cDims.length - 1] === n && numel(cDims) === n) bias = c;
      else if (numel(cDims) !== 1)
        return barrier(node, ctx, `has bias C "${c}" of shape [${cDims}], expected [${n}]`);
    }
    return {
      kind: "linear",
      positivelyHomogeneous: false,
      weight: { tensor: b, inputAxis: transB ? 1 : 0, outputAxis: outAxis, bias, outputChannels: n },
      dataInputs: [0],
    };
  },
};

const matMul: OpRule = {
  kinds: ["linear", "barrier"],
  classify(node, ctx) {
    const acts = activationInputs(node, ctx);
    const b = inputAt(node, 1);
    if (acts.length !== 1 || acts[0] !== 0 || !isConstant(ctx, b)) {
      return barrier(node, ctx, "multiplies two run-time values; only a constant 2-D weight can be pruned");
    }
    const bDims = ctx.graph.constants.get(b)!.dims;
    if (bDims.length !== 2)
      return barrier(node, ctx, `has a ${bDims.length}-D weight "${b}", expected 2-D [in, out]`);
    const xDims = dimsOf(ctx, inputAt(node, 0));
    if (xDims === undefined) return unknownShape(node, ctx, [inputAt(node, 0)]);
    if (xDims.length < 2) return barrier(node, ctx, "has a 1-D input");
    return {
      kind: "linear",
      positivelyHomogeneous: false,
      weight: { tensor: b, inputAxis: 0, outputAxis: 1, bias: undefined, outputChannels: bDims[1]! },
      dataInputs: [0],
    };
  },
};

const batchNorm: OpRule = {
  kinds: ["channelwise-param", "barrier"],
  classify(node, ctx) {
    const roles: ParamRole[] = ["bn-scale", "bn-bias", "bn-mean", "bn-var"];
    const params: ChannelParam[] = [];
    for (let i = 0; i < 4; i++) {
      const t = inputAt(node, i + 1);
      if (!isConstant(ctx, t))
        return barrier(node, ctx, `has input ${i + 1} "${t ?? ""}" that is not a constant`);
      params.push({ tensor: t, axis: 0, role: roles[i]! });
    }
    if (node.outputs.filter((o) => o !== "").length > 1) {
      return barrier(node, ctx, "is in training mode (more than one output)");
    }
    // The shift β - γμ/σ makes BN not homogeneous; a BN right after the pruned conv is folded into the
    // merge formula instead (docs/methods.md §2.5), see DependencyGroup.members[].follows.
    return { kind: "channelwise-param", positivelyHomogeneous: false, params, dataInputs: [0] };
  },
};

const instanceNorm: OpRule = {
  kinds: ["channelwise-param", "barrier"],
  classify(node, ctx) {
    const s = inputAt(node, 1);
    const b = inputAt(node, 2);
    if (!isConstant(ctx, s) || !isConstant(ctx, b))
      return barrier(node, ctx, "has scale or bias that is not a constant");
    return {
      kind: "channelwise-param",
      positivelyHomogeneous: false,
      params: [
        { tensor: s, axis: 0, role: "scale" },
        { tensor: b, axis: 0, role: "bias" },
      ],
      dataInputs: [0],
    };
  },
};

/**
 * Where a constant operand of a broadcasting op indexes the activation's channels: the axis of the
 * constant aligned (right-aligned broadcasting) with the channel axis, if its size there is > 1.
 * Returns "scalar-like" when it does not vary along channels, "bad" when it cannot be sliced.
 */
function channelAxisOfOperand(
  ctx: OpRuleContext,
  actName: string,
  operand: string,
): { axis: number } | "uniform" | "bad" {
  const actDims = dimsOf(ctx, actName);
  const opDims = dimsOf(ctx, operand);
  const axis = ctx.channelAxis(actName);
  if (actDims === undefined || opDims === undefined || axis === undefined) return "bad";
  if (opDims.length > actDims.length) return "bad";
  const k = axis - (actDims.length - opDims.length);
  // Varying along the batch (or any leading axis before channels) is fine only if it is 1 there.
  for (let i = 0; i < Math.min(k, opDims.length); i++) if (opDims[i] !== 1) return "bad";
  if (k < 0 || opDims[k] === 1) return "uniform";
  if (opDims[k] !== actDims[axis]) return "bad";
  return { axis: k };
}

/** Mul / Add / Sub / Div / Pow / Max / Min / Sum / Mean (broadcasting binary or variadic ops). */
function arithmetic(op: string): OpRule {
  return {
    kinds: ["join", "channelwise-param", "elementwise", "barrier"],
    classify(node, ctx) {
      const acts = activationInputs(node, ctx);
      const outDims = dimsOf(ctx, node.outputs[0]);
      if (acts.length >= 2) {
        // Inputs with a single channel (broadcast, e.g. a spatial attention map) do not tie channels.
        const tied = acts.filter((i) => {
          const name = node.inputs[i]!;
          const d = dimsOf(ctx, name);
          const a = ctx.channelAxis(name);
          if (d === undefined || a === undefined || outDims === undefined) return true;
          return d[a] !== 1 || outDims[a + outDims.length - d.length] === 1;
        });
        return { kind: "join", positivelyHomogeneous: false, dataInputs: tied };
      }
      if (acts.length === 0) return { kind: "elementwise", positivelyHomogeneous: false, dataInputs: [] };
      const actIndex = acts[0]!;
      const act = node.inputs[actIndex]!;
      const others = node.inputs.filter((n, i) => i !== actIndex && n !== "");
      const params: ChannelParam[] = [];
      for (const other of others) {
        const where = channelAxisOfOperand(ctx, act, other);
        if (where === "bad") {
          return barrier(
            node,
            ctx,
            `has operand "${other}" whose shape cannot be matched to the channels of "${act}"`,
          );
        }
        if (where !== "uniform") {
          if (!isConstant(ctx, other)) {
            return barrier(node, ctx, `has a per-channel operand "${other}" computed at run time`);
          }
          const role: ParamRole = op === "Mul" || op === "Div" ? "multiplier" : "addend";
          params.push({ tensor: other, axis: where.axis, role });
        }
      }
      if (params.length > 0) {
        if (op !== "Mul" && op !== "Add" && op !== "Sub" && op !== "Div") {
          return barrier(node, ctx, "applies a per-channel operand prunekit does not slice");
        }
        return { kind: "channelwise-param", positivelyHomogeneous: false, params, dataInputs: [actIndex] };
      }
      // Same scalar for every channel: x*a and x/a are linear, hence positively homogeneous; x+a is not.
      const homogeneous = (op === "Mul" || (op === "Div" && actIndex === 0)) && others.length === 1;
      return { kind: "elementwise", positivelyHomogeneous: homogeneous, dataInputs: [actIndex] };
    },
  };
}

const prelu: OpRule = {
  kinds: ["channelwise-param", "elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const slope = inputAt(node, 1)!;
    const where = channelAxisOfOperand(ctx, x, slope);
    if (where === "bad")
      return barrier(node, ctx, `has slope "${slope}" whose shape does not match the channels`);
    if (where === "uniform") return { kind: "elementwise", positivelyHomogeneous: true, dataInputs: [0] };
    if (!isConstant(ctx, slope))
      return barrier(node, ctx, `has a per-channel slope "${slope}" computed at run time`);
    // Per-channel slopes: a different function per channel (docs/methods.md §2.6 forbids merging across it).
    return {
      kind: "channelwise-param",
      positivelyHomogeneous: false,
      params: [{ tensor: slope, axis: where.axis, role: "slope" }],
      dataInputs: [0],
    };
  },
};

const concat: OpRule = {
  kinds: ["concat", "join"],
  classify(node, ctx) {
    const acts = activationInputs(node, ctx);
    const first = node.inputs[acts[0] ?? 0] ?? "";
    const dims = dimsOf(ctx, first);
    const chAxis = ctx.channelAxis(first);
    if (dims === undefined || chAxis === undefined) return unknownShape(node, ctx, [first]);
    if (acts.length !== node.inputs.length) {
      return barrier(node, ctx, "concatenates run-time values with constants or shape values");
    }
    const raw = attrInt(node, "axis", 0);
    const axis = raw < 0 ? raw + dims.length : raw;
    // Along another axis every input keeps all channels: they are tied like a residual join.
    if (axis !== chAxis) return { kind: "join", positivelyHomogeneous: true, dataInputs: acts };
    return { kind: "concat", positivelyHomogeneous: true, dataInputs: acts };
  },
};

function flattenLike(node: GraphNode, ctx: OpRuleContext, outDims: number[] | undefined): OpBehaviour {
  const x = inputAt(node, 0)!;
  const dims = dimsOf(ctx, x);
  const chAxis = ctx.channelAxis(x);
  if (dims === undefined || outDims === undefined || chAxis === undefined) {
    return unknownShape(node, ctx, [x, node.outputs[0]]);
  }
  if (chAxis !== 1 || dims.length < 2 || outDims[0] !== dims[0]) {
    return barrier(node, ctx, `reshapes [${dims}] to [${outDims}], which moves the channel axis`);
  }
  if (outDims.length >= 2 && outDims[1] === dims[1] && (outDims.length > 2 || dims.length === 2)) {
    // Channels stay on axis 1; only the spatial axes are regrouped.
    return { kind: "elementwise", positivelyHomogeneous: true, dataInputs: [0], outputChannelAxis: 1 };
  }
  if (outDims.length === 2 && outDims[1] === numel(dims.slice(1))) {
    if (dims.length === 2)
      return { kind: "elementwise", positivelyHomogeneous: true, dataInputs: [0], outputChannelAxis: 1 };
    return { kind: "flatten", positivelyHomogeneous: true, blockSize: numel(dims.slice(2)), dataInputs: [0] };
  }
  return barrier(node, ctx, `reshapes [${dims}] to [${outDims}], which splits or merges the channel axis`);
}

const flatten: OpRule = {
  kinds: ["flatten", "elementwise", "barrier"],
  classify(node, ctx) {
    const dims = dimsOf(ctx, inputAt(node, 0));
    const raw = attrInt(node, "axis", 1);
    const axis = dims !== undefined && raw < 0 ? raw + dims.length : raw;
    if (axis !== 1)
      return barrier(node, ctx, `has axis=${raw}; only axis 1 keeps channels apart from the batch`);
    return flattenLike(node, ctx, dimsOf(ctx, node.outputs[0]));
  },
};

const reshape: OpRule = {
  kinds: ["flatten", "elementwise", "barrier"],
  classify(node, ctx) {
    return flattenLike(node, ctx, dimsOf(ctx, node.outputs[0]));
  },
};

/** Squeeze / Unsqueeze: fine while every removed or inserted axis comes after the channel axis. */
const squeezeLike: OpRule = {
  kinds: ["elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const inDims = dimsOf(ctx, x);
    const outDims = dimsOf(ctx, node.outputs[0]);
    const a = ctx.channelAxis(x);
    if (inDims === undefined || outDims === undefined || a === undefined) {
      return unknownShape(node, ctx, [x, node.outputs[0]]);
    }
    if (outDims.length > a && inDims.slice(0, a + 1).every((d, i) => outDims[i] === d)) {
      return { kind: "elementwise", positivelyHomogeneous: true, dataInputs: [0], outputChannelAxis: a };
    }
    return barrier(node, ctx, `changes the axes up to the channel axis ([${inDims}] -> [${outDims}])`);
  },
};

const transpose: OpRule = {
  kinds: ["elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const dims = dimsOf(ctx, x);
    const a = ctx.channelAxis(x);
    if (dims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
    const perm = attrInts(
      node,
      "perm",
      dims.map((_, i) => dims.length - 1 - i),
    );
    if (perm[0] !== 0) return barrier(node, ctx, `has perm [${perm}], which moves the batch axis`);
    // Channels keep an axis of their own, wherever perm puts it (NCHW <-> NHWC around ConvNeXt's
    // LayerNorm and Linear layers): output axis i holds input axis perm[i].
    return {
      kind: "elementwise",
      positivelyHomogeneous: true,
      dataInputs: [0],
      outputChannelAxis: perm.indexOf(a),
    };
  },
};

/**
 * LayerNormalization (opset 17) normalises over the axes from `axis` to the last. Over the channel axis
 * alone (ConvNeXt: NHWC after a Transpose, axis = -1) it ties channels like BN, with its scale and bias
 * sliced; but its mean and variance are taken across the channels, so removing a channel changes every
 * kept one (an approximation, like pruning itself), and it is not per channel for Neuron Merging
 * (positivelyHomogeneous false, docs/methods.md §2.6). Over axes after the channels it is the same
 * function on every channel. Over the channels together with other axes it freezes the group.
 */
const layerNorm: OpRule = {
  kinds: ["channelwise-param", "elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const dims = dimsOf(ctx, x);
    const a = ctx.channelAxis(x);
    if (dims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
    if (
      node.outputs.slice(1).some((o) => o !== "" && (ctx.graph.tensors.get(o)?.consumers.length ?? 0) > 0)
    ) {
      return barrier(node, ctx, "has its Mean or InvStdDev output read, which prunekit does not slice");
    }
    const raw = attrInt(node, "axis", -1);
    const axis = raw < 0 ? raw + dims.length : raw;
    if (axis > a) return { kind: "elementwise", positivelyHomogeneous: false, dataInputs: [0] };
    if (axis < a || a !== dims.length - 1) {
      return barrier(
        node,
        ctx,
        `normalises over axes ${axis}..${dims.length - 1}, which hold the channels (axis ${a}) and other axes; prunekit prunes a LayerNormalization over the channel axis alone`,
      );
    }
    const params: ChannelParam[] = [];
    const inputs: [number, ParamRole][] = [
      [1, "scale"],
      [2, "bias"],
    ];
    for (const [i, role] of inputs) {
      const t = inputAt(node, i);
      if (t === undefined) continue;
      if (!isConstant(ctx, t)) return barrier(node, ctx, `has ${role} "${t}" that is not a constant`);
      const n = numel(ctx.graph.constants.get(t)!.dims);
      if (n === dims[a]) params.push({ tensor: t, axis: ctx.graph.constants.get(t)!.dims.length - 1, role });
      else if (n !== 1)
        return barrier(node, ctx, `has ${role} "${t}" with ${n} entries, expected ${dims[a]}`);
    }
    return { kind: "channelwise-param", positivelyHomogeneous: false, params, dataInputs: [0] };
  },
};

const softmax: OpRule = {
  kinds: ["elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const dims = dimsOf(ctx, x);
    const a = ctx.channelAxis(x);
    if (dims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
    const opset13 = ctx.graph.opsetVersion >= 13;
    const raw = attrInt(node, "axis", opset13 ? -1 : 1);
    const axis = raw < 0 ? raw + dims.length : raw;
    // Before opset 13 the input is coerced to 2-D at `axis`: every axis from there on is normalised together.
    const mixes = opset13 ? axis === a : axis <= a;
    if (mixes) return barrier(node, ctx, "normalises over the channel axis, which mixes channels");
    return { kind: "elementwise", positivelyHomogeneous: false, dataInputs: [0] };
  },
};

const pad: OpRule = {
  kinds: ["elementwise", "barrier"],
  classify(node, ctx) {
    const x = inputAt(node, 0)!;
    const inDims = dimsOf(ctx, x);
    const outDims = dimsOf(ctx, node.outputs[0]);
    const a = ctx.channelAxis(x);
    if (inDims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
    if (outDims === undefined) return barrier(node, ctx, "has pads that are not constant");
    if (inDims[a] !== outDims[a] || inDims[0] !== outDims[0]) {
      return barrier(node, ctx, "pads the channel (or batch) axis");
    }
    const mode = attrString(node, "mode", "constant");
    if (mode !== "constant") {
      // reflect / edge / wrap copy input values: the same positively homogeneous map on every channel.
      return { kind: "elementwise", positivelyHomogeneous: true, dataInputs: [0] };
    }
    let value = 0;
    if (ctx.graph.opsetVersion >= 11) {
      const v = inputAt(node, 2);
      if (v !== undefined) {
        const t = ctx.graph.constants.get(v);
        const vals = t === undefined ? undefined : readSmallFloats(t);
        value = vals?.[0] ?? Number.NaN;
      }
    } else value = attrFloat(node, "value", 0);
    return { kind: "elementwise", positivelyHomogeneous: value === 0, dataInputs: [0] };
  },
};

/** Reductions: fine when every reduced axis comes after the channel axis. */
function reduction(positivelyHomogeneous: boolean): OpRule {
  return {
    kinds: ["elementwise", "barrier"],
    classify(node, ctx) {
      const x = inputAt(node, 0)!;
      const inDims = dimsOf(ctx, x);
      const outDims = dimsOf(ctx, node.outputs[0]);
      const a = ctx.channelAxis(x);
      if (inDims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
      if (outDims === undefined) return barrier(node, ctx, "has reduction axes that are not constant");
      if (outDims.length > a && inDims.slice(0, a + 1).every((d, i) => outDims[i] === d)) {
        return { kind: "elementwise", positivelyHomogeneous, dataInputs: [0], outputChannelAxis: a };
      }
      return barrier(node, ctx, "reduces over the channel (or batch) axis");
    },
  };
}

/** Ops that keep the channel axis unless their output changes its size (Slice, Split, Resize, Expand). */
function keepsChannelsIfSized(positivelyHomogeneous: boolean): OpRule {
  return {
    kinds: ["elementwise", "barrier"],
    classify(node, ctx) {
      const x = inputAt(node, 0)!;
      const inDims = dimsOf(ctx, x);
      const a = ctx.channelAxis(x);
      if (inDims === undefined || a === undefined) return unknownShape(node, ctx, [x]);
      for (const out of node.outputs) {
        if (out === "") continue;
        const d = dimsOf(ctx, out);
        if (d === undefined) return unknownShape(node, ctx, [out]);
        if (d.length !== inDims.length || d[a] !== inDims[a] || d[0] !== inDims[0]) {
          return barrier(node, ctx, "changes the channel (or batch) axis");
        }
      }
      return { kind: "elementwise", positivelyHomogeneous, dataInputs: [0] };
    },
  };
}

const shapeOnly: OpRule = {
  kinds: ["shape-only"],
  classify: () => ({ kind: "shape-only", positivelyHomogeneous: true, dataInputs: [] }),
};

const transposedConv: OpRule = {
  kinds: ["transposed"],
  classify: (node) => ({
    kind: "transposed",
    positivelyHomogeneous: false,
    reason: `node "${node.name}" (op ConvTranspose) is not supported for pruning (its weight is [C_in, C_out/group, kH, kW])`,
    dataInputs: [0],
  }),
};

const mixesChannels = (why: string): OpRule => ({
  kinds: ["barrier"],
  classify: (node, ctx) => barrier(node, ctx, why),
});

/**
 * The op table (default ONNX domain). Keys are op_type; ops in other domains are never looked up.
 * Positive homogeneity per docs/methods.md §2.6: ReLU, LeakyReLU (one shared slope), max/avg/global
 * pools, Dropout, Identity, Flatten/Reshape and zero Pad are; Clip/ReLU6, Sigmoid, HardSwish,
 * HardSigmoid, Softmax and BN (shift) are not.
 */
export const OP_RULES: Readonly<Record<string, OpRule>> = {
  Conv: conv,
  ConvTranspose: transposedConv,
  Gemm: gemm,
  MatMul: matMul,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  PRelu: prelu,
  Mul: arithmetic("Mul"),
  Add: arithmetic("Add"),
  Sub: arithmetic("Sub"),
  Div: arithmetic("Div"),
  Pow: arithmetic("Pow"),
  Max: arithmetic("Max"),
  Min: arithmetic("Min"),
  Sum: arithmetic("Sum"),
  Mean: arithmetic("Mean"),
  Relu: elementwise(true),
  LeakyRelu: elementwise(true),
  Dropout: elementwise(true),
  Identity: elementwise(true),
  MaxPool: elementwise(true),
  AveragePool: elementwise(true),
  LpPool: elementwise(true),
  GlobalAveragePool: elementwise(true),
  GlobalMaxPool: elementwise(true),
  GlobalLpPool: elementwise(true),
  Neg: elementwise(true),
  Abs: elementwise(true),
  Cast: elementwise(true),
  Clip: elementwise(false),
  Sigmoid: elementwise(false),
  HardSigmoid: elementwise(false),
  HardSwish: elementwise(false),
  Tanh: elementwise(false),
  Elu: elementwise(false),
  Selu: elementwise(false),
  Celu: elementwise(false),
  Softplus: elementwise(false),
  Softsign: elementwise(false),
  Mish: elementwise(false),
  Gelu: elementwise(false),
  Erf: elementwise(false),
  Exp: elementwise(false),
  Log: elementwise(false),
  Sqrt: elementwise(false),
  Reciprocal: elementwise(false),
  Softmax: softmax,
  LogSoftmax: softmax,
  Hardmax: softmax,
  Pad: pad,
  Concat: concat,
  Flatten: flatten,
  Reshape: reshape,
  Squeeze: squeezeLike,
  Unsqueeze: squeezeLike,
  Transpose: transpose,
  ReduceMean: reduction(true),
  ReduceMax: reduction(true),
  ReduceSum: reduction(true),
  ReduceL2: reduction(true),
  ReduceMin: reduction(true),
  Slice: keepsChannelsIfSized(true),
  Split: keepsChannelsIfSized(true),
  Resize: keepsChannelsIfSized(true),
  Upsample: keepsChannelsIfSized(true),
  Expand: keepsChannelsIfSized(true),
  Shape: shapeOnly,
  Size: shapeOnly,
  Constant: shapeOnly,
  LayerNormalization: layerNorm,
  LRN: mixesChannels("normalises across neighbouring channels"),
  GroupNormalization: mixesChannels(
    "normalises over groups of channels (mean and variance across each group), which prunekit does not prune",
  ),
  Gather: mixesChannels("indexes a run-time tensor; prunekit cannot tell which channels it keeps"),
};

/**
 * Classify a node with the op table. Ops missing from the table, and every op of a non-default
 * domain, are `unknown`, with a reason naming the node and the op.
 * @param node The node.
 * @param ctx Graph, shapes and channel axes of activations.
 * @returns Its channel behaviour.
 */
export function classifyNode(node: GraphNode, ctx: OpRuleContext): OpBehaviour {
  const rule = opTableEntry(OP_RULES, node);
  if (rule === undefined) {
    const op = node.domain === "" ? node.opType : `${node.domain}::${node.opType}`;
    return {
      kind: "unknown",
      positivelyHomogeneous: false,
      reason: `node "${node.name}" (op ${op}) is not in the op table`,
      dataInputs: activationInputs(node, ctx),
    };
  }
  return rule.classify(node, ctx);
}
