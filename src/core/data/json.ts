/** Reader for JSON data: an array of samples, or an object with features and labels arrays. */
import { DataError } from '../errors';
import { defaultFeatureKeys, defaultLabelKeys } from './npz';
import { shapeSize, type NdArray } from './raw';
import { decodeText } from './source';

/** The arrays found in a JSON file. */
export interface JsonArrays {
  /** Key of the features array, absent when the file's top level is the array. */
  featuresKey?: string;
  features: NdArray;
  labelsKey?: string;
  labels?: NdArray;
}

/** Parses JSON data: `[[...], ...]`, `[n, ...]` or `{ "x": [...], "y": [...] }`. */
export function readJson(
  file: string,
  bytes: Uint8Array,
  featuresKey?: string,
  labelsKey?: string,
): JsonArrays {
  const value = parseJson(file, bytes);
  if (Array.isArray(value)) {
    if (featuresKey !== undefined || labelsKey !== undefined) {
      throw new DataError(
        file,
        'is a plain JSON array, so --features-key and --labels-key do not apply; drop them.',
      );
    }
    return { features: jsonToArray(file, value, 'the array') };
  }
  if (value === null || typeof value !== 'object') {
    throw new DataError(
      file,
      'contains a single JSON value; expected an array of samples or {"x": [...], "y": [...]}.',
    );
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const features = featuresKey ?? defaultFeatureKeys.find((key) => key in record);
  const labels = labelsKey ?? defaultLabelKeys.find((key) => key in record);
  const listed = keys.map((key) => JSON.stringify(key)).join(', ') || 'none';
  if (features === undefined || !(features in record)) {
    const name =
      features === undefined ? `one of ${defaultFeatureKeys.join('/')}` : JSON.stringify(features);
    throw new DataError(
      file,
      `has no features key ${name}; its keys are ${listed}. Choose one with --features-key.`,
    );
  }
  if (labels !== undefined && !(labels in record)) {
    throw new DataError(
      file,
      `has no labels key ${JSON.stringify(labels)}; its keys are ${listed}.`,
    );
  }
  return {
    featuresKey: features,
    features: jsonToArray(file, record[features], `key ${JSON.stringify(features)}`),
    labelsKey: labels,
    labels:
      labels === undefined
        ? undefined
        : jsonToArray(file, record[labels], `key ${JSON.stringify(labels)}`),
  };
}

/** Reads a separate labels file: a JSON array, or an object with `labelsKey`, a default name or one key. */
export function readJsonLabels(file: string, bytes: Uint8Array, labelsKey?: string): NdArray {
  const value = parseJson(file, bytes);
  if (Array.isArray(value) && labelsKey === undefined)
    return jsonToArray(file, value, 'the labels');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DataError(file, 'is not a JSON array of labels or an object with a labels key.');
  }
  const keys = Object.keys(value);
  const key =
    labelsKey ??
    defaultLabelKeys.find((name) => keys.includes(name)) ??
    (keys.length === 1 ? keys[0] : undefined);
  if (key === undefined || !keys.includes(key)) {
    const listed = keys.map((name) => JSON.stringify(name)).join(', ') || 'none';
    throw new DataError(
      file,
      `has no labels key ${key === undefined ? defaultLabelKeys.join('/') : JSON.stringify(key)}; its keys are ${listed}.`,
    );
  }
  return jsonToArray(file, (value as Record<string, unknown>)[key], `key ${JSON.stringify(key)}`);
}

function parseJson(file: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decodeText(bytes));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(file, `is not valid JSON (${reason}).`, { cause: error });
  }
}

/**
 * Converts nested JSON arrays into a C-order array. The first element fixes the shape, and every
 * other sample must match it; leaves are numbers, or strings in a one-dimensional array of labels.
 */
export function jsonToArray(file: string, value: unknown, arrayName: string): NdArray {
  if (!Array.isArray(value)) throw new DataError(file, `${arrayName} is not an array.`);
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) shape.push(level.length);
  if (shape.length === 1 && value.length > 0 && typeof value[0] === 'string') {
    return { shape, data: value.map((item, index) => checkString(file, item, index, arrayName)) };
  }
  const data = new Float64Array(shapeSize(shape));
  let offset = 0;
  const visit = (node: unknown, axis: number, sample: number): void => {
    if (axis === shape.length) {
      if (typeof node !== 'number') {
        throw new DataError(
          file,
          `${arrayName}: sample ${sample} (zero-based) contains ${JSON.stringify(node)}, not a number.`,
        );
      }
      data[offset++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[axis]) {
      const found = Array.isArray(node) ? `${node.length} entries` : JSON.stringify(node);
      throw new DataError(
        file,
        `${arrayName}: sample ${sample} (zero-based) has ${found} at depth ${axis}, but sample 0 has ${shape[axis]}; ` +
          'every sample must have the same shape.',
      );
    }
    for (const child of node) visit(child, axis + 1, sample);
  };
  value.forEach((sample, index) => visit(sample, 1, index));
  return { shape, data };
}

function checkString(file: string, item: unknown, index: number, arrayName: string): string {
  if (typeof item !== 'string') {
    throw new DataError(
      file,
      `${arrayName}: entry ${index} (zero-based) is ${JSON.stringify(item)}, but entry 0 is text.`,
    );
  }
  return item;
}
