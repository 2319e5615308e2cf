import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openModel } from '../../../src/core/formats/index';
import { kerasH5Format } from '../../../src/core/formats/keras-h5';
import type { LoadedModel } from '../../../src/core/formats/types';
import { cloneNetwork, denseLayers, layerParams } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import {
  compareH5Script,
  findH5pyPython,
  noH5pyMessage,
  readDatasetsScript,
  runPythonJson,
} from '../../helpers/h5py';

/** Each corpus file with its published architecture: dense [units, inputs, activation], params. */
const corpus = [
  {
    file: 'keras-h5-mnist-mlp-bn-dropout/mnist_mlp.h5',
    inputShape: [784],
    dense: [
      [256, 784, 'relu'],
      [128, 256, 'relu'],
      [64, 128, 'relu'],
      [10, 64, 'softmax'],
    ],
    kinds: [
      'dense',
      'batchnorm',
      'identity',
      'dense',
      'batchnorm',
      'identity',
      'dense',
      'identity',
      'dense',
    ],
    params: 244_298,
    firstKernel: 'model_weights/dense/MLP_MNIST/dense/kernel',
    lastBias: 'model_weights/dense_3/MLP_MNIST/dense_3/bias',
  },
  {
    file: 'keras-h5-iris-mlp/iris_model.h5',
    inputShape: [4],
    dense: [
      [64, 4, 'relu'],
      [32, 64, 'relu'],
      [3, 32, 'softmax'],
    ],
    kinds: ['dense', 'identity', 'dense', 'dense'],
    params: 2_499,
    firstKernel: 'model_weights/dense_9/sequential_3/dense_9/kernel',
    lastBias: 'model_weights/dense_11/sequential_3/dense_11/bias',
  },
  {
    file: 'keras-h5-boston-housing-regression/boston_housing.h5',
    inputShape: [13],
    dense: [
      [32, 13, 'relu'],
      [16, 32, 'relu'],
      [1, 16, 'linear'],
    ],
    kinds: ['dense', 'batchnorm', 'dense', 'batchnorm', 'identity', 'dense'],
    params: 1_185,
    firstKernel: 'model_weights/dense_16/dense_16/kernel:0',
    lastBias: 'model_weights/dense_18/dense_18/bias:0',
  },
  {
    file: 'keras-h5-maternal-health-mlp/my_keras_model.h5',
    inputShape: [5],
    dense: [
      [128, 5, 'relu'],
      [64, 128, 'relu'],
      [3, 64, 'softmax'],
    ],
    kinds: ['dense', 'identity', 'dense', 'identity', 'dense'],
    params: 9_219,
    firstKernel: 'model_weights/dense_1/dense_1/kernel:0',
    lastBias: 'model_weights/output/output/bias:0',
  },
  {
    file: 'keras-h5-weights-only-desharnais-mlp/mlp.h5',
    inputShape: [9],
    dense: [
      [64, 9, 'relu'],
      [512, 64, 'linear'],
      [128, 512, 'linear'],
      [64, 128, 'linear'],
      [8, 64, 'linear'],
      [1, 8, 'linear'],
    ],
    kinds: [
      'dense',
      'identity',
      'dense',
      'activation',
      'identity',
      'dense',
      'activation',
      'identity',
      'dense',
      'activation',
      'identity',
      'dense',
      'activation',
      'dense',
    ],
    params: 108_369,
    firstKernel: 'dense/dense/kernel:0',
    lastBias: 'dense_5/dense_5/bias:0',
  },
  {
    file: 'keras-h5-weights-yaml-mnist-mlp-sigmoid/mlp.h5',
    inputShape: [784],
    dense: [
      [100, 784, 'linear'],
      [10, 100, 'linear'],
    ],
    kinds: ['dense', 'activation', 'dense', 'activation'],
    params: 79_510,
    firstKernel: 'fc1/fc1/kernel:0',
    lastBias: 'fc2/fc2/bias:0',
  },
] as const;

let scratch: string;

before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-h5-'));
});

after(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
}

