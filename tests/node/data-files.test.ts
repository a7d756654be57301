import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FASHION_MNIST_DEFAULT_DIR } from "../../src/data/fashion-mnist.ts";
import { defaultDataCacheDir, loadImagesFromDisk, nodeDataIo } from "../../src/node/data-files.ts";
import { nodeDownloadIo } from "../../src/node/download-files.ts";
import { rejectsWith } from "../data/typed-errors.ts";

const sliceDir = new URL("../fixtures/fashion-mnist-slice/", import.meta.url).pathname;

test("defaultDataCacheDir: PRUNEKIT_DATA_CACHE, then XDG_CACHE_HOME, then ~/.cache", () => {
  assert.equal(defaultDataCacheDir({ PRUNEKIT_DATA_CACHE: "/d", XDG_CACHE_HOME: "/x" }), "/d");
  if (process.platform !== "win32") {
    assert.equal(defaultDataCacheDir({ XDG_CACHE_HOME: "/x" }), join("/x", "prunekit", "datasets"));
    assert.equal(
      defaultDataCacheDir({ PRUNEKIT_DATA_CACHE: "" }),
      join(homedir(), ".cache", "prunekit", "datasets"),
    );
  }
});

test("nodeDataIo: a reader, download I/O, process.env and the default cache", () => {
  const io = nodeDataIo();
  assert.equal(io.env, process.env);
  assert.equal(io.cacheDir, defaultDataCacheDir(process.env));
  assert.equal(typeof io.readFile, "function");
  assert.equal(typeof io.download.fetch, "function");
});

test("loadImagesFromDisk reads a spec string from disk", async () => {
  const set = await loadImagesFromDisk(`fashion-mnist:${sliceDir}`, { split: "train", limit: 5 });
  assert.equal(set.count, 5);
  assert.equal(set.source, sliceDir);
  const again = await loadImagesFromDisk(
    { kind: "fashion-mnist", dir: sliceDir },
    { split: "train", limit: 5 },
  );
  assert.deepEqual(again.labels, set.labels);
  await rejectsWith(
    loadImagesFromDisk("cifar10", { split: "test", cacheDir: join(tmpdir(), "prunekit-no-such-cache") }),
    "IO_ERROR",
    "prunekit-no-such-cache/cifar10",
  );
});

test("Debian's dataset-fashion-mnist, when installed: the whole test split by auto-detection", async (t) => {
  if (!existsSync(join(FASHION_MNIST_DEFAULT_DIR, "t10k-labels-idx1-ubyte.gz"))) {
    t.skip(`${FASHION_MNIST_DEFAULT_DIR} not installed`);
    return;
  }
  const set = await loadImagesFromDisk("fashion-mnist", { split: "test", env: {} });
  assert.equal(set.source, FASHION_MNIST_DEFAULT_DIR);
  assert.equal(set.count, 10000);
  assert.deepEqual([...set.labels.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  // Every class has 1000 test images (Fashion-MNIST is balanced).
  const perClass = new Array(10).fill(0);
  for (const l of set.labels) perClass[l]++;
  assert.deepEqual(perClass, new Array(10).fill(1000));
});

test("nodeDownloadIo: stat is undefined for missing files, append creates, remove tolerates missing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "prunekit-io-"));
  try {
    const io = nodeDownloadIo();
    const f = join(dir, "sub", "a.bin");
    assert.equal(await io.stat(f), undefined);
    await io.mkdir(join(dir, "sub"));
    await io.mkdir(join(dir, "sub"));
    await io.appendFile(f, Uint8Array.of(1, 2));
    await io.appendFile(f, Uint8Array.of(3));
    assert.equal(await io.stat(f), 3);
    assert.deepEqual([...(await io.readFile(f))], [1, 2, 3]);
    await io.writeFile(f, Uint8Array.of(9));
    await io.rename(f, join(dir, "b.bin"));
    assert.deepEqual([...readFileSync(join(dir, "b.bin"))], [9]);
    assert.equal(await io.stat(join(dir, "sub")), undefined, "a folder is not a file");
    await io.remove(join(dir, "b.bin"));
    await io.remove(join(dir, "b.bin"));
    assert.equal(await io.stat(join(dir, "b.bin")), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
