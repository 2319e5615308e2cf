import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DataOptions } from '../../src/core/data/types';
import type { PruneReport } from '../../src/core/reports';
import type { PruneLensApi } from '../../src/extension/extension';
import { activateExtension, copyFromCorpus, irisData } from './helpers';

/**
 * Runs a command that shows quick picks and accepts the highlighted (first) item of each, as a
 * user pressing Enter would, until the command settles.
 */
async function acceptEveryPrompt<T>(
  command: Thenable<T>,
  timeoutMs: number,
): Promise<{ value: T; accepted: number }> {
  let settled = false;
  const result = Promise.resolve(command).finally(() => (settled = true));
  let accepted = 0;
  const deadline = Date.now() + timeoutMs;
  while (!settled && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (settled) break;
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
    accepted++;
  }
  assert.ok(settled, `the command did not finish within ${timeoutMs} ms`);
  return { value: await result, accepted };
}

describe('prune prompts', () => {
  let api: PruneLensApi;
  before(async () => {
    api = await activateExtension();
  });

  it('walks the quick picks with defaults', async () => {
    const model = copyFromCorpus('prompts', 'keras-h5-iris-mlp/iris_model.h5');
    const recipeFile = `${model.fsPath}.prunelens.json`;
    fs.writeFileSync(recipeFile, JSON.stringify({ version: 1, data: irisData() }));
    const { value: report } = await acceptEveryPrompt(
      vscode.commands.executeCommand<PruneReport>('prunelens.pruneModel', model),
      60_000,
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.method, 'ecp');
    assert.equal(report.scope, 'global');
    assert.equal(report.steps, 10);
    assert.equal(path.basename(report.output), 'iris_model.pruned-50.h5');
    const recipe = JSON.parse(fs.readFileSync(recipeFile, 'utf8'));
    assert.equal(recipe.sparsity, 0.5);
    assert.equal(recipe.method, 'ecp');
  });

  it('offers the saved recipe first', async () => {
    const model = copyFromCorpus('prompts-recipe', 'keras-h5-iris-mlp/iris_model.h5');
    fs.writeFileSync(
      `${model.fsPath}.prunelens.json`,
      JSON.stringify({
        version: 1,
        method: 'obd',
        sparsity: 0.6,
        steps: 2,
        scope: 'global',
        data: irisData(),
      }),
    );
    const { value: report } = await acceptEveryPrompt(
      vscode.commands.executeCommand<PruneReport>('prunelens.pruneModel', model),
      60_000,
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.method, 'obd');
    assert.equal(report.steps, 2);
    assert.equal(path.basename(report.output), 'iris_model.pruned-60.h5');
  });

  it('walks the calibration data prompts', async () => {
    const model = copyFromCorpus('prompts-data', 'keras-h5-iris-mlp/iris_model.h5');
    const recipeFile = `${model.fsPath}.prunelens.json`;
    // The file dialog opens on the recipe's data file, so accepting it chooses that file again.
    fs.writeFileSync(recipeFile, JSON.stringify({ version: 1, data: { data: irisData().data } }));
    const { value: data } = await acceptEveryPrompt(
      vscode.commands.executeCommand<DataOptions>('prunelens.selectCalibrationData', model),
      60_000,
    );
    assert.ok(data, `no data options; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(data.data, irisData().data);
    assert.equal(data.skipLines, 1);
    assert.equal(data.labelColumn, 4);
    assert.equal(data.scale, undefined);
    const recipe = JSON.parse(fs.readFileSync(recipeFile, 'utf8'));
    assert.equal(recipe.data.labelColumn, 4);
  });
});
