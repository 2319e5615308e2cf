/** Lays out a fuzz input beside copies of its seed's companion files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { corpusDir } from '../helpers/corpus';
import { campaigns, type Seed } from './campaigns';
import type { HarnessTarget } from './protocol';

/** The metadata saved beside each regression input. */
export interface RegressionInfo {
  target: HarnessTarget;
  /** Seed file: `corpus/<folder>/<file>` or `seeds/<file>` (see `seedName`). */
  seed: string;
  /** The crash when it was found. */
  problem: string;
  /** Kind of crash and where it was raised, to recognise repeats. */
  signature: string;
}

/** Names a seed file independently of where the repository and the corpus are. */
export function seedName(file: string): string {
  const inCorpus = path.relative(corpusDir, file);
  if (!inCorpus.startsWith('..')) return `corpus/${inCorpus.split(path.sep).join('/')}`;
  return path.relative(__dirname, file).split(path.sep).join('/');
}

/** Finds the seed (with its companions) that a regression was made from. */
export function findSeed(name: string): Seed {
  for (const campaign of campaigns) {
    const seed = campaign.seeds.find((candidate) => seedName(candidate.file) === name);
    if (seed) return seed;
  }
  throw new Error(`unknown fuzz seed ${name}`);
}

/**
 * Writes `bytes` under the seed's file name in a folder of `work` that contains copies of the
 * seed's companions, and returns the written path.
 */
export function prepareInput(work: string, seed: Seed, bytes: Uint8Array): string {
  const folder = path.join(work, path.basename(path.dirname(seed.file)) + '-' + path.basename(seed.file));
  if (!fs.existsSync(folder)) {
    fs.mkdirSync(folder, { recursive: true });
    for (const companion of seed.companions) fs.copyFileSync(companion, path.join(folder, path.basename(companion)));
  }
  const file = path.join(folder, path.basename(seed.file));
  fs.writeFileSync(file, bytes);
  return file;
}
