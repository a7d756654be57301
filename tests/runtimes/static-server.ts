// A minimal HTTP server on 127.0.0.1 for browser tests: in-memory files plus read-only folders.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";

const MIME: Record<string, string> = {
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
};

/** A running server; `origin` is like `http://127.0.0.1:40123`. */
export interface StaticServer {
  readonly origin: string;
  /** Every requested path, in order, with its status: "200 /build/prunekit.wasm". */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

/**
 * Serve `files` (URL path → content) and, under each `folders` URL prefix (ending in "/"), the files
 * of a local directory. Only GET and HEAD; anything else, or a path leaving a folder, is refused.
 */
export async function startStaticServer(
  files: ReadonlyMap<string, string | Uint8Array>,
  folders: ReadonlyMap<string, string>,
): Promise<StaticServer> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const send = (status: number, body: string | Uint8Array, type = "text/plain; charset=utf-8") => {
      requests.push(`${status} ${path}`);
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed");
    const type = MIME[extname(path)] ?? "application/octet-stream";
    const inMemory = files.get(path);
    if (inMemory !== undefined) return send(200, inMemory, type);
    for (const [prefix, dir] of folders) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(normalize(dir) + sep)) return send(403, "forbidden");
      try {
        return send(200, await readFile(file), type);
      } catch (e) {
        return send(404, `not found: ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
    }
    send(404, `not found: ${path}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
