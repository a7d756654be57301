// Reading dataset files through an injected reader: path joining that keeps URL prefixes and Windows
// folders intact, and "the first of these names that exists".
import { PrunekitError } from "../errors.ts";
import type { ReadDataFile } from "./fashion-mnist.ts";

/**
 * `dir` joined with `name` by a `/` unless `dir` already ends with `/` or `\`. Forward slashes work in
 * URL prefixes and on Windows, so a folder such as `C:\data` stays usable.
 */
export function joinDataPath(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? `${dir}${name}` : `${dir}/${name}`;
}

/** A file that was found: its path and bytes. */
export interface FoundFile {
  path: string;
  bytes: Uint8Array;
}

/** Thrown by {@link readFirst} when no candidate could be read. */
export class FilesNotFound extends PrunekitError {
  /** Every path tried, in order. */
  readonly tried: readonly string[];
  constructor(tried: readonly string[], first: unknown, what: string) {
    const why = first instanceof Error ? first.message : String(first);
    super("IO_ERROR", `cannot read ${what} ${tried.join(" or ")} (${why})`, { cause: first });
    this.tried = tried;
  }
}

/**
 * Read the first of `paths` that can be read.
 *
 * @param paths candidates, in order.
 * @param readFile the injected reader.
 * @param what what the file is, for the message (e.g. "Fashion-MNIST file").
 * @returns the path read and its bytes.
 * @throws FilesNotFound (code `IO_ERROR`) naming every path tried and the first failure.
 */
export async function readFirst(
  paths: readonly string[],
  readFile: ReadDataFile,
  what: string,
): Promise<FoundFile> {
  let first: unknown;
  for (const path of paths) {
    try {
      return { path, bytes: await readFile(path) };
    } catch (e) {
      first ??= e;
    }
  }
  throw new FilesNotFound(paths, first, what);
}
