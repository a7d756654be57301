// Parsing and sanitising TensorProto.external_data references (onnx/docs/ExternalData.md).
// No file access here: this module is imported in browsers too.
import { PrunekitError } from "../errors.ts";
import type { ModelProto, TensorProto } from "./proto-types.ts";
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
  const entries = new Map<string, string>();
  for (const e of t.externalData)
    if (e.key !== undefined && !entries.has(e.key)) entries.set(e.key, e.value ?? "");
  const location = entries.get("location");
  const fail = (what: string): never => {
    throw new PrunekitError("EXTERNAL_DATA", `${tensorLabel(t)}: external data ${what}`, { tensor: t.name });
  };
  if (location === undefined || location === "") return fail(`has no "location" entry`);
  return {
    path: safeRelativePath(location, fail),
    byteOffset: parseByteCount(entries.get("offset"), "offset", fail) ?? 0,
    byteLength: parseByteCount(entries.get("length"), "length", fail),
  };
}

function safeRelativePath(location: string, fail: (what: string) => never): string {
  const shown = JSON.stringify(location.length > 200 ? `${location.slice(0, 200)}...` : location);
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
    return fail(`"${key}" is ${JSON.stringify(text.slice(0, 40))}, expected a byte count`);
  return n;
}

/**
 * A copy of `model` whose initializers keep their data inline (raw_data) instead of in external files.
 * Written models are self-contained: their external files would not sit next to a new output path.
 *
 * @param model the model (not modified; untouched tensors are shared).
 * @param external the external bytes from loadOnnx.
 * @returns the model with every external initializer inlined.
 * @throws PrunekitError `EXTERNAL_DATA` if a tensor's bytes were not loaded.
 */
export function inlineExternalData(
  model: ModelProto,
  external: ReadonlyMap<TensorProto, Uint8Array>,
): ModelProto {
  const graph = model.graph;
  if (graph === undefined || !graph.initializer.some(usesExternalData)) return model;
  const initializer = graph.initializer.map((t) => {
    if (!usesExternalData(t)) return t;
    const bytes = external.get(t);
    if (bytes === undefined) {
      throw new PrunekitError("EXTERNAL_DATA", `${tensorLabel(t)}: external data was not loaded`, {
        tensor: t.name,
      });
    }
    const { dataLocation: _location, ...rest } = t;
    return { ...rest, externalData: [], rawData: bytes };
  });
  return { ...model, graph: { ...graph, initializer } };
}
