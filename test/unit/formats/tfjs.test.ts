import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openModel } from '../../../src/core/formats/index';
import { tfjsFormat } from '../../../src/core/formats/tfjs';
import { cloneNetwork, denseLayers, isRunnable, layerParams } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';

const maternal = corpusPath('tfjs-layers-maternal-health-mlp/model.json');
const muse = corpusPath('tfjs-layers-ml5-muse-eeg/model.json');
const ai2048 = corpusPath('tfjs-layers-legacy-ai2048-conv-dense/model.json');

let scratch: string;

before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-tfjs-'));
});

after(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

// Tests edit model.json freely, so its parsed form is loosely typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

async function readJson(file: string): Promise<Json> {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

/** Copies a corpus model folder into a fresh scratch folder and returns the new model.json. */
async function copyModel(source: string, name: string): Promise<string> {
  const folder = path.join(scratch, name);
  await fs.cp(path.dirname(source), folder, { recursive: true });
  for (const file of await fs.readdir(folder)) await fs.chmod(path.join(folder, file), 0o644);
  return path.join(folder, path.basename(source));
}

function floatsOf(bytes: Uint8Array): Float32Array {
  return new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
}

describe('TF.js layers corpus', () => {
  it('loads tfjs-layers-maternal-health-mlp', async () => {
    const model = await openModel(maternal);
    assert.equal(model.format, 'tfjs-layers');
    assert.deepEqual(model.network.inputShape, [5]);
    const dense = denseLayers(model.network).map((layer) => [
      layer.name,
      layer.units,
      layer.inputs,
      layer.activation.name,
    ]);
    assert.deepEqual(dense, [
      ['dense_1', 128, 5, 'relu'],
      ['dense_2', 64, 128, 'relu'],
      ['output', 3, 64, 'softmax'],
    ]);
    const params = model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0);
    assert.equal(params, 9_219);
  });

  it('matches the maternal .h5 copy', async () => {
    const tfjs = denseLayers((await openModel(maternal)).network);
    const h5 = denseLayers(
      (await openModel(corpusPath('keras-h5-maternal-health-mlp/my_keras_model.h5'))).network,
    );
    for (const [index, layer] of tfjs.entries()) {
      assert.deepEqual(layer.kernel, h5[index].kernel, `${layer.name} kernel`);
      assert.deepEqual(layer.bias, h5[index].bias, `${layer.name} bias`);
    }
  });

  it('loads a browser-saved ml5 model', async () => {
    const model = await openModel(muse);
    assert.deepEqual(model.network.inputShape, [4]);
    const dense = denseLayers(model.network).map((layer) => [
      layer.units,
      layer.inputs,
      layer.activation.name,
    ]);
    assert.deepEqual(dense, [
      [16, 4, 'relu'],
      [16, 16, 'relu'],
      [2, 16, 'sigmoid'],
    ]);
    assert.equal(
      model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0),
      386,
    );
    const bytes = floatsOf(
      await fs.readFile(corpusPath('tfjs-layers-ml5-muse-eeg/model.weights.bin')),
    );
    const first = denseLayers(model.network)[0];
    // Stored kernel [4, 16]: element (input 2, unit 5) is at 2 * 16 + 5.
    assert.equal(first.kernel[5 * 4 + 2], bytes[2 * 16 + 5]);
  });

  it('loads the conv and dense ai2048 model', async () => {
    const model = await openModel(ai2048);
    assert.deepEqual(model.network.inputShape, [4, 4, 16]);
    const dense = denseLayers(model.network);
    assert.deepEqual(
      dense.map((layer) => [layer.units, layer.inputs, layer.activation.name]),
      [
        [384, 512, 'linear'],
        [256, 384, 'linear'],
        [1, 256, 'selu'],
      ],
    );
    assert.equal(
      model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0),
      989_473,
    );
    assert.equal(
      dense.reduce((sum, layer) => sum + layerParams(layer), 0),
      295_809,
    );

    assert.equal(isRunnable(model.network), false);
    const opaque = model.network.layers
      .filter((layer) => layer.kind === 'opaque')
      .map((layer) => layer.name);
    assert.deepEqual(opaque, [
      'conv2d_1',
      'conv2d_2',
      'conv2d_3',
      'conv2d_4',
      'average_pooling2d_1',
    ]);

    const flatten = model.network.layers.find((layer) => layer.kind === 'reshape');
    assert.ok(flatten);
    assert.ok(flatten.kind === 'reshape');
    assert.deepEqual(flatten.targetShape, [512]);

    const leaky = model.network.layers.filter((layer) => layer.kind === 'activation');
    assert.equal(leaky.length, 6);
    for (const layer of leaky) {
      assert.ok(layer.kind === 'activation');
      assert.deepEqual(layer.activation, { name: 'leaky_relu', alpha: 0.2 });
    }
  });

  it('reads each group from its own file', async () => {
    const model = await openModel(ai2048);
    const last = denseLayers(model.network)[2];
    const stored = floatsOf(
      await fs.readFile(corpusPath('tfjs-layers-legacy-ai2048-conv-dense/group7-shard1of1')),
    );
    assert.deepEqual(Array.from(last.kernel), Array.from(stored.subarray(0, 256)));
    assert.deepEqual(Array.from(last.bias!), [stored[256]]);
  });
});