describe('Keras HDF5 corpus', () => {
  for (const entry of corpus) {
    it(`loads ${entry.file.split('/')[0]}`, async () => {
      const model = await openModel(corpusPath(entry.file));
      assert.equal(model.format, 'keras-h5');
      assert.deepEqual(model.network.inputShape, entry.inputShape);
      assert.deepEqual(
        model.network.layers.map((layer) => layer.kind),
        entry.kinds,
      );
      const dense = denseLayers(model.network).map((layer) => [
        layer.units,
        layer.inputs,
        layer.activation.name,
      ]);
      assert.deepEqual(dense, entry.dense);
      const params = model.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0);
      assert.equal(params, entry.params);
      assert.ok(denseLayers(model.network).every((layer) => layer.bias !== null));
    });
  }

  it('reads separate activation layers', async () => {
    const model = await openModel(corpusPath('keras-h5-weights-only-desharnais-mlp/mlp.h5'));
    const activations = model.network.layers
      .filter((layer) => layer.kind === 'activation')
      .map((layer) => (layer.kind === 'activation' ? layer.activation.name : ''));
    assert.deepEqual(activations, ['relu', 'relu', 'relu', 'sigmoid']);
  });

  it('reads batch normalization statistics', async () => {
    const model = await openModel(
      corpusPath('keras-h5-boston-housing-regression/boston_housing.h5'),
    );
    const norm = model.network.layers.find((layer) => layer.kind === 'batchnorm');
    assert.ok(norm);
    assert.ok(norm.kind === 'batchnorm');
    assert.equal(norm.size, 32);
    assert.equal(norm.epsilon, 0.001);
    assert.equal(norm.gamma?.length, 32);
    assert.equal(norm.beta?.length, 32);
    assert.ok(norm.movingVariance.every((value) => value > 0));
  });

  it('reads yaml python tuples', async () => {
    const model = await openModel(corpusPath('keras-h5-weights-yaml-mnist-mlp-sigmoid/mlp.h5'));
    assert.deepEqual(model.notes, ['Architecture read from mlp.yaml.']);
    assert.deepEqual(model.network.inputShape, [784]);
  });
});

describe('Keras HDF5 values against h5py', () => {
  for (const entry of corpus) {
    it(`matches h5py for ${entry.file.split('/')[0]}`, async (context) => {
      if (!findH5pyPython()) return context.skip(noH5pyMessage);
      const model = await openModel(corpusPath(entry.file));
      const reference = runPythonJson(readDatasetsScript, [
        corpusPath(entry.file),
        entry.firstKernel,
        entry.lastBias,
      ]) as Record<string, { shape: number[]; values: number[] }>;
      const layers = denseLayers(model.network);
      const first = layers[0];
      const kernel = reference[entry.firstKernel];
      assert.deepEqual(kernel.shape, [first.inputs, first.units]);
      for (let unit = 0; unit < first.units; unit++) {
        for (let input = 0; input < first.inputs; input++) {
          const stored = kernel.values[input * first.units + unit];
          assert.equal(first.kernel[unit * first.inputs + input], Math.fround(stored));
        }
      }
      const last = layers[layers.length - 1];
      assert.deepEqual(Array.from(last.bias!), reference[entry.lastBias].values.map(Math.fround));
    });
  }
});

/** Changes kernel[unit 1, input 0] of the first dense layer and bias[0] of the last one. */
function editNetwork(model: LoadedModel) {
  const network = cloneNetwork(model.network);
  const layers = denseLayers(network);
  const first = layers[0];
  const last = layers[layers.length - 1];
  first.kernel[1 * first.inputs + 0] = 0;
  last.bias![0] += 0.5;
  return { network, first, last };
}

