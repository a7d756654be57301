// The engine's whole-network forward pass against the runtimes a user would otherwise pick, one thread
// each, in one Node process, interleaved round by round: prunekit's engine (`compileModel`, default
// baseline-SIMD128 build), @tensorflow/tfjs-backend-wasm (XNNPACK, the network rebuilt with tfjs ops by
// bench/lib/onnx-to-tfjs.ts), onnxruntime-web's wasm backend (SIMD) and onnxruntime-node (native).
// Models: the trained ResNet-20 fixture (1x32x32) and VGG-16-BN (3x32x32) with seeded Kaiming weights
// from bench/lib/vgg.ts (the trained VGG file is too large to commit; speed does not depend on the
// weights). Every contender's logits are checked against onnxruntime-node before timing.
//
// Run: node --import tsx bench/engine.bench.ts [--rounds N] [--models resnet20,vgg16] [--batches 1,64]
//   [--tfjs-bn fold|batchNorm] [--smoke]
//   --smoke: the ResNet-20 fixture and a 1/16-width VGG at batches 1 and 2, one short round (keeps the
//   bench working; never gates on speed).
import { readFileSync } from "node:fs";
import v8 from "node:v8";

// Every WebAssembly module is compiled straight to optimised (TurboFan) code: with V8's lazy tier-up, a
// large module (tfjs's, onnxruntime-web's) can keep running baseline Liftoff code for many calls on a
// busy machine (see bench/kernels.bench.ts). Set before any module is compiled; the JS glue of each
// contender is warmed up below as well.
v8.setFlagsFromString("--no-liftoff");

const { setThreadsCount, version_wasm: tfjsWasmVersion } = await import("@tensorflow/tfjs-backend-wasm");
const tf = await import("@tensorflow/tfjs-core");
const ortNode = await import("onnxruntime-node");
const ortWeb = await import("onnxruntime-web");
const { compileModel } = await import("../src/engine/compile.ts");
const { buildGraph } = await import("../src/graph/ir.ts");
const { decodeModel } = await import("../src/onnx/index.ts");
const { createWasm } = await import("../src/wasm/instance.ts");
const { buildTfjsNet, nchwToNhwc } = await import("./lib/onnx-to-tfjs.ts");
const { hostInfo, hostStamp } = await import("./lib/host.ts");
const { buildVgg16, VGG16_SMOKE_CFG } = await import("./lib/vgg.ts");

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const SMOKE = args.includes("--smoke");
const ROUNDS = SMOKE ? 1 : Number(arg("--rounds", "7"));
const MODELS = arg("--models", "resnet20,vgg16").split(",");
const BATCHES = arg("--batches", SMOKE ? "1,2" : "1,64")
  .split(",")
  .map(Number);
const TFJS_BN = arg("--tfjs-bn", "fold");
if (TFJS_BN !== "fold" && TFJS_BN !== "batchNorm") throw new Error(`--tfjs-bn must be fold or batchNorm`);
/** Warm-up blocks per contender before the timed rounds. */
const WARMUP = SMOKE ? 1 : 3;
/** Largest relative difference of the logits from onnxruntime-node's that we accept. */
const MAX_REL_ERROR = 1e-3;

setThreadsCount(1);
await tf.setBackend("wasm");
await tf.ready();
ortWeb.env.wasm.numThreads = 1;
ortWeb.env.wasm.simd = true;
ortWeb.env.wasm.proxy = false;

interface BenchModel {
  name: string;
  bytes: Uint8Array;
  /** Dims of one image, CHW. */
  image: [number, number, number];
  /** Images per timed block (about 64 for ResNet-20, 16 for VGG), at least one run. */
  imagesPerBlock: number;
}
const models: BenchModel[] = [];
if (MODELS.includes("resnet20"))
  models.push({
    name: "ResNet-20 (1x32x32, trained)",
    bytes: readFileSync(new URL("../tests/fixtures/trained/resnet20_fmnist.onnx", import.meta.url)),
    image: [1, 32, 32],
    imagesPerBlock: SMOKE ? 1 : 64,
  });
if (MODELS.includes("vgg16"))
  models.push({
    name: SMOKE ? "VGG-16-BN 1/16 width (3x32x32, seeded)" : "VGG-16-BN (3x32x32, seeded)",
    bytes: SMOKE ? buildVgg16(VGG16_SMOKE_CFG, 32).bytes : buildVgg16().bytes,
    image: [3, 32, 32],
    imagesPerBlock: SMOKE ? 1 : 16,
  });