describe('TF.js layers shards', () => {
  it('reads shards in manifest order', async () => {
    const file = await copyModel(maternal, 'reordered');
    const folder = path.dirname(file);
    const bytes = await fs.readFile(path.join(folder, 'group1-shard1of1.bin'));
    // The first half goes to a file whose name sorts last, so sorting names would swap them.
    await fs.writeFile(path.join(folder, 'z-part.bin'), bytes.subarray(0, 20_000));
    await fs.writeFile(path.join(folder, 'a-part.bin'), bytes.subarray(20_000));
    const json = await readJson(file);
    json.weightsManifest[0].paths = ['z-part.bin', 'a-part.bin'];
    await fs.writeFile(file, JSON.stringify(json));
    const reference = denseLayers((await openModel(maternal)).network);
    const layers = denseLayers((await openModel(file)).network);
    for (const [index, layer] of layers.entries())
      assert.deepEqual(layer.kernel, reference[index].kernel);
  });

  it('accepts shard names without .bin', async () => {
    const file = await copyModel(maternal, 'nobin');
    const json = await readJson(file);
    json.weightsManifest[0].paths = ['group1-shard1of1'];
    await fs.writeFile(file, JSON.stringify(json));
    assert.equal(denseLayers((await openModel(file)).network).length, 3);
  });

  it('rejects parent folder paths', async () => {
    const file = await copyModel(maternal, 'escape');
    const json = await readJson(file);
    json.weightsManifest[0].paths = ['../nobin/group1-shard1of1.bin'];
    await fs.writeFile(file, JSON.stringify(json));
    await assert.rejects(openModel(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.match(
        error.message,
        /escape\/model\.json: refers to "\.\.\/nobin\/group1-shard1of1\.bin", which is outside/,
      );
      return true;
    });
  });

  it('rejects a missing shard', async () => {
    const file = await copyModel(maternal, 'missing');
    await fs.rm(path.join(path.dirname(file), 'group1-shard1of1.bin'));
    await assert.rejects(openModel(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.match(
        error.message,
        /missing\/model\.json: refers to "group1-shard1of1\.bin", which was not found/,
      );
      return true;
    });
  });

  it('rejects a short shard', async () => {
    const file = await copyModel(maternal, 'short');
    const shard = path.join(path.dirname(file), 'group1-shard1of1.bin');
    await fs.truncate(shard, 36_000);
    await assert.rejects(
      openModel(file),
      /short\/model\.json: weight group 1 \(group1-shard1of1\.bin\) holds 36000 bytes but its manifest describes 36876/,
    );
  });

  it('rejects quantized weights', async () => {
    const file = await copyModel(maternal, 'quantized');
    const json = await readJson(file);
    json.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', scale: 0.1, min: -1 };
    await fs.writeFile(file, JSON.stringify(json));
    await assert.rejects(
      openModel(file),
      /quantized\/model\.json: weight dense_1\/kernel is quantized to uint8/,
    );
  });

  it('rejects integer dense kernels', async () => {
    const file = await copyModel(maternal, 'int-kernel');
    const json = await readJson(file);
    json.weightsManifest[0].weights[0].dtype = 'int32';
    await fs.writeFile(file, JSON.stringify(json));
    await assert.rejects(
      openModel(file),
      /int-kernel\/model\.json: Dense layer dense_1 has a kernel that is not stored as floats/,
    );
  });

  it('rejects graph models', async () => {
    const file = path.join(scratch, 'graph.json');
    await fs.writeFile(
      file,
      JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
    );
    await assert.rejects(openModel(file), /graph\.json: is a TensorFlow\.js graph model/);
  });

  it('matches layers model json only', () => {
    const probe = (text: string) => ({
      path: 'x.json',
      size: text.length,
      head: new Uint8Array(Buffer.from(text)),
    });
    assert.equal(tfjsFormat.match(probe('{"modelTopology": {}, "weightsManifest": []}')), true);
    assert.equal(tfjsFormat.match(probe('{"rows": [[1, 2]]}')), false);
    assert.equal(tfjsFormat.match(probe('a,b\n1,2\n')), false);
  });

  it('rejects truncated json', async () => {
    const file = path.join(scratch, 'cut.json');
    const text = await fs.readFile(maternal, 'utf8');
    await fs.writeFile(file, text.slice(0, 500));
    await assert.rejects(openModel(file), /cut\.json: is not valid JSON/);
  });
});

