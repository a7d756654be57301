"""Neuron Merging of a sequential CNN ONNX file (conv -> BN -> ReLU chains, then linear layers) in
plain PyTorch: the straightforward implementation a user would otherwise write, for
bench/methods.bench.ts --torch. Same steps and defaults as prunekit (docs/methods.md §2): l1-norm kept set,
P = floor (conv) / round (linear) of N(1 - r), §2.5 exact BN formula with lambda = 0.85, §2.4 for a
linear layer without BN, t = 0.1; Z folded into the next layer's input axis, then sliced.

    python3 merge_torch.py MODEL.onnx RATIO REPS   ->  one JSON line on stdout

Runs on one thread (torch.set_num_threads(1)). Times per phase (wall and process CPU, ms): decode
(onnx.load + tensors to torch), decomposition, surgery, encode (tensors back + SerializeToString).
"""
import json
import math
import sys
import time

import onnx
import torch
from onnx import numpy_helper

torch.set_num_threads(1)


def decode(data):
    model = onnx.load_from_string(data)
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    return model, weights


def chain(model):
    """Producers in order: (node, weight, bias, bn params or None)."""
    by_input = {}
    for n in model.graph.node:
        for i in n.input:
            by_input.setdefault(i, []).append(n)
    layers = []
    for n in model.graph.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        bn = None
        nxt = by_input.get(n.output[0], [])
        if len(nxt) == 1 and nxt[0].op_type == "BatchNormalization":
            b = nxt[0]
            eps = next((a.f for a in b.attribute if a.name == "epsilon"), 1e-5)
            bn = (b.input[1], b.input[2], b.input[3], b.input[4], eps)
        layers.append((n, n.input[1], n.input[2] if len(n.input) > 2 else None, bn))
    return layers


def decompose(w, bias, bn, kept_count, t=0.1, lam=0.85):
    """Kept indices (ascending) and (from, into, scale) merges of one layer, from its original weights."""
    n = w.shape[0]
    f = w.reshape(n, -1)
    if bn is None and bias is not None:
        f = torch.cat([f, bias.reshape(n, 1)], dim=1)  # §2.4: w~ = [w; b]
    keep = torch.sort(torch.topk(f.abs().sum(1), kept_count, sorted=True).indices).values
    mask = torch.ones(n, dtype=torch.bool)
    mask[keep] = False
    removed = torch.nonzero(mask).flatten()
    norm = f.norm(dim=1)
    unit = f / norm.clamp_min(1e-30).unsqueeze(1)
    cos = (unit[removed] @ unit[keep].T).clamp(-1, 1).double()  # removed x kept
    norm = norm.double()
    s = norm[removed].unsqueeze(1) / norm[keep].unsqueeze(0)
    if bn is None:
        score = cos.clone()
        score[:, norm[keep] <= 0] = -math.inf
        best = score.argmax(1)
        best_cos = cos.gather(1, best.unsqueeze(1)).squeeze(1)
        ok = (best_cos >= t) & (norm[removed] > 0)
        scale = s.gather(1, best.unsqueeze(1)).squeeze(1)
    else:
        gamma, beta, mean, var, eps = bn
        sigma = torch.sqrt(var + eps)
        gp, gk = gamma[removed].unsqueeze(1), gamma[keep].unsqueeze(0)
        bp, bk = beta[removed].unsqueeze(1), beta[keep].unsqueeze(0)
        mp, mk = mean[removed].unsqueeze(1), mean[keep].unsqueeze(0)
        sp, sk = sigma[removed].unsqueeze(1), sigma[keep].unsqueeze(0)
        S = s * (gp / gk) * (sk / sp)  # §2.5 exact
        B = bp + (gp / sp) * (s * (mk - sk * bk / gk) - mp)
        valid = (norm[keep].unsqueeze(0) > 0) & (gk != 0) & (S > 0)
        b = (B.abs() / S).masked_fill(~valid, math.nan)
        lo = torch.where(valid, b, torch.full_like(b, math.inf)).min(1, keepdim=True).values
        hi = torch.where(valid, b, torch.full_like(b, -math.inf)).max(1, keepdim=True).values
        rng = hi - lo
        bhat = torch.where(rng > 0, (b - lo) / rng, torch.zeros_like(b))
        score = (lam * (1 - cos) + (1 - lam) * bhat).masked_fill(~valid, math.inf)
        best = score.argmin(1)  # lowest index on ties
        best_cos = cos.gather(1, best.unsqueeze(1)).squeeze(1)
        scale = S.gather(1, best.unsqueeze(1)).squeeze(1)
        any_valid = valid.any(1)
        ok = any_valid & (best_cos >= t) & (norm[removed] > 0) & (gp.squeeze(1) != 0) & (scale > 0)
    merges = [(int(removed[i]), int(keep[int(best[i])]), float(scale[i])) for i in torch.nonzero(ok).flatten()]
    return keep, merges


