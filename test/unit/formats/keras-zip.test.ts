import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { openModel } from '../../../src/core/formats/index';
import { kerasZipFormat } from '../../../src/core/formats/keras-zip';
import { cloneNetwork, denseLayers, layerParams } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import {
  compareH5Script,
  findH5pyPython,
  noH5pyMessage,
  readDatasetsScript,
  runPythonJson,
} from '../../helpers/h5py';

const iris = corpusPath('keras3-iris-mlp/iris_model.keras');
const housing = corpusPath('keras3-ph-housing-regression/mlp_model.keras');

let scratch: string;

before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-zip-'));
});

after(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

/** Returns the archive's entries in order. */
async function entriesOf(file: string): Promise<[string, Uint8Array][]> {
  return Object.entries(unzipSync(new Uint8Array(await fs.readFile(file))));
}

/** Writes a .keras archive whose weights file was changed by a Python h5py script. */
async function rewriteWeights(
  source: string,
  name: string,
  script: string,
  editConfig: (config: string) => string = (config) => config,
): Promise<string> {
  const entries = await entriesOf(source);
  const h5 = path.join(scratch, `${name}.weights.h5`);
  await fs.writeFile(h5, entries.find(([entry]) => entry === 'model.weights.h5')![1]);
  runPythonJson(script, [h5]);
  const zippable: Zippable = {};
  for (const [entry, data] of entries) {
    zippable[entry] = entry === 'model.weights.h5' ? new Uint8Array(await fs.readFile(h5)) : data;
    if (entry === 'config.json')
      zippable[entry] = new TextEncoder().encode(editConfig(new TextDecoder().decode(data)));
  }
  const out = path.join(scratch, `${name}.keras`);
  await fs.writeFile(out, zipSync(zippable, { level: 0 }));
  return out;
}

describe('Keras 3 .keras corpus', () => {
  it('loads keras3-iris-mlp', async () => {
    const model = await openModel(iris);
    assert.equal(model.format, 'keras');
    assert.deepEqual(model.network.inputShape, [4]);
    const dense = denseLayers(model.network).map((layer) => [
      layer.name,
      layer.units,
      layer.inputs,
      layer.activation.name,
    ]);
    assert.deepEqual(dense, [
      ['dense_9', 64, 4, 'relu'],
      ['dense_10', 32, 64, 'relu'],
      ['dense_11', 3, 32, 'softmax'],
    ]);
    assert.deepEqual(
      model.network.layers.map((layer) => layer.kind),
      ['dense', 'identity', 'dense', 'dense'],
    );
    const params = model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0);
    assert.equal(params, 2_499);
  });

  it('loads keras3-ph-housing-regression', async () => {
    const model = await openModel(housing);
    assert.deepEqual(model.network.inputShape, [2399]);
    const dense = denseLayers(model.network).map((layer) => [
      layer.units,
      layer.inputs,
      layer.activation.name,
    ]);
    assert.deepEqual(dense, [
      [128, 2399, 'relu'],
      [160, 128, 'relu'],
      [1, 160, 'linear'],
    ]);
    const params = model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0);
    assert.equal(params, 328_001);
  });

  it('matches the iris .h5 copy', async () => {
    const zipped = denseLayers((await openModel(iris)).network);
    const h5 = denseLayers(
      (await openModel(corpusPath('keras-h5-iris-mlp/iris_model.h5'))).network,
    );
    assert.equal(zipped.length, h5.length);
    for (const [index, layer] of zipped.entries()) {
      assert.deepEqual(layer.kernel, h5[index].kernel, `${layer.name} kernel`);
      assert.deepEqual(layer.bias, h5[index].bias, `${layer.name} bias`);
    }
  });

  it('matches h5py for housing', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const model = await openModel(housing);
    const h5 = path.join(scratch, 'housing.weights.h5');
    await fs.writeFile(
      h5,
      (await entriesOf(housing)).find(([name]) => name === 'model.weights.h5')![1],
    );
    const reference = runPythonJson(readDatasetsScript, [
      h5,
      'layers/dense_1/vars/0',
      'layers/dense_1/vars/1',
    ]) as Record<string, { shape: number[]; values: number[] }>;
    const layer = denseLayers(model.network)[1];
    const kernel = reference['layers/dense_1/vars/0'];
    assert.deepEqual(kernel.shape, [128, 160]);
    for (let unit = 0; unit < 160; unit += 7) {
      for (let input = 0; input < 128; input += 5) {
        assert.equal(
          layer.kernel[unit * 128 + input],
          Math.fround(kernel.values[input * 160 + unit]),
        );
      }
    }
    assert.deepEqual(
      Array.from(layer.bias!),
      reference['layers/dense_1/vars/1'].values.map(Math.fround),
    );
  });
});

