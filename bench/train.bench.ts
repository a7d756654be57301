// One training step (forward in training mode, softmax cross-entropy, backward, SGD with momentum 0.9
// and weight decay 5e-4) of the training engine against PyTorch on one thread, on the trained ResNet-20
// fixture and LeNet-300-100 at batch 64. Rounds interleave prunekit (default build), prunekit (relaxed
// SIMD build, where the runtime has it) and PyTorch (bench/torch_train_step.py, one long-lived
// /usr/bin/python3 child that builds the same network from the same ONNX file); medians and ranges of
// images/s, then prunekit's time per op family from the trainer's profile over the timed steps.
// Run: node --import tsx bench/train.bench.ts [--rounds N] [--smoke] [--workers-only]
// --smoke: one round of one step, LeNet only, no PyTorch (keeps the benchmark working; no speed gate).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { sgdStep } from "../src/engine/optim.ts";
import { WorkerPool } from "../src/engine/parallel.ts";
import { compileTrainer, createTrainStore, type Trainer, type TrainProfile } from "../src/engine/tape.ts";
import { attrInt, buildGraph, type Graph } from "../src/graph/ir.ts";
import { inferShapes } from "../src/graph/shapes.ts";
import { createNodeTrainWorkers } from "../src/node/train-workers.ts";
import { decodeModel } from "../src/onnx/index.ts";
import { DataType, type ValueInfoProto } from "../src/onnx/proto-types.ts";
import { createWasm, type Wasm } from "../src/wasm/instance.ts";
import { relaxedSimdSupported } from "../src/wasm/load.ts";

// Every WebAssembly function compiled straight to optimised code (no Liftoff tier-up race), and relaxed
// SIMD enabled so the opt-in relaxed build can run beside the default one (Node 20 needs the flag).
v8.setFlagsFromString("--no-liftoff");
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

const argv = process.argv.slice(2);
const SMOKE = argv.includes("--smoke");
/** Only the data-parallel comparison (1 thread vs 2 workers). */
const WORKERS_ONLY = argv.includes("--workers-only");
const roundsArg = argv.indexOf("--rounds");
const ROUNDS = SMOKE ? 1 : roundsArg >= 0 ? Number(argv[roundsArg + 1]) : 5;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error("--rounds needs a positive integer");
const BATCH = 64;
const LR = 0.01;
const SGD = { lr: LR, momentum: 0.9, weightDecay: 5e-4 };
const PYTHON = "/usr/bin/python3";

interface ModelCase {
  label: string;
  file: URL;
  /** Timed steps per round (after the warm-up). */
  iters: number;
}
const MODELS: ModelCase[] = [
  {
    label: "ResNet-20",
    file: new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url),
    iters: 3,
  },
  { label: "LeNet-300-100", file: new URL("../tests/fixtures/lenet300.onnx", import.meta.url), iters: 20 },
];
const cases = SMOKE
  ? MODELS.filter((m) => m.label.startsWith("LeNet")).map((m) => ({ ...m, iters: 1 }))
  : MODELS;
const WARMUP = SMOKE ? 1 : 2;

// --- PyTorch child --------------------------------------------------------------------------------

interface TorchReply {
  ready?: boolean;
  error?: string;
  torch?: string;
  threads?: number;
  cpu_capability?: string;
  images_per_s?: number;
  cpu_ms_per_step?: number;
  first_loss?: number;
}

class TorchChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((r: TorchReply) => void)[] = [];
  private stderr = "";

  constructor() {
    const script = fileURLToPath(new URL("torch_train_step.py", import.meta.url));
    this.child = spawn(PYTHON, [script, "--batch", String(BATCH), "--lr", String(LR)], {
      env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
    });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    const fail = (why: string) => {
      for (const w of this.waiting.splice(0)) w({ error: why });
    };
    this.child.on("error", (e) => fail(`${PYTHON}: ${e.message}`));
    this.child.stdin.on("error", () => {}); // a child that failed to start or exited: reported above
    this.child.on("exit", (code) =>
      fail(`torch_train_step.py exited (${code}): ${this.stderr.trim().split("\n").pop() ?? ""}`),
    );
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const w = this.waiting.shift();
      if (w !== undefined) w(JSON.parse(line) as TorchReply);
    });
  }

  /** The next reply line (the ready line first, then one per command). */
  next(command?: string): Promise<TorchReply> {
    const p = new Promise<TorchReply>((resolve) => this.waiting.push(resolve));
    if (command !== undefined) this.child.stdin.write(`${command}\n`);
    return p;
  }

  close(): void {
    if (this.child.exitCode === null) this.child.stdin.end("quit\n");
  }
}

