// The graph IR: an indexed, read-only view of an ONNX GraphProto. It never copies tensors or nodes;
// `proto` fields point into the ModelProto it was built from, so encoding the model after surgery keeps
// everything prunekit did not touch byte-for-byte.
import { PrunekitError } from "../errors.ts";
import { MinHeap } from "../onnx/min-heap.ts";
import {
  type AttributeProto,
  AttributeType,
  DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../onnx/proto-types.ts";
import type { ExternalTensorData } from "../onnx/tensor.ts";

/** One ONNX node with its stable name and indexed attributes. */
export interface GraphNode {
  /** Position in `GraphProto.node` (the file's order). */
  index: number;
  /**
   * Stable, unique name: the node's own name, or `${opType}_${index}` when the file leaves it empty
   * (or repeats a name). Groups, plans and errors refer to nodes by this name.
   */
  name: string;
  /** The name as stored in the file ("" when unnamed); encoding keeps this one. */
  originalName: string;
  /** ONNX op_type, e.g. "Conv". */
  opType: string;
  /** Operator domain; "" for the default ONNX domain (also when the file says "ai.onnx"). */
  domain: string;
  /** Input value names in order; "" marks an omitted optional input. */
  inputs: string[];
  /** Output value names in order; "" marks an omitted optional output. */
  outputs: string[];
  /** Attributes by name. Read them with {@link attrInt} and friends. */
  attributes: Map<string, AttributeProto>;
  /** The decoded node itself. */
  proto: NodeProto;
}

/** Where a value comes from and who reads it. */
export interface TensorRef {
  /** Value name. */
  name: string;
  /** The node that outputs it; undefined for graph inputs and initializers. */
  producer: GraphNode | undefined;
  /** Nodes that read it, in file order (a node reading it twice appears once). */
  consumers: GraphNode[];
  /** True if it is one of the graph's outputs. */
  isGraphOutput: boolean;
  /** True if it is a graph input that is not an initializer (a real model input). */
  isGraphInput: boolean;
}

/** An indexed ONNX graph. Build it with {@link buildGraph}. */
export interface Graph {
  /** The model it was built from (not copied). */
  model: ModelProto;
  /** `model.graph`. */
  proto: GraphProto;
  /** Nodes in file order. */
  nodes: GraphNode[];
  /** Nodes in a topological order (file order where the file is already sorted). */
  order: GraphNode[];
  /** Nodes by stable name. */
  nodeByName: Map<string, GraphNode>;
  /** Every value: graph inputs, initializers and node outputs. */
  tensors: Map<string, TensorRef>;
  /** Initializers by name. */
  initializers: Map<string, TensorProto>;
  /**
   * Every value known before running the model: initializers, the outputs of Constant nodes
   * (converted to a TensorProto; `value_float`/`value_ints`/... forms become FLOAT/INT64 tensors) and
   * the outputs of Identity nodes reading a constant (the same TensorProto, whose `name` is the source's).
   */
  constants: Map<string, TensorProto>;
  /** Real model inputs (graph inputs that are not initializers), in order. */
  inputs: ValueInfoProto[];
  /** Graph outputs, in order. */
  outputs: ValueInfoProto[];
  /** Graph value_info entries by name (shape hints some exporters add). */
  valueInfo: Map<string, ValueInfoProto>;
  /** Opset version of the default ONNX domain (1 when the model does not import it). */
  opsetVersion: number;
  /**
   * Bytes of the tensors the model stores outside its file (onnx/load.ts loadOnnx), keyed by their
   * TensorProto: the one source every reader of tensor values uses (methods, surgery, the engine).
   * Empty when the model is self-contained.
   */
  externalData: ExternalTensorData;
}

function isDefaultDomain(domain: string | undefined): boolean {
  return domain === undefined || domain === "" || domain === "ai.onnx";
}

/**
 * Index an ONNX model: stable node names, producers and consumers of every value, constants and a
 * topological order.
 * @param model A decoded ModelProto (src/onnx/decode.ts); it is referenced, not copied.
 * @param externalData bytes of its external tensors (onnx/load.ts loadOnnx); empty by default.
 * @returns The graph.
 * @throws PrunekitError `ONNX_INVALID` when the model has no graph, a node reads a value nobody
 *   produces, two nodes produce the same value, or the nodes form a cycle.
 * @example
 * const graph = buildGraph(decodeModel(bytes));
 * for (const node of graph.order) if (node.opType === "Conv") attrInt(node, "group", 1);
 */
export function buildGraph(model: ModelProto, externalData: ExternalTensorData = new Map()): Graph {
  const proto = model.graph;
  if (proto === undefined)
    throw new PrunekitError("ONNX_INVALID", "model has no graph; expected model.graph");
  let opsetVersion = 1;
  for (const o of model.opsetImport) {
    if (isDefaultDomain(o.domain) && o.version !== undefined) opsetVersion = o.version;
  }

  const initializers = new Map<string, TensorProto>();
  for (const t of proto.initializer) initializers.set(t.name ?? "", t);
  const tensors = new Map<string, TensorRef>();
  const outputNames = new Set(proto.output.map((o) => o.name ?? ""));
  const ref = (name: string): TensorRef => {
    let r = tensors.get(name);
    if (r === undefined) {
      r = {
        name,
        producer: undefined,
        consumers: [],
        isGraphOutput: outputNames.has(name),
        isGraphInput: false,
      };
      tensors.set(name, r);
    }
    return r;
  };
  const inputs: ValueInfoProto[] = [];
  for (const vi of proto.input) {
    const name = vi.name ?? "";
    if (initializers.has(name)) continue;
    inputs.push(vi);
    ref(name).isGraphInput = true;
  }
  for (const name of initializers.keys()) ref(name);

  const nodes: GraphNode[] = [];
  const nodeByName = new Map<string, GraphNode>();
  const usedNames = new Set<string>();
  for (const p of proto.node) if (p.name) usedNames.add(p.name);
  const seenNames = new Set<string>();
  proto.node.forEach((p, index) => {
    const opType = p.opType ?? "";
    const originalName = p.name ?? "";
    let name = originalName;
    if (name === "" || seenNames.has(name)) {
      name = `${opType || "node"}_${index}`;
      while (usedNames.has(name) || seenNames.has(name)) name = `${name}_`;
    }
    seenNames.add(name);
    const attributes = new Map<string, AttributeProto>();
    for (const a of p.attribute) attributes.set(a.name ?? "", a);
    const node: GraphNode = {
      index,
      name,
      originalName,
      opType,
      domain: isDefaultDomain(p.domain) ? "" : (p.domain ?? ""),
      inputs: p.input.slice(),
      outputs: p.output.slice(),
      attributes,
      proto: p,
    };
    nodes.push(node);
    nodeByName.set(name, node);
  });

  for (const node of nodes) {
    for (const out of node.outputs) {
      if (out === "") continue;
      const r = ref(out);
      if (r.producer !== undefined || initializers.has(out) || r.isGraphInput) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `node "${node.name}" (op ${node.opType}) outputs "${out}", which is already ${
            r.producer ? `an output of node "${r.producer.name}"` : "a graph input or initializer"
          }; expected every value to have one source`,
          { node: node.name, tensor: out },
        );
      }
      r.producer = node;
    }
  }
  for (const node of nodes) {
    for (const inp of new Set(node.inputs)) {
      if (inp === "") continue;
      const r = tensors.get(inp);
      if (r === undefined) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `node "${node.name}" (op ${node.opType}) reads "${inp}", which is not a graph input, an initializer or a node output`,
          { node: node.name, tensor: inp },
        );
      }
      r.consumers.push(node);
    }
  }
  for (const name of outputNames) {
    if (!tensors.has(name)) {
      throw new PrunekitError("ONNX_INVALID", `graph output "${name}" is not produced by any node or input`, {
        tensor: name,
      });
    }
  }

  const order = topologicalOrder(nodes, tensors);
  const constants = new Map<string, TensorProto>(initializers);
  for (const node of order) {
    if (node.domain !== "" || !node.outputs[0]) continue;
    if (node.opType === "Constant") {
      const t = constantNodeValue(node);
      if (t !== undefined) constants.set(node.outputs[0], t);
    } else if (node.opType === "Identity") {
      // PyTorch's export dedups equal initializers (zero-initialised biases, say) into one, read by
      // Identity nodes: the Identity output is that constant. The TensorProto is shared, not copied
      // (its name is the source's); surgery gives an edited one its own initializer.
      const t = node.inputs[0] ? constants.get(node.inputs[0]) : undefined;
      if (t !== undefined) constants.set(node.outputs[0], t);
    }
  }
  const valueInfo = new Map<string, ValueInfoProto>();
  for (const vi of proto.valueInfo) valueInfo.set(vi.name ?? "", vi);

  return {
    model,
    proto,
    nodes,
    order,
    nodeByName,
    tensors,
    initializers,
    constants,
    inputs,
    outputs: proto.output.slice(),
    valueInfo,
    opsetVersion,
    externalData,
  };
}

