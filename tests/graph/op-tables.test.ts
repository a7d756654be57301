// Keeps the per-op tables in step: op rules (src/graph/op-rules.ts), shape rules (src/graph/shapes.ts),
// counting (src/graph/count.ts) and, once it exists, the engine's op table (src/engine/op-table.ts).
// Op rules, shape rules and the engine each cover every op any of them knows, unless the op is listed in
// DELIBERATELY_ABSENT for that table with a reason. Counting is a rule over op-rules' classification
// (docs/methods.md §0), not a list. Adding an op to one table and forgetting another fails here, and so does
// an absence that no longer holds.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { COUNT_LAYER_OPS, COUNT_PARAM_OPS } from "../../src/graph/count.ts";
import { buildGraph } from "../../src/graph/ir.ts";
import { type ChannelKind, OP_RULES } from "../../src/graph/op-rules.ts";
import { inferShapes, SHAPE_RULE_OPS } from "../../src/graph/shapes.ts";
import { buildModel } from "../../src/onnx/build.ts";

type TableName = "op-rules" | "shapes" | "engine";

interface OpTable {
  name: TableName;
  /** Where to add a missing op. */
  where: string;
  ops: ReadonlySet<string>;
}

const SHAPE_ARITHMETIC =
  "only computes shape values (exporters' integer arithmetic in front of Reshape, Resize, Expand); " +
  "groups.ts never classifies a node without activation inputs, and on an activation it is refused " +
  "as unknown, never guessed";

const NOT_IN_ENGINE_YET =
  "no torchvision CNN the engine targets needs it yet; compile refuses it with ONNX_UNSUPPORTED naming the node";

/** Per table: op_type → why it is absent from that table although another table has it. */
const DELIBERATELY_ABSENT: Readonly<Record<TableName, Readonly<Record<string, string>>>> = {
  "op-rules": {
    Floor: SHAPE_ARITHMETIC,
    Ceil: SHAPE_ARITHMETIC,
    Round: SHAPE_ARITHMETIC,
    Not: SHAPE_ARITHMETIC,
    Equal: SHAPE_ARITHMETIC,
    Less: SHAPE_ARITHMETIC,
    Greater: SHAPE_ARITHMETIC,
    Where: SHAPE_ARITHMETIC,
    ConstantOfShape: SHAPE_ARITHMETIC,
  },
  shapes: {
    Constant: "buildGraph puts its value in graph.constants, whose dims inferShapes reads; it skips the node",
  },
  // Not run by the engine yet: compile refuses them with ONNX_UNSUPPORTED naming the node (tests/engine).
  engine: {
    InstanceNormalization: NOT_IN_ENGINE_YET,
    LpPool: NOT_IN_ENGINE_YET,
    GlobalLpPool: NOT_IN_ENGINE_YET,
    Hardmax: NOT_IN_ENGINE_YET,
    Resize: NOT_IN_ENGINE_YET,
    Upsample: NOT_IN_ENGINE_YET,
    LRN: NOT_IN_ENGINE_YET,
    LayerNormalization: NOT_IN_ENGINE_YET,
    GroupNormalization: NOT_IN_ENGINE_YET,
  },
};

// ENGINE OP TABLE. DESIGN.md places the engine's op table in src/engine/op-table.ts. It does not exist
// yet; when it lands it exports `ENGINE_OPS: ReadonlySet<string>`, the keys of the table compile
// dispatches on (like SHAPE_RULE_OPS), and this file compares it with the others without further edits.
const ENGINE_DIR = new URL("../../src/engine/", import.meta.url);
const ENGINE_OP_TABLE = new URL("op-table.ts", ENGINE_DIR);
const engineModule: Record<string, unknown> | undefined = existsSync(ENGINE_OP_TABLE)
  ? await import(ENGINE_OP_TABLE.href)
  : undefined;
const engineOps = engineModule?.ENGINE_OPS;

const TABLES: readonly OpTable[] = [
  { name: "op-rules", where: "OP_RULES in src/graph/op-rules.ts", ops: new Set(Object.keys(OP_RULES)) },
  { name: "shapes", where: "SHAPE_RULES in src/graph/shapes.ts", ops: SHAPE_RULE_OPS },
  ...(engineOps instanceof Set
    ? [{ name: "engine" as const, where: "src/engine/op-table.ts", ops: engineOps as ReadonlySet<string> }]
    : []),
];

if (engineModule === undefined) {
  test("the engine has no op table yet: there is no executor in src/engine/ (compare it here when it lands)", () => {
    // src/engine/ already holds metrics (WARE); the executor (compile.ts) is what dispatches on op types.
    assert.equal(
      existsSync(new URL("compile.ts", ENGINE_DIR)),
      false,
      "src/engine/compile.ts exists but src/engine/op-table.ts does not: DESIGN.md puts the engine's op " +
        "table there, exporting ENGINE_OPS, which this test then compares with the other tables",
    );
  });
} else {
  test("src/engine/op-table.ts exports ENGINE_OPS, the ops of its table", () => {
    assert.ok(
      engineOps instanceof Set && engineOps.size > 0,
      "src/engine/op-table.ts must export ENGINE_OPS: ReadonlySet<string>, derived from its op table",
    );
  });
}

