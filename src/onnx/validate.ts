// Validation of untrusted models: everything later code relies on is checked here once, so inner
// code (graph/, methods/, surgery) can trust dims, data lengths and graph structure.
import { PrunekitError, quoteName } from "../errors.ts";
import { externalDataRef, usesExternalData } from "./external-data.ts";
import { MinHeap } from "./min-heap.ts";
import {
  type AttributeProto,
  DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type SparseTensorProto,
  type TensorProto,
} from "./proto-types.ts";
import { dataTypeName, isKnownDataType, rawDataByteLength, tensorLabel } from "./tensor.ts";
import { validateOps } from "./validate-ops.ts";

/** Limits for {@link validateModel}. */
export interface ValidateOptions {
  /** Largest element count of one tensor (default 2^31). */
  maxTensorElements?: number;
  /** Largest total of all tensors' data, in bytes, external data included (default: no cap of its own; see maxMemory). */
  maxTotalTensorBytes?: number;
  /**
   * Memory, in bytes, that working on the model may take (default {@link DEFAULT_MAX_MEMORY}, 18 GiB):
   * a model whose tensors, external data included, hold more than maxMemory / {@link PEAK_MEMORY_FACTOR}
   * bytes is refused before any external data is read.
   */
  maxMemory?: number;
}

/** What validation found out, for the graph layer. */
export interface ValidatedModel {
  /** Indices into model.graph.node in a topological order (the file's order when it is one). */
  nodeOrder: number[];
}

/** Default of {@link ValidateOptions.maxTensorElements}. */
export const DEFAULT_MAX_TENSOR_ELEMENTS: number = 2 ** 31;
/**
 * Peak resident memory of a prune as a multiple of the model's tensor bytes, measured with
 * bench/prune-memory.ts on a 1 GiB external weight: 2.1x for l1 and 2.8x for merge at ratio 0.5 (the
 * input's bytes, the pruned tensors, the encoded output; merge also its own copy of the layer).
 */
export const PEAK_MEMORY_FACTOR = 3;

/**
 * Default of {@link ValidateOptions.maxMemory}: 18 GiB, which fits a 24 GB machine with room for the
 * system, so models with up to 6 GiB of tensors are accepted.
 */
export const DEFAULT_MAX_MEMORY: number = 18 * 2 ** 30;

/**
 * Check a decoded model before trusting it.
 *
 * Model: a graph and at least one opset_import.
 * Tensors (initializers, sparse initializers, node attributes, subgraphs, training graphs,
 * functions): known data type; dims non-negative with at most `maxTensorElements` elements;
 * raw_data, or the typed field (float_data, int32_data, int64_data, ...), holds exactly
 * dims × element size; external references stay inside the model's folder; the total stays within
 * `maxTotalTensorBytes`. Main graph: every node has an op_type; node output names are unique and
 * distinct from graph inputs and initializers; every node input (except "" for an omitted optional
 * input) and every graph output is produced by a node, a graph input or an initializer; the nodes
 * form no cycle.
 *
 * @param model a decoded model.
 * @param options limits.
 * @returns the nodes' topological order.
 * @throws PrunekitError `ONNX_INVALID` (inconsistent model), `ONNX_UNSUPPORTED` (unknown data type,
 *   segmented tensor) or `EXTERNAL_DATA` (unsafe external location), naming the node or tensor.
 * @example
 * const { nodeOrder } = validateModel(decodeModel(bytes));
 */
export function validateModel(model: ModelProto, options: ValidateOptions = {}): ValidatedModel {
  const limits = {
    maxTensorElements: options.maxTensorElements ?? DEFAULT_MAX_TENSOR_ELEMENTS,
    maxTotalTensorBytes: options.maxTotalTensorBytes ?? Number.POSITIVE_INFINITY,
    maxMemory: options.maxMemory ?? DEFAULT_MAX_MEMORY,
  };
  if (!(limits.maxMemory > 0)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `maxMemory must be a positive number of bytes, got ${limits.maxMemory}`,
    );
  }
  const graph = model.graph;
  if (graph === undefined) {
    throw new PrunekitError(
      "ONNX_INVALID",
      "model has no graph; an ONNX model needs ModelProto.graph (is the file truncated?)",
    );
  }
  if (model.opsetImport.length === 0) {
    throw new PrunekitError(
      "ONNX_INVALID",
      "model has no opset_import; ONNX models must name their operator set versions (is the file truncated?)",
    );
  }
  let totalBytes = 0;
  forEachTensor(model, (t) => {
    totalBytes += checkTensor(t, limits.maxTensorElements);
    if (totalBytes > limits.maxTotalTensorBytes) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `tensors hold more than ${limits.maxTotalTensorBytes} bytes in total (reached at ${tensorLabel(t)}); raise maxTotalTensorBytes if the model is trusted`,
        { tensor: t.name },
      );
    }
  });
  if (totalBytes * PEAK_MEMORY_FACTOR > limits.maxMemory) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `the model's tensors hold ${formatBytes(totalBytes)}; working on it needs about ${PEAK_MEMORY_FACTOR}x that (${formatBytes(totalBytes * PEAK_MEMORY_FACTOR)}), above the memory limit of ${formatBytes(limits.maxMemory)}; raise it with --max-memory (API: maxMemory) if the machine has the memory`,
    );
  }
  forEachSparseTensor(model, (s) =>
    checkDims(s.dims, `sparse tensor ${quoteName(s.values?.name)}`, limits.maxTensorElements, s.values?.name),
  );
  const nodeOrder = checkGraph(graph);
  validateOps(graph, nodeLabel);
  return { nodeOrder };
}

