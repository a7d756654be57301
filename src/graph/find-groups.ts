// Dependency groups: the sets of channels that must be pruned together (docs/methods.md §1.1, §4.3).
//
// Every activation value has a "channel space". Ops that keep channels apart (BN, activations, pools,
// depthwise conv, residual joins) put their inputs and outputs in the same space (union-find). Three
// ops create a new space: a producer (Conv that is not depthwise, Gemm, MatMul with a constant weight)
// creates fresh channels; Concat along channels creates a space *derived* from its inputs' spaces, input i at
// an offset; Flatten/Reshape to [N, C·K] creates a space derived from its input with K features per
// channel. A group is a space that contains producer outputs, together with everything that reads it
// directly or through derived spaces (offsets and block sizes compose along the way). A grouped conv
// (1 < group G, not depthwise) producing or reading a group splits its channels into G contiguous
// blocks that must all keep the same count; `blocks` is the lcm of those G.

import type { DependencyGroup, GroupConsumer, GroupMember, GroupPathOp, GroupProducer } from "./group.ts";
import type { Graph, GraphNode } from "./ir.ts";
import { classifyNode, type OpRuleContext } from "./op-rules.ts";
import { findChannelPatterns } from "./patterns.ts";
import { inferShapes, type ShapeInfo } from "./shapes.ts";

/** Options for {@link findDependencyGroups}. */
export interface GroupOptions {
  /** Shapes from {@link inferShapes}, if already computed. */
  shapes?: ShapeInfo;
}

// ---------------------------------------------------------------------------------------------
// Union-find over value names.