describe('TF.js layers saving', () => {
  it('round-trips the maternal model', async () => {
    const model = await openModel(maternal);
    const network = cloneNetwork(model.network);
    const [first, , last] = denseLayers(network);
    first.kernel[1 * 5 + 3] = 0;
    last.bias![1] = -0.75;
    const folder = await fs.mkdtemp(path.join(scratch, 'save-'));
    const out = path.join(folder, 'pruned.json');
    const report = await model.save(network, out);
    const shard = path.join(folder, 'pruned.group1-shard1of1.bin');
    assert.deepEqual(report.files, [out, shard]);

    const original = await readJson(maternal);
    const saved = await readJson(out);
    assert.deepEqual(saved.weightsManifest[0].paths, ['pruned.group1-shard1of1.bin']);
    saved.weightsManifest[0].paths = original.weightsManifest[0].paths;
    assert.deepEqual(saved, original);

    const before = floatsOf(
      await fs.readFile(corpusPath('tfjs-layers-maternal-health-mlp/group1-shard1of1.bin')),
    );
    const after = floatsOf(await fs.readFile(shard));
    const differing = [];
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) differing.push(i);
    // Stored kernel [5, 128]: (input 3, unit 1) is 3 * 128 + 1. The output bias starts at 9216.
    assert.deepEqual(differing, [3 * 128 + 1, 9216 + 1]);
    assert.equal(after[9217], -0.75);

    const reopened = denseLayers((await openModel(out)).network);
    assert.equal(reopened[0].kernel[8], 0);
    assert.deepEqual(reopened[1].kernel, denseLayers(model.network)[1].kernel);
  });

  it('keeps groups and shard sizes', async () => {
    const model = await openModel(ai2048);
    const network = cloneNetwork(model.network);
    denseLayers(network)[1].kernel.fill(0, 0, 100);
    const folder = await fs.mkdtemp(path.join(scratch, 'groups-'));
    const out = path.join(folder, 'model.json');
    const report = await model.save(network, out);
    assert.equal(report.files.length, 8);
    const source = path.dirname(ai2048);
    for (let group = 1; group <= 7; group++) {
      const before = await fs.readFile(path.join(source, `group${group}-shard1of1`));
      const after = await fs.readFile(path.join(folder, `model.group${group}-shard1of1.bin`));
      assert.equal(after.length, before.length);
      assert.equal(Buffer.compare(before, after) === 0, group !== 6, `group ${group}`);
    }
    const reopened = await openModel(out);
    assert.equal(denseLayers(reopened.network)[1].kernel[99], 0);
    assert.deepEqual(denseLayers(reopened.network)[0].kernel, denseLayers(model.network)[0].kernel);
  });
});

