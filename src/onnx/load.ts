import { isPrunekitError, PrunekitError, quoteName } from "../errors.ts";
import { type DecodeOptions, decodeModel } from "./decode.ts";
import { externalDataRef, usesExternalData } from "./external-data.ts";
import type { ModelProto, TensorProto } from "./proto-types.ts";
import { type ExternalTensorData, rawDataByteLength, tensorElementCount, tensorLabel } from "./tensor.ts";
import { forEachTensor, type ValidateOptions, validateModel } from "./validate.ts";

/**
 * The part of an external data file a tensor needs: `byteLength` bytes from `byteOffset`.
 */
export interface FileRange {
  /** First byte. */
  byteOffset: number;
  /** Number of bytes. */
  byteLength: number;
}

/**
 * Reads a file of the model's folder. `relativePath` is already sanitised: "/"-separated, no ".",
 * "..", absolute or drive-letter parts. With `range`, it returns exactly those bytes (and only reads
 * them: a 4 KB tensor in a 2 GB file costs 4 KB), or throws when the file is shorter; without it, the
 * whole file. Node and Deno get one from `folderFileReader` (src/node/model-files.ts).
 */
export type ReadModelFile = (relativePath: string, range?: FileRange) => Promise<Uint8Array>;

/** Options of {@link loadOnnx}: decode and validation limits, and access to external data files. */
export interface LoadOnnxOptions extends DecodeOptions, ValidateOptions {
  /**
   * Reads external data files relative to the model's folder. Without it (browsers), a model with
   * external data is refused with `EXTERNAL_DATA`.
   */
  readFile?: ReadModelFile;
}

/** A decoded, validated model. */
export interface LoadedOnnx {
  model: ModelProto;
  /** Indices into model.graph.node in a topological order (the file's order when it is one). */
  nodeOrder: number[];
  /** Bytes of the tensors stored in external files; pass it to readFloat32 / readInt64. */
  externalData: ExternalTensorData;
}

/**
 * Decode and validate untrusted ONNX bytes, and read the external data they reference.
 *
 * @param bytes contents of the `.onnx` file.
 * @param options limits, and `readFile` for external data (src/node/model-files.ts has one for Node
 *   and Deno).
 * @returns the model, its topological node order and its external tensor bytes.
 * @throws PrunekitError `ONNX_DECODE`, `ONNX_INVALID`, `ONNX_UNSUPPORTED` (see decodeModel and
 *   validateModel) or `EXTERNAL_DATA` (no readFile, unreadable file, data beyond the file's end).
 * @example
 * const { model, nodeOrder } = await loadOnnx(bytes); // browser: no external data
 */
export async function loadOnnx(bytes: Uint8Array, options: LoadOnnxOptions = {}): Promise<LoadedOnnx> {
  const model = decodeModel(bytes, options);
  const { nodeOrder } = validateModel(model, options);
  const externalData = await readExternalData(model, options.readFile);
  return { model, nodeOrder, externalData };
}

async function readExternalData(
  model: ModelProto,
  readFile: ReadModelFile | undefined,
): Promise<ExternalTensorData> {
  const tensors: TensorProto[] = [];
  forEachTensor(model, (t) => {
    if (usesExternalData(t)) tensors.push(t);
  });
  const out = new Map<TensorProto, Uint8Array>();
  if (tensors.length === 0) return out;
  for (const t of tensors) {
    const ref = externalDataRef(t);
    if (readFile === undefined) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `model uses external data file ${quoteName(ref.path)} (${tensorLabel(t)}); load it with its folder in Node or Deno (loadOnnxFile), browsers cannot read external data`,
        { tensor: t.name },
      );
    }
    // validateModel checked that a stated length equals this.
    const byteLength = rawDataByteLength(t.dataType, tensorElementCount(t)) as number;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(ref.path, { byteOffset: ref.byteOffset, byteLength });
    } catch (e) {
      if (isPrunekitError(e))
        throw new PrunekitError(e.code, `${tensorLabel(t)}: ${e.message}`, { tensor: t.name, cause: e });
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `${tensorLabel(t)}: cannot read external data file ${quoteName(ref.path)} (${e instanceof Error ? e.message : String(e)}); keep the file next to the model`,
        { tensor: t.name, cause: e },
      );
    }
    if (bytes.length !== byteLength) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `${tensorLabel(t)}: external data at offset ${ref.byteOffset} with ${byteLength} bytes goes past the end of ${quoteName(ref.path)} (got ${bytes.length} bytes)`,
        { tensor: t.name },
      );
    }
    out.set(t, bytes);
  }
  return out;
}
