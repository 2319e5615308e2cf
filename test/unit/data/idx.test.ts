import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataset } from '../../../src/core/data';
import { corpus, encodeIdx, gzip, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();
const images = corpus('mnist-test', 't10k-images-idx3-ubyte.gz');
const labels = corpus('mnist-test', 't10k-labels-idx1-ubyte.gz');

describe('MNIST IDX corpus', () => {
  it('loads 2000 rows with labels', async () => {
    const data = await loadDataset({ data: images, labels, rows: [0, 2000], scale: 1 / 255 });
    assert.equal(data.samples, 2000);
    assert.equal(data.featureCount, 784);
    assert.deepEqual(data.sampleShape, [28, 28]);
    assert.equal(data.features.length, 2000 * 784);
    assert.equal(data.labelKind, 'class');
    // The first three MNIST test digits are 7, 2 and 1.
    assert.deepEqual(Array.from(data.labels!.slice(0, 3)), [7, 2, 1]);
    assert.equal(data.labels!.length, 2000);
    const maximum = data.features.reduce((a, b) => Math.max(a, b), 0);
    assert.equal(maximum, 1);
    assert.match(
      data.description,
      /^2000 samples × 784 features \(28×28\) from t10k-images-idx3-ubyte\.gz, rows 0:2000 of 10000, labels from t10k-labels-idx1-ubyte\.gz \(10 classes\), scale 0\.003922$/,
    );
  });

  it('loads all 10000 images', async () => {
    const data = await loadDataset({ data: images, labels });
    assert.equal(data.samples, 10000);
    assert.equal(data.labels!.length, 10000);
  });

  it('slices labels with the rows', async () => {
    const all = await loadDataset({ data: images, labels });
    const part = await loadDataset({ data: images, labels, rows: [5000, 5010] });
    assert.deepEqual(Array.from(part.labels!), Array.from(all.labels!.slice(5000, 5010)));
    assert.deepEqual(
      Array.from(part.features.slice(0, 784)),
      Array.from(all.features.slice(5000 * 784, 5001 * 784)),
    );
  });

  it('rejects mismatched label count', async () => {
    const short = writeFixture(folder, 'short-labels.idx', encodeIdx([1, 2, 3], [3]));
    await assert.rejects(
      loadDataset({ data: images, labels: short }),
      /short-labels\.idx: has 3 labels but t10k-images-idx3-ubyte\.gz has 10000 samples/,
    );
  });

  it('rejects rows past the end', async () => {
    await assert.rejects(
      loadDataset({ data: images, rows: [0, 20000] }),
      /t10k-images-idx3-ubyte\.gz: rows 0:20000 is out of range: the file has 10000 samples, so use rows within 0:10000/,
    );
  });
});

describe('IDX types', () => {
  const values = [1, -2, 3, -4, 5, -6];
  for (const type of ['sbyte', 'short', 'int', 'float', 'double'] as const) {
    it(`reads ${type} values`, async () => {
      const file = writeFixture(folder, `${type}.idx`, encodeIdx(values, [3, 2], type));
      const data = await loadDataset({ data: file });
      assert.deepEqual(Array.from(data.features), values);
      assert.deepEqual(data.sampleShape, [2]);
    });
  }

  it('reads rank-4 data gzipped', async () => {
    const count = 2 * 3 * 2 * 2;
    const values4 = Array.from({ length: count }, (_, index) => index);
    const file = writeFixture(
      folder,
      'rank4-idx4-ubyte.gz',
      gzip(encodeIdx(values4, [2, 3, 2, 2])),
    );
    const data = await loadDataset({ data: file });
    assert.deepEqual(data.sampleShape, [3, 2, 2]);
    assert.equal(data.featureCount, 12);
    assert.deepEqual(Array.from(data.features), values4);
  });

  it('reads float labels as values', async () => {
    const features = writeFixture(folder, 'x-idx2-ubyte', encodeIdx([1, 2, 3, 4], [2, 2]));
    const targets = writeFixture(folder, 'y-idx1-float', encodeIdx([0.5, 2.5], [2], 'float'));
    const data = await loadDataset({ data: features, labels: targets });
    assert.equal(data.labelKind, 'value');
    assert.deepEqual(Array.from(data.labels!), [0.5, 2.5]);
  });

  it('rejects an absurd declared shape', async () => {
    const file = writeFixture(
      folder,
      'absurd.idx',
      encodeIdx([1, 2, 3, 4], [2, 2], 'ubyte', [100000, 100000, 100000]),
    );
    await assert.rejects(
      loadDataset({ data: file }),
      /absurd\.idx: declares 100000 × 100000 × 100000 unsigned byte values \(1000000000000000 bytes\) but has 4 bytes after the header; the file is truncated or corrupt/,
    );
  });

  it('rejects extra bytes', async () => {
    const file = writeFixture(
      folder,
      'extra.idx',
      encodeIdx([1, 2, 3, 4, 5], [2, 2], 'ubyte', [2, 2]),
    );
    await assert.rejects(loadDataset({ data: file }), /extra\.idx: .*the file has extra bytes/);
  });

  it('rejects a truncated gzip', async () => {
    const bytes = gzip(encodeIdx([1, 2, 3, 4], [2, 2]));
    const file = writeFixture(folder, 'cut-idx.gz', bytes.subarray(0, bytes.length - 12));
    await assert.rejects(loadDataset({ data: file }), /cut-idx\.gz: is not valid gzip/);
  });
});