// --- FLOPs of the GEMM-shaped ops (to turn the profile into GFLOP/s) ------------------------------

interface Flops {
  /** Multiply-adds × 2 of the forward, by op type. */
  forward: Record<string, number>;
  /** Of the backward: dW always, dX when the op's data input needs a gradient. */
  backward: Record<string, number>;
}

function gemmFlops(graph: Graph, batch: number): Flops {
  const vi = graph.inputs[0]!;
  const dims = (vi.type?.tensorType?.shape?.dim ?? []).map((d, i) => (i === 0 ? batch : Number(d.dimValue)));
  const input = {
    ...vi,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  } as ValueInfoProto;
  const { shapes } = inferShapes({ ...graph, inputs: [input], valueInfo: new Map(), outputs: [] });
  const out: Flops = { forward: {}, backward: {} };
  const add = (op: string, f: number, dx: boolean) => {
    out.forward[op] = (out.forward[op] ?? 0) + f;
    out.backward[op] = (out.backward[op] ?? 0) + (dx ? 2 * f : f);
  };
  // Values whose gradient the backward computes: those downstream of a float initializer.
  const needsGrad = new Set<string>();
  for (const node of graph.order) {
    const fromParam = node.inputs.some(
      (i) => needsGrad.has(i) || graph.constants.get(i)?.dataType === DataType.FLOAT,
    );
    if (fromParam) for (const o of node.outputs) needsGrad.add(o);
  }
  for (const node of graph.order) {
    const w = shapes.get(node.inputs[1] ?? "");
    const y = shapes.get(node.outputs[0] ?? "");
    if (w === undefined || y === undefined) continue;
    const dx = needsGrad.has(node.inputs[0] ?? "");
    if (node.opType === "Conv") {
      // y: N x Cout x H x W; w: Cout x Cin/g x kh x kw.
      const perOut = w.slice(1).reduce((a, b) => a * b, 1);
      add("Conv", 2 * y.reduce((a, b) => a * b, 1) * perOut, dx);
    } else if (node.opType === "Gemm" || node.opType === "MatMul") {
      const a = shapes.get(node.inputs[0] ?? "");
      if (a === undefined) continue;
      const k = node.opType === "Gemm" && attrInt(node, "transA", 0) === 1 ? a[0]! : a[a.length - 1]!;
      add(node.opType, 2 * y.reduce((p, q) => p * q, 1) * k, dx);
    }
  }
  return out;
}

