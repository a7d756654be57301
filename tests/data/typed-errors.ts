// Asserting typed errors: a PrunekitError with the given code whose message holds every part.
import assert from "node:assert/strict";
import { isPrunekitError } from "../../src/errors.ts";

function check(e: unknown, code: string, parts: readonly (string | RegExp)[]): true {
  assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const part of parts) {
    if (typeof part === "string") assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
    else assert.match(e.message, part);
  }
  return true;
}

/** `fn` throws a PrunekitError with `code` whose message contains every part. */
export function throwsWith(fn: () => unknown, code: string, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => check(e, code, parts));
}

/** `p` rejects with a PrunekitError with `code` whose message contains every part. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: string,
  ...parts: (string | RegExp)[]
): Promise<void> {
  await assert.rejects(p, (e: unknown) => check(e, code, parts));
}
