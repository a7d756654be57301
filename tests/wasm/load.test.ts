// Loading prunekit.wasm from every kind of source, memoisation, and WASM_LOAD_FAILED errors.
//
// `loadWasm` memoises per process and the first call decides the source, so the cases about sources and
// failures use the unmemoised `instantiateWasm`, and the one case that needs a fresh memo (a failed
// load does not poison later ones) runs in a child Node process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { Arena } from "../../src/wasm/arena.ts";
import { createWasm, getWasm } from "../../src/wasm/instance.ts";
import { heapBase, instantiateWasm, loadWasm, setWasmSource, type WasmExports } from "../../src/wasm/load.ts";

const wasmUrl = new URL("../../build/prunekit.wasm", import.meta.url);
const wasmBytes = new Uint8Array(await readFile(wasmUrl));

/** Run reduce_row_sum on [1, 2, 3, 4, 5] in `exports` to prove the instance works. */
function sumOneToFive(exports: WasmExports): number {
  const arena = new Arena(exports.memory, heapBase(exports));
  const x = arena.copyInF32([1, 2, 3, 4, 5]);
  const out = arena.allocF32(1);
  (exports.reduce_row_sum as (...a: number[]) => void)(x.ptr, out.ptr, 1, 5);
  return arena.viewF32(out)[0]!;
}