/** `5368709120 bytes (5.0 GiB)`. */
function formatBytes(bytes: number): string {
  const gib = bytes / 2 ** 30;
  const human = gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(bytes)} bytes (${human})`;
}

/** Human label of a node: `Conv "stem.conv"`, or `Conv node #3` when it has no name. */
export function nodeLabel(node: NodeProto, index: number): string {
  const op = node.opType === undefined || node.opType === "" ? "(no op_type)" : node.opType;
  return node.name === undefined || node.name === ""
    ? `${op} node #${index}`
    : `${op} ${quoteName(node.name)}`;
}

/**
 * Call `fn` on every dense tensor of the model, where tensors can be: graph initializers, sparse
 * tensors' values and indices, node attributes (t, tensors, sparse ones), subgraphs at any depth,
 * training_info graphs and functions.
 */
export function forEachTensor(model: ModelProto, fn: (t: TensorProto) => void): void {
  walkModel(model, fn, () => {});
}

function forEachSparseTensor(model: ModelProto, fn: (s: SparseTensorProto) => void): void {
  walkModel(model, () => {}, fn);
}

function walkModel(
  model: ModelProto,
  dense: (t: TensorProto) => void,
  sparse: (s: SparseTensorProto) => void,
): void {
  const seen = new Set<object>(); // guards against shared objects built in code, not from decode
  const visitSparse = (s: SparseTensorProto): void => {
    sparse(s);
    if (s.values !== undefined) dense(s.values);
    if (s.indices !== undefined) dense(s.indices);
  };
  const visitNodes = (nodes: NodeProto[]): void => {
    for (const node of nodes) for (const a of node.attribute) visitAttribute(a);
  };
  const visitAttribute = (a: AttributeProto): void => {
    if (a.t !== undefined) dense(a.t);
    for (const t of a.tensors) dense(t);
    if (a.sparseTensor !== undefined) visitSparse(a.sparseTensor);
    for (const s of a.sparseTensors ?? []) visitSparse(s);
    if (a.g !== undefined) visitGraph(a.g);
    for (const g of a.graphs) visitGraph(g);
  };
  const visitGraph = (g: GraphProto): void => {
    if (seen.has(g)) return;
    seen.add(g);
    for (const t of g.initializer) dense(t);
    for (const s of g.sparseInitializer as SparseTensorProto[]) visitSparse(s);
    visitNodes(g.node);
  };
  if (model.graph !== undefined) visitGraph(model.graph);
  for (const info of model.trainingInfo as { initialization?: GraphProto; algorithm?: GraphProto }[]) {
    if (info.initialization !== undefined) visitGraph(info.initialization);
    if (info.algorithm !== undefined) visitGraph(info.algorithm);
  }
  for (const f of model.functions as { node?: NodeProto[]; attributeProto?: AttributeProto[] }[]) {
    visitNodes(f.node ?? []);
    for (const a of f.attributeProto ?? []) visitAttribute(a);
  }
}

/** Checks dims and returns the element count. */
function checkDims(dims: number[], label: string, maxElements: number, tensor: string | undefined): number {
  let count = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i] as number;
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: dims[${i}] is ${d}, expected a non-negative integer (dims [${dims.join(", ")}])`,
        { tensor },
      );
    }
    count *= d;
    if (count > maxElements) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: dims [${dims.join(", ")}] give more than ${maxElements} elements, the limit for one tensor (option maxTensorElements)`,
        { tensor },
      );
    }
  }
  return count;
}

