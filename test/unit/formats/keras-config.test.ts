import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKerasArchitecture, toSnakeCase } from '../../../src/core/formats/keras-config';
import {
  buildKerasNetwork,
  parseActivation,
  type StoredWeight,
} from '../../../src/core/formats/keras-layers';

function weight(name: string, shape: number[]): StoredWeight<null> {
  const size = shape.reduce((product, dimension) => product * dimension, 1);
  return { name, shape, values: Float32Array.from({ length: size }, (_, i) => i), ref: null };
}

describe('Keras configuration parsing', () => {
  it('names classes like Keras', () => {
    assert.equal(toSnakeCase('Dense'), 'dense');
    assert.equal(toSnakeCase('BatchNormalization'), 'batch_normalization');
    assert.equal(toSnakeCase('LeakyReLU'), 'leaky_re_lu');
    assert.equal(toSnakeCase('Conv2D'), 'conv2d');
    assert.equal(toSnakeCase('PReLU'), 'p_re_lu');
  });

  it('reads the oldest list layout', () => {
    const topology = {
      class_name: 'Sequential',
      config: [
        { class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } },
      ],
    };
    const architecture = parseKerasArchitecture(topology, 'old.h5');
    assert.deepEqual(architecture.inputShape, [3]);
    assert.deepEqual(
      architecture.layers.map((layer) => layer.name),
      ['d'],
    );
  });

  it('reads recorded build shapes', () => {
    const keras3 = {
      class_name: 'Sequential',
      config: {
        layers: [
          {
            class_name: 'Dense',
            config: { name: 'd', units: 2 },
            build_config: { input_shape: [null, 7] },
          },
        ],
      },
    };
    assert.deepEqual(parseKerasArchitecture(keras3, 'a.keras').inputShape, [7]);
    const keras2 = {
      class_name: 'Sequential',
      config: {
        build_input_shape: [null, 5],
        layers: [{ class_name: 'Dense', config: { name: 'd', units: 2 } }],
      },
    };
    assert.deepEqual(parseKerasArchitecture(keras2, 'b.h5').inputShape, [5]);
  });

  it('rejects a missing configuration', () => {
    assert.throws(
      () => parseKerasArchitecture({ layers: [] }, 'bad.json'),
      /bad\.json: has no Keras model configuration/,
    );
  });

  it('parses activation spellings', () => {
    assert.deepEqual(parseActivation(null), { name: 'linear' });
    assert.deepEqual(parseActivation('hardSigmoid'), { name: 'hard_sigmoid' });
    assert.deepEqual(parseActivation('silu'), { name: 'swish' });
    assert.deepEqual(parseActivation({ class_name: 'function', config: 'relu' }), { name: 'relu' });
    assert.equal(parseActivation('mish'), null);
    assert.equal(parseActivation('constructor'), null);
  });
});

describe('Keras layer conversion', () => {
  it('rejects mismatched batchnorm weights', () => {
    const layers = [
      { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 4] } },
      { class_name: 'BatchNormalization', config: { name: 'bn' } },
    ];
    const architecture = parseKerasArchitecture(
      { class_name: 'Sequential', config: { layers } },
      'n.h5',
    );
    const weights = [weight('g', [3]), weight('b', [3]), weight('m', [3]), weight('v', [3])];
    assert.throws(
      () => buildKerasNetwork(architecture, () => weights, 'n.h5'),
      /n\.h5: BatchNormalization layer bn has weights \[3\], \[3\], \[3\], \[3\] for 4 channels\./,
    );
  });

  it('transposes dense kernels', () => {
    const architecture = parseKerasArchitecture(
      {
        class_name: 'Sequential',
        config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 2 } }] },
      },
      'm.h5',
    );
    const built = buildKerasNetwork(
      architecture,
      () => [weight('kernel', [3, 2]), weight('bias', [2])],
      'm.h5',
    );
    const [layer] = built.network.layers;
    assert.ok(layer.kind === 'dense');
    assert.deepEqual(built.network.inputShape, [3]);
    // Stored [3, 2] rows are inputs: [[0, 1], [2, 3], [4, 5]]; unit 0 takes 0, 2, 4.
    assert.deepEqual(Array.from(layer.kernel), [0, 2, 4, 1, 3, 5]);
  });

  it('maps relu layer settings', () => {
    const layers = [
      { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 2] } },
      { class_name: 'ReLU', config: { name: 'six', max_value: 6 } },
      { class_name: 'ReLU', config: { name: 'leaky', negative_slope: 0.05 } },
      { class_name: 'ReLU', config: { name: 'shifted', threshold: 1 } },
      { class_name: 'ELU', config: { name: 'elu', alpha: 0.5 } },
      { class_name: 'Softmax', config: { name: 'soft' } },
      { class_name: 'PReLU', config: { name: 'prelu' } },
    ];
    const architecture = parseKerasArchitecture(
      { class_name: 'Sequential', config: { layers } },
      'r.h5',
    );
    const built = buildKerasNetwork(
      architecture,
      (spec) => (spec.name === 'prelu' ? [weight('alpha', [2])] : []),
      'r.h5',
    );
    const summary = built.network.layers.map((layer) =>
      layer.kind === 'activation'
        ? [layer.name, layer.activation.name, layer.activation.alpha]
        : [layer.name, layer.kind],
    );
    assert.deepEqual(summary, [
      ['six', 'relu6', undefined],
      ['leaky', 'leaky_relu', 0.05],
      ['shifted', 'opaque'],
      ['elu', 'elu', 0.5],
      ['soft', 'softmax', undefined],
      ['prelu', 'opaque'],
    ]);
    const prelu = built.network.layers[5];
    assert.ok(prelu.kind === 'opaque');
    assert.equal(prelu.params, 2);
  });

  it('keeps other batchnorm axes opaque', () => {
    const layers = [
      { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 4, 3] } },
      { class_name: 'BatchNormalization', config: { name: 'bn', axis: 1, center: false } },
      {
        class_name: 'BatchNormalization',
        config: { name: 'last', axis: [2], scale: false, epsilon: 0.01 },
      },
      { class_name: 'Reshape', config: { name: 'flat', target_shape: [-1] } },
    ];
    const architecture = parseKerasArchitecture(
      { class_name: 'Sequential', config: { layers } },
      'b.h5',
    );
    const built = buildKerasNetwork(
      architecture,
      (spec) =>
        spec.name === 'reshape' || spec.name === 'flat'
          ? []
          : [weight('a', [3]), weight('b', [3]), weight('c', [3])],
      'b.h5',
    );
    const [bn, last, flat] = built.network.layers;
    assert.equal(bn.kind, 'opaque');
    assert.ok(last.kind === 'batchnorm');
    assert.equal(last.gamma, null);
    assert.deepEqual(Array.from(last.beta!), [0, 1, 2]);
    assert.equal(last.epsilon, 0.01);
    assert.ok(flat.kind === 'reshape');
    assert.deepEqual(flat.targetShape, [12]);
  });
});
