// Parsing and sanitising TensorProto.external_data references (onnx/docs/ExternalData.md).
// No file access here: this module is imported in browsers too.
import { PrunekitError, quoteName } from "../errors.ts";
import type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  SparseTensorProto,
  TensorProto,
} from "./proto-types.ts";
import { tensorLabel } from "./tensor.ts";

/** TensorProto.DataLocation.EXTERNAL */
export const DATA_LOCATION_EXTERNAL = 1;

/** Where an external tensor's bytes are. */
export interface ExternalDataRef {
  /** Path relative to the model's folder, with "/" separators, no "." or ".." segments. */
  path: string;
  /** Byte offset in the file (default 0). */
  byteOffset: number;
  /** Byte length, when the model states it. */
  byteLength: number | undefined;
}

/** True when the tensor's data lives in an external file. */
export function usesExternalData(t: TensorProto): boolean {
  return t.dataLocation === DATA_LOCATION_EXTERNAL;
}

/**
 * Parse a tensor's external_data entries, refusing any location that could leave the model's
 * folder: absolute paths, drive letters, `..` segments (with "/" or "\" separators), NUL and ":".
 *
 * @param t a tensor with data_location = EXTERNAL.
 * @returns the sanitised reference.
 * @throws PrunekitError `EXTERNAL_DATA` naming the tensor.
 */
export function externalDataRef(t: TensorProto): ExternalDataRef {
  const fail = (what: string): never => {
    throw new PrunekitError("EXTERNAL_DATA", `${tensorLabel(t)}: external data ${what}`, { tensor: t.name });
  };
  const entries = new Map<string, string>();
  for (const e of t.externalData) {
    if (e.key === undefined) continue;
    // Readers disagree on which of two entries wins (the first here, the last elsewhere): a second
    // "location" could point a checker and a runtime at different files. Refuse instead of choosing.
    if (entries.has(e.key)) return fail(`has the key ${quoteName(e.key)} twice; each key must appear once`);
    entries.set(e.key, e.value ?? "");
  }
  const location = entries.get("location");
  if (location === undefined || location === "") return fail(`has no "location" entry`);
  return {
    path: safeRelativePath(location, fail),
    byteOffset: parseByteCount(entries.get("offset"), "offset", fail) ?? 0,
    byteLength: parseByteCount(entries.get("length"), "length", fail),
  };
}

function safeRelativePath(location: string, fail: (what: string) => never): string {
  const shown = quoteName(location);
  const outside = `location ${shown} points outside the model's folder; external data files must sit in the model's folder or below it (absolute paths and ".." are refused)`;
  if (location.includes("\0") || location.includes(":")) {
    return fail(`location ${shown} contains a NUL or ":" character, refused`);
  }
  // "\" is a separator on Windows: treat it as one everywhere so "..\x" cannot slip through.
  const normalized = location.replaceAll("\\", "/");
  if (normalized.startsWith("/")) return fail(outside);
  const segments: string[] = [];
  for (const segment of normalized.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") return fail(outside);
    segments.push(segment);
  }
  if (segments.length === 0) return fail(`location ${shown} names no file`);
  return segments.join("/");
}

function parseByteCount(
  text: string | undefined,
  key: string,
  fail: (what: string) => never,
): number | undefined {
  if (text === undefined) return undefined;
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n))
    return fail(`"${key}" is ${quoteName(text.slice(0, 40))}, expected a byte count`);
  return n;
}

/**
 * A copy of `model` in which every tensor keeps its data inline (raw_data) instead of in external
 * files: initializers, sparse initializers, `Constant` and other node attributes (t, tensors, sparse
 * ones), subgraphs at any depth (If / Loop / Scan bodies), training graphs and functions. Written
 * models are self-contained: their external files would not sit next to a new output path.
 *
 * @param model the model (not modified; untouched messages are shared).
 * @param external the external bytes from loadOnnx.
 * @returns the model with every external tensor inlined.
 * @throws PrunekitError `EXTERNAL_DATA` if a tensor's bytes were not loaded (the output would refer
 *   to a file next to the input, which onnxruntime refuses).
 */
