/** The size gate: `modelSize` counts weight files, and larger models are rejected before loading. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { PruneLensError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats';
import { modelSize } from '../../src/core/formats/size';
import { corpusPath } from '../helpers/corpus';
import { describeCliFailure, runCliTraced } from './helpers';

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
