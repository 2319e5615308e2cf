/**
 * Thin helpers over h5wasm (HDF5 compiled to WebAssembly) for the Keras readers. Float datasets
 * are read and written as raw bytes through the module's low-level functions because h5wasm's
 * `value` and `write_slice` reject float16 (h5wasm 0.10).
 */
import type * as H5 from 'h5wasm/node' with { 'resolution-mode': 'import' };
import { CancelledError, ModelFormatError, PruneLensError } from '../errors';
import { yieldToEventLoop } from '../progress';
import {
  allowFile,
  closeErrorFiles,
  hdf5Stopped,
  loadH5Wasm,
  releaseFile,
  takeRejectedFile,
  type H5Wasm,
} from './hdf5-runtime';
import { decodeRows, matrixTarget, rowsPerBlock, type FloatWidth } from './float-matrix';

export { loadH5Wasm, type H5Wasm };
/** An open HDF5 file. */
export type H5File = H5.File;
/** An HDF5 group. */
export type H5Group = H5.Group;
/** An HDF5 dataset. */
export type H5Dataset = H5.Dataset;

/** Opens an HDF5 file, turning HDF5 errors into a one-line ModelFormatError. */
export async function openH5(file: string, mode: 'r' | 'a', shownAs = file): Promise<H5File> {
  const h5wasm = await loadH5Wasm();
  if (hdf5Stopped()) {
    throw new ModelFormatError(
      shownAs,
      'was not read: HDF5 stopped on an earlier damaged file in this process; open it in a new run.',
    );
  }
  takeRejectedFile();
  allowFile(file);
  try {
    const handle = new h5wasm.File(file, mode);
    if (!handle.file_id || handle.file_id < 0n) throw new Error('invalid file id');
    return handle;
  } catch (error) {
    releaseFile(file);
    closeErrorFiles();
    if (hdf5Stopped()) throw stoppedError(shownAs, error);
    const rejected = takeRejectedFile();
    if (rejected) throw outsideError(shownAs, rejected, error);
    throw new ModelFormatError(
      shownAs,
      'is not a readable HDF5 file (truncated or damaged); re-save the model from Keras.',
      { cause: error },
    );
  }
}

/** Creates an HDF5 file, replacing any file of that name; close it with `closeCreated`. */
export async function createH5(file: string): Promise<H5File> {
  const h5wasm = await loadH5Wasm();
  allowFile(file);
  try {
    return new h5wasm.File(file, 'w');
  } catch (error) {
    releaseFile(file);
    throw error;
  }
}

/** Closes, and so flushes, a file made by `createH5`. */
export function closeCreated(handle: H5File): void {
  try {
    handle.close();
  } finally {
    releaseFile(handle.filename);
  }
}

/** Returns the group at `path`, or null when it is missing or not a group. */
export function getGroup(h5wasm: H5Wasm, parent: H5Group, path: string): H5Group | null {
  const entity = safeGet(parent, path);
  return entity instanceof h5wasm.Group ? entity : null;
}

/** Returns the dataset at `path`, or null when it is missing or not a dataset. */
export function getDataset(h5wasm: H5Wasm, parent: H5Group, path: string): H5Dataset | null {
  const entity = safeGet(parent, path);
  return entity instanceof h5wasm.Dataset ? entity : null;
}

function safeGet(parent: H5Group, path: string): H5.Entity | null {
  try {
    return parent.get(path);
  } catch {
    return null;
  }
}

/** Reads a string attribute (fixed or variable length), or null when absent. */
export function readStringAttribute(node: H5Group | H5Dataset, name: string): string | null {
  if (!Object.prototype.hasOwnProperty.call(node.attrs, name)) return null;
  const value = node.get_attribute(name, true);
  if (typeof value === 'string') return value;
  return null;
}

/** Reads a list-of-strings attribute such as Keras's `layer_names`, or null when absent. */
export function readStringListAttribute(node: H5Group, name: string): string[] | null {
  if (!Object.prototype.hasOwnProperty.call(node.attrs, name)) return null;
  const value = node.get_attribute(name, true);
  if (Array.isArray(value)) return value.map((item) => String(item));
  if (typeof value === 'string') return [value];
  // An empty list is stored by h5py as an empty float64 array.
  return [];
}

/** Element types of the float datasets PruneLens reads and writes. */
export type FloatDtype = 'float16' | 'float32' | 'float64';

/** A float dataset's values as float32, with what is needed to write it back. */
export interface FloatDataset {
  path: string;
  shape: number[];
  dtype: FloatDtype;
  values: Float32Array;
}

