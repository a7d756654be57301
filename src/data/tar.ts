// A small reader of tar archives (POSIX ustar, with pax `path` records and GNU long names), enough
// for the CIFAR-10 archive. Untrusted input: every header checksum and size is checked against the
// bytes present, and entries that would land outside the extraction folder (absolute paths, `..`,
// drive letters) or that are links or devices are refused.
//
// Header (512 bytes, POSIX.1-2001 ustar): name 0..100, mode 100, uid 108, gid 116, size 124..136
// (octal), mtime 136, chksum 148..156, typeflag 156, linkname 157, magic 257 "ustar", version 263,
// uname 265, gname 297, devmajor 329, devminor 337, prefix 345..500. Data follows in 512-byte blocks.
import { PrunekitError } from "../errors.ts";

/** One regular file or folder of an archive. */
export interface TarEntry {
  /** Relative path with `/` separators, checked to stay inside the extraction folder. */
  path: string;
  /** `file` or `directory`. */
  type: "file" | "directory";
  /** The file's bytes (a view into the archive); empty for folders. */
  data: Uint8Array;
}

const BLOCK = 512;

/**
 * List the entries of an uncompressed tar archive.
 *
 * @param bytes the whole archive.
 * @param archive the archive's name, used in error messages.
 * @returns regular files and folders in archive order (pax and long-name records applied).
 * @throws PrunekitError `DATA_INVALID` for a corrupt or truncated archive, a path leaving the folder,
 *   or a link, device or other special entry.
 * @example
 * for (const e of readTar(tarBytes, "cifar-10-binary.tar")) if (e.type === "file") save(e.path, e.data);
 */
export function readTar(bytes: Uint8Array, archive: string): TarEntry[] {
  const bad = (what: string) => new PrunekitError("DATA_INVALID", `${archive}: ${what}`);
  const entries: TarEntry[] = [];
  let at = 0;
  let longName: string | undefined;
  while (at + BLOCK <= bytes.length) {
    const header = bytes.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) return entries; // end of archive (two zero blocks; one suffices)
    const stored = parseOctal(header.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (stored !== sum) {
      throw bad(`header at byte ${at} has checksum ${stored}, computed ${sum}; the archive is corrupt`);
    }
    const size = parseOctal(header.subarray(124, 136));
    if (size === undefined) throw bad(`header at byte ${at} has an unreadable size field`);
    const dataStart = at + BLOCK;
    if (dataStart + size > bytes.length) {
      throw bad(
        `truncated: entry at byte ${at} needs ${size} bytes of data, ${bytes.length - dataStart} remain`,
      );
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156]!);
    if (type === "x") {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === "g") continue; // global pax header: no per-entry fields we use
    if (type === "L") {
      longName = cString(data);
      continue;
    }
    const ustar = cString(header.subarray(257, 263)) === "ustar";
    const prefix = ustar ? cString(header.subarray(345, 500)) : "";
    const name = longName ?? (prefix === "" ? "" : `${prefix}/`) + cString(header.subarray(0, 100));
    longName = undefined;
    const path = safePath(name);
    if (path === undefined) {
      throw bad(`entry "${name}" would be extracted outside the destination folder; refused`);
    }
    if (type === "0" || type === "\0" || type === "7") entries.push({ path, type: "file", data });
    else if (type === "5") entries.push({ path, type: "directory", data: data.subarray(0, 0) });
    else
      throw bad(
        `entry "${name}" has type "${type}" (a link or special file); only files and folders are extracted`,
      );
  }
  if (at === bytes.length && entries.length > 0) return entries;
  throw bad(`truncated: no end-of-archive block after ${entries.length} entries (${bytes.length} bytes)`);
}

/** A NUL-terminated field as a string (bytes as UTF-8). */
function cString(field: Uint8Array): string {
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal number field (NUL or space terminated); undefined if it holds anything else. */
function parseOctal(field: Uint8Array): number | undefined {
  const text = cString(field).trim();
  if (!/^[0-7]+$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

/** The `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(data: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(data);
  let path: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) path = m[1];
  }
  return path;
}

/** `name` as a relative `/`-separated path inside the folder, or undefined if it would leave it. */
function safePath(name: string): string | undefined {
  if (name === "" || name.startsWith("/") || name.includes("\\") || /^[A-Za-z]:/.test(name)) return undefined;
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.some((p) => p === ".." || p.includes(":"))) return undefined;
  return parts.join("/");
}
