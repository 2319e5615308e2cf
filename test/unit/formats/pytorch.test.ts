import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deflateSync, zipSync } from 'fflate';
import { detectFormat, openModel } from '../../../src/core/formats/index';
import { extractEntry, readZipEntries, writeStoredZip } from '../../../src/core/formats/torch-zip';
import { cloneNetwork, denseLayers, type DenseLayer, type Network } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import {
  findPython,
  noTorchMessage,
  runPython,
  sampleValues,
  torchZipEntries,
  writeTorchFixture,
} from './pytorch-fixtures';

const torchPython = findPython('torch, numpy');
const skipWithoutTorch = { skip: !torchPython && noTorchMessage };

/** Each corpus file with the dense sizes its SOURCE.md states. */
const corpus = [
  {
    file: corpusPath('pytorch-pth-mnist-mlp', 'mlp.pth'),
    sizes: [
      [128, 784],
      [64, 128],
      [10, 64],
    ],
    params: 109_386,
  },
  {
    file: corpusPath('pytorch-pth-mnist-mlp', 'mlp_20241008_211810.save'),
    sizes: [
      [128, 784],
      [64, 128],
      [10, 64],
    ],
    params: 109_386,
  },
  {
    file: corpusPath('pytorch-pth-cifar10-mlp', 'mlp_20241113_152500.save'),
    sizes: [
      [128, 3072],
      [64, 128],
      [10, 64],
    ],
    params: 402_250,
  },
];

/**
 * Loads a file with torch.load and prints every tensor and plain value. It tries
 * `weights_only=True` first. The weights-only unpickler of torch 1.13 rejects float values
 * (BINFLOAT), so a checkpoint with floats such as a learning rate falls back to a plain load.
 */
const describeWithTorch = String.raw`
import sys, json, pickle, torch
try:
    obj = torch.load(sys.argv[1], weights_only=True, map_location='cpu')
    weights_only = True
except pickle.UnpicklingError:
    obj = torch.load(sys.argv[1], map_location='cpu')
    weights_only = False
def describe(o):
    if isinstance(o, torch.Tensor):
        return {'shape': list(o.shape), 'dtype': str(o.dtype), 'values': o.detach().double().flatten().tolist()}
    if isinstance(o, dict):
        return {'type': type(o).__name__, 'items': [[str(k), describe(v)] for k, v in o.items()]}
    if isinstance(o, (list, tuple)):
        return [describe(v) for v in o]
    return o
metadata = getattr(obj, '_metadata', None)
keys = None if metadata is None else list(metadata.keys())
print(json.dumps({'root': describe(obj), 'metadata': keys, 'weightsOnly': weights_only}))`;

/** Writes the synthetic PyTorch files of these tests into the folder given as argument. */
const writeFixturesWithTorch = String.raw`
import sys, os, json, torch, collections
torch.manual_seed(0)
folder = sys.argv[1]
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net(torch.randn(5, 4)).sum().backward()
optimizer.step()
torch.save({'epoch': 3, 'model_state_dict': net.state_dict(), 'optimizer_state_dict': optimizer.state_dict(), 'best': 0.5},
           os.path.join(folder, 'checkpoint.pt'))
sd = collections.OrderedDict()
sd['fc.weight'] = torch.randn(4, 3).t()
big = torch.randn(10)
sd['fc.bias'] = big[2:5]
sd['out.weight'] = torch.randn(2, 3)
torch.save(sd, os.path.join(folder, 'strided.pth'))
typed = collections.OrderedDict()
typed['a.weight'] = torch.randn(3, 4).half()
typed['b.weight'] = torch.randn(2, 3).bfloat16()
typed['c.weight'] = torch.randn(2, 2).double()
torch.save(typed, os.path.join(folder, 'typed.pth'))
plain = torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False), torch.nn.ReLU(), torch.nn.Linear(3, 2, bias=False))
torch.save(plain.state_dict(), os.path.join(folder, 'nobias.pth'))
torch.save(plain.state_dict(), os.path.join(folder, 'legacy.pth'), _use_new_zipfile_serialization=False)
torch.save(plain, os.path.join(folder, 'whole-model.pth'))
print(json.dumps({'strided': {k: v.double().flatten().tolist() for k, v in sd.items()},
                  'typed': {k: v.double().flatten().tolist() for k, v in typed.items()}}))`;

