// downloadDataset against a local node:http server on 127.0.0.1 serving files built here (the
// shipped Fashion-MNIST slice, a small CIFAR-10-shaped archive), with checksum overrides, so no test
// needs the real files or the internet. The Node I/O (nodeDownloadIo) writes to a temporary folder.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { gzipSync } from "node:zlib";
import { DATASET_FILES, type DownloadOptions, downloadDataset } from "../../src/data/download.ts";
import { loadImages } from "../../src/data/spec.ts";
import { nodeDownloadIo } from "../../src/node/download-files.ts";
import { tarArchive } from "./tar-writer.ts";
import { rejectsWith } from "./typed-errors.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url);
const FM_FILES = DATASET_FILES["fashion-mnist"].map((f) => f.file);
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** What the server serves, by URL path. */
const served = new Map<string, Uint8Array>();
for (const f of FM_FILES) served.set(`/fm/${f}`, new Uint8Array(readFileSync(new URL(f, sliceDir))));
const fmChecksums = Object.fromEntries(FM_FILES.map((f) => [f, md5(served.get(`/fm/${f}`)!)]));

// A CIFAR-10-shaped archive: cifar-10-batches-bin/ with six small batch files and a readme.
const cifarNames = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat("test_batch.bin");
const cifarContents = new Map(
  cifarNames.map((n, i) => [n, Uint8Array.from({ length: 3073 }, (_, j) => (i + j) % 10)]),
);
const cifarTarGz = new Uint8Array(
  gzipSync(
    tarArchive([
      { name: "cifar-10-batches-bin/", type: "5" },
      ...cifarNames.map((n) => ({ name: `cifar-10-batches-bin/${n}`, data: cifarContents.get(n)! })),
      { name: "cifar-10-batches-bin/readme.html", data: new TextEncoder().encode("<p>hi</p>") },
    ]),
  ),
);
served.set("/c10/cifar-10-binary.tar.gz", cifarTarGz);
served.set(
  "/evil/cifar-10-binary.tar.gz",
  new Uint8Array(gzipSync(tarArchive([{ name: "../outside.txt", data: new TextEncoder().encode("x") }]))),
);

