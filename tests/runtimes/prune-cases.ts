// Runtime-agnostic: prune real fixtures through the public API and summarise the results, so Node,
// Deno and Chromium can be compared byte for byte. Uses only web-standard APIs and the library.
import { loadModel, prune } from "../../src/index.ts";

/** One pruning run: fixture × options. */
export const PRUNE_CASES: { fixture: string; options: Parameters<typeof prune>[1] }[] = [
  { fixture: "resnet_bn.onnx", options: { method: "l1", ratio: 0.5 } },
  { fixture: "mobilenet_fused.onnx", options: { method: "l2", ratio: 0.3 } },
  { fixture: "concat_bn.onnx", options: { method: "merge", ratio: 0.5 } },
  {
    fixture: "vgg_bn.onnx",
    options: { method: "merge", ratio: 0.6, bnFormula: "reference", criterion: "gm" },
  },
  { fixture: "mlp.onnx", options: { method: "merge", ratio: 0.7, merge: false } },
  { fixture: "resnet_bn.onnx", options: { method: "epruner", beta: 1.5, merge: true } },
  { fixture: "vgg_bn.onnx", options: { method: "epruner", beta: 1, init: "random", seed: 3 } },
  { fixture: "vgg_bn.onnx", options: { method: "epruner", targetMacs: 0.6, init: "reference" } },
];

/** What each runtime reports per case. */
export interface PruneCaseResult {
  name: string;
  sha256: string;
  byteLength: number;
  macsAfter: number;
  kept: number[][];
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Run every case; `fetchFixture` returns a fixture's bytes in the calling runtime. */
export async function runPruneCases(
  fetchFixture: (name: string) => Promise<Uint8Array>,
): Promise<PruneCaseResult[]> {
  const out: PruneCaseResult[] = [];
  for (const c of PRUNE_CASES) {
    const model = await loadModel(await fetchFixture(c.fixture));
    const { bytes, report } = await prune(model, c.options);
    out.push({
      name: `${c.fixture} ${JSON.stringify(c.options)}`,
      sha256: await sha256(bytes),
      byteLength: bytes.length,
      macsAfter: report.after.macs,
      kept: report.layers.map((l) => l.kept),
    });
  }
  return out;
}
