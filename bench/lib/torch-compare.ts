// Side by side for bench/methods.bench.ts --torch: the same Neuron Merging step in plain PyTorch
// (bench/lib/merge_torch.py, one thread) on the same ONNX bytes, when /usr/bin/python3 has torch and onnx.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PruneReport } from "../../src/api.ts";

const PYTHON = "/usr/bin/python3";
const PHASES = ["decode", "decomposition", "surgery", "encode"] as const;

export interface TorchRun {
  outBytes: number;
  torch: string;
  /** torch's BLAS_INFO: "mkl" or "open" are fast; "generic" (Debian's build) is the reference BLAS. */
  blas: string;
  layers: { node: string; kept: number[]; merged: number }[];
  runs: Record<string, number>[];
}

/** Why the comparison cannot run (no python, torch or onnx), or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ["-c", "import torch, onnx"], { encoding: "utf8" });
  if (r.error) return `${PYTHON} not found`;
  if (r.status !== 0) return `${PYTHON} lacks torch or onnx (${r.stderr.trim().split("\n").pop()})`;
  return undefined;
}

/** Run merge_torch.py on `bytes` (ratio, one warm-up then `reps` repetitions) and parse its JSON line. */
export function runTorchMerge(bytes: Uint8Array, ratio: number, reps: number): TorchRun {
  const dir = mkdtempSync(join(tmpdir(), "prunekit-bench-"));
  try {
    const model = join(dir, "model.onnx");
    writeFileSync(model, bytes);
    const script = fileURLToPath(new URL("merge_torch.py", import.meta.url));
    const r = spawnSync(PYTHON, [script, model, String(ratio), String(reps)], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
    });
    if (r.status !== 0) throw new Error(`merge_torch.py failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as TorchRun;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Kept sets and merge counts of the two implementations: "identical" or the first difference. */
export function compareDecisions(report: PruneReport, torch: TorchRun): string {
  const ours = new Map(report.layers.map((l) => [l.node, l]));
  if (ours.size !== torch.layers.length)
    return `prunekit pruned ${ours.size} layers, PyTorch ${torch.layers.length}`;
  for (const t of torch.layers) {
    const o = ours.get(t.node);
    if (o === undefined) return `PyTorch pruned "${t.node}", prunekit did not`;
    if (o.kept.join() !== t.kept.join()) return `"${t.node}": kept sets differ`;
    if (o.merged !== t.merged) return `"${t.node}": ${o.merged} merged by prunekit, ${t.merged} by PyTorch`;
  }
  return "identical kept sets and merge counts in every layer";
}

/**
 * A Markdown table: per phase the minimum wall ms of prunekit (`ours`, from the split runs) and of
 * PyTorch, and PyTorch / prunekit; then process CPU of the whole run (median).
 */
export function torchTable(
  ours: Record<string, number[]>,
  oursCpuTotal: number,
  torch: TorchRun,
  fmt: (ms: number) => string,
): string {
  const min = (xs: number[]) => Math.min(...xs);
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const rows = PHASES.map((p) => {
    const o = min(ours[p] ?? [Number.NaN]);
    const t = min(torch.runs.map((r) => r[p]!));
    return `| ${p} | ${fmt(o)} | ${fmt(t)} | ${(t / o).toFixed(1)}x |`;
  });
  const oSum = PHASES.reduce((a, p) => a + min(ours[p] ?? [Number.NaN]), 0);
  const tSum = PHASES.reduce((a, p) => a + min(torch.runs.map((r) => r[p]!)), 0);
  const tCpu = median(torch.runs.map((r) => PHASES.reduce((a, p) => a + r[`${p}.cpu`]!, 0)));
  return [
    "| phase | prunekit min ms | PyTorch min ms | PyTorch / prunekit |",
    "|---|---:|---:|---:|",
    ...rows,
    `| **sum** | **${fmt(oSum)}** | **${fmt(tSum)}** | **${(tSum / oSum).toFixed(1)}x** |`,
    `| process CPU, whole run (median) | ${fmt(oursCpuTotal)} | ${fmt(tCpu)} | ${(tCpu / oursCpuTotal).toFixed(1)}x |`,
  ].join("\n");
}
