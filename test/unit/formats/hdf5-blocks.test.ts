/** HDF5 datasets larger than one read block: read as stored or transposed, and written back. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  closeCreated,
  createH5,
  editH5File,
  getDataset,
  loadH5Wasm,
  openH5,
  overwriteDataset,
  readFloatDataset,
  type H5File,
} from '../../../src/core/formats/hdf5';

// 3001 × 1000 values are 12 MB as float32 and 24 MB as float64, more than one 8 MB block, and
// 3001 rows are no multiple of a block's rows or of the 64-row chunks.
const rows = 3001;
const columns = 1000;
const stored32 = Float32Array.from({ length: rows * columns }, (_, i) => (i % 1009) / 7);
const stored64 = Float64Array.from({ length: rows * columns }, (_, i) => (i % 1013) / 3);

/** Counts the positions where `values` differ from `expected` read as `[rows, columns]`. */
function mismatches(values: Float32Array, expected: ArrayLike<number>, transposed: boolean) {
  let wrong = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const at = transposed ? column * rows + row : row * columns + column;
      if (values[at] !== Math.fround(expected[row * columns + column])) wrong++;
    }
  }
  return wrong;
}

describe('HDF5 reads and writes in blocks', () => {
  let folder = '';
  let file = '';
  let handle: H5File;

  before(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-hdf5-blocks-'));
    file = path.join(folder, 'blocks.h5');
    const writer = await createH5(file);
    const shape = [rows, columns];
    writer.create_dataset({
      name: 'chunked',
      data: stored32,
      shape,
      dtype: '<f',
      chunks: [64, 250],
      compression: 'gzip',
    });
    writer.create_dataset({ name: 'double', data: stored64, shape, dtype: '<d' });
    closeCreated(writer);
    handle = await openH5(file, 'r');
  });

  after(() => {
    handle.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  const read = async (name: string, transposed: boolean) => {
    const dataset = getDataset(await loadH5Wasm(), handle, name);
    assert.ok(dataset);
    return readFloatDataset(dataset, file, transposed);
  };

  it('reads a compressed chunked dataset', async () => {
    const plain = await read('chunked', false);
    assert.deepEqual(plain.shape, [rows, columns]);
    assert.equal(mismatches(plain.values, stored32, false), 0);
  });

  it('reads a dataset transposed', async () => {
    const chunked = await read('chunked', true);
    assert.deepEqual(chunked.shape, [rows, columns]);
    assert.equal(mismatches(chunked.values, stored32, true), 0);
    const double = await read('double', true);
    assert.equal(double.dtype, 'float64');
    assert.equal(mismatches(double.values, stored64, true), 0);
  });

  it('writes whole datasets back', async () => {
    const copy = path.join(folder, 'copy.h5');
    fs.copyFileSync(file, copy);
    const next = Float32Array.from({ length: rows * columns }, (_, i) => -(i % 997));
    await editH5File(copy, copy, async (h5wasm, writable) => {
      await overwriteDataset(h5wasm, writable, 'chunked', next, copy);
      await overwriteDataset(h5wasm, writable, 'double', next, copy);
    });
    const h5wasm = await loadH5Wasm();
    const reopened = await openH5(copy, 'r');
    try {
      for (const name of ['chunked', 'double']) {
        const { values } = await readFloatDataset(getDataset(h5wasm, reopened, name)!, copy);
        assert.equal(mismatches(values, next, false), 0, name);
      }
    } finally {
      reopened.close();
    }
  });
});
