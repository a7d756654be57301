// The import layout of src/ (DESIGN.md, "Layout"): no import cycles; every file imports only its own
// floor or below; CLI commands stay independent of each other and of main.ts. Imports are read with
// the TypeScript parser, so comments and strings never fool it; static and type-only imports,
// `export ... from`, dynamic `import("...")` and `typeof import("...")` types all count.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { posix } from "node:path";
import { test } from "node:test";
import ts from "typescript";

/**
 * Imports that break the rules today, as exact "from -> to" pairs (paths relative to src/). The
 * layout refactor removes them: then delete the entry, or this test fails as stale.
 */
const KNOWN_VIOLATIONS: readonly string[] = [];

/**
 * Floors, bottom to top. A name stands for both `src/<name>.ts` and the folder `src/<name>/`; names
 * with neither are skipped (the floor is not built yet). A file may import files of its own name,
 * and any file on a lower floor. Imports between different names on one floor (wasm -> onnx, say)
 * are refused: none exist today (data/ does not import onnx/), so the test lists no exception.
 * src/report/ (JSON, Markdown and SVG charts) sits above api and below node/web/index, because both
 * the CLI and the web page use it.
 */
const FLOORS: readonly (readonly string[])[] = [
  ["errors", "progress"],
  ["wasm", "onnx", "data"],
  ["graph"],
  ["surgery"],
  ["engine"],
  ["methods"],
  ["api"],
  ["report"],
  ["node", "web", "index"],
  ["cli"],
];

/** The CLI's shared helpers; every other file in src/cli/ except main.ts is a command. */
const CLI_HELPERS: readonly string[] = [
  "cli/args.ts",
  "cli/data-flags.ts",
  "cli/format.ts",
  "cli/progress.ts",
  "cli/report-error.ts",
];

interface Edge {
  from: string;
  to: string;
  line: number;
}

const srcDir = new URL("../../src/", import.meta.url);

function listTs(dir: URL, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const url = new URL(name, dir);
    if (statSync(url).isDirectory()) out.push(...listTs(new URL(`${name}/`, dir), `${prefix}${name}/`));
    else if (name.endsWith(".ts")) out.push(`${prefix}${name}`);
  }
  return out;
}

/** Every module specifier in a file, with its line (1-based). */
function specifiers(file: string, text: string): { specifier: string; line: number; dynamic: boolean }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: { specifier: string; line: number; dynamic: boolean }[] = [];
  const add = (node: ts.Node | undefined, dynamic: boolean) => {
    if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
      out.push({
        specifier: node.text,
        line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
        dynamic,
      });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier, false);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node.moduleReference.expression, false);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      add(node.arguments[0], true);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node.argument.literal, false);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const files = listTs(srcDir);
const fileSet = new Set(files);
const edges: Edge[] = [];
const outside: string[] = [];
const missing: string[] = [];
const nodeBuiltins: string[] = [];
/** Every node: import, static or dynamic, as [file, "file:line imports node:x"]. */
const anyNodeImports: [string, string][] = [];
for (const from of files) {
  for (const { specifier, line, dynamic } of specifiers(from, readFileSync(new URL(from, srcDir), "utf8"))) {
    if (specifier.startsWith("node:") && !dynamic) nodeBuiltins.push(`${from}:${line} imports ${specifier}`);
    if (specifier.startsWith("node:")) anyNodeImports.push([from, `${from}:${line} imports ${specifier}`]);
    if (!specifier.startsWith(".")) continue;
    const to = posix.normalize(posix.join(posix.dirname(from), specifier));
    if (to.startsWith("../")) outside.push(`${from} -> ${specifier}`);
    else if (!fileSet.has(to)) missing.push(`${from}:${line} -> ${specifier}`);
    else edges.push({ from, to, line });
  }
}

const known = new Set(KNOWN_VIOLATIONS);
const pair = (e: Edge) => `${e.from} -> ${e.to}`;

/** `errors.ts` -> "errors", `graph/ir.ts` -> "graph". */
const nameOf = (file: string) => file.split("/")[0]!.replace(/\.ts$/, "");
const floorOf = (file: string) => FLOORS.findIndex((floor) => floor.includes(nameOf(file)));

function floorViolation(e: Edge): string | undefined {
  const [a, b] = [floorOf(e.from), floorOf(e.to)];
  if (a < 0 || b < 0) return undefined; // reported by the "every file is on a floor" test
  if (b > a) return `${nameOf(e.from)} (floor ${a}) may not import ${nameOf(e.to)} (floor ${b})`;
  if (b === a && nameOf(e.from) !== nameOf(e.to))
    return `${nameOf(e.from)} and ${nameOf(e.to)} share floor ${a}; one may not import the other`;
  return undefined;
}

const isCommand = (file: string) =>
  file.startsWith("cli/") && file !== "cli/main.ts" && !CLI_HELPERS.includes(file);

