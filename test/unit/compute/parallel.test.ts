import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/core/compute/backend';
import { parallelStatistics, statisticsThreads } from '../../../src/core/compute/parallel';
import { Runtime } from '../../../src/core/compute/runtime';
import { collectStatistics, type StatisticsOptions } from '../../../src/core/compute/statistics';
import { randomDataset, smallClassifier } from '../../helpers/synthetic';
import { mixedNetwork } from './mixed-network';

const needs = { sensitivity: true, inputNorms: false, lossGradient: false };

describe('statistics on two threads', () => {
  before(async () => {
    await initBackend();
  });

  it('add up to one thread', async (context) => {
    if (statisticsThreads() < 2 || tf.getBackend() !== 'wasm') {
      context.skip('needs two cores and the wasm backend');
      return;
    }
    const runtime = new Runtime(mixedNetwork(9));
    const dataset = randomDataset(500, 5, 3, 4);
    // Half the samples share one value per feature, so that some pairs need refining.
    for (let k = 0; k < dataset.features.length; k += 2) dataset.features[k] = 40;
    const options: StatisticsOptions = { reference: 'output', batchSize: 37, seed: 0 };
    try {
      const split = parallelStatistics(runtime, dataset, needs, options);
      assert.ok(split, 'the work was not split across threads');
      const parallel = await split;
      const single = await collectStatistics(runtime, dataset, needs, options);
      const count = tf.memory().numTensors;
      await collectStatistics(runtime, dataset, needs, { ...options, parallel: parallelStatistics });
      assert.equal(tf.memory().numTensors, count);
      assert.equal(parallel.samples, single.samples);
      single.layers.forEach((layer, l) => {
        const other = parallel.layers[l];
        assert.deepEqual(Array.from(other.shift), Array.from(layer.shift), `shift of layer ${l}`);
        for (const key of ['m0', 'm1', 'm2'] as const) {
          layer[key].forEach((value, k) => {
            const error = Math.abs(other[key][k] - value);
            assert.ok(error <= 1e-9 * Math.max(1, Math.abs(value)), `${key}[${k}] of layer ${l}: ${other[key][k]} vs ${value}`);
          });
        }
        assert.deepEqual(Array.from(other.refined?.index ?? []), Array.from(layer.refined?.index ?? []));
      });
      assert.ok(single.layers.some((layer) => (layer.refined?.index.length ?? 0) > 0), 'no pairs were refined');
    } finally {
      runtime.dispose();
    }
  });

  it('stay on one thread for few batches', () => {
    const runtime = new Runtime(smallClassifier());
    try {
      const options: StatisticsOptions = { reference: 'logits', batchSize: 256, seed: 0 };
      assert.equal(parallelStatistics(runtime, randomDataset(300, 6, 3), needs, options), undefined);
    } finally {
      runtime.dispose();
    }
  });
});
