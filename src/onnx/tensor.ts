import { PrunekitError, quoteName } from "../errors.ts";
import { DataType, type TensorProto } from "./proto-types.ts";

/**
 * Bytes of external-data tensors, read by {@link loadOnnx}, keyed by the TensorProto object that
 * refers to them. Tensors stored inside the model are not in the map.
 */
export type ExternalTensorData = ReadonlyMap<TensorProto, Uint8Array>;

/** Bytes per element in raw_data for each fixed-size data type (4-bit types: see rawDataByteLength). */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
  [DataType.FLOAT8E4M3FN]: 1,
  [DataType.FLOAT8E4M3FNUZ]: 1,
  [DataType.FLOAT8E5M2]: 1,
  [DataType.FLOAT8E5M2FNUZ]: 1,
};

/** Name of a data type for messages, e.g. "FLOAT" or "data type 99". */
export function dataTypeName(dataType: number | undefined): string {
  for (const [key, value] of Object.entries(DataType)) if (value === dataType) return key;
  return `data type ${dataType ?? "(missing)"}`;
}

/** True for the data types of onnx.proto IR <= 10 (UNDEFINED excluded). */
export function isKnownDataType(dataType: number | undefined): boolean {
  return dataType !== undefined && dataType >= 1 && dataType <= DataType.INT4;
}

/**
 * Number of elements of a tensor: the product of its dims (1 for a scalar).
 * Assumes validated dims (non-negative safe integers).
 */
export function tensorElementCount(t: TensorProto): number {
  let n = 1;
  for (const d of t.dims) n *= d;
  return n;
}

/**
 * Bytes that `elementCount` elements of `dataType` take in raw_data (4-bit types pack two per
 * byte), or undefined for STRING and unknown types.
 */
export function rawDataByteLength(dataType: number | undefined, elementCount: number): number | undefined {
  if (dataType === DataType.UINT4 || dataType === DataType.INT4) return Math.ceil(elementCount / 2);
  const size = dataType === undefined ? undefined : ELEMENT_BYTES[dataType];
  return size === undefined ? undefined : size * elementCount;
}

/** `tensor "name"` for messages. */
export function tensorLabel(t: TensorProto): string {
  return `tensor ${quoteName(t.name)}`;
}

/**
 * The bytes holding a tensor's data when it is stored as raw bytes: raw_data, or the external
 * bytes read by loadOnnx. Undefined when the data is in a typed field (float_data, ...).
 */
function rawBytes(t: TensorProto, external: ExternalTensorData | undefined): Uint8Array | undefined {
  if (t.dataLocation === 1) {
    const bytes = external?.get(t);
    if (bytes === undefined) {
      const location = t.externalData.find((e) => e.key === "location")?.value ?? "(no location)";
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `${tensorLabel(t)} keeps its data in external file "${location}", which was not loaded; load the model with loadOnnx (with its folder) and pass its externalData`,
        { tensor: t.name },
      );
    }
    return bytes;
  }
  return t.rawData;
}