interface Seen {
  path: string;
  range: string | undefined;
}
/** Requests seen since the last reset. */
let seen: Seen[] = [];
/** Behaviour switches, reset before each test. */
let behaviour: { ignoreRange: boolean; cutOnce: Set<string>; stall: Set<string> } = {
  ignoreRange: false,
  cutOnce: new Set(),
  stall: new Set(),
};

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? "";
  const range = req.headers.range;
  seen.push({ path, range });
  const body = served.get(path);
  if (body === undefined) {
    res.writeHead(404, "Not Found").end("no such file");
    return;
  }
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(range ?? "");
  if (m && !behaviour.ignoreRange) {
    start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { "Content-Range": `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, {
      "Content-Length": body.length - start,
      "Content-Range": `bytes ${start}-${body.length - 1}/${body.length}`,
    });
  } else {
    res.writeHead(200, { "Content-Length": body.length });
  }
  const rest = body.subarray(start);
  if (behaviour.cutOnce.delete(path) || behaviour.stall.has(path)) {
    // Half the body, flushed, then the connection is cut (or left hanging).
    const half = Math.floor(rest.length / 2);
    res.write(rest.subarray(0, half), () => {
      if (!behaviour.stall.has(path)) setTimeout(() => res.socket?.destroy(), 20);
    });
    return;
  }
  res.end(rest);
}

let server: Server;
let base: string;
let cacheDir: string;
let scratch: string;

before(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  scratch = mkdtempSync(join(tmpdir(), "prunekit-download-"));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

let run = 0;
beforeEach(() => {
  seen = [];
  behaviour = { ignoreRange: false, cutOnce: new Set(), stall: new Set() };
  cacheDir = join(scratch, `cache-${run++}`);
});

function fmOptions(extra: Partial<DownloadOptions> = {}): DownloadOptions {
  return { cacheDir, io: nodeDownloadIo(), baseUrl: `${base}/fm/`, checksums: fmChecksums, ...extra };
}

const fmDir = () => join(cacheDir, "fashion-mnist");
const fileBytes = (p: string) => new Uint8Array(readFileSync(p));

test("fresh download: four files fetched whole, verified, renamed; the folder loads", async () => {
  const progress: number[] = [];
  const result = await downloadDataset(
    "fashion-mnist",
    fmOptions({ onProgress: (e) => progress.push(e.done) }),
  );
  assert.equal(result.dir, `${cacheDir}/fashion-mnist`);
  assert.deepEqual(
    seen.map((s) => [s.path, s.range]),
    FM_FILES.map((f) => [`/fm/${f}`, undefined]),
  );
  assert.deepEqual(
    result.files.map((f) => [f.file, f.fetched, f.url]),
    FM_FILES.map((f) => [f, true, `${base}/fm/${f}`]),
  );
  for (const f of FM_FILES) {
    assert.deepEqual(fileBytes(join(fmDir(), f)), served.get(`/fm/${f}`), f);
    assert.ok(!existsSync(join(fmDir(), `${f}.part`)), `${f}.part left behind`);
  }
  assert.ok(progress.length >= 8);
  const readFile = async (p: string) => fileBytes(p);
  const fromCache = await loadImages(
    { kind: "fashion-mnist" },
    { split: "test", limit: 10, readFile, cacheDir },
  );
  assert.deepEqual([...fromCache.labels], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
});

test("cache hit: files with the right checksum are not requested again", async () => {
  await downloadDataset("fashion-mnist", fmOptions());
  seen = [];
  const again = await downloadDataset("fashion-mnist", fmOptions());
  assert.deepEqual(seen, []);
  assert.deepEqual(
    again.files.map((f) => f.fetched),
    [false, false, false, false],
  );
});

test("a cached file with a wrong checksum is reported and fetched again", async () => {
  mkdirSync(fmDir(), { recursive: true });
  for (const f of FM_FILES) writeFileSync(join(fmDir(), f), served.get(`/fm/${f}`)!);
  writeFileSync(join(fmDir(), FM_FILES[1]!), "not the file");
  const warnings: string[] = [];
  const result = await downloadDataset("fashion-mnist", fmOptions({ onWarning: (w) => warnings.push(w) }));
  assert.deepEqual(
    seen.map((s) => s.path),
    [`/fm/${FM_FILES[1]}`],
  );
  assert.deepEqual(
    result.files.map((f) => f.fetched),
    [false, true, false, false],
  );
  assert.deepEqual(fileBytes(join(fmDir(), FM_FILES[1]!)), served.get(`/fm/${FM_FILES[1]}`));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cached file has MD5 [0-9a-f]{32}, expected/);
});

test("resume: a connection cut mid-body is retried with a Range request and completes", async () => {
  const file = "t10k-images-idx3-ubyte.gz";
  behaviour.cutOnce.add(`/fm/${file}`);
  const warnings: string[] = [];
  await downloadDataset("fashion-mnist", fmOptions({ onWarning: (w) => warnings.push(w) }));
  const requests = seen.filter((s) => s.path === `/fm/${file}`);
  assert.equal(requests.length, 2);
  assert.equal(requests[0]!.range, undefined);
  const m = /^bytes=(\d+)-$/.exec(requests[1]!.range ?? "");
  assert.ok(m, `second request has Range ${requests[1]!.range}`);
  const from = Number(m[1]);
  assert.ok(from > 0 && from < served.get(`/fm/${file}`)!.length, `resumed from ${from}`);
  assert.deepEqual(fileBytes(join(fmDir(), file)), served.get(`/fm/${file}`));
  assert.ok(warnings.some((w) => w.includes(`${base}/fm/${file}`) && w.includes("retrying")));
});

test("resume across calls: with no retries the cut fails naming the URL, keeps the .part, the next call resumes", async () => {
  const file = "train-images-idx3-ubyte.gz";
  const full = served.get(`/fm/${file}`)!;
  behaviour.cutOnce.add(`/fm/${file}`);
  await rejectsWith(
    downloadDataset("fashion-mnist", fmOptions({ retries: 0 })),
    "DOWNLOAD_FAILED",
    `${base}/fm/${file}`,
    "connection",
    ".part is kept",
  );
  const part = join(fmDir(), `${file}.part`);
  const have = statSync(part).size;
  assert.ok(have > 0 && have < full.length, `the .part holds ${have} of ${full.length} bytes`);
  assert.deepEqual(fileBytes(part), full.subarray(0, have), "the .part is a prefix of the file");
  seen = [];
  await downloadDataset("fashion-mnist", fmOptions({ retries: 0 }));
  assert.deepEqual(
    seen.map((s) => [s.path, s.range]),
    [[`/fm/${file}`, `bytes=${have}-`], ...FM_FILES.slice(1).map((f) => [`/fm/${f}`, undefined])],
  );
  assert.deepEqual(fileBytes(join(fmDir(), file)), full);
  assert.ok(!existsSync(part));
});

test("a server that ignores Range: the .part is restarted from byte 0", async () => {
  const file = FM_FILES[0]!;
  const full = served.get(`/fm/${file}`)!;
  mkdirSync(fmDir(), { recursive: true });
  // 100 wrong bytes: appending the whole body to them would fail the checksum.
  writeFileSync(join(fmDir(), `${file}.part`), new Uint8Array(100).fill(0xee));
  behaviour.ignoreRange = true;
  const warnings: string[] = [];
  await downloadDataset("fashion-mnist", fmOptions({ onWarning: (w) => warnings.push(w) }));
  assert.equal(seen[0]!.range, "bytes=100-");
  assert.deepEqual(fileBytes(join(fmDir(), file)), full);
  assert.ok(warnings.some((w) => w.includes("ignored the Range request")));
});

test("a complete .part (the server answers 416) is verified and renamed", async () => {
  const file = FM_FILES[3]!;
  mkdirSync(fmDir(), { recursive: true });
  writeFileSync(join(fmDir(), `${file}.part`), served.get(`/fm/${file}`)!);
  const result = await downloadDataset("fashion-mnist", fmOptions());
  assert.equal(
    seen.find((s) => s.path === `/fm/${file}`)?.range,
    `bytes=${served.get(`/fm/${file}`)!.length}-`,
  );
  assert.equal(result.files[3]!.fetched, true);
  assert.deepEqual(fileBytes(join(fmDir(), file)), served.get(`/fm/${file}`));
});

test("checksum mismatch: DOWNLOAD_FAILED naming the URL; the .part is deleted and no file is left", async () => {
  const file = FM_FILES[2]!;
  const checksums = { ...fmChecksums, [file]: "0123456789abcdef0123456789abcdef" };
  await rejectsWith(
    downloadDataset("fashion-mnist", fmOptions({ checksums })),
    "DOWNLOAD_FAILED",
    `${base}/fm/${file}`,
    `checksum mismatch: the download has MD5 ${fmChecksums[file]}, expected 0123456789abcdef0123456789abcdef`,
    "deleted",
  );
  assert.ok(!existsSync(join(fmDir(), `${file}.part`)));
  assert.ok(!existsSync(join(fmDir(), file)));
  assert.ok(existsSync(join(fmDir(), FM_FILES[1]!)), "files before it are kept");
});

test("the published checksums are used by default (the slice does not match them)", async () => {
  await rejectsWith(
    downloadDataset("fashion-mnist", { cacheDir, io: nodeDownloadIo(), baseUrl: `${base}/fm` }),
    "DOWNLOAD_FAILED",
    "expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d",
  );
});

test("HTTP 404: DOWNLOAD_FAILED naming the URL, not retried", async () => {
  await rejectsWith(
    downloadDataset("fashion-mnist", fmOptions({ baseUrl: `${base}/missing/` })),
    "DOWNLOAD_FAILED",
    `${base}/missing/train-images-idx3-ubyte.gz: the server answered HTTP 404`,
  );
  assert.equal(seen.length, 1);
});

test("network error: DOWNLOAD_FAILED naming the URL after the retries", async () => {
  // A port with nothing listening: start a server, note its port, close it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const warnings: string[] = [];
  await rejectsWith(
    downloadDataset(
      "fashion-mnist",
      fmOptions({ baseUrl: `http://127.0.0.1:${port}/`, retries: 1, onWarning: (w) => warnings.push(w) }),
    ),
    "DOWNLOAD_FAILED",
    `http://127.0.0.1:${port}/train-images-idx3-ubyte.gz: network error`,
    "after 2 attempts",
  );
  assert.equal(warnings.length, 1);
});

