import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Network } from '../../../src/core/model';
import { chartCsv, chartSvg, csvField } from '../../../src/core/view/export';
import { applySparsities, smallestIndices } from '../../../src/core/view/mask';

function network(): Network {
  return {
    inputShape: [3],
    layers: [
      {
        kind: 'dense',
        name: 'd',
        units: 2,
        inputs: 3,
        kernel: new Float32Array([1, 2, 3, 4, 5, 6]),
        bias: new Float32Array([0, 0]),
        activation: { name: 'relu' },
      },
    ],
  };
}

describe('preview pruning', () => {
  it('ties break by position', () => {
    const scores = new Float32Array([3, 1, 1, 1, 2]);
    const sorted = scores.slice().sort();
    assert.deepEqual([...smallestIndices(scores, sorted, 2)], [1, 2]);
    assert.deepEqual([...smallestIndices(scores, sorted, 4)], [1, 2, 3, 4]);
  });

  it('zeros weights and shifts biases', () => {
    const original = network();
    const importance = new Float32Array([6, 1, 5, 2, 4, 3]);
    const compensation = new Float32Array([0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
    const sorted = new Map([['d', importance.slice().sort()]]);
    const pruned = applySparsities(original, [{ name: 'd', importance, compensation }], sorted, { d: 0.5 });
    const dense = pruned.layers[0];
    assert.equal(dense.kind, 'dense');
    if (dense.kind !== 'dense') return;
    assert.deepEqual([...dense.kernel], [1, 0, 3, 0, 5, 0]);
    assert.deepEqual([...(dense.bias ?? [])], [1, 2.5]);
    const kept = original.layers[0];
    assert.equal(kept.kind, 'dense');
    if (kept.kind === 'dense') assert.equal(kept.kernel[1], 2);
  });
});

describe('chart exports', () => {
  const chart = {
    title: 'Accuracy, "ECP"',
    xLabel: 'sparsity',
    yLabel: 'accuracy',
    series: [{ name: 'ecp, 10 steps', x: [0, 0.5], y: [0.98, null], colour: '#0000ff' }],
  };

  it('csv quotes fields', () => {
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "x"'), '"say ""x"""');
    assert.equal(chartCsv(chart), 'series,sparsity,accuracy\r\n"ecp, 10 steps",0,0.98\r\n"ecp, 10 steps",0.5,\r\n');
  });

  it('svg escapes text', () => {
    const svg = chartSvg(chart);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /Accuracy, &#34;ECP&#34;/);
    assert.match(svg, /<polyline [^>]*points="64\.0,[\d.]+"/);
  });
});
