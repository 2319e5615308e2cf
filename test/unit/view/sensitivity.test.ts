import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SensitivityReport } from '../../../src/core/reports';
import { pickSparsities } from '../../../src/core/view/sensitivity';

function report(metric: 'accuracy' | 'mse', values: Record<string, number[]>): SensitivityReport {
  return {
    method: 'ecp',
    metric,
    sparsities: [0.5, 0.8, 0.9],
    layers: Object.entries(values).map(([name, list]) => ({ name, values: list.map((value) => ({ [metric]: value })) })),
    backend: 'cpu',
    seconds: 0,
  };
}

describe('sensitivity picks', () => {
  it('accuracy keeps within allowance', () => {
    const picked = pickSparsities(report('accuracy', { a: [0.98, 0.97, 0.9], b: [0.9, 0.8, 0.7] }), { accuracy: 0.98 }, 0.01, ['a', 'b']);
    assert.deepEqual(picked, [0.8, 0]);
  });

  it('losses keep within allowance', () => {
    const picked = pickSparsities(report('mse', { a: [1.0, 1.05, 2] }), { mse: 1 }, 0.1, ['a', 'missing']);
    assert.deepEqual(picked, [0.8, 0]);
  });

  it('needs the original metric', () => {
    assert.equal(pickSparsities(report('mse', { a: [1] }), null, 0.1, ['a']), null);
    assert.equal(pickSparsities(report('mse', { a: [1] }), { mse: 1 }, -1, ['a']), null);
  });
});
