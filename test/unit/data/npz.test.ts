import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { loadDataset } from '../../../src/core/data';
import {
  encodeNpy,
  encodeNpyStrings,
  encodeNpz,
  hasNumpy,
  makeTempDir,
  runPython,
  writeFixture,
} from './fixtures';

const folder = makeTempDir();
const features = encodeNpy([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'float32' });
const labels = encodeNpy([2, 0, 1], [3], { dtype: 'int64' });

describe('npz archives', () => {
  for (const deflate of [false, true]) {
    it(`reads ${deflate ? 'deflated' : 'stored'} x and y`, async () => {
      const file = writeFixture(
        folder,
        `xy-${deflate}.npz`,
        encodeNpz({ x: features, y: labels }, deflate),
      );
      const data = await loadDataset({ data: file });
      assert.deepEqual(Array.from(data.features), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(data.labels!), [2, 0, 1]);
      assert.equal(data.labelKind, 'class');
      assert.match(
        data.description,
        /^3 samples × 2 features from xy-\w+\.npz, labels "y" \(3 classes\)$/,
      );
    });
  }

  it('finds data and target keys', async () => {
    const file = writeFixture(
      folder,
      'named.npz',
      encodeNpz({ target: labels, data: features }, true),
    );
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.labels!), [2, 0, 1]);
  });

  it('honours explicit keys', async () => {
    const inputs = encodeNpy([9, 8, 7], [3, 1]);
    const targets = encodeNpy([0.5, 1.5, 2], [3, 1]);
    const file = writeFixture(
      folder,
      'keys.npz',
      encodeNpz({ x: features, inputs, y: labels, yy: targets }, true),
    );
    const data = await loadDataset({ data: file, featuresKey: 'inputs', labelsKey: 'yy' });
    assert.deepEqual(Array.from(data.features), [9, 8, 7]);
    assert.deepEqual(Array.from(data.labels!), [0.5, 1.5, 2]);
    assert.equal(data.labelKind, 'value');
    assert.equal(data.labelWidth, 1);
  });

  it('uses the first array otherwise', async () => {
    const file = writeFixture(
      folder,
      'arr.npz',
      encodeNpz({ arr_0: features, arr_1: labels }, false),
    );
    const data = await loadDataset({ data: file });
    assert.equal(data.samples, 3);
    assert.equal(data.labels, null);
  });

  it('turns one-hot labels into classes', async () => {
    const oneHot = encodeNpy([0, 1, 0, 1, 0, 0, 0, 0, 1], [3, 3], { dtype: 'float32' });
    const file = writeFixture(folder, 'onehot.npz', encodeNpz({ x: features, y: oneHot }, true));
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.labels!), [1, 0, 2]);
    assert.equal(data.labelWidth, 1);
    assert.match(data.description, /one-hot labels as class indices/);
  });

  it('keeps one-hot labels as values', async () => {
    const oneHot = encodeNpy([0, 1, 1, 0, 0, 1], [3, 2], { dtype: 'float32' });
    const file = writeFixture(
      folder,
      'onehot-value.npz',
      encodeNpz({ x: features, y: oneHot }, true),
    );
    const data = await loadDataset({ data: file, labelKind: 'value' });
    assert.equal(data.labelWidth, 2);
    assert.deepEqual(Array.from(data.labels!), [0, 1, 1, 0, 0, 1]);
  });

  it('maps string labels', async () => {
    const names = encodeNpyStrings(['dog', 'cat', 'dog']);
    const file = writeFixture(folder, 'strings.npz', encodeNpz({ x: features, y: names }, true));
    const data = await loadDataset({ data: file });
    assert.deepEqual(data.classNames, ['cat', 'dog']);
    assert.deepEqual(Array.from(data.labels!), [1, 0, 1]);
  });

  it('rejects a missing key', async () => {
    const file = writeFixture(folder, 'nokey.npz', encodeNpz({ x: features }, true));
    await assert.rejects(
      loadDataset({ data: file, labelsKey: 'classes' }),
      /nokey\.npz: has no array "classes"; its arrays are "x"/,
    );
  });

  it('rejects mismatched label count', async () => {
    const file = writeFixture(
      folder,
      'count.npz',
      encodeNpz({ x: features, y: encodeNpy([1, 2], [2]) }, true),
    );
    await assert.rejects(loadDataset({ data: file }), /count\.npz: has 2 labels for 3 samples/);
  });

  it('rejects a corrupt archive', async () => {
    const bytes = encodeNpz({ x: features }, true);
    const file = writeFixture(folder, 'corrupt.npz', bytes.subarray(0, 40));
    await assert.rejects(
      loadDataset({ data: file }),
      /corrupt\.npz: is not a readable \.npz \(zip\) archive/,
    );
  });

  it('rejects an inflated size claim', async () => {
    const bytes = zipSync({ 'x.npy': features }, { level: 0 });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Patch the uncompressed size in the central directory (offset 24 of its record).
    let central = bytes.length - 4;
    while (central >= 0 && view.getUint32(central, true) !== 0x02014b50) central--;
    assert.ok(central >= 0, 'central directory record not found');
    view.setUint32(central + 24, 1 << 30, true);
    const file = writeFixture(folder, 'bomb.npz', bytes);
    await assert.rejects(
      loadDataset({ data: file }),
      /bomb\.npz: entry "x\.npy" declares 1073741824 bytes but has \d+ compressed bytes/,
    );
  });

  it('rejects an empty archive', async () => {
    const file = writeFixture(folder, 'empty.npz', zipSync({}));
    await assert.rejects(loadDataset({ data: file }), /empty\.npz: contains no features array/);
  });
});

describe(
  'npz files written by numpy',
  { skip: hasNumpy() ? false : 'python3 with numpy is not installed' },
  () => {
    const pythonFolder = fs.mkdtempSync(path.join(folder, 'numpy-'));
    if (hasNumpy()) {
      runPython(
        `
import numpy as np
x = (np.arange(12, dtype=np.float32).reshape(4, 3) / 4).astype(np.float32)
np.savez('plain.npz', X=x, labels=np.array([3, 1, 2, 0], dtype=np.uint8))
np.savez_compressed('compressed.npz', features=np.asfortranarray(x.astype('>f8')), target=np.array(['b', 'a', 'b', 'c']))
`,
        pythonFolder,
      );
    }
    const expected = Array.from({ length: 12 }, (_, index) => index / 4);

    it('reads numpy.savez', async () => {
      const data = await loadDataset({ data: path.join(pythonFolder, 'plain.npz') });
      assert.deepEqual(Array.from(data.features), expected);
      assert.deepEqual(Array.from(data.labels!), [3, 1, 2, 0]);
    });

    it('reads numpy.savez_compressed', async () => {
      const data = await loadDataset({ data: path.join(pythonFolder, 'compressed.npz') });
      assert.deepEqual(Array.from(data.features), expected);
      assert.deepEqual(data.classNames, ['a', 'b', 'c']);
      assert.deepEqual(Array.from(data.labels!), [1, 0, 1, 2]);
    });
  },
);
