// Writing a model: replace tensors keeping their metadata, rewrite the nodes whose attributes follow
// them, resize value_info, and the values patch (new data for named tensors, e.g. fine-tuned weights or
// Gate Decorator's gates folded into BatchNorm). The input model is never modified; untouched messages
// are shared with it.
import { PrunekitError } from "../errors.ts";
import type { Graph, GraphNode } from "../graph/ir.ts";
import {
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../onnx/proto-types.ts";
import { makeFloat32Tensor } from "../onnx/tensor.ts";

/** New contents of one float32 tensor, row-major. */
export interface TensorValue {
  /** The values; their count must be the product of `dims`. */
  data: Float32Array;
  /** The new shape; default: the tensor's current shape. */
  dims?: number[];
}

/** New values by tensor name (initializers, Constant node outputs, Identity copies of constants). */
export type TensorValues = ReadonlyMap<string, TensorValue>;

/**
 * Replace the data of named float32 tensors, shape unchanged or changed. Metadata (name, doc string)
 * is kept; a Constant node's value is replaced in place; an Identity copy of a shared constant gets an
 * initializer of its own, so the other readers keep the old values; a graph input listing a replaced
 * initializer gets its new shape.
 *
 * @param graph the model to patch (not modified).
 * @param values new data by tensor name.
 * @returns a new ModelProto.
 * @throws PrunekitError `INVALID_ARGUMENT` for an unknown or non-constant name, a tensor that is not
 *   float32, a length that does not match the shape, a bad shape or a non-finite value;
 *   `ONNX_UNSUPPORTED` for a Constant node storing its value in another attribute form.
 * @example
 * const patched = patchValues(graph, new Map([["fc.bias", { data: Float32Array.of(0, 1) }]]));
 */
export function patchValues(graph: Graph, values: TensorValues): ModelProto {
  const replaced = new Map<string, TensorProto>();
  for (const [name, value] of values) {
    const original = graph.constants.get(name);
    if (original === undefined) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `values patch: "${name}" is not a constant tensor of the model (initializer or Constant output)`,
        { tensor: name },
      );
    }
    if (original.dataType !== DataType.FLOAT) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `values patch: "${name}" has data type ${original.dataType}; only float32 tensors can be patched`,
        { tensor: name },
      );
    }
    const dims = value.dims ?? original.dims.map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `values patch: "${name}" gets shape [${dims.join(", ")}]; dims must be non-negative integers`,
        { tensor: name },
      );
    }
    const count = dims.reduce((a, b) => a * b, 1);
    if (value.data.length !== count) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `values patch: "${name}" gets ${value.data.length} values, but shape [${dims.join(", ")}] holds ${count}`,
        { tensor: name },
      );
    }
    for (let i = 0; i < value.data.length; i++) {
      if (!Number.isFinite(value.data[i]!)) {
        throw new PrunekitError(
          "INVALID_ARGUMENT",
          `values patch: "${name}" value ${i} is ${value.data[i]}; a model's tensors must be finite`,
          { tensor: name },
        );
      }
    }
    replaced.set(name, makeFloat32Tensor(name, dims, value.data));
  }
  return rewriteModel(graph, replaced, new Set(), new Map());
}

/**
 * The model with `replaced` tensors in place of the originals (initializers, Constant nodes, Identity
 * copies of constants), `depthwise` convs' `group` attribute following their new weight, and value_info
 * (and graph inputs) resized: to the new dims of a replaced tensor, or by `valueDelta` (removed entries
 * per value name and axis) for activations.
 */
export function rewriteModel(
  graph: Graph,
  replaced: Map<string, TensorProto>,
  depthwise: Set<NodeProto>,
  valueDelta: Map<string, Map<number, number>>,
): ModelProto {
  const g = graph.proto;
  const initializer = g.initializer.map((t) => withMeta(replaced.get(t.name ?? ""), t) ?? t);
  const dropped = unshareIdentityConstants(graph, replaced, initializer);
  const newDims = new Map<string, number[]>();
  for (const [name, t] of replaced) newDims.set(name, t.dims);
  const node = g.node.filter((n) => !dropped.has(n)).map((n) => rewriteNode(n, replaced, depthwise));
  const input = g.input.map((v) => resizeValueInfo(v, newDims, valueDelta));
  const valueInfo = g.valueInfo.map((v) => resizeValueInfo(v, newDims, valueDelta));
  return { ...graph.model, graph: { ...g, node, initializer, input, valueInfo } };
}