test("abort: before the request and in the middle of the body (the .part is kept)", async () => {
  await rejectsWith(
    downloadDataset("fashion-mnist", fmOptions({ signal: AbortSignal.abort() })),
    "ABORTED",
    `${base}/fm/train-images-idx3-ubyte.gz`,
  );
  assert.equal(seen.length, 0);
  const file = "train-images-idx3-ubyte.gz";
  behaviour.stall.add(`/fm/${file}`);
  const controller = new AbortController();
  const pending = downloadDataset("fashion-mnist", {
    ...fmOptions({ signal: controller.signal }),
    onProgress: (e) => {
      if (e.done > 0) setTimeout(() => controller.abort(), 50);
    },
  });
  await rejectsWith(pending, "ABORTED", `${base}/fm/${file}`, "kept for resuming");
  assert.ok(statSync(join(fmDir(), `${file}.part`)).size > 0);
});

test("cifar10: the archive is verified, extracted to cifar-10-batches-bin/, and not fetched again", async () => {
  const options = {
    cacheDir,
    io: nodeDownloadIo(),
    baseUrl: `${base}/c10`,
    checksums: { "cifar-10-binary.tar.gz": md5(cifarTarGz).toUpperCase() },
  };
  const result = await downloadDataset("cifar10", options);
  assert.equal(result.dir, `${cacheDir}/cifar10`);
  assert.deepEqual(
    seen.map((s) => s.path),
    ["/c10/cifar-10-binary.tar.gz"],
  );
  for (const n of cifarNames) {
    assert.deepEqual(
      fileBytes(join(cacheDir, "cifar10", "cifar-10-batches-bin", n)),
      cifarContents.get(n),
      n,
    );
    assert.ok(!existsSync(join(cacheDir, "cifar10", "cifar-10-batches-bin", `${n}.part`)));
  }
  assert.equal(
    readFileSync(join(cacheDir, "cifar10", "cifar-10-batches-bin", "readme.html"), "utf8"),
    "<p>hi</p>",
  );
  seen = [];
  const again = await downloadDataset("cifar10", options);
  assert.deepEqual(seen, []);
  assert.equal(again.files[0]!.fetched, false);
  // A lost batch file: re-extracted from the cached archive, still no request.
  rmSync(join(cacheDir, "cifar10", "cifar-10-batches-bin", "test_batch.bin"));
  await downloadDataset("cifar10", options);
  assert.deepEqual(seen, []);
  assert.deepEqual(
    fileBytes(join(cacheDir, "cifar10", "cifar-10-batches-bin", "test_batch.bin")),
    cifarContents.get("test_batch.bin"),
  );
});

test("cifar10: an archive entry escaping the folder is refused and nothing is written outside", async () => {
  const evil = served.get("/evil/cifar-10-binary.tar.gz")!;
  await rejectsWith(
    downloadDataset("cifar10", {
      cacheDir,
      io: nodeDownloadIo(),
      baseUrl: `${base}/evil/`,
      checksums: { "cifar-10-binary.tar.gz": md5(evil) },
    }),
    "DATA_INVALID",
    '"../outside.txt"',
    "refused",
  );
  assert.ok(!existsSync(join(cacheDir, "outside.txt")));
});

test("INVALID_ARGUMENT for an unknown dataset or bad retries", async () => {
  await rejectsWith(
    downloadDataset("mnist" as "cifar10", fmOptions()),
    "INVALID_ARGUMENT",
    "fashion-mnist, cifar10",
  );
  await rejectsWith(
    downloadDataset("toString" as "cifar10", fmOptions()),
    "INVALID_ARGUMENT",
    "unknown dataset",
  );
  await rejectsWith(
    downloadDataset("fashion-mnist", fmOptions({ retries: -1 })),
    "INVALID_ARGUMENT",
    "retries",
  );
});
