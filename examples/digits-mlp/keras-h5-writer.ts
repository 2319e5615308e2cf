/**
 * Writes a Sequential model of Dense and Dropout layers as a Keras 2 full-model `.h5` file
 * (`model_config` attribute, `model_weights/<layer>/<layer>/kernel:0`), the layout that
 * `keras.models.load_model` reads. Used by the example's training script only.
 */
import * as fs from 'node:fs';
import { closeCreated, createH5 } from '../../src/core/formats/hdf5';

/** A layer of the example model; kernels are `[inputs, units]` as Keras stores them. */
export type ExampleLayer =
  | { kind: 'dense'; name: string; units: number; inputs: number; activation: string; kernel: Float32Array; bias: Float32Array }
  | { kind: 'dropout'; name: string; rate: number };

/** Saves the layers to `file`, replacing it. */
export async function saveKerasH5(file: string, modelName: string, layers: ExampleLayer[]): Promise<void> {
  fs.rmSync(file, { force: true });
  const h5 = await createH5(file);
  try {
    h5.create_attribute('keras_version', '2.13.1');
    h5.create_attribute('backend', 'tensorflow');
    h5.create_attribute('model_config', JSON.stringify(modelConfig(modelName, layers)));
    const weights = h5.create_group('model_weights');
    weights.create_attribute('layer_names', layers.map((layer) => layer.name));
    weights.create_attribute('backend', 'tensorflow');
    weights.create_attribute('keras_version', '2.13.1');
    for (const layer of layers) {
      const group = weights.create_group(layer.name);
      if (layer.kind === 'dropout') {
        group.create_attribute('weight_names', [], [0], '|S1');
        continue;
      }
      group.create_attribute('weight_names', [`${layer.name}/kernel:0`, `${layer.name}/bias:0`]);
      const inner = group.create_group(layer.name);
      inner.create_dataset({ name: 'kernel:0', data: layer.kernel, shape: [layer.inputs, layer.units], dtype: '<f4' });
      inner.create_dataset({ name: 'bias:0', data: layer.bias, shape: [layer.units], dtype: '<f4' });
    }
  } finally {
    closeCreated(h5);
  }
}

function modelConfig(name: string, layers: ExampleLayer[]): object {
  const first = layers[0] as Extract<ExampleLayer, { kind: 'dense' }>;
  return {
    class_name: 'Sequential',
    config: {
      name,
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, first.inputs], dtype: 'float32', name: 'input_1' } },
        ...layers.map((layer) =>
          layer.kind === 'dense'
            ? { class_name: 'Dense', config: { name: layer.name, units: layer.units, activation: layer.activation, use_bias: true, dtype: 'float32', trainable: true } }
            : { class_name: 'Dropout', config: { name: layer.name, rate: layer.rate, dtype: 'float32', trainable: true } },
        ),
      ],
    },
  };
}
