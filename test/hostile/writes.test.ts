/**
 * Failed writes lose nothing: a read-only output folder and a full disk give a one-line error
 * naming the cause, the original stays unchanged, and no partial or temporary file is left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import * as path from 'node:path';
import { after, describe, it, mock } from 'node:test';
import { PruneLensError } from '../../src/core/errors';
import { runPrune } from '../../src/core/jobs';
import { copyCorpusFolder, describeCliFailure, hashTree, runCliTraced, temporaryFolder } from './helpers';

const work = temporaryFolder('writes');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const settings = {
  method: 'magnitude' as const,
  reference: 'logits' as const,
  seed: 0,
  batchSize: 256,
  sparsity: 0.5,
  steps: 1,
  scope: 'global' as const,
  maxLayerSparsity: 0.99,
  missingBias: 'add' as const,
};

const models: { folder: string; file: string }[] = [
  { folder: 'keras-h5-iris-mlp', file: 'iris_model.h5' },
  { folder: 'keras3-iris-mlp', file: 'iris_model.keras' },
  { folder: 'tfjs-layers-maternal-health-mlp', file: 'model.json' },
  { folder: 'onnx-extdata-sb3-dqn-cartpole', file: 'model.onnx' },
  { folder: 'safetensors-tinygrad-mnist-mlp-nobias', file: 'model.safetensors' },
  { folder: 'pytorch-pth-mnist-mlp', file: 'mlp.pth' },
];

/** Makes `folder` immutable with chattr (root ignores permission bits); false when unsupported. */
function makeImmutable(folder: string, on: boolean): boolean {
  return spawnSync('chattr', [on ? '+i' : '-i', folder]).status === 0;
}

const canChattr = (() => {
  const probe = path.join(work, 'probe');
  fs.mkdirSync(probe);
  const ok = makeImmutable(probe, true);
  if (ok) makeImmutable(probe, false);
  return ok;
})();

describe('read-only output folder', { skip: !canChattr && 'chattr +i is not permitted here' }, () => {
  for (const { folder, file } of models) {
    it(`reports it for ${file}`, async () => {
      const source = copyCorpusFolder(folder, path.join(work, `ro-${folder}`));
      const output = path.join(work, `ro-out-${folder}`);
      fs.mkdirSync(output);
      const sourceHashes = hashTree(source);
      makeImmutable(output, true);
      try {
        const out = path.join(output, `pruned-${file}`);
        await assert.rejects(runPrune({ model: path.join(source, file), output: out }, settings), (error: unknown) => {
          assert.ok(error instanceof PruneLensError, String(error));
          assert.match(error.message, /read-only/);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        });
        assert.deepEqual(fs.readdirSync(output), []);
      } finally {
        makeImmutable(output, false);
      }
      assert.deepEqual(hashTree(source), sourceHashes);
    });
  }

  it('reports it through the CLI', async () => {
    const source = copyCorpusFolder('keras-h5-iris-mlp', path.join(work, 'ro-cli'));
    const output = path.join(work, 'ro-cli-out');
    fs.mkdirSync(output);
    makeImmutable(output, true);
    try {
      const run = await runCliTraced(['prune', path.join(source, 'iris_model.h5'), '--sparsity', '0.5', '--method', 'magnitude', '--out', path.join(output, 'p.h5'), '--quiet']);
      assert.equal(describeCliFailure(run), null, run.stderr);
      assert.match(run.stderr, /read-only/);
      assert.deepEqual(fs.readdirSync(output), []);
    } finally {
      makeImmutable(output, false);
    }
  });
});

describe('full disk', () => {
  for (const { folder, file } of models) {
    it(`reports it for ${file}`, async () => {
      const source = copyCorpusFolder(folder, path.join(work, `full-${folder}`));
      const sourceHashes = hashTree(source);
      const output = path.join(work, `full-out-${folder}`);
      fs.mkdirSync(output);
      const full = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      // Writers either write whole files or copy the original and patch it; both fail here.
      const writeFile = mock.method(fsPromises, 'writeFile', full);
      const copyFile = mock.method(fsPromises, 'copyFile', full);
      try {
        await assert.rejects(runPrune({ model: path.join(source, file), output: path.join(output, file) }, settings), (error: unknown) => {
          assert.ok(error instanceof PruneLensError, String(error));
          assert.match(error.message, /disk is full/);
          return true;
        });
      } finally {
        writeFile.mock.restore();
        copyFile.mock.restore();
      }
      assert.deepEqual(fs.readdirSync(output), []);
      assert.deepEqual(hashTree(source), sourceHashes);
    });
  }
});

describe('output names of weight files', () => {
  it('keeps TF.js shards the output would rename over', async () => {
    const folder = copyCorpusFolder('tfjs-layers-maternal-health-mlp', path.join(work, 'shard-names'));
    // The model's own shard has exactly the name the pruned shard of out.json would get.
    const model = path.join(folder, 'model.json');
    const json = JSON.parse(fs.readFileSync(model, 'utf8'));
    json.weightsManifest[0].paths = ['out.group1-shard1of1.bin'];
    fs.writeFileSync(model, JSON.stringify(json));
    fs.renameSync(path.join(folder, 'group1-shard1of1.bin'), path.join(folder, 'out.group1-shard1of1.bin'));
    const before = hashTree(folder);
    const out = path.join(folder, 'out.json');
    const report = await runPrune({ model, output: out }, settings);
    const after = hashTree(folder);
    for (const [name, hash] of before) assert.equal(after.get(name), hash, `${name} changed`);
    assert.ok(report.files.some((file) => file.endsWith('out.pruned.group1-shard1of1.bin')), report.files.join(', '));
  });
});

describe('outputs that are not files', () => {
  const model = path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus', 'keras-h5-iris-mlp', 'iris_model.h5');

  it('counts a dangling link as existing', async () => {
    const folder = path.join(work, 'dangling');
    fs.mkdirSync(folder, { recursive: true });
    const link = path.join(folder, 'out.h5');
    fs.symlinkSync(path.join(folder, 'missing.h5'), link);
    await assert.rejects(runPrune({ model, output: link }, settings), /out\.h5: already exists/);
    assert.equal(fs.lstatSync(link).isSymbolicLink(), true);
  });

  it('rejects a folder or device with --force', async () => {
    await assert.rejects(runPrune({ model, output: work, overwrite: true }, settings), /is a folder; pass a file path/);
    await assert.rejects(runPrune({ model, output: '/dev/null', overwrite: true }, settings), /is not a regular file/);
    assert.equal(fs.statSync('/dev/null').isCharacterDevice(), true);
  });
});
