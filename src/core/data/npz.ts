/** Reader for numpy `.npz` archives: a zip of `.npy` entries, stored or deflated. */
import { Inflate } from 'fflate';
import { DataError } from '../errors';
import { readZipEntries, type ZipEntry } from '../formats/torch-zip';
import { readNpy } from './npy';
import type { NdArray } from './raw';
import { dataLimit, dataTooLarge, describeLimit, formatBytes } from './size';

/** Default names of the features array, tried in order. */
export const defaultFeatureKeys = ['x', 'X', 'data', 'features'];
/** Default names of the labels array, tried in order. */
export const defaultLabelKeys = ['y', 'labels', 'target', 'label'];

/** Deflate cannot expand data by more than about 1032:1, so a larger declared size is corrupt. */
const maxDeflateRatio = 1032;

/** The arrays picked from an archive. */
export interface NpzArrays {
  featuresKey: string;
  features: NdArray;
  labelsKey?: string;
  labels?: NdArray;
}

/**
 * Lists the archive's entries, picks the features and labels arrays, and decodes only those.
 * Together they may not inflate past `maxBytes` (default `defaultMaxDataBytes`).
 */
export function readNpz(
  file: string,
  bytes: Uint8Array,
  featuresKey?: string,
  labelsKey?: string,
  maxBytes?: number,
): NpzArrays {
  const entries = listEntries(file, bytes);
  const keys = entries.map(keyOf);
  const labels = labelsKey ?? defaultLabelKeys.find((key) => keys.includes(key));
  const features =
    featuresKey ??
    defaultFeatureKeys.find((key) => keys.includes(key)) ??
    keys.find((key) => key !== labels);
  if (features === undefined) {
    throw new DataError(file, 'contains no features array; choose a .npz file with samples.');
  }
  const selected = [features, ...(labels === undefined ? [] : [labels])];
  const [featureEntry, labelEntry] = pickEntries(file, entries, selected, maxBytes);
  return {
    featuresKey: features,
    features: readNpzArray(file, bytes, featureEntry),
    labelsKey: labels,
    labels: labelEntry && readNpzArray(file, bytes, labelEntry),
  };
}

/**
 * Reads the labels array of a separate labels archive: `labelsKey`, a default name, or its only
 * array, inflated up to `maxBytes`.
 */
export function readNpzLabels(
  file: string,
  bytes: Uint8Array,
  labelsKey?: string,
  maxBytes?: number,
): NdArray {
  const entries = listEntries(file, bytes);
  const keys = entries.map(keyOf);
  const key =
    labelsKey ??
    defaultLabelKeys.find((name) => keys.includes(name)) ??
    (keys.length === 1 ? keys[0] : undefined);
  if (key === undefined) {
    throw new DataError(
      file,
      `has arrays ${listKeys(keys)} and none is named ${defaultLabelKeys.join('/')}; choose one with --labels-key.`,
    );
  }
  return readNpzArray(file, bytes, pickEntries(file, entries, [key], maxBytes)[0]);
}

/** Returns the array names of an archive (entry names without `.npy`). */
export function listNpzKeys(file: string, bytes: Uint8Array): string[] {
  return listEntries(file, bytes).map(keyOf);
}

function keyOf(entry: ZipEntry): string {
  return entry.name.replace(/\.npy$/, '');
}

/**
 * Finds the entries of `keys` and checks, before inflating any, that their declared sizes are
 * possible and together within the limit.
 */
function pickEntries(
  file: string,
  entries: ZipEntry[],
  keys: string[],
  maxBytes: number | undefined,
): ZipEntry[] {
  const limit = dataLimit(file, maxBytes);
  const picked = keys.map((key) => {
    const entry = entries.find((candidate) => keyOf(candidate) === key);
    if (!entry) {
      throw new DataError(
        file,
        `has no array ${JSON.stringify(key)}; its arrays are ${listKeys(entries.map(keyOf))}.`,
      );
    }
    checkEntry(file, entry);
    return entry;
  });
  const total = picked.reduce((sum, entry) => sum + entry.size, 0);
  if (total > limit) {
    const names = picked.map((entry) => JSON.stringify(keyOf(entry))).join(' and ');
    const subject = picked.length > 1 ? `arrays ${names} come` : `array ${names} comes`;
    const problem = `${subject} to ${formatBytes(total)} after decompression, above ${describeLimit(limit)}`;
    throw dataTooLarge(file, problem, total);
  }
  return picked;
}

function readNpzArray(file: string, bytes: Uint8Array, entry: ZipEntry): NdArray {
  return readNpy(file, extract(file, bytes, entry), `array ${JSON.stringify(keyOf(entry))}`);
}

function listKeys(keys: string[]): string {
  return keys.map((key) => JSON.stringify(key)).join(', ') || 'none';
}

function listEntries(file: string, bytes: Uint8Array): ZipEntry[] {
  try {
    return readZipEntries(bytes).filter((entry) => !entry.name.endsWith('/'));
  } catch (error) {
    throw unreadable(file, error);
  }
}

function unreadable(file: string, error: unknown): DataError {
  const reason = error instanceof Error ? error.message : String(error);
  return new DataError(file, `is not a readable .npz (zip) archive (${reason}).`, {
    cause: error,
  });
}

/** Compressed bytes inflated at a time; each slice yields at most about 1032 times as many. */
const inflateSlice = 16 * 1024;

/**
 * Returns an entry's bytes: a view for a stored entry, and for a deflated one its inflation into
 * a buffer of the declared size, stopped as soon as the output would pass that size.
 */
function extract(file: string, bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  if (entry.method === 0) return raw;
  const output = new Uint8Array(entry.size);
  let length = 0;
  const mismatch = () =>
    new DataError(
      file,
      `entry ${JSON.stringify(entry.name)} does not inflate to the ${entry.size} bytes it declares; the archive is corrupt.`,
    );
  try {
    const inflater = new Inflate((chunk) => {
      if (length + chunk.length > output.length) throw mismatch();
      output.set(chunk, length);
      length += chunk.length;
    });
    for (let at = 0; at < raw.length; at += inflateSlice) {
      inflater.push(raw.subarray(at, at + inflateSlice), at + inflateSlice >= raw.length);
    }
  } catch (error) {
    throw error instanceof DataError ? error : unreadable(file, error);
  }
  if (length !== output.length) throw mismatch();
  return output;
}

/** Rejects compression methods this reader cannot read and sizes no valid entry can have. */
function checkEntry(file: string, entry: ZipEntry): void {
  const name = JSON.stringify(entry.name);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new DataError(
      file,
      `entry ${name} uses zip compression method ${entry.method}; save with numpy.savez or savez_compressed.`,
    );
  }
  const limit =
    entry.method === 0 ? entry.compressedSize : entry.compressedSize * maxDeflateRatio + 1024;
  if (entry.size > limit) {
    throw new DataError(
      file,
      `entry ${name} declares ${entry.size} bytes but has ${entry.compressedSize} compressed bytes; the archive is corrupt.`,
    );
  }
}