def plan(model, weights, ratio):
    layers = chain(model)
    out = []
    for i, (node, w, b, bn) in enumerate(layers[:-1]):  # the last layer's output is the model output
        n = weights[w].shape[0]
        kept = max(1, min(n, math.floor(n * (1 - ratio)) if node.op_type == "Conv" else round(n * (1 - ratio))))
        if kept >= n:
            continue
        bias = weights[b] if b is not None else None
        bnp = None
        if bn is not None:
            g, be, m, v, eps = bn
            mean = weights[m].double() - (bias.double() if bias is not None else 0)  # §0: bias into the mean
            bnp = (weights[g].double(), weights[be].double(), mean, weights[v].double(), eps)
        keep, merges = decompose(weights[w], bias, bnp, kept)
        out.append((i, keep, merges))
    return layers, out


def surgery(layers, weights, planned):
    new = dict(weights)
    for i, keep, merges in planned:
        node, w, b, bn = layers[i]
        new[w] = new[w][keep]
        if b is not None:
            new[b] = new[b][keep]
        if bn is not None:
            for p in bn[:4]:
                new[p] = new[p][keep]
        cw = layers[i + 1][1]
        c = new[cw].clone()
        # A conv -> flatten -> linear consumer reads blocks of H*W features per channel.
        block = c.shape[1] // weights[w].shape[0]
        if merges:
            c = c.reshape(c.shape[0], weights[w].shape[0], block, *c.shape[2:])
            for frm, into, z in merges:
                c[:, into] += z * c[:, frm]
            c = c[:, keep].reshape(c.shape[0], len(keep) * block, *c.shape[3:])
        else:
            c = c.reshape(c.shape[0], weights[w].shape[0], block, *c.shape[2:])[:, keep]
            c = c.reshape(c.shape[0], len(keep) * block, *c.shape[3:])
        new[cw] = c
    return new


def encode(model, weights):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.initializer[:]
    for t in model.graph.initializer:
        out.graph.initializer.append(numpy_helper.from_array(weights[t.name].contiguous().numpy(), t.name))
    return out.SerializeToString()


def main():
    path, ratio, reps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    data = open(path, "rb").read()
    runs = []
    result = None
    for _ in range(reps + 1):  # one warm-up
        t = {}
        clock = lambda: (time.perf_counter() * 1e3, time.process_time() * 1e3)  # noqa: E731
        w0, c0 = clock()
        model, weights = decode(data)
        w1, c1 = clock()
        layers, planned = plan(model, weights, ratio)
        w2, c2 = clock()
        new = surgery(layers, weights, planned)
        w3, c3 = clock()
        out = encode(model, new)
        w4, c4 = clock()
        for name, (a, b, ca, cb) in {
            "decode": (w0, w1, c0, c1),
            "decomposition": (w1, w2, c1, c2),
            "surgery": (w2, w3, c2, c3),
            "encode": (w3, w4, c3, c4),
        }.items():
            t[name] = b - a
            t[name + ".cpu"] = cb - ca
        runs.append(t)
        result = {
            "outBytes": len(out),
            "layers": [
                {"node": layers[i][0].name, "kept": keep.tolist(), "merged": len(m)} for i, keep, m in planned
            ],
        }
    result["runs"] = runs[1:]
    result["torch"] = torch.__version__
    config = torch.__config__.show()
    result["blas"] = next((p.split("=")[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
