/** Test fixtures for the data loaders: corpus paths, a temp folder and small file encoders. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';

/** The shared corpus of real data files, beside the repository. */
export const corpusData = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'shared',
  'corpus',
  'data',
);

/** Returns the path of a corpus data file, e.g. `corpus('sklearn-iris', 'iris.csv')`. */
export function corpus(...parts: string[]): string {
  return path.join(corpusData, ...parts);
}

/** Creates a fresh temporary folder that is removed when the process exits. */
export function makeTempDir(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-data-'));
  process.on('exit', () => fs.rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** Writes `content` to `name` inside `folder` and returns the path. */
export function writeFixture(folder: string, name: string, content: string | Uint8Array): string {
  const file = path.join(folder, name);
  fs.writeFileSync(file, content);
  return file;
}

/** Gzip-compresses bytes or text. */
export function gzip(content: string | Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(content));
}

/** A numpy dtype this encoder writes: byte order, kind and item size. */
export interface NpyType {
  descr: string;
  write: (view: DataView, offset: number, value: number, littleEndian: boolean) => void;
  size: number;
}

/** Numeric dtypes by their numpy name, without byte order. */
export const npyTypes: Record<string, Omit<NpyType, 'descr'> & { code: string }> = {
  float32: { code: 'f4', size: 4, write: (v, o, x, le) => v.setFloat32(o, x, le) },
  float64: { code: 'f8', size: 8, write: (v, o, x, le) => v.setFloat64(o, x, le) },
  int8: { code: 'i1', size: 1, write: (v, o, x) => v.setInt8(o, x) },
  uint8: { code: 'u1', size: 1, write: (v, o, x) => v.setUint8(o, x) },
  int16: { code: 'i2', size: 2, write: (v, o, x, le) => v.setInt16(o, x, le) },
  uint16: { code: 'u2', size: 2, write: (v, o, x, le) => v.setUint16(o, x, le) },
  int32: { code: 'i4', size: 4, write: (v, o, x, le) => v.setInt32(o, x, le) },
  uint32: { code: 'u4', size: 4, write: (v, o, x, le) => v.setUint32(o, x, le) },
  int64: { code: 'i8', size: 8, write: (v, o, x, le) => v.setBigInt64(o, BigInt(x), le) },
  uint64: { code: 'u8', size: 8, write: (v, o, x, le) => v.setBigUint64(o, BigInt(x), le) },
};

/** Options of `encodeNpy`. */
export interface NpyOptions {
  dtype?: keyof typeof npyTypes;
  bigEndian?: boolean;
  fortran?: boolean;
  version?: 1 | 2 | 3;
  /** Overrides the header's shape text, to write inconsistent files. */
  shapeText?: string;
  /** Overrides the header's descr, to write unsupported dtypes. */
  descr?: string;
}

/**
 * Encodes `values` (given in C order) as a .npy file, written independently of the reader
 * under test: the header is padded to a multiple of 64 bytes as numpy does.
 */
export function encodeNpy(values: number[], shape: number[], options: NpyOptions = {}): Uint8Array {
  const type = npyTypes[options.dtype ?? 'float64'];
  const littleEndian = !options.bigEndian;
  let order = littleEndian ? '<' : '>';
  if (type.size === 1) order = '|';
  const descr = options.descr ?? `${order}${type.code}`;
  const shapeText =
    options.shapeText ?? (shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`);
  const fortran = options.fortran ? 'True' : 'False';
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shapeText}, }`;
  const ordered = options.fortran ? toFortranOrder(values, shape) : values;
  const body = new Uint8Array(ordered.length * type.size);
  const view = new DataView(body.buffer);
  ordered.forEach((value, index) => type.write(view, index * type.size, value, littleEndian));
  return concat(npyPreamble(dict, options.version ?? 1), body);
}

/** Builds the magic, version, header length and padded header text. */
export function npyPreamble(dict: string, version: 1 | 2 | 3): Uint8Array {
  const fixed = version === 1 ? 10 : 12;
  const text = new TextEncoder().encode(dict);
  const padded = Math.ceil((fixed + text.length + 1) / 64) * 64 - fixed;
  const header = new Uint8Array(fixed + padded).fill(0x20);
  header.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(header.buffer);
  if (version === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  header.set(text, fixed);
  header[header.length - 1] = 0x0a;
  return header;
}

/** Encodes strings as a numpy `<U{width}` array of rank 1. */
export function encodeNpyStrings(values: string[]): Uint8Array {
  const width = Math.max(1, ...values.map((value) => [...value].length));
  const dict = `{'descr': '<U${width}', 'fortran_order': False, 'shape': (${values.length},), }`;
  const body = new Uint8Array(values.length * width * 4);
  const view = new DataView(body.buffer);
  values.forEach((value, item) =>
    [...value].forEach((character, index) =>
      view.setUint32((item * width + index) * 4, character.codePointAt(0)!, true),
    ),
  );
  return concat(npyPreamble(dict, 1), body);
}

function toFortranOrder(values: number[], shape: number[]): number[] {
  if (shape.length < 2) return values;
  const output = new Array<number>(values.length);
  const cStrides = shape.map((_, axis) => shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  const fStrides = shape.map((_, axis) => shape.slice(0, axis).reduce((a, b) => a * b, 1));
  values.forEach((value, cIndex) => {
    let fIndex = 0;
    shape.forEach((dimension, axis) => {
      fIndex += (Math.floor(cIndex / cStrides[axis]) % dimension) * fStrides[axis];
    });
    output[fIndex] = value;
  });
  return output;
}

/** Builds an .npz archive from named .npy files, stored or deflated. */
export function encodeNpz(arrays: Record<string, Uint8Array>, deflate: boolean): Uint8Array {
  const entries = Object.fromEntries(
    Object.entries(arrays).map(([key, bytes]) => [`${key}.npy`, bytes]),
  );
  return zipSync(entries, { level: deflate ? 6 : 0 });
}

/** IDX type codes by name, with their item sizes and big-endian writers. */
const idxTypes = {
  ubyte: { code: 0x08, size: 1, write: (v: DataView, o: number, x: number) => v.setUint8(o, x) },
  sbyte: { code: 0x09, size: 1, write: (v: DataView, o: number, x: number) => v.setInt8(o, x) },
  short: {
    code: 0x0b,
    size: 2,
    write: (v: DataView, o: number, x: number) => v.setInt16(o, x, false),
  },
  int: {
    code: 0x0c,
    size: 4,
    write: (v: DataView, o: number, x: number) => v.setInt32(o, x, false),
  },
  float: {
    code: 0x0d,
    size: 4,
    write: (v: DataView, o: number, x: number) => v.setFloat32(o, x, false),
  },
  double: {
    code: 0x0e,
    size: 8,
    write: (v: DataView, o: number, x: number) => v.setFloat64(o, x, false),
  },
};

/** Encodes an IDX file; `declaredShape` overrides the header to write inconsistent files. */
export function encodeIdx(
  values: number[],
  shape: number[],
  type: keyof typeof idxTypes = 'ubyte',
  declaredShape = shape,
): Uint8Array {
  const { code, size, write } = idxTypes[type];
  const bytes = new Uint8Array(4 + 4 * declaredShape.length + values.length * size);
  const view = new DataView(bytes.buffer);
  bytes.set([0, 0, code, declaredShape.length]);
  declaredShape.forEach((dimension, axis) => view.setUint32(4 + 4 * axis, dimension, false));
  const start = 4 + 4 * declaredShape.length;
  values.forEach((value, index) => write(view, start + index * size, value));
  return bytes;
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const output = new Uint8Array(first.length + second.length);
  output.set(first);
  output.set(second, first.length);
  return output;
}

/** Returns true when `python3 -c 'import numpy'` works, for the reference-file tests. */
export function hasNumpy(): boolean {
  const result = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return result.status === 0;
}

/** Runs a Python script with numpy and returns its standard output. */
export function runPython(script: string, cwd: string): string {
  const result = spawnSync('python3', ['-c', script], { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return result.stdout;
}