describe('TF.js layers bias addition', () => {
  it('adds a bias to a layer', async () => {
    const file = await copyModel(maternal, 'nobias');
    const folder = path.dirname(file);
    const json = await readJson(file);
    // Drop dense_2/bias (64 floats after dense_2/kernel, which ends at byte 4 * (640 + 8192)).
    const shard = await fs.readFile(path.join(folder, 'group1-shard1of1.bin'));
    const cut = 4 * (640 + 8192);
    await fs.writeFile(
      path.join(folder, 'group1-shard1of1.bin'),
      Buffer.concat([shard.subarray(0, cut), shard.subarray(cut + 256)]),
    );
    json.weightsManifest[0].weights.splice(3, 1);
    json.modelTopology.model_config.config.layers[3].config.use_bias = false;
    await fs.writeFile(file, JSON.stringify(json));

    const model = await openModel(file);
    const layers = denseLayers(model.network);
    assert.equal(layers[1].bias, null);
    assert.equal(model.canAddBias('dense_2'), true);
    const network = cloneNetwork(model.network);
    const bias = Float32Array.from({ length: 64 }, (_, i) => i - 32);
    denseLayers(network)[1].bias = bias;
    denseLayers(network)[2].kernel[0] = 0;
    const out = path.join(folder, 'with-bias.json');
    const report = await model.save(network, out);
    assert.match(report.notes.join(' '), /Added a bias to Dense layer dense_2/);

    const saved = await readJson(out);
    const names = saved.weightsManifest[0].weights.map((weight: Json) => weight.name);
    assert.deepEqual(names, [
      'dense_1/kernel',
      'dense_1/bias',
      'dense_2/kernel',
      'dense_2/bias',
      'output/kernel',
      'output/bias',
    ]);
    assert.equal(saved.modelTopology.model_config.config.layers[3].config.use_bias, true);
    const written = await fs.readFile(path.join(folder, 'with-bias.group1-shard1of1.bin'));
    assert.equal(written.length, 36_876);
    assert.equal(Buffer.compare(written.subarray(0, cut), shard.subarray(0, cut)), 0);

    const reopened = denseLayers((await openModel(out)).network);
    assert.deepEqual(reopened[1].bias, bias);
    assert.equal(reopened[2].kernel[0], 0);
    assert.deepEqual(reopened[2].bias, layers[2].bias);
    assert.deepEqual(reopened[0].kernel, layers[0].kernel);
  });
});

