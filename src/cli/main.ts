import { isPrunekitError, PrunekitError } from "../errors.ts";

const HELP = `prunekit: structural pruning of convolutional networks (ONNX in, ONNX out)

Usage:
  prunekit info <model.onnx> [--json]
  prunekit prune <in.onnx> -o <out.onnx> --method <l1|l2|merge> --ratio R [options]
  prunekit --help | --version

Run "prunekit <command> --help" for the options of one command.
Errors print one line "prunekit: CODE: message" and exit 1; internal errors exit 2.
`;

/** A command: parses its own arguments, returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  info: async () => (await import("./info.ts")).infoCommand,
  prune: async () => (await import("./prune.ts")).pruneCommand,
};

/**
 * Run the CLI with the given arguments (without node and script path).
 * @returns the process exit code: 0 success, 1 user error, 2 internal error.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(HELP);
      return name === undefined ? 1 : 0;
    }
    if (name === "--version" || name === "-v") {
      const pkg = await import("../../package.json", { with: { type: "json" } });
      process.stdout.write(`${pkg.default.version}\n`);
      return 0;
    }
    const load = COMMANDS[name];
    if (load === undefined) {
      throw new PrunekitError(
        "USAGE",
        `unknown command "${name}"; expected one of: ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    return await (await load())(rest);
  } catch (e) {
    return reportError(e);
  }
}

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

/** Parse a number option, naming the flag in the error. */
export function parseNumberFlag(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new PrunekitError("USAGE", `${flag} expects a number in [${min}, ${max}], got "${value ?? ""}"`);
  }
  return n;
}
