// The budget module's planned sizes and bisection (docs/methods.md §3.10): counting a plan before
// surgery must give exactly what counting the pruned model gives, on every fixture topology.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { loadModel, prune } from "../../src/api.ts";
import { inferShapes } from "../../src/graph/shapes.ts";
import { bisectForTarget, plannedSize } from "../../src/methods/budget.ts";

const dirs = [new URL("../fixtures/", import.meta.url), new URL("../fixtures/torchvision/", import.meta.url)];
const files = dirs.flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith(".onnx"))
    .map((f) => new URL(f, d)),
);

test("plannedSize equals the counts of the model surgery writes, on every fixture", async () => {
  let checked = 0;
  for (const file of files) {
    const model = await loadModel(new Uint8Array(readFileSync(file)));
    const shapes = inferShapes(model.graph);
    for (const ratio of [0.3, 0.7]) {
      let result: Awaited<ReturnType<typeof prune>>;
      try {
        result = await prune(model, { method: "l1", ratio });
      } catch {
        continue; // a fixture magnitude pruning refuses (not a counting question)
      }
      // Kept counts from the report (one entry per producer; groups share one count).
      const kept = new Map<number, number>();
      for (const l of result.report.layers) {
        const g = model.groups.find((x) => x.producers.some((p) => p.node === l.node))!;
        kept.set(g.id, l.channelsAfter);
      }
      const size = plannedSize(model.graph, shapes, model.groups, kept);
      assert.equal(size.params, result.report.after.params, `${file.pathname} r=${ratio} params`);
      assert.equal(size.macs, result.report.after.macs, `${file.pathname} r=${ratio} macs`);
      checked++;
    }
  }
  assert.ok(checked >= 20, `${checked} plans checked`);
});

test("bisectForTarget finds the smallest x meeting a monotone target, to the tolerance", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.double({ min: 0.05, max: 30, noNaN: true }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      async (knee, target) => {
        // fraction(x) = 1 / (1 + x / knee): falls from 1 at x = 0.
        const f = (x: number) => 1 / (1 + x / knee);
        const r = await bisectForTarget((x) => ({ value: x, fraction: f(x) }), target, { tolerance: 1e-4 });
        const exact = knee * (1 / target - 1);
        if (exact > 64) return assert.equal(r.met, false);
        assert.ok(r.met && r.fraction <= target);
        assert.ok(r.x >= exact && r.x - exact <= 1e-4 + 1e-12, `x ${r.x} vs ${exact}`);
      },
    ),
  );
});