describe('TF.js layers topologies', () => {
  const dense = (name: string, units: number, extra: Json = {}) => ({
    class_name: 'Dense',
    name,
    config: { name, units, activation: 'linear', use_bias: true, ...extra },
  });
  const tensor = (layer: string) => ({
    class_name: '__keras_tensor__',
    config: { shape: [null, 2], dtype: 'float32', keras_history: [layer, 0, 0] },
  });

  async function writeModel(
    name: string,
    layers: Json[],
    weights: [string, number[]][],
  ): Promise<string> {
    const folder = await fs.mkdtemp(path.join(scratch, `${name}-`));
    const values = weights.flatMap(([, shape]) =>
      new Array(shape.reduce((a, b) => a * b, 1)).fill(0).map((_, i) => i / 8),
    );
    await fs.writeFile(
      path.join(folder, 'weights.bin'),
      new Uint8Array(new Float32Array(values).buffer),
    );
    const manifest = [
      {
        paths: ['weights.bin'],
        weights: weights.map(([weight, shape]) => ({ name: weight, shape, dtype: 'float32' })),
      },
    ];
    const topology = { class_name: 'Functional', config: { name, layers } };
    const file = path.join(folder, 'model.json');
    await fs.writeFile(
      file,
      JSON.stringify({ modelTopology: topology, weightsManifest: manifest }),
    );
    return file;
  }

  it('follows a Keras 3 functional chain', async () => {
    // The layers are listed out of order; the inbound nodes give the chain.
    const layers = [
      { ...dense('head', 1), inbound_nodes: [{ args: [tensor('act')], kwargs: {} }] },
      {
        class_name: 'InputLayer',
        name: 'in',
        config: { name: 'in', batch_shape: [null, 3] },
        inbound_nodes: [],
      },
      {
        class_name: 'LeakyReLU',
        name: 'act',
        config: { name: 'act', negative_slope: 0.1 },
        inbound_nodes: [{ args: [tensor('hidden')], kwargs: { training: false } }],
      },
      { ...dense('hidden', 2), inbound_nodes: [{ args: [tensor('in')], kwargs: {} }] },
    ];
    const file = await writeModel('chain', layers, [
      ['hidden/kernel', [3, 2]],
      ['hidden/bias', [2]],
      ['head/kernel', [2, 1]],
      ['head/bias', [1]],
    ]);
    const model = await openModel(file);
    assert.deepEqual(model.network.inputShape, [3]);
    assert.deepEqual(
      model.network.layers.map((layer) => layer.name),
      ['hidden', 'act', 'head'],
    );
    const act = model.network.layers[1];
    assert.ok(act.kind === 'activation');
    assert.deepEqual(act.activation, { name: 'leaky_relu', alpha: 0.1 });
    // Stored [3, 2] = 0, 1/8, ..., 5/8; unit 1 takes inputs 1/8, 3/8, 5/8.
    assert.deepEqual(
      Array.from(denseLayers(model.network)[0].kernel),
      [0, 0.25, 0.5, 0.125, 0.375, 0.625],
    );
  });

  const input = {
    class_name: 'InputLayer',
    name: 'in',
    config: { name: 'in', batch_shape: [null, 3] },
    inbound_nodes: [],
  };
  const branchWeights: [string, number[]][] = [
    ['left/kernel', [3, 2]],
    ['left/bias', [2]],
    ['right/kernel', [3, 2]],
    ['right/bias', [2]],
  ];

  it('keeps a merging graph opaque', async () => {
    const merge = {
      class_name: 'Add',
      name: 'sum',
      config: { name: 'sum' },
      inbound_nodes: [
        [
          ['left', 0, 0, {}],
          ['right', 0, 0, {}],
        ],
      ],
    };
    const layers = [
      input,
      { ...dense('left', 2), inbound_nodes: [[['in', 0, 0, {}]]] },
      { ...dense('right', 2), inbound_nodes: [[['in', 0, 0, {}]]] },
      merge,
    ];
    const file = await writeModel('merge', layers, branchWeights);
    const model = await openModel(file);
    const kinds = model.network.layers.map((layer) => `${layer.kind}:${layer.name}`);
    assert.deepEqual(kinds, ['dense:left', 'dense:right', 'opaque:sum']);
    assert.equal(isRunnable(model.network), false);
    assert.match(model.notes[0], /not a single chain \(layer sum .*several inputs\)/);
    // Saving still writes the dense layers back.
    const network = cloneNetwork(model.network);
    denseLayers(network)[1].kernel[0] = 9;
    const out = path.join(path.dirname(file), 'saved.json');
    await model.save(network, out);
    assert.equal(denseLayers((await openModel(out)).network)[1].kernel[0], 9);
  });

  it('rejects a branching graph', async () => {
    const layers = [
      input,
      { ...dense('left', 2), inbound_nodes: [[['in', 0, 0, {}]]] },
      { ...dense('right', 2), inbound_nodes: [[['in', 0, 0, {}]]] },
    ];
    const file = await writeModel('branch', layers, branchWeights);
    await assert.rejects(
      openModel(file),
      /model\.json: is a functional model that is not a single chain of layers: the output of in feeds left and right/,
    );
  });

  it('keeps unknown layers opaque', async () => {
    const layers = [
      {
        class_name: 'InputLayer',
        name: 'in',
        config: { name: 'in', batch_input_shape: [null, 3] },
        inbound_nodes: [],
      },
      {
        class_name: 'MyScaler',
        name: 'custom',
        config: { name: 'custom' },
        inbound_nodes: [[['in', 0, 0, {}]]],
      },
      { ...dense('out', 1, { activation: 'mish' }), inbound_nodes: [[['custom', 0, 0, {}]]] },
    ];
    const file = await writeModel('custom', layers, [
      ['custom/scale', [3]],
      ['out/kernel', [3, 1]],
      ['out/bias', [1]],
    ]);
    const model = await openModel(file);
    const kinds = model.network.layers.map((layer) => `${layer.kind}:${layer.name}`);
    assert.deepEqual(kinds, ['opaque:custom', 'dense:out', 'opaque:out/activation']);
    const custom = model.network.layers[0];
    assert.ok(custom.kind === 'opaque');
    assert.equal(custom.params, 3);
    assert.match(custom.reason, /MyScaler is a custom or unsupported layer class/);
    assert.ok(model.notes.some((note) => /activation "mish"/.test(note)));
  });
});
