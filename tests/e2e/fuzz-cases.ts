// The cases of the pipeline fuzz test (tests/e2e/fuzz-prune.test.ts) and of scripts/fuzz-prune.ts.

import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { describeModel, loadModel, prune } from "../../src/api.ts";
import { isPrunekitError } from "../../src/errors.ts";
import { decodeModel } from "../../src/onnx/decode.ts";
import { encodeModel } from "../../src/onnx/encode.ts";
import type { ModelProto } from "../../src/onnx/proto-types.ts";
import { readFixture } from "../onnx/fixtures.ts";

export interface FuzzSeed {
  name: string;
  model: ModelProto;
}

/** Small real models covering Conv, BN, residual Add, Concat, Gemm. */
export function fuzzSeeds(): FuzzSeed[] {
  return ["resnet_bn.onnx", "concat_bn.onnx", "mlp.onnx", "vgg_bn.onnx"].map((name) => ({
    name,
    model: decodeModel(readFixture(name)),
  }));
}

export type FuzzMutation =
  | { kind: "dim"; tensor: number; axis: number; value: number }
  | { kind: "attr"; node: number; attr: number; value: number }
  | { kind: "dtype"; tensor: number; value: number }
  | { kind: "data"; tensor: number; at: number; value: number }
  | { kind: "rewire"; node: number; input: number; from: number }
  | { kind: "rename"; node: number; to: number }
  | { kind: "drop"; node: number };

const extreme = fc.constantFrom(
  0,
  -1,
  1,
  2,
  3,
  7,
  1e-34,
  1e28,
  -1e28,
  65536,
  2 ** 31 - 1,
  Number.NaN,
  Infinity,
);

export const fuzzMutation: fc.Arbitrary<FuzzMutation> = fc.oneof(
  fc.record({
    kind: fc.constant("dim" as const),
    tensor: fc.nat(),
    axis: fc.nat(3),
    value: fc.constantFrom(0, 1, 2, 3, 1000),
  }),
  fc.record({
    kind: fc.constant("attr" as const),
    node: fc.nat(),
    attr: fc.nat(5),
    value: fc.constantFrom(-1, 0, 1, 2, 5, 1000),
  }),
  fc.record({
    kind: fc.constant("dtype" as const),
    tensor: fc.nat(),
    value: fc.constantFrom(0, 2, 6, 7, 10, 11, 99),
  }),
  fc.record({ kind: fc.constant("data" as const), tensor: fc.nat(), at: fc.nat(), value: extreme }),
  fc.record({ kind: fc.constant("rewire" as const), node: fc.nat(), input: fc.nat(3), from: fc.nat() }),
  fc.record({ kind: fc.constant("rename" as const), node: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant("drop" as const), node: fc.nat() }),
);

function mutate(model: ModelProto, m: FuzzMutation): ModelProto {
  const g = structuredClone(model.graph!);
  const inits = g.initializer;
  const nodes = g.node;
  switch (m.kind) {
    case "dim": {
      const t = inits[m.tensor % inits.length];
      if (t !== undefined && t.dims.length > 0) t.dims[m.axis % t.dims.length] = m.value;
      break;
    }
    case "attr": {
      const n = nodes[m.node % nodes.length];
      const a = n?.attribute[m.attr % Math.max(1, n.attribute.length)];
      if (a !== undefined) {
        if (a.ints.length > 0) a.ints[0] = m.value;
        else if (a.i !== undefined) a.i = m.value;
        else if (a.f !== undefined) a.f = m.value;
      }
      break;
    }
    case "dtype": {
      const t = inits[m.tensor % inits.length];
      if (t !== undefined) t.dataType = m.value;
      break;
    }
    case "data": {
      const t = inits[m.tensor % inits.length];
      if (t?.rawData !== undefined && t.rawData.length >= 4 && t.dataType === 1) {
        const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
        view.setFloat32((m.at % (t.rawData.length / 4)) * 4, m.value, true);
      }
      break;
    }
    case "rewire": {
      const n = nodes[m.node % nodes.length];
      const values = nodes.flatMap((x) => x.output);
      if (n !== undefined && n.input.length > 0 && values.length > 0) {
        n.input[m.input % n.input.length] = values[m.from % values.length]!;
      }
      break;
    }
    case "rename": {
      const n = nodes[m.node % nodes.length];
      if (n !== undefined) n.name = nodes[m.to % nodes.length]!.name ?? "dup";
      break;
    }
    case "drop":
      nodes.splice(m.node % nodes.length, 1);
      break;
  }
  return { ...model, graph: g };
}

async function ortRun(bytes: Uint8Array): Promise<Float32Array | undefined> {
  try {
    const session = await ort.InferenceSession.create(bytes);
    const model = decodeModel(bytes);
    const vi = model.graph!.input.find((i) => i.name === session.inputNames[0])!;
    const dims = (vi.type?.tensorType?.shape?.dim ?? []).map((d, i) =>
      i === 0 ? 2 : Number(d.dimValue ?? 1),
    );
    const len = dims.reduce((a, b) => a * b, 1);
    const x = new Float32Array(len).map((_, i) => ((i * 37) % 101) / 101 - 0.5);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", x, dims) });
    await session.release();
    return out[session.outputNames[0]!]!.data as Float32Array;
  } catch {
    return undefined;
  }
}

/** Run one case; `defect` says what went wrong, if anything. */
export async function fuzzCase(
  seed: FuzzSeed,
  mutations: readonly FuzzMutation[],
): Promise<{ defect?: string; outcome: string }> {
  let proto = seed.model;
  for (const m of mutations) proto = mutate(proto, m);
  let bytes: Uint8Array;
  try {
    bytes = encodeModel(proto);
  } catch {
    return { outcome: "unencodable" };
  }
  try {
    const model = await loadModel(bytes);
    describeModel(model);
    const before = await ortRun(bytes);
    for (const method of ["l1", "merge"] as const) {
      const r = await prune(model, {
        method,
        ratio: 0.5,
        ...(method === "merge" ? { pruneUnsafe: true } : {}),
      });
      if (before === undefined) continue;
      const after = await ortRun(r.bytes);
      if (after === undefined)
        return { defect: `${method}: onnxruntime ran the input but refuses the output`, outcome: "defect" };
      if (before.every(Number.isFinite) && !after.every(Number.isFinite)) {
        return { defect: `${method}: finite outputs became non-finite`, outcome: "defect" };
      }
    }
    return { outcome: "pruned" };
  } catch (e) {
    if (isPrunekitError(e)) return { outcome: e.code };
    return { defect: `not a PrunekitError: ${(e as Error).stack ?? String(e)}`, outcome: "defect" };
  }
}
