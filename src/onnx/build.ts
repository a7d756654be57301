// A tiny ONNX model builder for tests and examples: graph/surgery tests build their topologies
// with it instead of hand-writing ModelProto objects.
import { PrunekitError } from "../errors.ts";
import {
  type AttributeProto,
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TensorShapeDimension,
  type ValueInfoProto,
} from "./proto-types.ts";
import { makeFloat32Tensor } from "./tensor.ts";

/**
 * An attribute value. Integers become INT, other numbers FLOAT; arrays likewise (INTS only when
 * every element is an integer). Use `{ f }` / `{ floats }` to force floats (e.g. `alpha: { f: 1 }`),
 * `{ i }` / `{ ints }` to force ints. A TensorProto becomes TENSOR.
 */
export type BuildAttribute =
  | number
  | number[]
  | string
  | string[]
  | TensorProto
  | { f: number }
  | { floats: number[] }
  | { i: number }
  | { ints: number[] };

/** A node: `{ opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: { pads: [1, 1, 1, 1] } }`. */
export interface BuildNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Defaults to `${opType}_${index}`. */
  name?: string;
  domain?: string;
  attributes?: Record<string, BuildAttribute>;
}

/** A graph input or output. `shape` entries: a size, a symbolic name, or null for unknown. */
export interface BuildValue {
  name: string;
  shape?: (number | string | null)[];
  /** A DataType value, default FLOAT. */
  elemType?: number;
}

/** A FLOAT initializer given by its values. */
export interface BuildFloatInitializer {
  name: string;
  dims: number[];
  data: ArrayLike<number>;
}

/** Everything {@link buildModel} needs. */
export interface BuildModelSpec {
  inputs: BuildValue[];
  outputs: BuildValue[];
  nodes: BuildNode[];
  /** TensorProtos (any type, e.g. from makeInt64Tensor) or float values. */
  initializers?: (TensorProto | BuildFloatInitializer)[];
  /** Default-domain opset version (default 13). */
  opset?: number;
  /** Default 7, the IR version matching opset 13. */
  irVersion?: number;
  /** Graph name (default "prunekit"). */
  name?: string;
}

/**
 * Build a ModelProto from a short description: nodes in order, inputs, outputs and initializers.
 * The result is an ordinary decoded-shape model: encode it with encodeModel, validate it with
 * validateModel, or feed it to the graph layer.
 *
 * @param spec the model.
 * @returns a new model (producer "prunekit").
 * @throws PrunekitError `INVALID_ARGUMENT` for an attribute value that cannot be typed (empty
 *   array, mixed array) or float initializer data that disagrees with its dims.
 * @example
 * const model = buildModel({
 *   inputs: [{ name: "x", shape: [1, 4] }],
 *   outputs: [{ name: "y", shape: [1, 2] }],
 *   initializers: [{ name: "w", dims: [2, 4], data: new Float32Array(8) }],
 *   nodes: [{ opType: "Gemm", inputs: ["x", "w"], outputs: ["y"], attributes: { transB: 1 } }],
 * });
 */
export function buildModel(spec: BuildModelSpec): ModelProto {
  return {
    irVersion: spec.irVersion ?? 7,
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    producerName: "prunekit",
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      node: spec.nodes.map(buildNode),
      name: spec.name ?? "prunekit",
      initializer: (spec.initializers ?? []).map((t) =>
        "data" in t ? makeFloat32Tensor(t.name, t.dims, t.data) : (t as TensorProto),
      ),
      sparseInitializer: [],
      input: spec.inputs.map(buildValue),
      output: spec.outputs.map(buildValue),
      valueInfo: [],
      quantizationAnnotation: [],
    },
  };
}

function buildNode(spec: BuildNode, index: number): NodeProto {
  const node: NodeProto = {
    input: spec.inputs.slice(),
    output: spec.outputs.slice(),
    name: spec.name ?? `${spec.opType}_${index}`,
    opType: spec.opType,
    attribute: Object.entries(spec.attributes ?? {}).map(([name, value]) => buildAttribute(name, value)),
  };
  if (spec.domain !== undefined) node.domain = spec.domain;
  return node;
}

function buildValue(spec: BuildValue): ValueInfoProto {
  const tensorType: NonNullable<ValueInfoProto["type"]>["tensorType"] = {
    elemType: spec.elemType ?? DataType.FLOAT,
  };
  if (spec.shape !== undefined) {
    tensorType.shape = {
      dim: spec.shape.map((d): TensorShapeDimension => {
        if (typeof d === "number") return { dimValue: d };
        if (typeof d === "string") return { dimParam: d };
        return {};
      }),
    };
  }
  return { name: spec.name, type: { tensorType } };
}

function emptyAttribute(name: string, type: number): AttributeProto {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [] };
}

function buildAttribute(name: string, value: BuildAttribute): AttributeProto {
  const encoder = new TextEncoder();
  if (typeof value === "number") {
    return Number.isInteger(value)
      ? { ...emptyAttribute(name, AttributeType.INT), i: value }
      : { ...emptyAttribute(name, AttributeType.FLOAT), f: value };
  }
  if (typeof value === "string")
    return { ...emptyAttribute(name, AttributeType.STRING), s: encoder.encode(value) };
  if (Array.isArray(value)) {
    if (value.length === 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `attribute "${name}": an empty array has no type; use { ints: [] } or { floats: [] }`,
      );
    }
    if (value.every((v) => typeof v === "string")) {
      return {
        ...emptyAttribute(name, AttributeType.STRINGS),
        strings: (value as string[]).map((s) => encoder.encode(s)),
      };
    }
    if (value.every((v) => typeof v === "number")) {
      const numbers = value as number[];
      return numbers.every(Number.isInteger)
        ? { ...emptyAttribute(name, AttributeType.INTS), ints: numbers.slice() }
        : { ...emptyAttribute(name, AttributeType.FLOATS), floats: numbers.slice() };
    }
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `attribute "${name}": mixed array, expected only numbers or only strings`,
    );
  }
  if ("f" in value) return { ...emptyAttribute(name, AttributeType.FLOAT), f: value.f };
  if ("floats" in value)
    return { ...emptyAttribute(name, AttributeType.FLOATS), floats: value.floats.slice() };
  if ("i" in value) return { ...emptyAttribute(name, AttributeType.INT), i: value.i };
  if ("ints" in value) return { ...emptyAttribute(name, AttributeType.INTS), ints: value.ints.slice() };
  return { ...emptyAttribute(name, AttributeType.TENSOR), t: value };
}