async function assertRejectsWith(
  promise: Promise<unknown>,
  code: PrunekitErrorCode,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test("instantiateWasm loads from a Uint8Array and from an ArrayBuffer", async () => {
  assert.equal(sumOneToFive(await instantiateWasm(wasmBytes)), 15);
  const copy = wasmBytes.slice().buffer;
  assert.equal(sumOneToFive(await instantiateWasm(copy)), 15);
});

test("instantiateWasm loads from a file: URL object and a file: URL string", async () => {
  assert.equal(sumOneToFive(await instantiateWasm(wasmUrl)), 15);
  assert.equal(sumOneToFive(await instantiateWasm(wasmUrl.href)), 15);
});

test("instantiateWasm with no source loads build/prunekit.wasm next to the sources", async () => {
  const exports = await instantiateWasm();
  assert.equal(sumOneToFive(exports), 15);
  assert.ok(exports.memory instanceof WebAssembly.Memory);
  assert.equal(heapBase(exports) % 4, 0);
});

test("private instances of the default build share one compiled module (no compile per instance)", async () => {
  await instantiateWasm(); // the baseline build is compiled by now
  const realCompile = WebAssembly.compile;
  let compiles = 0;
  WebAssembly.compile = (bytes: BufferSource) => {
    compiles++;
    return realCompile(bytes);
  };
  try {
    const [a, b, c] = await Promise.all([instantiateWasm(), instantiateWasm(), createWasm()]);
    assert.equal(compiles, 0, "instances of the default build are only instantiated");
    assert.notEqual(a.memory, b.memory, "each instance still has its own memory");
    assert.notEqual(a.memory, c.exports.memory);
    assert.equal(sumOneToFive(a), 15);
    assert.equal(sumOneToFive(c.exports), 15);
    await instantiateWasm(wasmBytes);
    assert.equal(compiles, 1, "explicit bytes are compiled on every call");
  } finally {
    WebAssembly.compile = realCompile;
  }
});

/** Serve wasmBytes at /prunekit.wasm (404 elsewhere), counting the requests per path. */
async function withWasmServer(body: (origin: string, requests: Map<string, number>) => Promise<void>) {
  const requests = new Map<string, number>();
  const server = createServer((req, res) => {
    requests.set(req.url ?? "", (requests.get(req.url ?? "") ?? 0) + 1);
    if (req.url === "/prunekit.wasm") {
      res.writeHead(200, { "content-type": "application/wasm" });
      res.end(wasmBytes);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test("instantiateWasm loads over http and gives each call its own memory", async () => {
  await withWasmServer(async (origin) => {
    const a = await instantiateWasm(`${origin}/prunekit.wasm`);
    const b = await instantiateWasm(new URL(`${origin}/prunekit.wasm`));
    assert.equal(sumOneToFive(a), 15);
    assert.notEqual(a.memory, b.memory);
    await assertRejectsWith(instantiateWasm(`${origin}/missing.wasm`), "WASM_LOAD_FAILED", /HTTP 404/);
  });
});

test("garbage bytes fail with WASM_LOAD_FAILED and keep the cause", async () => {
  const garbage = new TextEncoder().encode("this is not a wasm module");
  await assert.rejects(instantiateWasm(garbage), (e: unknown) => {
    assert.ok(isPrunekitError(e));
    assert.equal(e.code, "WASM_LOAD_FAILED");
    assert.match(e.message, /could not load prunekit\.wasm/);
    assert.ok(e.cause instanceof Error, "the compile error is kept as the cause");
    return true;
  });
  await assertRejectsWith(instantiateWasm(new Uint8Array(0)), "WASM_LOAD_FAILED", /prunekit\.wasm/);
  // A valid module header followed by a truncated section.
  await assertRejectsWith(instantiateWasm(wasmBytes.subarray(0, 40)), "WASM_LOAD_FAILED", /prunekit\.wasm/);
});

test("a missing file fails with WASM_LOAD_FAILED naming the file", async () => {
  const missing = new URL("../../build/no-such-module.wasm", import.meta.url);
  await assertRejectsWith(instantiateWasm(missing), "WASM_LOAD_FAILED", /no-such-module\.wasm/);
});

test("loadWasm memoises: concurrent and later callers share one promise and one instance", async () => {
  const first = loadWasm();
  const second = loadWasm();
  assert.equal(first, second, "concurrent callers get the same promise");
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a, b);
  // The first call decided the source; a later, different source is ignored.
  assert.equal(await loadWasm(new Uint8Array(0)), a);
  const [w1, w2] = await Promise.all([getWasm(), getWasm()]);
  assert.equal(w1, w2, "getWasm shares one module and one arena");
  assert.equal(w1.exports, a, "getWasm uses the memoised module");
});

test("a failed loadWasm does not poison later calls (fresh process)", async () => {
  // Needs an empty memo, hence a child process.
  const loadTs = new URL("../../src/wasm/load.ts", import.meta.url).href;
  const script = `
    const { loadWasm } = await import(${JSON.stringify(loadTs)});
    const codes = [];
    await loadWasm(new Uint8Array([1, 2, 3])).catch((e) => codes.push(e.code));
    const exports = await loadWasm();
    console.log(JSON.stringify({ codes, hasKernel: typeof exports.reduce_row_sum === "function" }));
  `;
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "--eval", script],
    { cwd: root, timeout: 60_000 },
  );
  assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), {
    codes: ["WASM_LOAD_FAILED"],
    hasKernel: true,
  });
});

test("setWasmSource moves the default build: private instances read it once from the new URL", async () => {
  await withWasmServer(async (origin, requests) => {
    try {
      setWasmSource({ baseline: new URL(`${origin}/prunekit.wasm`) });
      const [a, b] = await Promise.all([createWasm(), createWasm()]);
      assert.equal(sumOneToFive(a.exports), 15);
      assert.notEqual(a.exports.memory, b.exports.memory);
      assert.equal(requests.get("/prunekit.wasm"), 1, "the new source is compiled once and shared");
      setWasmSource({ baseline: `${origin}/moved.wasm` });
      await assertRejectsWith(createWasm(), "WASM_LOAD_FAILED", /moved\.wasm: HTTP 404 .*setWasmSource/);
      setWasmSource({ baseline: undefined });
      assert.equal(sumOneToFive((await createWasm()).exports), 15, "undefined goes back to the file");
      assert.equal(requests.get("/prunekit.wasm"), 1);
      assert.equal(requests.get("/moved.wasm"), 1);
    } finally {
      setWasmSource({ baseline: undefined });
    }
  });
});

