import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { noWorse } from '../../../bench/auto-table';
import { exportDigits } from '../../../examples/digits-mlp/digits';
import type { CompareReport, PruneReport } from '../../../src/core/reports';
import { autoCases, exampleCase, type AutoCase } from '../../helpers/auto-cases';
import { runCli } from '../../helpers/cli';

const sparsities = [0.5, 0.7, 0.8, 0.9, 0.95];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-auto-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function representativeCases(): AutoCase[] {
  const names = ['keras-h5-iris-mlp', 'keras-h5-boston-housing-regression', 'keras-h5-weights-only-desharnais-mlp'];
  const cases = autoCases().filter((entry) => names.includes(entry.name));
  exportDigits(scratch);
  return [...cases, exampleCase(scratch)];
}

describe('auto method', () => {
  for (const entry of representativeCases()) {
    it(`no worse than magnitude on ${entry.name}`, async () => {
      const { code, stdout, stderr } = await runCli([
        'compare', entry.model, ...entry.args, '--methods', 'magnitude,auto', '--sparsities', sparsities.join(','), '--json', '--quiet',
      ]);
      assert.equal(code, 0, stderr);
      const report: CompareReport = JSON.parse(stdout);
      assert.equal(report.auto?.length, sparsities.length);
      sparsities.forEach((sparsity, index) => {
        const magnitude = report.methods[0].results[index][report.metric] as number;
        const auto = report.auto?.[index];
        const value = auto?.metrics[report.metric] as number;
        assert.ok(noWorse(report.metric, value, magnitude), `${entry.name} at ${sparsity}: auto (${auto?.winner}) ${report.metric} ${value} vs magnitude ${magnitude}`);
      });
    });
  }

  it('prune report lists every candidate', async () => {
    const iris = autoCases().find((entry) => entry.name === 'keras-h5-iris-mlp') as AutoCase;
    const out = path.join(scratch, 'iris.auto.h5');
    const { code, stdout, stderr } = await runCli(['prune', iris.model, ...iris.args, '--sparsity', '0.8', '--out', out, '--json', '--quiet']);
    assert.equal(code, 0, stderr);
    const report: PruneReport = JSON.parse(stdout);
    assert.equal(report.method, 'auto');
    assert.equal(report.auto?.candidates.length, 10);
    assert.ok(report.auto?.candidates.some((candidate) => candidate.name === report.auto?.winner));
    assert.match(report.auto?.reason ?? '', /lowest validation cross-entropy/);
    assert.equal(report.auto?.validationSamples, 20);
    assert.equal(report.chosen.method, report.auto?.candidates.find((candidate) => candidate.name === report.auto?.winner)?.method);
  });

  it('candidates option narrows the list', async () => {
    const iris = autoCases().find((entry) => entry.name === 'keras-h5-iris-mlp') as AutoCase;
    const out = path.join(scratch, 'iris.narrow.h5');
    const { code, stdout, stderr } = await runCli([
      'prune', iris.model, ...iris.args, '--sparsity', '0.5', '--candidates', 'magnitude,ecp-1/global', '--out', out, '--json', '--quiet',
    ]);
    assert.equal(code, 0, stderr);
    const report: PruneReport = JSON.parse(stdout);
    assert.deepEqual(report.auto?.candidates.map((candidate) => candidate.name), ['magnitude/global', 'magnitude/layer', 'ecp-1/global']);
  });

  it('unknown candidate exits 2', async () => {
    const iris = autoCases().find((entry) => entry.name === 'keras-h5-iris-mlp') as AutoCase;
    const { code, stderr } = await runCli(['prune', iris.model, ...iris.args, '--sparsity', '0.5', '--candidates', 'best']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown candidate 'best'/);
  });
});
