import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataset } from '../../../src/core/data';
import { encodeNpy, encodeNpyStrings, encodeNpz, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();
const features = writeFixture(
  folder,
  'x.npy',
  encodeNpy([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'float32' }),
);

describe('separate label files', () => {
  it('reads npy labels', async () => {
    const labels = writeFixture(folder, 'y.npy', encodeNpy([1, 0, 1], [3], { dtype: 'uint8' }));
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(Array.from(data.labels!), [1, 0, 1]);
    assert.match(data.description, /labels from y\.npy \(2 classes\)/);
  });

  it('reads npy string labels', async () => {
    const labels = writeFixture(folder, 'names.npy', encodeNpyStrings(['zebra', 'ant', 'zebra']));
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(data.classNames, ['ant', 'zebra']);
    assert.deepEqual(Array.from(data.labels!), [1, 0, 1]);
  });

  it('reads a one-column CSV with header', async () => {
    const labels = writeFixture(
      folder,
      'labels.csv',
      'species\r\nsetosa\r\nvirginica\r\nsetosa\r\n',
    );
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(data.classNames, ['setosa', 'virginica']);
    assert.deepEqual(Array.from(data.labels!), [0, 1, 0]);
  });

  it('keeps spaces inside label names', async () => {
    const labels = writeFixture(folder, 'risk.csv', 'high risk\nlow risk\nhigh risk\n');
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(data.classNames, ['high risk', 'low risk']);
    assert.deepEqual(Array.from(data.labels!), [0, 1, 0]);
  });

  it('drops a header above numbers', async () => {
    const labels = writeFixture(folder, 'digit.csv', 'digit\n7\n2\n1\n');
    const data = await loadDataset({ data: features, labels });
    assert.equal(data.labelKind, 'class');
    assert.deepEqual(Array.from(data.labels!), [7, 2, 1]);
  });

  it('reads a one-column CSV of numbers', async () => {
    const labels = writeFixture(folder, 'targets.txt', '0.5\n1.25\n-3\n');
    const data = await loadDataset({ data: features, labels });
    assert.equal(data.labelKind, 'value');
    assert.deepEqual(Array.from(data.labels!), [0.5, 1.25, -3]);
  });

  it('reads a JSON array', async () => {
    const labels = writeFixture(folder, 'labels.json', '[2, 1, 0]');
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(Array.from(data.labels!), [2, 1, 0]);
  });

  it('reads an npz with one array', async () => {
    const labels = writeFixture(
      folder,
      'labels.npz',
      encodeNpz({ classes: encodeNpy([0, 1, 2], [3], { dtype: 'int32' }) }, true),
    );
    const data = await loadDataset({ data: features, labels });
    assert.deepEqual(Array.from(data.labels!), [0, 1, 2]);
  });

  it('overrides labels inside npz', async () => {
    const archive = encodeNpz(
      { x: encodeNpy([1, 2, 3], [3, 1]), y: encodeNpy([0, 0, 0], [3]) },
      false,
    );
    const data = await loadDataset({
      data: writeFixture(folder, 'both.npz', archive),
      labels: writeFixture(folder, 'other.json', '[1, 2, 1]'),
    });
    assert.deepEqual(Array.from(data.labels!), [1, 2, 1]);
  });

  it('rejects a two-column CSV', async () => {
    const labels = writeFixture(folder, 'two.csv', 'a,b\n1,2\n');
    await assert.rejects(
      loadDataset({ data: features, labels }),
      /two\.csv: line 1 has 2 columns, but a labels file must have one/,
    );
  });

  it('rejects labels given twice', async () => {
    const csv = writeFixture(folder, 'twice.csv', 'a,y\n1,0\n');
    const labels = writeFixture(folder, 'twice.json', '[0]');
    await assert.rejects(
      loadDataset({ data: csv, labelColumn: 'y', labels }),
      /twice\.csv: labels come from both --label-column and --labels/,
    );
  });

  it('rejects a count mismatch', async () => {
    const labels = writeFixture(folder, 'four.json', '[0, 1, 0, 1]');
    await assert.rejects(
      loadDataset({ data: features, labels }),
      /four\.json: has 4 labels but x\.npy has 3 samples; they must match/,
    );
  });

  it('rejects rank-3 labels', async () => {
    const labels = writeFixture(folder, 'cube.npy', encodeNpy(new Array(12).fill(0), [3, 2, 2]));
    await assert.rejects(
      loadDataset({ data: features, labels }),
      /cube\.npy: the labels array has shape \[3, 2, 2\]/,
    );
  });

  it('rejects NaN labels', async () => {
    const labels = writeFixture(folder, 'nanlabels.npy', encodeNpy([0, NaN, 1], [3]));
    await assert.rejects(
      loadDataset({ data: features, labels }),
      /x\.npy: sample 1 \(zero-based\): label NaN is not a finite number/,
    );
  });

  it('rejects text labels as values', async () => {
    const labels = writeFixture(folder, 'words.json', '["a", "b", "c"]');
    await assert.rejects(
      loadDataset({ data: features, labels, labelKind: 'value' }),
      /x\.npy: labels are text .*cannot be regression values/,
    );
  });

  it('rejects fractions as classes', async () => {
    const labels = writeFixture(folder, 'fractions.json', '[0.5, 1, 2]');
    await assert.rejects(
      loadDataset({ data: features, labels, labelKind: 'class' }),
      /x\.npy: class labels must be whole numbers/,
    );
  });
});