function checkByteLength(t: TensorProto, bytes: Uint8Array, count: number, elementBytes: number): void {
  if (bytes.length !== count * elementBytes) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${tensorLabel(t)}: data has ${bytes.length} bytes, expected ${count * elementBytes} (${count} elements of ${dataTypeName(t.dataType)}, dims [${t.dims.join(", ")}])`,
      { tensor: t.name },
    );
  }
}

function checkFieldLength(t: TensorProto, field: string, length: number, expected: number): void {
  if (length !== expected) {
    throw new PrunekitError(
      "ONNX_INVALID",
      `${tensorLabel(t)}: ${field} has ${length} values, expected ${expected} (dims [${t.dims.join(", ")}])`,
      { tensor: t.name },
    );
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A DataView over `bytes` (any byteOffset; DataView has no alignment requirement). */
function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** IEEE half (binary16) bits to a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const scratch = new DataView(new ArrayBuffer(4));
function bfloat16ToFloat(bits: number): number {
  scratch.setUint32(0, (bits & 0xffff) << 16);
  return scratch.getFloat32(0);
}

/**
 * The values of a FLOAT tensor as a new Float32Array (a copy: changing it does not change the
 * model). DOUBLE, FLOAT16 and BFLOAT16 tensors are converted to float32.
 *
 * Reads raw_data (little-endian, the form PyTorch writes), the typed field (float_data,
 * double_data, or int32_data holding 16-bit patterns) or external data.
 *
 * @param t the tensor.
 * @param external external bytes from {@link loadOnnx}, needed when `t` uses external data.
 * @returns one float per element, in row-major order.
 * @throws PrunekitError `ONNX_UNSUPPORTED` for other data types; `ONNX_INVALID` when the data
 *   length disagrees with dims; `EXTERNAL_DATA` when the external bytes were not loaded.
 * @example
 * const w = readFloat32(model.graph.initializer[0]); // Float32Array of dims.product values
 */
export function readFloat32(t: TensorProto, external?: ExternalTensorData): Float32Array {
  const count = tensorElementCount(t);
  const raw = rawBytes(t, external);
  switch (t.dataType) {
    case DataType.FLOAT: {
      if (raw === undefined) {
        checkFieldLength(t, "float_data", t.floatData.length, count);
        return Float32Array.from(t.floatData);
      }
      checkByteLength(t, raw, count, 4);
      // slice() copies into a fresh, 4-byte aligned buffer; raw_data is little-endian like the host.
      if (LITTLE_ENDIAN_HOST) return new Float32Array(raw.slice().buffer);
      const out = new Float32Array(count);
      const view = viewOf(raw);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case DataType.DOUBLE: {
      if (raw === undefined) {
        checkFieldLength(t, "double_data", t.doubleData.length, count);
        return Float32Array.from(t.doubleData);
      }
      checkByteLength(t, raw, count, 8);
      const out = new Float32Array(count);
      const view = viewOf(raw);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const convert = t.dataType === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
      const out = new Float32Array(count);
      if (raw === undefined) {
        // int32_data holds the 16-bit patterns, one per element (onnx.proto, TensorProto.int32_data).
        checkFieldLength(t, "int32_data", t.int32Data.length, count);
        for (let i = 0; i < count; i++) out[i] = convert((t.int32Data[i] as number) & 0xffff);
        return out;
      }
      checkByteLength(t, raw, count, 2);
      const view = viewOf(raw);
      for (let i = 0; i < count; i++) out[i] = convert(view.getUint16(i * 2, true));
      return out;
    }
    default:
      throw new PrunekitError(
        "ONNX_UNSUPPORTED",
        `${tensorLabel(t)} has data type ${dataTypeName(t.dataType)}, expected FLOAT (or DOUBLE, FLOAT16, BFLOAT16)`,
        { tensor: t.name },
      );
  }
}

/**
 * The values of a FLOAT tensor without a copy where its bytes allow it: on a little-endian host, raw
 * little-endian bytes (raw_data or external data) at a 4-byte aligned offset are returned as a view of
 * the model's own memory, which the caller must only read. Anything else (typed fields, unaligned
 * bytes, other float types) is {@link readFloat32}'s new array. For reading large weights (a 1 GiB
 * external tensor) without doubling the memory.
 * @throws PrunekitError as readFloat32.
 * @example
 * const w = viewFloat32(model.graph.initializer[0]); // read, never write
 */
export function viewFloat32(t: TensorProto, external?: ExternalTensorData): Float32Array {
  const raw = t.dataType === DataType.FLOAT && LITTLE_ENDIAN_HOST ? rawBytes(t, external) : undefined;
  if (raw === undefined || raw.byteOffset % 4 !== 0) return readFloat32(t, external);
  const count = tensorElementCount(t);
  checkByteLength(t, raw, count, 4);
  return new Float32Array(raw.buffer, raw.byteOffset, count);
}

/**
 * A FLOAT tensor whose raw_data is the memory of `data` itself, not a copy (makeFloat32Tensor copies):
 * `data` must cover its whole buffer and must not be used afterwards. On a big-endian host, a copy.
 * @throws PrunekitError `INVALID_ARGUMENT` when data.length disagrees with dims.
 * @example
 * const t = float32TensorOwning("w", [2, 2], new Float32Array(4));
 */
export function float32TensorOwning(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  if (!LITTLE_ENDIAN_HOST || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) {
    return makeFloat32Tensor(name, dims, data);
  }
  checkNewTensor(name, dims, data.length);
  return { ...emptyTensor(name, dims, DataType.FLOAT), rawData: new Uint8Array(data.buffer) };
}

/** Reusable memory for {@link readFloat32Scratch}: grows to the largest tensor read through it. */
export interface Float32Scratch {
  buffer: ArrayBuffer;
}

/** An empty {@link Float32Scratch}. */
export function newFloat32Scratch(): Float32Scratch {
  return { buffer: new ArrayBuffer(0) };
}

/**
 * {@link readFloat32} into reusable memory, for loops over many large weights: a FLOAT tensor stored
 * as raw little-endian bytes (raw_data or external data) is copied into `scratch`, grown when too
 * small, and returned as a view of it. The view is valid until the next call with the same scratch
 * and may be modified. Other tensors (typed fields, other data types, big-endian hosts) get a new
 * array from readFloat32. Copying into memory that is already mapped avoids the page faults of a
 * fresh multi-megabyte allocation per tensor.
 *
 * @param t the tensor.
 * @param external external bytes from {@link loadOnnx}, needed when `t` uses external data.
 * @param scratch from {@link newFloat32Scratch}.
 * @returns one float per element, in row-major order.
 * @throws PrunekitError as readFloat32.
 * @example
 * const scratch = newFloat32Scratch();
 * for (const t of model.graph.initializer) sum += readFloat32Scratch(t, undefined, scratch)[0] ?? 0;
 */
export function readFloat32Scratch(
  t: TensorProto,
  external: ExternalTensorData | undefined,
  scratch: Float32Scratch,
): Float32Array {
  const raw = t.dataType === DataType.FLOAT && LITTLE_ENDIAN_HOST ? rawBytes(t, external) : undefined;
  if (raw === undefined) return readFloat32(t, external);
  const count = tensorElementCount(t);
  checkByteLength(t, raw, count, 4);
  if (scratch.buffer.byteLength < raw.length) scratch.buffer = new ArrayBuffer(raw.length);
  new Uint8Array(scratch.buffer, 0, raw.length).set(raw);
  return new Float32Array(scratch.buffer, 0, count);
}

/**
 * The values of an INT64 (or INT32) tensor as plain numbers, e.g. a Reshape shape.
 *
 * @param t the tensor.
 * @param external external bytes from {@link loadOnnx}, needed when `t` uses external data.
 * @returns one number per element.
 * @throws PrunekitError `ONNX_UNSUPPORTED` for other data types; `ONNX_INVALID` when the data
 *   length disagrees with dims or a value is beyond 2^53; `EXTERNAL_DATA` as for readFloat32.
 * @example
 * const shape = readInt64(shapeInitializer); // [1, -1]
 */
export function readInt64(t: TensorProto, external?: ExternalTensorData): number[] {
  const count = tensorElementCount(t);
  const raw = rawBytes(t, external);
  if (t.dataType === DataType.INT64) {
    if (raw === undefined) {
      checkFieldLength(t, "int64_data", t.int64Data.length, count);
      return t.int64Data.slice();
    }
    checkByteLength(t, raw, count, 8);
    const view = viewOf(raw);
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const v = view.getBigInt64(i * 8, true);
      const n = Number(v);
      if (!Number.isSafeInteger(n)) {
        throw new PrunekitError(
          "ONNX_INVALID",
          `${tensorLabel(t)}: element ${i} = ${v} is beyond 2^53, the largest integer prunekit represents exactly`,
          { tensor: t.name },
        );
      }
      out[i] = n;
    }
    return out;
  }
  if (t.dataType === DataType.INT32) {
    if (raw === undefined) {
      checkFieldLength(t, "int32_data", t.int32Data.length, count);
      return t.int32Data.slice();
    }
    checkByteLength(t, raw, count, 4);
    const view = viewOf(raw);
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
    return out;
  }
  throw new PrunekitError(
    "ONNX_UNSUPPORTED",
    `${tensorLabel(t)} has data type ${dataTypeName(t.dataType)}, expected INT64 (or INT32)`,
    { tensor: t.name },
  );
}

function checkNewTensor(name: string, dims: readonly number[], length: number): void {
  let count = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `tensor "${name}": dim ${d} is not a non-negative integer`,
        {
          tensor: name,
        },
      );
    }
    count *= d;
  }
  if (count !== length) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `tensor "${name}": ${length} values given, expected ${count} for dims [${dims.join(", ")}]`,
      { tensor: name },
    );
  }
}

function emptyTensor(name: string, dims: readonly number[], dataType: number): TensorProto {
  return {
    dims: dims.slice(),
    dataType,
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    name,
    externalData: [],
    doubleData: [],
    uint64Data: [],
  };
}

/**
 * A FLOAT tensor with its values in raw_data (little-endian), the form PyTorch writes.
 *
 * @param name tensor name.
 * @param dims shape, e.g. [outChannels, inChannels, kH, kW].
 * @param data dims.product values, row-major; copied.
 * @returns a new TensorProto.
 * @throws PrunekitError `INVALID_ARGUMENT` when data.length disagrees with dims.
 * @example
 * const bias = makeFloat32Tensor("fc.bias", [10], new Float32Array(10));
 */
export function makeFloat32Tensor(
  name: string,
  dims: readonly number[],
  data: ArrayLike<number>,
): TensorProto {
  checkNewTensor(name, dims, data.length);
  const raw = new Uint8Array(data.length * 4);
  if (LITTLE_ENDIAN_HOST) {
    // raw_data is little-endian like the host: one bulk copy (a memcpy for Float32Array input).
    new Float32Array(raw.buffer).set(data);
  } else {
    const view = viewOf(raw);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  }
  return { ...emptyTensor(name, dims, DataType.FLOAT), rawData: raw };
}

/**
 * An INT64 tensor with its values in raw_data (little-endian), e.g. a Reshape shape.
 *
 * @param name tensor name.
 * @param dims shape, e.g. [2] for a 2-d target shape.
 * @param data dims.product safe integers.
 * @returns a new TensorProto.
 * @throws PrunekitError `INVALID_ARGUMENT` when data.length disagrees with dims or a value is not a safe integer.
 * @example
 * const shape = makeInt64Tensor("shape", [2], [1, -1]);
 */
export function makeInt64Tensor(name: string, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  checkNewTensor(name, dims, data.length);
  const raw = new Uint8Array(data.length * 8);
  const view = viewOf(raw);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!Number.isSafeInteger(v)) {
      throw new PrunekitError("INVALID_ARGUMENT", `tensor "${name}": value ${v} is not a safe integer`, {
        tensor: name,
      });
    }
    view.setBigInt64(i * 8, BigInt(v), true);
  }
  return { ...emptyTensor(name, dims, DataType.INT64), rawData: raw };
}