interface Described {
  shape?: number[];
  dtype?: string;
  values?: number[];
  type?: string;
  items?: [string, Described][];
}

interface TorchLoad {
  items: [string, Described][];
  metadata: string[] | null;
  weightsOnly: boolean;
}

function torchTensors(file: string): TorchLoad {
  const result = runPython(torchPython as string, describeWithTorch, [file]) as TorchLoad & {
    root: Described;
  };
  return {
    items: result.root.items ?? [],
    metadata: result.metadata,
    weightsOnly: result.weightsOnly,
  };
}

function layer(network: Network, name: string): DenseLayer {
  const found = denseLayers(network).find((candidate) => candidate.name === name);
  assert.ok(found, `dense layer ${name}`);
  return found;
}

describe('PyTorch state dict format', () => {
  let folder: string;
  let fixtures: { strided: Record<string, number[]>; typed: Record<string, number[]> } | null =
    null;

  before(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-pytorch-'));
    if (torchPython) {
      fixtures = runPython(torchPython, writeFixturesWithTorch, [folder]) as typeof fixtures;
    }
  });

  after(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  for (const { file, sizes, params } of corpus) {
    it(`loads ${path.basename(file)}`, async () => {
      assert.equal((await detectFormat(file)).id, 'pytorch');
      const model = await openModel(file);
      const layers = denseLayers(model.network);
      assert.deepEqual(
        layers.map((l) => [l.units, l.inputs]),
        sizes,
      );
      assert.deepEqual(
        layers.map((l) => l.name),
        ['fc1', 'fc2', 'fc3'],
      );
      assert.deepEqual(
        layers.map((l) => l.activation.name),
        ['relu', 'relu', 'linear'],
      );
      const total = layers.reduce((sum, l) => sum + l.kernel.length + (l.bias?.length ?? 0), 0);
      assert.equal(total, params);
      assert.equal(model.canAddBias('fc1'), false, 'fc1 already has a bias');
    });
  }

  it('reads an architecture sidecar', async () => {
    const sidecar = path.join(folder, 'mlp.arch.yaml');
    const layers = [
      '- {weight: fc1.weight, bias: fc1.bias, activation: tanh}',
      '- {weight: fc2.weight, bias: fc2.bias, activation: GELU}',
      '- {weight: fc3.weight, bias: fc3.bias}',
    ];
    await fs.writeFile(sidecar, layers.join('\n'));
    const model = await openModel(corpus[0].file, { architecture: sidecar });
    const activations = denseLayers(model.network).map((l) => l.activation.name);
    assert.deepEqual(activations, ['tanh', 'gelu', 'linear']);
    assert.match(model.notes.join(' '), /Architecture read from mlp\.arch\.yaml/);
  });

  it('matches torch.load on corpus values', skipWithoutTorch, async () => {
    for (const { file } of corpus) {
      const model = await openModel(file);
      const { items } = torchTensors(file);
      assert.equal(items.length, 6);
      for (const [key, tensor] of items) {
        const [name, member] = key.split('.');
        const dense = layer(model.network, name);
        const ours = member === 'weight' ? dense.kernel : dense.bias;
        assert.deepEqual(
          tensor.shape,
          member === 'weight' ? [dense.units, dense.inputs] : [dense.units],
        );
        assert.deepEqual([...(ours ?? [])], tensor.values, `${path.basename(file)} ${key}`);
      }
    }
  });

  it('saves unchanged files byte for byte', async () => {
    for (const { file } of corpus) {
      const model = await openModel(file);
      const out = path.join(folder, `same-${path.basename(file)}`);
      await model.save(cloneNetwork(model.network), out);
      assert.ok((await fs.readFile(out)).equals(await fs.readFile(file)), path.basename(file));
    }
  });

  it('patches only changed storages', async () => {
    const file = corpus[0].file;
    const model = await openModel(file);
    const network = cloneNetwork(model.network);
    const fc2 = layer(network, 'fc2');
    for (let i = 0; i < fc2.kernel.length; i += 2) fc2.kernel[i] = 0;
    fc2.bias?.fill(0.25);
    const out = path.join(folder, 'pruned.pth');
    await model.save(network, out);
    const original = new Uint8Array(await fs.readFile(file));
    const saved = new Uint8Array(await fs.readFile(out));
    assert.equal(saved.length, original.length);
    const before = readZipEntries(original);
    const afterSave = readZipEntries(saved);
    assert.deepEqual(
      afterSave.map((e) => e.name),
      before.map((e) => e.name),
    );
    const changed = afterSave
      .filter(
        (entry, i) =>
          !Buffer.from(extractEntry(saved, entry)).equals(extractEntry(original, before[i])),
      )
      .map((entry) => entry.name);
    assert.deepEqual(changed, ['mlp/data/2', 'mlp/data/3']);
    const reopened = await openModel(out);
    assert.deepEqual(layer(reopened.network, 'fc2').kernel, fc2.kernel);
    assert.deepEqual(layer(reopened.network, 'fc2').bias, fc2.bias);
    assert.deepEqual(layer(reopened.network, 'fc1').kernel, layer(model.network, 'fc1').kernel);
  });

  it('writes a pruned file torch loads', skipWithoutTorch, async () => {
    const model = await openModel(corpus[0].file);
    const network = cloneNetwork(model.network);
    const fc1 = layer(network, 'fc1');
    for (let i = 0; i < fc1.kernel.length; i++)
      if (Math.abs(fc1.kernel[i]) < 0.02) fc1.kernel[i] = 0;
    fc1.bias?.forEach((value, i, bias) => (bias[i] = value + 0.125));
    const out = path.join(folder, 'pruned-torch.pth');
    await model.save(network, out);
    const { items, metadata, weightsOnly } = torchTensors(out);
    assert.equal(weightsOnly, true, 'loads with weights_only=True');
    const original = torchTensors(corpus[0].file);
    assert.deepEqual(
      items.map(([key, t]) => [key, t.shape, t.dtype]),
      original.items.map(([key, t]) => [key, t.shape, t.dtype]),
    );
    assert.deepEqual(metadata, ['', 'fc1', 'fc2', 'fc3']);
    const values = new Map(items.map(([key, t]) => [key, t.values]));
    assert.deepEqual(values.get('fc1.weight'), [...fc1.kernel]);
    assert.deepEqual(values.get('fc1.bias'), [...(fc1.bias ?? [])]);
    assert.deepEqual(values.get('fc3.weight'), original.items[4][1].values);
  });

  it('reads a nested checkpoint', skipWithoutTorch, async () => {
    const file = path.join(folder, 'checkpoint.pt');
    const model = await openModel(file);
    const sizes = denseLayers(model.network).map((l) => [l.name, l.units, l.inputs]);
    assert.deepEqual(sizes, [
      ['0', 3, 4],
      ['2', 2, 3],
    ]);
    assert.match(
      model.notes.join(' '),
      /state dict under 'model_state_dict'; the checkpoint's other entries are carried over unchanged/,
    );
    assert.equal(model.canAddBias('0'), false);
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].kernel[0] = 0;
    const out = path.join(folder, 'checkpoint-out.pt');
    await model.save(network, out);
    const before = torchTensors(file).items;
    const saved = torchTensors(out).items;
    assert.deepEqual(
      saved.map(([key]) => key),
      ['epoch', 'model_state_dict', 'optimizer_state_dict', 'best'],
    );
    assert.deepEqual(saved[0], before[0]);
    assert.deepEqual(saved[2], before[2], 'optimizer state unchanged');
    assert.deepEqual(saved[3], before[3]);
    const weights = saved[1][1].items?.find(([key]) => key === '0.weight')?.[1].values;
    assert.equal(weights?.[0], 0);
  });

  it('honours strides and storage offsets', skipWithoutTorch, async () => {
    const file = path.join(folder, 'strided.pth');
    const model = await openModel(file);
    const fc = layer(model.network, 'fc');
    assert.deepEqual([fc.units, fc.inputs], [3, 4]);
    assert.deepEqual([...fc.kernel], fixtures?.strided['fc.weight'].map(Math.fround));
    assert.deepEqual([...(fc.bias ?? [])], fixtures?.strided['fc.bias'].map(Math.fround));
    const network = cloneNetwork(model.network);
    const changed = layer(network, 'fc');
    changed.kernel[1] = 0;
    changed.bias?.fill(2);
    const out = path.join(folder, 'strided-out.pth');
    await model.save(network, out);
    const saved = new Map(torchTensors(out).items.map(([key, t]) => [key, t.values]));
    assert.deepEqual(saved.get('fc.weight'), [...changed.kernel]);
    assert.deepEqual(saved.get('fc.bias'), [2, 2, 2]);
    assert.deepEqual(saved.get('out.weight'), fixtures?.strided['out.weight'].map(Math.fround));
  });

  it('reads and writes half, bfloat16 and double', skipWithoutTorch, async () => {
    const file = path.join(folder, 'typed.pth');
    const model = await openModel(file);
    const layers = denseLayers(model.network);
    assert.deepEqual(
      layers.map((l) => [l.units, l.inputs]),
      [
        [3, 4],
        [2, 3],
        [2, 2],
      ],
    );
    assert.deepEqual([...layers[0].kernel], fixtures?.typed['a.weight']);
    assert.deepEqual([...layers[1].kernel], fixtures?.typed['b.weight']);
    assert.deepEqual([...layers[2].kernel], fixtures?.typed['c.weight'].map(Math.fround));
    const network = cloneNetwork(model.network);
    for (const dense of denseLayers(network)) dense.kernel[0] = 0.5;
    const out = path.join(folder, 'typed-out.pth');
    await model.save(network, out);
    const saved = torchTensors(out).items;
    assert.deepEqual(
      saved.map(([, t]) => t.dtype),
      ['torch.float16', 'torch.bfloat16', 'torch.float64'],
    );
    for (const [key, tensor] of saved) {
      const expected = [...(fixtures?.typed[key] ?? [])];
      expected[0] = 0.5;
      assert.deepEqual(
        tensor.values,
        expected,
        `${key}: unchanged elements keep their exact values`,
      );
    }
  });

  it('adds a bias torch loads', skipWithoutTorch, async () => {
    const file = path.join(folder, 'nobias.pth');
    const model = await openModel(file);
    assert.equal(model.canAddBias('0'), true);
    const network = cloneNetwork(model.network);
    const first = denseLayers(network)[0];
    first.bias = Float32Array.of(0.5, -1, 2);
    const out = path.join(folder, 'nobias-out.pth');
    const report = await model.save(network, out);
    assert.match(report.notes.join(' '), /Added a bias tensor '0\.bias' \(F32\) to layer 0/);
    const { items, metadata, weightsOnly } = torchTensors(out);
    assert.equal(weightsOnly, true, 'loads with weights_only=True');
    assert.deepEqual(
      items.map(([key, t]) => [key, t.shape]),
      [
        ['0.weight', [3, 4]],
        ['0.bias', [3]],
        ['2.weight', [2, 3]],
      ],
    );
    assert.deepEqual(items[1][1].values, [0.5, -1, 2]);
    assert.deepEqual(metadata, ['', '0', '1', '2']);
    const script = String.raw`
import sys, torch
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2, bias=False))
net.load_state_dict(torch.load(sys.argv[1]))
print(net[0].bias.tolist())`;
    assert.deepEqual(runPython(torchPython as string, script, [out]), [0.5, -1, 2]);
  });

  it('adds a bias without torch', async () => {
    const file = path.join(folder, 'ts-nobias.pth');
    await writeTorchFixture(file, [
      { name: 'l1.weight', shape: [3, 2], values: sampleValues(6) },
      { name: 'l2.weight', shape: [1, 3], values: sampleValues(3, 5) },
      { name: 'l2.bias', shape: [1], values: [0.5] },
    ]);
    const model = await openModel(file);
    const network = cloneNetwork(model.network);
    layer(network, 'l1').bias = Float32Array.of(1, 2, 3);
    const out = path.join(folder, 'ts-nobias-out.pth');
    await model.save(network, out);
    const reopened = await openModel(out);
    assert.deepEqual(layer(reopened.network, 'l1').bias, Float32Array.of(1, 2, 3));
    assert.deepEqual(layer(reopened.network, 'l1').kernel, layer(model.network, 'l1').kernel);
    assert.deepEqual(layer(reopened.network, 'l2').bias, Float32Array.of(0.5));
    const entries = readZipEntries(new Uint8Array(await fs.readFile(out)));
    assert.ok(
      entries.every((entry) => entry.dataOffset % 64 === 0),
      'data aligned as torch.save aligns it',
    );
  });

  it('rewrites a deflated archive', async () => {
    const file = path.join(folder, 'deflated.pth');
    const entries = torchZipEntries([
      { name: 'a.weight', shape: [2, 3], values: sampleValues(6) },
      { name: 'b.weight', shape: [1, 2], values: [1, 2] },
    ]);
    await fs.writeFile(file, zipSync(Object.fromEntries(entries.map((e) => [e.name, e.data]))));
    const model = await openModel(file);
    const network = cloneNetwork(model.network);
    layer(network, 'a').kernel[4] = 0;
    const out = path.join(folder, 'deflated-out.pth');
    await model.save(network, out);
    const saved = readZipEntries(new Uint8Array(await fs.readFile(out)));
    assert.deepEqual(
      saved.map((entry) => entry.name),
      entries.map((entry) => entry.name),
    );
    assert.ok(saved.every((entry) => entry.method === 0));
    const reopened = await openModel(out);
    assert.deepEqual(layer(reopened.network, 'a').kernel, layer(network, 'a').kernel);
    assert.deepEqual(layer(reopened.network, 'b').kernel, Float32Array.of(1, 2));
  });

  it('reads and patches a legacy file', skipWithoutTorch, async () => {
    const file = path.join(folder, 'legacy.pth');
    const model = await openModel(file);
    const layers = denseLayers(model.network);
    assert.deepEqual(
      layers.map((l) => [l.name, l.units, l.inputs]),
      [
        ['0', 3, 4],
        ['2', 2, 3],
      ],
    );
    assert.match(model.notes.join(' '), /Legacy \(non-zip\) torch\.save file/);
    assert.equal(model.canAddBias('0'), false);
    const reference = new Map(torchTensors(file).items.map(([key, t]) => [key, t.values]));
    assert.deepEqual([...layers[0].kernel], reference.get('0.weight')?.map(Math.fround));
    const network = cloneNetwork(model.network);
    denseLayers(network)[1].kernel[2] = 0;
    const out = path.join(folder, 'legacy-out.pth');
    await model.save(network, out);
    assert.equal((await fs.stat(out)).size, (await fs.stat(file)).size);
    const saved = torchTensors(out);
    assert.equal(saved.weightsOnly, true);
    const expected = [...(reference.get('2.weight') ?? [])];
    expected[2] = 0;
    assert.deepEqual(saved.items[1][1].values, expected);
    assert.deepEqual(saved.items[0][1].values, reference.get('0.weight'));
  });

  it('rejects a bias for a legacy file', skipWithoutTorch, async () => {
    const model = await openModel(path.join(folder, 'legacy.pth'));
    const network = cloneNetwork(model.network);
    denseLayers(network)[0].bias = Float32Array.of(1, 2, 3);
    await assert.rejects(
      model.save(network, path.join(folder, 'legacy-bias.pth')),
      /legacy\.pth: cannot add a bias to layer 0: .*prune that layer without compensation/,
    );
  });

  it('rejects a truncated legacy file', async () => {
    const file = path.join(folder, 'legacy-magic.pt');
    const magic = [
      0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
    ];
    await fs.writeFile(file, Uint8Array.from([...magic, 0x2e]));
    await assert.rejects(
      openModel(file),
      /legacy-magic\.pt: invalid legacy torch\.save file: pickle data ends without a STOP opcode; it may be truncated/,
    );
  });

  it('rejects a whole pickled model', skipWithoutTorch, async () => {
    await assert.rejects(
      openModel(path.join(folder, 'whole-model.pth')),
      /whole-model\.pth: refused to load 'torch\.nn\.modules\.container\.Sequential': .*save the state dict with torch\.save\(model\.state_dict\(\), path\)/,
    );
  });

  it('rejects entry names leaving the archive', async () => {
    const file = path.join(folder, 'traversal.pth');
    const entries = torchZipEntries([{ name: 'a.weight', shape: [1, 1], values: [1] }]);
    entries.push({ name: 'archive/../../evil', data: Uint8Array.of(1) });
    await fs.writeFile(file, writeStoredZip(entries));
    await assert.rejects(
      openModel(file),
      /traversal\.pth: invalid zip archive: zip entry name "archive\/\.\.\/\.\.\/evil" is an absolute path or contains '\.\.'/,
    );
  });

  it('bounds inflated entries', async () => {
    const file = path.join(folder, 'bomb.pth');
    const entries = torchZipEntries([{ name: 'a.weight', shape: [1, 1], values: [1] }]);
    const archive = writeStoredZip(entries);
    const zip = readZipEntries(archive);
    const pickle = zip[0];
    // Turn data.pkl into a deflated entry that inflates to a megabyte but declares its old size.
    const bomb = deflateSync(new Uint8Array(1 << 20));
    const patched = new Uint8Array(archive.length - pickle.compressedSize + bomb.length);
    patched.set(archive.subarray(0, pickle.dataOffset));
    patched.set(bomb, pickle.dataOffset);
    patched.set(
      archive.subarray(pickle.dataOffset + pickle.compressedSize),
      pickle.dataOffset + bomb.length,
    );
    const view = new DataView(patched.buffer);
    const shift = bomb.length - pickle.compressedSize;
    const central = pickle.centralCrcOffset - 16 + shift;
    view.setUint16(central + 10, 8, true);
    view.setUint32(central + 20, bomb.length, true);
    for (let i = 1; i < zip.length; i++) {
      const at = zip[i].centralCrcOffset - 16 + shift;
      view.setUint32(at + 42, zip[i].headerOffset + shift, true);
    }
    const end = patched.length - 22;
    view.setUint32(end + 16, view.getUint32(end + 16, true) + shift, true);
    await fs.writeFile(file, patched);
    await assert.rejects(
      openModel(file),
      /bomb\.pth: invalid zip archive: zip entry 'archive\/data\.pkl' (inflates to a different size|fails its CRC-32)/,
    );
  });

  it('rejects impossible inflated sizes', async () => {
    const file = path.join(folder, 'declared.pth');
    const entries = torchZipEntries([{ name: 'a.weight', shape: [1, 1], values: [1] }]);
    const archive = writeStoredZip(entries);
    const pickle = readZipEntries(archive)[0];
    const view = new DataView(archive.buffer);
    const central = pickle.centralCrcOffset - 16;
    view.setUint16(central + 10, 8, true);
    view.setUint32(central + 24, 0xfffffff0, true);
    await fs.writeFile(file, archive);
    await assert.rejects(
      openModel(file),
      /declared\.pth: invalid zip archive: deflated zip entry 'archive\/data\.pkl' declares 4294967280 bytes, more than the 1073741824-byte limit/,
    );
    view.setUint32(central + 24, 10_000_000, true);
    await fs.writeFile(file, archive);
    await assert.rejects(
      openModel(file),
      /declares 10000000 bytes from \d+, more than deflate can expand/,
    );
  });

  it('rejects a storage of the wrong size', async () => {
    const file = path.join(folder, 'short-storage.pth');
    const entries = torchZipEntries([{ name: 'a.weight', shape: [2, 2], values: [1, 2, 3, 4] }]);
    entries[2].data = entries[2].data.subarray(0, 8);
    await fs.writeFile(file, writeStoredZip(entries));
    await assert.rejects(
      openModel(file),
      /short-storage\.pth: storage '0' has 8 bytes but 4 F32 elements need 16/,
    );
  });
});