// --- the run --------------------------------------------------------------------------------------

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const range = (v: number[], digits: number) =>
  v.length === 0
    ? "—"
    : `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;

const baseline = await createWasm();
const relaxed: Wasm | undefined = relaxedSimdSupported() ? await createWasm({ simd: "relaxed" }) : undefined;
const notes: string[] = [];
if (relaxed === undefined) notes.push("this runtime has no relaxed SIMD: the relaxed column is not measured");

let torch: TorchChild | undefined;
let torchInfo = "";
if (!SMOKE) {
  torch = new TorchChild();
  const ready = await torch.next();
  if (ready.ready === true) {
    torchInfo = `PyTorch ${ready.torch}, ${ready.threads} thread, CPU capability ${ready.cpu_capability}`;
  } else {
    notes.push(`PyTorch column skipped: ${ready.error ?? "no reply from torch_train_step.py"}`);
    torch.close();
    torch = undefined;
  }
} else notes.push("smoke run: 1 round, 1 step, LeNet only, no PyTorch");

console.log(
  `host: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}, V8 ${process.versions.v8}${torchInfo === "" ? "" : `; ${torchInfo}`}`,
);

interface Side {
  wasm: Wasm;
  trainer: Trainer;
  x: Float32Array;
  labels: Int32Array;
  firstLoss: number;
  imgs: number[];
  /** Images per second of process CPU time. */
  cpuImgs: number[];
  /** Profile summed over the timed steps only (ms), with "sgd" in forward. */
  timed: TrainProfile;
  timedSteps: number;
  timedMs: number;
}

function setup(wasm: Wasm, graph: Graph): Side {
  const trainer = compileTrainer(wasm, graph, { batch: BATCH, profile: true });
  const n = trainer.input.dims.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n).map((_, i) => ((i * 7919) % 256) / 255);
  const classes = trainer.logits.dims[1]!;
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % classes);
  let firstLoss = Number.NaN;
  for (let i = 0; i < WARMUP; i++) {
    const r = trainer.step(x, labels);
    if (i === 0) firstLoss = r.loss;
    sgdStep(trainer.store, SGD, () => false);
  }
  return {
    wasm,
    trainer,
    x,
    labels,
    firstLoss,
    imgs: [],
    cpuImgs: [],
    timed: { forward: {}, backward: {} },
    timedSteps: 0,
    timedMs: 0,
  };
}

function timeSteps(side: Side, iters: number): void {
  const before = side.trainer.profile();
  let sgdMs = 0;
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < iters; i++) {
    side.trainer.step(side.x, side.labels);
    const s = performance.now();
    sgdStep(side.trainer.store, SGD, () => false);
    sgdMs += performance.now() - s;
  }
  const ms = performance.now() - t;
  side.imgs.push((iters * BATCH * 1000) / ms);
  const used = process.cpuUsage(cpu);
  side.cpuImgs.push((iters * BATCH * 1e6) / (used.user + used.system));
  const after = side.trainer.profile();
  for (const pass of ["forward", "backward"] as const) {
    for (const [op, v] of Object.entries(after[pass])) {
      side.timed[pass][op] = (side.timed[pass][op] ?? 0) + v - (before[pass][op] ?? 0);
    }
  }
  side.timed.forward.sgd = (side.timed.forward.sgd ?? 0) + sgdMs;
  side.timedSteps += iters;
  side.timedMs += ms;
}

const FAMILIES: [string, (op: string) => boolean][] = [
  ["Conv", (op) => op === "Conv"],
  ["BatchNormalization", (op) => op === "BatchNormalization"],
  ["Relu", (op) => op === "Relu"],
  ["Add", (op) => op === "Add"],
  ["Gemm / MatMul", (op) => op === "Gemm" || op === "MatMul"],
  ["pools", (op) => op.endsWith("Pool")],
  ["loss", (op) => op === "loss"],
  ["sgd", (op) => op === "sgd"],
];

function splitTable(label: string, side: Side, flops: Flops): string[] {
  const per = (v: number) => v / side.timedSteps;
  const stepMs = side.timedMs / side.timedSteps;
  const sum = (rec: Record<string, number>, pick: (op: string) => boolean) =>
    Object.entries(rec).reduce((s, [op, v]) => (pick(op) ? s + v : s), 0);
  const known = (op: string) => FAMILIES.some(([, pick]) => pick(op));
  const rows: string[] = [
    `prunekit (${side.wasm.simd} build), ${label}, batch ${BATCH}: ms per step averaged over ${side.timedSteps} timed steps`,
    "",
    "| op family | forward ms | backward ms | total ms | % of step | GFLOP/s fwd / bwd |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  const families: [string, (op: string) => boolean][] = [...FAMILIES, ["other", (op) => !known(op)]];
  let profiled = 0;
  for (const [name, pick] of families) {
    const f = per(sum(side.timed.forward, pick));
    const b = per(sum(side.timed.backward, pick));
    profiled += f + b;
    if (f + b === 0) continue; // a family the model does not have
    const ff = sum(flops.forward, pick);
    const fb = sum(flops.backward, pick);
    const rate = ff > 0 ? `${(ff / f / 1e6).toFixed(1)} / ${(fb / b / 1e6).toFixed(1)}` : "";
    rows.push(
      `| ${name} | ${f.toFixed(2)} | ${b.toFixed(2)} | ${(f + b).toFixed(2)} | ${((100 * (f + b)) / stepMs).toFixed(1)}% | ${rate} |`,
    );
  }
  const rest = stepMs - profiled;
  rows.push(
    `| unprofiled (JS glue, input copy, label check) | | | ${rest.toFixed(2)} | ${((100 * rest) / stepMs).toFixed(1)}% | |`,
  );
  rows.push(`| **step** | | | **${stepMs.toFixed(2)}** | 100% | |`);
  return rows;
}

const mainRows: string[] = [];
const cpuRows: string[] = [];
const splits: string[][] = [];
const checks: string[] = [];
for (const m of WORKERS_ONLY ? [] : cases) {
  const bytes = readFileSync(m.file);
  const graph = buildGraph(decodeModel(bytes));
  const flops = gemmFlops(graph, BATCH);
  const sides = [setup(baseline, graph)];
  if (relaxed !== undefined) sides.push(setup(relaxed, graph));
  const dims = sides[0]!.trainer.input.dims.slice(1).join("x");
  const modelPath = fileURLToPath(m.file);
  const theirs: number[] = [];
  const theirsCpu: number[] = [];
  let torchFirstLoss: number | undefined;
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of sides) timeSteps(side, m.iters);
    if (torch !== undefined) {
      const rep = await torch.next(`run ${modelPath} ${m.iters}`);
      if (rep.error !== undefined || rep.images_per_s === undefined) {
        notes.push(`PyTorch failed on ${m.label}: ${rep.error ?? "no images_per_s"}`);
        break;
      }
      theirs.push(rep.images_per_s);
      theirsCpu.push((BATCH * 1000) / rep.cpu_ms_per_step!);
      torchFirstLoss = rep.first_loss;
    }
  }
  const row = (ours: number[], oursRelaxed: number[] | undefined, them: number[]) => {
    const ratios = them.length === ours.length ? ours.map((o, i) => o / them[i]!) : [];
    return `| ${m.label} (${dims}) | ${BATCH} | ${range(ours, 0)} | ${oursRelaxed === undefined ? "—" : range(oursRelaxed, 0)} | ${range(them, 0)} | ${range(ratios, 2)} |`;
  };
  mainRows.push(row(sides[0]!.imgs, sides[1]?.imgs, theirs));
  cpuRows.push(row(sides[0]!.cpuImgs, sides[1]?.cpuImgs, theirsCpu));
  for (const side of sides) splits.push(splitTable(`${m.label} (${dims})`, side, flops));
  checks.push(
    `${m.label}: loss of the first step at the file's weights: prunekit ${sides
      .map((s) => `${s.wasm.simd} ${s.firstLoss.toFixed(5)}`)
      .join(", ")}${torchFirstLoss === undefined ? "" : `, PyTorch ${torchFirstLoss.toFixed(5)}`}`,
  );
  for (const side of sides) side.trainer.dispose();
  for (const side of sides) side.trainer.store.dispose();
}
torch?.close();

// Data-parallel workers (worker_threads, one module instance each) against one thread, interleaved.
const workerRows: string[] = [];
if (!SMOKE) {
  const m = cases.find((c) => c.label.startsWith("ResNet"));
  if (m !== undefined) {
    const graph = buildGraph(decodeModel(readFileSync(m.file)));
    const single = setup(baseline, graph);
    const ports = createNodeTrainWorkers(2);
    const pool = new WorkerPool(ports);
    await pool.init(new Uint8Array(readFileSync(m.file)));
    const { store } = createTrainStore(baseline, graph);
    const perImage = single.x.length / BATCH;
    const none = new Set<string>();
    const two: number[] = [];
    for (let i = 0; i < WARMUP; i++) await pool.step(store, single.x, single.labels, perImage, none);
    for (let r = 0; r < ROUNDS; r++) {
      timeSteps(single, m.iters);
      const t = performance.now();
      for (let i = 0; i < m.iters; i++) {
        await pool.step(store, single.x, single.labels, perImage, none);
        sgdStep(store, SGD, () => false);
      }
      two.push((m.iters * BATCH * 1000) / (performance.now() - t));
    }
    const one = single.imgs.slice(-ROUNDS);
    const ratios = two.map((v, i) => v / one[i]!);
    workerRows.push(`| ${m.label} | ${BATCH} | ${range(one, 0)} | ${range(two, 0)} | ${range(ratios, 2)} |`);
    await pool.close();
    store.dispose();
    single.trainer.dispose();
    single.trainer.store.dispose();
  }
}

console.log(
  `${ROUNDS} rounds; per round ${cases.map((m) => `${m.label} ${m.iters} steps`).join(", ")} per contender, after ${WARMUP} warm-up steps`,
);
console.log("");
console.log(
  "| model | batch | prunekit (img/s) | prunekit relaxed (img/s) | PyTorch 1 thread (img/s) | ratio prunekit / PyTorch |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const row of mainRows) console.log(row);
console.log("");
console.log("The same steps by process CPU time (images per CPU second; less sensitive to other jobs):");
console.log("");
console.log(
  "| model | batch | prunekit (img/CPU s) | prunekit relaxed (img/CPU s) | PyTorch 1 thread (img/CPU s) | ratio prunekit / PyTorch |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const row of cpuRows) console.log(row);
if (workerRows.length > 0) {
  console.log(
    `\ndata-parallel: ${cpus().length} cores; a step = forward, backward and SGD on the whole batch`,
  );
  console.log("| model | batch | 1 thread (img/s) | 2 workers (img/s) | ratio |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const row of workerRows) console.log(row);
}
for (const s of splits) console.log(`\n${s.join("\n")}`);
console.log("");
for (const c of checks) console.log(c);
for (const n of notes) console.log(`note: ${n}`);
