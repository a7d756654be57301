#!/usr/bin/env python3
"""Train the ResNet-20 baseline for the Gate Decorator target run (bench/gate/README.md).

Developer machine only (PyTorch); nothing in the tests runs Python.

    /usr/bin/python3 bench/gate/train_resnet20.py [--epochs 15] [--out bench/results/gate]
        [--checkpoint DIR] [DATASET_DIR]

The architecture and the preprocessing are those of tests/fixtures/train_convnets.py
(CIFAR ResNet-20, option-B shortcuts, Fashion-MNIST zero-padded to 32x32, x = byte/255).
The recipe is longer than the fixture's 1.5 epochs: SGD momentum 0.9 Nesterov, weight decay
5e-4 on conv/linear weights, batch 128, lr 0.1 with one epoch of linear warm-up then cosine
to 0, and prunekit's own augmentation (a random shift of up to 2 pixels with zero fill and a
horizontal flip with probability 1/2, as `prunekit finetune`). Seeded.

A checkpoint (model, optimizer, RNG states, epoch) is written atomically after every epoch
to --checkpoint (default: OUT/baseline-checkpoint); rerunning the same command resumes from
it. At the end the eval-mode model is exported with BatchNormalization kept (opset 13,
input "input" [batch,1,32,32], output "output" logits) to OUT/resnet20-base.onnx, and the
run's facts to OUT/resnet20-base.json.
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import make_fixtures as mf  # noqa: E402
import train_convnets as tc  # noqa: E402

SEED = 0


def augment(xb, gen):
    """Shift each image by dx, dy in [-2, 2] (zero fill) and flip half of them."""
    n = xb.shape[0]
    pad = F.pad(xb, (2, 2, 2, 2))
    shifts = torch.randint(0, 5, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = int(shifts[i, 0]), int(shifts[i, 1])
        img = pad[i, :, dy : dy + 32, dx : dx + 32]
        out[i] = torch.flip(img, dims=[2]) if flips[i] else img
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset_dir", nargs="?", default=tc.DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "gate"))
    ap.add_argument("--checkpoint")
    args = ap.parse_args()
    ckpt_dir = args.checkpoint or os.path.join(args.out, "baseline-checkpoint")
    os.makedirs(ckpt_dir, exist_ok=True)
    ckpt = os.path.join(ckpt_dir, "state.pt")

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    xtr, ytr = tc.load(args.dataset_dir, "train")
    xte, yte = tc.load(args.dataset_dir, "t10k")
    model = tc.CifarResNet(3).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(tc.param_groups(model, 5e-4), lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(xtr) // args.batch
    total = steps_per_epoch * args.epochs
    warmup = steps_per_epoch

    def lr_at(s):
        if s < warmup:
            return args.lr * (s + 1) / warmup
        return 0.5 * args.lr * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))

    gen = torch.Generator().manual_seed(SEED)
    start, history, train_seconds = 0, [], 0.0
    if os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        start, history, train_seconds = st["epoch"], st["history"], st["trainSeconds"]
        print(f"resumed after epoch {start}", flush=True)

    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        run_loss = run_ok = run_n = 0.0
        for b in range(steps_per_epoch):
            s = epoch * steps_per_epoch + b
            idx = perm[b * args.batch : (b + 1) * args.batch]
            xb = augment(xtr[idx], gen).contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(s)
            opt.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, ytr[idx])
            loss.backward()
            opt.step()
            run_loss += loss.item() * len(idx)
            run_ok += (out.argmax(1) == ytr[idx]).sum().item()
            run_n += len(idx)
            if (b + 1) % 100 == 0:
                el = time.time() - t0
                print(f"epoch {epoch + 1} step {b + 1}/{steps_per_epoch} loss {run_loss / run_n:.4f} "
                      f"acc {run_ok / run_n:.4f} lr {lr_at(s):.4f} {el:.0f}s", flush=True)
        train_seconds += time.time() - t0
        ok = tc.accuracy(model, xte, yte)
        acc = float(ok.float().mean())
        history.append({"epoch": epoch + 1, "trainLoss": round(run_loss / run_n, 4),
                        "trainAccuracy": round(run_ok / run_n, 4), "testAccuracy": round(acc, 4),
                        "seconds": round(time.time() - t0)})
        print(f"epoch {epoch + 1}/{args.epochs} test {acc * 100:.2f}% ({time.time() - t0:.0f}s)", flush=True)
        tmp = ckpt + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "rng": torch.get_rng_state(), "epoch": epoch + 1, "history": history,
                    "trainSeconds": train_seconds}, tmp)
        os.replace(tmp, ckpt)

    model = model.to(memory_format=torch.contiguous_format).eval()
    ok = tc.accuracy(model, xte, yte)
    path = os.path.join(args.out, "resnet20-base.onnx")
    mf.export(model, xte[:1], path, True)
    facts = {
        "model": "CIFAR ResNet-20 (tests/fixtures/train_convnets.py), BatchNormalization kept, opset 13",
        "preprocessing": tc.PREPROCESSING,
        "recipe": (f"seed {SEED}, SGD momentum 0.9 nesterov, weight decay 5e-4 on conv/linear weights, "
                   f"batch {args.batch}, {args.epochs} epochs, lr {args.lr} linear warm-up over 1 epoch then "
                   "cosine to 0, random shift up to 2 px (zero fill) + horizontal flip, "
                   f"{args.threads} CPU threads, PyTorch {torch.__version__}"),
        "testAccuracy": round(float(ok.float().mean()), 6),
        "trainSeconds": round(train_seconds),
        "history": history,
    }
    with open(os.path.join(args.out, "resnet20-base.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: test accuracy {facts['testAccuracy'] * 100:.2f}%", flush=True)


if __name__ == "__main__":
    main()
