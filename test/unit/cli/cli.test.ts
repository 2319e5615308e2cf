import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { EvaluateReport, InspectReport, PruneReport } from '../../../src/core/reports';
import { runCli } from '../../helpers/cli';
import { corpusPath } from '../../helpers/corpus';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-cli-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const iris = corpusPath('keras-h5-iris-mlp', 'iris_model.h5');
const mnistModel = corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
const mnistData = [
  '--data', corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz'),
  '--labels', corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz'),
  '--scale', '0.00392156862745098',
];

function digest(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('cli arguments', () => {
  for (const command of ['inspect', 'score', 'prune', 'evaluate', 'sensitivity', 'compare']) {
    it(`${command} --help exits 0`, async () => {
      const { code, stdout } = await runCli([command, '--help']);
      assert.equal(code, 0);
      assert.match(stdout, new RegExp(`Usage: prunelens ${command}`));
    });
  }

  it('missing sparsity exits 2', async () => {
    const { code, stderr } = await runCli(['prune', iris]);
    assert.equal(code, 2);
    assert.match(stderr, /--sparsity/);
  });

  it('sparsity above one exits 2', async () => {
    const { code, stderr } = await runCli(['prune', iris, '--sparsity', '1.5', '--method', 'magnitude']);
    assert.equal(code, 2);
    assert.match(stderr, /--sparsity must be a fraction between 0 and 1/);
  });

  it('unknown method exits 2', async () => {
    const { code, stderr } = await runCli(['prune', iris, '--sparsity', '0.5', '--method', 'best']);
    assert.equal(code, 2);
    assert.match(stderr, /--method must be one of/);
  });

  it('ecp without data exits 2', async () => {
    const { code, stderr } = await runCli(['prune', iris, '--sparsity', '0.5', '--method', 'ecp', '--out', path.join(scratch, 'x.h5')]);
    assert.equal(code, 2);
    assert.match(stderr, /needs calibration data; pass it with --data/);
  });

  it('missing model exits 1 naming it', async () => {
    const missing = path.join(scratch, 'nope.h5');
    const { code, stderr } = await runCli(['inspect', missing]);
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1);
    assert.match(stderr, /nope\.h5: file not found/);
  });

  it('prune without data uses magnitude', async () => {
    const out = path.join(scratch, 'no-data.h5');
    const { code, stdout, stderr } = await runCli(['prune', iris, '--sparsity', '0.5', '--out', out, '--json']);
    assert.equal(code, 0, stderr);
    assert.equal((JSON.parse(stdout) as PruneReport).method, 'magnitude');
  });

  it('csv given as model names the kind', async () => {
    const { code, stderr } = await runCli(['inspect', corpusPath('data', 'sklearn-iris', 'iris.csv')]);
    assert.equal(code, 1);
    assert.match(stderr, /iris\.csv: is a CSV file, not a model/);
  });
});

describe('cli prune', () => {
  it('magnitude prune writes the requested sparsity', async () => {
    const out = path.join(scratch, 'iris.pruned.h5');
    const before = digest(iris);
    const { code, stdout, stderr } = await runCli(['prune', iris, '--sparsity', '0.5', '--method', 'magnitude', '--out', out, '--json']);
    assert.equal(code, 0, stderr);
    const report: PruneReport = JSON.parse(stdout);
    assert.equal(report.output, out);
    const inspected = await runCli(['inspect', out, '--json']);
    const summary: InspectReport = JSON.parse(inspected.stdout);
    const zeros = summary.layers.reduce((sum, layer) => sum + (layer.zeros ?? 0), 0);
    assert.equal(zeros, Math.round(0.5 * summary.prunable));
    assert.equal(digest(iris), before);
  });

  it('existing output is not replaced', async () => {
    const out = path.join(scratch, 'taken.h5');
    fs.writeFileSync(out, 'keep me');
    const { code, stderr } = await runCli(['prune', iris, '--sparsity', '0.5', '--method', 'magnitude', '--out', out]);
    assert.equal(code, 1);
    assert.match(stderr, /taken\.h5: already exists; choose another --out or pass --force/);
    assert.equal(fs.readFileSync(out, 'utf8'), 'keep me');
  });

  it('output equal to the model is refused', async () => {
    const copy = path.join(scratch, 'copy.h5');
    fs.copyFileSync(iris, copy);
    const { code, stderr } = await runCli(['prune', copy, '--sparsity', '0.5', '--method', 'magnitude', '--out', copy]);
    assert.equal(code, 2);
    assert.match(stderr, /is the original model/);
    assert.equal(digest(copy), digest(iris));
  });

  it('mnist at 90% keeps 95% accuracy', async () => {
    const out = path.join(scratch, 'mnist.pruned-90.h5');
    const pruned = await runCli(['prune', mnistModel, ...mnistData, '--rows', '0:2000', '--sparsity', '0.9', '--steps', '10', '--out', out, '--quiet']);
    assert.equal(pruned.code, 0, pruned.stderr);
    const inspected: InspectReport = JSON.parse((await runCli(['inspect', out, '--json'])).stdout);
    const zeros = inspected.layers.reduce((sum, layer) => sum + (layer.zeros ?? 0), 0);
    assert.equal(zeros, Math.round(0.9 * inspected.prunable));
    const evaluated = await runCli(['evaluate', out, ...mnistData, '--rows', '5000:10000', '--eval-rows', '5000:10000', '--json', '--quiet']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const report: EvaluateReport = JSON.parse(evaluated.stdout);
    assert.equal(report.samples, 5000);
    assert.ok((report.metrics.accuracy as number) >= 0.95, `accuracy ${report.metrics.accuracy}`);
  });
});
