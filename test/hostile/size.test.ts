/**
 * The size gate: `modelSize` counts weight and architecture files, and larger models are rejected
 * before loading.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { PruneLensError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats';
import { modelSize } from '../../src/core/formats/size';
import { corpusPath } from '../helpers/corpus';
import { describeCliFailure, runCliTraced, temporaryFolder } from './helpers';

/** Sum of the sizes of every file of a corpus folder except SOURCE.md and `skip`. */
function folderBytes(folder: string, skip: string[] = []): number {
  return fs
    .readdirSync(corpusPath(folder))
    .filter((name) => name !== 'SOURCE.md' && !skip.includes(name))
    .reduce((sum, name) => sum + fs.statSync(corpusPath(folder, name)).size, 0);
}

describe('model size', () => {
  it('counts every TF.js shard', async () => {
    const folder = 'tfjs-layers-legacy-ai2048-conv-dense';
    assert.equal(await modelSize(corpusPath(folder, 'model.json')), folderBytes(folder));
  });

  it('counts ONNX external data', async () => {
    const folder = 'onnx-extdata-sb3-dqn-cartpole';
    assert.equal(await modelSize(corpusPath(folder, 'model.onnx')), folderBytes(folder));
  });

  it('counts a single-file model alone', async () => {
    const file = corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
    assert.equal(await modelSize(file), fs.statSync(file).size);
  });

  it('counts a Keras architecture file', async () => {
    for (const folder of ['keras-h5-weights-only-desharnais-mlp', 'keras-h5-weights-yaml-mnist-mlp-sigmoid']) {
      assert.equal(await modelSize(corpusPath(folder, 'mlp.h5')), folderBytes(folder), folder);
    }
  });

  it('counts a state dict sidecar', async () => {
    const folder = temporaryFolder('size');
    try {
      const model = path.join(folder, 'model.safetensors');
      fs.copyFileSync(corpusPath('safetensors-tinygrad-mnist-mlp-nobias', 'model.safetensors'), model);
      const weights = fs.statSync(model).size;
      assert.equal(await modelSize(model), weights);
      const sidecar = '[{"weight": "l1.weight", "activation": "relu"}, {"weight": "l2.weight"}]';
      fs.writeFileSync(`${model}.arch.json`, sidecar);
      assert.equal(await modelSize(model), weights + sidecar.length);
      const named = path.join(folder, 'named.json');
      fs.writeFileSync(named, `${sidecar}   `);
      assert.equal(await modelSize(model, named), weights + sidecar.length + 3);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('rejects a model whose sidecar passes the limit', async () => {
    const file = corpusPath('keras-h5-weights-only-desharnais-mlp', 'mlp.h5');
    await assert.rejects(openModel(file, { maxBytes: fs.statSync(file).size }), /mlp\.h5: is 1 MB with its weight files/);
  });

  it('rejects a model above the limit', async () => {
    const file = corpusPath('tfjs-layers-legacy-ai2048-conv-dense', 'model.json');
    const size = folderBytes('tfjs-layers-legacy-ai2048-conv-dense');
    await assert.rejects(openModel(file, { maxBytes: size - 1 }), (error: unknown) => {
      assert.ok(error instanceof PruneLensError);
      assert.match(error.message, /model\.json: is 4 MB with its weight files, above the 3 MB limit; .*--max-size 4/);
      return true;
    });
    const loaded = await openModel(file, { maxBytes: size });
    assert.ok(loaded.network.layers.length > 0);
  });

  it('rejects a model above --max-size', async () => {
    const file = corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
    const run = await runCliTraced(['inspect', file, '--max-size', '1']);
    assert.equal(describeCliFailure(run), null, run.stderr);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`${path.basename(file)}: is 3 MB .*--max-size 3`));
    const invalid = await runCliTraced(['inspect', file, '--max-size', 'big']);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /--max-size/);
  });
});
