import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kthSmallest, layerCaps, selectGlobal, selectPerLayer, type SelectionLayer } from '../../../src/core/compute/selection';

/** A deterministic generator of values in [0, 1). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Scores with many ties: values on a coarse grid. */
function scores(count: number, seed: number): Float32Array {
  const next = generator(seed);
  return Float32Array.from({ length: count }, () => Math.floor(next() * 50) / 50);
}

/** The selection by sorting every (score, layer, index) triple, which the fast path must equal. */
function sortedChoice(layers: SelectionLayer[], target: number): Set<string> {
  const present: { score: number; layer: number; index: number }[] = [];
  layers.forEach((layer, l) => layer.importance.forEach((score, index) => {
    if (!layer.removed[index]) present.push({ score: Number.isNaN(score) ? Infinity : score, layer: l, index });
  }));
  present.sort((a, b) => a.score - b.score || a.layer - b.layer || a.index - b.index);
  const already = layers.reduce((sum, layer) => sum + layer.removed.reduce((a, b) => a + b, 0), 0);
  return new Set(present.slice(0, target - already).map(({ layer, index }) => `${layer}:${index}`));
}

describe('weight selection', () => {
  it('finds the k-th smallest like a sort', async () => {
    for (const seed of [1, 2, 3]) {
      const values = scores(10_001, seed);
      const sorted = values.slice().sort();
      for (const k of [1, 2, 5000, 10_000, 10_001]) assert.equal(await kthSmallest(values.slice(), k), sorted[k - 1]);
    }
  });

  it('breaks global ties by position', async () => {
    const layers: SelectionLayer[] = [0, 1, 2].map((l) => {
      const importance = scores(3000 + 500 * l, 10 + l);
      const removed = new Uint8Array(importance.length);
      for (let k = 0; k < removed.length; k += 7) removed[k] = 1;
      importance[5] = NaN;
      return { importance, removed };
    });
    const target = 4000;
    const expected = sortedChoice(layers, target);
    const caps = layerCaps(layers, 1);
    const added = await selectGlobal(layers, target, caps);
    const chosen = new Set(added.flatMap((indices, l) => Array.from(indices, (index) => `${l}:${index}`)));
    assert.equal(chosen.size, expected.size);
    assert.deepEqual([...chosen].filter((key) => !expected.has(key)), []);
    assert.equal(layers.reduce((sum, layer) => sum + layer.removed.reduce((a, b) => a + b, 0), 0), target);
  });

  it('keeps each layer under its cap', async () => {
    const layers: SelectionLayer[] = [scores(1000, 4), scores(1000, 5)].map((importance, l) => ({
      importance: l === 0 ? importance.map((value) => value / 100) : importance,
      removed: new Uint8Array(importance.length),
    }));
    await selectGlobal(layers, 1200, layerCaps(layers, 0.9));
    assert.equal(layers[0].removed.reduce((a, b) => a + b, 0), 900);
    assert.equal(layers[1].removed.reduce((a, b) => a + b, 0), 300);
  });

  it('selects per layer by position', async () => {
    const importance = scores(2000, 6);
    const layer: SelectionLayer = { importance, removed: new Uint8Array(importance.length) };
    const expected = sortedChoice([{ importance, removed: new Uint8Array(importance.length) }], 700);
    const [added] = await selectPerLayer([layer], [700]);
    assert.deepEqual(new Set(Array.from(added, (index) => `0:${index}`)), expected);
  });
});
