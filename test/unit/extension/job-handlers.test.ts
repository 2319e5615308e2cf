import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { featureStatistics } from '../../../src/extension/job-handlers';

describe('featureStatistics', () => {
  it('returns per-feature mean and deviation', () => {
    const features = new Float32Array([1, 10, 3, 10, 5, 10]);
    const { mean, std } = featureStatistics(features, 3, 2);
    assert.deepEqual(mean, [3, 10]);
    assert.ok(Math.abs(std[0] - Math.sqrt(8 / 3)) < 1e-6, `std ${std[0]}`);
    assert.equal(std[1], 0);
  });
});
