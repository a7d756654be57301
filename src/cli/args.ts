// Argument parsing shared by every command: each failure is a USAGE PrunekitError naming the flag.
import { parseArgs } from "node:util";
import { PrunekitError } from "../errors.ts";

/** parseArgs with errors turned into USAGE PrunekitErrors. */
export function parseCli<T extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(
  argv: string[],
  options: T,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  // `--ratio -1`: a negative number after an option that takes a value is that value (parseArgs would
  // refuse it as an ambiguous flag), so range checks can name the flag in one line.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    const spec = name === undefined ? undefined : (options as Record<string, { type?: string }>)[name];
    if (spec?.type === "string" && next !== undefined && /^-(\d|\.\d|Infinity|NaN)/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return {
      values: r.values as Record<string, string | boolean | string[] | undefined>,
      positionals: r.positionals,
    };
  } catch (e) {
    // parseArgs explains on several lines; the CLI promises one.
    let message = (e as Error).message.split("\n")[0]!;
    const unknown = /^Unknown option '(--?[^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const near = nearestOption(unknown.replace(/^-+/, ""), Object.keys(options ?? {}));
      message = `unknown option ${unknown}${near === undefined ? "" : `; did you mean --${near}?`}`;
    }
    throw new PrunekitError("USAGE", message, { cause: e });
  }
}

/** Parse a number option, naming the flag in the error. */
export function parseNumberFlag(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new PrunekitError("USAGE", `${flag} expects a number in [${min}, ${max}], got "${value ?? ""}"`);
  }
  return n;
}

/**
 * Parse a byte count with an optional binary suffix: `8G` (8 GiB), `512M`, `1.5G`, `64K`, `2T`, or plain
 * bytes; `GB`, `GiB` and lower case are accepted as the same multiples of 1024.
 * @throws PrunekitError `USAGE` naming the flag.
 */
export function parseBytesFlag(flag: string, value: string | undefined): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value ?? "");
  const scale = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 } as const;
  const bytes =
    m === null ? Number.NaN : Number(m[1]) * (m[2] === undefined ? 1 : scale[m[2].toLowerCase() as "k"]);
  if (!(bytes >= 1) || !Number.isFinite(bytes)) {
    throw new PrunekitError(
      "USAGE",
      `${flag} expects a size in bytes with an optional K, M, G or T suffix (e.g. 8G, 512M), got "${value ?? ""}"`,
    );
  }
  return Math.floor(bytes);
}

/** Parse repeatable `NAME=VALUE[,NAME=VALUE...]` items into numbers in [min, max] by name. */
export function parsePairs(flag: string, items: string[], min: number, max: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items.flatMap((s) => s.split(","))) {
    const eq = item.lastIndexOf("=");
    if (eq <= 0) throw new PrunekitError("USAGE", `${flag} expects NAME=VALUE, got "${item}"`);
    out[item.slice(0, eq)] = parseNumberFlag(`${flag} ${item.slice(0, eq)}`, item.slice(eq + 1), min, max);
  }
  return out;
}

/** `value` if it is one of `allowed`, undefined if the flag was not given, else a USAGE error. */
export function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new PrunekitError("USAGE", `${flag} expects one of ${allowed.join(", ")}, got "${String(value)}"`);
}

/** The option name closest to `given` (edit distance at most 2, or a prefix), if any. */
export function nearestOption(given: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = n.startsWith(given) || given.startsWith(n) ? 1 : editDistance(given, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** Parse `N[,N...]` (one number or a comma-separated list); undefined when the flag was not given. */
export function parseNumberList(flag: string, text: unknown): number[] | undefined {
  if (text === undefined) return undefined;
  const str = String(text);
  const values = str.split(",").map((t) => Number(t.trim()));
  if (str.trim() === "" || values.some((v) => !Number.isFinite(v))) {
    throw new PrunekitError(
      "USAGE",
      `${flag} expects one number or a comma-separated list, got ${JSON.stringify(str)}`,
    );
  }
  return values;
}

/** Parse an integer option in [min, max]; undefined when the flag was not given. */
export function parseIntegerFlag(flag: string, text: unknown, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = parseNumberFlag(flag, String(text), min, max);
  if (!Number.isInteger(n))
    throw new PrunekitError("USAGE", `${flag} must be an integer, got "${String(text)}"`);
  return n;
}

/** The fine-tuning checkpoint inside a --checkpoint / --resume folder (finetune, prune --finetune-epochs). */
export const CHECKPOINT_FILE = "prunekit-checkpoint.bin";

/** A training method's state (gate's Tick-Tock) inside a prune --checkpoint / --resume folder. */
export const METHOD_CHECKPOINT_FILE = "prunekit-method.bin";