/** Which typed field holds a data type's values, and how many values per element. */
function typedField(dataType: number): { field: keyof TensorProto; wire: string; perElement: number } {
  switch (dataType) {
    case DataType.FLOAT:
      return { field: "floatData", wire: "float_data", perElement: 1 };
    case DataType.COMPLEX64:
      return { field: "floatData", wire: "float_data", perElement: 2 };
    case DataType.INT64:
      return { field: "int64Data", wire: "int64_data", perElement: 1 };
    case DataType.STRING:
      return { field: "stringData", wire: "string_data", perElement: 1 };
    case DataType.DOUBLE:
      return { field: "doubleData", wire: "double_data", perElement: 1 };
    case DataType.COMPLEX128:
      return { field: "doubleData", wire: "double_data", perElement: 2 };
    case DataType.UINT32:
    case DataType.UINT64:
      return { field: "uint64Data", wire: "uint64_data", perElement: 1 };
    default:
      // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16, FLOAT8*, (U)INT4.
      return { field: "int32Data", wire: "int32_data", perElement: 1 };
  }
}

const TYPED_FIELDS: [keyof TensorProto, string][] = [
  ["floatData", "float_data"],
  ["int32Data", "int32_data"],
  ["stringData", "string_data"],
  ["int64Data", "int64_data"],
  ["doubleData", "double_data"],
  ["uint64Data", "uint64_data"],
];

