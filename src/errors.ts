/**
 * Stable error codes. A code never changes meaning once released; add new ones at the end.
 *
 * - `WASM_LOAD_FAILED`: the WebAssembly module could not be fetched, compiled or instantiated.
 * - `INVALID_ARGUMENT`: a public function or kernel wrapper got an argument of the wrong size, type or range.
 * - `OUT_OF_MEMORY`: WebAssembly linear memory could not grow to what an operation needs.
 * - `ONNX_DECODE`: the bytes are not a decodable ONNX protobuf (truncated, corrupt, wrong file).
 * - `ONNX_INVALID`: the model decodes but is inconsistent (bad dims, data length, missing tensor, cycle).
 * - `ONNX_UNSUPPORTED`: the model uses something prunekit does not handle (op, data type, attribute).
 * - `EXTERNAL_DATA`: external tensor data is missing, unreadable, or points outside the model's folder.
 * - `GRAPH_UNSUPPORTED`: graph analysis met a topology it cannot prune safely.
 * - `PLAN_INVALID`: a prune plan does not fit the model (unknown group, bad indices, empty layer).
 * - `UNSAFE_MERGE`: compensation was requested across a path that is not positively homogeneous.
 * - `IO_ERROR`: a file could not be read or written.
 * - `USAGE`: the command line was not understood.
 * - `DATA_INVALID`: a dataset file is malformed or does not match the model.
 * - `SINGULAR_SYSTEM`: a kernel met a division by zero or a singular system on valid input.
 * - `ARENA_MISUSE`: a WebAssembly arena was used against its rules: a mark released twice or given to
 *   another arena, `reset` while a region is live, a buffer used after its region was released, an
 *   async `withArena` body.
 * - `NOT_CONVERGED`: an iterative computation (EPruner's affinity propagation) stopped at its iteration
 *   cap without converging, and the caller asked for an error in that case.
 * - `DOWNLOAD_FAILED`: a dataset download failed: an HTTP error status, a network error or cut
 *   connection that retries did not overcome, or a checksum that does not match the published one.
 * - `ABORTED`: a long operation was cancelled through its `AbortSignal`.
 * - `CHECKPOINT_INVALID`: a training checkpoint is unreadable, corrupt, or of another model or run.
 * - `NOTHING_TO_PRUNE`: the method would remove no channel (every group frozen, residual or kept whole);
 *   the message says why and how to get an unchanged copy anyway.
 */
export type PrunekitErrorCode =
  | "WASM_LOAD_FAILED"
  | "INVALID_ARGUMENT"
  | "OUT_OF_MEMORY"
  | "ONNX_DECODE"
  | "ONNX_INVALID"
  | "ONNX_UNSUPPORTED"
  | "EXTERNAL_DATA"
  | "GRAPH_UNSUPPORTED"
  | "PLAN_INVALID"
  | "UNSAFE_MERGE"
  | "IO_ERROR"
  | "USAGE"
  | "DATA_INVALID"
  | "SINGULAR_SYSTEM"
  | "ARENA_MISUSE"
  | "NOT_CONVERGED"
  | "DOWNLOAD_FAILED"
  | "ABORTED"
  | "CHECKPOINT_INVALID"
  | "NOTHING_TO_PRUNE";

/** Where an error happened, when known. */
export interface PrunekitErrorDetails {
  /** Name of the ONNX node involved. */
  node?: string;
  /** Name of the tensor involved. */
  tensor?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The one error type prunekit throws for anything a user can act on.
 *
 * @example
 * try { await loadModel(bytes) } catch (e) { if (e instanceof PrunekitError) console.error(e.code, e.message) }
 */
export class PrunekitError extends Error {
  /** Stable machine-readable code. */
  readonly code: PrunekitErrorCode;
  /** ONNX node name, when the error concerns one node. */
  readonly node: string | undefined;
  /** Tensor name, when the error concerns one tensor. */
  readonly tensor: string | undefined;

  constructor(code: PrunekitErrorCode, message: string, details: PrunekitErrorDetails = {}) {
    // One line, always: names and paths from a model or a command line may hold line breaks.
    super(escapeControl(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "PrunekitError";
    this.code = code;
    this.node = details.node;
    this.tensor = details.tensor;
  }
}

/** True if `e` is a PrunekitError (also across module copies). */
export function isPrunekitError(e: unknown): e is PrunekitError {
  return e instanceof PrunekitError || (e instanceof Error && e.name === "PrunekitError" && "code" in e);
}

/**
 * `text` with control characters (line breaks, tabs, escape sequences, U+2028/2029) written as JSON
 * escapes, so that a message built from a hostile name stays on one line.
 *
 * @example
 * escapeControl("a\nb"); // "a\\nb"
 */
export function escapeControl(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const short = CONTROL_ESCAPES[c];
    return short ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

const CONTROL_ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A name or path from a model or a command line, quoted for a message: JSON string syntax (quotes,
 * backslashes and control characters escaped), cut to 200 characters.
 *
 * @example
 * `node ${quoteName("conv\n1")}`; // 'node "conv\\n1"'
 */
export function quoteName(name: string | undefined): string {
  const s = name ?? "";
  return escapeControl(JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s));
}