const LABELS = ["prunekit", "tfjs-wasm", "ort-web", "ort-node"] as const;
type Label = (typeof LABELS)[number];
interface Contender {
  label: Label;
  /** One forward pass of the whole batch, output copied out to JS. */
  run(): Float32Array | Promise<Float32Array>;
  dispose(): void | Promise<void>;
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (v: number[], digits = 0): string =>
  `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;

/** max |x − ref| / max |ref|. */
function relError(x: Float32Array, ref: Float32Array): number {
  if (x.length !== ref.length) return Number.POSITIVE_INFINITY;
  let scale = 1e-12;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(x[i]! - ref[i]!));
  return Number.isNaN(worst) ? Number.POSITIVE_INFINITY : worst / scale;
}

const start = hostInfo();
const versions = `tfjs-core ${tf.version_core}, tfjs-backend-wasm ${tfjsWasmVersion}, onnxruntime-web ${ortWeb.env.versions.web}, onnxruntime-node ${ortNode.env.versions.node}`;
console.log(`host: ${hostStamp(start)}`);
console.log(`peers: ${versions}; tfjs BatchNormalization: ${TFJS_BN}`);
console.log(
  `${ROUNDS} rounds; per round and contender ${models.map((m) => `${m.name}: ${m.imagesPerBlock} images`).join(", ")} (at least one run); ${WARMUP} warm-up blocks each; contender order rotates every round`,
);

interface Row {
  model: string;
  batch: number;
  rates: Record<Label, number[]>;
  /** Images per second of process CPU time, the same blocks. */
  cpuRates: Record<Label, number[]>;
  errors: Record<Label, number>;
}
const rows: Row[] = [];

for (const model of models) {
  const graph = buildGraph(decodeModel(model.bytes));
  const inputName = graph.inputs[0]?.name ?? "input";
  const sessionNode = await ortNode.InferenceSession.create(model.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const sessionWeb = await ortWeb.InferenceSession.create(model.bytes, {
    executionProviders: ["wasm"],
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const tfjsNet = buildTfjsNet(tf, graph, TFJS_BN);
  const wasm = await createWasm();
  for (const batch of BATCHES) {
    const [c, h, w] = model.image;
    const dims = [batch, c, h, w];
    const x = new Float32Array(batch * c * h * w).map((_, i) => ((i * 7919) % 256) / 255);
    const xNhwc = nchwToNhwc(x, dims);
    const compiled = compileModel(wasm, graph, { batch });
    const outNode = sessionNode.outputNames[0]!;
    const outWeb = sessionWeb.outputNames[0]!;
    const contenders: Contender[] = [
      {
        label: "prunekit",
        run: () => Object.values(compiled.run({ [inputName]: x }))[0]!,
        dispose: () => compiled.dispose(),
      },
      {
        label: "tfjs-wasm",
        run: () => {
          const input = tf.tensor4d(xNhwc, [batch, h, w, c]);
          const out = tfjsNet.run(input);
          const data = out.dataSync() as Float32Array;
          out.dispose();
          input.dispose();
          return data;
        },
        dispose: () => {},
      },
      {
        label: "ort-web",
        run: async () =>
          (await sessionWeb.run({ [inputName]: new ortWeb.Tensor("float32", x, dims) }))[outWeb]!
            .data as Float32Array,
        dispose: () => {},
      },
      {
        label: "ort-node",
        run: async () =>
          (await sessionNode.run({ [inputName]: new ortNode.Tensor("float32", x, dims) }))[outNode]!
            .data as Float32Array,
        dispose: () => {},
      },
    ];
    // Same logits as onnxruntime-node, or no timing at all.
    const want = await contenders[3]!.run();
    const errors = {} as Record<Label, number>;
    for (const ct of contenders) {
      errors[ct.label] = relError(await ct.run(), want);
      if (!(errors[ct.label] < MAX_REL_ERROR)) {
        throw new Error(
          `${model.name}, batch ${batch}: ${ct.label}'s logits differ from onnxruntime-node's by ${errors[ct.label]} (max |diff| / max |ref|), more than ${MAX_REL_ERROR}`,
        );
      }
    }
    const iters = Math.max(1, Math.round(model.imagesPerBlock / batch));
    const block = async (ct: Contender): Promise<[number, number]> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) await ct.run();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      return [(iters * batch * 1000) / ms, (iters * batch * 1e6) / Math.max(c.user + c.system, 1)];
    };
    for (const ct of contenders) for (let i = 0; i < WARMUP; i++) await block(ct);
    const perLabel = () =>
      Object.fromEntries(LABELS.map((l) => [l, [] as number[]])) as Record<Label, number[]>;
    const rates = perLabel();
    const cpuRates = perLabel();
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < contenders.length; j++) {
        const ct = contenders[(r + j) % contenders.length]!;
        const [wall, cpu] = await block(ct);
        rates[ct.label].push(wall);
        cpuRates[ct.label].push(cpu);
      }
    }
    rows.push({ model: model.name, batch, rates, cpuRates, errors });
    for (const ct of contenders) await ct.dispose();
  }
  tfjsNet.dispose();
  await sessionNode.release();
  await sessionWeb.release();
}

/** prunekit's rate over `other`'s, paired round by round. */
const ratio = (row: Row, other: Label, cpu = false): number[] => {
  const r = cpu ? row.cpuRates : row.rates;
  return r.prunekit.map((o, i) => o / r[other][i]!);
};
for (const cpu of [false, true]) {
  const unit = cpu ? "img/CPU s" : "img/s";
  console.log(cpu ? "\nBy process CPU time (images per CPU second, same blocks):" : "\nWall clock:");
  console.log(
    `\n| model | batch | prunekit (${unit}) | tfjs-wasm (${unit}) | ort-web (${unit}) | ort-node (${unit}) | prunekit / tfjs-wasm | prunekit / ort-web | prunekit / ort-node |`,
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    const cells = [
      row.model,
      String(row.batch),
      ...LABELS.map((l) => fmt((cpu ? row.cpuRates : row.rates)[l])),
      fmt(ratio(row, "tfjs-wasm", cpu), 2),
      fmt(ratio(row, "ort-web", cpu), 2),
      fmt(ratio(row, "ort-node", cpu), 2),
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
}
console.log(
  `\nlogits vs onnxruntime-node (max |diff| / max |ref|): ${rows
    .map(
      (r) =>
        `${r.model} b${r.batch}: ${LABELS.slice(0, 3)
          .map((l) => `${l} ${r.errors[l].toExponential(1)}`)
          .join(", ")}`,
    )
    .join("; ")}`,
);

// The inference engine issue's targets, on the median of the paired per-round ratios (wall clock; the
// CPU-time median beside it).
interface Target {
  model: string;
  batch: number;
  other: Label;
  want: number;
}
const TARGETS: Target[] = [
  { model: "ResNet-20", batch: 64, other: "tfjs-wasm", want: 2 },
  { model: "VGG-16-BN", batch: 64, other: "tfjs-wasm", want: 1.5 },
  { model: "ResNet-20", batch: 1, other: "tfjs-wasm", want: 2 },
  { model: "VGG-16-BN", batch: 1, other: "tfjs-wasm", want: 2 },
  { model: "ResNet-20", batch: 64, other: "ort-web", want: 1 },
  { model: "VGG-16-BN", batch: 64, other: "ort-web", want: 1 },
  { model: "ResNet-20", batch: 1, other: "ort-web", want: 1 },
  { model: "VGG-16-BN", batch: 1, other: "ort-web", want: 1 },
];
const targetLines: string[] = [];
for (const t of TARGETS) {
  const row = rows.find((r) => r.model.startsWith(t.model) && r.batch === t.batch);
  if (row === undefined) continue;
  const got = median(ratio(row, t.other));
  const gotCpu = median(ratio(row, t.other, true));
  targetLines.push(
    `| ${t.model} | ${t.batch} | prunekit / ${t.other} ≥ ${t.want} | ${got.toFixed(2)} | ${gotCpu.toFixed(2)} | ${got >= t.want ? "met" : "not met"} |`,
  );
}
if (targetLines.length > 0 && !SMOKE) {
  console.log(
    "\n| model | batch | target | median ratio (wall) | median ratio (CPU time) | status (wall) |\n| --- | --- | --- | --- | --- | --- |",
  );
  for (const l of targetLines) console.log(l);
}
console.log(`\nload average at the end: ${hostInfo().load1.toFixed(2)}`);
