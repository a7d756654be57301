// Channel-wise functions that exporters spell with several nodes, recognised from the graph's structure
// (never from node names): activations written as x times a function of x (SiLU x·Sigmoid(x), HardSwish
// x·HardSigmoid(x) before opset 14 or x·Clip(x+3, 0, 6)/6, GELU x·½(1+erf(x/√2)) and its tanh form,
// Mish x·tanh(softplus(x))), and squeeze-excitation scaling x·s with a per-channel gate s computed
// from x through a global pool and convs. find-groups.ts uses them to tell these joins from residual
// ones; groups list them so that `info` and merge's refusals can say what they are.
import { type Graph, type GraphNode, opTableEntry } from "./ir.ts";
import type { ShapeInfo } from "./shapes.ts";

/** What a recognised pattern computes. `element-wise` is any other function of one value. */
export type PatternName =
  | "SiLU"
  | "HardSwish"
  | "GELU"
  | "GELU (tanh)"
  | "Mish"
  | "element-wise"
  | "squeeze-excitation";

/** Each pattern as a formula, for messages. */
export const PATTERN_FORMULAS: Readonly<Record<PatternName, string>> = {
  SiLU: "SiLU x·Sigmoid(x)",
  HardSwish: "HardSwish x·HardSigmoid(x)",
  GELU: "GELU x·½(1+erf(x/√2))",
  "GELU (tanh)": "GELU x·½(1+tanh(√(2/π)(x+0.044715x³)))",
  Mish: "Mish x·tanh(softplus(x))",
  "element-wise": "an element-wise function of one value",
  "squeeze-excitation": "squeeze-excitation x·gate(x)",
};

/** One recognised pattern. */
export interface ChannelPattern {
  /** What it computes. */
  name: PatternName;
  /** The node computing its result: the Mul (or other join) of x with a function of x, or the SE Mul. */
  node: string;
  /** The value it is a function of (the activation's x; for squeeze-excitation, the scaled value). */
  input: string;
  /** For squeeze-excitation: the per-channel gate [N, C, 1, ...] that `input` is multiplied by. */
  gate?: string;
  /**
   * Its nodes: for an activation every node from `input` to `node`; for squeeze-excitation the pool,
   * the gate activation after the excite conv, and the Mul (the convs between belong to groups of their
   * own, see find-groups.ts).
   */
  nodes: string[];
}

/** Ops through which a value stays a function of one activation, channel by channel. */
const UNARY_LIKE: Readonly<Record<string, true>> = {
  Sigmoid: true,
  HardSigmoid: true,
  Erf: true,
  Tanh: true,
  Softplus: true,
  Relu: true,
  LeakyRelu: true,
  Clip: true,
  Add: true,
  Sub: true,
  Mul: true,
  Div: true,
  Pow: true,
  Neg: true,
  Exp: true,
  Log: true,
  Sqrt: true,
  Reciprocal: true,
  Abs: true,
  Identity: true,
  Cast: true,
};

/** Two-operand ops that can combine x with a function of x. */
const JOINS: Readonly<Record<string, true>> = {
  Mul: true,
  Add: true,
  Sub: true,
  Div: true,
  Max: true,
  Min: true,
};

/** Global or spatial reductions a squeeze-excitation block starts with. */
const SQUEEZE_OPS: Readonly<Record<string, true>> = {
  GlobalAveragePool: true,
  GlobalMaxPool: true,
  ReduceMean: true,
  ReduceMax: true,
};

/** Ops allowed inside the excitation (between the squeeze and the gate), besides unary-like ones. */
const EXCITE_OPS: Readonly<Record<string, true>> = {
  Conv: true,
  Gemm: true,
  MatMul: true,
  Flatten: true,
  Reshape: true,
  Squeeze: true,
  Unsqueeze: true,
};

const WEIGHTED_OPS: Readonly<Record<string, true>> = { Conv: true, Gemm: true, MatMul: true };

/** How far back (in nodes) a pattern is searched. */
const MAX_CHAIN = 24;

/**
 * Recognise the decomposed activations and squeeze-excitation blocks of a graph.
 * @param graph The graph (src/graph/ir.ts).
 * @param shapes Inferred shapes (the SE gate must be [N, C, 1, ...] with x's C).
 * @returns Each pattern under the name of every node in its `nodes` (an activation inside an SE block's
 *   excitation keeps its own entry).
 * @example
 * const patterns = findChannelPatterns(graph, inferShapes(graph));
 * patterns.get("/Mul")?.name; // "SiLU"
 */
