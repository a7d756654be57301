// The data flags `eval` and `compare` share: --data, --split, --limit, --batch, --mean, --std.
import { dirname } from "node:path";
import { loadModel, type Model } from "../api.ts";
import type { RawImages } from "../data/images.ts";
import { PrunekitError } from "../errors.ts";
import { loadImagesFromDisk } from "../node/data-files.ts";
import { readInputFile } from "../node/files.ts";
import { folderFileReader } from "../node/model-files.ts";
import { oneOf, parseNumberFlag, parseNumberList } from "./args.ts";

/** parseArgs options of the data flags. */
export const DATA_FLAG_OPTIONS = {
  data: { type: "string" },
  split: { type: "string" },
  limit: { type: "string" },
  batch: { type: "string" },
  mean: { type: "string" },
  std: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help lines of the data flags. */
export const DATA_FLAG_HELP = `  --data SPEC        fashion-mnist (auto-detected), fashion-mnist:DIR, mnist:DIR or cifar10:DIR
  --split test|train which half of the dataset (default test)
  --limit N          the first N images only
  --batch B          images per forward run (default 64)
  --mean M[,M,M]     per-channel mean subtracted after scaling pixels to [0, 1] (default 0)
  --std S[,S,S]      per-channel std divided by after that (default 1)
  --json             print the result as JSON
  --quiet            no progress bar
`;

/** The dataset and evaluation options the flags describe. */
export interface DataFlags {
  images: RawImages;
  batch: number;
  limit?: number;
  mean?: number[];
  std?: number[];
}

/** Read the data flags and load the dataset (the limit applied while loading). */
export async function readDataFlags(values: Record<string, unknown>, command: string): Promise<DataFlags> {
  if (typeof values.data !== "string") {
    throw new PrunekitError("USAGE", `${command} needs --data SPEC (see prunekit ${command} --help)`);
  }
  const split = oneOf("--split", values.split, ["test", "train"] as const) ?? "test";
  const limit =
    values.limit === undefined ? undefined : parseNumberFlag("--limit", values.limit as string, 0, 1e9);
  if (limit !== undefined && !Number.isInteger(limit))
    throw new PrunekitError("USAGE", "--limit must be an integer");
  const batch =
    values.batch === undefined ? 64 : parseNumberFlag("--batch", values.batch as string, 1, 65536);
  if (!Number.isInteger(batch)) throw new PrunekitError("USAGE", "--batch must be an integer");
  const mean = parseNumberList("--mean", values.mean);
  const std = parseNumberList("--std", values.std);
  const images = await loadImagesFromDisk(values.data, { split, ...(limit === undefined ? {} : { limit }) });
  return {
    images,
    batch,
    ...(limit === undefined ? {} : { limit }),
    ...(mean === undefined ? {} : { mean }),
    ...(std === undefined ? {} : { std }),
  };
}

/** Load a model file (external data next to it). */
export async function readModelFile(path: string): Promise<Model> {
  const bytes = await readInputFile(path, "model");
  return loadModel(bytes, { readFile: folderFileReader(dirname(path)) });
}

/** A fraction as a percentage with two decimals. */
export function percent(f: number): string {
  return `${(100 * f).toFixed(2)} %`;
}
