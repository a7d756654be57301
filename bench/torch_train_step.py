"""PyTorch side of bench/train.bench.ts: one training step (forward in training mode, softmax
cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4) of the network an ONNX file
describes, on one thread.

The network is built from the ONNX file itself by a small interpreter (the ops of the bench's models:
Conv, BatchNormalization with batch statistics, Relu, Add, GlobalAveragePool, Flatten, Gemm, MatMul,
Reshape with a constant shape, Identity), so both sides train the same weights. Float initializers
become parameters (BN running statistics become buffers, updated as nn.BatchNorm2d updates them); an
Identity of an initializer gets its own copy, as prunekit's trainer does.

Long-lived: it prints one JSON line when ready, then answers commands read from stdin, one JSON line each:
  run MODEL ITERS   time ITERS steps of MODEL (an .onnx path; built and warmed up on first use)
  quit
Start-up (importing torch, building the network) is therefore outside every timing.
Usage: python3 torch_train_step.py [--batch 64] [--lr 0.01]
"""

import json
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import numpy as np
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper
except Exception as e:  # noqa: BLE001 - report any import failure to the caller
    reply({"ready": False, "error": f"{type(e).__name__}: {e}"})
    sys.exit(0)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

BATCH = 64
LR = 0.01
args = sys.argv[1:]
for i, a in enumerate(args):
    if a == "--batch":
        BATCH = int(args[i + 1])
    elif a == "--lr":
        LR = float(args[i + 1])