/** Checks one tensor and returns the bytes its data takes. */
function checkTensor(t: TensorProto, maxElements: number): number {
  const label = tensorLabel(t);
  const details = { tensor: t.name };
  if (t.dataType === undefined || t.dataType === DataType.UNDEFINED) {
    throw new PrunekitError("ONNX_INVALID", `${label}: data_type is missing`, details);
  }
  if (!isKnownDataType(t.dataType)) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `${label}: ${dataTypeName(t.dataType)} is not a data type of ONNX IR <= 10, which prunekit reads`,
      details,
    );
  }
  if (t.segment !== undefined) {
    throw new PrunekitError(
      "ONNX_UNSUPPORTED",
      `${label}: segmented tensors (TensorProto.segment) are not supported`,
      details,
    );
  }
  const count = checkDims(t.dims, label, maxElements, t.name);
  const expectedBytes = rawDataByteLength(t.dataType, count);
  const type = dataTypeName(t.dataType);
  if (usesExternalData(t)) {
    const ref = externalDataRef(t);
    if (expectedBytes === undefined) {
      throw new PrunekitError(
        "ONNX_UNSUPPORTED",
        `${label}: ${type} tensors cannot use external data`,
        details,
      );
    }
    if (ref.byteLength !== undefined && ref.byteLength !== expectedBytes) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: external data "length" is ${ref.byteLength} bytes, expected ${expectedBytes} (${count} elements of ${type}, dims [${t.dims.join(", ")}])`,
        details,
      );
    }
    return expectedBytes;
  }
  const present = TYPED_FIELDS.filter(([field]) => (t[field] as unknown[]).length > 0);
  if (t.rawData !== undefined) {
    if (expectedBytes === undefined) {
      throw new PrunekitError("ONNX_INVALID", `${label}: ${type} tensors cannot use raw_data`, details);
    }
    if (present.length > 0) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: has both raw_data and ${present[0]?.[1]}, expected only one of them`,
        details,
      );
    }
    if (t.rawData.length !== expectedBytes) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `${label}: raw_data has ${t.rawData.length} bytes, expected ${expectedBytes} (${count} elements of ${type}, dims [${t.dims.join(", ")}])`,
        details,
      );
    }
    return expectedBytes;
  }
  const expected = typedField(t.dataType);
  const wrong = present.find(([field]) => field !== expected.field);
  if (wrong !== undefined) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${label}: has ${wrong[1]}, which cannot hold ${type} values`,
      details,
    );
  }
  const length = (t[expected.field] as unknown[]).length;
  const want = count * expected.perElement;
  const packed4bit =
    (t.dataType === DataType.INT4 || t.dataType === DataType.UINT4) && length === Math.ceil(count / 2);
  if (length !== want && !packed4bit) {
    throw new PrunekitError(
      "ONNX_INVALID",
      length === 0
        ? `${label}: has no data, expected ${want} values in ${expected.wire} or raw_data (dims [${t.dims.join(", ")}])`
        : `${label}: ${expected.wire} has ${length} values, expected ${want} (dims [${t.dims.join(", ")}])`,
      details,
    );
  }
  if (t.dataType === DataType.STRING) {
    let bytes = 0;
    for (const s of t.stringData) bytes += s.length;
    return bytes;
  }
  return expectedBytes ?? 0;
}

/** Structure of the main graph; returns a topological node order. */
function checkGraph(graph: GraphProto): number[] {
  const nodes = graph.node;
  /** value name -> producing node index, or -1 for graph inputs and initializers. */
  const producer = new Map<string, number>();
  const initializerNames = new Set<string>();
  for (const t of graph.initializer) {
    const name = t.name ?? "";
    if (name === "") throw new PrunekitError("ONNX_INVALID", "graph has an initializer without a name", {});
    if (initializerNames.has(name)) {
      throw new PrunekitError("ONNX_INVALID", `initializer ${quoteName(name)} is defined twice`, {
        tensor: name,
      });
    }
    initializerNames.add(name);
    producer.set(name, -1);
  }
  for (const s of graph.sparseInitializer as SparseTensorProto[]) {
    const name = s.values?.name ?? "";
    if (name !== "") producer.set(name, -1);
  }
  const inputNames = new Set<string>();
  for (const input of graph.input) {
    const name = input.name ?? "";
    if (name === "") throw new PrunekitError("ONNX_INVALID", "graph has an input without a name", {});
    if (inputNames.has(name)) {
      throw new PrunekitError("ONNX_INVALID", `graph input ${quoteName(name)} is listed twice`, {
        tensor: name,
      });
    }
    inputNames.add(name);
    producer.set(name, -1); // initializers may also be listed as inputs (IR < 4 requires it)
  }
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as NodeProto;
    if (node.opType === undefined || node.opType === "") {
      throw new PrunekitError("ONNX_INVALID", `${nodeLabel(node, i)}: op_type is empty`, { node: node.name });
    }
    for (const output of node.output) {
      if (output === "") continue; // an omitted optional output
      const previous = producer.get(output);
      if (previous !== undefined) {
        const by =
          previous === -1
            ? "a graph input or initializer"
            : `${nodeLabel(nodes[previous] as NodeProto, previous)}`;
        throw new PrunekitError(
          "ONNX_INVALID",
          `${nodeLabel(node, i)}: output ${quoteName(output)} is already produced by ${by}; every value must have one producer`,
          { node: node.name, tensor: output },
        );
      }
      producer.set(output, i);
    }
  }
  // Dependencies, checking that every input exists.
  const dependents: number[][] = nodes.map(() => []);
  const pending = new Array<number>(nodes.length).fill(0);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as NodeProto;
    const seen = new Set<number>();
    for (const input of node.input) {
      if (input === "") continue; // an omitted optional input
      const from = producer.get(input);
      if (from === undefined) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `${nodeLabel(node, i)}: input ${quoteName(input)} is not produced by any node, graph input or initializer`,
          { node: node.name, tensor: input },
        );
      }
      if (from >= 0 && !seen.has(from)) {
        seen.add(from);
        (dependents[from] as number[]).push(i);
        pending[i] = (pending[i] as number) + 1;
      }
    }
  }
  for (const output of graph.output) {
    const name = output.name ?? "";
    if (!producer.has(name)) {
      throw new PrunekitError(
        "ONNX_INVALID",
        `graph output ${quoteName(name)} is not produced by any node, graph input or initializer`,
        { tensor: name },
      );
    }
  }
  // Kahn's algorithm with the smallest ready index first: the file's order when it is topological.
  const ready = new MinHeap();
  for (let i = 0; i < nodes.length; i++) if (pending[i] === 0) ready.push(i);
  const order: number[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    order.push(i);
    for (const j of dependents[i] as number[]) {
      pending[j] = (pending[j] as number) - 1;
      if (pending[j] === 0) ready.push(j);
    }
  }
  if (order.length < nodes.length) throw cycleError(nodes, producer, pending);
  return order;
}

/** Names the nodes of one cycle among the nodes left unsorted. */
function cycleError(nodes: NodeProto[], producer: Map<string, number>, pending: number[]): PrunekitError {
  const start = pending.findIndex((p) => p > 0);
  const path: number[] = [];
  const position = new Map<number, number>();
  let current = start;
  // Walk backwards along unsorted producers until a node repeats; every unsorted node has one.
  while (!position.has(current)) {
    position.set(current, path.length);
    path.push(current);
    const node = nodes[current] as NodeProto;
    let next = -1;
    for (const input of node.input) {
      const from = producer.get(input);
      if (from !== undefined && from >= 0 && (pending[from] as number) > 0) {
        next = from;
        break;
      }
    }
    if (next < 0) break;
    current = next;
  }
  const cycle = path.slice(position.get(current) ?? 0).reverse();
  cycle.push(cycle[0] as number);
  const first = nodes[cycle[0] as number] as NodeProto;
  return new PrunekitError(
    "ONNX_INVALID",
    `graph has a cycle: ${cycle.map((i) => nodeLabel(nodes[i] as NodeProto, i)).join(" -> ")}; an ONNX graph must be acyclic`,
    { node: first.name },
  );
}
