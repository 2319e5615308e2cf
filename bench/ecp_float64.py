"""Iterative ECP in float64 NumPy on two corpus models, as a cross-check of the reference table.

Follows the method of the README ("The method in brief") with exact per-output gradients: the
output's sensitivity to each dense layer's pre-activations, the moments m0, M1 and M2 over the
calibration rows, a global selection with ties broken by position, the schedule
p_t = 1 - (1 - p)^(t/T) and the bias compensation. Prints, per sparsity, the per-layer sparsity
and the metric on the evaluation rows, to compare with PruneLens and with the reference table.

Usage (Debian's python3-numpy and python3-h5py), about 10 s of CPU per sparsity for MNIST:
    /usr/bin/python3 bench/ecp_float64.py mnist 0.9 0.95
    /usr/bin/python3 bench/ecp_float64.py boston 0.5
"""

import csv
import gzip
import os
import sys

import h5py
import numpy as np

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus")
STEPS = int(os.environ.get("STEPS", "10"))

# Per case: the model, its dense layers, the normalization after each hidden one (or None) and
# the path of a weight inside `model_weights`.
CASES = {
    "mnist": {
        "model": "keras-h5-mnist-mlp-bn-dropout/mnist_mlp.h5",
        "dense": ["dense", "dense_1", "dense_2", "dense_3"],
        "normalizations": ["batch_normalization", "batch_normalization_1", None],
        "weight": "{layer}/MLP_MNIST/{layer}/{name}",
    },
    "boston": {
        "model": "keras-h5-boston-housing-regression/boston_housing.h5",
        "dense": ["dense_16", "dense_17", "dense_18"],
        "normalizations": ["batch_normalization_11", "batch_normalization_12"],
        "weight": "{layer}/{layer}/{name}:0",
    },
}


def load_model(case):
    """Returns the kernels as [units, inputs], the biases and each normalization's scale and shift."""
    with h5py.File(os.path.join(CORPUS, case["model"]), "r") as file:
        weights = file["model_weights"]

        def read(layer, name):
            return np.array(weights[case["weight"].format(layer=layer, name=name)], dtype=np.float64)

        kernels = [read(layer, "kernel").T.copy() for layer in case["dense"]]
        biases = [read(layer, "bias") for layer in case["dense"]]
        normalizations = []
        for layer in case["normalizations"]:
            if layer is None:
                normalizations.append(None)
                continue
            # Both models use Keras's default epsilon of 1e-3.
            scale = read(layer, "gamma") / np.sqrt(read(layer, "moving_variance") + 1e-3)
            normalizations.append((scale, read(layer, "beta") - read(layer, "moving_mean") * scale))
    return kernels, biases, normalizations


def read_idx(name):
    """Reads an MNIST IDX file of the corpus as a flat uint8 array."""
    data = gzip.open(os.path.join(CORPUS, "data", "mnist-test", name)).read()
    return np.frombuffer(data, dtype=np.uint8, offset=16 if data[3] == 3 else 8)


def forward(kernels, biases, normalizations, x):
    """Returns each dense layer's input, each hidden layer's derivative and the logits."""
    inputs, derivatives, a = [], [], x
    for index, (kernel, bias) in enumerate(zip(kernels, biases)):
        inputs.append(a)
        z = a @ kernel.T + bias
        if index == len(kernels) - 1:
            return inputs, derivatives, z
        derivative = (z > 0).astype(np.float64)
        a = np.maximum(z, 0)
        if normalizations[index] is not None:
            scale, shift = normalizations[index]
            a = a * scale + shift
            derivative = derivative * scale
        derivatives.append(derivative)
    raise AssertionError("unreachable")