test("a relative URL string is resolved against the page's location where there is one, as fetch does", async () => {
  await withWasmServer(async (origin, requests) => {
    const scope = globalThis as { location?: { href: string } };
    scope.location = { href: `${origin}/app/page.html` };
    try {
      assert.equal(sumOneToFive(await instantiateWasm("../prunekit.wasm")), 15);
      await assertRejectsWith(
        instantiateWasm("prunekit.wasm"),
        "WASM_LOAD_FAILED",
        /\/app\/prunekit\.wasm: HTTP 404/,
      );
    } finally {
      delete scope.location;
    }
    assert.equal(requests.get("/prunekit.wasm"), 1);
  });
});

test("setWasmSource takes bytes per level, and an explicit source still wins", async () => {
  try {
    setWasmSource({ baseline: new Uint8Array([1, 2, 3]) });
    await assertRejectsWith(createWasm(), "WASM_LOAD_FAILED", /could not load prunekit\.wasm/);
    assert.equal(sumOneToFive((await createWasm({ source: wasmBytes })).exports), 15);
    setWasmSource({ baseline: wasmBytes.slice().buffer });
    assert.equal(sumOneToFive((await createWasm()).exports), 15);
  } finally {
    setWasmSource({ baseline: undefined });
  }
});

test("setWasmSource refuses unknown keys and non-sources with INVALID_ARGUMENT, changing nothing", async () => {
  const bad: unknown[] = [
    null,
    "prunekit.wasm",
    { default: wasmUrl },
    { baseline: 42 },
    { baseline: wasmUrl, relaxed: [1, 2] },
  ];
  for (const sources of bad) {
    assert.throws(
      () => setWasmSource(sources as Parameters<typeof setWasmSource>[0]),
      (e: unknown) => isPrunekitError(e) && e.code === "INVALID_ARGUMENT" && /setWasmSource/.test(e.message),
      JSON.stringify(sources),
    );
  }
  // The last one named a valid baseline next to the bad relaxed value: nothing was set.
  assert.equal(sumOneToFive((await createWasm()).exports), 15);
});

test("a file: URL where the runtime has no file system fails with WASM_LOAD_FAILED and the way out", async () => {
  // A page has no process.getBuiltinModule: prunekit then fetches, and fetch reads no file: URLs.
  const proc = process as { getBuiltinModule?: unknown };
  const real = proc.getBuiltinModule;
  proc.getBuiltinModule = undefined;
  try {
    await assertRejectsWith(
      instantiateWasm(wasmUrl),
      "WASM_LOAD_FAILED",
      /prunekit\.wasm: .*reads no file: URLs.*setWasmSource/,
    );
  } finally {
    proc.getBuiltinModule = real;
  }
  assert.equal(sumOneToFive(await instantiateWasm(wasmUrl)), 15);
});

test("setWasmSource also decides the shared instance that prune uses (fresh process)", async () => {
  // getWasm memoises its instance, hence a child process with an empty memo.
  const instanceTs = new URL("../../src/wasm/instance.ts", import.meta.url).href;
  const loadTs = new URL("../../src/wasm/load.ts", import.meta.url).href;
  const script = `
    const { getWasm } = await import(${JSON.stringify(instanceTs)});
    const { setWasmSource } = await import(${JSON.stringify(loadTs)});
    const codes = [];
    setWasmSource({ baseline: new Uint8Array([1, 2, 3]) });
    await getWasm().catch((e) => codes.push(e.code));
    setWasmSource({ baseline: new URL(${JSON.stringify(wasmUrl.href)}) });
    const w = await getWasm();
    console.log(JSON.stringify({ codes, hasKernel: typeof w.exports.reduce_row_sum === "function" }));
  `;
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "--eval", script],
    { cwd: root, timeout: 60_000 },
  );
  assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), {
    codes: ["WASM_LOAD_FAILED"],
    hasKernel: true,
  });
});