describe('Keras 3 .keras variable matching', () => {
  it('matches by class order without names', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const script = String.raw`
import sys, json, h5py
with h5py.File(sys.argv[1], 'a') as f:
    for key in f['layers']:
        del f['layers'][key]['vars'].attrs['name']
print('{}')
`;
    const file = await rewriteWeights(iris, 'unnamed', script);
    const reference = denseLayers((await openModel(iris)).network);
    const model = await kerasZipFormat.open(file);
    const layers = denseLayers(model.network);
    assert.deepEqual(
      layers.map((layer) => layer.name),
      ['dense_9', 'dense_10', 'dense_11'],
    );
    for (const [index, layer] of layers.entries())
      assert.deepEqual(layer.kernel, reference[index].kernel);
  });

  it('reads checkpoint dependency names', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const script = String.raw`
import sys, json, h5py
with h5py.File(sys.argv[1], 'a') as f:
    names = {'dense': 'dense_9', 'dense_1': 'dense_10', 'dense_2': 'dense_11', 'dropout': 'dropout_3'}
    target = f.create_group('_layer_checkpoint_dependencies')
    for key, name in names.items():
        f.copy(f['layers'][key], target, name=name)
        del target[name]['vars'].attrs['name']
    del f['layers']
print('{}')
`;
    const file = await rewriteWeights(iris, 'legacy', script);
    const reference = denseLayers((await openModel(iris)).network);
    const layers = denseLayers((await kerasZipFormat.open(file)).network);
    for (const [index, layer] of layers.entries()) {
      assert.deepEqual(layer.kernel, reference[index].kernel);
      assert.deepEqual(layer.bias, reference[index].bias);
    }
  });
});

describe('Keras 3 .keras saving', () => {
  it('round-trips changed weights', async () => {
    const before = createHash('sha256')
      .update(await fs.readFile(iris))
      .digest('hex');
    const model = await kerasZipFormat.open(iris);
    const network = cloneNetwork(model.network);
    const [first, , last] = denseLayers(network);
    first.kernel[3] = 0;
    last.bias![2] = 1.25;
    const out = path.join(scratch, 'iris-pruned.keras');
    assert.deepEqual(await model.save(network, out), { files: [out], notes: [] });
    const after = createHash('sha256')
      .update(await fs.readFile(iris))
      .digest('hex');
    assert.equal(after, before);

    const reopened = denseLayers((await kerasZipFormat.open(out)).network);
    const original = denseLayers(model.network);
    assert.equal(reopened[0].kernel[3], 0);
    assert.notEqual(original[0].kernel[3], 0);
    assert.deepEqual(reopened[0].kernel.subarray(4), original[0].kernel.subarray(4));
    assert.equal(reopened[2].bias![2], 1.25);
    assert.deepEqual(reopened[1].kernel, original[1].kernel);
    assert.deepEqual(reopened[1].bias, original[1].bias);
  });

  for (const source of [iris, housing]) {
    it(`saves ${path.basename(source)} unchanged byte for byte`, async () => {
      const model = await kerasZipFormat.open(source);
      const out = path.join(scratch, `same-${path.basename(source)}`);
      await model.save(cloneNetwork(model.network), out);
      const written = await fs.readFile(out);
      assert.equal(Buffer.compare(written, await fs.readFile(source)), 0);
    });
  }

  it('keeps entry dates and attributes', async () => {
    const model = await kerasZipFormat.open(iris);
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].kernel[0] = 0;
    const out = path.join(scratch, 'iris-dates.keras');
    await model.save(network, out);
    const before = await fs.readFile(iris);
    const after = await fs.readFile(out);
    // Central directory headers: the 12 bytes from "version made by" to the CRC hold the
    // versions, flags, method, time and date; external attributes are at offset 38.
    const headers = (bytes: Buffer) => {
      const found = [];
      for (
        let at = bytes.indexOf('PK\x01\x02', 0, 'latin1');
        at >= 0;
        at = bytes.indexOf('PK\x01\x02', at + 4, 'latin1')
      ) {
        found.push([bytes.subarray(at + 4, at + 16).toString('hex'), bytes.readUInt32LE(at + 38)]);
      }
      return found;
    };
    assert.deepEqual(headers(after), headers(before));
  });

  it('keeps other entries and datasets', async (context) => {
    const model = await kerasZipFormat.open(iris);
    const network = cloneNetwork(model.network);
    const [first, , last] = denseLayers(network);
    first.kernel[3] = 0;
    last.bias![2] = 1.25;
    const out = path.join(scratch, 'iris-entries.keras');
    await model.save(network, out);
    const original = await entriesOf(iris);
    const saved = await entriesOf(out);
    assert.deepEqual(
      saved.map(([name]) => name),
      original.map(([name]) => name),
    );
    for (const [index, [name, data]] of original.entries()) {
      if (name !== 'model.weights.h5') assert.deepEqual(saved[index][1], data, name);
    }
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const before = path.join(scratch, 'entries-before.h5');
    const afterFile = path.join(scratch, 'entries-after.h5');
    await fs.writeFile(before, original.find(([name]) => name === 'model.weights.h5')![1]);
    await fs.writeFile(afterFile, saved.find(([name]) => name === 'model.weights.h5')![1]);
    const diff = runPythonJson(compareH5Script, [before, afterFile]);
    assert.deepEqual(diff, {
      changed: ['/layers/dense/vars/0', '/layers/dense_2/vars/1'],
      problems: [],
    });
  });
});

