import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InspectReport, PruneReport } from '../../src/core/reports';
import type { PruneLensApi } from '../../src/extension/extension';
import { pruneSettings, type PruneJob } from '../../src/extension/job-requests';
import { activateExtension, copyFromCorpus, irisData, mnistData, temporaryFiles } from './helpers';

const irisModel = 'keras-h5-iris-mlp/iris_model.h5';
const mnistModel = 'keras-h5-mnist-mlp-bn-dropout/mnist_mlp.h5';

/** Fraction of zero dense weights in a model file, read back by the worker. */
async function zeroFraction(api: PruneLensApi, file: string): Promise<number> {
  const report = await api.worker.request<InspectReport>('inspect', { model: file });
  return report.sparsity;
}

describe('prune model', () => {
  let api: PruneLensApi;
  before(async () => {
    api = await activateExtension();
  });

  it('prunes by magnitude without data', async () => {
    const model = copyFromCorpus('magnitude', irisModel);
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      {
        method: 'magnitude',
        sparsity: 0.5,
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    const expected = path.join(path.dirname(model.fsPath), 'iris_model.pruned-50.h5');
    assert.equal(report.output, expected);
    assert.ok(fs.existsSync(expected));
    assert.ok(Math.abs((await zeroFraction(api, expected)) - 0.5) < 0.001);
    assert.ok(
      Math.abs((await zeroFraction(api, model.fsPath)) - 0) < 0.001,
      'the original changed',
    );
    assert.ok(
      fs.existsSync(path.join(path.dirname(model.fsPath), 'iris_model.pruned-50.report.md')),
    );
  });

  it('prunes with ECP and data', async () => {
    const model = copyFromCorpus('ecp', irisModel);
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      {
        method: 'ecp',
        sparsity: 0.8,
        steps: 3,
        scope: 'global',
        data: irisData(),
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.method, 'ecp');
    assert.equal(report.steps, 3);
    assert.ok(report.before.metrics.accuracy !== undefined, 'no accuracy before');
    assert.ok(report.after.metrics.accuracy !== undefined, 'no accuracy after');
    assert.ok(Math.abs((await zeroFraction(api, report.output)) - 0.8) < 0.001);
    const recipe = JSON.parse(fs.readFileSync(`${model.fsPath}.prunelens.json`, 'utf8'));
    assert.equal(recipe.method, 'ecp');
    assert.equal(recipe.sparsity, 0.8);
    assert.equal(recipe.steps, 3);
    assert.equal(recipe.data.labelColumn, 4);
  });

  it('prunes with the automatic choice', async () => {
    const model = copyFromCorpus('auto', irisModel);
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      {
        method: 'auto',
        sparsity: 0.8,
        steps: 2,
        data: irisData(),
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.method, 'auto');
    assert.ok(report.auto, 'no automatic choice in the report');
    assert.ok(report.auto.candidates.length >= 2);
    assert.notEqual(report.chosen.method, 'auto');
    const markdown = fs.readFileSync(
      path.join(path.dirname(model.fsPath), 'iris_model.pruned-80.report.md'),
      'utf8',
    );
    assert.match(markdown, /Automatic choice: /);
    assert.ok(Math.abs((await zeroFraction(api, report.output)) - 0.8) < 0.001);
  });

  it('prunes a TF.js model.json', async () => {
    const model = copyFromCorpus(
      'tfjs',
      'tfjs-layers-maternal-health-mlp/model.json',
      'tfjs-layers-maternal-health-mlp/group1-shard1of1.bin',
    );
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      {
        method: 'magnitude',
        sparsity: 0.7,
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(path.basename(report.output), 'model.pruned-70.json');
    assert.ok(report.files.length >= 2, `files: ${report.files.join(', ')}`);
    for (const file of report.files) assert.ok(fs.existsSync(file), `${file} was not written`);
    assert.ok(Math.abs((await zeroFraction(api, report.output)) - 0.7) < 0.001);
  });

  it('reuses the saved recipe', async () => {
    const model = copyFromCorpus('reuse', irisModel);
    fs.writeFileSync(
      `${model.fsPath}.prunelens.json`,
      JSON.stringify({
        version: 1,
        method: 'wanda',
        sparsity: 0.7,
        steps: 1,
        scope: 'layer',
        data: { ...irisData() },
      }),
    );
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      { useRecipe: true },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.method, 'wanda');
    assert.equal(report.scope, 'layer');
    assert.equal(path.basename(report.output), 'iris_model.pruned-70.h5');
    for (const layer of report.layers)
      assert.ok(Math.abs(layer.sparsity - 0.7) < 0.02, `${layer.name}: ${layer.sparsity}`);
  });

  it('keeps an existing output unless allowed', async () => {
    const model = copyFromCorpus('keep', irisModel);
    const existing = path.join(path.dirname(model.fsPath), 'iris_model.pruned-50.h5');
    fs.writeFileSync(existing, 'keep me');
    const report = await vscode.commands.executeCommand('prunelens.pruneModel', model, {
      method: 'magnitude',
      sparsity: 0.5,
      overwrite: false,
    });
    assert.equal(report, undefined);
    assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me');
  });

  it('leaves no file after cancel', async () => {
    const model = copyFromCorpus('cancel', mnistModel);
    const folder = path.dirname(model.fsPath);
    const started = Date.now();
    const errorsBefore = api.shownErrors.length;
    const report = await vscode.commands.executeCommand('prunelens.pruneModel', model, {
      method: 'ecp',
      sparsity: 0.9,
      steps: 10,
      data: mnistData(),
      cancelAtFraction: 0.2,
    });
    assert.equal(report, undefined);
    assert.deepEqual(
      api.shownErrors.slice(errorsBefore),
      [],
      'the prune failed instead of being cancelled',
    );
    assert.ok(Date.now() - started < 60_000);
    const outputs = fs.readdirSync(folder).filter((name) => name.includes('pruned'));
    assert.deepEqual(outputs, []);
    assert.deepEqual(temporaryFiles(folder), []);
  });

  it('stops a running prune within a second', async () => {
    const model = copyFromCorpus('cancel-timing', mnistModel);
    const workersBefore = api.worker.startedWorkers;
    const controller = new AbortController();
    let abortedAt = 0;
    const job: PruneJob = {
      request: { model: model.fsPath, data: mnistData(), output: `${model.fsPath}.out.h5` },
      settings: pruneSettings({ method: 'ecp', sparsity: 0.9, steps: 10, scope: 'global' }),
    };
    const pending = api.worker.request('prune', job, {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.fraction < 0.3 || abortedAt > 0) return;
        abortedAt = Date.now();
        controller.abort();
      },
    });
    await assert.rejects(pending, { name: 'CancelledError' });
    const elapsed = Date.now() - abortedAt;
    console.log(`      a prune cancelled at 30% stopped ${elapsed} ms after the cancel`);
    assert.ok(abortedAt > 0, 'the prune finished before reaching 30%');
    assert.ok(elapsed < 1000, `stopped ${elapsed} ms after cancel`);
    assert.equal(api.worker.startedWorkers, workersBefore, 'the worker had to be restarted');
    assert.ok(!fs.existsSync(job.request.output as string));
  });

  it('keeps the host responsive while pruning', async () => {
    const model = copyFromCorpus('responsive', mnistModel);
    const other = copyFromCorpus('responsive-other', irisModel);
    let longest = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 20);
    let pruneDone = false;
    const prune = Promise.resolve(
      vscode.commands.executeCommand<PruneReport>('prunelens.pruneModel', model, {
        method: 'ecp',
        sparsity: 0.9,
        steps: 10,
        data: mnistData(2000),
      }),
    ).then((report) => {
      pruneDone = true;
      return report;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const recipe = await vscode.commands.executeCommand<vscode.Uri>(
        'prunelens.openRecipe',
        other,
        { open: false },
      );
      assert.ok(recipe, 'Open Recipe returned nothing');
      assert.ok(fs.existsSync(recipe.fsPath));
      assert.equal(
        pruneDone,
        false,
        'the prune finished before the other command; use a longer prune',
      );
      const report = await prune;
      assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
      assert.ok(Math.abs((await zeroFraction(api, report.output)) - 0.9) < 0.001);
    } finally {
      clearInterval(timer);
    }
    console.log(`      longest gap between 20 ms host timer ticks while pruning: ${longest} ms`);
    assert.ok(longest < 1000, `the host's timers stalled for ${longest} ms`);
  });
});
