/** A small network with every kind of operation the batched backward pass handles. */
import type { Layer, Network } from '../../../src/core/model';
import { normalGenerator, randomDense } from '../../helpers/synthetic';

/** 5-9-7-6-4: BN, dropout, separate ELU, SELU and leaky ReLU layers, sigmoid, tanh, softmax head. */
export function mixedNetwork(seed = 3): Network {
  const random = normalGenerator(seed);
  const vector = (size: number, base: number, spread: number) =>
    Float32Array.from({ length: size }, () => base + spread * random());
  const layers: Layer[] = [
    randomDense('d1', 5, 9, { name: 'relu' }, random),
    {
      kind: 'batchnorm',
      name: 'bn',
      size: 9,
      gamma: vector(9, 1, 0.3),
      beta: vector(9, 0, 0.2),
      movingMean: vector(9, 0.4, 0.1),
      movingVariance: Float32Array.from(vector(9, 0.6, 0.1), Math.abs),
      epsilon: 1e-3,
    },
    { kind: 'identity', name: 'dropout', className: 'Dropout' },
    randomDense('d2', 9, 7, { name: 'linear' }, random),
    { kind: 'activation', name: 'elu', activation: { name: 'elu', alpha: 0.7 } },
    { kind: 'activation', name: 'selu', activation: { name: 'selu' } },
    randomDense('d3', 7, 6, { name: 'sigmoid' }, random),
    { kind: 'activation', name: 'leaky', activation: { name: 'leaky_relu', alpha: 0.2 } },
    randomDense('d4', 6, 4, { name: 'tanh' }, random),
    randomDense('d5', 4, 3, { name: 'softmax' }, random),
  ];
  return { inputShape: [5], layers };
}