/**
 * PyTorch's export stores equal initializers once and hands the copies out through Identity nodes
 * (squeezenet's and efficientnet's zero biases): an edited constant may be such an Identity output, or
 * the source of Identity outputs that other layers read unedited. Each of those Identity nodes becomes an
 * initializer of the same name, holding the edited values or the original ones, so an edit never leaks
 * into another layer. Appends to `initializer` and returns the Identity nodes to drop.
 */
function unshareIdentityConstants(
  graph: Graph,
  replaced: Map<string, TensorProto>,
  initializer: TensorProto[],
): Set<NodeProto> {
  const dropped = new Set<NodeProto>();
  const isConstantIdentity = (n: GraphNode | undefined): n is GraphNode =>
    n !== undefined && n.opType === "Identity" && n.domain === "" && graph.constants.has(n.outputs[0] ?? "");
  for (const [name, t] of replaced) {
    const producer = graph.tensors.get(name)?.producer;
    if (!isConstantIdentity(producer)) continue;
    dropped.add(producer.proto);
    initializer.push({ ...t, name });
  }
  for (const name of replaced.keys()) {
    for (const reader of graph.tensors.get(name)?.consumers ?? []) {
      const out = reader.outputs[0]!;
      if (!isConstantIdentity(reader) || replaced.has(out) || dropped.has(reader.proto)) continue;
      dropped.add(reader.proto);
      const original = graph.constants.get(out)!;
      const { dataLocation: _location, ...rest } = original;
      const bytes = graph.externalData.get(original);
      initializer.push(
        bytes === undefined
          ? { ...rest, name: out }
          : { ...rest, name: out, externalData: [], rawData: bytes },
      );
    }
  }
  return dropped;
}

/** Keep name, doc string and other metadata of the original tensor on its replacement. */
function withMeta(next: TensorProto | undefined, original: TensorProto): TensorProto | undefined {
  if (next === undefined) return undefined;
  const out: TensorProto = { ...next };
  if (original.docString !== undefined) out.docString = original.docString;
  return out;
}

/** Clone a node whose Constant value or depthwise group count changes. */
function rewriteNode(n: NodeProto, replaced: Map<string, TensorProto>, depthwise: Set<NodeProto>): NodeProto {
  if (n.opType === "Constant") {
    const out = n.output[0];
    const next = out === undefined ? undefined : replaced.get(out);
    if (next === undefined) return n;
    const attribute = n.attribute.map((a) => {
      if (a.name !== "value") {
        throw new PrunekitError(
          "ONNX_UNSUPPORTED",
          `Constant "${n.name ?? out}": its value is stored as "${a.name}", which prunekit cannot slice; store it as a tensor`,
          { node: n.name },
        );
      }
      return { ...a, t: { ...next, name: a.t?.name ?? "" } };
    });
    return { ...n, attribute };
  }
  if (depthwise.has(n)) {
    // A depthwise conv (group = channels) keeps one group per channel; a grouped conv keeps its G.
    const weight = n.input[1];
    const next = weight === undefined ? undefined : replaced.get(weight);
    const groupAttr = n.attribute.find((a) => a.name === "group");
    if (next === undefined || groupAttr === undefined) return n;
    const newOut = next.dims[0] ?? 0;
    const attribute = n.attribute.map((a) =>
      a === groupAttr ? { ...a, type: AttributeType.INT, i: newOut } : a,
    );
    return { ...n, attribute };
  }
  return n;
}

/** Update a value_info (or initializer-listing graph input) whose tensor changed shape. */
function resizeValueInfo(
  v: ValueInfoProto,
  newDims: Map<string, number[]>,
  deltas: Map<string, Map<number, number>>,
): ValueInfoProto {
  const name = v.name ?? "";
  const shape = v.type?.tensorType?.shape;
  if (shape === undefined) return v;
  const dims = newDims.get(name);
  const delta = deltas.get(name);
  if (dims === undefined && delta === undefined) return v;
  const dim = shape.dim.map((d, i) => {
    if (dims !== undefined) return dims[i] === undefined ? d : { ...d, dimValue: dims[i] };
    const minus = delta?.get(i);
    if (minus === undefined || d.dimValue === undefined) return d;
    return { ...d, dimValue: d.dimValue - minus };
  });
  return { ...v, type: { ...v.type, tensorType: { ...v.type!.tensorType, shape: { ...shape, dim } } } };
}
