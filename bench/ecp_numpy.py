"""NumPy reference of the ECP statistics, for a BLAS-bound point of comparison.

Debian's python3-torch links the reference BLAS, which multiplies matrices at a few GFLOP/s, so
the PyTorch figure overstates how slow a Python stack is. This script reads the same folder as
ecp_reference.py and computes the same sums with the batched backward pass PruneLens uses (the
probes stacked along the batch axis), on whatever BLAS NumPy ships (OpenBLAS in the wheels).
Prints one JSON line with the seconds and a checksum of `m0` per layer.
"""

import json
import os
import sys
import time

import numpy as np


def activation(name, alpha, z):
    """Returns an activation and its derivative at `z`."""
    if name == "linear":
        return z, None
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(np.float32)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s)
    if name == "leaky_relu":
        slope = np.float32(alpha if alpha is not None else 0.3)
        return np.where(z > 0, z, slope * z), np.where(z > 0, 1, slope).astype(np.float32)
    raise SystemExit(f"ecp_numpy.py: activation '{name}' is not supported here")


def apply_ops(ops, weights, value):
    """Applies a chain of elementwise operations and returns the value and the chain's derivative."""
    derivative = None
    for op in ops:
        if op["kind"] == "affine":
            scale = weights[op["scale"]]
            value = value * scale + weights[op["shift"]]
            local = np.broadcast_to(scale, value.shape)
        else:
            value, local = activation(op["name"], op.get("alpha"), value)
        if local is not None:
            derivative = local if derivative is None else derivative * local
    return value, derivative


def load(folder):
    """Reads the spec, the weights as arrays by name and the features."""
    with open(os.path.join(folder, "spec.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    flat = np.fromfile(os.path.join(folder, "weights.bin"), dtype="<f4")
    weights = {}
    for name, (offset, shape) in spec["tensors"].items():
        weights[name] = flat[offset : offset + int(np.prod(shape))].reshape(shape)
    features = np.fromfile(os.path.join(folder, "features.bin"), dtype="<f4")
    return spec, weights, features.reshape(-1, spec["inputSize"])


def batch_sums(spec, weights, x, sums, shifts):
    """Adds one batch's m0, M1, M2 to `sums`."""
    stages = spec["stages"]
    a, _ = apply_ops(spec["before"], weights, x)
    inputs, derivatives = [], []
    for stage in stages:
        inputs.append(a)
        z = a @ weights[stage["kernel"]].T
        if stage["bias"]:
            z = z + weights[stage["bias"]]
        a, derivative = apply_ops(stage["after"], weights, z)
        derivatives.append(derivative)
    batch, outputs = a.shape
    g = np.zeros((outputs, batch, outputs), dtype=np.float32)
    g[np.arange(outputs), :, np.arange(outputs)] = 1
    if derivatives[-1] is not None:
        g = g * derivatives[-1]
    g = g.reshape(outputs * batch, outputs)
    if shifts[0] is None:
        for index, value in enumerate(inputs):
            shifts[index] = value.mean(0)
    for index in range(len(stages) - 1, -1, -1):
        s = (g * g).reshape(outputs, batch, -1).sum(0)
        shifted = inputs[index] - shifts[index]
        sums[index][0] += s.sum(0)
        sums[index][1] += s.T @ shifted
        sums[index][2] += s.T @ (shifted * shifted)
        if index == 0:
            break
        g = g @ weights[stages[index]["kernel"]]
        if derivatives[index - 1] is not None:
            g = (g.reshape(outputs, batch, -1) * derivatives[index - 1]).reshape(outputs * batch, -1)


def statistics(spec, weights, features):
    """Accumulates m0, M1, M2 in float64 over all samples."""
    sums = [
        [np.zeros(s["units"]), np.zeros((s["units"], s["inputs"])), np.zeros((s["units"], s["inputs"]))]
        for s in spec["stages"]
    ]
    shifts = [None] * len(spec["stages"])
    for start in range(0, features.shape[0], spec["batchSize"]):
        batch_sums(spec, weights, features[start : start + spec["batchSize"]], sums, shifts)
    return sums


def main():
    spec, weights, features = load(sys.argv[1])
    statistics(spec, weights, features[: spec["batchSize"]])
    started = time.perf_counter()
    sums = statistics(spec, weights, features)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "threads": spec["threads"], "numpy": np.__version__, "m0": [float(s[0].sum()) for s in sums]}))


if __name__ == "__main__":
    main()
