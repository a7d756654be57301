import { PrunekitError } from "../errors.ts";
import { reportError } from "./report-error.ts";

const HELP = `prunekit: structural pruning of convolutional networks (ONNX in, ONNX out)

Usage:
  prunekit info <model.onnx> [--json]
  prunekit prune <in.onnx> -o <out.onnx> --method <l1|l2|merge|epruner|gate> [options]
                [--report-md FILE] [--chart FILE] [--json]
  prunekit prune <in.onnx> --method NAME [options] --dry-run [--json]
  prunekit eval <model.onnx> --data SPEC [--limit N] [--json]
  prunekit compare <a.onnx> <b.onnx> --data SPEC [--limit N] [--json]
  prunekit scores <model.onnx> --data SPEC [--batches N] [--json]
  prunekit finetune <model.onnx> -o <out.onnx> --data SPEC --epochs N [--lr X] [options]
  prunekit download <fashion-mnist|cifar10> [--cache DIR] [--json]
  prunekit --help | --version

Every command takes --json (its result as JSON on stdout) and --quiet (no progress bar).

Examples:
  prunekit info model.onnx
  prunekit prune model.onnx --method merge --ratio 0.5 --dry-run
  prunekit prune model.onnx -o small.onnx --method merge --ratio 0.5 --report-md report.md --chart channels.svg
  prunekit compare model.onnx small.onnx --data fashion-mnist --limit 2000

Run "prunekit <command> --help" for the options and an example of one command.

Exit codes:
  0  success
  1  user error (bad arguments, unreadable or invalid model, unwritable output): one line on stderr,
     "prunekit: CODE: message"; a failed command leaves no output file behind
  2  internal error (a bug in prunekit; PRUNEKIT_DEBUG=1 prints the stack trace)
`;

/** A command: parses its own arguments, returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  info: async () => (await import("./info.ts")).infoCommand,
  prune: async () => (await import("./prune.ts")).pruneCommand,
  eval: async () => (await import("./eval.ts")).evalCommand,
  compare: async () => (await import("./compare.ts")).compareCommand,
  download: async () => (await import("./download.ts")).downloadCommand,
  finetune: async () => (await import("./finetune.ts")).finetuneCommand,
  scores: async () => (await import("./scores.ts")).scoresCommand,
};

/**
 * Run the CLI with the given arguments (without node and script path).
 * @returns the process exit code: 0 success, 1 user error, 2 internal error.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      process.stderr.write("prunekit: USAGE: no command given; the commands are listed below\n");
      process.stdout.write(HELP);
      return 1;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(HELP);
      return 0;
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
