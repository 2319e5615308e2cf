import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { autodiffSensitivities } from '../../../src/core/compute/autodiff';
import { initBackend } from '../../../src/core/compute/backend';
import { Runtime } from '../../../src/core/compute/runtime';
import { computeScores } from '../../../src/core/compute/scores';
import { collectStatistics, sensitivitiesFor, type StatisticsOptions } from '../../../src/core/compute/statistics';
import type { Dataset } from '../../../src/core/data/types';
import { denseLayers, type Layer, type Network } from '../../../src/core/model';
import type { ReferenceOutput } from '../../../src/core/reports';
import { normalGenerator, randomDataset, randomDense } from '../../helpers/synthetic';
import { mixedNetwork } from './mixed-network';

/** Asserts relative agreement, skipping values below 1e-6 of the largest expected value. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label} length`);
  let largest = 0;
  for (let k = 0; k < expected.length; k++) largest = Math.max(largest, Math.abs(expected[k]));
  assert.ok(largest > 0, `${label} is all zeros`);
  for (let k = 0; k < expected.length; k++) {
    if (Math.abs(expected[k]) <= 1e-6 * largest) continue;
    const error = Math.abs(actual[k] - expected[k]) / Math.abs(expected[k]);
    assert.ok(error <= tolerance, `${label}[${k}]: ${actual[k]} vs ${expected[k]} (relative error ${error})`);
  }
}

function statisticsOptions(reference: ReferenceOutput, extra: Partial<StatisticsOptions> = {}): StatisticsOptions {
  return { reference, batchSize: 23, seed: 0, ...extra };
}

async function ecpScores(network: Network, dataset: Dataset, options: StatisticsOptions) {
  const runtime = new Runtime(network);
  try {
    const needs = { sensitivity: true, inputNorms: false, lossGradient: false };
    const statistics = await collectStatistics(runtime, dataset, needs, options);
    return { statistics, scores: computeScores('ecp', denseLayers(network), statistics, 0) };
  } finally {
    runtime.dispose();
  }
}

describe('autodiff sensitivities', () => {
  before(async () => {
    await initBackend();
  });

  for (const reference of ['logits', 'output'] as const) {
    it(`match the batched pass on ${reference}`, () => {
      const network = mixedNetwork();
      const dataset = randomDataset(40, 5, 3);
      const runtime = new Runtime(network);
      try {
        const [batched, automatic] = tf.tidy(() => {
          const x = tf.tensor2d(dataset.features, [dataset.samples, 5]);
          const fast = sensitivitiesFor(runtime, x, reference, 'batched').map((s) => s.dataSync());
          const probes = tf.eye(runtime.outputSize) as tf.Tensor2D;
          const slow = autodiffSensitivities(runtime, x, probes, reference).map((s) => s.dataSync());
          return [fast, slow];
        });
        assert.equal(batched.length, 5);
        batched.forEach((s, layer) => assertClose(s, automatic[layer], 1e-4, `s of layer ${layer}`));
      } finally {
        runtime.dispose();
      }
    });
  }

  it('match on a kernel kept once', () => {
    // 1024 × 1024 weights reach the size above which the runtime keeps only the transposed kernel.
    const random = normalGenerator(12);
    const layers: Layer[] = [
      randomDense('in', 5, 1024, { name: 'tanh' }, random),
      randomDense('wide', 1024, 1024, { name: 'relu' }, random),
      randomDense('out', 1024, 3, { name: 'softmax' }, random),
    ];
    const runtime = new Runtime({ inputShape: [5], layers });
    try {
      const [batched, automatic] = tf.tidy(() => {
        const x = tf.tensor2d(randomDataset(6, 5, 3).features, [6, 5]);
        const fast = sensitivitiesFor(runtime, x, 'logits', 'batched').map((s) => s.dataSync());
        const slow = sensitivitiesFor(runtime, x, 'logits', 'autodiff').map((s) => s.dataSync());
        return [fast, slow];
      });
      batched.forEach((s, layer) => assertClose(s, automatic[layer], 1e-4, `s of layer ${layer}`));
    } finally {
      runtime.dispose();
    }
  });

  it('give the same ECP scores', async () => {
    const network = mixedNetwork(5);
    const dataset = randomDataset(90, 5, 3, 8);
    const batched = await ecpScores(network, dataset, statisticsOptions('output'));
    const automatic = await ecpScores(network, dataset, statisticsOptions('output', { sensitivityMethod: 'autodiff' }));
    batched.scores.forEach((layer, l) => {
      assertClose(layer.importance, automatic.scores[l].importance, 1e-3, `${layer.name}.importance`);
      assertClose(layer.compensation as Float32Array, automatic.scores[l].compensation as Float32Array, 1e-3, `${layer.name}.compensation`);
    });
  });

  it('leak no tensors', async () => {
    const network = mixedNetwork();
    const dataset = randomDataset(30, 5, 3);
    const options = statisticsOptions('logits', { sensitivityMethod: 'autodiff' });
    await ecpScores(network, dataset, options);
    const count = tf.memory().numTensors;
    await ecpScores(network, dataset, options);
    await ecpScores(network, dataset, { ...options, sensitivityMethod: 'batched', cacheBytes: 0 });
    assert.equal(tf.memory().numTensors, count);
  });
});

describe('refinement', () => {
  before(async () => {
    await initBackend();
  });

  it('reads kept samples like a replay', async () => {
    const network = mixedNetwork(9);
    const dataset = randomDataset(120, 5, 3, 4);
    // Half the samples share one value per feature, so the shift is that value, while the units'
    // weighted means lie elsewhere: pairs to refine.
    for (let k = 0; k < dataset.features.length; k += 2) dataset.features[k] = 40;
    const fromMemory = await ecpScores(network, dataset, statisticsOptions('logits'));
    const replayed = await ecpScores(network, dataset, statisticsOptions('logits', { cacheBytes: 0 }));
    const refined = fromMemory.statistics.layers.map((layer) => layer.refined?.index.length ?? 0);
    assert.ok(refined.some((count) => count > 0), `no pairs were refined: ${refined.join(', ')}`);
    fromMemory.statistics.layers.forEach((layer, l) => {
      const other = replayed.statistics.layers[l].refined;
      assert.deepEqual(Array.from(layer.refined?.index ?? []), Array.from(other?.index ?? []));
      if (layer.refined && other) {
        assertClose(layer.refined.spread, other.spread, 1e-9, `spread of layer ${l}`);
        assertClose(layer.refined.mean, other.mean, 1e-9, `mean of layer ${l}`);
      }
    });
  });
});
