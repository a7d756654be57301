// A minimal ustar writer for tests (POSIX.1-2001 header layout), independent of src/data/tar.ts.

export interface TarInput {
  name: string;
  data?: Uint8Array;
  /** Type flag: "0" file (default), "5" folder, "2" symlink, "x" pax header, "L" GNU long name. */
  type?: string;
  /** Value stored in the ustar prefix field. */
  prefix?: string;
}

function field(header: Uint8Array, at: number, len: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > len) throw new Error(`tar field too long: ${text}`);
  header.set(bytes, at);
}

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, "0")}\0`;
}

/** One 512-byte header plus data padded to 512 bytes. */
export function tarEntry(e: TarInput): Uint8Array {
  const data = e.data ?? new Uint8Array(0);
  const header = new Uint8Array(512);
  field(header, 0, 100, e.name);
  field(header, 100, 8, octal(0o644, 8));
  field(header, 108, 8, octal(0, 8));
  field(header, 116, 8, octal(0, 8));
  field(header, 124, 12, octal(data.length, 12));
  field(header, 136, 12, octal(0, 12));
  field(header, 156, 1, e.type ?? "0");
  field(header, 257, 6, "ustar\0");
  field(header, 263, 2, "00");
  if (e.prefix !== undefined) field(header, 345, 155, e.prefix);
  // Checksum: sum of all header bytes with the checksum field taken as 8 spaces.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((s, b) => s + b, 0);
  field(header, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const out = new Uint8Array(512 + Math.ceil(data.length / 512) * 512);
  out.set(header);
  out.set(data, 512);
  return out;
}

/** A whole archive: the entries, then two zero blocks. */
export function tarArchive(entries: TarInput[]): Uint8Array {
  const parts = [...entries.map(tarEntry), new Uint8Array(1024)];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A pax extended-header record "<len> path=<value>\n" (the length counts the whole record). */
export function paxPathRecord(path: string): Uint8Array {
  const body = ` path=${path}\n`;
  let len = body.length + 1;
  while (`${len}${body}`.length !== len) len++;
  return new TextEncoder().encode(`${len}${body}`);
}
