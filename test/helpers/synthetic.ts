/** Small random networks and datasets for tests, with a float64 reference implementation. */
import type { Dataset } from '../../src/core/data/types';
import type { Activation, DenseLayer, Layer, Network } from '../../src/core/model';
import { mulberry32 } from '../../src/core/compute/statistics';

/** Returns a seeded generator of normal numbers. */
export function normalGenerator(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

/** Builds a dense layer with random weights. */
export function randomDense(
  name: string,
  inputs: number,
  units: number,
  activation: Activation,
  random: () => number,
  withBias = true,
): DenseLayer {
  const kernel = Float32Array.from({ length: units * inputs }, () => random() / Math.sqrt(inputs));
  const bias = withBias ? Float32Array.from({ length: units }, () => 0.1 * random()) : null;
  return { kind: 'dense', name, units, inputs, kernel, bias, activation };
}

/** A 6-8-5-3 network with batch normalization, a separate tanh layer and a final softmax. */
export function smallClassifier(seed = 1): Network {
  const random = normalGenerator(seed);
  const layers: Layer[] = [
    randomDense('d1', 6, 8, { name: 'relu' }, random),
    {
      kind: 'batchnorm',
      name: 'bn',
      size: 8,
      gamma: Float32Array.from({ length: 8 }, () => 1 + 0.2 * random()),
      beta: Float32Array.from({ length: 8 }, () => 0.1 * random()),
      movingMean: Float32Array.from({ length: 8 }, () => 0.3 + 0.1 * random()),
      movingVariance: Float32Array.from({ length: 8 }, () => 0.5 + 0.1 * Math.abs(random())),
      epsilon: 1e-3,
    },
    { kind: 'identity', name: 'dropout', className: 'Dropout' },
    randomDense('d2', 8, 5, { name: 'linear' }, random),
    { kind: 'activation', name: 'act', activation: { name: 'tanh' } },
    randomDense('d3', 5, 3, { name: 'softmax' }, random),
  ];
  return { inputShape: [6], layers };
}

/** Random features with a mean far from zero, and class labels. */
export function randomDataset(samples: number, features: number, classes: number, seed = 2): Dataset {
  const random = normalGenerator(seed);
  const values = Float32Array.from({ length: samples * features }, () => 3 + random());
  const labels = Float32Array.from({ length: samples }, (_, i) => i % classes);
  return {
    source: 'synthetic',
    samples,
    featureCount: features,
    features: values,
    sampleShape: [features],
    labels,
    labelWidth: 1,
    labelKind: 'class',
    description: 'synthetic',
  };
}

type Vector = Float64Array;

/** Float64 forward pass that records what the reference ECP needs. */
function forward(network: Network, x: Vector) {
  let a: Vector = x;
  const inputs: Vector[] = [];
  const jacobians: Vector[] = [];
  let derivative: Vector | null = null;
  let currentDerivative: Vector = new Float64Array(0);
  for (const layer of network.layers) {
    if (layer.kind === 'dense') {
      if (derivative) jacobians.push(derivative);
      inputs.push(a);
      const z = new Float64Array(layer.units);
      for (let i = 0; i < layer.units; i++) {
        let sum = layer.bias ? layer.bias[i] : 0;
        for (let j = 0; j < layer.inputs; j++) sum += layer.kernel[i * layer.inputs + j] * a[j];
        z[i] = sum;
      }
      currentDerivative = new Float64Array(layer.units).fill(1);
      derivative = currentDerivative;
      a = applyActivation(layer.activation.name, z, currentDerivative);
    } else if (layer.kind === 'activation') {
      a = applyActivation(layer.activation.name, a, currentDerivative);
    } else if (layer.kind === 'batchnorm') {
      a = a.map((value, i) => {
        const factor = (layer.gamma?.[i] ?? 1) / Math.sqrt(layer.movingVariance[i] + layer.epsilon);
        currentDerivative[i] *= factor;
        return (value - layer.movingMean[i]) * factor + (layer.beta?.[i] ?? 0);
      });
    }
  }
  jacobians.push(currentDerivative);
  return { inputs, derivatives: jacobians, logits: a };
}

/** Applies an activation; multiplies `derivative` in place, except for softmax (left as the head). */
function applyActivation(name: string, z: Vector, derivative: Vector): Vector {
  switch (name) {
    case 'relu':
      return z.map((v, i) => ((derivative[i] *= v > 0 ? 1 : 0), Math.max(0, v)));
    case 'tanh':
      return z.map((v, i) => ((derivative[i] *= 1 - Math.tanh(v) ** 2), Math.tanh(v)));
    case 'linear':
    case 'softmax':
      return z;
    default:
      throw new Error(`reference: activation ${name} not implemented`);
  }
}

/** Float64 reference of ECP importance and compensation with exact per-output gradients. */
export function referenceEcp(network: Network, dataset: Dataset): { importance: Float64Array; compensation: Float64Array }[] {
  const dense = network.layers.filter((layer): layer is DenseLayer => layer.kind === 'dense');
  const sums = dense.map((layer) => ({
    m0: new Float64Array(layer.units),
    m1: new Float64Array(layer.units * layer.inputs),
    m2: new Float64Array(layer.units * layer.inputs),
  }));
  for (let n = 0; n < dataset.samples; n++) {
    const x = Float64Array.from(dataset.features.subarray(n * dataset.featureCount, (n + 1) * dataset.featureCount));
    const { inputs, derivatives, logits } = forward(network, x);
    for (let k = 0; k < logits.length; k++) {
      let g: Vector = new Float64Array(logits.length);
      g[k] = 1;
      for (let l = dense.length - 1; l >= 0; l--) {
        g = g.map((v, i) => v * derivatives[l][i]);
        const layer = dense[l];
        for (let i = 0; i < layer.units; i++) {
          const s = g[i] * g[i];
          sums[l].m0[i] += s;
          for (let j = 0; j < layer.inputs; j++) {
            sums[l].m1[i * layer.inputs + j] += s * inputs[l][j];
            sums[l].m2[i * layer.inputs + j] += s * inputs[l][j] ** 2;
          }
        }
        const upstream = new Float64Array(layer.inputs);
        for (let i = 0; i < layer.units; i++) {
          for (let j = 0; j < layer.inputs; j++) upstream[j] += g[i] * layer.kernel[i * layer.inputs + j];
        }
        g = upstream;
      }
    }
  }
  return dense.map((layer, l) => {
    const importance = new Float64Array(layer.units * layer.inputs);
    const compensation = new Float64Array(layer.units * layer.inputs);
    for (let i = 0; i < layer.units; i++) {
      const m0 = sums[l].m0[i];
      for (let j = 0; j < layer.inputs; j++) {
        const k = i * layer.inputs + j;
        if (m0 === 0) continue;
        const w = layer.kernel[k];
        importance[k] = (w * w * (sums[l].m2[k] - sums[l].m1[k] ** 2 / m0)) / dataset.samples;
        compensation[k] = sums[l].m1[k] / m0;
      }
    }
    return { importance, compensation };
  });
}
