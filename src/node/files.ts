import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { PrunekitError, quoteName } from "../errors.ts";

/** Read a whole file, turning fs errors into IO_ERROR with the path in the message. */
export async function readInputFile(path: string, what = "input"): Promise<Uint8Array> {
  try {
    const info = await stat(path);
    if (!info.isFile())
      throw new PrunekitError("IO_ERROR", `${what} ${quoteName(path)} is not a regular file`);
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    if (e instanceof PrunekitError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable" : String(e);
    throw new PrunekitError("IO_ERROR", `cannot read ${what} ${quoteName(path)}: ${why}`, { cause: e });
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return resolve(a) === resolve(b);
  }
}

/** Throw USAGE if `path` names one of the `protect` files (the input model, say). */
export async function refuseOverwrite(path: string, protect: string[]): Promise<void> {
  for (const p of protect) {
    if (await sameFile(path, p)) {
      throw new PrunekitError("USAGE", `refusing to overwrite ${quoteName(p)}; choose another output path`);
    }
  }
}

/**
 * Throw IO_ERROR if `path` is an existing folder (an output must name a file). Call it before any work,
 * so that a run is not wasted on an output that cannot be written.
 * @example
 * await refuseDirectory("out/"); // IO_ERROR: output path "out/" is a directory; ...
 */
export async function refuseDirectory(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) {
    throw new PrunekitError(
      "IO_ERROR",
      `output path ${quoteName(path)} is a directory; name a file (e.g. ${quoteName(join(path, "model.onnx"))})`,
    );
  }
}

/**
 * Write `data` to `path` atomically: write a temporary file in the same folder, fsync, rename.
 * Never overwrites `protect` (the input file). A failure leaves no partial file behind.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  protect: string[] = [],
): Promise<void> {
  for (const p of protect) {
    if (await sameFile(path, p)) {
      throw new PrunekitError(
        "USAGE",
        `refusing to overwrite the input file ${quoteName(p)}; choose another output path`,
      );
    }
  }
  await refuseDirectory(path);
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    // Best effort: when the folder cannot exist (a regular file on the way: ENOTDIR) there is no
    // temporary file either, and the cleanup's own error must not hide the real one.
    await rm(tmp, { force: true }).catch(() => {});
    if (e instanceof PrunekitError) throw e;
    throw new PrunekitError("IO_ERROR", `cannot write ${quoteName(path)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** One file of {@link writeFilesAtomic}. */
export interface OutputFile {
  path: string;
  /** The contents, or a function that renders them when the file's turn comes (after the earlier files). */
  data: Uint8Array | string | (() => Uint8Array | string);
}

/**
 * Write several files atomically, all or nothing: each one as {@link writeFileAtomic}, and when one
 * fails the ones already written are removed before the error is rethrown. Refuses (USAGE, nothing
 * written) when two outputs name the same file or one names a `protect` file, and (IO_ERROR) when one
 * is an existing folder.
 */
export async function writeFilesAtomic(files: readonly OutputFile[], protect: string[] = []): Promise<void> {
  for (const f of files) await refuseDirectory(f.path);
  for (let i = 0; i < files.length; i++) {
    await refuseOverwrite(files[i]!.path, [...protect, ...files.slice(0, i).map((f) => f.path)]);
  }
  const written: string[] = [];
  try {
    for (const f of files) {
      await writeFileAtomic(f.path, typeof f.data === "function" ? f.data() : f.data, protect);
      written.push(f.path);
    }
  } catch (e) {
    for (const p of written) await rm(p, { force: true }).catch(() => {});
    throw e;
  }
}
