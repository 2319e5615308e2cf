/**
 * NaN and infinity in weights and in data. Loading and inspecting such a model works. Every job
 * that computes (score, evaluate, prune, sensitivity, compare) rejects it with a one-line error
 * naming the file and the layer. The data loader rejects NaN and infinite values.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadDataset } from '../../src/core/data';
import { PruneLensError } from '../../src/core/errors';
import { runCompare, runEvaluate, runInspect, runPrune, runScore, runSensitivity } from '../../src/core/jobs';
import { describeCliFailure, runCliTraced, temporaryFolder, writesOutside } from './helpers';

const work = temporaryFolder('non-finite');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const seed = path.join(__dirname, '..', 'fuzz', 'seeds', 'small.safetensors');

/** Copies the 3-4-2 seed model with `value` written into one kernel weight of `fc1`. */
function modelWith(value: number, name: string): string {
  const bytes = new Uint8Array(fs.readFileSync(seed));
  const view = new DataView(bytes.buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  view.setFloat32(8 + headerLength + header['fc1.weight'].data_offsets[0] + 4, value, true);
  const file = path.join(work, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const dataFile = path.join(work, 'data.csv');
fs.writeFileSync(dataFile, 'a,b,c,label\n' + Array.from({ length: 40 }, (_, i) => `${i % 3},${i % 5},${i % 7},${i % 2}`).join('\n') + '\n');
const data = { data: dataFile, labelColumn: 'label' };
const score = { method: 'ecp' as const, reference: 'logits' as const, seed: 0, batchSize: 64 };
const prune = { ...score, sparsity: 0.5, steps: 2, scope: 'global' as const, maxLayerSparsity: 0.99, missingBias: 'add' as const };

async function assertNonFiniteRejected(run: () => Promise<unknown>, file: string): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof PruneLensError, String(error));
    assert.match(error.message, new RegExp(`${path.basename(file)}: layer fc1 has 1 NaN or infinite kernel values`));
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
}

describe('non-finite weights', () => {
  for (const [label, value] of [['NaN', NaN], ['infinity', Infinity], ['negative infinity', -Infinity]] as const) {
    it(`inspects a model with ${label}`, async () => {
      const file = modelWith(value, `inspect-${label.replace(/\W/g, '')}.safetensors`);
      const report = await runInspect({ model: file });
      assert.equal(report.layers.filter((layer) => layer.type === 'Dense').length, 2);
    });

    it(`rejects computing on ${label}`, async () => {
      const file = modelWith(value, `compute-${label.replace(/\W/g, '')}.safetensors`);
      const output = path.join(work, `out-${label.replace(/\W/g, '')}.safetensors`);
      await assertNonFiniteRejected(() => runScore({ model: file, data }, score), file);
      await assertNonFiniteRejected(() => runEvaluate({ model: file, data }), file);
      await assertNonFiniteRejected(() => runPrune({ model: file, data, output }, prune), file);
      await assertNonFiniteRejected(() => runPrune({ model: file, output }, { ...prune, method: 'magnitude' }), file);
      await assertNonFiniteRejected(() => runSensitivity({ model: file, data }, { ...score, sparsities: [0.5] }), file);
      const compare = { ...prune, entries: [{ method: 'magnitude' as const, steps: 1 }], sparsities: [0.5] };
      await assertNonFiniteRejected(() => runCompare({ model: file, data }, compare), file);
      assert.equal(fs.existsSync(output), false);
    });
  }

  it('rejects NaN weights through the CLI', async () => {
    const file = modelWith(NaN, 'cli.safetensors');
    const run = await runCliTraced(['prune', file, '--sparsity', '0.5', '--method', 'magnitude', '--quiet']);
    assert.equal(describeCliFailure(run), null, run.stderr);
    assert.match(run.stderr, /NaN or infinite kernel values/);
    assert.deepEqual(writesOutside(run.accesses, [work]), []);
    assert.deepEqual(fs.readdirSync(work).filter((name) => name.startsWith('cli.pruned')), []);
  });
});

describe('non-finite data', () => {
  for (const [label, cell] of [['NaN', 'NaN'], ['infinity', 'inf'], ['an empty cell', '']] as const) {
    it(`rejects data with ${label}`, async () => {
      const file = path.join(work, `data-${label.replace(/\W/g, '')}.csv`);
      fs.writeFileSync(file, `a,b,c,label\n1,2,3,0\n1,${cell},3,1\n`);
      await assert.rejects(
        () => loadDataset({ data: file, labelColumn: 'label' }),
        (error: unknown) => {
          assert.ok(error instanceof PruneLensError, String(error));
          assert.match(error.message, /line 3/);
          assert.ok(error.message.includes(path.basename(file)));
          return true;
        },
      );
    });
  }
});
