import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { pruneNetwork } from '../../../src/core/compute/prune';
import { oneLine } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats';
import type { OpenOptions } from '../../../src/core/formats/types';
import { inspectModel } from '../../../src/core/jobs';
import { denseLayers, type Layer, type Network } from '../../../src/core/model';
import type { PruneSettings } from '../../../src/core/reports';
import { corpusDir, corpusPath } from '../../helpers/corpus';

/** One entry of test/corpus-list.json: what a corpus file must load as, or the error it must give. */
interface CorpusEntry {
  file: string;
  format?: string;
  params?: number;
  /** Dense layers as `inputs-units`. */
  dense?: string[];
  runnable?: boolean;
  activation?: OpenOptions['activation'];
  architecture?: string;
  /** Pattern of the one-line error, after the file name. */
  error?: string;
}

const entries: CorpusEntry[] = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'corpus-list.json'), 'utf8'));
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-corpus-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const magnitudeHalf: PruneSettings = {
  method: 'magnitude',
  reference: 'logits',
  seed: 0,
  batchSize: 1024,
  sparsity: 0.5,
  steps: 1,
  scope: 'global',
  maxLayerSparsity: 0.99,
  missingBias: 'add',
};

function openOptions(entry: CorpusEntry): OpenOptions {
  return {
    activation: entry.activation,
    architecture: entry.architecture ? corpusPath(entry.architecture) : undefined,
  };
}

/** Asserts that everything but the dense kernels matches, and kernels match where not pruned. */
function assertOnlyPrunedChanged(reloaded: Network, original: Network, pruned: Network, file: string): void {
  assert.equal(reloaded.layers.length, original.layers.length, `${file}: layer count`);
  reloaded.layers.forEach((layer, index) => {
    const before = original.layers[index];
    const expected = pruned.layers[index];
    assert.equal(layer.kind, before.kind, `${file}: kind of layer ${index}`);
    if (layer.kind !== 'dense') {
      assert.deepEqual(stripName(layer), stripName(before), `${file}: layer '${layer.name}' changed`);
      return;
    }
    const target = expected as typeof layer;
    assert.deepEqual(layer.kernel, target.kernel, `${file}: kernel of '${layer.name}'`);
    assert.deepEqual(layer.bias, target.bias, `${file}: bias of '${layer.name}'`);
    for (let k = 0; k < layer.kernel.length; k++) {
      const kept: number = (before as typeof layer).kernel[k];
      if (layer.kernel[k] !== 0) assert.equal(layer.kernel[k], kept, `${file}: '${layer.name}' weight ${k}`);
    }
  });
}

function stripName(layer: Layer): unknown {
  const copy: Record<string, unknown> = { ...layer };
  delete copy.name;
  return copy;
}

describe('corpus list', () => {
  it('covers every corpus file', () => {
    const listed = new Set(entries.map((entry) => entry.file));
    for (const folder of fs.readdirSync(corpusDir)) {
      if (folder === 'data' || !fs.statSync(path.join(corpusDir, folder)).isDirectory()) continue;
      for (const file of fs.readdirSync(path.join(corpusDir, folder))) {
        if (file === 'SOURCE.md') continue;
        assert.ok(listed.has(`${folder}/${file}`), `${folder}/${file} is not in test/corpus-list.json`);
      }
    }
  });

  for (const entry of entries) {
    const file = corpusPath(entry.file);
    if (entry.error) {
      it(`${entry.file} gives its error`, async () => {
        const error = await openModel(file, openOptions(entry)).then(
          () => null,
          (caught: unknown) => caught,
        );
        assert.ok(error instanceof Error, `${entry.file} loaded but should fail`);
        const message = oneLine(error);
        assert.equal(message, (error as Error).message, 'message is one line');
        assert.ok(message.startsWith(file), `message names the file: ${message}`);
        assert.match(message, new RegExp(entry.error as string));
      });
      continue;
    }

    it(`${entry.file} loads as listed`, async () => {
      const loaded = await openModel(file, openOptions(entry));
      const report = inspectModel(loaded);
      assert.equal(report.format, entry.format);
      assert.equal(report.params, entry.params);
      assert.deepEqual(
        report.layers.filter((layer) => layer.type === 'Dense').map((layer) => `${layer.inputs}-${layer.units}`),
        entry.dense,
      );
      assert.equal(report.runnable, entry.runnable ?? true);
    });

    it(`${entry.file} round trip after pruning`, async () => {
      const loaded = await openModel(file, openOptions(entry));
      const outcome = await pruneNetwork(loaded.network, null, magnitudeHalf, loaded);
      const output = path.join(scratch, entry.file.replace(/\//g, '__').replace(/(\.[a-z]+)?$/, '.pruned$1'));
      const saved = await loaded.save(outcome.network, output);
      assert.ok(fs.existsSync(saved.files[0]));
      const reloaded = await openModel(saved.files[0], openOptions(entry));
      const prunable = denseLayers(reloaded.network).reduce((sum, layer) => sum + layer.kernel.length, 0);
      const zeros = denseLayers(reloaded.network).reduce((sum, layer) => sum + layer.kernel.filter((w) => w === 0).length, 0);
      assert.equal(zeros, Math.round(0.5 * prunable));
      assertOnlyPrunedChanged(reloaded.network, loaded.network, outcome.network, entry.file);
    });
  }
});
