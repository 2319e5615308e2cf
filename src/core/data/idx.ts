/**
 * Reader for IDX files, the MNIST distribution format: two zero bytes, a type code, the rank,
 * one big-endian uint32 per dimension, then big-endian values in row-major order.
 * Format: http://yann.lecun.com/exdb/mnist/ (section "The IDX file format").
 */
import { DataError } from '../errors';
import { swapBytes } from './npy';
import { shapeSize, type NdArray, type NumericArray } from './raw';

interface IdxType {
  name: string;
  size: number;
  read: (bytes: Uint8Array, count: number) => NumericArray;
}

const idxTypes: Record<number, IdxType> = {
  0x08: { name: 'unsigned byte', size: 1, read: (bytes) => bytes },
  0x09: {
    name: 'signed byte',
    size: 1,
    read: (bytes) => new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length),
  },
  0x0b: {
    name: 'short',
    size: 2,
    read: (bytes, count) => readBigEndian(bytes, count, 2, Int16Array),
  },
  0x0c: {
    name: 'int',
    size: 4,
    read: (bytes, count) => readBigEndian(bytes, count, 4, Int32Array),
  },
  0x0d: {
    name: 'float',
    size: 4,
    read: (bytes, count) => readBigEndian(bytes, count, 4, Float32Array),
  },
  0x0e: {
    name: 'double',
    size: 8,
    read: (bytes, count) => readBigEndian(bytes, count, 8, Float64Array),
  },
};

/** Decodes an IDX file after checking that its declared shape matches its length. */
export function readIdx(file: string, bytes: Uint8Array): NdArray {
  const type = idxTypes[bytes[2]];
  const rank = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type || rank === 0) {
    throw new DataError(
      file,
      'is not an IDX file (invalid magic number); expected MNIST-style IDX data.',
    );
  }
  const dataOffset = 4 + 4 * rank;
  if (bytes.length < dataOffset) throw new DataError(file, 'has a truncated IDX header.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, axis) => view.getUint32(4 + 4 * axis, false));
  const count = shapeSize(shape);
  const declared = count * type.size;
  const available = bytes.length - dataOffset;
  if (declared !== available) {
    const problem =
      declared > available ? 'the file is truncated or corrupt' : 'the file has extra bytes';
    throw new DataError(
      file,
      `declares ${shape.join(' × ')} ${type.name} values (${declared} bytes) but has ${available} ` +
        `bytes after the header; ${problem}.`,
    );
  }
  return { shape, data: type.read(bytes.subarray(dataOffset), count) };
}

function readBigEndian<T extends NumericArray>(
  bytes: Uint8Array,
  count: number,
  size: number,
  Type: new (buffer: ArrayBuffer) => T,
): T {
  // Buffer.prototype.slice returns a view, so copy through the constructor for callers passing a Buffer.
  const copy = new Uint8Array(bytes);
  swapBytes(copy, size);
  const values = new Type(copy.buffer);
  if (values.length !== count)
    throw new Error(`IDX decoder read ${values.length} values, expected ${count}.`);
  return values;
}
