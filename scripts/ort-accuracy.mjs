#!/usr/bin/env node
/**
 * ort-accuracy.mjs — test accuracy of ONNX classifiers on Fashion-MNIST (or MNIST), computed by
 * onnxruntime-node: a runtime independent of both prunekit and PyTorch.
 *
 * Usage:
 *   node scripts/ort-accuracy.mjs MODEL.onnx [MODEL.onnx ...] --data DIR [--limit-test T]
 *                                 [--mean M[,M,M]] [--std S[,S,S]] [--batch 100]
 *
 *   --data DIR        folder with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]
 *                     (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
 *   --limit-test T    the first T test images only (default 10000, i.e. all)
 *   --mean, --std     normalisation after scaling to [0, 1], one value or one per model channel
 *                     (defaults 0 and 1)
 *   --batch B         images per onnxruntime run (default 100; the last partial batch is kept)
 *
 * Prints one JSON line per model: {"model": PATH, "top1": PERCENT, "images": COUNT}.
 *
 * Preprocessing is prunekit's (docs/data.md), i.e. torchvision's Pad -> ToTensor -> Normalize in
 * float32: the raw 28x28 image is zero-padded, centred, to the model's H x W (an odd difference puts
 * the extra row/column at the bottom/right), x = fround(fround(byte/255 - mean) / std), so that a
 * padding pixel is (0 - mean) / std; a 1-channel image is replicated to a 3-channel input.
 * The model's input must be NCHW with a dynamic batch dimension; its name is inputNames[0].
 *
 * This is a developer tool (used by scripts/crosscheck-finetune.py), not a test dependency.
 */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import ort from "onnxruntime-node";

const USAGE =
  "usage: node scripts/ort-accuracy.mjs MODEL.onnx [...] --data DIR [--limit-test T] [--mean M] [--std S] [--batch B]";

function parseArgs(argv) {
  const opts = { models: [], data: "/usr/share/datasets/fashion-mnist", limitTest: 10000, mean: [0], std: [1], batch: 100 };
  const numbers = (s, flag) => {
    const v = s.split(",").map(Number);
    if (v.length === 0 || v.some((x) => !Number.isFinite(x))) throw new Error(`${flag}: not a number list: ${s}`);
    return v;
  };
  const positiveInt = (s, flag) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag}: expected a positive integer, got ${s}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--data") opts.data = value();
    else if (a === "--limit-test") opts.limitTest = positiveInt(value(), a);
    else if (a === "--batch") opts.batch = positiveInt(value(), a);
    else if (a === "--mean") opts.mean = numbers(value(), a);
    else if (a === "--std") opts.std = numbers(value(), a);
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n${USAGE}`);
    else opts.models.push(a);
  }
  if (opts.models.length === 0) throw new Error(USAGE);
  if (opts.std.some((s) => !(s > 0))) throw new Error("--std: every value must be > 0");
  return opts;
}

/** Reads an IDX file, gzipped (tried first, recognised by its magic bytes) or not. */
function readIdx(dir, base) {
  const gz = join(dir, `${base}.gz`);
  const path = existsSync(gz) ? gz : join(dir, base);
  let bytes = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic >>> 8 !== 0x08) throw new Error(`${path}: not an unsigned-byte IDX file (magic ${magic.toString(16)})`);
  const rank = magic & 0xff;
  const dims = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length < offset + size) throw new Error(`${path}: ${bytes.length} bytes, header says ${offset + size}`);
  return { dims, data: bytes.subarray(offset, offset + size), path };
}

function loadTest(dir, limit) {
  const images = readIdx(dir, "t10k-images-idx3-ubyte");
  const labels = readIdx(dir, "t10k-labels-idx1-ubyte");
  if (images.dims.length !== 3 || labels.dims.length !== 1 || images.dims[0] !== labels.dims[0]) {
    throw new Error(`${images.path} and ${labels.path} do not match (${images.dims} vs ${labels.dims})`);
  }
  const count = Math.min(limit, images.dims[0]);
  const [, h, w] = images.dims;
  return { count, h, w, pixels: images.data, labels: labels.data };
}

/** Per-channel value of a 1-or-C list. */
function perChannel(list, channels, flag) {
  if (list.length === 1) return new Array(channels).fill(list[0]);
  if (list.length !== channels) throw new Error(`${flag}: ${list.length} values for ${channels} input channels`);
  return list;
}

/** Writes images [start, start + n) into out (NCHW, float32), prunekit's preprocessing. */
function preprocess(test, start, n, shape, mean, std, out) {
  const [, c, H, W] = shape;
  const { h, w } = test;
  if (h > H || w > W) throw new Error(`images ${h}x${w} larger than the model input ${H}x${W}`);
  const top = Math.floor((H - h) / 2);
  const left = Math.floor((W - w) / 2);
  const f = Math.fround;
  for (let i = 0; i < n; i++) {
    const src = (start + i) * h * w;
    for (let ch = 0; ch < c; ch++) {
      const m = f(mean[ch]);
      const s = f(std[ch]);
      const pad = f(f(0 - m) / s);
      const base = (i * c + ch) * H * W;
      out.fill(pad, base, base + H * W);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = f(test.pixels[src + y * w + x] / 255);
          out[base + (y + top) * W + (x + left)] = f(f(v - m) / s);
        }
      }
    }
  }
}

async function accuracy(path, test, opts) {
  const session = await ort.InferenceSession.create(path);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const meta = session.inputMetadata?.[0];
  const dims = meta?.shape;
  if (!dims || dims.length !== 4 || dims.slice(1).some((d) => typeof d !== "number")) {
    throw new Error(`${path}: input ${inputName} is not NCHW with fixed C, H, W (shape ${JSON.stringify(dims)})`);
  }
  const mean = perChannel(opts.mean, dims[1], "--mean");
  const std = perChannel(opts.std, dims[1], "--std");
  let correct = 0;
  for (let start = 0; start < test.count; start += opts.batch) {
    const n = Math.min(opts.batch, test.count - start);
    const shape = [n, dims[1], dims[2], dims[3]];
    const data = new Float32Array(n * dims[1] * dims[2] * dims[3]);
    preprocess(test, start, n, shape, mean, std, data);
    const result = await session.run({ [inputName]: new ort.Tensor("float32", data, shape) });
    const logits = result[outputName];
    const classes = logits.data.length / n;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (logits.data[i * classes + k] > logits.data[i * classes + best]) best = k;
      if (best === test.labels[start + i]) correct++;
    }
  }
  await session.release();
  return { model: path, top1: (100 * correct) / test.count, images: test.count };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  const test = loadTest(opts.data, opts.limitTest);
  for (const model of opts.models) console.log(JSON.stringify(await accuracy(model, test, opts)));
}

main().catch((e) => {
  console.error(e.stack ?? String(e));
  process.exit(1);
});
