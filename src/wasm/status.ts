// The status codes of assembly/status.ts, as PrunekitError codes. A kernel that can fail on valid input
// returns one of them (0 means OK); its wrapper passes it to checkStatus right after the one WASM call.
import { PrunekitError, type PrunekitErrorCode } from "../errors.ts";

/** assembly/status.ts STATUS_OK: the kernel finished normally. */
export const STATUS_OK = 0;
/** assembly/status.ts STATUS_SINGULAR: a division by zero or a singular system; outputs unspecified. */
export const STATUS_SINGULAR = 1;

/** Every failure status with the error it becomes; tests/wasm/status.test.ts checks it against the module. */
export const STATUS_ERRORS: Readonly<
  Record<number, { name: string; code: PrunekitErrorCode; meaning: string }>
> = {
  [STATUS_SINGULAR]: {
    name: "STATUS_SINGULAR",
    code: "SINGULAR_SYSTEM",
    meaning: "met a division by zero or a singular system",
  },
};

/**
 * Throw the PrunekitError for a kernel's returned status; return for STATUS_OK.
 *
 * @param what the wrapper and what it computed, for the message (`"solveBn system"`).
 * @param status the i32 the kernel returned.
 * @throws PrunekitError `SINGULAR_SYSTEM` for STATUS_SINGULAR; `WASM_LOAD_FAILED` for a status this
 *   library does not know (the module and the sources are out of step: rebuild).
 * @example
 * checkStatus("solve", 0); // returns
 * checkStatus("solve", 1); // throws SINGULAR_SYSTEM: "solve: the kernel met a division by zero or ..."
 */
export function checkStatus(what: string, status: number): void {
  if (status === STATUS_OK) return;
  const known = STATUS_ERRORS[status];
  if (known === undefined) {
    throw new PrunekitError(
      "WASM_LOAD_FAILED",
      `${what}: the kernel returned status ${status}, which this version does not know; rebuild with \`npm run build\``,
    );
  }
  throw new PrunekitError(
    known.code,
    `${what}: the kernel ${known.meaning} (${known.name}); its outputs are not usable`,
  );
}
