import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadDataset } from '../../../src/core/data';
import { readNpy } from '../../../src/core/data/npy';
import {
  encodeNpy,
  gzip,
  encodeNpyStrings,
  hasNumpy,
  makeTempDir,
  npyPreamble,
  npyTypes,
  runPython,
  writeFixture,
} from './fixtures';

const folder = makeTempDir();

/** A 2 × 3 × 2 array in C order with values every integer dtype can hold. */
const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 127];
const shape = [2, 3, 2];

describe('npy dtypes and layouts', () => {
  for (const dtype of Object.keys(npyTypes) as (keyof typeof npyTypes)[]) {
    for (const bigEndian of [false, true]) {
      for (const fortran of [false, true]) {
        const layout = `${bigEndian ? 'big' : 'little'}-endian ${fortran ? 'Fortran' : 'C'}`;
        it(`reads ${dtype} ${layout}`, async () => {
          const name = `${dtype}-${bigEndian ? 'be' : 'le'}-${fortran ? 'f' : 'c'}.npy`;
          const file = writeFixture(
            folder,
            name,
            encodeNpy(values, shape, { dtype, bigEndian, fortran }),
          );
          const data = await loadDataset({ data: file });
          assert.equal(data.samples, 2);
          assert.equal(data.featureCount, 6);
          assert.deepEqual(data.sampleShape, [3, 2]);
          assert.deepEqual(Array.from(data.features), values);
        });
      }
    }
  }

  for (const version of [1, 2, 3] as const) {
    it(`reads header version ${version}`, async () => {
      const file = writeFixture(
        folder,
        `v${version}.npy`,
        encodeNpy([1.5, -2.25, 3, 4], [2, 2], { version, dtype: 'float32' }),
      );
      const data = await loadDataset({ data: file });
      assert.deepEqual(Array.from(data.features), [1.5, -2.25, 3, 4]);
    });
  }

  it('reads non-integer float64 values', async () => {
    const exact = [0.1, -1e-7, 12345.678, 3.4e38];
    const file = writeFixture(
      folder,
      'floats.npy',
      encodeNpy(exact, [4, 1], { dtype: 'float64', bigEndian: true }),
    );
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.features), exact.map(Math.fround));
  });

  it('reads a gzipped npy', async () => {
    const file = writeFixture(folder, 'packed.npy.gz', gzip(encodeNpy([1, 2, 3, 4], [2, 2])));
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.features), [1, 2, 3, 4]);
  });

  it('reads a rank-1 array as samples', async () => {
    const file = writeFixture(folder, 'vector.npy', encodeNpy([1, 2, 3], [3]));
    const data = await loadDataset({ data: file });
    assert.equal(data.samples, 3);
    assert.equal(data.featureCount, 1);
    assert.deepEqual(data.sampleShape, []);
  });

  it('reads float16 values', async () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x3555 ≈ 0.33325, 0x0001 = 2^-24 (smallest subnormal).
    const halves = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]).buffer);
    const header = npyPreamble(`{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }`, 1);
    const file = writeFixture(folder, 'half.npy', Buffer.concat([header, halves]));
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.features), [
      1,
      -2,
      Math.fround(0.333251953125),
      Math.fround(2 ** -24),
    ]);
  });
});

describe('npy from Buffers', () => {
  it('decodes a big-endian Buffer', () => {
    const encoded = encodeNpy([1, 2, 3, 4], [2, 2], { dtype: 'int32', bigEndian: true });
    const buffer = Buffer.concat([Buffer.alloc(3), encoded]).subarray(3);
    const array = readNpy('buffer.npy', buffer);
    assert.deepEqual(Array.from(array.data as Int32Array), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(buffer.subarray(0, 6)), Array.from(encoded.subarray(0, 6)));
  });

  it('leaves the input unchanged', () => {
    const encoded = encodeNpy([1, 2], [2], { dtype: 'float64', bigEndian: true });
    const buffer = Buffer.from(encoded);
    readNpy('buffer.npy', buffer);
    assert.ok(buffer.equals(Buffer.from(encoded)));
  });
});

