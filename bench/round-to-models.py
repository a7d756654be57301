#!/usr/bin/env python3
"""Export the models of bench/round-to.bench.ts: torchvision MobileNet-V2 and ResNet-50, eval mode,
BatchNorm kept (model.eval() exported with training=PRESERVE and do_constant_folding=False: EVAL would
run the peephole pass that fuses Conv+BN), opset 13, input [N, 3, 224, 224] with a
dynamic batch. Weights are torchvision's random initialisation (seeded): the bench measures latency,
which does not depend on the values.

Usage: python3 bench/round-to-models.py [OUT_DIR]   (default: bench/.cache/round-to, not committed)
"""
import os
import sys

import torch
import torchvision

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".cache", "round-to")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
for name in ["mobilenet_v2", "resnet50"]:
    path = os.path.join(OUT, f"{name}.onnx")
    if os.path.exists(path):
        print(f"{path} exists")
        continue
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(
        model,
        x,
        path,
        opset_version=13,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    print(f"wrote {path}")
