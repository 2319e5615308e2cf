/** Paths of the shared corpus of published models, which tests read in place. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The corpus folder: `../shared/corpus` relative to the repository root. */
export const corpusDir = path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus');

/** Returns the path of a file or folder inside the corpus. */
export function corpusPath(...parts: string[]): string {
  return path.join(corpusDir, ...parts);
}

/**
 * Writes into `folder` a copy of the corpus's iris `.h5` with one byte changed so that HDF5 calls
 * abort() while reading it, and returns its path. After that abort every later HDF5 call of the
 * process fails, which is what the tests of that case check.
 */
export function writeHdf5AbortingCopy(folder: string): string {
  const bytes = fs.readFileSync(corpusPath('keras-h5-iris-mlp', 'iris_model.h5'));
  // A single byte found by fuzzing.
  bytes[25_584] = 185;
  const file = path.join(folder, 'aborts-hdf5.h5');
  fs.writeFileSync(file, bytes);
  return file;
}
