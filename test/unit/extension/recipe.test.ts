import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRecipe, serializeRecipe } from '../../../src/extension/recipe';

const recipeFile = '/work/models/iris.h5.prunelens.json';

describe('recipe', () => {
  it('stores data paths relative to the recipe', () => {
    const text = serializeRecipe(
      {
        version: 1,
        method: 'ecp',
        sparsity: 0.9,
        data: { data: '/work/data/iris.csv', labels: '/work/models/y.npy', skipLines: 1 },
      },
      recipeFile,
    );
    const stored = JSON.parse(text);
    assert.equal(stored.data.data, '../data/iris.csv');
    assert.equal(stored.data.labels, 'y.npy');
    assert.equal(stored.data.skipLines, 1);
  });

  it('round-trips through parse', () => {
    const recipe = {
      version: 1 as const,
      method: 'wanda' as const,
      sparsity: 0.7,
      steps: 1,
      scope: 'layer' as const,
      layerSparsity: { dense: 0.5 },
      data: { data: '/work/data/mnist.gz', scale: 1 / 255, rows: [0, 2000] as [number, number] },
      evalRows: [2000, 3000] as [number, number],
    };
    assert.deepEqual(parseRecipe(serializeRecipe(recipe, recipeFile), recipeFile), recipe);
  });

  it('rejects invalid JSON naming the file', () => {
    assert.throws(
      () => parseRecipe('{', recipeFile),
      /iris\.h5\.prunelens\.json: is not valid JSON.*fix or delete/,
    );
  });

  it('rejects invalid values', () => {
    const cases: [unknown, RegExp][] = [
      [{ method: 'best' }, /"method" is "best", expected one of ecp/],
      [{ sparsity: 1.5 }, /"sparsity" is 1\.5/],
      [{ steps: 0 }, /"steps" is 0/],
      [{ scope: 'all' }, /"scope" is "all"/],
      [{ data: { labels: 'y.npy' } }, /"data" must be an object with a "data" file path/],
      [{ data: { data: 'x.csv', scale: 'big' } }, /"data\.scale" must be a number/],
      [{ data: { data: 'x.csv', rows: [5, 2] } }, /"data\.rows" must be \[start, end\]/],
      [{ evalRows: [0] }, /"evalRows" must be/],
      [[1, 2], /must contain a JSON object/],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(
        () => parseRecipe(JSON.stringify(value), recipeFile),
        pattern,
        JSON.stringify(value),
      );
    }
  });
});
