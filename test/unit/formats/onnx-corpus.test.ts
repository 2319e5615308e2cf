import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { detectFormat, openModel } from '../../../src/core/formats/index';
import type { LoadedModel } from '../../../src/core/formats/types';
import {
  cloneNetwork,
  denseLayers,
  layerParams,
  type DenseLayer,
  type Network,
} from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import { maxRelativeError, pseudoRandom, runOrt, temporaryFolder } from './onnx-fixtures';

/** Each corpus ONNX file with what its SOURCE.md states: dense [units, inputs, activation] and params. */
const corpus = [
  {
    file: 'onnx-pytorch-mnist-mlp/mnist_mlp.onnx',
    inputShape: [784],
    batch: 1,
    dense: [
      [512, 784, 'relu'],
      [256, 512, 'relu'],
      [10, 256, 'linear'],
    ],
    params: 535_818,
    biases: true,
  },
  {
    file: 'onnx-extdata-sb3-dqn-cartpole/model.onnx',
    inputShape: [4],
    batch: 1,
    dense: [
      [256, 4, 'relu'],
      [256, 256, 'relu'],
      [2, 256, 'linear'],
    ],
    params: 67_586,
    biases: true,
  },
  {
    file: 'onnx-tf2onnx-ph-housing-regression/mlp_model.onnx',
    inputShape: [2399],
    batch: 3,
    dense: [
      [128, 2399, 'relu'],
      [160, 128, 'relu'],
      [1, 160, 'linear'],
    ],
    params: 328_001,
    biases: true,
  },
  {
    file: 'onnx-tf2onnx-keras-functional-untrained/model.onnx',
    inputShape: [7, 8, 9],
    batch: 3,
    dense: [
      [128, 504, 'relu'],
      [64, 128, 'relu'],
      [32, 64, 'relu'],
      [16, 32, 'relu'],
      [2, 16, 'softmax'],
    ],
    params: 75_296,
    biases: false,
  },
] as const;

function samplesFor(shape: readonly number[], count: number, seed: number): number[][] {
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, (_, i) => pseudoRandom(size, seed + i));
}

/** Zeroes the smaller half of each kernel and shifts each bias by a unit-dependent amount. */
function changeWeights(network: Network): Network {
  const changed = cloneNetwork(network);
  for (const layer of denseLayers(changed)) {
    const sorted = Float32Array.from(layer.kernel, Math.abs).sort();
    const threshold = sorted[Math.floor(sorted.length / 2)];
    for (let i = 0; i < layer.kernel.length; i++)
      if (Math.abs(layer.kernel[i]) < threshold) layer.kernel[i] = 0;
    if (layer.bias) for (let i = 0; i < layer.units; i++) layer.bias[i] += 0.01 * ((i % 7) - 3);
  }
  return changed;
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function initializers(file: string): Map<string, onnx.ITensorProto> {
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  return new Map((model.graph?.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor]));
}

