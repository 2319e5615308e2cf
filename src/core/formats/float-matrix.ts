/**
 * Decodes stored matrices of little-endian floats straight into the Float32Array a layer keeps,
 * as stored or transposed. Readers pass whole rows, all at once or a block at a time, so a large
 * kernel exists once in memory besides its stored bytes.
 */
import { getFloat16 } from '@petamoriken/float16';

/** Bytes per stored value: float16, float32 or float64. */
export type FloatWidth = 2 | 4 | 8;

/**
 * A row-major `[rows, columns]` matrix being filled. `values` contains it as stored, or as
 * `[columns, rows]` when `transposed`.
 */
export interface MatrixTarget {
  values: Float32Array;
  rows: number;
  columns: number;
  transposed: boolean;
}

/** Size of the blocks readers read at a time, small next to a large layer's size. */
const blockBytes = 8 * 2 ** 20;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Returns a target for a `[rows, columns]` matrix, with fresh values. */
export function matrixTarget(rows: number, columns: number, transposed: boolean): MatrixTarget {
  return { values: new Float32Array(rows * columns), rows, columns, transposed };
}

/** Returns how many rows of `rowBytes` bytes make a block: a multiple of `step`, at least `step`. */
export function rowsPerBlock(rowBytes: number, step = 1): number {
  const rows = Math.floor(blockBytes / Math.max(rowBytes, 1));
  return Math.max(step, rows - (rows % step));
}

/**
 * Decodes whole stored rows, the first of which is row `firstRow`, into `target`. Each value
 * goes straight to its place, with no temporary copy of the rows.
 */
export function decodeRows(
  bytes: Uint8Array,
  width: FloatWidth,
  target: MatrixTarget,
  firstRow: number,
): void {
  const { values, rows, columns } = target;
  const count = Math.floor(bytes.byteLength / width);
  const valueAt = reader(bytes, width, count);
  if (!target.transposed && width === 4 && isAligned(bytes)) {
    values.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), firstRow * columns);
    return;
  }
  if (!target.transposed) {
    const offset = firstRow * columns;
    for (let i = 0; i < count; i++) values[offset + i] = valueAt(i);
    return;
  }
  const blockRows = columns > 0 ? count / columns : 0;
  for (let column = 0; column < columns; column++) {
    const start = column * rows + firstRow;
    for (let row = 0; row < blockRows; row++) values[start + row] = valueAt(row * columns + column);
  }
}

/** Writes the transpose of a row-major `[rows, columns]` matrix into `into`, `[columns, rows]`. */
export function transposeInto(
  values: Float32Array,
  rows: number,
  columns: number,
  into: Float32Array,
): void {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  decodeRows(bytes, 4, { values: into, rows, columns, transposed: true }, 0);
}

/**
 * Returns a function giving the `i`-th little-endian float of `bytes`: through a Float32Array
 * view when they are aligned float32 on a little-endian host, else through a DataView.
 */
function reader(bytes: Uint8Array, width: FloatWidth, count: number): (i: number) => number {
  if (width === 4 && isAligned(bytes)) {
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    return (i) => floats[i];
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 4) return (i) => view.getFloat32(i * 4, true);
  if (width === 8) return (i) => view.getFloat64(i * 8, true);
  return (i) => getFloat16(view, i * 2, true);
}

/** Returns true when the bytes can be viewed as float32 values (aligned, little-endian host). */
function isAligned(bytes: Uint8Array): boolean {
  return littleEndianHost && bytes.byteOffset % 4 === 0;
}
