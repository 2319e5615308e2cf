import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DataOptions } from '../../src/core/data/types';
import type { CompareReport, InspectReport, SensitivityReport } from '../../src/core/reports';
import type { PruneLensApi } from '../../src/extension/extension';
import { activateExtension, copyFromCorpus, freshFolder, irisData, waitFor } from './helpers';

const irisModel = 'keras-h5-iris-mlp/iris_model.h5';

describe('commands', () => {
  let api: PruneLensApi;
  before(async () => {
    api = await activateExtension();
  });

  it('inspects a corpus model', async () => {
    const model = copyFromCorpus('inspect', irisModel);
    const report = await vscode.commands.executeCommand<InspectReport>(
      'prunelens.inspectModel',
      model,
      { open: false },
    );
    assert.ok(report, 'no report');
    assert.equal(report.format, 'keras-h5');
    assert.equal(report.params, 2499);
    const dense = report.layers.filter((layer) => layer.units !== undefined);
    assert.deepEqual(
      dense.map((layer) => layer.units),
      [64, 32, 3],
    );
  });

  it('opens the model editor from inspect', async () => {
    const model = copyFromCorpus('inspect-open', irisModel);
    await vscode.commands.executeCommand('prunelens.inspectModel', model);
    await waitFor(() => isCustomTab(model), 10_000, 'the PruneLens editor tab');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('saves calibration data in the recipe', async () => {
    const model = copyFromCorpus('data', irisModel);
    const data = await vscode.commands.executeCommand<DataOptions>(
      'prunelens.selectCalibrationData',
      model,
      {
        data: irisData(),
        standardize: true,
      },
    );
    assert.ok(data, 'no data options returned');
    assert.equal(data.mean && (data.mean as number[]).length, 4);
    assert.equal(data.std && (data.std as number[]).length, 4);
    const recipe = JSON.parse(fs.readFileSync(`${model.fsPath}.prunelens.json`, 'utf8'));
    assert.equal(recipe.data.labelColumn, 4);
    assert.ok(!path.isAbsolute(recipe.data.data), `stored path ${recipe.data.data} is absolute`);
    assert.equal(path.resolve(path.dirname(model.fsPath), recipe.data.data), irisData().data);
  });

  it('opens a recipe with defaults', async () => {
    const model = copyFromCorpus('recipe', irisModel);
    const uri = await vscode.commands.executeCommand<vscode.Uri>('prunelens.openRecipe', model);
    assert.equal(uri?.fsPath, `${model.fsPath}.prunelens.json`);
    const recipe = JSON.parse(fs.readFileSync(uri.fsPath, 'utf8'));
    assert.equal(recipe.method, 'ecp');
    assert.equal(recipe.steps, 10);
    await waitFor(
      () => vscode.window.activeTextEditor?.document.uri.fsPath === uri.fsPath,
      5000,
      'the recipe editor',
    );
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('analyzes layer sensitivity', async () => {
    const model = copyFromCorpus('sensitivity', irisModel);
    const report = await vscode.commands.executeCommand<SensitivityReport>(
      'prunelens.analyzeSensitivity',
      model,
      {
        data: irisData(),
        method: 'magnitude',
        open: false,
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    assert.equal(report.metric, 'accuracy');
    assert.deepEqual(
      report.layers.map((layer) => layer.name),
      ['dense_9', 'dense_10', 'dense_11'],
    );
    for (const layer of report.layers) assert.equal(layer.values.length, report.sparsities.length);
  });

  it('compares pruning methods', async () => {
    const model = copyFromCorpus('compare', irisModel);
    const report = await vscode.commands.executeCommand<CompareReport>(
      'prunelens.compareMethods',
      model,
      {
        data: irisData(),
        open: false,
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    const methods = report.methods.map((entry) => entry.method);
    assert.ok(methods.includes('ecp'), `methods: ${methods.join(', ')}`);
    assert.ok(methods.includes('magnitude'));
    for (const entry of report.methods)
      assert.equal(entry.results.length, report.sparsities.length);
  });

  it('shows an error for a broken file', async () => {
    const folder = freshFolder('broken');
    const broken = path.join(folder, 'broken.h5');
    fs.writeFileSync(broken, 'not an HDF5 file at all\n'.repeat(20));
    const before = api.shownErrors.length;
    const result = await vscode.commands.executeCommand(
      'prunelens.inspectModel',
      vscode.Uri.file(broken),
      { open: false },
    );
    assert.equal(result, undefined);
    assert.equal(api.shownErrors.length, before + 1);
    assert.match(api.shownErrors[before], /broken\.h5/);
  });

  it('shows an error for a text file named model.json', async () => {
    const folder = freshFolder('json');
    const file = path.join(folder, 'model.json');
    fs.writeFileSync(file, JSON.stringify({ hello: 'world' }));
    const before = api.shownErrors.length;
    await vscode.commands.executeCommand('prunelens.inspectModel', vscode.Uri.file(file), {
      open: false,
    });
    assert.match(api.shownErrors[before] ?? '', /model\.json.*(JSON|TensorFlow\.js)/);
  });
});

function isCustomTab(model: vscode.Uri): boolean {
  return vscode.window.tabGroups.all.some((group) =>
    group.tabs.some(
      (tab) =>
        tab.input instanceof vscode.TabInputCustom &&
        tab.input.viewType === 'prunelens.modelEditor' &&
        tab.input.uri.fsPath === model.fsPath,
    ),
  );
}
