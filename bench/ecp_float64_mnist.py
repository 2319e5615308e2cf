"""Iterative ECP in float64 NumPy on the corpus's Keras MNIST model, as a cross-check.

Follows the method of the README ("The method in brief") with exact per-output gradients: the logits' sensitivity
to each dense layer's pre-activations, the moments m0, M1 and M2 over MNIST test images 0-1999,
a global selection with ties broken by position, the schedule p_t = 1 - (1 - p)^(t/T) and the
bias compensation. Prints, per sparsity, the per-layer sparsity and the accuracy on images
5000-9999, to compare with PruneLens and with the reference table.

Usage (Debian's python3-numpy and python3-h5py): /usr/bin/python3 bench/ecp_float64_mnist.py 0.9 0.95
takes about 10 s of CPU per sparsity.
"""

import gzip
import os
import sys

import h5py
import numpy as np

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus")
LAYERS = ["dense", "dense_1", "dense_2", "dense_3"]
NORMALIZATIONS = ["batch_normalization", "batch_normalization_1"]
STEPS = 10


def load_model():
    """Returns the kernels as [units, inputs], the biases and each normalization's scale and shift."""
    with h5py.File(os.path.join(CORPUS, "keras-h5-mnist-mlp-bn-dropout", "mnist_mlp.h5"), "r") as file:
        weights = file["model_weights"]

        def read(layer, name):
            return np.array(weights[f"{layer}/MLP_MNIST/{layer}/{name}"], dtype=np.float64)

        kernels = [read(layer, "kernel").T.copy() for layer in LAYERS]
        biases = [read(layer, "bias") for layer in LAYERS]
        normalizations = []
        for layer in NORMALIZATIONS:
            scale = read(layer, "gamma") / np.sqrt(read(layer, "moving_variance") + 1e-3)
            normalizations.append((scale, read(layer, "beta") - read(layer, "moving_mean") * scale))
    # Dense 2 has dropout but no normalization after its ReLU.
    return kernels, biases, normalizations + [None]


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
        m0, m1, m2 = s.sum(0), s.T @ a, s.T @ (a * a)
        active = m0[:, None] > 0
        safe = np.where(active, m0[:, None], 1)
        compensation = np.where(active, m1 / safe, 0)
        spread = np.where(active, m2 - m1 * m1 / safe, 0)
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


def main():
    kernels, biases, normalizations = load_model()
    pixels = read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64)
    # The reference runs multiply by this scale. Dividing by 255 differs in the last bit, which is
    # enough to change the pruning path (DIVIDE_BY_255=1 shows it).
    images = pixels / 255 if os.environ.get("DIVIDE_BY_255") else pixels * 0.00392156862745098
    labels = read_idx("t10k-labels-idx1-ubyte.gz")
    for sparsity in [float(value) for value in sys.argv[1:] or ["0.9"]]:
        pruned, shifted = prune(kernels, biases, normalizations, images[:2000], sparsity)
        _, _, logits = forward(pruned, shifted, normalizations, images[5000:10000])
        accuracy = float((logits.argmax(1) == labels[5000:10000]).mean())
        layers = [round(float((kernel == 0).mean()), 4) for kernel in pruned]
        print(f"sparsity {sparsity}: layers {layers}, accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