export function inlineExternalData(
  model: ModelProto,
  external: ReadonlyMap<TensorProto, Uint8Array>,
): ModelProto {
  const tensor = (t: TensorProto): TensorProto => {
    if (!usesExternalData(t)) return t;
    const bytes = external.get(t);
    if (bytes === undefined) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `${tensorLabel(t)}: external data was not loaded, so the written model would refer to a file next to the input; load the model with its folder (loadOnnx with readFile)`,
        { tensor: t.name },
      );
    }
    const { dataLocation: _location, ...rest } = t;
    return { ...rest, externalData: [], rawData: bytes };
  };
  const list = <T>(items: T[], fn: (x: T) => T): T[] => {
    let out: T[] | undefined;
    for (let i = 0; i < items.length; i++) {
      const next = fn(items[i] as T);
      if (next !== items[i]) {
        out ??= items.slice();
        out[i] = next;
      }
    }
    return out ?? items;
  };
  const sparse = (sp: SparseTensorProto): SparseTensorProto => {
    const values = sp.values === undefined ? undefined : tensor(sp.values);
    const indices = sp.indices === undefined ? undefined : tensor(sp.indices);
    if (values === sp.values && indices === sp.indices) return sp;
    const out: SparseTensorProto = { ...sp };
    if (values !== undefined) out.values = values;
    if (indices !== undefined) out.indices = indices;
    return out;
  };
  const attribute = (a: AttributeProto): AttributeProto => {
    const next: Partial<AttributeProto> = {};
    if (a.t !== undefined && tensor(a.t) !== a.t) next.t = tensor(a.t);
    const tensors = list(a.tensors, tensor);
    if (tensors !== a.tensors) next.tensors = tensors;
    if (a.sparseTensor !== undefined && sparse(a.sparseTensor) !== a.sparseTensor)
      next.sparseTensor = sparse(a.sparseTensor);
    const sparseTensors = a.sparseTensors === undefined ? undefined : list(a.sparseTensors, sparse);
    if (sparseTensors !== a.sparseTensors) next.sparseTensors = sparseTensors;
    if (a.g !== undefined && graph(a.g) !== a.g) next.g = graph(a.g);
    const graphs = list(a.graphs, graph);
    if (graphs !== a.graphs) next.graphs = graphs;
    return Object.keys(next).length === 0 ? a : { ...a, ...next };
  };
  const node = (n: NodeProto): NodeProto => {
    const attributes = list(n.attribute, attribute);
    return attributes === n.attribute ? n : { ...n, attribute: attributes };
  };
  const memo = new Map<GraphProto, GraphProto>();
  const graph = (g: GraphProto): GraphProto => {
    const done = memo.get(g);
    if (done !== undefined) return done;
    const initializer = list(g.initializer, tensor);
    const sparseInitializer = list(g.sparseInitializer as SparseTensorProto[], sparse);
    const nodes = list(g.node, node);
    const out =
      initializer === g.initializer && sparseInitializer === g.sparseInitializer && nodes === g.node
        ? g
        : { ...g, initializer, sparseInitializer, node: nodes };
    memo.set(g, out);
    return out;
  };
  type Training = { initialization?: GraphProto; algorithm?: GraphProto };
  type Fn = { node?: NodeProto[]; attributeProto?: AttributeProto[] };
  const main = model.graph === undefined ? undefined : graph(model.graph);
  const trainingInfo = list(model.trainingInfo as Training[], (info) => {
    const initialization = info.initialization === undefined ? undefined : graph(info.initialization);
    const algorithm = info.algorithm === undefined ? undefined : graph(info.algorithm);
    if (initialization === info.initialization && algorithm === info.algorithm) return info;
    return { ...info, initialization, algorithm };
  });
  const functions = list(model.functions as Fn[], (f) => {
    const nodes = f.node === undefined ? undefined : list(f.node, node);
    const attributes = f.attributeProto === undefined ? undefined : list(f.attributeProto, attribute);
    if (nodes === f.node && attributes === f.attributeProto) return f;
    return { ...f, node: nodes, attributeProto: attributes };
  });
  if (main === model.graph && trainingInfo === model.trainingInfo && functions === model.functions)
    return model;
  const out: ModelProto = {
    ...model,
    trainingInfo: trainingInfo as ModelProto["trainingInfo"],
    functions: functions as ModelProto["functions"],
  };
  if (main !== undefined) out.graph = main;
  return out;
}