export function findChannelPatterns(graph: Graph, shapes: ShapeInfo): Map<string, ChannelPattern> {
  const byNode = new Map<string, ChannelPattern>();
  const isActivation = (name: string) => !graph.constants.has(name) && name !== "";
  const activations = (n: GraphNode) => n.inputs.filter(isActivation);
  const producer = (v: string) => graph.tensors.get(v)?.producer;
  /** The pattern whose result is `v` (a recognised activation join). */
  const joinAt = (v: string): ChannelPattern | undefined => {
    const p = producer(v);
    const m = p === undefined ? undefined : byNode.get(p.name);
    return m !== undefined && m.node === p?.name && m.name !== "squeeze-excitation" ? m : undefined;
  };
  /**
   * `v` and the values it is a channel-wise function of, nearest first, with the nodes passed on the
   * way to each: through unary-like nodes with one activation input and through recognised activations.
   */
  const chain = (v: string): { value: string; nodes: string[] }[] => {
    const out = [{ value: v, nodes: [] as string[] }];
    let cur = v;
    let nodes: string[] = [];
    for (let i = 0; i < MAX_CHAIN; i++) {
      const p = producer(cur);
      if (p === undefined) break;
      const inner = joinAt(cur);
      if (inner !== undefined) {
        nodes = [...nodes, ...inner.nodes];
        cur = inner.input;
      } else {
        const acts = activations(p);
        if (opTableEntry(UNARY_LIKE, p) === undefined || new Set(acts).size !== 1) break;
        nodes = [...nodes, p.name];
        cur = acts[0]!;
      }
      out.push({ value: cur, nodes });
    }
    return out;
  };

  for (const node of graph.order) {
    if (opTableEntry(JOINS, node) === undefined) continue;
    const acts = activations(node);
    if (acts.length !== 2) continue;
    const [p, q] = acts as [string, string];
    const activation = commonSource(chain(p), chain(q));
    if (activation !== undefined) {
      const nodes = [...new Set([...activation.nodes, node.name])];
      const m: ChannelPattern = {
        name: nameOf(graph, nodes),
        node: node.name,
        input: activation.value,
        nodes,
      };
      // An activation inside this one (GELU's tanh form holds x+0.044715x³) is part of it.
      for (const n of nodes) byNode.set(n, m);
      continue;
    }
    if (node.opType !== "Mul") continue;
    for (const [x, s] of [
      [p, q],
      [q, p],
    ] as const) {
      const se = squeezeExcitationNodes(x, s);
      if (se === undefined) continue;
      const nodes = [...se, node.name];
      const m: ChannelPattern = { name: "squeeze-excitation", node: node.name, input: x, gate: s, nodes };
      for (const n of nodes) if (!byNode.has(n)) byNode.set(n, m);
      break;
    }
  }
  return byNode;

  /** The SE nodes when `s` is a per-channel gate computed from `x` (pool -> convs -> gate), else undefined. */
  function squeezeExcitationNodes(x: string, s: string): string[] | undefined {
    const xd = shapes.shapes.get(x);
    const sd = shapes.shapes.get(s);
    if (xd === undefined || sd === undefined || xd.length < 3 || sd.length !== xd.length) return undefined;
    if (sd[1] !== xd[1] || !sd.slice(2).every((d) => d === 1) || xd[1] === 1) return undefined;
    const sources = new Set(chain(x).map((c) => c.value));
    const gateNodes: string[] = [];
    let weighted = false;
    let cur = s;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const p = producer(cur);
      if (p === undefined) return undefined;
      const acts = activations(p);
      if (opTableEntry(SQUEEZE_OPS, p) !== undefined && acts.length === 1) {
        return weighted && sources.has(acts[0]!) ? [p.name, ...gateNodes] : undefined;
      }
      const inner = joinAt(cur);
      if (inner !== undefined) {
        cur = inner.input;
        continue;
      }
      const known = opTableEntry(UNARY_LIKE, p) !== undefined || opTableEntry(EXCITE_OPS, p) !== undefined;
      if (!known || new Set(acts).size !== 1) return undefined;
      if (opTableEntry(WEIGHTED_OPS, p) !== undefined) weighted = true;
      else if (!weighted) gateNodes.push(p.name);
      cur = acts[0]!;
    }
    return undefined;
  }
}

/** The nearest value both chains reach, with the nodes of both ways to it. */
function commonSource(
  a: { value: string; nodes: string[] }[],
  b: { value: string; nodes: string[] }[],
): { value: string; nodes: string[] } | undefined {
  const inA = new Map(a.map((c) => [c.value, c.nodes]));
  for (const c of b) {
    const other = inA.get(c.value);
    if (other !== undefined) return { value: c.value, nodes: [...other, ...c.nodes] };
  }
  return undefined;
}

/** Name a function of one value by the ops it is made of (the structure, in any operand order). */
function nameOf(graph: Graph, nodes: readonly string[]): PatternName {
  const ops = new Set(nodes.map((n) => graph.nodeByName.get(n)?.opType));
  if (ops.has("Erf")) return "GELU";
  if (ops.has("Softplus") && ops.has("Tanh")) return "Mish";
  if (ops.has("Tanh") && ops.has("Pow")) return "GELU (tanh)";
  if (ops.has("Sigmoid")) return "SiLU";
  if (ops.has("HardSigmoid")) return "HardSwish";
  if (ops.has("Clip") && ops.has("Add")) return "HardSwish";
  return "element-wise";
}