for (const from of TABLES) {
  for (const to of TABLES) {
    if (from === to) continue;
    test(`every op in ${from.name} is in ${to.name} or deliberately absent from it`, () => {
      const absent = DELIBERATELY_ABSENT[to.name];
      const missing = [...from.ops].filter((op) => !to.ops.has(op) && !Object.hasOwn(absent, op));
      assert.deepEqual(
        missing,
        [],
        `${missing.join(", ")}: in ${from.where} but not in ${to.where}; add each there, or to ` +
          `DELIBERATELY_ABSENT["${to.name}"] in tests/graph/op-tables.test.ts with a one-line reason`,
      );
    });
  }
}

test("every deliberate absence is absent from its table and present in another", () => {
  const stale: string[] = [];
  for (const [name, absent] of Object.entries(DELIBERATELY_ABSENT)) {
    const table = TABLES.find((t) => t.name === name);
    for (const [op, reason] of Object.entries(absent)) {
      assert.ok(reason.length > 0, `DELIBERATELY_ABSENT["${name}"].${op} needs a reason`);
      const others = TABLES.filter((t) => t.name !== name && t.ops.has(op));
      if (table === undefined || table.ops.has(op) || others.length === 0) stale.push(`${name}: ${op}`);
    }
  }
  assert.deepEqual(stale, [], "stale entries in DELIBERATELY_ABSENT: remove them");
});

test("shapes' reason for skipping Constant holds: its output still gets a shape", () => {
  const model = buildModel({
    inputs: [],
    outputs: [{ name: "c" }],
    nodes: [{ opType: "Constant", inputs: [], outputs: ["c"], attributes: { value_ints: [1, -1, 7] } }],
  });
  assert.deepEqual(inferShapes(buildGraph(model)).shapes.get("c"), [3]);
});

// Counting (docs/methods.md §0) covers, by design, only ops that carry learnable parameters; every other op
// is absent from it. Which ops those are follows from op-rules' classification.

/** Kinds of a node with a weight tensor: a conv or linear layer, counted for MACs, weight and bias. */
const WEIGHT_KINDS: ReadonlySet<ChannelKind> = new Set(["linear", "depthwise", "grouped", "transposed"]);

const opsWhere = (keep: (kinds: readonly ChannelKind[]) => boolean): string[] =>
  Object.entries(OP_RULES)
    .filter(([, rule]) => keep(rule.kinds))
    .map(([op]) => op)
    .sort();

test("count's layer table is exactly the ops op-rules can classify as having a weight", () => {
  assert.deepEqual(
    [...COUNT_LAYER_OPS].sort(),
    opsWhere((kinds) => kinds.some((k) => WEIGHT_KINDS.has(k))),
    "LAYER_MACS (src/graph/count.ts) lists exactly the ops op-rules can classify as linear, depthwise, " +
      "grouped or transposed: add or remove the op on one side",
  );
});

test("count's parameter table is exactly the ops with per-channel parameters that are not arithmetic", () => {
  // Broadcasting arithmetic (Mul, Add, ...: the ops that can also be a join) may be channelwise-param too,
  // but its constant operand is a buffer (input normalisation, a folded scale), not a parameter input.
  assert.deepEqual(
    [...COUNT_PARAM_OPS].sort(),
    opsWhere((kinds) => kinds.includes("channelwise-param") && !kinds.includes("join")),
    "PARAM_INPUTS (src/graph/count.ts) lists exactly the ops op-rules can classify as channelwise-param " +
      "but never as join: add or remove the op on one side",
  );
});

test("every counted layer op has a shape rule (its MACs need the output shape)", () => {
  assert.deepEqual(
    [...COUNT_LAYER_OPS].filter((op) => !SHAPE_RULE_OPS.has(op)),
    [],
  );
});

// Every op type torch exports for the torchvision CNNs (tests/fixtures/torchvision/op-types.json, written
// by make_torchvision.py --set sweep --op-types at opsets 13 and 17) is known to op rules and shape rules,
// or deliberately absent with a reason: an exported op never reaches the "not in the op table" refusal.
const opTypes = JSON.parse(
  readFileSync(new URL("../fixtures/torchvision/op-types.json", import.meta.url), "utf8"),
) as { opsets: Record<string, Record<string, string[]>> };

test("op-types.json covers the torchvision CNNs at opsets 13 and 17", () => {
  for (const opset of ["13", "17"]) {
    const files = Object.keys(opTypes.opsets[opset] ?? {});
    for (const arch of [
      "resnet18",
      "mobilenet_v2",
      "mobilenet_v3_small",
      "efficientnet_b0",
      "convnext_tiny",
      "regnet_x_400mf",
      "shufflenet_v2",
      "squeezenet1_1",
      "googlenet",
      "densenet121",
    ]) {
      assert.ok(
        files.some((f) => f.startsWith(arch)),
        `opset ${opset}: no export of ${arch}`,
      );
    }
  }
  assert.ok(opTypes.opsets["17"]!["convnext_tiny.onnx"]!.includes("LayerNormalization"));
});

for (const table of TABLES.filter((t) => t.name !== "engine")) {
  test(`every op type of the torchvision exports is in ${table.name} or deliberately absent from it`, () => {
    const missing: string[] = [];
    for (const [opset, files] of Object.entries(opTypes.opsets)) {
      for (const [file, ops] of Object.entries(files)) {
        for (const op of ops) {
          if (!table.ops.has(op) && !Object.hasOwn(DELIBERATELY_ABSENT[table.name], op))
            missing.push(`${op} (opset ${opset}, ${file})`);
        }
      }
    }
    assert.deepEqual(missing, [], `add them to ${table.where}`);
  });
}