/** Kahn's algorithm, always taking the ready node that comes first in the file (stable). */
function topologicalOrder(nodes: GraphNode[], tensors: Map<string, TensorRef>): GraphNode[] {
  const pending = new Map<GraphNode, number>();
  const ready: number[] = [];
  for (const node of nodes) {
    let n = 0;
    for (const inp of new Set(node.inputs)) {
      if (inp !== "" && tensors.get(inp)?.producer !== undefined) n++;
    }
    pending.set(node, n);
    if (n === 0) ready.push(node.index);
  }
  const order: GraphNode[] = [];
  // Smallest ready index first (the file's order when it is topological), in O(n log n).
  const heap = new MinHeap();
  for (const i of ready) heap.push(i);
  while (heap.size > 0) {
    const node = nodes[heap.pop()]!;
    order.push(node);
    for (const out of node.outputs) {
      if (out === "") continue;
      for (const c of tensors.get(out)!.consumers) {
        // A consumer reading two outputs of this node counted them as two dependencies.
        const left = pending.get(c)! - 1;
        pending.set(c, left);
        if (left === 0) heap.push(c.index);
      }
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((n) => pending.get(n)! > 0)!;
    throw new PrunekitError(
      "ONNX_INVALID",
      `the graph has a cycle through node "${stuck.name}" (op ${stuck.opType}); expected a DAG`,
      { node: stuck.name },
    );
  }
  return order;
}

/** The value of a Constant node as a TensorProto (undefined for sparse or string forms prunekit ignores). */
function constantNodeValue(node: GraphNode): TensorProto | undefined {
  const empty = (): TensorProto => ({
    dims: [],
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    externalData: [],
    doubleData: [],
    uint64Data: [],
  });
  for (const a of node.attributes.values()) {
    switch (a.name) {
      case "value":
        return a.t;
      case "value_float":
        return { ...empty(), dataType: DataType.FLOAT, floatData: [a.f ?? 0] };
      case "value_floats":
        return { ...empty(), dataType: DataType.FLOAT, dims: [a.floats.length], floatData: a.floats.slice() };
      case "value_int":
        return { ...empty(), dataType: DataType.INT64, int64Data: [a.i ?? 0] };
      case "value_ints":
        return { ...empty(), dataType: DataType.INT64, dims: [a.ints.length], int64Data: a.ints.slice() };
    }
  }
  return undefined;
}

function attrOfType(node: GraphNode, name: string, type: number, what: string): AttributeProto | undefined {
  const a = node.attributes.get(name);
  if (a === undefined) return undefined;
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED && a.type !== type) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${node.opType} "${node.name}": attribute "${name}" has type ${a.type}, expected ${what}`,
      { node: node.name },
    );
  }
  return a;
}

/**
 * An INT attribute, or `fallback` when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrInt(node: GraphNode, name: string, fallback: number): number {
  return attrOfType(node, name, AttributeType.INT, "INT")?.i ?? fallback;
}

/**
 * An INTS attribute, or `fallback` when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrInts(node: GraphNode, name: string, fallback: number[]): number[];
export function attrInts(node: GraphNode, name: string): number[] | undefined;
export function attrInts(node: GraphNode, name: string, fallback?: number[]): number[] | undefined {
  const a = attrOfType(node, name, AttributeType.INTS, "INTS");
  return a === undefined ? fallback : a.ints;
}

/**
 * A FLOAT attribute, or `fallback` when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrFloat(node: GraphNode, name: string, fallback: number): number {
  return attrOfType(node, name, AttributeType.FLOAT, "FLOAT")?.f ?? fallback;
}

/**
 * A FLOATS attribute, or undefined when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrFloats(node: GraphNode, name: string): number[] | undefined {
  return attrOfType(node, name, AttributeType.FLOATS, "FLOATS")?.floats;
}

/**
 * A STRING attribute decoded as UTF-8, or `fallback` when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrString(node: GraphNode, name: string, fallback: string): string {
  const s = attrOfType(node, name, AttributeType.STRING, "STRING")?.s;
  return s === undefined ? fallback : new TextDecoder().decode(s);
}

/**
 * A TENSOR attribute, or undefined when absent.
 * @throws PrunekitError `ONNX_INVALID` when the attribute exists with another type.
 */
export function attrTensor(node: GraphNode, name: string): TensorProto | undefined {
  return attrOfType(node, name, AttributeType.TENSOR, "TENSOR")?.t;
}

/** The i-th input name of a node, or undefined when absent or omitted (""). */
export function inputAt(node: GraphNode, i: number): string | undefined {
  const name = node.inputs[i];
  return name === undefined || name === "" ? undefined : name;
}

/** Number of elements of a tensor with these dims (1 for a scalar). */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * The entry of a per-op table (keyed by ONNX op_type) for a node of the default domain; undefined for
 * other domains and for op types the table does not own (so `toString` or `constructor` never reach
 * Object.prototype).
 */
export function opTableEntry<T>(table: Readonly<Record<string, T>>, node: GraphNode): T | undefined {
  return node.domain === "" && Object.hasOwn(table, node.opType) ? table[node.opType] : undefined;
}
