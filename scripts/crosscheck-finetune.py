#!/usr/bin/env python3
"""Cross-check `prunekit finetune` against PyTorch on the same model, data and settings.

Usage (from anywhere; paths are resolved against the current directory, the CLI is run from the
repository root):

    python3 scripts/crosscheck-finetune.py MODEL.onnx [--data DIR] [--limit 2048] [--epochs 1]
        [--lr 0.01] [--batch 64] [--momentum 0.9] [--weight-decay 5e-4] [--mean M] [--std S]
        [--limit-test 10000] [--tolerance 0.5] [--out-dir OUT]

What it does:

1. Builds a torch.nn.Module that interprets MODEL's ONNX graph (Conv, BatchNormalization, Relu,
   LeakyRelu, Clip, Sigmoid, HardSwish, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape
   with a constant shape, Gemm, MatMul, Add, Concat, Identity, Dropout as identity, Constant).
   Float initializers become nn.Parameters, BN running mean/var become buffers. BatchNormalization
   runs like nn.BatchNorm2d in train mode: batch statistics, running stats updated with PyTorch
   momentum = 1 - ONNX momentum (0.9 -> 0.1) and the unbiased batch variance.
2. Trains it on the first --limit Fashion-MNIST (IDX) training images in file order, no shuffle, no
   augmentation, batches of --batch with the last partial batch kept: torch.optim.SGD(lr, momentum,
   dampening 0, weight_decay on every parameter), constant lr, F.cross_entropy (mean), one thread.
   Preprocessing is prunekit's: the raw 28x28 image zero-padded (centred, odd extra pixel at the
   bottom/right) to the model's H x W, float32(byte)/255, then (x - mean)/std (padding pixels are
   (0 - mean)/std), a 1-channel image replicated to a 3-channel input.
3. Writes OUT/torch.onnx: MODEL with every trained initializer and BN running stat replaced (same
   names, same dims); nothing else changes.
4. Runs `node bin/prunekit.js finetune MODEL -o OUT/prunekit.onnx ... --no-shuffle --no-augment
   --no-eval --quiet` with the same settings (runs `npm run build:ts` first if dist/ is missing).
5. Runs scripts/ort-accuracy.mjs (onnxruntime-node) on MODEL, OUT/torch.onnx and OUT/prunekit.onnx
   over the first --limit-test test images and prints a table with the three accuracies, the largest
   absolute parameter difference between the two trained files and the accuracy difference.

Exits 1 when the two trained accuracies differ by more than --tolerance points.

Needs torch, onnx and numpy for Python, Node >= 20 and the repository's node_modules (onnxruntime-node).
A developer tool: no test depends on it.
"""

import argparse
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------------------------------
# ONNX interpreter


