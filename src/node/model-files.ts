// Node and Deno file access for ONNX models. Kept out of src/onnx/ so browser bundles never
// import node:fs.
import { constants } from "node:fs";
import { type FileHandle, open, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { isPrunekitError, PrunekitError, quoteName } from "../errors.ts";
import {
  type FileRange,
  type LoadedOnnx,
  type LoadOnnxOptions,
  loadOnnx,
  type ReadModelFile,
} from "../onnx/load.ts";
import { readInputFile } from "./files.ts";

/**
 * A {@link ReadModelFile} reading files of one folder. Besides the sanitising done when external
 * references are parsed, it resolves symbolic links and refuses any file whose real path is
 * outside the folder, refuses anything that is not a regular file (a named pipe would block forever,
 * a device would never end), and reads only the requested range.
 *
 * @param baseDir the model's folder.
 * @returns the reader.
 * @throws PrunekitError `EXTERNAL_DATA` (from the reader) for a missing, outside, non-regular or too
 *   short file.
 * @example
 * const loaded = await loadOnnx(bytes, { readFile: folderFileReader("models/resnet") });
 */
export function folderFileReader(baseDir: string): ReadModelFile {
  return async (relativePath: string, range?: FileRange): Promise<Uint8Array> => {
    const shown = quoteName(relativePath);
    const root = await realpath(resolve(baseDir));
    const target = resolve(root, relativePath);
    let real: string;
    try {
      real = await realpath(target);
    } catch (e) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `external data file ${shown} not found in the model's folder ${quoteName(baseDir)} (${e instanceof Error ? e.message : String(e)})`,
        { cause: e },
      );
    }
    const rel = relative(root, real);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `external data file ${shown} resolves outside the model's folder (through a symbolic link); refused`,
      );
    }
    return readRegularFile(real, shown, range);
  };
}

/** O_NONBLOCK where the platform has it: opening a named pipe that slipped past stat() must not block. */
const OPEN_NONBLOCK = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Largest single read (fs reads are limited to 2 GiB - 1 bytes per call). */
const READ_CHUNK = 2 ** 30;

/**
 * Bytes `range` (or all) of a regular file. Checks isFile() before opening and again on the open handle,
 * and checks the range against the file's size before allocating.
 */
async function readRegularFile(
  path: string,
  shown: string,
  range: FileRange | undefined,
): Promise<Uint8Array> {
  const notRegular = () =>
    new PrunekitError(
      "EXTERNAL_DATA",
      `external data file ${shown} is not a regular file (a named pipe, device or folder); refused`,
    );
  let handle: FileHandle;
  try {
    if (!(await stat(path)).isFile()) throw notRegular();
    handle = await open(path, OPEN_NONBLOCK);
  } catch (e) {
    if (isPrunekitError(e)) throw e;
    throw new PrunekitError(
      "EXTERNAL_DATA",
      `cannot read external data file ${shown} (${e instanceof Error ? e.message : String(e)})`,
      { cause: e },
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular();
    const byteOffset = range?.byteOffset ?? 0;
    const byteLength = range?.byteLength ?? info.size;
    if (byteOffset + byteLength > info.size) {
      throw new PrunekitError(
        "EXTERNAL_DATA",
        `external data at offset ${byteOffset} with ${byteLength} bytes goes past the end of ${shown} (${info.size} bytes)`,
      );
    }
    const out = new Uint8Array(byteLength);
    let done = 0;
    while (done < byteLength) {
      const want = Math.min(READ_CHUNK, byteLength - done);
      const { bytesRead } = await handle.read(out, done, want, byteOffset + done);
      if (bytesRead === 0) {
        throw new PrunekitError(
          "EXTERNAL_DATA",
          `external data file ${shown} ended after ${byteOffset + done} bytes while reading ${byteLength} bytes from offset ${byteOffset} (was it truncated while being read?)`,
        );
      }
      done += bytesRead;
    }
    return out;
  } catch (e) {
    if (isPrunekitError(e)) throw e;
    throw new PrunekitError(
      "EXTERNAL_DATA",
      `cannot read external data file ${shown} (${e instanceof Error ? e.message : String(e)})`,
      { cause: e },
    );
  } finally {
    await handle.close();
  }
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
  const bytes = await readInputFile(path, "model");
  return loadOnnx(bytes, { readFile: folderFileReader(dirname(resolve(path))), ...options });
}
