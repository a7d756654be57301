// Node and Deno file access for ONNX models. Kept out of src/onnx/ so browser bundles never
// import node:fs.
import { readFile, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { PrunekitError } from "../errors.ts";
import { type LoadedOnnx, type LoadOnnxOptions, loadOnnx, type ReadModelFile } from "../onnx/load.ts";

/**
 * A {@link ReadModelFile} reading files of one folder. Besides the sanitising done when external
 * references are parsed, it resolves symbolic links and refuses any file whose real path is
 * outside the folder.
 *
 * @param baseDir the model's folder.
 * @returns the reader.
 * @example
 * const loaded = await loadOnnx(bytes, { readFile: folderFileReader("models/resnet") });
 */
export function folderFileReader(baseDir: string): ReadModelFile {
  return async (relativePath: string): Promise<Uint8Array> => {
    const root = await realpath(resolve(baseDir));
    const target = resolve(root, relativePath);
    let real: string;
    try {
      real = await realpath(target);
    } catch (e) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `external data file "${relativePath}" not found in the model's folder ${JSON.stringify(baseDir)} (${e instanceof Error ? e.message : String(e)})`,
        { cause: e },
      );
    }
    const rel = relative(root, real);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `external data file "${relativePath}" resolves outside the model's folder (through a symbolic link); refused`,
      );
    }
    const buffer = await readFile(real);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  };
}

/**
 * Read, decode and validate an `.onnx` file, with its external data from the same folder.
 *
 * @param path path of the `.onnx` file.
 * @param options limits (see loadOnnx); `readFile` defaults to the file's folder.
 * @returns the loaded model.
 * @throws PrunekitError `IO_ERROR` when the file cannot be read, else as loadOnnx.
 * @example
 * const { model } = await loadOnnxFile("resnet.onnx");
 */
export async function loadOnnxFile(path: string, options: LoadOnnxOptions = {}): Promise<LoadedOnnx> {
  let buffer: Uint8Array;
  try {
    buffer = await readFile(path);
  } catch (e) {
    throw new PrunekitError(
      "IO_ERROR",
      `cannot read model file ${JSON.stringify(path)}: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return loadOnnx(bytes, { readFile: folderFileReader(dirname(resolve(path))), ...options });
}
