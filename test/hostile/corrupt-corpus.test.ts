/**
 * Truncated and bit-flipped copies of every corpus model: each must open, or be rejected with a
 * one-line PruneLensError naming the file, within the harness's 10 s, without changing the other
 * files of its folder or leaving files behind.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ReaderPool } from '../fuzz/harness';
import { seededRandom } from '../fuzz/mutate';
import { copyCorpusFolder, corpusModels, hashTree, temporaryFolder } from './helpers';

const pool = new ReaderPool({ timeoutMs: 10_000 });
const work = temporaryFolder('corrupt');
const tally = { inputs: 0, opened: 0, rejected: 0 };

after(() => {
  pool.close();
  fs.rmSync(work, { recursive: true, force: true });
  process.stdout.write(`# corrupt corpus copies: ${tally.inputs} inputs, ${tally.opened} opened, ${tally.rejected} rejected\n`);
});

/** Truncation points and single-bit flips of `bytes`, named for messages. */
function variants(bytes: Uint8Array, seed: number): { name: string; bytes: Uint8Array }[] {
  const cuts = [8, 64, Math.floor(bytes.length / 3), Math.floor((2 * bytes.length) / 3), bytes.length - 1];
  const result = cuts.map((cut) => ({ name: `cut at ${cut}`, bytes: bytes.slice(0, cut) }));
  const random = seededRandom(seed);
  for (let i = 0; i < 8; i++) {
    // Half of the flips land in the first 4 KiB, where headers and indexes are.
    const limit = i % 2 === 0 ? Math.min(bytes.length, 4096) : bytes.length;
    const at = Math.floor(random() * limit);
    const flipped = bytes.slice();
    flipped[at] ^= 1 << Math.floor(random() * 8);
    result.push({ name: `bit flip at ${at}`, bytes: flipped });
  }
  return result;
}

/** Returns the largest other file of the folder (a shard or external data), or null. */
function largestCompanion(folder: string, main: string): string | null {
  const others = fs
    .readdirSync(folder)
    .filter((name) => name !== main && /\.(bin|data)$|shard/.test(name))
    .sort((a, b) => fs.statSync(path.join(folder, b)).size - fs.statSync(path.join(folder, a)).size);
  return others[0] ?? null;
}

async function checkVariant(main: string, target: string, bytes: Uint8Array, name: string): Promise<void> {
  const folder = path.dirname(main);
  const original = fs.readFileSync(target);
  fs.writeFileSync(target, bytes);
  const before = hashTree(folder);
  const verdict = await pool.run('model', main, true);
  tally.inputs++;
  if (verdict.kind === 'ok') tally.opened++;
  else tally.rejected++;
  assert.notEqual(verdict.kind, 'crash', `${name}: ${verdict.reason}: ${verdict.message}`);
  assert.deepEqual(hashTree(folder), before, `${name}: files changed or left behind`);
  fs.writeFileSync(target, original);
}

describe('corrupted corpus copies', () => {
  for (const [index, model] of corpusModels.entries()) {
    it(`rejects damaged ${model.folder}/${model.file}`, async () => {
      const folder = copyCorpusFolder(model.folder, path.join(work, `${index}`));
      const main = path.join(folder, model.file);
      for (const variant of variants(new Uint8Array(fs.readFileSync(main)), index + 1)) {
        await checkVariant(main, main, variant.bytes, variant.name);
      }
      const companion = largestCompanion(folder, model.file);
      if (companion) {
        const file = path.join(folder, companion);
        const bytes = new Uint8Array(fs.readFileSync(file));
        await checkVariant(main, file, bytes.slice(0, bytes.length - 4), `${companion} 4 bytes short`);
        await checkVariant(main, file, new Uint8Array([...bytes, 0, 0, 0, 0]), `${companion} 4 bytes long`);
      }
    });
  }
});
