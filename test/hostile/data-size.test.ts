/**
 * The data size gate against bombs: a small gzip or .npz file that inflates to gigabytes is
 * rejected at the limit with bounded peak memory, and the CLI's --max-data-size sets the limit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { buildProgram } from '../../src/cli/main';
import { corpusPath } from '../helpers/corpus';
import { describeCliFailure, runCliTraced, temporaryFolder } from './helpers';

const mebibyte = 2 ** 20;
const folder = temporaryFolder('data-size');
after(() => fs.rmSync(folder, { recursive: true, force: true }));

/** Writes a gzip file of `members` members of 16 MiB of zeros each, about 16 KB per member. */
function gzipBomb(file: string, members: number): string {
  const member = zlib.gzipSync(Buffer.alloc(16 * mebibyte), { level: 9 });
  fs.writeFileSync(file, Buffer.concat(new Array<Buffer>(members).fill(member)));
  return file;
}

/** Builds a little-endian record of `length` bytes with `[offset, width, value]` fields set. */
function record(length: number, fields: [number, 2 | 4, number][]): Buffer {
  const bytes = Buffer.alloc(length);
  for (const [offset, width, value] of fields) {
    if (width === 2) bytes.writeUInt16LE(value, offset);
    else bytes.writeUInt32LE(value, offset);
  }
  return bytes;
}

/**
 * Writes a zip with one deflated entry `x.npy` that declares `declared` bytes, by hand because
 * zip libraries declare the true size. Layout: PKWARE APPNOTE.TXT, sections 4.3.7, 4.3.12, 4.3.16.
 */
function npzBomb(file: string, compressed: Buffer, declared: number): string {
  const name = Buffer.from('x.npy');
  const sizes: [number, 2 | 4, number][] = [
    [0, 4, compressed.length],
    [4, 4, declared],
    [8, 2, name.length],
  ];
  const shift = (offset: number) => sizes.map(([at, width, value]): [number, 2 | 4, number] => [at + offset, width, value]);
  const local = record(30, [[0, 4, 0x04034b50], [4, 2, 20], [8, 2, 8], ...shift(18)]);
  const central = record(46, [[0, 4, 0x02014b50], [4, 2, 20], [6, 2, 20], [10, 2, 8], ...shift(20)]);
  const centralOffset = local.length + name.length + compressed.length;
  const end = record(22, [[0, 4, 0x06054b50], [8, 2, 1], [10, 2, 1], [12, 4, central.length + name.length], [16, 4, centralOffset]]);
  fs.writeFileSync(file, Buffer.concat([local, name, compressed, central, name, end]));
  return file;
}

let zeros: Buffer | undefined;

/** 256 MiB of zeros, deflated (about 250 KB); the bombs never get as far as reading a header. */
function deflatedZeros(): Buffer {
  zeros ??= zlib.deflateRawSync(Buffer.alloc(256 * mebibyte), { level: 1 });
  return zeros;
}

const child = `
const { loadDataset } = require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'src', 'core', 'data'))});
const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]);
(async () => {
  const base = hwm();
  let message = 'loaded';
  try {
    await loadDataset({ data: process.argv[1], maxBytes: Number(process.argv[2]) });
  } catch (error) {
    message = error.message;
  }
  process.stdout.write(JSON.stringify({ grewMB: (hwm() - base) / 1024, message }));
})();
`;

/** Loads `file` with limit `maxBytes` in a child process; returns its peak memory growth and error. */
function loadInChild(file: string, maxBytes: number): { grewMB: number; message: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', child, file, String(maxBytes)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as { grewMB: number; message: string };
}

describe('data bombs', () => {
  it('stops a gzip bomb at the limit', () => {
    // 128 members of 16 MiB: 2 GiB of zeros in about 2 MB.
    const file = gzipBomb(path.join(folder, 'bomb.csv.gz'), 128);
    assert.ok(fs.statSync(file).size < 4 * mebibyte);
    const { grewMB, message } = loadInChild(file, 32 * mebibyte);
    assert.match(message, /bomb\.csv\.gz: decompresses to more than the 32 MB data size limit; raise the limit/);
    process.stdout.write(`# gzip bomb: peak memory grew by ${grewMB.toFixed(0)} MB\n`);
    assert.ok(grewMB < 160, `peak memory grew by ${grewMB.toFixed(0)} MB`);
  });

  it('rejects an npz bomb before inflating', () => {
    const compressed = deflatedZeros();
    const file = npzBomb(path.join(folder, 'bomb.npz'), compressed, 256 * mebibyte);
    const { grewMB, message } = loadInChild(file, 16 * mebibyte);
    assert.match(message, /bomb\.npz: array "x" comes to 256 MB after decompression, above the 16 MB data size limit; .*--max-data-size 256/);
    assert.ok(grewMB < 100, `peak memory grew by ${grewMB.toFixed(0)} MB`);
  });

  it('stops an npz entry larger than declared', () => {
    const compressed = deflatedZeros();
    const file = npzBomb(path.join(folder, 'liar.npz'), compressed, 4096);
    const { grewMB, message } = loadInChild(file, 16 * mebibyte);
    assert.match(message, /liar\.npz: entry "x\.npy" does not inflate to the 4096 bytes it declares; the archive is corrupt/);
    assert.ok(grewMB < 100, `peak memory grew by ${grewMB.toFixed(0)} MB`);
  });
});

describe('--max-data-size', () => {
  const model = corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
  const images = corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz');
  const labels = corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz');
  const evaluate = (...extra: string[]) =>
    runCliTraced(['evaluate', model, '--data', images, '--labels', labels, '--scale', '1/255', '--rows', '0:200', '--json', '--quiet', ...extra]);

  it('rejects data above the limit', async () => {
    // The 10,000 images inflate to 7.5 MiB.
    const run = await evaluate('--max-data-size', '7');
    assert.equal(describeCliFailure(run), null, run.stderr);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /t10k-images-idx3-ubyte\.gz: decompresses to more than the 7 MB data size limit; .*--max-data-size 8/);
  });

  it('loads data within the limit', async () => {
    const run = await evaluate('--max-data-size', '8');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { samples: number }).samples, 200);
  });

  it('rejects an invalid value', async () => {
    const run = await evaluate('--max-data-size', 'big');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--max-data-size: expected a positive number of megabytes, got 'big'/);
  });

  it('is on every data command', () => {
    const program = buildProgram();
    const withData = program.commands.filter((command) => command.options.some((option) => option.long === '--data'));
    assert.deepEqual(withData.map((command) => command.name()).sort(), ['compare', 'evaluate', 'prune', 'score', 'sensitivity']);
    for (const command of withData) {
      assert.ok(command.helpInformation().includes('--max-data-size <MB>'), command.name());
    }
  });
});
