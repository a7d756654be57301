import { test } from "node:test";
import fc from "fast-check";
import { getWasm } from "../../src/wasm/instance.ts";
import { rowReduce } from "../../src/wasm/kernels/reduce.ts";
import * as reference from "../../src/wasm/reference/reduce.ts";
import { matrix } from "../helpers/arbitraries.ts";
import { assertClose } from "../helpers/close.ts";

const w = await getWasm();

for (const kind of ["sum", "l1", "l2"] as const) {
  test(`rowReduce ${kind} matches the reference on ragged shapes`, () => {
    fc.assert(
      fc.property(matrix(), ({ rows, cols, x }) =>
        assertClose(rowReduce(w, kind, x, rows, cols), reference.reduceRows(kind, x, rows, cols), {
          reductionLen: cols,
          scale: 4,
        }),
      ),
    );
  });
}

test("row norms are non-negative and L2 <= L1", () => {
  fc.assert(
    fc.property(matrix(), ({ rows, cols, x }) => {
      const l1 = rowReduce(w, "l1", x, rows, cols);
      const l2 = rowReduce(w, "l2", x, rows, cols);
      for (let r = 0; r < rows; r++) {
        if (!(l2[r]! >= 0 && l2[r]! <= l1[r]! * (1 + 1e-5) + 1e-6)) return false;
      }
      return true;
    }),
  );
});