describe('Keras HDF5 saving', () => {
  for (const entry of corpus) {
    it(`round-trips ${entry.file.split('/')[0]}`, async () => {
      const source = corpusPath(entry.file);
      const before = await sha256(source);
      const model = await kerasH5Format.open(source);
      const { network, first, last } = editNetwork(model);
      const folder = await fs.mkdtemp(path.join(scratch, 'save-'));
      // Weights-only files need their architecture file beside the copy.
      for (const sidecar of ['mlp.json', 'mlp.yaml']) {
        await fs
          .copyFile(path.join(path.dirname(source), sidecar), path.join(folder, sidecar))
          .catch(() => {});
      }
      const out = path.join(folder, path.basename(source));
      const report = await model.save(network, out);
      assert.deepEqual(report.files, [out]);
      assert.equal(await sha256(source), before);

      const reopened = await kerasH5Format.open(out);
      const layers = denseLayers(reopened.network);
      const original = denseLayers(model.network);
      assert.equal(layers[0].kernel[first.inputs], 0);
      assert.notEqual(original[0].kernel[first.inputs], 0);
      assert.equal(layers[layers.length - 1].bias![0], last.bias![0]);
      for (let i = 1; i < layers.length - 1; i++) {
        assert.deepEqual(layers[i].kernel, original[i].kernel, `layer ${layers[i].name} kernel`);
        assert.deepEqual(layers[i].bias, original[i].bias, `layer ${layers[i].name} bias`);
      }
      const files = await fs.readdir(folder);
      assert.ok(
        files.every((name) => !name.endsWith('.tmp')),
        'no temporary file is left',
      );
    });

    it(`keeps other objects for ${entry.file.split('/')[0]}`, async (context) => {
      if (!findH5pyPython()) return context.skip(noH5pyMessage);
      const source = corpusPath(entry.file);
      const model = await kerasH5Format.open(source);
      const { network } = editNetwork(model);
      const out = path.join(await fs.mkdtemp(path.join(scratch, 'diff-')), 'out.h5');
      await model.save(network, out);
      const diff = runPythonJson(compareH5Script, [source, out]) as {
        changed: string[];
        problems: string[];
      };
      assert.deepEqual(diff.problems, []);
      assert.deepEqual(diff.changed, [`/${entry.firstKernel}`, `/${entry.lastBias}`].sort());
    });
  }

  for (const entry of corpus) {
    it(`saves ${entry.file.split('/')[0]} unchanged byte for byte`, async () => {
      const source = corpusPath(entry.file);
      const model = await kerasH5Format.open(source);
      const out = path.join(await fs.mkdtemp(path.join(scratch, 'same-')), 'out.h5');
      await model.save(cloneNetwork(model.network), out);
      assert.equal(await sha256(out), await sha256(source));
    });
  }

  it('writes nothing when nothing changed', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const source = corpusPath('keras-h5-iris-mlp/iris_model.h5');
    const model = await kerasH5Format.open(source);
    const out = path.join(scratch, 'unchanged.h5');
    await model.save(cloneNetwork(model.network), out);
    const diff = runPythonJson(compareH5Script, [source, out]) as {
      changed: string[];
      problems: string[];
    };
    assert.deepEqual(diff, { changed: [], problems: [] });
  });

  it('rejects an unknown layer', async () => {
    const model = await kerasH5Format.open(corpusPath('keras-h5-iris-mlp/iris_model.h5'));
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].name = 'renamed';
    await assert.rejects(
      model.save(network, path.join(scratch, 'renamed.h5')),
      /renamed\.h5: cannot save Dense layer renamed \(64x4\): the file has no such layer/,
    );
  });
});