/**
 * Largest dataset read. It bounds the Float32Array that a damaged file's declared shape can make
 * PruneLens allocate.
 */
const maxDatasetBytes = 2 ** 31 - 1;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Returns `error` unchanged when it is already a PruneLens error, else a one-line
 * ModelFormatError for an error h5wasm raised on a damaged file (its message is HDF5's
 * multi-line error stack, of which the first reason is kept).
 */
export function damagedHdf5Error(file: string, error: unknown): Error {
  if (error instanceof PruneLensError || error instanceof CancelledError) return error;
  closeErrorFiles();
  if (hdf5Stopped()) return stoppedError(file, error);
  const rejected = takeRejectedFile();
  if (rejected) return outsideError(file, rejected, error);
  const text = error instanceof Error ? error.message : String(error);
  const reason = /\bin (\w+\(\)): ([^\n]+)/.exec(text);
  const detail = reason ? `${reason[1]}: ${reason[2].trim()}` : text.split('\n')[0];
  return new ModelFormatError(
    file,
    `cannot be read: its HDF5 structure is damaged (${detail}); re-save or re-download the model.`,
    { cause: error },
  );
}

/** Builds the error for a file on which HDF5 called abort(). */
function stoppedError(file: string, error: unknown): ModelFormatError {
  return new ModelFormatError(
    file,
    'cannot be read: HDF5 stopped on a damaged structure in it; re-save or re-download the model.',
    { cause: error },
  );
}

/** Builds the error for a file whose data HDF5 would have read from, or written to, another file. */
export function outsideError(file: string, target: string, error: unknown): ModelFormatError {
  return new ModelFormatError(
    file,
    `refers to "${target}" (an HDF5 external link, virtual dataset or external storage), and ` +
      'PruneLens reads only the model file itself; re-save the model with its weights inside.',
    { cause: error },
  );
}

/**
 * Closes a file opened for reading. HDF5 can fail to close a damaged file ("decrementing file ID
 * failed"). That failure is ignored, so the reading error, if any, is the one reported.
 */
export function closeAfterReading(handle: H5File): void {
  try {
    handle.close();
  } catch {
    // Nothing was written to this handle, so there is nothing to flush or lose.
  }
  releaseFile(handle.filename);
}

/**
 * Reads a float dataset of any width into a Float32Array, decoded straight from the WebAssembly
 * heap. With `transposed`, a 2-D dataset's values come out as `[columns, rows]`, so a Dense kernel
 * needs no second copy to transpose. The returned shape is the stored one.
 */
export async function readFloatDataset(
  dataset: H5Dataset,
  file: string,
  transposed = false,
): Promise<FloatDataset> {
  const metadata = dataset.metadata;
  // HDF5 reads a virtual dataset as zeros, without an error, when it cannot open the sources.
  const source = metadata.virtual_sources?.[0];
  if (source) throw outsideError(file, source.file_name, null);
  const dtype = floatDtypeOf(dataset, file);
  const shape = metadata.shape ?? [];
  const byteCount = metadata.total_size * metadata.size;
  if (!(byteCount <= maxDatasetBytes)) {
    throw new ModelFormatError(
      file,
      `dataset ${dataset.path} declares shape [${shape.join(', ')}] (${byteCount} bytes), more than ` +
        `the ${maxDatasetBytes} bytes PruneLens reads in one dataset; the file is damaged or the layer is too large.`,
    );
  }
  const rows = shape.length > 0 ? shape[0] : 1;
  const columns = rows > 0 ? metadata.total_size / rows : 0;
  const target = matrixTarget(rows, columns, transposed && shape.length === 2);
  const width = bytesPerFloat[dtype] as FloatWidth;
  try {
    await readRawBytes(dataset, (bytes, firstRow) => decodeRows(bytes, width, target, firstRow));
  } catch (error) {
    const rejected = takeRejectedFile();
    if (rejected) throw outsideError(file, rejected, error);
    throw new ModelFormatError(file, `cannot read dataset ${dataset.path}; the file is damaged.`, {
      cause: error,
    });
  }
  return { path: dataset.path, shape, dtype, values: target.values };
}

