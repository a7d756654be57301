import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readTar } from "../../src/data/tar.ts";
import { paxPathRecord, tarArchive } from "./tar-writer.ts";
import { throwsWith } from "./typed-errors.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("files and folders in order, with data, prefix, pax path and GNU long names applied", () => {
  const long = `${"d".repeat(90)}/${"f".repeat(60)}.bin`;
  const archive = tarArchive([
    { name: "cifar-10-batches-bin/", type: "5" },
    { name: "cifar-10-batches-bin/readme.html", data: bytes("hello") },
    { name: "big.bin", data: new Uint8Array(1300).fill(7) },
    { name: "x.bin", prefix: "some/prefix", data: bytes("p") },
    { name: "PaxHeader", type: "x", data: paxPathRecord("from/pax.txt") },
    { name: "short-name", data: bytes("pax") },
    { name: "././@LongLink", type: "L", data: bytes(`${long}\0`) },
    { name: "truncated-name", data: bytes("long") },
  ]);
  const entries = readTar(archive, "a.tar");
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.data.length]),
    [
      ["cifar-10-batches-bin", "directory", 0],
      ["cifar-10-batches-bin/readme.html", "file", 5],
      ["big.bin", "file", 1300],
      ["some/prefix/x.bin", "file", 1],
      ["from/pax.txt", "file", 3],
      [long, "file", 4],
    ],
  );
  assert.equal(text(entries[1]!.data), "hello");
  assert.ok(entries[2]!.data.every((b) => b === 7));
  assert.equal(text(entries[4]!.data), "pax");
});

test("reads an archive made by the system tar, if there is one", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "prunekit-tar-"));
  try {
    writeFileSync(join(dir, "a.txt"), "alpha");
    writeFileSync(join(dir, "b.bin"), new Uint8Array(700).fill(3));
    try {
      execFileSync("tar", ["--format=ustar", "-cf", join(dir, "out.tar"), "-C", dir, "a.txt", "b.bin"]);
    } catch {
      t.skip("no tar on this machine");
      return;
    }
    const entries = readTar(new Uint8Array(readFileSync(join(dir, "out.tar"))), "out.tar");
    assert.deepEqual(
      entries.map((e) => [e.path, e.data.length]),
      [
        ["a.txt", 5],
        ["b.bin", 700],
      ],
    );
    assert.equal(text(entries[0]!.data), "alpha");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("DATA_INVALID: entries escaping the folder, links and special files are refused", () => {
  for (const name of ["../evil", "a/../../evil", "/etc/passwd", "C:/x", "a\\..\\b", ".."]) {
    throwsWith(
      () => readTar(tarArchive([{ name, data: bytes("x") }]), "a.tar"),
      "DATA_INVALID",
      "a.tar",
      "refused",
    );
  }
  throwsWith(
    () =>
      readTar(tarArchive([{ name: "x", type: "x", data: paxPathRecord("../up") }, { name: "ok" }]), "a.tar"),
    "DATA_INVALID",
    '"../up"',
  );
  throwsWith(() => readTar(tarArchive([{ name: "link", type: "2" }]), "a.tar"), "DATA_INVALID", 'type "2"');
  throwsWith(() => readTar(tarArchive([{ name: "dev", type: "3" }]), "a.tar"), "DATA_INVALID", 'type "3"');
});

test("DATA_INVALID: bad header checksum, truncated data, missing end block", () => {
  const archive = tarArchive([{ name: "a.bin", data: new Uint8Array(1000) }]);
  const corrupt = archive.slice();
  corrupt[10] = 0x41;
  throwsWith(() => readTar(corrupt, "a.tar"), "DATA_INVALID", "checksum", "corrupt");
  throwsWith(
    () => readTar(archive.subarray(0, 900), "a.tar"),
    "DATA_INVALID",
    "needs 1000 bytes of data, 388 remain",
  );
  throwsWith(() => readTar(archive.subarray(0, 100), "a.tar"), "DATA_INVALID", "truncated");
  // Header and data complete, end blocks cut off: accepted (the data is all there).
  assert.equal(readTar(archive.subarray(0, 512 + 1024), "a.tar").length, 1);
});
