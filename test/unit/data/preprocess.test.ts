import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataset, parseNumberList, parseRows } from '../../../src/core/data';
import { UsageError } from '../../../src/core/errors';
import { corpus, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();
const grid = writeFixture(folder, 'grid.csv', 'a,b,c\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n');

describe('preprocessing', () => {
  it('applies scalar scale and shift', async () => {
    const data = await loadDataset({ data: grid, scale: 2, shift: -1 });
    assert.deepEqual(Array.from(data.features.slice(0, 3)), [1, 3, 5]);
    assert.match(data.description, /scale 2, shift -1$/);
  });

  it('applies per-feature mean and std', async () => {
    const data = await loadDataset({ data: grid, mean: [1, 2, 3], std: [3, 3, 0.5] });
    assert.deepEqual(Array.from(data.features.slice(3, 6)), [1, 1, 6]);
    assert.match(data.description, /standardized$/);
  });

  it('applies the full formula', async () => {
    const data = await loadDataset({ data: grid, scale: 0.5, shift: 1, mean: 2, std: 4 });
    // (4 * 0.5 + 1 - 2) / 4 = 0.25
    assert.equal(data.features[3], 0.25);
  });

  it('standardizes iris as described', async () => {
    const data = await loadDataset({
      data: corpus('sklearn-iris', 'iris.csv'),
      skipLines: 1,
      labelColumn: 4,
      mean: [5.843, 3.057, 3.758, 1.199],
      std: [0.825, 0.434, 1.759, 0.759],
    });
    assert.equal(
      data.description,
      '150 samples × 4 features from iris.csv, label column 4 (3 classes), standardized',
    );
    assert.ok(Math.abs(data.features[0] - (5.1 - 5.843) / 0.825) < 1e-6);
  });

  it('selects half-open rows', async () => {
    const data = await loadDataset({ data: grid, rows: [1, 3] });
    assert.equal(data.samples, 2);
    assert.deepEqual(Array.from(data.features), [4, 5, 6, 7, 8, 9]);
    assert.match(data.description, /rows 1:3 of 4/);
  });

  it('reads to the end for open ranges', async () => {
    const data = await loadDataset({ data: grid, rows: parseRows('2:') });
    assert.deepEqual(Array.from(data.features), [7, 8, 9, 10, 11, 12]);
  });

  it('rejects wrong list length', async () => {
    await assert.rejects(
      loadDataset({ data: grid, mean: [1, 2] }),
      /grid\.csv: mean has 2 values but the data has 3 features; give one number or 3/,
    );
  });

  it('rejects zero std', async () => {
    await assert.rejects(
      loadDataset({ data: grid, std: [1, 0, 1] }),
      /grid\.csv: std for feature 1 is 0; it must be a finite number other than 0/,
    );
  });

  it('rejects rows out of range', async () => {
    await assert.rejects(
      loadDataset({ data: grid, rows: [2, 9] }),
      /grid\.csv: rows 2:9 is out of range: the file has 4 samples, so use rows within 0:4/,
    );
  });

  it('rejects an open range past the end', async () => {
    await assert.rejects(
      loadDataset({ data: grid, rows: parseRows('7:') }),
      /grid\.csv: rows 7: is out of range: the file has 4 samples/,
    );
  });

  it('rejects an empty row range', async () => {
    await assert.rejects(
      loadDataset({ data: grid, rows: [3, 3] }),
      /grid\.csv: rows 3:3 is not a range/,
    );
  });

  it('rejects float32 overflow', async () => {
    await assert.rejects(
      loadDataset({ data: grid, scale: 1e38 }),
      /grid\.csv: line 3, column 0 \("a"\): 4 overflows float32 after preprocessing/,
    );
  });

  it('ignores NaN outside selected rows', async () => {
    const file = writeFixture(folder, 'late-nan.csv', 'a\n1\n2\nnan\n');
    const data = await loadDataset({ data: file, rows: [0, 2] });
    assert.deepEqual(Array.from(data.features), [1, 2]);
  });
});

describe('option parsers', () => {
  it('parses a single number', () => {
    assert.equal(parseNumberList('0.5'), 0.5);
    assert.equal(parseNumberList(' -1e-3 '), -0.001);
  });

  it('parses a list', () => {
    assert.deepEqual(parseNumberList('1, 2.5,3'), [1, 2.5, 3]);
  });

  it('parses a fraction', () => {
    assert.equal(parseNumberList('1/255'), 1 / 255);
  });

  for (const bad of ['', 'abc', '1,,2', '1,', 'NaN', 'Infinity', '0x10', '1/0']) {
    it(`rejects number list ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseNumberList(bad),
        (error: Error) => error instanceof UsageError && /invalid number/.test(error.message),
      );
    });
  }

  it('parses row ranges', () => {
    assert.deepEqual(parseRows('0:2000'), [0, 2000]);
    assert.deepEqual(parseRows(':10'), [0, 10]);
    assert.deepEqual(parseRows('5:'), [5, Infinity]);
  });

  for (const bad of ['', ':', '10', '5:5', '9:3', '-1:4', '1.5:3', 'a:b', '0:2000:3']) {
    it(`rejects row range ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseRows(bad),
        (error: Error) => error instanceof UsageError && /invalid row range/.test(error.message),
      );
    });
  }
});
