import { DOWNLOAD_NAMES, type DownloadName, downloadDataset } from "../data/download.ts";
import { PrunekitError } from "../errors.ts";
import { defaultDataCacheDir } from "../node/data-files.ts";
import { nodeDownloadIo } from "../node/download-files.ts";
import { parseCli } from "./args.ts";
import { progressBar } from "./progress.ts";

const HELP = `Usage: prunekit download <fashion-mnist|cifar10> [--cache DIR] [--base-url URL] [--json] [--quiet]

Fetches a dataset from its official location into the cache folder ($PRUNEKIT_DATA_CACHE, else the
user's cache folder), checks the published MD5 of every file, resumes a cut download, and never
leaves a half-written file under its final name. eval and compare then find it with --data NAME.
  --cache DIR      cache folder
  --base-url URL   fetch from a mirror instead of the official host
  --json           print the result as JSON: name, dir (the folder for --data NAME:DIR) and files
  --quiet          no progress bar and no warnings

Example:
  prunekit download fashion-mnist && prunekit eval model.onnx --data fashion-mnist
`;

/** \`prunekit download\`. */
export async function downloadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    cache: { type: "string" },
    "base-url": { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0 || !(DOWNLOAD_NAMES as readonly string[]).includes(name)) {
    throw new PrunekitError(
      "USAGE",
      `expected one dataset name: ${DOWNLOAD_NAMES.join(" or ")} (see prunekit download --help)`,
    );
  }
  const result = await downloadDataset(name as DownloadName, {
    cacheDir: typeof values.cache === "string" ? values.cache : defaultDataCacheDir(),
    io: nodeDownloadIo(),
    ...(typeof values["base-url"] === "string" ? { baseUrl: values["base-url"] } : {}),
    ...(values.quiet || values.json ? {} : { onProgress: progressBar() }),
    onWarning: (m) => {
      if (!values.quiet) process.stderr.write(`prunekit: warning: ${m}\n`);
    },
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${result.name} in ${result.dir}\n`);
  return 0;
}