describe('Keras HDF5 float types', () => {
  // Writes a two-layer model: d16 (float16, with a bias unless argv[2] is "no-bias") and d64.
  const makeScript = String.raw`
import sys, json, h5py, numpy as np
d16_bias = sys.argv[2:] != ['no-bias']
config = {'class_name': 'Sequential', 'config': {'name': 'tiny', 'layers': [
  {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 2], 'name': 'in'}},
  {'class_name': 'Dense', 'config': {'name': 'd16', 'units': 3, 'activation': 'tanh', 'use_bias': d16_bias}},
  {'class_name': 'Dense', 'config': {'name': 'd64', 'units': 1, 'activation': 'linear', 'use_bias': False}}]}}
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['model_config'] = json.dumps(config)
    w = f.create_group('model_weights')
    w.attrs['layer_names'] = [b'd16', b'd64']
    g = w.create_group('d16')
    g.attrs['weight_names'] = [b'd16/kernel:0', b'd16/bias:0'] if d16_bias else [b'd16/kernel:0']
    g.create_dataset('d16/kernel:0', data=np.array([[0.5, -1.25, 2], [3, 0.125, -0.0625]], dtype=np.float16))
    if d16_bias:
        g.create_dataset('d16/bias:0', data=np.array([0.25, 0, -4], dtype=np.float16))
    h = w.create_group('d64')
    h.attrs['weight_names'] = [b'd64/kernel:0']
    h.create_dataset('d64/kernel:0', data=np.array([[0.1], [0.2], [0.3]], dtype=np.float64))
print(json.dumps({}))
`;

  it('keeps float16 and float64 dtypes', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const file = path.join(scratch, 'tiny.h5');
    runPythonJson(makeScript, [file]);
    const model = await kerasH5Format.open(file);
    const [d16, d64] = denseLayers(model.network);
    assert.deepEqual(Array.from(d16.kernel), [0.5, 3, -1.25, 0.125, 2, -0.0625]);
    assert.deepEqual(Array.from(d16.bias!), [0.25, 0, -4]);
    assert.equal(d64.bias, null);
    assert.deepEqual(Array.from(d64.kernel), [0.1, 0.2, 0.3].map(Math.fround));
    assert.equal(d16.activation.name, 'tanh');

    const network = cloneNetwork(model.network);
    const [e16, e64] = denseLayers(network);
    e16.kernel[0] = 1.5;
    e16.bias![2] = -2;
    e64.kernel[1] = 0;
    const out = path.join(scratch, 'tiny-out.h5');
    await model.save(network, out);
    const values = runPythonJson(readDatasetsScript, [
      out,
      'model_weights/d16/d16/kernel:0',
      'model_weights/d16/d16/bias:0',
      'model_weights/d64/d64/kernel:0',
    ]) as Record<string, { dtype: string; values: number[] }>;
    assert.equal(values['model_weights/d16/d16/kernel:0'].dtype, 'float16');
    assert.deepEqual(
      values['model_weights/d16/d16/kernel:0'].values,
      [1.5, -1.25, 2, 3, 0.125, -0.0625],
    );
    assert.deepEqual(values['model_weights/d16/d16/bias:0'].values, [0.25, 0, -2]);
    assert.equal(values['model_weights/d64/d64/kernel:0'].dtype, 'float64');
    assert.deepEqual(values['model_weights/d64/d64/kernel:0'].values, [
      Math.fround(0.1),
      0,
      Math.fround(0.3),
    ]);
  });

  it('adds a bias to a layer', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const file = path.join(scratch, 'tiny-bias.h5');
    runPythonJson(makeScript, [file]);
    const model = await kerasH5Format.open(file);
    assert.equal(model.canAddBias('d64'), true);
    assert.equal(model.canAddBias('d16'), false, 'h5wasm cannot create float16 datasets');
    assert.equal(model.canAddBias('missing'), false);
    const network = cloneNetwork(model.network);
    denseLayers(network)[1].bias = new Float32Array([0.375]);
    const out = path.join(scratch, 'tiny-bias-out.h5');
    const report = await model.save(network, out);
    assert.equal(report.notes.length, 1);
    assert.match(report.notes[0], /Added a bias to Dense layer d64/);

    const reopened = denseLayers((await kerasH5Format.open(out)).network);
    assert.deepEqual(Array.from(reopened[1].bias!), [0.375]);
    assert.deepEqual(reopened[0].kernel, denseLayers(model.network)[0].kernel);
    const inspect = String.raw`
import sys, json, h5py
f = h5py.File(sys.argv[1], 'r')
config = json.loads(f.attrs['model_config'])
names = [n.decode() if hasattr(n, 'decode') else n for n in f['model_weights/d64'].attrs['weight_names']]
bias = f['model_weights/d64/d64/bias:0']
print(json.dumps({'use_bias': config['config']['layers'][2]['config']['use_bias'], 'names': names, 'dtype': str(bias.dtype), 'values': bias[()].tolist()}))
`;
    assert.deepEqual(runPythonJson(inspect, [out]), {
      use_bias: true,
      names: ['d64/kernel:0', 'd64/bias:0'],
      dtype: 'float64',
      values: [0.375],
    });
    const diff = runPythonJson(compareH5Script, [file, out]) as {
      changed: string[];
      problems: string[];
    };
    assert.deepEqual(diff.changed, []);
    assert.deepEqual(diff.problems.sort(), [
      'changed attribute /@model_config',
      'changed attribute /model_weights/d64@weight_names',
      'new /model_weights/d64/d64/bias:0',
    ]);
  });

  it('rejects a bias it cannot store', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const file = path.join(scratch, 'tiny-nobias.h5');
    runPythonJson(makeScript, [file, 'no-bias']);
    const model = await kerasH5Format.open(file);
    assert.equal(denseLayers(model.network)[0].bias, null);
    assert.equal(model.canAddBias('d16'), false);
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].bias = new Float32Array(3);
    await assert.rejects(
      model.save(network, path.join(scratch, 'never.h5')),
      /never\.h5: cannot save a bias for Dense layer d16: the layer has use_bias false/,
    );
  });
});