function cliViolation(e: Edge): string | undefined {
  if (e.to === "cli/main.ts") return "only bin/ may import cli/main.ts";
  if (e.from.startsWith("cli/") && e.from !== "cli/main.ts" && isCommand(e.to))
    return `only cli/main.ts may import a command; share code through ${CLI_HELPERS.join(", ")}`;
  return undefined;
}

/** Cycles found by a depth-first walk (at least one wherever there is any), as lists of files. */
function findCycles(graphEdges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graphEdges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === "open") cycles.push([...stack.slice(stack.indexOf(to)), to]);
      else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const f of files) if (state.get(f) === undefined) visit(f);
  return cycles;
}

/** Whether `e` closes a cycle: its target leads back to its source. */
function onCycle(e: Edge): boolean {
  const seen = new Set([e.to]);
  const todo = [e.to];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (file === e.from) return true;
    for (const next of edges) {
      if (next.from === file && !seen.has(next.to)) {
        seen.add(next.to);
        todo.push(next.to);
      }
    }
  }
  return false;
}

const format = (list: string[]) => list.map((s) => `  ${s}`).join("\n");

test("the import parser sees the imports of src/", () => {
  assert.ok(files.includes("cli/main.ts") && files.includes("index.ts"), "src/ not found");
  assert.ok(edges.length > 50, `only ${edges.length} relative imports found in src/`);
  // Dynamic imports count: main.ts loads its commands lazily.
  assert.ok(edges.some((e) => e.from === "cli/main.ts" && isCommand(e.to)));
  assert.deepEqual(missing, [], `relative imports that name no file in src/:\n${format(missing)}`);
  // Only main.ts leaves src/: it reads package.json for --version.
  const leaving = outside.filter((s) => s !== "cli/main.ts -> ../../package.json");
  assert.deepEqual(leaving, [], `relative imports that leave src/:\n${format(leaving)}`);
});

test("every file of src/ is on a floor", () => {
  const homeless = files.filter((f) => floorOf(f) < 0);
  assert.deepEqual(
    homeless,
    [],
    `files whose top-level name is on no floor; add it to FLOORS (and DESIGN.md "Layout"):\n${format(homeless)}`,
  );
});

test("src/ has no import cycle", () => {
  const cycles = findCycles(edges.filter((e) => !known.has(pair(e))));
  assert.deepEqual(
    cycles.map((c) => c.join(" -> ")),
    [],
    `import cycles:\n${format(cycles.map((c) => c.join(" -> ")))}`,
  );
});

test("every file imports only its own floor or below", () => {
  const bad = edges
    .filter((e) => !known.has(pair(e)))
    .flatMap((e) => {
      const why = floorViolation(e);
      return why === undefined ? [] : [`${pair(e)} (line ${e.line}): ${why}`];
    });
  assert.deepEqual(
    bad,
    [],
    `imports against the floors (bottom to top: ${FLOORS.map((f) => f.join(", ")).join(" | ")}):\n${format(bad)}`,
  );
});

test("only cli/main.ts imports a command, and nothing in src/ imports cli/main.ts", () => {
  const bad = edges
    .filter((e) => !known.has(pair(e)))
    .flatMap((e) => {
      const why = cliViolation(e);
      return why === undefined ? [] : [`${pair(e)} (line ${e.line}): ${why}`];
    });
  assert.deepEqual(bad, [], `CLI imports against the rules:\n${format(bad)}`);
});

test("library code imports node: modules only in node/ and cli/ (a dynamic import() may, elsewhere)", () => {
  const bad = nodeBuiltins.filter((s) => !s.startsWith("node/") && !s.startsWith("cli/"));
  assert.deepEqual(bad, [], `static node: imports outside src/node/ and src/cli/:\n${format(bad)}`);
});

test("nothing reachable from index.ts (the browser entry) imports a node: module, not even dynamically", () => {
  // A bundler for the browser resolves dynamic import("node:...") too, and fails on it (issue #9).
  const reachable = new Set(["index.ts"]);
  const todo = ["index.ts"];
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    for (const e of edges) {
      if (e.from === file && !reachable.has(e.to)) {
        reachable.add(e.to);
        todo.push(e.to);
      }
    }
  }
  assert.ok(reachable.has("wasm/load.ts") && reachable.has("api.ts"), "the walk from index.ts is broken");
  const bad = anyNodeImports.filter(([file]) => reachable.has(file)).map(([, where]) => where);
  assert.deepEqual(bad, [], `node: imports reachable from src/index.ts:\n${format(bad)}`);
});

test("every KNOWN_VIOLATIONS entry still occurs", () => {
  const stale = KNOWN_VIOLATIONS.filter((entry) => {
    const found = edges.filter((e) => pair(e) === entry);
    return !found.some((e) => floorViolation(e) || cliViolation(e) || onCycle(e));
  });
  assert.deepEqual(
    stale,
    [],
    `KNOWN_VIOLATIONS entries that no longer occur; remove them:\n${format(stale)}`,
  );
});
