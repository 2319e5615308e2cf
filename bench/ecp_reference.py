"""PyTorch reference of the ECP statistics, timed on the same network and data as PruneLens.

Reads a folder written by bench/reference.ts: `spec.json` (the compiled stages, thread count,
batch size), `weights.bin` and `features.bin` (raw little-endian float32). For every batch it
runs the network forward with autograd, takes one gradient pass per output with respect to each
dense layer's pre-activation, sums the squares into `s`, and adds `m0 = sum s`,
`M1 = S^T A'` and `M2 = S^T A'^2` (A' shifted by the first batch's input means) in float64.
Prints one JSON line with the seconds and a checksum of `m0` per layer.
"""

import json
import os
import sys
import time

import numpy as np

try:
    import torch
except ImportError:
    print(json.dumps({"skipped": "torch is not installed for this python"}))
    sys.exit(0)


def activation(name, alpha, z):
    """Applies one activation by its Keras name."""
    functional = torch.nn.functional
    table = {
        "linear": lambda v: v,
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softplus": functional.softplus,
        "selu": torch.selu,
        "elu": lambda v: functional.elu(v, alpha if alpha is not None else 1.0),
        "leaky_relu": lambda v: functional.leaky_relu(v, alpha if alpha is not None else 0.3),
    }
    if name not in table:
        raise SystemExit(f"ecp_reference.py: activation '{name}' is not supported here")
    return table[name](z)


def apply_ops(ops, weights, value):
    """Applies a chain of elementwise operations."""
    for op in ops:
        if op["kind"] == "affine":
            value = value * weights[op["scale"]] + weights[op["shift"]]
        else:
            value = activation(op["name"], op.get("alpha"), value)
    return value


def load(folder):
    """Reads the spec, the weights as tensors by name and the features."""
    with open(os.path.join(folder, "spec.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    flat = np.fromfile(os.path.join(folder, "weights.bin"), dtype="<f4")
    weights = {}
    for name, (offset, shape) in spec["tensors"].items():
        size = int(np.prod(shape))
        weights[name] = torch.from_numpy(flat[offset : offset + size].reshape(shape).copy())
    features = np.fromfile(os.path.join(folder, "features.bin"), dtype="<f4")
    features = torch.from_numpy(features.reshape(-1, spec["inputSize"]))
    return spec, weights, features


def forward(spec, weights, x):
    """Returns the pre-activations, the dense inputs and the reference output."""
    a = apply_ops(spec["before"], weights, x)
    inputs, pre = [], []
    for stage in spec["stages"]:
        inputs.append(a)
        z = torch.nn.functional.linear(a, weights[stage["kernel"]], weights.get(stage["bias"]))
        pre.append(z)
        a = apply_ops(stage["after"], weights, z)
    return pre, inputs, a


def statistics(spec, weights, features):
    """Accumulates m0, M1, M2 for every dense layer over all samples."""
    stages = spec["stages"]
    for stage in stages:
        weights[stage["kernel"]].requires_grad_(True)
    m0 = [torch.zeros(s["units"], dtype=torch.float64) for s in stages]
    m1 = [torch.zeros(s["units"], s["inputs"], dtype=torch.float64) for s in stages]
    m2 = [torch.zeros(s["units"], s["inputs"], dtype=torch.float64) for s in stages]
    shifts = None
    batch = spec["batchSize"]
    for start in range(0, features.shape[0], batch):
        x = features[start : start + batch]
        pre, inputs, logits = forward(spec, weights, x)
        squares = [torch.zeros_like(z) for z in pre]
        for k in range(logits.shape[1]):
            grads = torch.autograd.grad(logits[:, k].sum(), pre, retain_graph=True)
            for total, g in zip(squares, grads):
                total.add_(g * g)
        with torch.no_grad():
            if shifts is None:
                shifts = [a.mean(0) for a in inputs]
            for index, (s, a) in enumerate(zip(squares, inputs)):
                shifted = a.detach() - shifts[index]
                m0[index] += s.sum(0).double()
                m1[index] += (s.t() @ shifted).double()
                m2[index] += (s.t() @ (shifted * shifted)).double()
    return m0, m1, m2


def main():
    folder = sys.argv[1]
    spec, weights, features = load(folder)
    torch.set_num_threads(spec["threads"])
    statistics(spec, weights, features[: min(len(features), spec["batchSize"])])
    started = time.perf_counter()
    m0, _, _ = statistics(spec, weights, features)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "m0": [float(v.sum()) for v in m0],
            }
        )
    )


if __name__ == "__main__":
    main()
