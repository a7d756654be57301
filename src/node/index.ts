// Node and Deno helpers: load a model from a path (with its external data), write one atomically;
// datasets from disk and the download I/O.
import { dirname } from "node:path";
import { type LoadModelOptions, loadModel, type Model } from "../api.ts";
import { readInputFile, writeFileAtomic } from "./files.ts";

export {
  defaultDataCacheDir,
  type LoadImagesFromDiskOptions,
  loadImagesFromDisk,
  type NodeDataIo,
  nodeDataIo,
  nodeReadDataFile,
} from "./data-files.ts";
export { nodeDownloadIo } from "./download-files.ts";
export { startNodePartnerWorkers } from "./partner-workers.ts";
export { coreCount, createNodeTrainWorkers } from "./train-workers.ts";

import { folderFileReader } from "./model-files.ts";

/**
 * Load an ONNX file; external data is read from files inside the model's folder only.
 * @throws PrunekitError `IO_ERROR`, `ONNX_DECODE`, `ONNX_INVALID`, `EXTERNAL_DATA`.
 * @example
 * const model = await loadModelFile("model.onnx");
 */
export async function loadModelFile(path: string, options: LoadModelOptions = {}): Promise<Model> {
  const bytes = await readInputFile(path, "model");
  return loadModel(bytes, { readFile: folderFileReader(dirname(path)), ...options });
}

/**
 * Write bytes to `path` atomically (temporary file, then rename), never over a file in `protect`.
 * @throws PrunekitError `IO_ERROR`, `USAGE` (would overwrite a protected file).
 * @example
 * await saveFile("small.onnx", result.bytes, ["model.onnx"]);
 */
export async function saveFile(
  path: string,
  data: Uint8Array | string,
  protect: string[] = [],
): Promise<void> {
  await writeFileAtomic(path, data, protect);
}
