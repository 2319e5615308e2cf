/** Samples as each format loader reads them, before label mapping and preprocessing. */
import { DataError } from '../errors';

/** Typed arrays that hold numbers exactly as a file stores them. */
export type NumericArray =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** An n-dimensional array in C (row-major) order, as read from .npy, .npz, IDX or JSON. */
export interface NdArray {
  shape: number[];
  /** Numbers, or strings for text arrays (numpy `U`/`S` dtypes, JSON strings). */
  data: NumericArray | string[];
}

/** Labels as read: numbers (`width` values per sample) or one string per sample. */
export type RawLabels =
  { kind: 'numeric'; values: NumericArray; width: number } | { kind: 'text'; values: string[] };

/** Samples as read from one file, before label mapping, preprocessing and row selection. */
export interface RawData {
  samples: number;
  featureCount: number;
  /** `[samples, featureCount]` row-major, in the file's own number type. */
  values: NumericArray;
  sampleShape: number[];
  /** Names from a CSV header, one per feature. */
  featureNames?: string[];
  /** Feature column names for messages, e.g. `column 2 ("RM")`. */
  columnNames?: string[];
  labels?: RawLabels;
  /** Origin of the labels for the description, e.g. `label column "MEDV"`. */
  labelSource?: string;
  /** 1-based line in the file of each sample (CSV only), for messages. */
  lines?: Int32Array;
}

/** Names sample `index` as messages show it: its file line for CSV, else its zero-based index. */
export function describeRow(raw: RawData, index: number): string {
  return raw.lines ? `line ${raw.lines[index]}` : `sample ${index} (zero-based)`;
}

/** Names feature `index` as messages show it. */
export function describeColumn(raw: RawData, index: number): string {
  return raw.columnNames?.[index] ?? `feature ${index}`;
}

/** Returns the product of a shape's dimensions (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/**
 * Turns an array whose first axis is the sample axis into features; text arrays are rejected
 * because features must be numbers.
 */
export function arrayToRaw(file: string, array: NdArray, arrayName: string): RawData {
  if (array.shape.length === 0) {
    throw new DataError(
      file,
      `${arrayName} is a single number, not samples; save an array with one row per sample.`,
    );
  }
  if (!isNumeric(array.data)) {
    throw new DataError(file, `${arrayName} contains text, not numbers; features must be numeric.`);
  }
  const samples = array.shape[0];
  const sampleShape = array.shape.slice(1);
  return { samples, featureCount: shapeSize(sampleShape), values: array.data, sampleShape };
}

/** Turns an array of per-sample labels (rank 1, or rank 2 for one-hot rows) into raw labels. */
export function arrayToLabels(file: string, array: NdArray, arrayName: string): RawLabels {
  if (array.shape.length === 0 || array.shape.length > 2) {
    throw new DataError(
      file,
      `${arrayName} has shape [${array.shape.join(', ')}]; labels must have one value or one row per sample.`,
    );
  }
  if (!isNumeric(array.data)) {
    if (array.shape.length !== 1) {
      throw new DataError(
        file,
        `${arrayName} is a text array of rank 2; text labels need one string per sample.`,
      );
    }
    return { kind: 'text', values: array.data };
  }
  const width = array.shape.length === 2 ? array.shape[1] : 1;
  return { kind: 'numeric', values: array.data, width };
}

/** Returns true for typed arrays of numbers, false for arrays of strings. */
export function isNumeric(data: NumericArray | string[]): data is NumericArray {
  return !Array.isArray(data);
}

/** Returns how many samples labels cover. */
export function labelCount(labels: RawLabels): number {
  if (labels.kind === 'text') return labels.values.length;
  return labels.width === 0 ? 0 : labels.values.length / labels.width;
}
