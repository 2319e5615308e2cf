import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InspectReport, PruneReport } from '../../src/core/reports';
import { activateExtension, copyFromCorpus, extensionId, irisData, repoRoot } from './helpers';

/** Counts zero kernel values of the Dense layers with h5py, when Python has it. */
function zeroFractionWithH5py(file: string): number | undefined {
  const script = [
    'import sys, h5py, numpy',
    'f = h5py.File(sys.argv[1], "r")',
    'kernels = []',
    'f["model_weights"].visititems(lambda name, item: kernels.append(item[()]) if name.endswith("kernel") and isinstance(item, h5py.Dataset) else None)',
    'print(sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

describe('installed package', () => {
  it('is installed from the vsix', () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not installed`);
    assert.notEqual(
      path.resolve(extension.extensionPath),
      repoRoot,
      'loaded from the repository, not the .vsix',
    );
    assert.equal(path.basename(path.dirname(extension.extensionPath)), 'extensions');
    const built = fs
      .readdirSync(path.join(repoRoot, 'dist'))
      .filter((name) => /\.(js|css|wasm)$/.test(name));
    for (const name of built.filter((file) => file !== 'cli.js')) {
      assert.ok(
        fs.existsSync(path.join(extension.extensionPath, 'dist', name)),
        `dist/${name} is missing`,
      );
    }
    assert.ok(fs.existsSync(path.join(extension.extensionPath, 'dist', 'worker.js')));
    assert.ok(
      fs.existsSync(path.join(extension.extensionPath, 'dist', 'tfjs-backend-wasm-simd.wasm')),
    );
    assert.ok(!fs.existsSync(path.join(extension.extensionPath, 'src')), 'sources were packaged');
    assert.ok(
      !fs.existsSync(path.join(extension.extensionPath, 'node_modules')),
      'node_modules were packaged',
    );
  });

  it('prunes the iris model to 90%', async () => {
    const api = await activateExtension();
    const model = copyFromCorpus('package', 'keras-h5-iris-mlp/iris_model.h5');
    const report = await vscode.commands.executeCommand<PruneReport>(
      'prunelens.pruneModel',
      model,
      {
        method: 'ecp',
        sparsity: 0.9,
        steps: 10,
        data: irisData(),
      },
    );
    assert.ok(report, `no report; errors: ${api.shownErrors.join(' | ')}`);
    const output = path.join(path.dirname(model.fsPath), 'iris_model.pruned-90.h5');
    assert.equal(report.output, output);
    assert.ok(Math.abs(report.sparsity - 0.9) < 0.001, `report says ${report.sparsity}`);
    const inspected = await api.worker.request<InspectReport>('inspect', { model: output });
    assert.ok(Math.abs(inspected.sparsity - 0.9) < 0.001, `file has ${inspected.sparsity} zeros`);
    const independent = zeroFractionWithH5py(output);
    if (independent === undefined)
      console.log('      (h5py not available; skipped the independent zero count)');
    else assert.ok(Math.abs(independent - 0.9) < 0.001, `h5py counts ${independent} zeros`);
  });
});
