import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InspectReport } from '../../src/core/reports';
import { activateExtension, copyFromCorpus } from './helpers';

// The harness runs this file a second time in a workspace that is not trusted.
describe('untrusted workspace', () => {
  before(function () {
    if (vscode.workspace.isTrusted) this.skip();
  });

  it('computes nothing without consent', async () => {
    await activateExtension();
    const model = copyFromCorpus('untrusted', 'keras-h5-iris-mlp/iris_model.h5');
    const pruned = await vscode.commands.executeCommand('prunelens.pruneModel', model, {
      method: 'magnitude',
      sparsity: 0.5,
      allowUntrusted: false,
    });
    assert.equal(pruned, undefined);
    const files = fs.readdirSync(path.dirname(model.fsPath));
    assert.deepEqual(files, ['iris_model.h5']);
  });

  it('computes after consent', async () => {
    await activateExtension();
    const model = copyFromCorpus('untrusted-allowed', 'keras-h5-iris-mlp/iris_model.h5');
    const report = await vscode.commands.executeCommand<InspectReport>(
      'prunelens.inspectModel',
      model,
      {
        allowUntrusted: true,
        open: false,
      },
    );
    assert.equal(report?.params, 2499);
  });
});