/** Overwrites a whole float dataset, converting `values` to the dataset's own element type. */
export async function writeFloatDataset(dataset: H5Dataset, values: Float32Array, file: string) {
  const dtype = floatDtypeOf(dataset, file);
  const shape = dataset.metadata.shape ?? [];
  const expected = shape.reduce((product, dimension) => product * dimension, 1);
  if (values.length !== expected) {
    throw new ModelFormatError(
      file,
      `cannot write ${values.length} values into dataset ${dataset.path} of shape [${shape}].`,
    );
  }
  try {
    await writeRawBytes(dataset, encodeFloats(values, dtype));
  } catch (error) {
    throw new ModelFormatError(
      file,
      `writing dataset ${dataset.path} failed (${firstLine(error)}).`,
      {
        cause: error,
      },
    );
  }
}

const floatDtypeBySize: Record<number, FloatDtype | undefined> = {
  2: 'float16',
  4: 'float32',
  8: 'float64',
};

const bytesPerFloat: Record<FloatDtype, number> = { float16: 2, float32: 4, float64: 8 };

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.trim().split('\n')[0];
}

function floatDtypeOf(dataset: H5Dataset, file: string): FloatDtype {
  const { type, size, littleEndian } = dataset.metadata;
  // H5T_FLOAT is class 1 in HDF5's H5T_class_t.
  const dtype = floatDtypeBySize[size];
  if (type === 1 && littleEndian && dtype) return dtype;
  throw new ModelFormatError(
    file,
    `dataset ${dataset.path} has element type ${JSON.stringify(dataset.dtype)}; ` +
      'only little-endian float16, float32 and float64 weights can be read.',
  );
}

/**
 * Reads a dataset's bytes in blocks of whole rows (along the first axis) and hands each block to
 * `take` as a view of the WebAssembly heap, valid only during the call. The heap never shrinks,
 * so it grows by one block instead of the largest layer. A chunked dataset is read in blocks
 * whole chunks high, so that each chunk is decompressed once.
 */
async function readRawBytes(
  dataset: H5Dataset,
  take: (bytes: Uint8Array, firstRow: number) => void,
): Promise<void> {
  const { Module } = await loadH5Wasm();
  const { size, total_size: total, chunks } = dataset.metadata;
  const shape = dataset.metadata.shape ?? [];
  const rows = shape.length > 0 ? shape[0] : 1;
  if (total === 0) return;
  const rowBytes = (size * total) / rows;
  const step = Math.min(rows, rowsPerBlock(rowBytes, chunks?.[0] ?? 1));
  const pointer = Module._malloc(step * rowBytes);
  if (pointer === 0) throw new Error(`Allocating ${step * rowBytes} bytes in h5wasm failed.`);
  try {
    for (let row = 0; row < rows; row += step) {
      const count = Math.min(step, rows - row);
      const slab = rowSlab(shape, row, count);
      // A scalar dataset has no rows to select: null reads all of it.
      const [counts, offsets, strides] = shape.length > 0 ? slab : [null, null, null];
      const { file_id: fileId, path } = dataset;
      Module.get_dataset_data(fileId, path, counts, offsets, strides, BigInt(pointer));
      take(Module.HEAPU8.subarray(pointer, pointer + count * rowBytes), row);
      await yieldToEventLoop();
    }
  } finally {
    Module._free(pointer);
  }
}

/** Returns the hyperslab (counts, offsets, strides) of rows `[row, row + count)` of a dataset. */
function rowSlab(shape: number[], row: number, count: number): [bigint[], bigint[], bigint[]] {
  return [
    shape.map((dimension, axis) => BigInt(axis === 0 ? count : dimension)),
    shape.map((_, axis) => BigInt(axis === 0 ? row : 0)),
    shape.map(() => 1n),
  ];
}

/**
 * Writes a whole dataset's bytes a block of rows at a time through one block of the WebAssembly
 * heap, which never shrinks, so that the heap does not grow by the size of the largest layer.
 */
async function writeRawBytes(dataset: H5Dataset, bytes: Uint8Array): Promise<void> {
  const { Module } = await loadH5Wasm();
  const shape = dataset.metadata.shape ?? [];
  const rows = shape.length > 0 ? shape[0] : 1;
  if (bytes.byteLength === 0) return;
  const rowBytes = bytes.byteLength / rows;
  const step = Math.min(rows, rowsPerBlock(rowBytes, dataset.metadata.chunks?.[0] ?? 1));
  const pointer = Module._malloc(step * rowBytes);
  if (pointer === 0) throw new Error(`Allocating ${step * rowBytes} bytes in h5wasm failed.`);
  try {
    for (let row = 0; row < rows; row += step) {
      const count = Math.min(step, rows - row);
      Module.HEAPU8.set(bytes.subarray(row * rowBytes, (row + count) * rowBytes), pointer);
      const [counts, offsets, strides] = rowSlab(shape, row, count);
      const { file_id: fileId, path } = dataset;
      Module.set_dataset_data(fileId, path, counts, offsets, strides, BigInt(pointer));
      await yieldToEventLoop();
    }
  } finally {
    Module._free(pointer);
  }
}

