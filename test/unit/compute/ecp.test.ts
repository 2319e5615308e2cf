import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/core/compute/backend';
import { evaluateNetwork } from '../../../src/core/compute/evaluate';
import { pruneNetwork, scoreNetwork } from '../../../src/core/compute/prune';
import type { ScoreSettings } from '../../../src/core/reports';
import { randomDataset, referenceEcp, smallClassifier } from '../../helpers/synthetic';

const settings: ScoreSettings = { method: 'ecp', reference: 'logits', seed: 0, batchSize: 37 };

/** Asserts relative agreement where the reference is not negligible against its maximum. */
function assertClose(actual: Float32Array, expected: Float64Array, tolerance: number, label: string): void {
  const largest = expected.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
  for (let k = 0; k < expected.length; k++) {
    if (Math.abs(expected[k]) <= 1e-6 * largest) continue;
    const error = Math.abs(actual[k] - expected[k]) / Math.abs(expected[k]);
    assert.ok(error <= tolerance, `${label}[${k}]: ${actual[k]} vs ${expected[k]} (relative error ${error})`);
  }
}

describe('ecp scores', () => {
  before(async () => {
    await initBackend();
  });

  it('match a float64 reference', async () => {
    const network = smallClassifier();
    const dataset = randomDataset(200, 6, 3);
    const { layers } = await scoreNetwork(network, dataset, settings);
    const expected = referenceEcp(network, dataset);
    assert.equal(layers.length, 3);
    layers.forEach((layer, l) => {
      assertClose(layer.importance, expected[l].importance, 1e-3, `${layer.name}.importance`);
      assertClose(layer.compensation as Float32Array, expected[l].compensation, 1e-3, `${layer.name}.compensation`);
    });
  });

  it('leak no tensors', async () => {
    const network = smallClassifier();
    const dataset = randomDataset(100, 6, 3);
    await scoreNetwork(network, dataset, settings);
    const before = tf.memory().numTensors;
    await scoreNetwork(network, dataset, settings);
    await scoreNetwork(network, dataset, { ...settings, method: 'wanda' });
    await scoreNetwork(network, dataset, { ...settings, method: 'taylor' });
    assert.equal(tf.memory().numTensors, before);
  });

  it('pruning and evaluation leak nothing', async () => {
    const network = smallClassifier();
    const dataset = randomDataset(100, 6, 3);
    const prune = { ...settings, sparsity: 0.6, steps: 3, scope: 'global' as const, maxLayerSparsity: 0.99, missingBias: 'add' as const };
    await pruneNetwork(network, dataset, prune, { canAddBias: () => true });
    const before = tf.memory().numTensors;
    const outcome = await pruneNetwork(network, dataset, prune, { canAddBias: () => true });
    await pruneNetwork(network, dataset, { ...prune, method: 'obd', scope: 'layer' }, { canAddBias: () => true });
    await evaluateNetwork(outcome.network, network, dataset);
    assert.equal(tf.memory().numTensors, before);
  });
});