def scores(kernels, biases, normalizations, x):
    """Returns (importance, compensation) per dense layer."""
    inputs, derivatives, logits = forward(kernels, biases, normalizations, x)
    samples, outputs = logits.shape
    gradient = np.zeros((outputs, samples, outputs))
    gradient[np.arange(outputs), :, np.arange(outputs)] = 1
    result = [None] * len(kernels)
    for index in range(len(kernels) - 1, -1, -1):
        s = (gradient**2).sum(0)
        a = inputs[index]
        m0, m1 = s.sum(0), s.T @ a
        active = m0[:, None] > 0
        compensation = np.where(active, m1 / np.where(active, m0[:, None], 1), 0)
        # The spread E[s a^2] - E[s a]^2 / E[s], summed around each pair's own mean so that it
        # cancels nothing. With raw inputs in the hundreds (Boston) the direct formula loses it.
        spread = np.stack([s[:, unit] @ (a - compensation[unit]) ** 2 for unit in range(s.shape[1])])
        spread = np.where(active, spread, 0)
        result[index] = (kernels[index] ** 2 * spread / samples, compensation)
        if index > 0:
            gradient = (gradient @ kernels[index]) * derivatives[index - 1][None]
    return result


def prune(kernels, biases, normalizations, x, sparsity):
    """Prunes copies of the kernels and biases in STEPS steps and returns them."""
    kernels = [kernel.copy() for kernel in kernels]
    biases = [bias.copy() for bias in biases]
    total = sum(kernel.size for kernel in kernels)
    for step in range(1, STEPS + 1):
        target = sparsity if step == STEPS else 1 - (1 - sparsity) ** (step / STEPS)
        layer_scores = scores(kernels, biases, normalizations, x)
        # Pruned weights sort first, so they count toward the target and stay pruned.
        flat = np.concatenate(
            [np.where(kernel == 0, -1.0, importance).ravel() for kernel, (importance, _) in zip(kernels, layer_scores)]
        )
        order = np.argsort(flat, kind="stable")
        chosen = order[int((flat < 0).sum()) : round(target * total)]
        offset = 0
        for kernel, bias, (_, compensation) in zip(kernels, biases, layer_scores):
            local = chosen[(chosen >= offset) & (chosen < offset + kernel.size)] - offset
            offset += kernel.size
            units, columns = np.unravel_index(local, kernel.shape)
            np.add.at(bias, units, kernel[units, columns] * compensation[units, columns])
            kernel[units, columns] = 0
    return kernels, biases


def mnist_data():
    """Returns calibration images 0-1999, evaluation images 5000-9999 and their labels."""
    pixels = read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64)
    # The reference runs multiply by this scale. Dividing by 255 differs in the last bit, which is
    # enough to change the pruning path (DIVIDE_BY_255=1 shows it).
    images = pixels / 255 if os.environ.get("DIVIDE_BY_255") else pixels * 0.00392156862745098
    labels = read_idx("t10k-labels-idx1-ubyte.gz")
    return images[:2000], images[5000:10000], labels[5000:10000]


def boston_data():
    """Returns all 506 rows as calibration and evaluation features, and MEDV."""
    with open(os.path.join(CORPUS, "data", "sklearn-boston", "boston_house_prices.csv"), encoding="utf-8") as file:
        rows = list(csv.reader(file))[2:]
    values = np.array([[float(value) for value in row] for row in rows if row])
    return values[:, :13], values[:, :13], values[:, 13]


def metric(case_name, logits, targets):
    """Returns accuracy for MNIST, mean squared error for Boston."""
    if case_name == "mnist":
        return "accuracy", float((logits.argmax(1) == targets).mean())
    return "mse", float(((logits[:, 0] - targets) ** 2).mean())


def main():
    case_name = sys.argv[1] if len(sys.argv) > 1 else "mnist"
    kernels, biases, normalizations = load_model(CASES[case_name])
    calibration, evaluation, targets = mnist_data() if case_name == "mnist" else boston_data()
    for sparsity in [float(value) for value in sys.argv[2:] or ["0.9"]]:
        pruned, shifted = prune(kernels, biases, normalizations, calibration, sparsity)
        _, _, output = forward(pruned, shifted, normalizations, evaluation)
        name, value = metric(case_name, output, targets)
        layers = [round(float((kernel == 0).mean()), 4) for kernel in pruned]
        print(f"{case_name} at {sparsity}: layers {layers}, {name} {value:.4f}", flush=True)


if __name__ == "__main__":
    main()