/** Decodes little-endian float16, float32 or float64 bytes to float32 values. */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = bytesPerFloat[dtype];
  const values = new Float32Array(Math.floor(bytes.byteLength / width));
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'float32') values[i] = view.getFloat32(i * 4, true);
    else if (dtype === 'float64') values[i] = view.getFloat64(i * 8, true);
    else values[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return values;
}

/**
 * Encodes float32 values as little-endian bytes of the given float type. Float32 values on a
 * little-endian host are returned as a view of the same memory, not a copy.
 */
export function encodeFloats(values: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'float32' && littleEndianHost) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const width = bytesPerFloat[dtype];
  const bytes = new Uint8Array(values.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'float32') view.setFloat32(i * 4, values[i], true);
    else if (dtype === 'float64') view.setFloat64(i * 8, values[i], true);
    else view.setUint16(i * 2, floatToHalf(values[i]), true);
  }
  return bytes;
}

/** Converts IEEE 754 half-precision bits to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Converts a number to IEEE 754 half-precision bits, rounding to nearest even. */
export function floatToHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude >= 65520) return sign | 0x7c00;
  if (magnitude < 2 ** -14) return sign | roundHalfEven(magnitude / 2 ** -24);
  let exponent = Math.floor(Math.log2(magnitude));
  // Math.log2 can be off by one near powers of two.
  if (2 ** exponent > magnitude) exponent--;
  if (2 ** (exponent + 1) <= magnitude) exponent++;
  const mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which the addition does.
  return sign | (((exponent + 15) << 10) + mantissa);
}

function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Opens an HDF5 file for writing, runs `work` on it, and closes it even when `work` throws. */
export async function editH5File(
  file: string,
  shownAs: string,
  work: (h5wasm: H5Wasm, handle: H5File) => Promise<void>,
): Promise<void> {
  const h5wasm = await loadH5Wasm();
  const handle = await openH5(file, 'a', shownAs);
  try {
    await work(h5wasm, handle);
  } catch (error) {
    closeAfterReading(handle);
    throw damagedHdf5Error(shownAs, error);
  }
  try {
    // Closing flushes the changes, so a failure here means the copy is not usable.
    handle.close();
  } catch (error) {
    throw damagedHdf5Error(shownAs, error);
  } finally {
    releaseFile(file);
  }
}

/** Overwrites a whole float dataset of an open file. */
export async function overwriteDataset(
  h5wasm: H5Wasm,
  handle: H5File,
  datasetPath: string,
  values: Float32Array,
  shownAs: string,
): Promise<void> {
  const dataset = getDataset(h5wasm, handle, datasetPath);
  if (!dataset)
    throw new ModelFormatError(shownAs, `dataset ${datasetPath} disappeared while saving.`);
  await writeFloatDataset(dataset, values, shownAs);
}

/** Creates a 1-D float32 or float64 dataset; its parent group must exist. */
export function createVectorDataset(
  h5wasm: H5Wasm,
  handle: H5File,
  datasetPath: string,
  values: Float32Array,
  dtype: 'float32' | 'float64',
  shownAs: string,
): void {
  const slash = datasetPath.lastIndexOf('/');
  const parent = getGroup(h5wasm, handle, datasetPath.slice(0, slash) || '/');
  const name = datasetPath.slice(slash + 1);
  if (!parent || safeGet(parent, name) !== null) {
    throw new ModelFormatError(
      shownAs,
      `cannot create dataset ${datasetPath}: its group is missing or the name is taken.`,
    );
  }
  const data = dtype === 'float64' ? Float64Array.from(values) : values;
  parent.create_dataset({
    name,
    data,
    shape: [values.length],
    dtype: dtype === 'float64' ? '<d' : '<f',
  });
}

/** Replaces a string or list-of-strings attribute, written as variable-length UTF-8 strings. */
export function replaceStringAttribute(
  node: H5Group,
  name: string,
  value: string | string[],
): void {
  if (Object.prototype.hasOwnProperty.call(node.attrs, name)) node.delete_attribute(name);
  node.create_attribute(name, value);
}
