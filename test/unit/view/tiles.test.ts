import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { absMax, logRange, paintMask, parseColour, rampColour } from '../../../src/core/view/colour';
import { buildTile, cellPrunedFraction, cellQuantiles, clampRegion, imageShape, inputImportance } from '../../../src/core/view/tiles';

function layer(units: number, inputs: number) {
  const kernel = new Float32Array(units * inputs).map((_, i) => (i % 7) - 3);
  const importance = new Float32Array(units * inputs).map((_, i) => i + 1);
  return { units, inputs, kernel, importance, compensation: null };
}

describe('heatmap tiles', () => {
  it('full resolution copies values', () => {
    const values = layer(3, 4);
    const tile = buildTile(values, { row0: 0, row1: 3, col0: 0, col1: 4, maxRows: 10, maxCols: 10 });
    assert.equal(tile.rows, 3);
    assert.equal(tile.cols, 4);
    assert.deepEqual([...tile.weight], [...values.kernel]);
    assert.deepEqual([...tile.importance], [...values.importance]);
    assert.equal(tile.quantiles[5 * cellQuantiles], 6);
  });

  it('downsampled cells aggregate blocks', () => {
    const values = layer(256, 784);
    const tile = buildTile(values, { row0: 0, row1: 256, col0: 0, col1: 784, maxRows: 128, maxCols: 196 });
    assert.equal(tile.rows, 128);
    assert.equal(tile.cols, 196);
    assert.equal(tile.rowStep, 2);
    assert.equal(tile.colStep, 4);
    const expectedMean = (1 + 2 + 3 + 4 + 785 + 786 + 787 + 788) / 8;
    assert.equal(tile.importance[0], expectedMean);
    assert.equal(tile.quantiles[0], 1);
    assert.equal(tile.quantiles[cellQuantiles - 1], 788);
    assert.equal(Math.abs(tile.weight[0]), 3);
  });

  it('regions are clamped', () => {
    assert.deepEqual(clampRegion({ units: 4, inputs: 5 }, { row0: -3, row1: 99, col0: 7, col1: 2 }), {
      row0: 0,
      row1: 4,
      col0: 4,
      col1: 5,
    });
  });

  it('cell pruned fraction interpolates', () => {
    const quantiles = new Float32Array(cellQuantiles).map((_, q) => q);
    assert.equal(cellPrunedFraction(quantiles, 0, -1), 0);
    assert.equal(cellPrunedFraction(quantiles, 0, 8), 1);
    assert.equal(cellPrunedFraction(quantiles, 0, 4), 0.5);
  });

  it('input importance sums units', () => {
    const sums = inputImportance({ units: 2, inputs: 3, importance: new Float32Array([1, 2, 3, 4, 5, 6]) });
    assert.deepEqual([...sums], [5, 7, 9]);
  });

  it('image shape detection', () => {
    assert.deepEqual(imageShape(784), [28, 28]);
    assert.deepEqual(imageShape(64, [8, 8]), [8, 8]);
    assert.deepEqual(imageShape(64, [64], [8, 8, 1]), [8, 8]);
    assert.equal(imageShape(13, [13]), null);
  });
});

describe('heatmap colours', () => {
  it('parses theme colours', () => {
    assert.deepEqual(parseColour('#ff8000'), [255, 128, 0]);
    assert.deepEqual(parseColour('#f80'), [255, 136, 0]);
    assert.deepEqual(parseColour('rgba(1, 2, 3, 0.5)'), [1, 2, 3]);
    assert.equal(parseColour('var(--x)'), null);
  });

  it('ramp ends at stops', () => {
    const stops = [[0, 0, 0], [100, 100, 100], [200, 0, 0]] as const;
    assert.deepEqual(rampColour(stops, 0), [0, 0, 0]);
    assert.deepEqual(rampColour(stops, 0.5), [100, 100, 100]);
    assert.deepEqual(rampColour(stops, 1), [200, 0, 0]);
  });

  it('log range skips zeros', () => {
    const range = logRange([0, 0.001, 0.01, 0.1, 1]);
    assert.equal(range.high, 0);
    assert.ok(range.low < -2.9);
    assert.equal(absMax([-4, 2]), 4);
  });

  it('mask paints pruned cells', () => {
    const quantiles = new Float32Array(2 * cellQuantiles);
    quantiles.fill(1, 0, cellQuantiles);
    quantiles.fill(5, cellQuantiles);
    const out = new Uint8ClampedArray(8);
    paintMask(quantiles, 2, 2, { kept: [0, 255, 0], pruned: [255, 0, 0] }, out);
    assert.deepEqual([...out], [255, 0, 0, 255, 0, 255, 0, 255]);
  });
});
