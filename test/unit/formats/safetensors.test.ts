import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectFormat, openModel } from '../../../src/core/formats/index';
import {
  bfloat16ToNumber,
  halfToNumber,
  numberToBfloat16,
  numberToHalf,
} from '../../../src/core/formats/safetensors-dtypes';
import { cloneNetwork, denseLayers, type DenseLayer } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import {
  findPython,
  noNumpyMessage,
  runPython,
  sampleValues,
  writeSafetensorsFixture,
} from './pytorch-fixtures';

const tinygrad = corpusPath('safetensors-tinygrad-mnist-mlp-nobias', 'model.safetensors');
const numpyPython = findPython('numpy');

/** Reads every tensor of a safetensors file with NumPy, independently of PruneLens. */
const readWithNumpy = String.raw`
import sys, json, struct, numpy as np
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
types = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8'}
out = {'order': list(header.keys()), 'tensors': {}}
for name, info in header.items():
    if name == '__metadata__':
        out['metadata'] = info
        continue
    b, e = info['data_offsets']
    values = np.frombuffer(data[8 + n + b:8 + n + e], dtype=types[info['dtype']]).astype(np.float64)
    out['tensors'][name] = {'shape': info['shape'], 'values': values.tolist()}
print(json.dumps(out))`;

interface NumpyTensors {
  order: string[];
  metadata?: Record<string, string>;
  tensors: Record<string, { shape: number[]; values: number[] }>;
}

function dense(layers: DenseLayer[], name: string): DenseLayer {
  const layer = layers.find((candidate) => candidate.name === name);
  assert.ok(layer, `dense layer ${name}`);
  return layer;
}

