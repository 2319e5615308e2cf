/**
 * Mutation fuzzer of the PruneLens readers. Usage:
 *   node --import tsx test/fuzz/fuzz.ts [READER...]
 * FUZZ_SECONDS (default 90) is the total time shared by the readers. FUZZ_SEED (default 1) is the
 * seed of the mutations, so the same seed gives the same inputs in the same order. Every crash
 * (see `harness.ts`) is saved as `regressions/<reader>/<hash>` with a `<hash>.json` naming its
 * seed, and `regressions.test.ts` re-runs them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { campaigns, type Campaign } from './campaigns';
import { ReaderPool } from './harness';
import { mutate, seededRandom } from './mutate';
import { prepareInput, seedName, type RegressionInfo } from './inputs';

const regressionDir = path.join(__dirname, 'regressions');

interface Tally {
  inputs: number;
  ok: number;
  rejected: number;
  /** Crash inputs saved in this run, by hash. */
  crashes: Map<string, string>;
  /** Crashes already known by their signature, not saved again. */
  repeats: number;
}

async function fuzzCampaign(campaign: Campaign, pool: ReaderPool, seconds: number, seed: number): Promise<Tally> {
  const random = seededRandom(seed);
  const seeds = campaign.seeds.map((entry) => ({ entry, bytes: new Uint8Array(fs.readFileSync(entry.file)) }));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `prunelens-fuzz-${campaign.reader}-`));
  const tally: Tally = { inputs: 0, ok: 0, rejected: 0, crashes: new Map(), repeats: 0 };
  const known = knownSignatures(campaign.reader);
  const deadline = Date.now() + seconds * 1000;
  try {
    while (Date.now() < deadline) {
      const chosen = seeds[Math.floor(random() * seeds.length)];
      const donor = seeds[Math.floor(random() * seeds.length)].bytes;
      const bytes = mutate(chosen.bytes, random, donor);
      const file = prepareInput(work, chosen.entry, campaign.wrap ? campaign.wrap(bytes) : bytes);
      const verdict = await pool.run(campaign.target, file, true);
      tally.inputs++;
      if (verdict.kind === 'ok') tally.ok++;
      else if (verdict.kind === 'rejected') tally.rejected++;
      else if (known.has(verdict.signature)) tally.repeats++;
      else {
        known.add(verdict.signature);
        const problem = `${verdict.reason}: ${verdict.message}`;
        const hash = saveRegression(campaign, chosen.entry.file, bytes, problem, verdict.signature);
        tally.crashes.set(hash, problem);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return tally;
}

/** Signatures of the crashes saved before, so that a known crash is not saved again. */
function knownSignatures(reader: string): Set<string> {
  const folder = path.join(regressionDir, reader);
  if (!fs.existsSync(folder)) return new Set();
  const infos = fs.readdirSync(folder).filter((name) => name.endsWith('.json'));
  return new Set(
    infos.map((name) => (JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8')) as RegressionInfo).signature),
  );
}

function saveRegression(
  campaign: Campaign,
  seedFile: string,
  bytes: Uint8Array,
  problem: string,
  signature: string,
): string {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const folder = path.join(regressionDir, campaign.reader);
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, hash), bytes);
  const info: RegressionInfo = {
    target: campaign.target,
    seed: seedName(seedFile),
    problem: problem.split('\n')[0].slice(0, 300),
    signature,
  };
  fs.writeFileSync(path.join(folder, `${hash}.json`), JSON.stringify(info, null, 2) + '\n');
  return hash;
}

async function main(): Promise<number> {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 90);
  const seed = Number(process.env.FUZZ_SEED ?? 1);
  const chosen = process.argv.slice(2);
  const selected = chosen.length > 0 ? campaigns.filter((entry) => chosen.includes(entry.reader)) : campaigns;
  const pool = new ReaderPool({ timeoutMs: 10_000 });
  let crashes = 0;
  try {
    for (const campaign of selected) {
      const tally = await fuzzCampaign(campaign, pool, seconds / selected.length, seed);
      crashes += tally.crashes.size;
      process.stdout.write(
        `${campaign.reader}: ${tally.inputs} inputs, ${tally.ok} opened, ${tally.rejected} rejected, ` +
          `${tally.crashes.size} new crashes, ${tally.repeats} repeats of known crashes\n`,
      );
      crashes += tally.repeats;
      for (const [hash, problem] of tally.crashes) process.stdout.write(`  ${hash} ${problem.slice(0, 200)}\n`);
    }
  } finally {
    pool.close();
  }
  return crashes > 0 ? 1 : 0;
}

void main().then((code) => {
  process.exitCode = code;
});