describe('Keras 3 .keras bias addition', () => {
  it('adds a bias to a layer', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const script = String.raw`
import sys, h5py
with h5py.File(sys.argv[1], 'a') as f:
    del f['layers/dense_1/vars/1']
print('{}')
`;
    const withoutBias = (config: string) => {
      const json = JSON.parse(config);
      json.config.layers[3].config.use_bias = false;
      return JSON.stringify(json);
    };
    const file = await rewriteWeights(iris, 'nobias', script, withoutBias);
    const model = await kerasZipFormat.open(file);
    const layers = denseLayers(model.network);
    assert.equal(layers[1].name, 'dense_10');
    assert.equal(layers[1].bias, null);
    assert.equal(model.canAddBias('dense_10'), true);

    const network = cloneNetwork(model.network);
    denseLayers(network)[1].bias = Float32Array.from({ length: 32 }, (_, i) => i / 4);
    const out = path.join(scratch, 'nobias-out.keras');
    const report = await model.save(network, out);
    assert.match(report.notes.join(' '), /Added a bias to Dense layer dense_10/);

    const reopened = denseLayers((await kerasZipFormat.open(out)).network);
    assert.deepEqual(
      Array.from(reopened[1].bias!),
      Array.from({ length: 32 }, (_, i) => i / 4),
    );
    assert.deepEqual(reopened[2].kernel, layers[2].kernel);
    const saved = Object.fromEntries(await entriesOf(out));
    const config = JSON.parse(new TextDecoder().decode(saved['config.json']));
    assert.equal(config.config.layers[3].config.use_bias, true);
    assert.equal(config.config.layers[1].config.use_bias, true);
  });
});

describe('Keras 3 .keras errors', () => {
  const config = new TextEncoder().encode('{"class_name": "Sequential", "config": {"layers": []}}');

  it('rejects a zip bomb', async () => {
    const file = path.join(scratch, 'bomb.keras');
    const zeros = new Uint8Array(20 * 1024 * 1024);
    await fs.writeFile(
      file,
      zipSync({ 'config.json': config, 'model.weights.h5': [zeros, { level: 9 }] }),
    );
    await assert.rejects(
      kerasZipFormat.open(file),
      /bomb\.keras: entry "model\.weights\.h5" unpacks to 20971520 bytes .*zip bomb/,
    );
  });

  it('rejects parent folder entries', async () => {
    const file = path.join(scratch, 'escape.keras');
    const zip = zipSync({ 'config.json': config, '../evil.txt': new Uint8Array(4) }, { level: 0 });
    await fs.writeFile(file, zip);
    await assert.rejects(
      kerasZipFormat.open(file),
      /escape\.keras: has an entry with an unsafe path "\.\.\/evil\.txt"/,
    );
  });

  it('requires the weights entry', async () => {
    const file = path.join(scratch, 'noweights.keras');
    await fs.writeFile(file, zipSync({ 'config.json': config, 'metadata.json': config }));
    await assert.rejects(
      kerasZipFormat.open(file),
      /noweights\.keras: is a zip without model\.weights\.h5/,
    );
  });

  it('rejects a truncated archive', async () => {
    const file = path.join(scratch, 'truncated.keras');
    await fs.writeFile(file, (await fs.readFile(iris)).subarray(0, 30_000));
    await assert.rejects(kerasZipFormat.open(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.match(error.message, /truncated\.keras: is not a readable zip archive/);
      return true;
    });
  });

  it('matches zips by name or entries', () => {
    const head = zipSync(
      { 'metadata.json': config, 'config.json': config, 'model.weights.h5': config },
      { level: 0 },
    );
    assert.equal(kerasZipFormat.match({ path: 'model.zip', size: head.length, head }), true);
    const other = zipSync({ 'archive/data.pkl': config }, { level: 0 });
    assert.equal(
      kerasZipFormat.match({ path: 'model.pt', size: other.length, head: other }),
      false,
    );
    assert.equal(
      kerasZipFormat.match({ path: 'model.keras', size: 4, head: new Uint8Array([1, 2, 3, 4]) }),
      false,
    );
  });
});
