/** Paths of the shared corpus of published models, which tests read in place. */
import * as path from 'node:path';

/** The corpus folder: `../shared/corpus` relative to the repository root. */
export const corpusDir = path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus');

/** Returns the path of a file or folder inside the corpus. */
export function corpusPath(...parts: string[]): string {
  return path.join(corpusDir, ...parts);
}
