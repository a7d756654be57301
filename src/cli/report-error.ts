import { isPrunekitError } from "../errors.ts";

/** Print an error the way the CLI promises: one line for user errors, exit 2 for internal ones. */
export function reportError(e: unknown): number {
  if (isPrunekitError(e)) {
    process.stderr.write(`prunekit: ${e.code}: ${e.message}\n`);
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  if (process.env.PRUNEKIT_DEBUG) process.stderr.write(`${err.stack ?? err.message}\n`);
  process.stderr.write(
    `prunekit: internal error: ${err.message}\n(this is a bug in prunekit; set PRUNEKIT_DEBUG=1 for a stack trace and report it)\n`,
  );
  return 2;
}