describe('safetensors format', () => {
  let folder: string;

  before(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-safetensors-'));
  });

  after(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('detects the corpus file', async () => {
    assert.equal((await detectFormat(tinygrad)).id, 'safetensors');
  });

  it('loads the tinygrad corpus model', async () => {
    const progress: string[] = [];
    const onProgress = (event: { message: string }) => progress.push(event.message);
    const model = await openModel(tinygrad, { activation: 'leaky_relu', onProgress });
    assert.deepEqual(progress, ['Reading l1.weight', 'Reading l2.weight']);
    assert.equal(model.format, 'safetensors');
    assert.deepEqual(model.network.inputShape, [784]);
    const layers = denseLayers(model.network);
    assert.deepEqual(
      layers.map((layer) => [layer.name, layer.units, layer.inputs, layer.bias]),
      [
        ['l1', 128, 784, null],
        ['l2', 10, 128, null],
      ],
    );
    assert.deepEqual(layers[0].activation, { name: 'leaky_relu', alpha: 0.01 });
    assert.deepEqual(layers[1].activation, { name: 'linear' });
    assert.equal(layers[0].kernel.length + layers[1].kernel.length, 101_632);
    assert.match(model.notes.join(' '), /leaky_relu \(alpha 0\.01\) between dense layers/);
    assert.equal(model.canAddBias('l1'), true);
  });

  it('defaults to relu and says so', async () => {
    const model = await openModel(tinygrad);
    assert.deepEqual(denseLayers(model.network)[0].activation, { name: 'relu' });
    assert.match(model.notes.join(' '), /relu between dense layers, last layer linear/);
  });

  it('matches NumPy on corpus values', { skip: !numpyPython && noNumpyMessage }, async () => {
    const model = await openModel(tinygrad);
    const reference = runPython(numpyPython as string, readWithNumpy, [tinygrad]) as NumpyTensors;
    const layers = denseLayers(model.network);
    for (const [layer, key] of [
      [layers[0], 'l1.weight'],
      [layers[1], 'l2.weight'],
    ] as const) {
      assert.deepEqual(reference.tensors[key].shape, [layer.units, layer.inputs]);
      assert.deepEqual([...layer.kernel], reference.tensors[key].values, key);
    }
  });

  it('saves an unchanged file byte for byte', async () => {
    const model = await openModel(tinygrad);
    const out = path.join(folder, 'same.safetensors');
    await model.save(cloneNetwork(model.network), out);
    assert.ok((await fs.readFile(out)).equals(await fs.readFile(tinygrad)));
  });

  it('patches values keeping other bytes', async () => {
    const model = await openModel(tinygrad);
    const network = cloneNetwork(model.network);
    const l1 = dense(denseLayers(network), 'l1');
    for (let i = 0; i < l1.kernel.length; i += 3) l1.kernel[i] = 0;
    const out = path.join(folder, 'pruned.safetensors');
    const report = await model.save(network, out);
    assert.deepEqual(report.files, [out]);
    const before = await fs.readFile(tinygrad);
    const saved = await fs.readFile(out);
    assert.equal(saved.length, before.length);
    const dataStart = 8 + 152;
    const l1End = dataStart + 128 * 784 * 4;
    assert.ok(before.subarray(0, dataStart).equals(saved.subarray(0, dataStart)), 'header bytes');
    assert.ok(before.subarray(l1End).equals(saved.subarray(l1End)), 'l2 bytes');
    const reopened = await openModel(out);
    assert.deepEqual(dense(denseLayers(reopened.network), 'l1').kernel, l1.kernel);
  });

  it('adds a bias tensor after its weight', async () => {
    const model = await openModel(tinygrad);
    const network = cloneNetwork(model.network);
    const l2 = dense(denseLayers(network), 'l2');
    l2.kernel[5] = 0;
    l2.bias = Float32Array.from({ length: 10 }, (_, i) => i / 8);
    const out = path.join(folder, 'with-bias.safetensors');
    const report = await model.save(network, out);
    assert.match(report.notes.join(' '), /Added a bias tensor 'l2\.bias' \(F32\) to layer l2/);
    const reopened = await openModel(out);
    const saved = dense(denseLayers(reopened.network), 'l2');
    assert.deepEqual(saved.bias, l2.bias);
    assert.deepEqual(saved.kernel, l2.kernel);
    assert.deepEqual(
      dense(denseLayers(reopened.network), 'l1').kernel,
      denseLayers(model.network)[0].kernel,
    );
    const bytes = await fs.readFile(out);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + headerLength) % 8, 0);
    const keys = Object.keys(JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')));
    assert.deepEqual(keys, ['l1.weight', 'l2.weight', 'l2.bias']);
  });

  it('writes files NumPy reads', { skip: !numpyPython && noNumpyMessage }, async () => {
    const file = path.join(folder, 'metadata.safetensors');
    await writeSafetensorsFixture(
      file,
      [
        { name: 'net.0.weight', shape: [3, 4], values: sampleValues(12) },
        { name: 'net.2.weight', shape: [2, 3], values: sampleValues(6, 2) },
        { name: 'net.2.bias', shape: [2], values: [0.5, -0.5] },
      ],
      { metadata: { format: 'pt' } },
    );
    const model = await openModel(file);
    const network = cloneNetwork(model.network);
    const [first, second] = denseLayers(network);
    first.kernel[0] = 0;
    first.bias = Float32Array.of(1, 2, 3);
    second.bias = Float32Array.of(7, 8);
    const out = path.join(folder, 'metadata-out.safetensors');
    await model.save(network, out);
    const reference = runPython(numpyPython as string, readWithNumpy, [out]) as NumpyTensors;
    assert.deepEqual(reference.order, [
      '__metadata__',
      'net.0.weight',
      'net.0.bias',
      'net.2.weight',
      'net.2.bias',
    ]);
    assert.deepEqual(reference.metadata, { format: 'pt' });
    assert.deepEqual(reference.tensors['net.0.bias'].values, [1, 2, 3]);
    assert.deepEqual(reference.tensors['net.2.bias'].values, [7, 8]);
    assert.deepEqual(reference.tensors['net.0.weight'].values, [...first.kernel]);
  });

  it('reads and writes F16, BF16 and F64', async () => {
    const file = path.join(folder, 'dtypes.safetensors');
    const values = [1, -2, 0.5, 65504, 2 ** -24, 0.1];
    await writeSafetensorsFixture(file, [
      { name: 'a.weight', shape: [2, 3], values, dtype: 'F16' },
      { name: 'b.weight', shape: [2, 2], values: [1, -2, 0.5, 3], dtype: 'BF16' },
      { name: 'c.weight', shape: [1, 2], values: [0.1, 0.2], dtype: 'F64' },
    ]);
    const model = await openModel(file);
    const [a, b, c] = denseLayers(model.network);
    assert.deepEqual(
      [...a.kernel],
      values.map((value) => Math.fround(halfToNumber(numberToHalf(value)))),
    );
    assert.equal(a.kernel[5], Math.fround(halfToNumber(0x2e66)));
    assert.deepEqual([...b.kernel], [1, -2, 0.5, 3]);
    assert.deepEqual([...c.kernel], [Math.fround(0.1), Math.fround(0.2)]);
    const network = cloneNetwork(model.network);
    denseLayers(network)[2].kernel[1] = 0;
    const out = path.join(folder, 'dtypes-out.safetensors');
    await model.save(network, out);
    const saved = await fs.readFile(out);
    const original = await fs.readFile(file);
    const dataStart = 8 + Number(original.readBigUInt64LE(0));
    const f64Start = dataStart + 12 + 8;
    assert.equal(saved.readDoubleLE(f64Start), 0.1, 'unchanged F64 keeps its full precision');
    assert.equal(saved.readDoubleLE(f64Start + 8), 0);
  });

  it('converts half and bfloat16 bits', () => {
    assert.equal(numberToHalf(1), 0x3c00);
    assert.equal(numberToHalf(-2), 0xc000);
    assert.equal(numberToHalf(65504), 0x7bff);
    assert.equal(numberToHalf(65520), 0x7c00);
    assert.equal(numberToHalf(2 ** -24), 0x0001);
    assert.equal(numberToHalf(2 ** -26), 0x0000);
    assert.equal(numberToHalf(1 + 2 ** -11), 0x3c00, 'ties to even');
    assert.equal(numberToHalf(1 + 3 * 2 ** -11), 0x3c02, 'ties to even upwards');
    assert.equal(halfToNumber(0x7c00), Infinity);
    assert.ok(Number.isNaN(halfToNumber(0x7e00)));
    assert.equal(numberToBfloat16(1), 0x3f80);
    assert.equal(bfloat16ToNumber(0xc000), -2);
    assert.equal(numberToBfloat16(1 + 2 ** -8), 0x3f80, 'ties to even');
  });

  it('infers layers in natural name order', async () => {
    const file = path.join(folder, 'natural.safetensors');
    const tensors = [];
    const widths = [5, 4, 6, 3, 7, 2, 8, 3, 4, 5, 6, 2];
    for (let i = 0; i + 1 < widths.length; i++) {
      tensors.push({
        name: `layers.${i}.weight`,
        shape: [widths[i + 1], widths[i]],
        values: sampleValues(widths[i] * widths[i + 1], i + 1),
      });
    }
    await writeSafetensorsFixture(
      file,
      tensors.sort((x, y) => (x.name < y.name ? -1 : 1)),
    );
    const model = await openModel(file);
    const layers = denseLayers(model.network);
    const expected = widths.slice(0, -1).map((_, i) => `layers.${i}`);
    assert.deepEqual(
      layers.map((layer) => layer.name),
      expected,
    );
    assert.deepEqual(
      layers.map((layer) => layer.inputs),
      widths.slice(0, -1),
    );
  });

  it('infers batch norm after a linear layer', async () => {
    const file = path.join(folder, 'batchnorm.safetensors');
    await writeSafetensorsFixture(file, [
      { name: 'fc1.weight', shape: [3, 2], values: sampleValues(6) },
      { name: 'fc1.bias', shape: [3], values: [0, 0, 0] },
      { name: 'bn1.weight', shape: [3], values: [1, 2, 3] },
      { name: 'bn1.bias', shape: [3], values: [0.1, 0.2, 0.3] },
      { name: 'bn1.running_mean', shape: [3], values: [0, 1, 2] },
      { name: 'bn1.running_var', shape: [3], values: [1, 1, 4] },
      { name: 'fc2.weight', shape: [1, 3], values: [1, 1, 1] },
    ]);
    const model = await openModel(file, { activation: 'tanh' });
    const kinds = model.network.layers.map((layer) => layer.kind);
    assert.deepEqual(kinds, ['dense', 'batchnorm', 'activation', 'dense']);
    const norm = model.network.layers[1];
    assert.ok(norm.kind === 'batchnorm');
    assert.deepEqual([...norm.movingVariance], [1, 1, 4]);
    assert.deepEqual(norm.gamma && [...norm.gamma], [1, 2, 3]);
    assert.equal(norm.epsilon, 1e-5);
    const activation = model.network.layers[2];
    assert.ok(activation.kind === 'activation');
    assert.equal(activation.activation.name, 'tanh');
    assert.equal(denseLayers(model.network)[0].activation.name, 'linear');
  });

  it('pairs batch norms by number', async () => {
    const file = path.join(folder, 'numbered.safetensors');
    const norm = (name: string) => [
      { name: `${name}.running_mean`, shape: [4], values: [0, 0, 0, 0] },
      { name: `${name}.running_var`, shape: [4], values: [1, 1, 1, 1] },
    ];
    await writeSafetensorsFixture(file, [
      ...norm('bn1'),
      ...norm('bn2'),
      { name: 'fc1.weight', shape: [4, 2], values: sampleValues(8) },
      { name: 'fc2.weight', shape: [4, 4], values: sampleValues(16) },
      { name: 'fc3.weight', shape: [1, 4], values: sampleValues(4) },
    ]);
    const model = await openModel(file);
    const names = model.network.layers.map((layer) => layer.name);
    assert.deepEqual(names, [
      'fc1',
      'bn1',
      'bn1.activation',
      'fc2',
      'bn2',
      'bn2.activation',
      'fc3',
    ]);
  });

  it('builds the network from a sidecar', async () => {
    const file = path.join(folder, 'sidecar.safetensors');
    await writeSafetensorsFixture(file, [
      { name: 'head.kernel', shape: [3, 2], values: sampleValues(6) },
      { name: 'body.weight', shape: [3, 4], values: sampleValues(12, 3) },
      { name: 'body.bias', shape: [3], values: [1, 2, 3] },
    ]);
    const sidecar = [
      { weight: 'body.weight', bias: 'body.bias', activation: 'LeakyReLU', alpha: 0.2 },
      { dropout: 0.1 },
      { weight: 'head.kernel', layout: 'in_out', activation: 'softmax' },
    ];
    await fs.writeFile(`${file}.arch.json`, JSON.stringify(sidecar));
    const model = await openModel(file);
    assert.deepEqual(
      model.network.layers.map((layer) => layer.kind),
      ['dense', 'identity', 'dense'],
    );
    const [body, head] = denseLayers(model.network);
    assert.deepEqual(body.activation, { name: 'leaky_relu', alpha: 0.2 });
    assert.deepEqual([head.units, head.inputs], [2, 3]);
    const stored = sampleValues(6);
    assert.equal(head.kernel[1], stored[2], 'in_out kernel is transposed');
    assert.match(model.notes.join(' '), /Architecture read from sidecar\.safetensors\.arch\.json/);
    const network = cloneNetwork(model.network);
    denseLayers(network)[1].kernel[1] = 9;
    const out = path.join(folder, 'sidecar-out.safetensors');
    await model.save(network, out);
    await fs.writeFile(`${out}.arch.json`, JSON.stringify(sidecar));
    const reopened = await openModel(out);
    assert.equal(denseLayers(reopened.network)[1].kernel[1], 9);
    assert.equal(model.canAddBias('head'), true);
  });

  it('reads sidecar input shapes and norms', async () => {
    const file = path.join(folder, 'image.safetensors');
    await writeSafetensorsFixture(file, [
      { name: 'fc.weight', shape: [3, 4], values: sampleValues(12) },
      { name: 'norm.running_mean', shape: [3], values: [0, 1, 2] },
      { name: 'norm.running_var', shape: [3], values: [1, 2, 3] },
      { name: 'out.weight', shape: [1, 3], values: [1, 2, 3] },
    ]);
    const sidecar = path.join(folder, 'image.arch.json');
    const layers = [
      { weight: 'fc.weight', bias: null },
      { batchnorm: 'norm', epsilon: 0.001 },
      { activation: 'relu' },
      { weight: 'out.weight', activation: 'sigmoid' },
    ];
    await fs.writeFile(sidecar, JSON.stringify({ input_shape: [2, 2], layers }));
    const model = await openModel(file);
    const kinds = model.network.layers.map((layer) => layer.kind);
    assert.deepEqual(kinds, ['reshape', 'dense', 'batchnorm', 'activation', 'dense']);
    assert.deepEqual(model.network.inputShape, [2, 2]);
    const norm = model.network.layers[2];
    assert.ok(norm.kind === 'batchnorm');
    assert.equal(norm.epsilon, 0.001);
    assert.equal(norm.gamma, null);
    assert.deepEqual([...norm.movingVariance], [1, 2, 3]);
    assert.equal(denseLayers(model.network)[1].activation.name, 'sigmoid');
    await fs.writeFile(sidecar, JSON.stringify({ input_shape: [3, 2], layers }));
    await assert.rejects(
      openModel(file),
      /image\.arch\.json: layer 1: weight 'fc\.weight' takes 4 inputs but the previous layer gives 6/,
    );
  });

  it('rejects an invalid sidecar naming it', async () => {
    const file = path.join(folder, 'bad-sidecar.safetensors');
    await writeSafetensorsFixture(file, [
      { name: 'a.weight', shape: [2, 2], values: [1, 2, 3, 4] },
    ]);
    const sidecar = path.join(folder, 'bad.arch.yaml');
    await fs.writeFile(sidecar, '- weight: missing.weight\n');
    await assert.rejects(
      openModel(file, { architecture: sidecar }),
      /bad\.arch\.yaml: layer 1: tensor 'missing\.weight' not found/,
    );
    await fs.writeFile(sidecar, '- weight: a.weight\n  activation: wiggle\n');
    await assert.rejects(
      openModel(file, { architecture: sidecar }),
      /bad\.arch\.yaml: layer 1: unknown activation "wiggle"/,
    );
    await fs.writeFile(sidecar, '- weight: a.weight\n  units: 3\n');
    await assert.rejects(openModel(file, { architecture: sidecar }), /unknown key "units"/);
  });

  it('rejects widths that do not chain', async () => {
    const file = path.join(folder, 'broken-chain.safetensors');
    await writeSafetensorsFixture(file, [
      { name: 'a.weight', shape: [3, 2], values: sampleValues(6) },
      { name: 'b.weight', shape: [2, 4], values: sampleValues(8) },
    ]);
    await assert.rejects(
      openModel(file),
      /broken-chain\.safetensors: cannot infer the architecture: 'b\.weight' takes 4 inputs but 'a\.weight' gives 3; .*sidecar/,
    );
  });

  const brokenHeaders: { name: string; raw: string; pattern: RegExp }[] = [
    {
      name: 'offsets past the data',
      raw: '{"a.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,160]}}',
      pattern: /tensor 'a\.weight' ends at byte 160, outside the data area of 16 bytes/,
    },
    {
      name: 'overlapping tensors',
      raw: '{"a.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"b.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]}}',
      pattern: /tensors 'a\.weight' and 'b\.weight' overlap/,
    },
    {
      name: 'a shape that disagrees',
      raw: '{"a.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}',
      pattern: /has 16 bytes but shape \[3, 2\] of F32 needs 24/,
    },
    {
      name: 'an unknown dtype',
      raw: '{"a.weight":{"dtype":"F12","shape":[2,2],"data_offsets":[0,16]}}',
      pattern: /unknown dtype "F12"/,
    },
    { name: 'invalid JSON', raw: '{"a.weight":', pattern: /not valid UTF-8 JSON/ },
  ];

  for (const { name, raw, pattern } of brokenHeaders) {
    it(`rejects ${name}`, async () => {
      const file = path.join(folder, 'broken.safetensors');
      await writeSafetensorsFixture(
        file,
        [{ name: 'a.weight', shape: [2, 2], values: [1, 2, 3, 4] }],
        { raw },
      );
      await assert.rejects(openModel(file), (error: Error) => {
        assert.match(error.message, /broken\.safetensors: invalid safetensors header/);
        assert.match(error.message, pattern);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }

  it('rejects a header longer than the file', async () => {
    const file = path.join(folder, 'huge-header.safetensors');
    const bytes = Buffer.alloc(64, 0x20);
    bytes.writeBigUInt64LE(2n ** 40n, 0);
    bytes[8] = 0x7b;
    await fs.writeFile(file, bytes);
    await assert.rejects(
      openModel(file),
      /huge-header\.safetensors: invalid safetensors header: its length 1099511627776 exceeds the file size 64/,
    );
  });
});
