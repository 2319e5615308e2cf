/** Re-runs every input the fuzzer saved as a crash; each must now open or be rejected cleanly. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { campaigns } from './campaigns';
import { ReaderPool } from './harness';
import { findSeed, prepareInput, type RegressionInfo } from './inputs';

const regressionDir = path.join(__dirname, 'regressions');
const readers = fs.existsSync(regressionDir) ? fs.readdirSync(regressionDir).sort() : [];
const pool = new ReaderPool({ timeoutMs: 10_000 });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-regressions-'));

after(() => {
  pool.close();
  fs.rmSync(work, { recursive: true, force: true });
});

for (const reader of readers) {
  const folder = path.join(regressionDir, reader);
  const hashes = fs.readdirSync(folder).filter((name) => !name.endsWith('.json')).sort();
  describe(`fuzz regressions of ${reader}`, () => {
    for (const hash of hashes) {
      const info = JSON.parse(fs.readFileSync(path.join(folder, `${hash}.json`), 'utf8')) as RegressionInfo;
      it(`${hash} no longer crashes`, async () => {
        const saved = new Uint8Array(fs.readFileSync(path.join(folder, hash)));
        // Inputs of a wrapping campaign are saved before wrapping, as the fuzzer mutated them.
        const wrap = campaigns.find((campaign) => campaign.reader === reader)?.wrap;
        const bytes = wrap ? wrap(saved) : saved;
        const file = prepareInput(path.join(work, reader, hash), findSeed(info.seed), bytes);
        const verdict = await pool.run(info.target, file, true);
        assert.notEqual(verdict.kind, 'crash', `${verdict.reason}: ${verdict.message} (was: ${info.problem})`);
      });
    }
  });
}