class UnionFind {
  private parent = new Map<string, string>();
  add(x: string): void {
    if (!this.parent.has(x)) this.parent.set(x, x);
  }
  find(x: string): string {
    let r = x;
    while (this.parent.get(r) !== r) r = this.parent.get(r)!;
    let y = x;
    while (y !== r) {
      const next = this.parent.get(y)!;
      this.parent.set(y, r);
      y = next;
    }
    return r;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

/** How a value's channels came to be. */
type Origin =
  | { type: "producer"; producer: GroupProducer; channels: number; order: number }
  | { type: "source"; reason: string }
  | { type: "concat"; node: string; parts: { tensor: string; offset: number }[] }
  | { type: "flatten"; node: string; from: string; blockSize: number };

/** Things recorded on a value; they apply to whole spaces after union. */
type Fact =
  | { type: "member"; member: Omit<GroupMember, "channelOffset" | "blockSize"> }
  | { type: "consumer"; consumer: Omit<GroupConsumer, "channelOffset" | "blockSize" | "via"> }
  | { type: "pathOp"; op: GroupPathOp }
  | { type: "freeze"; reason: string }
  | { type: "output"; name: string }
  | { type: "join" }
  | { type: "reshape"; node: string; shapeTensor: string; index: number };

/** A root space seen from another space: root channel c ↦ units [offset + c·block, offset + (c+1)·block). */
interface Mapping {
  root: string;
  offset: number;
  block: number;
  via: string[];
}

/**
 * Find every group of coupled channels in a graph.
 * @param graph The graph (src/graph/ir.ts).
 * @param options Precomputed shapes, if any.
 * @returns Groups ordered by their first producer in topological order; `id` is the index.
 * @example
 * const groups = findDependencyGroups(buildGraph(model));
 * const prunable = groups.filter((g) => !g.frozen && isInner(g));
 */
export function findDependencyGroups(graph: Graph, options: GroupOptions = {}): DependencyGroup[] {
  const shapes = options.shapes ?? inferShapes(graph);
  const uf = new UnionFind();
  const axes = new Map<string, number>();
  const origins = new Map<string, Origin[]>();
  const facts = new Map<string, Fact[]>();
  const producerOf = new Map<string, string>();
  const producerInfo = new Map<string, GroupProducer>();
  const dimsOf = (name: string) => shapes.shapes.get(name);
  const patterns = findChannelPatterns(graph, shapes);

  const addOrigin = (t: string, o: Origin) => {
    const list = origins.get(t);
    if (list) list.push(o);
    else origins.set(t, [o]);
  };
  const addFact = (t: string, f: Fact) => {
    const list = facts.get(t);
    if (list) list.push(f);
    else facts.set(t, [f]);
  };
  const activation = (t: string, axis: number) => {
    uf.add(t);
    axes.set(t, axis);
  };
  const ctx: OpRuleContext = { graph, shapes, channelAxis: (n) => axes.get(n) };

  for (const vi of graph.inputs) {
    const name = vi.name ?? "";
    const dims = dimsOf(name);
    if (dims !== undefined && dims.length < 2) continue;
    activation(name, 1);
    addOrigin(name, { type: "source", reason: `frozen: channels are tied to graph input "${name}"` });
  }

  let producerCount = 0;
  for (const node of graph.order) {
    const acts = node.inputs.filter((i) => i !== "" && axes.has(i));
    if (acts.length === 0) continue;
    const b = classifyNode(node, ctx);
    const outs = node.outputs.filter((o) => o !== "");
    // Any activation the rule does not treat as channel data is touched in a way prunekit cannot follow.
    const data = new Set(b.dataInputs.map((i) => node.inputs[i]!));
    const frozenKind = b.kind === "transposed" || b.kind === "barrier" || b.kind === "unknown";
    for (const a of new Set(acts)) {
      if (frozenKind) addFact(a, { type: "freeze", reason: `frozen: ${b.reason}` });
      else if (!data.has(a) && b.kind !== "shape-only") {
        addFact(a, {
          type: "freeze",
          reason: `frozen: node "${node.name}" (op ${node.opType}) reads "${a}" in a way that is not per channel`,
        });
      }
    }
    if (frozenKind) {
      for (const o of outs) {
        const d = dimsOf(o);
        if (d !== undefined && d.length === 0) continue;
        activation(o, d === undefined || d.length >= 2 ? 1 : 0);
        addOrigin(o, { type: "source", reason: `frozen: ${b.reason}` });
      }
      continue;
    }
    const x = node.inputs[b.dataInputs[0] ?? 0] ?? "";
    const xAxis = axes.get(x) ?? 1;
    const shiftedAxis = (o: string) => {
      const din = dimsOf(x);
      const dout = dimsOf(o);
      return din !== undefined && dout !== undefined ? xAxis + dout.length - din.length : xAxis;
    };
    const pattern = patterns.get(node.name);
    const pathOp = (t: string, kind = b.kind) =>
      addFact(t, {
        type: "pathOp",
        op: {
          node: node.name,
          opType: node.opType,
          kind,
          positivelyHomogeneous: b.positivelyHomogeneous,
          ...(pattern !== undefined ? { pattern: { name: pattern.name, node: pattern.node } } : {}),
        },
      });
    switch (b.kind) {
      case "linear":
      case "grouped": {
        const w = b.weight!;
        const grouped = b.kind === "grouped" ? { group: b.group! } : {};
        const out = outs[0];
        const xDims = dimsOf(x);
        const expectedAxis = node.opType === "MatMul" && xDims !== undefined ? xDims.length - 1 : 1;
        const gemmRankOk = node.opType !== "Gemm" || xDims === undefined || xDims.length === 2;
        // Symbolic dims (a dynamic height and width) are inferred as 1: a flatten block size computed from
        // them is wrong, which the weight's input width reveals. Never slice a weight on a guess.
        // A grouped conv's weight holds C_in/G input channels per row.
        const perRow = graph.constants.get(w.tensor)?.dims[w.inputAxis];
        const weightIn = perRow === undefined ? undefined : perRow * (b.group ?? 1);
        const inferredIn = xDims?.[expectedAxis];
        if (xAxis !== expectedAxis || !gemmRankOk) {
          addFact(x, {
            type: "freeze",
            reason: `frozen: node "${node.name}" (op ${node.opType}) reads channels along axis ${expectedAxis} but they are on axis ${xAxis}`,
          });
        } else if (weightIn !== undefined && inferredIn !== undefined && weightIn !== inferredIn) {
          addFact(x, {
            type: "freeze",
            reason: `frozen: node "${node.name}" (op ${node.opType}) has a weight for ${weightIn} input features, but "${x}" was inferred with ${inferredIn} (symbolic dims are taken as 1); export with a fixed input size to prune these channels`,
          });
        } else {
          addFact(x, {
            type: "consumer",
            consumer: {
              node: node.name,
              opType: node.opType,
              weight: w.tensor,
              inputAxis: w.inputAxis,
              layout: "NCHW",
              mixesChannels: true,
              ...grouped,
            },
          });
        }
        if (out !== undefined) {
          const outDims = dimsOf(out);
          activation(out, node.opType === "MatMul" && outDims !== undefined ? outDims.length - 1 : 1);
          producerOf.set(out, node.name);
          const producer: GroupProducer = {
            node: node.name,
            opType: node.opType,
            weight: w.tensor,
            outputAxis: w.outputAxis,
            bias: w.bias,
            ...grouped,
          };
          producerInfo.set(node.name, producer);
          addOrigin(out, {
            type: "producer",
            producer,
            channels: w.outputChannels,
            order: producerCount++,
          });
        }
        break;
      }
      case "depthwise":
      case "channelwise-param": {
        const follows = producerOf.get(x);
        addFact(x, {
          type: "member",
          member: {
            node: node.name,
            opType: node.opType,
            kind: b.kind,
            params: b.params ?? [],
            ...(b.group !== undefined ? { group: b.group } : {}),
            follows,
          },
        });
        // The BN right after the producer is part of the merge formula (§2.5), not a path op.
        if (!(node.opType === "BatchNormalization" && follows !== undefined)) pathOp(x);
        for (const o of outs.slice(0, 1)) {
          activation(o, b.kind === "depthwise" ? 1 : shiftedAxis(o));
          uf.union(x, o);
        }
        break;
      }
      case "elementwise":
      case "join": {
        for (const o of outs) activation(o, b.outputChannelAxis ?? shiftedAxis(o));
        if (data.size === 0) {
          const reason = `frozen: node "${node.name}" (op ${node.opType}) has no per-channel data input`;
          for (const o of outs) addOrigin(o, { type: "source", reason });
          break;
        }
        if (b.kind === "join" && data.size >= 2) {
          const spaces = new Set([...data].map((t) => uf.find(t)));
          if (spaces.size === 1) {
            // x·Sigmoid(x), GELU's x·½(1+erf(x/√2)), ...: every input is a channel-wise function of one
            // value (a space without residual joins is a tree of such functions from its origin), so
            // this is an activation on each channel, not a residual join (graph/patterns.ts names it).
            pathOp(x, "elementwise");
          } else if (
            pattern?.name === "squeeze-excitation" &&
            pattern.node === node.name &&
            data.size === 2
          ) {
            // x·s with a per-channel gate s computed from x (pool -> convs -> gate): s's channels are
            // x's, so the excite conv's output channels go with the group; it gates, it does not add.
            const gateSpace = uf.find(pattern.gate!);
            const gates = [...producerOf].filter(([v]) => uf.find(v) === gateSpace).map(([, n]) => n);
            if (gates.length === 1 && gateSpace !== uf.find(pattern.input)) {
              producerInfo.get(gates[0]!)!.squeezeExcitation = node.name;
              pathOp(x, "elementwise");
            } else {
              addFact(x, { type: "join" });
              pathOp(x);
            }
          } else {
            addFact(x, { type: "join" });
            pathOp(x);
          }
        } else pathOp(x);
        const tied = [...data, ...outs];
        for (const t of tied) uf.union(tied[0]!, t);
        if (node.opType === "Reshape") recordReshape(node, outs[0], axes.get(outs[0] ?? "") ?? 1);
        break;
      }
      case "concat": {
        const out = outs[0];
        if (out === undefined) break;
        const axis = xAxis;
        let offset = 0;
        const parts: { tensor: string; offset: number }[] = [];
        let known = true;
        for (const i of b.dataInputs) {
          const t = node.inputs[i]!;
          const d = dimsOf(t)?.[axes.get(t) ?? axis];
          if (d === undefined) known = false;
          parts.push({ tensor: t, offset });
          offset += d ?? 0;
        }
        activation(out, axis);
        if (!known) {
          const reason = `frozen: node "${node.name}" (op Concat) has inputs of unknown channel count`;
          for (const p of parts) addFact(p.tensor, { type: "freeze", reason });
          addOrigin(out, { type: "source", reason });
          break;
        }
        addOrigin(out, { type: "concat", node: node.name, parts });
        pathOp(out);
        break;
      }
      case "flatten": {
        const out = outs[0];
        if (out === undefined) break;
        activation(out, 1);
        addOrigin(out, { type: "flatten", node: node.name, from: x, blockSize: b.blockSize ?? 1 });
        pathOp(out);
        if (node.opType === "Reshape") recordReshape(node, out, 1);
        break;
      }
      case "shape-only":
        break;
    }
  }

  function recordReshape(node: GraphNode, out: string | undefined, index: number): void {
    const shapeTensor = node.inputs[1];
    if (out === undefined || shapeTensor === undefined || !graph.constants.has(shapeTensor)) return;
    const target = shapes.values.get(shapeTensor);
    if (target === undefined || !(target[index]! > 0)) return; // -1 or 0: inferred at run time
    addFact(out, { type: "reshape", node: node.name, shapeTensor, index });
  }

  for (const o of graph.outputs) {
    const name = o.name ?? "";
    if (axes.has(name)) addFact(name, { type: "output", name });
  }

  const groups = assembleGroups(uf, axes, origins, facts);
  constrainBlocks(groups);
  freezeSharedTensors(graph, groups);
  return groups;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Set each group's block constraint from the grouped convs that produce or read it (`blocks` = lcm of
 * their `group`), and freeze the groups where it cannot hold: a grouped conv reading the channels
 * through a Concat (its blocks would straddle several groups), an lcm that does not divide the channel
 * count, or blocks of one channel (nothing could be removed).
 */
function constrainBlocks(groups: DependencyGroup[]): void {
  for (const g of groups) {
    const convs = [...g.producers, ...g.consumers].filter((x) => x.group !== undefined);
    if (convs.length === 0) continue;
    const names = [...new Set(convs.map((x) => `"${x.node}" (group=${x.group})`))].join(", ");
    const freeze = (reason: string) => {
      g.frozenReasons.push(reason);
      g.frozen = true;
    };
    for (const c of g.consumers) {
      if (c.group !== undefined && (c.via.length > 0 || c.channelOffset !== 0 || c.blockSize !== 1)) {
        freeze(
          `frozen: grouped conv "${c.node}" (group=${c.group}) reads these channels through ${c.via.map((v) => `"${v}"`).join(", ")}; its channel blocks would span several groups, which prunekit does not prune`,
        );
      }
    }
    const blocks = convs.reduce((l, x) => (l / gcd(l, x.group!)) * x.group!, 1);
    if (g.channels % blocks !== 0) {
      freeze(
        `frozen: grouped convs ${names} split these ${g.channels} channels into ${blocks} blocks (the lcm of their groups), which does not divide ${g.channels}`,
      );
      continue;
    }
    g.blocks = blocks;
    if (blocks === g.channels) {
      freeze(
        `frozen: grouped convs ${names} split these ${g.channels} channels into blocks of one channel, and every block must keep the same count, so none can be removed`,
      );
    }
  }
}

/**
 * Freeze groups that would edit a constant another node also reads (tied weights, or an exporter that
 * shares equal initializers without Identity copies): slicing it for one layer would change the other.
 * Readers that are Identity nodes of a constant are fine, surgery gives them their own initializer.
 */
function freezeSharedTensors(graph: Graph, groups: DependencyGroup[]): void {
  const isConstantIdentity = (n: GraphNode) =>
    n.opType === "Identity" && n.domain === "" && graph.constants.has(n.outputs[0] ?? "");
  for (const g of groups) {
    const edited: [string | undefined, string][] = [
      ...g.producers.flatMap((p): [string | undefined, string][] => [
        [p.weight, p.node],
        [p.bias, p.node],
      ]),
      ...g.members.flatMap((m) => m.params.map((q): [string, string] => [q.tensor, m.node])),
      ...g.consumers.map((c): [string, string] => [c.weight, c.node]),
      ...g.reshapes.map((r): [string, string] => [r.shapeTensor, r.node]),
    ];
    const reasons = new Set(g.frozenReasons);
    for (const [tensor, node] of edited) {
      if (tensor === undefined) continue;
      const other = graph.tensors
        .get(tensor)
        ?.consumers.find((n) => n.name !== node && !isConstantIdentity(n));
      if (other === undefined) continue;
      const reason = `frozen: tensor "${tensor}" is also read by node "${other.name}" (op ${other.opType}); pruning node "${node}" would change it there too`;
      if (!reasons.has(reason)) {
        reasons.add(reason);
        g.frozenReasons.push(reason);
      }
      g.frozen = true;
    }
  }
}

function assembleGroups(
  uf: UnionFind,
  axes: Map<string, number>,
  origins: Map<string, Origin[]>,
  facts: Map<string, Fact[]>,
): DependencyGroup[] {
  // Gather origins and facts per space (root of the union-find).
  const spaceOrigins = new Map<string, Origin[]>();
  const spaceFacts = new Map<string, Fact[]>();
  const spaceTensors = new Map<string, string[]>();
  // Appending in place keeps this linear in the number of values (copying the lists was quadratic
  // in the length of a chain of channel-preserving nodes).
  const appendTo = <T>(map: Map<string, T[]>, key: string, items: readonly T[]): void => {
    const list = map.get(key);
    if (list === undefined) map.set(key, items.slice());
    else for (const x of items) list.push(x);
  };
  for (const t of axes.keys()) {
    const r = uf.find(t);
    appendTo(spaceOrigins, r, origins.get(t) ?? []);
    const f = facts.get(t);
    if (f) appendTo(spaceFacts, r, f);
    appendTo(spaceTensors, r, [t]);
  }

  // Spaces with producers become groups, ordered by their first producer.
  const producerSpaces = [...spaceOrigins.entries()]
    .map(([space, list]) => ({
      space,
      producers: list.filter((o): o is Extract<Origin, { type: "producer" }> => o.type === "producer"),
    }))
    .filter((s) => s.producers.length > 0)
    .sort((a, b) => a.producers[0]!.order - b.producers[0]!.order);
  const groups = new Map<string, DependencyGroup>();
  producerSpaces.forEach(({ space, producers }, id) => {
    const sorted = producers.slice().sort((a, b) => a.order - b.order);
    const channels = sorted[0]!.channels;
    const g: DependencyGroup = {
      id,
      channels,
      blocks: 1,
      producers: sorted.map((p) => p.producer),
      members: [],
      consumers: [],
      pathOps: [],
      tensors: [],
      reshapes: [],
      isResidual: false,
      reachesGraphOutput: false,
      frozen: false,
      frozenReasons: [],
    };
    for (const p of sorted) {
      if (p.channels !== channels) {
        g.frozenReasons.push(
          `frozen: producers disagree on the channel count (${sorted[0]!.producer.node}: ${channels}, ${p.producer.node}: ${p.channels})`,
        );
      }
    }
    groups.set(space, g);
  });

  // How each space sees root (group) spaces.
  const memo = new Map<string, Mapping[]>();
  const conflicts = new Map<string, string>();
  // A space joined element-wise with a derived one (concat or flatten output) would need its channels
  // split across several groups; prunekit freezes all of them instead and keeps the space whole.
  const conflictRoots = new Map<string, Mapping[]>();
  const resolve = (space: string): Mapping[] => {
    const cached = memo.get(space);
    if (cached) return cached;
    memo.set(space, []); // DAG: never revisited while resolving, but guard anyway
    const list = spaceOrigins.get(space) ?? [];
    const derived = list.filter((o) => o.type === "concat" || o.type === "flatten");
    const expanded: Mapping[] = [];
    for (const o of derived) {
      if (o.type === "concat") {
        for (const p of o.parts) {
          for (const m of resolve(uf.find(p.tensor))) {
            expanded.push({
              root: m.root,
              offset: p.offset + m.offset,
              block: m.block,
              via: [...m.via, o.node],
            });
          }
        }
      } else if (o.type === "flatten") {
        for (const m of resolve(uf.find(o.from))) {
          expanded.push({
            root: m.root,
            offset: m.offset * o.blockSize,
            block: m.block * o.blockSize,
            via: [...m.via, o.node],
          });
        }
      }
    }
    const self: Mapping[] = groups.has(space) ? [{ root: space, offset: 0, block: 1, via: [] }] : [];
    let out: Mapping[];
    if (derived.length > 1 || (derived.length === 1 && list.length > 1)) {
      const nodes = derived.map((o) => (o.type === "concat" || o.type === "flatten" ? o.node : ""));
      conflicts.set(
        space,
        `frozen: the output of ${nodes.map((n) => `node "${n}"`).join(" and ")} is joined element-wise with other channels; prunekit cannot split a concatenated or flattened space`,
      );
      conflictRoots.set(space, expanded);
      out = self;
    } else out = [...self, ...expanded];
    memo.set(space, out);
    return out;
  };

  for (const space of spaceTensors.keys()) resolve(space);
  for (const [space, roots] of conflictRoots) {
    for (const m of roots) groups.get(m.root)!.frozenReasons.push(conflicts.get(space)!);
  }
  const pathOpNodes = new Map<DependencyGroup, Set<string>>();
  for (const space of spaceTensors.keys()) {
    const maps = resolve(space);
    const conflict = conflicts.get(space);
    const own = spaceOrigins.get(space) ?? [];
    for (const m of maps) {
      const g = groups.get(m.root)!;
      if (conflict) g.frozenReasons.push(conflict);
      for (const o of own) if (o.type === "source") g.frozenReasons.push(o.reason);
      for (const t of spaceTensors.get(space)!) {
        g.tensors.push({ name: t, channelAxis: axes.get(t)!, channelOffset: m.offset, blockSize: m.block });
      }
      for (const f of spaceFacts.get(space) ?? []) {
        switch (f.type) {
          case "member":
            g.members.push({ ...f.member, channelOffset: m.offset, blockSize: m.block });
            break;
          case "consumer":
            g.consumers.push({ ...f.consumer, channelOffset: m.offset, blockSize: m.block, via: m.via });
            break;
          case "pathOp": {
            const seen = pathOpNodes.get(g) ?? new Set<string>();
            pathOpNodes.set(g, seen);
            if (!seen.has(f.op.node)) {
              seen.add(f.op.node);
              g.pathOps.push(f.op);
            }
            break;
          }
          case "freeze":
            g.frozenReasons.push(f.reason);
            break;
          case "output":
            g.reachesGraphOutput = true;
            g.frozenReasons.push(`frozen: channels reach graph output "${f.name}"`);
            break;
          case "join":
            g.isResidual = true;
            break;
          case "reshape":
            g.reshapes.push({ node: f.node, shapeTensor: f.shapeTensor, index: f.index, blockSize: m.block });
            break;
        }
      }
    }
  }

  const result = [...groups.values()];
  for (const g of result) {
    g.frozenReasons = [...new Set(g.frozenReasons)];
    g.frozen = g.frozenReasons.length > 0;
  }
  return result;
}
