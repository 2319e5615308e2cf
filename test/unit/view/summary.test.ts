import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countAtMost,
  globalSparsities,
  predictedChange,
  removedScoreSum,
  sortScores,
  summarizeSorted,
  thresholdFor,
} from '../../../src/core/view/summary';

function randomScores(count: number, seed: number): Float32Array {
  let state = seed;
  const scores = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    scores[i] = Math.exp((state / 2147483648) * 10 - 8);
  }
  return scores;
}

describe('score summaries', () => {
  it('exact for small layers', () => {
    const sorted = sortScores(new Float32Array([5, 1, 4, 2, 3]));
    const summary = summarizeSorted('d', sorted);
    assert.equal(thresholdFor(summary, 0), -Infinity);
    assert.equal(thresholdFor(summary, 2), 2);
    assert.equal(removedScoreSum(summary, 3), 6);
    assert.equal(countAtMost(summary, 3.5), 3);
    assert.equal(countAtMost(summary, 0.5), 0);
    assert.equal(countAtMost(summary, 9), 5);
  });

  it('close on large layers', () => {
    const scores = randomScores(200_000, 7);
    const sorted = sortScores(scores);
    const summary = summarizeSorted('d', sorted, 1024);
    const removed = 123_457;
    let exactSum = 0;
    for (let i = 0; i < removed; i++) exactSum += sorted[i];
    assert.ok(Math.abs(removedScoreSum(summary, removed) - exactSum) / exactSum < 1e-3);
    const threshold = thresholdFor(summary, removed);
    assert.ok(threshold >= sorted[removed - 200]);
    assert.ok(threshold <= sorted[removed + 200]);
    assert.ok(Math.abs(countAtMost(summary, sorted[removed - 1]) - removed) < 300);
  });

  it('global threshold spans layers', () => {
    const small = summarizeSorted('a', sortScores(new Float32Array([1, 2, 3, 4])));
    const large = summarizeSorted('b', sortScores(new Float32Array([10, 20, 30, 40])));
    const sparsities = globalSparsities([small, large], 0.5);
    assert.deepEqual(sparsities, [1, 0]);
    const capped = globalSparsities([small, large], 0.5, 0.75);
    assert.equal(capped[0], 0.75);
    assert.ok(capped[1] >= 0.25);
  });

  it('predicted change sums removed scores', () => {
    const a = summarizeSorted('a', sortScores(new Float32Array([1, 2, 3, 4])));
    const b = summarizeSorted('b', sortScores(new Float32Array([10, 20])));
    assert.equal(predictedChange([a, b], [0.5, 0.5]), 1 + 2 + 10);
    assert.equal(predictedChange([a, b], [0, 0]), 0);
  });
});