def attrs_of(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(torch.nn.Module):
    """Runs an ONNX graph with torch ops; float initializers are parameters (BN stats buffers)."""

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        self.nodes = list(graph.node)
        inits = {t.name: t for t in graph.initializer}
        init_names = set(inits)
        self.input_name = next(i.name for i in graph.input if i.name not in init_names)
        self.output_names = [o.name for o in graph.output]

        # Initializers read as BN running mean/var are buffers; other float ones are parameters.
        stats = set()
        for n in self.nodes:
            if n.op_type == "BatchNormalization":
                stats.update(n.input[3:5])
        self.params = torch.nn.ParameterDict()
        self.param_names = {}  # ONNX name -> key in self.params
        self.buffer_names = {}  # ONNX name -> buffer attribute
        self.consts = {}  # ONNX name -> torch tensor (non-float initializers, Constant nodes)
        for i, (name, t) in enumerate(inits.items()):
            arr = numpy_helper.to_array(t)
            if arr.dtype != np.float32:
                self.consts[name] = torch.from_numpy(arr.copy())
            elif name in stats:
                key = f"buf{i}"
                self.register_buffer(key, torch.from_numpy(arr.copy()))
                self.buffer_names[name] = key
            else:
                key = f"p{i}"
                self.params[key] = torch.nn.Parameter(torch.from_numpy(arr.copy()))
                self.param_names[name] = key
        for n in self.nodes:
            if n.op_type == "Constant":
                a = attrs_of(n)
                if "value" not in a:
                    raise NotImplementedError(f"Constant {n.name}: only the 'value' attribute is supported")
                self.consts[n.output[0]] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
        self.attrs = [attrs_of(n) for n in self.nodes]

    def initializer_values(self):
        """ONNX initializer name -> float32 numpy array of its current (trained) value."""
        out = {}
        for name, key in self.param_names.items():
            out[name] = self.params[key].detach().cpu().numpy().astype(np.float32)
        for name, key in self.buffer_names.items():
            out[name] = getattr(self, key).detach().cpu().numpy().astype(np.float32)
        return out

    def _value(self, env, name):
        if name in env:
            return env[name]
        if name in self.param_names:
            return self.params[self.param_names[name]]
        if name in self.buffer_names:
            return getattr(self, self.buffer_names[name])
        if name in self.consts:
            return self.consts[name]
        raise KeyError(f"value {name!r} is not computed")

    def forward(self, x):
        env = {self.input_name: x}
        for node, a in zip(self.nodes, self.attrs):
            if node.op_type == "Constant":
                continue
            ins = [self._value(env, i) if i != "" else None for i in node.input]
            env[node.output[0]] = self._run(node, a, ins)
        outs = [env[o] for o in self.output_names]
        return outs[0] if len(outs) == 1 else outs

    @staticmethod
    def _pads(a, rank):
        pads = list(a.get("pads", [0] * (2 * rank)))
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError("auto_pad other than NOTSET")
        begin, end = pads[:rank], pads[rank:]
        return begin, end

    def _run(self, node, a, ins):
        op = node.op_type
        if op == "Conv":
            x, w = ins[0], ins[1]
            b = ins[2] if len(ins) > 2 else None
            rank = w.dim() - 2
            begin, end = self._pads(a, rank)
            strides = a.get("strides", [1] * rank)
            dil = a.get("dilations", [1] * rank)
            if begin != end:  # asymmetric: pad explicitly (F.pad takes the last dim first)
                flat = []
                for d in reversed(range(rank)):
                    flat += [begin[d], end[d]]
                x = F.pad(x, flat)
                begin = [0] * rank
            conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[rank]
            return conv(x, w, b, stride=strides, padding=begin, dilation=dil, groups=a.get("group", 1))
        if op == "BatchNormalization":
            x, scale, bias, mean, var = ins[:5]
            onnx_momentum = a.get("momentum", 0.9)
            return F.batch_norm(
                x,
                mean,
                var,
                scale,
                bias,
                training=self.training,
                momentum=1.0 - onnx_momentum,
                eps=a.get("epsilon", 1e-5),
            )
        if op == "Relu":
            return F.relu(ins[0])
        if op == "LeakyRelu":
            return F.leaky_relu(ins[0], a.get("alpha", 0.01))
        if op == "Sigmoid":
            return torch.sigmoid(ins[0])
        if op == "HardSwish":
            return F.hardswish(ins[0])
        if op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min")
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max")
            lo = float(lo) if lo is not None else None
            hi = float(hi) if hi is not None else None
            return torch.clamp(ins[0], lo, hi)
        if op in ("MaxPool", "AveragePool"):
            x = ins[0]
            k = a["kernel_shape"]
            rank = len(k)
            if rank != 2:
                raise NotImplementedError(f"{op} {node.name}: only 2-D pooling")
            begin, end = self._pads(a, rank)
            strides = a.get("strides", [1] * rank)
            ceil = bool(a.get("ceil_mode", 0))
            if op == "MaxPool":
                dil = a.get("dilations", [1] * rank)
                if begin != end:
                    x = F.pad(x, [begin[1], end[1], begin[0], end[0]], value=-math.inf)
                    begin = [0, 0]
                return F.max_pool2d(x, k, strides, begin, dil, ceil_mode=ceil)
            include = bool(a.get("count_include_pad", 0))
            if begin != end:
                if not include:
                    raise NotImplementedError(f"AveragePool {node.name}: asymmetric pads without count_include_pad")
                x = F.pad(x, [begin[1], end[1], begin[0], end[0]])
                begin = [0, 0]
            return F.avg_pool2d(x, k, strides, begin, ceil_mode=ceil, count_include_pad=include)
        if op == "GlobalAveragePool":
            x = ins[0]
            return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        if op == "Flatten":
            x = ins[0]
            axis = a.get("axis", 1)
            if axis < 0:
                axis += x.dim()
            lead = int(np.prod(x.shape[:axis])) if axis > 0 else 1
            return x.reshape(lead, -1)
        if op == "Reshape":
            x, shape = ins[0], ins[1]
            if node.input[1] not in self.consts:
                raise NotImplementedError(f"Reshape {node.name}: the shape must be a constant")
            shape = [int(s) for s in shape.tolist()]
            if not a.get("allowzero", 0):
                shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return x.reshape(shape)
        if op == "Gemm":
            A, B = ins[0], ins[1]
            C = ins[2] if len(ins) > 2 else None
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            y = a.get("alpha", 1.0) * (A @ B)
            if C is not None:
                y = y + a.get("beta", 1.0) * C
            return y
        if op == "MatMul":
            return torch.matmul(ins[0], ins[1])
        if op == "Add":
            return ins[0] + ins[1]
        if op == "Concat":
            return torch.cat(ins, dim=a["axis"])
        if op in ("Identity", "Dropout"):
            return ins[0]
        raise NotImplementedError(f"op {op} (node {node.name}) is not supported by this interpreter")


# --------------------------------------------------------------------------------------------------
# Data


def read_idx(path):
    """An unsigned-byte IDX file (gzipped or not) as a numpy array."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = struct.unpack(">I", raw[:4])[0]
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, raw[4 : 4 + 4 * rank])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank, count=int(np.prod(dims))).reshape(dims)


def idx_path(folder, base):
    gz = os.path.join(folder, base + ".gz")
    return gz if os.path.exists(gz) else os.path.join(folder, base)


def per_channel(values, channels, flag):
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise SystemExit(f"{flag}: {len(values)} values for {channels} input channels")
    return values


def preprocess(images, shape, mean, std):
    """uint8 (N, h, w) -> float32 (N, C, H, W), prunekit's (torchvision's) float32 convention."""
    c, H, W = shape
    n, h, w = images.shape
    if h > H or w > W:
        raise SystemExit(f"images {h}x{w} are larger than the model input {H}x{W}")
    top, left = (H - h) // 2, (W - w) // 2
    s = images.astype(np.float32) / np.float32(255)  # f32 division, as ToTensor
    out = np.empty((n, c, H, W), dtype=np.float32)
    for ch in range(c):
        m, sd = np.float32(mean[ch]), np.float32(std[ch])
        out[:, ch] = (np.float32(0) - m) / sd
        out[:, ch, top : top + h, left : left + w] = (s - m) / sd
    return out


def model_input_shape(model):
    init_names = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in init_names)
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 4 or any(not d.HasField("dim_value") for d in dims[1:]):
        raise SystemExit(f"model input {inp.name} is not NCHW with fixed C, H, W")
    return tuple(d.dim_value for d in dims[1:])


# --------------------------------------------------------------------------------------------------
# Steps


def train_torch(model, args, mean, std):
    torch.set_num_threads(1)
    shape = model_input_shape(model)
    images = read_idx(idx_path(args.data, "train-images-idx3-ubyte"))[: args.limit]
    labels = read_idx(idx_path(args.data, "train-labels-idx1-ubyte"))[: args.limit]
    x_all = torch.from_numpy(preprocess(images, shape, per_channel(mean, shape[0], "--mean"), per_channel(std, shape[0], "--std")))
    y_all = torch.from_numpy(labels.astype(np.int64))

    net = OnnxModule(model)
    net.train()
    opt = torch.optim.SGD(
        net.parameters(), lr=args.lr, momentum=args.momentum, dampening=0, weight_decay=args.weight_decay
    )
    n = x_all.shape[0]
    steps = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        total, count = 0.0, 0
        for start in range(0, n, args.batch):
            x, y = x_all[start : start + args.batch], y_all[start : start + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
            count += x.shape[0]
            steps += 1
        print(f"torch: epoch {epoch + 1}/{args.epochs}: mean train loss {total / count:.4f} ({steps} steps, {time.time() - t0:.1f} s)")
    return net.initializer_values()


def write_with_values(model, values, path):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for i, t in enumerate(out.graph.initializer):
        if t.name in values:
            arr = values[t.name]
            if list(arr.shape) != list(t.dims):
                raise RuntimeError(f"{t.name}: trained shape {arr.shape} != {list(t.dims)}")
            out.graph.initializer[i].CopyFrom(numpy_helper.from_array(arr.reshape(tuple(t.dims)), t.name))
    onnx.save(out, path)


def run_prunekit(args, out_path):
    if not os.path.exists(os.path.join(REPO, "dist", "cli", "main.js")):
        subprocess.run(["npm", "run", "build:ts"], cwd=REPO, check=True)
    cmd = [
        "node", "bin/prunekit.js", "finetune", os.path.abspath(args.model),
        "-o", out_path,
        "--data", f"fashion-mnist:{os.path.abspath(args.data)}",
        "--epochs", str(args.epochs), "--lr", repr(args.lr), "--batch", str(args.batch),
        "--limit", str(args.limit), "--momentum", repr(args.momentum), "--weight-decay", repr(args.weight_decay),
        "--no-shuffle", "--no-augment", "--no-eval", "--quiet",
    ]  # fmt: skip
    if args.mean is not None:
        cmd += ["--mean", args.mean]
    if args.std is not None:
        cmd += ["--std", args.std]
    if os.path.exists(out_path):
        os.remove(out_path)  # prunekit refuses to overwrite
    t0 = time.time()
    subprocess.run(cmd, cwd=REPO, check=True)
    print(f"prunekit: finetune done ({time.time() - t0:.1f} s)")


def ort_accuracies(args, paths):
    cmd = ["node", os.path.join("scripts", "ort-accuracy.mjs"), *paths, "--data", os.path.abspath(args.data), "--limit-test", str(args.limit_test)]
    if args.mean is not None:
        cmd += ["--mean", args.mean]
    if args.std is not None:
        cmd += ["--std", args.std]
    res = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True)
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return {r["model"]: r for r in rows}


def param_differences(model, a_path, b_path):
    """Largest |a - b| over trainable parameters and over BN running stats, with the worst names."""
    stats = set()
    for n in model.graph.node:
        if n.op_type == "BatchNormalization":
            stats.update(n.input[3:5])
    a = {t.name: numpy_helper.to_array(t) for t in onnx.load(a_path).graph.initializer}
    b = {t.name: numpy_helper.to_array(t) for t in onnx.load(b_path).graph.initializer}
    if set(a) != set(b):
        raise RuntimeError(f"initializer names differ: {sorted(set(a) ^ set(b))[:5]}")
    worst = {"param": (0.0, ""), "stat": (0.0, "")}
    for name in a:
        if a[name].dtype != np.float32:
            continue
        d = float(np.max(np.abs(a[name].astype(np.float64) - b[name].astype(np.float64)))) if a[name].size else 0.0
        kind = "stat" if name in stats else "param"
        if d > worst[kind][0] or not worst[kind][1]:
            worst[kind] = (d, name)
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="input ONNX classifier (NCHW input, dynamic batch)")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder with the four Fashion-MNIST IDX files")
    p.add_argument("--limit", type=int, default=2048, help="first N training images (default 2048)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--mean", default=None, help="M[,M,M] subtracted after scaling to [0, 1] (default 0)")
    p.add_argument("--std", default=None, help="S[,S,S] divided by after that (default 1)")
    p.add_argument("--limit-test", type=int, default=10000, help="first T test images for the accuracies")
    p.add_argument("--tolerance", type=float, default=0.5, help="max allowed accuracy difference in points")
    p.add_argument("--out-dir", default="crosscheck-out", help="where torch.onnx and prunekit.onnx go")
    args = p.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    out_dir = os.path.abspath(args.out_dir)
    torch_path = os.path.join(out_dir, "torch.onnx")
    prunekit_path = os.path.join(out_dir, "prunekit.onnx")
    mean = [float(v) for v in args.mean.split(",")] if args.mean else [0.0]
    std = [float(v) for v in args.std.split(",")] if args.std else [1.0]

    model = onnx.load(args.model)
    t0 = time.time()
    values = train_torch(model, args, mean, std)
    write_with_values(model, values, torch_path)
    print(f"torch: wrote {torch_path} ({time.time() - t0:.1f} s)")

    run_prunekit(args, prunekit_path)

    model_path = os.path.abspath(args.model)
    acc = ort_accuracies(args, [model_path, torch_path, prunekit_path])
    worst = param_differences(model, torch_path, prunekit_path)

    a_in, a_t, a_p = (acc[k]["top1"] for k in (model_path, torch_path, prunekit_path))
    images = acc[model_path]["images"]
    diff = a_p - a_t
    print()
    print(f"settings: limit {args.limit}, epochs {args.epochs}, lr {args.lr}, batch {args.batch}, "
          f"momentum {args.momentum}, weight decay {args.weight_decay}; {images} test images (onnxruntime)")  # fmt: skip
    print(f"{'model':<28} {'top-1 %':>8}")
    print(f"{'-' * 28} {'-' * 8}")
    print(f"{'input':<28} {a_in:8.2f}")
    print(f"{'trained by PyTorch':<28} {a_t:8.2f}")
    print(f"{'trained by prunekit':<28} {a_p:8.2f}")
    print()
    print(f"max |param difference|       {worst['param'][0]:.3g}  ({worst['param'][1]})")
    if worst["stat"][1]:
        print(f"max |BN running stat diff.|  {worst['stat'][0]:.3g}  ({worst['stat'][1]})")
    print(f"accuracy difference          {diff:+.2f} points (tolerance {args.tolerance})")
    if abs(diff) > args.tolerance:
        print("FAIL: the two trained models disagree by more than the tolerance")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