describe('Keras HDF5 compressed datasets', () => {
  const makeScript = String.raw`
import sys, json, h5py, numpy as np
config = {'class_name': 'Sequential', 'config': {'name': 't', 'layers': [
  {'class_name': 'Dense', 'config': {'name': 'd', 'units': 64, 'batch_input_shape': [None, 64], 'use_bias': False}}]}}
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['model_config'] = json.dumps(config)
    g = f.create_group('model_weights').create_group('d')
    g.attrs['weight_names'] = [b'd/kernel:0']
    data = np.arange(64 * 64, dtype='f4').reshape(64, 64) / 100
    g.create_dataset('d/kernel:0', data=data, chunks=(16, 64), compression='gzip')
print('{}')
`;

  it('round-trips a gzip dataset', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const file = path.join(scratch, 'gzip.h5');
    runPythonJson(makeScript, [file]);
    const model = await kerasH5Format.open(file);
    const [layer] = denseLayers(model.network);
    // Stored [inputs, units]: (input 1, unit 0) is value 64 / 100.
    assert.equal(layer.kernel[1], Math.fround(0.64));
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].kernel.fill(0, 0, 64);
    const out = path.join(scratch, 'gzip-out.h5');
    await model.save(network, out);
    const diff = runPythonJson(compareH5Script, [file, out]);
    assert.deepEqual(diff, { changed: ['/model_weights/d/d/kernel:0'], problems: [] });
    const reopened = denseLayers((await kerasH5Format.open(out)).network)[0];
    assert.ok(reopened.kernel.subarray(0, 64).every((value) => value === 0));
    assert.deepEqual(reopened.kernel.subarray(64), layer.kernel.subarray(64));
  });

  it('rejects damaged compressed data', async (context) => {
    if (!findH5pyPython()) return context.skip(noH5pyMessage);
    const file = path.join(scratch, 'damaged.h5');
    runPythonJson(makeScript, [file]);
    const bytes = await fs.readFile(file);
    // The compressed chunks are written last; flipping their bits breaks inflation.
    for (let i = bytes.length - 4000; i < bytes.length - 200; i++) bytes[i] ^= 0x5a;
    await fs.writeFile(file, bytes);
    await assert.rejects(kerasH5Format.open(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.match(
        error.message,
        /damaged\.h5: cannot read dataset \/model_weights\/d\/d\/kernel:0; the file is damaged\./,
      );
      return true;
    });
  });
});

describe('Keras HDF5 errors', () => {
  it('rejects a truncated file', async () => {
    const source = await fs.readFile(corpusPath('keras-h5-iris-mlp/iris_model.h5'));
    const file = path.join(scratch, 'truncated.h5');
    await fs.writeFile(file, source.subarray(0, 4000));
    await assert.rejects(kerasH5Format.open(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.match(error.message, /truncated\.h5: is not a readable HDF5 file/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });

  it('does not match other bytes', async () => {
    const file = path.join(scratch, 'text.h5');
    await fs.writeFile(file, 'not an hdf5 file\n');
    assert.equal(
      kerasH5Format.match({ path: file, size: 17, head: new Uint8Array(Buffer.from('not hdf5')) }),
      false,
    );
    await assert.rejects(openModel(file), /text\.h5: .*not a model file/);
  });

  it('asks for the architecture file', async () => {
    const file = path.join(scratch, 'weights.h5');
    await fs.copyFile(corpusPath('keras-h5-weights-only-desharnais-mlp/mlp.h5'), file);
    await assert.rejects(
      kerasH5Format.open(file),
      /weights\.h5: holds weights only .*weights\.json or \.yaml/,
    );
  });

  it('uses the architecture option', async () => {
    const file = path.join(scratch, 'weights-option.h5');
    await fs.copyFile(corpusPath('keras-h5-weights-only-desharnais-mlp/mlp.h5'), file);
    const architecture = corpusPath('keras-h5-weights-only-desharnais-mlp/mlp.json');
    const model = await kerasH5Format.open(file, { architecture });
    assert.equal(denseLayers(model.network).length, 6);
    assert.equal(model.canAddBias('dense'), false, 'the architecture is in another file');
  });

  it('rejects a mismatched architecture', async () => {
    const file = path.join(scratch, 'mismatch.h5');
    await fs.copyFile(corpusPath('keras-h5-weights-only-desharnais-mlp/mlp.h5'), file);
    const architecture = corpusPath('keras-h5-weights-yaml-mnist-mlp-sigmoid/mlp.yaml');
    await assert.rejects(
      kerasH5Format.open(file, { architecture }),
      /mismatch\.h5: Dense layer fc1 should store a 2-D kernel and a bias but has weights none/,
    );
  });
});
