/** Reader for numpy `.npz` archives: a zip of `.npy` entries, stored or deflated. */
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { DataError } from '../errors';
import { readNpy } from './npy';
import type { NdArray } from './raw';

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

/** Lists the archive's entries, picks the features and labels arrays, and decodes only those. */
export function readNpz(
  file: string,
  bytes: Uint8Array,
  featuresKey?: string,
  labelsKey?: string,
): NpzArrays {
  const keys = listNpzKeys(file, bytes);
  const labels = labelsKey ?? defaultLabelKeys.find((key) => keys.includes(key));
  const features =
    featuresKey ??
    defaultFeatureKeys.find((key) => keys.includes(key)) ??
    keys.find((key) => key !== labels);
  if (features === undefined) {
    throw new DataError(file, 'contains no features array; choose a .npz file with samples.');
  }
  return {
    featuresKey: features,
    features: readNpzArray(file, bytes, features, keys),
    labelsKey: labels,
    labels: labels === undefined ? undefined : readNpzArray(file, bytes, labels, keys),
  };
}

/** Reads the labels array of a separate labels archive: `labelsKey`, a default name, or its only array. */
export function readNpzLabels(file: string, bytes: Uint8Array, labelsKey?: string): NdArray {
  const keys = listNpzKeys(file, bytes);
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
  return readNpzArray(file, bytes, key, keys);
}

/** Returns the array names of an archive (entry names without `.npy`). */
export function listNpzKeys(file: string, bytes: Uint8Array): string[] {
  return listEntries(file, bytes).map((entry) => entry.name.replace(/\.npy$/, ''));
}

function readNpzArray(file: string, bytes: Uint8Array, key: string, keys: string[]): NdArray {
  if (!keys.includes(key)) {
    throw new DataError(
      file,
      `has no array ${JSON.stringify(key)}; its arrays are ${listKeys(keys)}.`,
    );
  }
  const files = unzipEntries(
    file,
    bytes,
    (info) => info.name === key || info.name === `${key}.npy`,
  );
  const entry = files[`${key}.npy`] ?? files[key];
  return readNpy(file, entry, `array ${JSON.stringify(key)}`);
}

function listKeys(keys: string[]): string {
  return keys.map((key) => JSON.stringify(key)).join(', ') || 'none';
}

function listEntries(file: string, bytes: Uint8Array): UnzipFileInfo[] {
  const entries: UnzipFileInfo[] = [];
  unzipEntries(file, bytes, (info) => {
    if (!info.name.endsWith('/')) entries.push(info);
    return false;
  });
  return entries;
}

function unzipEntries(
  file: string,
  bytes: Uint8Array,
  accept: (info: UnzipFileInfo) => boolean,
): Record<string, Uint8Array> {
  try {
    return unzipSync(bytes, {
      filter: (info) => {
        const selected = accept(info);
        if (selected) checkEntry(file, info);
        return selected;
      },
    });
  } catch (error) {
    if (error instanceof DataError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(file, `is not a readable .npz (zip) archive (${reason}).`, {
      cause: error,
    });
  }
}

/** Rejects compression methods fflate cannot read and sizes no valid entry can have. */
function checkEntry(file: string, info: UnzipFileInfo): void {
  const entry = JSON.stringify(info.name);
  if (info.compression !== 0 && info.compression !== 8) {
    throw new DataError(
      file,
      `entry ${entry} uses zip compression method ${info.compression}; save with numpy.savez or savez_compressed.`,
    );
  }
  const limit = info.compression === 0 ? info.size : info.size * maxDeflateRatio + 1024;
  if (info.originalSize > limit) {
    throw new DataError(
      file,
      `entry ${entry} declares ${info.originalSize} bytes but has ${info.size} compressed bytes; the archive is corrupt.`,
    );
  }
}
