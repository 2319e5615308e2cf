/** The data size gate on plain, gzip and .npz files and on label files. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { loadDataset } from '../../../src/core/data';
import { dataFileSize } from '../../../src/core/data/size';
import { encodeNpy, encodeNpz, gzip, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();
const mebibyte = 2 ** 20;

/** Returns a CSV of `rows` lines `i,i+1`, with a header. */
function csvText(rows: number): string {
  return ['a,b', ...Array.from({ length: rows }, (_, i) => `${i},${i + 1}`)].join('\n') + '\n';
}

describe('data size gate', () => {
  const csv = writeFixture(folder, 'plain.csv', csvText(200));
  const size = fs.statSync(csv).size;

  it('accepts a file at the limit', async () => {
    const data = await loadDataset({ data: csv, maxBytes: size });
    assert.equal(data.samples, 200);
  });

  it('rejects a file above the limit', async () => {
    await assert.rejects(
      loadDataset({ data: csv, maxBytes: size - 1 }),
      new RegExp(
        `plain\\.csv: is ${size} bytes, above the ${size - 1} bytes data size limit; ` +
          'raise the limit to load it \\(--max-data-size 1 on the command line\\)\\.$',
      ),
    );
  });

  it('limits gzip after decompression', async () => {
    const text = csvText(2000);
    const file = writeFixture(folder, 'inflated.csv.gz', gzip(text));
    assert.ok(fs.statSync(file).size < text.length / 2);
    const data = await loadDataset({ data: file, maxBytes: text.length });
    assert.equal(data.samples, 2000);
    await assert.rejects(
      loadDataset({ data: file, maxBytes: text.length - 1 }),
      /inflated\.csv\.gz: decompresses to more than the \d+ bytes data size limit; .*--max-data-size 1 /,
    );
  });

  it('suggests the size a gzip trailer declares', async () => {
    const file = writeFixture(folder, 'zeros.npy.gz', gzip(new Uint8Array(3 * mebibyte + 1)));
    await assert.rejects(
      loadDataset({ data: file, maxBytes: mebibyte }),
      /zeros\.npy\.gz: decompresses to more than the 1 MB data size limit; .*\(--max-data-size 4 on the command line\)/,
    );
    assert.equal(await dataFileSize(file), 3 * mebibyte + 1);
  });

  it('limits the label file too', async () => {
    const features = writeFixture(folder, 'x.npy', encodeNpy([1, 2, 3], [3, 1]));
    const labels = writeFixture(folder, 'y.csv', 'y\n' + '1\n'.repeat(3) + ' '.repeat(500));
    await assert.rejects(
      loadDataset({ data: features, labels, maxBytes: 400 }),
      /y\.csv: is \d+ bytes, above the 400 bytes data size limit/,
    );
  });

  it('limits the arrays of an npz', async () => {
    const x = encodeNpy(
      Array.from({ length: 1000 }, (_, i) => i),
      [500, 2],
    );
    const y = encodeNpy(new Array<number>(500).fill(1), [500]);
    const file = writeFixture(folder, 'xy.npz', encodeNpz({ x, y }, true));
    assert.ok(fs.statSync(file).size < x.length);
    const total = x.length + y.length;
    const data = await loadDataset({ data: file, maxBytes: total });
    assert.equal(data.samples, 500);
    await assert.rejects(
      loadDataset({ data: file, maxBytes: total - 1 }),
      /xy\.npz: arrays "x" and "y" come to \d+ bytes after decompression, above the \d+ bytes data size limit/,
    );
  });

  it('rejects an invalid limit', async () => {
    await assert.rejects(
      loadDataset({ data: csv, maxBytes: 0 }),
      /plain\.csv: the data size limit must be a positive number of bytes, got 0/,
    );
  });
});
