/**
 * Reader for numpy `.npy` arrays, versions 1.0-3.0.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { DataError } from '../errors';
import { shapeSize, type NdArray, type NumericArray } from './raw';

const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** A parsed `descr` entry such as `<f4`. */
interface DType {
  kind: string;
  itemSize: number;
  littleEndian: boolean;
  text: string;
}

interface NpyHeader {
  dtype: DType;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
}

/** Decodes one `.npy` file (or `.npz` entry) into a C-order array; `arrayName` names it in messages. */
export function readNpy(file: string, bytes: Uint8Array, arrayName = 'the array'): NdArray {
  const header = parseHeader(file, bytes, arrayName);
  const { dtype, shape } = header;
  const declared = shapeSize(shape) * dtype.itemSize;
  const available = bytes.length - header.dataOffset;
  // A larger file is accepted, as np.load reads only the declared bytes.
  if (declared > available) {
    throw new DataError(
      file,
      `${arrayName} declares shape (${shape.join(', ')}) of ${dtype.text}, ${declared} bytes, but only ` +
        `${available} bytes follow the header; the file is truncated or corrupt.`,
    );
  }
  const body = bytes.subarray(header.dataOffset, header.dataOffset + declared);
  const flat =
    dtype.kind === 'U' || dtype.kind === 'S'
      ? decodeStrings(body, dtype)
      : decodeNumbers(body, dtype);
  const data = header.fortranOrder ? fortranToC(flat, shape) : flat;
  return { shape, data };
}

function parseHeader(file: string, bytes: Uint8Array, arrayName: string): NpyHeader {
  if (bytes.length < 10 || !magic.every((value, index) => bytes[index] === value)) {
    throw new DataError(
      file,
      `${arrayName} is not a .npy array (missing the \\x93NUMPY signature).`,
    );
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError(file, `${arrayName} has a truncated .npy header.`);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new DataError(
      file,
      `${arrayName} uses .npy version ${major}.${bytes[7]}; versions 1.0-3.0 are supported.`,
    );
  }
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length)
    throw new DataError(file, `${arrayName} has a truncated .npy header.`);
  const encoding = major === 3 ? 'utf-8' : 'latin1';
  const text = new TextDecoder(encoding).decode(bytes.subarray(headerStart, dataOffset));
  return { ...parseHeaderText(file, text, arrayName), dataOffset };
}

/** Parses the header, a Python dict literal like `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. */
function parseHeaderText(
  file: string,
  text: string,
  arrayName: string,
): Omit<NpyHeader, 'dataOffset'> {
  const descr = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(text);
  if (!descr) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) {
      throw new DataError(
        file,
        `${arrayName} has a structured dtype; save a plain numeric array instead.`,
      );
    }
    throw new DataError(file, `${arrayName} has no readable 'descr' in its .npy header.`);
  }
  const order = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!order || !shapeMatch) {
    throw new DataError(
      file,
      `${arrayName} has an invalid .npy header ${JSON.stringify(text.trim())}.`,
    );
  }
  const shape = shapeMatch[1]
    .split(',')
    .map((part) => part.trim().replace(/L$/, ''))
    .filter((part) => part.length > 0)
    .map((part) => {
      if (!/^\d+$/.test(part))
        throw new DataError(
          file,
          `${arrayName} has an invalid dimension ${JSON.stringify(part)} in its shape.`,
        );
      return Number(part);
    });
  return { dtype: parseDType(file, descr[2], arrayName), fortranOrder: order[1] === 'True', shape };
}

const numericSizes: Record<string, number[]> = {
  f: [2, 4, 8],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  b: [1],
};

function parseDType(file: string, text: string, arrayName: string): DType {
  const match = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(text);
  const unsupported = `${arrayName} has dtype ${JSON.stringify(text)}; use float32, float64, integers, bool or strings.`;
  if (!match) throw new DataError(file, unsupported);
  const [, order, kind, sizeText] = match;
  const size = Number(sizeText);
  const littleEndian = order !== '>';
  if (kind === 'U') return { kind, itemSize: size * 4, littleEndian, text };
  if (kind === 'S') return { kind, itemSize: size, littleEndian, text };
  if (!numericSizes[kind]?.includes(size)) throw new DataError(file, unsupported);
  return { kind, itemSize: size, littleEndian, text };
}

