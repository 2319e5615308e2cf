import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateExtension, copyFromCorpus, waitFor } from './helpers';

function customTab(model: vscode.Uri): vscode.Tab | undefined {
  return vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .find(
      (tab) => tab.input instanceof vscode.TabInputCustom && tab.input.uri.fsPath === model.fsPath,
    );
}

describe('model editor', () => {
  before(async () => {
    await activateExtension();
  });
  afterEach(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens an .h5 file by default', async () => {
    const model = copyFromCorpus('editor-h5', 'keras-h5-iris-mlp/iris_model.h5');
    await vscode.commands.executeCommand('vscode.open', model);
    await waitFor(() => customTab(model) !== undefined, 15_000, 'the model editor');
    const input = customTab(model)?.input as vscode.TabInputCustom;
    assert.equal(input.viewType, 'prunelens.modelEditor');
  });

  it('opens an ONNX file by default', async () => {
    const model = copyFromCorpus('editor-onnx', 'onnx-pytorch-mnist-mlp/mnist_mlp.onnx');
    await vscode.commands.executeCommand('vscode.open', model);
    await waitFor(() => customTab(model) !== undefined, 15_000, 'the model editor');
  });

  it('opens model.json only on request', async () => {
    const model = copyFromCorpus(
      'editor-tfjs',
      'tfjs-layers-maternal-health-mlp/model.json',
      'tfjs-layers-maternal-health-mlp/group1-shard1of1.bin',
    );
    await vscode.commands.executeCommand('vscode.open', model);
    await waitFor(
      () => vscode.window.activeTextEditor?.document.uri.fsPath === model.fsPath,
      10_000,
      'the text editor',
    );
    assert.equal(customTab(model), undefined);
    await vscode.commands.executeCommand('vscode.openWith', model, 'prunelens.modelEditor');
    await waitFor(() => customTab(model) !== undefined, 15_000, 'the model editor');
  });
});