describe('npy errors', () => {
  it('rejects a shape larger than the file', async () => {
    const bytes = encodeNpy([1, 2, 3, 4], [2, 2], { shapeText: '(100000, 100000)' });
    const file = writeFixture(folder, 'huge.npy', bytes);
    await assert.rejects(
      loadDataset({ data: file }),
      /huge\.npy: the array declares shape \(100000, 100000\) of <f8, 80000000000 bytes, but only 32 bytes follow the header/,
    );
  });

  it('rejects a truncated file', async () => {
    const bytes = encodeNpy([1, 2, 3, 4], [2, 2]);
    const file = writeFixture(folder, 'cut.npy', bytes.subarray(0, bytes.length - 3));
    await assert.rejects(loadDataset({ data: file }), /cut\.npy: .*truncated or corrupt/);
  });

  it('rejects object arrays', async () => {
    const file = writeFixture(folder, 'object.npy', encodeNpy([1, 2], [2], { descr: '|O' }));
    await assert.rejects(
      loadDataset({ data: file }),
      /object\.npy: the array has dtype "\|O"; use float32, float64/,
    );
  });

  it('rejects structured dtypes', async () => {
    const header = npyPreamble(
      `{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }`,
      1,
    );
    const file = writeFixture(folder, 'struct.npy', Buffer.concat([header, new Uint8Array(4)]));
    await assert.rejects(
      loadDataset({ data: file }),
      /struct\.npy: the array has a structured dtype/,
    );
  });

  it('rejects unknown versions', async () => {
    const bytes = encodeNpy([1], [1]);
    bytes[6] = 9;
    const file = writeFixture(folder, 'v9.npy', bytes);
    await assert.rejects(loadDataset({ data: file }), /v9\.npy: the array uses \.npy version 9\.0/);
  });

  it('rejects a scalar array', async () => {
    const file = writeFixture(folder, 'scalar.npy', encodeNpy([5], [], { shapeText: '()' }));
    await assert.rejects(
      loadDataset({ data: file }),
      /scalar\.npy: the array is a single number, not samples/,
    );
  });

  it('rejects an empty array', async () => {
    const file = writeFixture(folder, 'none.npy', encodeNpy([], [0, 4]));
    await assert.rejects(loadDataset({ data: file }), /none\.npy: contains no samples/);
  });

  it('rejects NaN naming the sample', async () => {
    const file = writeFixture(
      folder,
      'nan.npy',
      encodeNpy([1, 2, 3, NaN, 5, 6], [3, 2], { dtype: 'float32' }),
    );
    await assert.rejects(
      loadDataset({ data: file }),
      /nan\.npy: sample 1 \(zero-based\), feature 1: the feature value is NaN/,
    );
  });

  it('rejects text features', async () => {
    const file = writeFixture(folder, 'words.npy', encodeNpyStrings(['a', 'b']));
    await assert.rejects(
      loadDataset({ data: file }),
      /words\.npy: the array contains text, not numbers/,
    );
  });

  it('rejects CSV options', async () => {
    const file = writeFixture(folder, 'opts.npy', encodeNpy([1, 2], [2]));
    await assert.rejects(
      loadDataset({ data: file, labelColumn: 0 }),
      /opts\.npy: --label-column applies only to CSV files, but this is NPY data/,
    );
  });
});

describe(
  'npy files written by numpy',
  { skip: hasNumpy() ? false : 'python3 with numpy is not installed' },
  () => {
    const script = `
import json, numpy as np
base = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 1.5 - 7
cases = {}
for name in ['<f4', '>f4', '<f8', '>f8', '<i2', '>i4', '|u1', '<i8', '>u2']:
    for order in ['C', 'F']:
        array = np.asarray(np.abs(base) if name[1] == 'u' else base, order=order).astype(name, order=order)
        file = 'np_%s_%s.npy' % (name[1:], ('be' if name[0] == '>' else 'le') + order)
        np.save(file, array)
        cases[file] = array.astype(np.float64).ravel(order='C').tolist()
np.lib.format.write_array(open('np_v2.npy', 'wb'), base, version=(2, 0))
cases['np_v2.npy'] = base.ravel().tolist()
np.lib.format.write_array(open('np_v3.npy', 'wb'), base.astype('<f4'), version=(3, 0))
cases['np_v3.npy'] = base.astype('<f4').astype(np.float64).ravel().tolist()
print(json.dumps(cases))
`;
    const pythonFolder = fs.mkdtempSync(path.join(folder, 'numpy-'));
    const expected = hasNumpy()
      ? (JSON.parse(runPython(script, pythonFolder)) as Record<string, number[]>)
      : {};

    it('matches numpy for every file', async () => {
      assert.ok(Object.keys(expected).length >= 20);
      for (const [name, reference] of Object.entries(expected)) {
        const data = await loadDataset({ data: path.join(pythonFolder, name) });
        assert.deepEqual(data.sampleShape, [3, 4], name);
        assert.deepEqual(Array.from(data.features), reference.map(Math.fround), name);
      }
    });
  },
);
