// Peak memory of `prunekit prune` on a model whose weight is one large external tensor, as a factor of
// the model's tensor bytes. Writes (once) a model to --dir: input [batch, N] -> Gemm fc1 (N x N weight
// in the external file fc1.weight.bin, N*N*4 bytes: N = 16384 for 1 GiB) -> Relu -> Gemm fc2 (10 x N,
// inline); then runs the CLI (dist/, so `npm run build:ts` first) under /usr/bin/time -v, --runs times,
// and prints one JSON line per run with the maximum resident set size and its ratio to the tensor bytes.
//
//   node --import tsx bench/prune-memory.ts [--gib 1] [--method l1] [--ratio 0.5] [--dir /tmp/pk-mem]
//        [--runs 1] [--cli bin/prunekit.js] [-- extra prune flags]
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type BuildNode, buildModel } from "../src/onnx/build.ts";
import { encodeModel } from "../src/onnx/encode.ts";
import { DataType, type TensorProto } from "../src/onnx/proto-types.ts";
import { makeFloat32Tensor } from "../src/onnx/tensor.ts";
import { seededRandom } from "./lib/vgg.ts";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gib: { type: "string", default: "1" },
    method: { type: "string", default: "l1" },
    ratio: { type: "string", default: "0.5" },
    dir: { type: "string", default: "/tmp/pk-mem" },
    runs: { type: "string", default: "1" },
    cli: { type: "string", default: join(import.meta.dirname, "../bin/prunekit.js") },
  },
});
const n = Math.round(Math.sqrt((Number(flags.gib) * 2 ** 30) / 4) / 16) * 16;
const dir = resolve(flags.dir);
const modelPath = join(dir, `fc${n}.onnx`);
const weightFile = `fc${n}.weight.bin`;
const tensorBytes = n * n * 4 + n * 4 + 10 * n * 4 + 10 * 4;

if (!existsSync(modelPath)) {
  mkdirSync(dir, { recursive: true });
  // The weight file, written in slices of rows (never the whole tensor in memory).
  const fd = openSync(join(dir, weightFile), "w");
  const rand = seededRandom(1);
  const rowsPerSlice = 256;
  const slice = new Float32Array(rowsPerSlice * n);
  for (let r0 = 0; r0 < n; r0 += rowsPerSlice) {
    for (let i = 0; i < slice.length; i++) slice[i] = 2 * rand() - 1;
    writeSync(fd, new Uint8Array(slice.buffer));
  }
  closeSync(fd);
  const weight: TensorProto = {
    name: "fc1.weight",
    dims: [n, n],
    dataType: DataType.FLOAT,
    dataLocation: 1,
    externalData: [
      { key: "location", value: weightFile },
      { key: "offset", value: "0" },
      { key: "length", value: String(n * n * 4) },
    ],
  } as unknown as TensorProto;
  const rand2 = seededRandom(2);
  const initializers: TensorProto[] = [
    weight,
    makeFloat32Tensor(
      "fc1.bias",
      [n],
      Float32Array.from({ length: n }, () => rand2() - 0.5),
    ),
    makeFloat32Tensor(
      "fc2.weight",
      [10, n],
      Float32Array.from({ length: 10 * n }, () => rand2() - 0.5),
    ),
    makeFloat32Tensor("fc2.bias", [10], new Float32Array(10)),
  ];
  const nodes: BuildNode[] = [
    {
      opType: "Gemm",
      name: "fc1",
      inputs: ["input", "fc1.weight", "fc1.bias"],
      outputs: ["h"],
      attributes: { transB: 1 },
    },
    { opType: "Relu", name: "relu", inputs: ["h"], outputs: ["r"] },
    {
      opType: "Gemm",
      name: "fc2",
      inputs: ["r", "fc2.weight", "fc2.bias"],
      outputs: ["output"],
      attributes: { transB: 1 },
    },
  ];
  const model = buildModel({
    inputs: [{ name: "input", shape: ["batch", n] }],
    outputs: [{ name: "output", shape: ["batch", 10] }],
    nodes,
    initializers,
    opset: 13,
    name: "external_fc",
  });
  const fdm = openSync(modelPath, "w");
  writeSync(fdm, encodeModel(model));
  closeSync(fdm);
}

const out = join(dir, "out.onnx");
for (let run = 0; run < Number(flags.runs); run++) {
  rmSync(out, { force: true });
  const args = ["-v", process.execPath, flags.cli, "prune", modelPath, "-o", out];
  args.push("--method", flags.method, "--ratio", flags.ratio, "--quiet", ...positionals);
  const r = spawnSync("/usr/bin/time", args, { encoding: "utf8" });
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time[^:]*: (.*)/.exec(r.stderr)?.[1];
  if (r.status !== 0 || !Number.isFinite(rssKb)) {
    console.error(r.stderr);
    process.exit(1);
  }
  const maxRss = rssKb * 1024;
  console.log(
    JSON.stringify({
      run,
      n,
      method: flags.method,
      ratio: Number(flags.ratio),
      tensorBytes,
      maxRssBytes: maxRss,
      factor: Number((maxRss / tensorBytes).toFixed(2)),
      wall,
      outBytes: statSync(out).size,
    }),
  );
}