/** Copies the bytes into an aligned buffer in little-endian order and views them as numbers. */
function decodeNumbers(body: Uint8Array, dtype: DType): NumericArray {
  // Buffer.prototype.slice returns a view, so copy through the constructor for callers passing a Buffer.
  const copy = new Uint8Array(body);
  if (!dtype.littleEndian && dtype.itemSize > 1) swapBytes(copy, dtype.itemSize);
  const buffer = copy.buffer;
  switch (`${dtype.kind}${dtype.itemSize}`) {
    case 'f2':
      return halfToFloat(new Uint16Array(buffer));
    case 'f4':
      return new Float32Array(buffer);
    case 'f8':
      return new Float64Array(buffer);
    case 'i1':
      return new Int8Array(buffer);
    case 'i2':
      return new Int16Array(buffer);
    case 'i4':
      return new Int32Array(buffer);
    case 'i8':
      return Float64Array.from(new BigInt64Array(buffer), (value) => Number(value));
    case 'u2':
      return new Uint16Array(buffer);
    case 'u4':
      return new Uint32Array(buffer);
    case 'u8':
      return Float64Array.from(new BigUint64Array(buffer), (value) => Number(value));
    default:
      return copy;
  }
}

/** Reverses the byte order of each `size`-byte item in place. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let start = 0; start < bytes.length; start += size) {
    for (let low = start, high = start + size - 1; low < high; low++, high--) {
      const value = bytes[low];
      bytes[low] = bytes[high];
      bytes[high] = value;
    }
  }
}

/** Converts IEEE 754 half-precision bit patterns to float32. */
function halfToFloat(bits: Uint16Array): Float32Array {
  const output = new Float32Array(bits.length);
  for (let index = 0; index < bits.length; index++) {
    const value = bits[index];
    const sign = value & 0x8000 ? -1 : 1;
    const exponent = (value >> 10) & 0x1f;
    const fraction = value & 0x3ff;
    if (exponent === 0) output[index] = sign * fraction * 2 ** -24;
    else if (exponent === 31) output[index] = fraction ? NaN : sign * Infinity;
    else output[index] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return output;
}

/** Decodes fixed-width strings: `U` is UTF-32 code points, `S` is bytes; trailing NULs are padding. */
function decodeStrings(body: Uint8Array, dtype: DType): string[] {
  const count = dtype.itemSize === 0 ? 0 : body.length / dtype.itemSize;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const output: string[] = new Array(count);
  for (let item = 0; item < count; item++) {
    const start = item * dtype.itemSize;
    let text = '';
    if (dtype.kind === 'U') {
      for (let offset = start; offset < start + dtype.itemSize; offset += 4) {
        const codePoint = view.getUint32(offset, dtype.littleEndian);
        if (codePoint === 0) break;
        text += String.fromCodePoint(codePoint);
      }
    } else {
      for (let offset = start; offset < start + dtype.itemSize && body[offset] !== 0; offset++) {
        text += String.fromCharCode(body[offset]);
      }
    }
    output[item] = text;
  }
  return output;
}

/** Reorders a column-major (Fortran) array into row-major (C) order. */
export function fortranToC<T extends NumericArray | string[]>(source: T, shape: number[]): T {
  if (shape.length < 2) return source;
  const size = shapeSize(shape);
  const target = (
    Array.isArray(source)
      ? new Array<string>(size)
      : new (source.constructor as new (n: number) => NumericArray)(size)
  ) as T;
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[0] = 1;
  for (let axis = 1; axis < rank; axis++) strides[axis] = strides[axis - 1] * shape[axis - 1];
  const index = new Array<number>(rank).fill(0);
  let sourceOffset = 0;
  for (let targetOffset = 0; targetOffset < size; targetOffset++) {
    target[targetOffset] = source[sourceOffset];
    // Advance the C-order multi-index (last axis fastest) and the matching Fortran offset.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      sourceOffset += strides[axis];
      if (index[axis] < shape[axis]) break;
      sourceOffset -= strides[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return target;
}
