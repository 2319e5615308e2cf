/** The large-file prompt for calibration data and the data size limit it raises. */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { DataOptions } from '../../src/core/data/types';
import { activateExtension, copyFromCorpus, mnistData } from './helpers';

const mebibyte = 2 ** 20;

describe('large calibration data', () => {
  before(async () => {
    await activateExtension();
    await vscode.workspace
      .getConfiguration('prunelens')
      .update('confirmLoadAboveMB', 1, vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await vscode.workspace
      .getConfiguration('prunelens')
      .update('confirmLoadAboveMB', undefined, vscode.ConfigurationTarget.Global);
  });

  // The MNIST test images are 1.6 MB as gzip and 7.5 MiB inflated, so both pass the 1 MB setting.
  const select = (allowLarge: boolean) =>
    vscode.commands.executeCommand<DataOptions | undefined>(
      'prunelens.selectCalibrationData',
      copyFromCorpus('data-size', 'keras-h5-iris-mlp/iris_model.h5'),
      { data: { ...mnistData(100), maxBytes: mebibyte }, allowLarge },
    );

  it('skips data the user declines', async () => {
    assert.equal(await select(false), undefined);
  });

  it('raises the limit on Load', async () => {
    const data = await select(true);
    assert.ok(data, 'no data options returned');
    assert.equal(data.maxBytes, 8 * mebibyte);
    assert.deepEqual(data.rows, [0, 100]);
  });
});