FINAL_SOFTMAX = {"Softmax", "LogSoftmax"}


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxNet(torch.nn.Module):
    """The ONNX graph as a torch module, up to the logits (a final Softmax/LogSoftmax is skipped)."""

    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        g = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.consts = {}  # non-float constants (Reshape shapes)
        self.tensors = {}  # ONNX name -> parameter or buffer
        self.params = torch.nn.ParameterList()
        running = set()
        for n in g.node:
            if n.op_type == "BatchNormalization":
                running.update(n.input[3:5])
        for n in g.node:
            if n.op_type == "Constant":
                a = attrs(n)
                self.consts[n.output[0]] = numpy_helper.to_array(a["value"])
        nodes = [n for n in g.node if n.op_type != "Constant"]
        # Identity of an initializer: its own copy of the values.
        kept = []
        for n in nodes:
            if n.op_type == "Identity" and n.input[0] in inits:
                inits[n.output[0]] = inits[n.input[0]].copy()
                if n.input[0] in running:
                    running.add(n.output[0])
            else:
                kept.append(n)
        nbuf = 0
        for name, arr in inits.items():
            if arr.dtype != np.float32:
                self.consts[name] = arr
                continue
            t = torch.from_numpy(arr.copy())
            if name in running:
                self.register_buffer(f"buf{nbuf}", t)
                self.tensors[name] = getattr(self, f"buf{nbuf}")
                nbuf += 1
            else:
                p = torch.nn.Parameter(t)
                self.params.append(p)
                self.tensors[name] = p
        self.input = next(i.name for i in g.input if i.name not in inits)
        dims = [d.dim_value for d in next(i for i in g.input if i.name == self.input).type.tensor_type.shape.dim]
        self.input_dims = [BATCH] + dims[1:]
        self.output = g.output[0].name
        producer = {o: n for n in kept for o in n.output}
        last = producer.get(self.output)
        if last is not None and last.op_type in FINAL_SOFTMAX:
            self.output = last.input[0]
            kept = [n for n in kept if n is not last]
        self.nodes = [(n, attrs(n)) for n in kept]

    def forward(self, x):
        env = dict(self.tensors)
        env[self.input] = x
        for n, a in self.nodes:
            ins = [env[i] if i != "" else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                pads = a.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ValueError(f"{n.name}: asymmetric pads {pads}")
                if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                    raise ValueError(f"{n.name}: auto_pad is not supported")
                y = F.conv2d(
                    ins[0],
                    ins[1],
                    ins[2] if len(ins) > 2 else None,
                    stride=a.get("strides", [1, 1]),
                    padding=pads[:2],
                    dilation=a.get("dilations", [1, 1]),
                    groups=a.get("group", 1),
                )
            elif op == "BatchNormalization":
                y = F.batch_norm(
                    ins[0],
                    ins[3],
                    ins[4],
                    ins[1],
                    ins[2],
                    training=True,
                    momentum=1.0 - a.get("momentum", 0.9),
                    eps=a.get("epsilon", 1e-5),
                )
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(ins[0], 1)
            elif op == "Flatten":
                axis = a.get("axis", 1)
                s = ins[0].shape
                lead = 1
                for d in s[:axis]:
                    lead *= d
                y = ins[0].reshape(lead, -1)
            elif op == "Gemm":
                A = ins[0].t() if a.get("transA", 0) else ins[0]
                B = ins[1].t() if a.get("transB", 0) else ins[1]
                alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
                C = ins[2] if len(ins) > 2 else None
                if C is not None and alpha == 1.0:
                    y = torch.addmm(C, A, B, beta=beta)
                else:
                    y = alpha * (A @ B)
                    if C is not None:
                        y = y + beta * C
            elif op == "MatMul":
                y = torch.matmul(ins[0], ins[1])
            elif op == "Reshape":
                shape = [int(v) for v in self.consts[n.input[1]].tolist()]
                src = ins[0].shape
                shape = [src[i] if v == 0 else v for i, v in enumerate(shape)]
                y = ins[0].reshape(shape)
            elif op in ("Identity", "Dropout"):
                y = ins[0]
            else:
                raise ValueError(f"{n.name}: op {op} is not supported by this interpreter")
            env[n.output[0]] = y
        return env[self.output]


class Bench:
    def __init__(self, path):
        self.net = OnnxNet(path)
        self.net.train()
        self.opt = torch.optim.SGD(self.net.params, lr=LR, momentum=0.9, weight_decay=5e-4)
        count = 1
        for d in self.net.input_dims:
            count *= d
        # The same batch as the TypeScript side: x[i] = ((i * 7919) % 256) / 255, label i % classes.
        i = np.arange(count, dtype=np.int64)
        self.x = torch.from_numpy((((i * 7919) % 256) / 255).astype(np.float32).reshape(self.net.input_dims))
        with torch.no_grad():
            classes = self.net(self.x).shape[1]
        self.labels = torch.arange(BATCH, dtype=torch.int64) % classes
        # Recompute from the file's weights: the probe above updated the BN running statistics only.
        self.first_loss = self.step()
        for _ in range(2):
            self.step()

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net(self.x), self.labels)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def run(self, iters):
        t = time.perf_counter()
        c = time.process_time()
        loss = 0.0
        for _ in range(iters):
            loss = self.step()
        wall = time.perf_counter() - t
        cpu = time.process_time() - c
        return {
            "images_per_s": iters * BATCH / wall,
            "ms_per_step": 1000 * wall / iters,
            "cpu_ms_per_step": 1000 * cpu / iters,
            "loss": loss,
            "first_loss": self.first_loss,
        }


def capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


benches = {}
reply(
    {
        "ready": True,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "batch": BATCH,
    }
)
for line in sys.stdin:
    line = line.strip()
    if line == "":
        continue
    if line == "quit":
        break
    try:
        parts = line.split(" ", 1)
        rest = parts[1].rsplit(" ", 1) if len(parts) == 2 else []
        if parts[0] != "run" or len(rest) != 2:
            raise ValueError(f"unknown command {line!r}; expected 'run MODEL ITERS' or 'quit'")
        path, iters = rest[0], int(rest[1])
        if path not in benches:
            benches[path] = Bench(path)
        reply({"model": path, "iters": iters, **benches[path].run(iters)})
    except Exception as e:  # noqa: BLE001 - the caller reads the error from the reply
        reply({"error": f"{type(e).__name__}: {e}"})
