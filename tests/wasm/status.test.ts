import assert from "node:assert/strict";
import { test } from "node:test";
import { isPrunekitError, type PrunekitErrorCode } from "../../src/errors.ts";
import { getWasm } from "../../src/wasm/instance.ts";
import { checkStatus, STATUS_ERRORS, STATUS_OK, STATUS_SINGULAR } from "../../src/wasm/status.ts";

function expectStatusError(status: number, code: PrunekitErrorCode, message: RegExp): void {
  assert.throws(
    () => checkStatus("solve", status),
    (e: unknown) => {
      assert.ok(isPrunekitError(e), `expected a PrunekitError, got ${String(e)}`);
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    },
  );
}

test("src/wasm/status.ts has exactly the status codes the module exports, with the same values", async () => {
  const { exports } = await getWasm();
  const value = (name: string): number => {
    const g = exports[name];
    return g instanceof WebAssembly.Global ? Number(g.value) : Number(g);
  };
  const wasmNames = Object.keys(exports)
    .filter((name) => name.startsWith("STATUS_"))
    .sort();
  const tsNames = ["STATUS_OK", ...Object.values(STATUS_ERRORS).map((s) => s.name)].sort();
  assert.deepEqual(wasmNames, tsNames, "assembly/status.ts and src/wasm/status.ts list different codes");
  assert.equal(value("STATUS_OK"), STATUS_OK);
  assert.equal(value("STATUS_SINGULAR"), STATUS_SINGULAR);
  for (const [status, { name }] of Object.entries(STATUS_ERRORS))
    assert.equal(value(name), Number(status), name);
});

test("checkStatus returns on STATUS_OK and throws a typed error naming the caller otherwise", () => {
  checkStatus("solve", STATUS_OK);
  expectStatusError(STATUS_SINGULAR, "SINGULAR_SYSTEM", /^solve: .*singular system \(STATUS_SINGULAR\)/);
  expectStatusError(7, "WASM_LOAD_FAILED", /^solve: the kernel returned status 7.*rebuild/);
  expectStatusError(-1, "WASM_LOAD_FAILED", /status -1/);
});