describe('ONNX corpus', () => {
  for (const entry of corpus) {
    const file = corpusPath(entry.file);

    describe(entry.file, () => {
      it('detects the ONNX format', async () => {
        assert.equal((await detectFormat(file)).id, 'onnx');
      });

      it('loads the published dense sizes', async () => {
        const loaded = await openModel(file);
        const dense = denseLayers(loaded.network);
        assert.deepEqual(loaded.network.inputShape, entry.inputShape);
        assert.deepEqual(
          dense.map((layer) => [layer.units, layer.inputs, layer.activation.name]),
          entry.dense.map((row) => [...row]),
        );
        const params = loaded.network.layers.reduce((sum, layer) => sum + layerParams(layer), 0);
        assert.equal(params, entry.params);
        assert.equal(
          dense.every((layer) => (layer.bias !== null) === entry.biases),
          true,
        );
        assert.equal(
          loaded.network.layers.some((layer) => layer.kind === 'opaque'),
          false,
        );
      });

      it('matches onnxruntime on the original', async () => {
        const loaded = await openModel(file);
        const samples = samplesFor(entry.inputShape, entry.batch, 11);
        const outputs = await runOrt(file, samples, [...entry.inputShape]);
        assert.ok(maxRelativeError(loaded.network, samples, outputs) < 1e-4);
      });

      it('round trips changed weights', async () => {
        const loaded = await openModel(file);
        const changed = changeWeights(loaded.network);
        const out = path.join(temporaryFolder(), 'pruned.onnx');
        await loaded.save(changed, out);
        const reopened = await openModel(out);
        const before = denseLayers(loaded.network);
        denseLayers(reopened.network).forEach((layer, i) => {
          const expected = denseLayers(changed)[i];
          assert.deepEqual(layer.kernel, expected.kernel, `kernel of ${layer.name}`);
          assert.deepEqual(layer.bias, expected.bias, `bias of ${layer.name}`);
          assert.notDeepEqual(layer.kernel, before[i].kernel, `kernel of ${layer.name} unchanged`);
        });
        const samples = samplesFor(entry.inputShape, entry.batch, 23);
        const outputs = await runOrt(out, samples, [...entry.inputShape]);
        assert.ok(maxRelativeError(changed, samples, outputs) < 1e-4);
      });

      it('keeps other initializers byte-identical', async () => {
        const loaded = await openModel(file);
        const changed = cloneNetwork(loaded.network);
        const first = denseLayers(changed)[0];
        first.kernel[0] += 1;
        const out = path.join(temporaryFolder(), 'one-weight.onnx');
        await loaded.save(changed, out);
        const original = initializers(file);
        const saved = initializers(out);
        assert.equal(saved.size, original.size);
        let differing = 0;
        for (const [name, tensor] of original) {
          const other = saved.get(name);
          assert.ok(other, `initializer ${name} missing`);
          const same = Buffer.from(onnx.TensorProto.encode(tensor).finish()).equals(
            Buffer.from(onnx.TensorProto.encode(other).finish()),
          );
          const external = tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
          if (!same && !external) differing++;
        }
        const external = [...original.values()].some(
          (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
        );
        assert.equal(differing, external ? 0 : 1);
      });
    });
  }
});

describe('ONNX byte preservation', () => {
  it('changes only the edited float', async () => {
    const file = corpusPath('onnx-pytorch-mnist-mlp/mnist_mlp.onnx');
    const loaded = await openModel(file);
    const changed = cloneNetwork(loaded.network);
    denseLayers(changed)[1].kernel[5] = 0.5;
    const out = path.join(temporaryFolder(), 'one-float.onnx');
    await loaded.save(changed, out);
    const original = fs.readFileSync(file);
    const saved = fs.readFileSync(out);
    assert.equal(saved.length, original.length);
    const differing = [...saved].flatMap((byte, i) => (byte === original[i] ? [] : [i]));
    assert.ok(differing.length >= 1);
    assert.ok(differing[differing.length - 1] - differing[0] < 4);
    const raw = initializers(out).get('fc2.weight')?.rawData as Uint8Array;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    assert.equal(view.getFloat32(5 * 4, true), 0.5);
  });
});

describe('ONNX external data', () => {
  const file = corpusPath('onnx-extdata-sb3-dqn-cartpole/model.onnx');
  const dataFile = corpusPath('onnx-extdata-sb3-dqn-cartpole/model.onnx.data');

  it('writes a new data file', async () => {
    const hash = sha256(dataFile);
    const loaded = await openModel(file);
    const changed = changeWeights(loaded.network);
    const folder = temporaryFolder();
    const out = path.join(folder, 'pruned.onnx');
    const report = await loaded.save(changed, out);
    assert.deepEqual(report.files, [out, `${out}.data`]);
    assert.equal(sha256(dataFile), hash);
    const locations = [...initializers(out).values()]
      .flatMap((tensor) => tensor.externalData ?? [])
      .filter((entry) => entry.key === 'location')
      .map((entry) => entry.value);
    assert.deepEqual([...new Set(locations)], ['pruned.onnx.data']);
    const inline = initializers(out).get('q_net.4.bias');
    assert.notEqual(inline?.dataLocation, onnx.TensorProto.DataLocation.EXTERNAL);
  });

  it('avoids the source data file name', async () => {
    const folder = temporaryFolder();
    const copy = path.join(folder, 'model.onnx');
    fs.copyFileSync(file, copy);
    fs.copyFileSync(dataFile, `${copy}.data`);
    const hash = sha256(`${copy}.data`);
    const loaded: LoadedModel = await openModel(copy);
    const changed = changeWeights(loaded.network);
    const report = await loaded.save(changed, copy);
    assert.equal(report.files[1], `${copy}.pruned.data`);
    assert.equal(sha256(`${copy}.data`), hash);
    const reopened = await openModel(copy);
    assert.deepEqual(denseLayers(reopened.network)[1].kernel, denseLayers(changed)[1].kernel);
  });
});

describe('ONNX added bias on corpus', () => {
  it('adds Add nodes that onnxruntime runs', async () => {
    const file = corpusPath('onnx-tf2onnx-keras-functional-untrained/model.onnx');
    const loaded = await openModel(file);
    const changed = cloneNetwork(loaded.network);
    const dense = denseLayers(changed);
    assert.equal(loaded.canAddBias(dense[0].name), true);
    dense[0].bias = Float32Array.from({ length: dense[0].units }, (_, i) => 0.05 * ((i % 5) - 2));
    dense[4].bias = new Float32Array(dense[4].units);
    const out = path.join(temporaryFolder(), 'biased.onnx');
    const report = await loaded.save(changed, out);
    assert.equal(report.notes.length, 2);
    assert.match(report.notes[0], /added a zero bias to layer model\/dense /);
    const reopened = await openModel(out);
    const layers = denseLayers(reopened.network) as DenseLayer[];
    assert.deepEqual(layers[0].bias, dense[0].bias);
    assert.equal(layers[1].bias, null);
    const samples = samplesFor([7, 8, 9], 3, 5);
    const outputs = await runOrt(out, samples, [7, 8, 9]);
    assert.ok(maxRelativeError(changed, samples, outputs) < 1e-4);
  });
});
