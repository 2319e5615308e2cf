/**
 * Files of other kinds named as models, absurd declared shapes, paths that leave the model's
 * folder, hostile pickles and broken data. Each gives a one-line PruneLensError naming the file,
 * through the core API and through the CLI. The CLI touches nothing outside its sandbox.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { unzipSync, zipSync } from 'fflate';
import { onnx } from 'onnx-proto';
import { loadDataset } from '../../src/core/data';
import { PruneLensError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats';
import { runEvaluate } from '../../src/core/jobs';
import { writeStoredZip } from '../../src/core/formats/torch-zip';
import { corpusPath, writeHdf5AbortingCopy } from '../helpers/corpus';
import { torchZipEntries } from '../unit/formats/pytorch-fixtures';
import {
  accessesUnder,
  copyCorpusFolder,
  describeCliFailure,
  hashTree,
  runCliTraced,
  temporaryFolder,
  writesOutside,
} from './helpers';

const work = temporaryFolder('inputs');
after(() => fs.rmSync(work, { recursive: true, force: true }));

let sandboxCount = 0;

/** Creates a sandbox: a model folder, and an `outside` folder with a file nothing may read. */
function sandbox(): { model: string; outside: string; secret: string } {
  const root = path.join(work, `sandbox-${sandboxCount++}`);
  const model = path.join(root, 'model');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(model, { recursive: true });
  fs.mkdirSync(outside);
  const secret = path.join(outside, 'secret.bin');
  fs.writeFileSync(secret, new Uint8Array(4096));
  return { model, outside, secret };
}

/** Asserts a one-line PruneLensError that names `file`. */
async function assertRejected(run: () => Promise<unknown>, file: string, pattern?: RegExp): Promise<string> {
  const started = Date.now();
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof PruneLensError, `expected a PruneLensError for ${file}, got ${String(caught)}`);
  assert.doesNotMatch(caught.message, /\n/);
  assert.ok(caught.message.includes(path.basename(file)), `message does not name ${file}: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern);
  assert.ok(Date.now() - started < 10_000, 'took more than 10 s');
  return caught.message;
}

/** Runs `inspect` on `file` under strace and checks the CLI contract and the sandbox. */
async function assertCliRejects(file: string, allowed: string[], outside?: string, args: string[] = []): Promise<void> {
  const run = await runCliTraced(['inspect', file, ...args]);
  assert.equal(describeCliFailure(run), null, run.stderr);
  assert.ok(run.stderr.includes(path.basename(file)), run.stderr);
  assert.deepEqual(writesOutside(run.accesses, allowed), []);
  if (outside) assert.deepEqual(accessesUnder(run.accesses, outside), []);
}

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
const otherKinds: { kind: string; bytes: Uint8Array }[] = [
  { kind: 'CSV', bytes: new TextEncoder().encode('a,b,label\n1,2,0\n3,4,1\n') },
  { kind: 'PNG', bytes: png },
  { kind: 'gzip', bytes: gzipSync(Buffer.from('hello')) },
  { kind: 'zip', bytes: zipSync({ 'readme.txt': new TextEncoder().encode('not a model') }) },
  { kind: 'JSON', bytes: new TextEncoder().encode('{"name": "not a model"}') },
  { kind: 'empty file', bytes: new Uint8Array(0) },
  { kind: 'random bytes', bytes: Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24) },
];
const modelNames = ['model.h5', 'model.keras', 'model.json', 'model.onnx', 'model.safetensors', 'model.pt', 'model.pth'];

describe('other files named as models', () => {
  for (const { kind, bytes } of otherKinds) {
    it(`rejects ${kind} under model names`, async () => {
      const folder = path.join(work, `kind-${kind.replace(/\W/g, '')}`);
      fs.mkdirSync(folder, { recursive: true });
      for (const name of modelNames) {
        const file = path.join(folder, name);
        fs.writeFileSync(file, bytes);
        await assertRejected(() => openModel(file), file);
      }
    });
  }

  it('rejects a folder named as a model', async () => {
    const folder = path.join(work, 'folder.h5');
    fs.mkdirSync(folder, { recursive: true });
    await assertRejected(() => openModel(folder), folder, /folder/);
  });

  it('rejects a missing file', async () => {
    const file = path.join(work, 'missing.onnx');
    await assertRejected(() => openModel(file), file, /not found/);
  });

  it('rejects other kinds through the CLI', async () => {
    const box = sandbox();
    for (const { kind, bytes } of otherKinds.slice(0, 3)) {
      const file = path.join(box.model, `${kind.replace(/\W/g, '')}.onnx`);
      fs.writeFileSync(file, bytes);
      await assertCliRejects(file, [box.model], box.outside);
    }
  });
});

describe('damaged HDF5 structures', () => {
  it('rejects a file on which HDF5 aborts', async () => {
    const box = sandbox();
    const file = writeHdf5AbortingCopy(box.model);
    await assertCliRejects(file, [box.model], box.outside);
    const run = await runCliTraced(['inspect', file]);
    assert.match(run.stderr, /HDF5 stopped on a damaged structure in it/);
    assert.doesNotMatch(run.stderr, /Aborted/);
  });

  it('keeps HDF5 error stacks off the disk', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'truncated.h5');
    const bytes = fs.readFileSync(corpusPath('keras-h5-iris-mlp', 'iris_model.h5'));
    fs.writeFileSync(file, bytes.subarray(0, 4096));
    const run = await runCliTraced(['inspect', file]);
    assert.match(run.stderr, /truncated\.h5: .*(HDF5|damaged)/);
    assert.deepEqual(
      run.accesses.filter((access) => access.path.includes('tmpfile')),
      [],
      'HDF5 wrote its error stack to a temporary file',
    );
    assert.deepEqual(writesOutside(run.accesses, [box.model]), []);
  });
});

/** Writes a safetensors file with the given header object and data bytes. */
function safetensors(header: object, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function npyWithShape(shape: string): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(128 - 10 - 1 - header.length) + '\n';
  const prefix = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
  return new Uint8Array([...prefix, ...new TextEncoder().encode(header), ...new Uint8Array(16)]);
}

function onnxWithDims(dims: number[]): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Gemm', input: ['x', 'W'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] }],
      initializer: [{ name: 'W', dims, dataType: 1, rawData: new Uint8Array(24) }],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('absurd declared shapes', () => {
  const huge = 1_000_000_000;

  it('rejects a huge safetensors shape', async () => {
    const file = path.join(work, 'huge.safetensors');
    fs.writeFileSync(file, safetensors({ w: { dtype: 'F32', shape: [huge, huge], data_offsets: [0, 16] } }, new Uint8Array(16)));
    await assertRejected(() => openModel(file), file);
  });

  it('rejects a huge ONNX initializer', async () => {
    const file = path.join(work, 'huge.onnx');
    fs.writeFileSync(file, onnxWithDims([huge, huge]));
    await assertRejected(() => openModel(file), file);
  });

  it('rejects a huge npy shape', async () => {
    const file = path.join(work, 'huge.npy');
    fs.writeFileSync(file, npyWithShape('(100000000000,)'));
    await assertRejected(() => loadDataset({ data: file }), file);
  });

  it('rejects huge IDX dimensions', async () => {
    const file = path.join(work, 'huge.idx3-ubyte');
    const header = Buffer.alloc(16);
    header.set([0, 0, 8, 3]);
    header.writeUInt32BE(0xffffffff, 4);
    header.writeUInt32BE(0xffffffff, 8);
    header.writeUInt32BE(1, 12);
    fs.writeFileSync(file, Buffer.concat([header, Buffer.alloc(16)]));
    await assertRejected(() => loadDataset({ data: file }), file);
  });

  it('rejects a huge HDF5 kernel', { skip: !fs.existsSync('/usr/bin/python3') && 'no python3' }, async () => {
    const file = path.join(work, 'huge.h5');
    const script = `
import h5py, json, sys
cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
  {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 200000], "dtype": "float32", "name": "in"}},
  {"class_name": "Dense", "config": {"name": "dense", "units": 200000, "activation": "relu", "use_bias": True}}]}}
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['model_config'] = json.dumps(cfg)
    g = f.create_group('model_weights'); g.attrs['layer_names'] = [b'dense']
    d = g.create_group('dense'); d.attrs['weight_names'] = [b'dense/kernel:0', b'dense/bias:0']
    d.create_dataset('dense/kernel:0', shape=(200000, 200000), dtype='f4', chunks=(1000, 1000))
    d.create_dataset('dense/bias:0', shape=(200000,), dtype='f4')
`;
    const { spawnSync } = await import('node:child_process');
    const made = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
    if (made.status !== 0) return;
    await assertRejected(() => openModel(file), file, /declares shape \[200000, 200000\]/);
  });
});

/**
 * Writes, with h5py, a Keras model whose first kernel lives in another file: `external` (an
 * external link), `virtual` (a virtual dataset), `raw` (external raw storage) or `self` (an
 * external link back to the model). Returns false where python3 or h5py is missing.
 */
function writeLinkedKeras(file: string, outside: string, how: string): boolean {
  const script = `
import h5py, json, numpy as np, os, sys
model, outside, how = sys.argv[1:4]
cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
  {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "in"}},
  {"class_name": "Dense", "config": {"name": "d1", "units": 8, "activation": "relu", "use_bias": True}}]}}
with h5py.File(os.path.join(outside, 'v.h5'), 'w') as f:
    f['k'] = np.ones((4, 8), 'f4')
open(os.path.join(outside, 'raw.bin'), 'wb').write(np.ones(32, 'f4').tobytes())
with h5py.File(model, 'w') as f:
    f.attrs['model_config'] = json.dumps(cfg)
    g = f.create_group('model_weights'); g.attrs['layer_names'] = [b'd1']
    d = g.create_group('d1'); d.attrs['weight_names'] = [b'd1/kernel:0', b'd1/bias:0']
    d['d1/bias:0'] = np.zeros(8, 'f4')
    if how == 'external':
        d['d1/kernel:0'] = h5py.ExternalLink(os.path.join(outside, 'v.h5'), '/k')
    if how == 'self':
        f['hidden'] = np.ones((4, 8), 'f4')
        d['d1/kernel:0'] = h5py.ExternalLink(os.path.basename(model), '/hidden')
    if how == 'raw':
        d.create_dataset('d1/kernel:0', shape=(4, 8), dtype='f4', external=[(os.path.join(outside, 'raw.bin'), 0, 128)])
    if how == 'virtual':
        layout = h5py.VirtualLayout(shape=(4, 8), dtype='f4')
        layout[:] = h5py.VirtualSource(os.path.join(outside, 'v.h5'), '/k', shape=(4, 8))
        d.create_virtual_dataset('d1/kernel:0', layout)
`;
  const made = spawnSync('/usr/bin/python3', ['-c', script, file, outside, how], { encoding: 'utf8' });
  return made.status === 0;
}

describe('HDF5 links to other files', () => {
  for (const how of ['external', 'virtual', 'raw', 'self']) {
    it(`rejects a kernel in ${how === 'raw' ? 'external storage' : `a ${how} link`}`, async (context) => {
      const box = sandbox();
      const file = path.join(box.model, 'linked.h5');
      if (!writeLinkedKeras(file, box.outside, how)) return context.skip('python3 with h5py is missing');
      const before = hashTree(box.outside);
      const original = fs.readFileSync(file);
      await assertRejected(() => openModel(file), file, /refers to ".*" \(an HDF5 external link/);
      await assertCliRejects(file, [box.model], how === 'self' ? undefined : box.outside);
      const out = path.join(box.model, 'out.h5');
      const run = await runCliTraced(['prune', file, '--sparsity', '0.5', '--method', 'magnitude', '--out', out]);
      assert.equal(describeCliFailure(run), null, run.stderr);
      assert.deepEqual(writesOutside(run.accesses, [box.model]), []);
      assert.deepEqual(hashTree(box.outside), before);
      assert.deepEqual(fs.readFileSync(file), original);
      assert.equal(fs.existsSync(out), false);
    });
  }
});

describe('HDF5 links inside .keras files', () => {
  it('rejects a kernel in a linked file', async (context) => {
    const box = sandbox();
    const archive = unzipSync(new Uint8Array(fs.readFileSync(corpusPath('keras3-iris-mlp', 'iris_model.keras'))));
    const weights = path.join(box.outside, 'model.weights.h5');
    fs.writeFileSync(weights, archive['model.weights.h5']);
    const script = `
import h5py, numpy as np, os, sys
weights, outside = sys.argv[1:3]
with h5py.File(os.path.join(outside, 'v.h5'), 'w') as f:
    f['k'] = np.ones((4, 64), 'f4')
with h5py.File(weights, 'r+') as f:
    del f['layers/dense/vars/0']
    f['layers/dense/vars/0'] = h5py.ExternalLink(os.path.join(outside, 'v.h5'), '/k')
`;
    const made = spawnSync('/usr/bin/python3', ['-c', script, weights, box.outside], { encoding: 'utf8' });
    if (made.status !== 0) return context.skip('python3 with h5py is missing');
    archive['model.weights.h5'] = new Uint8Array(fs.readFileSync(weights));
    const file = path.join(box.model, 'linked.keras');
    fs.writeFileSync(file, zipSync(archive));
    await assertRejected(() => openModel(file), file, /refers to ".*v\.h5" \(an HDF5 external link/);
  });
});

/** Copies the ml5 TF.js model and makes its manifest list `paths` for its one weights group. */
function tfjsWithPaths(folder: string, paths: string[]): string {
  copyCorpusFolder('tfjs-layers-ml5-muse-eeg', folder);
  const file = path.join(folder, 'model.json');
  const model = JSON.parse(fs.readFileSync(file, 'utf8'));
  model.weightsManifest[0].paths = paths;
  fs.writeFileSync(file, JSON.stringify(model));
  return file;
}

/** Copies the cartpole ONNX model and points its external tensors at `location`. */
function onnxWithLocation(folder: string, location: string): string {
  copyCorpusFolder('onnx-extdata-sb3-dqn-cartpole', folder);
  const file = path.join(folder, 'model.onnx');
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  for (const tensor of model.graph!.initializer!) {
    for (const entry of tensor.externalData ?? []) if (entry.key === 'location') entry.value = location;
  }
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

describe('paths leaving the model folder', () => {
  const cases: { name: string; build: (box: ReturnType<typeof sandbox>) => string }[] = [
    { name: 'TF.js ../ shard path', build: (box) => tfjsWithPaths(box.model, ['../outside/secret.bin']) },
    { name: 'TF.js absolute shard path', build: (box) => tfjsWithPaths(box.model, [box.secret]) },
    {
      name: 'TF.js shard linked outside',
      build: (box) => {
        const file = tfjsWithPaths(box.model, ['model.weights.bin']);
        fs.rmSync(path.join(box.model, 'model.weights.bin'));
        fs.symlinkSync(box.secret, path.join(box.model, 'model.weights.bin'));
        return file;
      },
    },
    { name: 'ONNX ../ external data', build: (box) => onnxWithLocation(box.model, '../outside/secret.bin') },
    { name: 'ONNX absolute external data', build: (box) => onnxWithLocation(box.model, box.secret) },
    {
      name: 'ONNX external data linked outside',
      build: (box) => {
        const file = onnxWithLocation(box.model, 'model.onnx.data');
        fs.rmSync(path.join(box.model, 'model.onnx.data'));
        fs.symlinkSync(box.secret, path.join(box.model, 'model.onnx.data'));
        return file;
      },
    },
  ];

  for (const { name, build } of cases) {
    it(`rejects ${name}`, async () => {
      const box = sandbox();
      const file = build(box);
      const before = hashTree(path.dirname(box.model));
      await assertRejected(() => openModel(file), file, /outside the model's folder|leads outside/);
      await assertCliRejects(file, [box.model], box.outside);
      assert.deepEqual(hashTree(path.dirname(box.model)), before);
    });
  }

  it('rejects a Keras sidecar linked outside', async () => {
    const box = sandbox();
    const folder = 'keras-h5-weights-only-desharnais-mlp';
    fs.copyFileSync(corpusPath(folder, 'mlp.h5'), path.join(box.model, 'mlp.h5'));
    fs.copyFileSync(corpusPath(folder, 'mlp.json'), path.join(box.outside, 'mlp.json'));
    fs.symlinkSync(path.join(box.outside, 'mlp.json'), path.join(box.model, 'mlp.json'));
    const file = path.join(box.model, 'mlp.h5');
    await assertRejected(() => openModel(file), file, /leads outside/);
    await assertCliRejects(file, [box.model], box.outside);
  });

  it('rejects a state dict sidecar linked outside', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'model.safetensors');
    fs.copyFileSync(corpusPath('safetensors-tinygrad-mnist-mlp-nobias', 'model.safetensors'), file);
    fs.writeFileSync(path.join(box.outside, 'arch.json'), '{"layers": []}');
    fs.symlinkSync(path.join(box.outside, 'arch.json'), path.join(box.model, 'model.safetensors.arch.json'));
    await assertRejected(() => openModel(file), file, /leads outside/);
    await assertCliRejects(file, [box.model], box.outside);
  });

  it('rejects a model file linked outside', async () => {
    const box = sandbox();
    fs.copyFileSync(corpusPath('keras-h5-iris-mlp', 'iris_model.h5'), path.join(box.outside, 'real.h5'));
    const link = path.join(box.model, 'model.h5');
    fs.symlinkSync(path.join(box.outside, 'real.h5'), link);
    // The user chose the link, so reading through it is allowed; the check is that nothing is written.
    const run = await runCliTraced(['inspect', link]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(writesOutside(run.accesses, [box.model]), []);
  });
});

describe('hostile archives', () => {
  it('rejects path traversal in a .keras zip', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'evil.keras');
    const text = new TextEncoder();
    fs.writeFileSync(file, zipSync({ '../outside/config.json': text.encode('{}'), 'model.weights.h5': text.encode('x') }));
    await assertRejected(() => openModel(file), file, /unsafe path/);
    await assertCliRejects(file, [box.model], box.outside);
  });

  it('rejects a zip bomb in a .keras zip', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'bomb.keras');
    const zeros = new Uint8Array(256 * 1024 * 1024);
    fs.writeFileSync(file, zipSync({ 'config.json': zeros, 'metadata.json': new Uint8Array(2), 'model.weights.h5': zeros }, { level: 9 }));
    assert.ok(fs.statSync(file).size < 2 * 1024 * 1024);
    await assertRejected(() => openModel(file), file, /unpacks to|bomb|ratio/);
  });

  it('rejects path traversal in a .pt zip', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'evil.pt');
    const entries = torchZipEntries([{ name: 'fc.weight', shape: [1, 1], values: [1] }], '../outside');
    fs.writeFileSync(file, writeStoredZip(entries));
    await assertRejected(() => openModel(file), file);
    await assertCliRejects(file, [box.model], box.outside);
  });

  it('rejects a zip bomb in a .pt zip', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'bomb.pt');
    const entries = torchZipEntries([{ name: 'fc.weight', shape: [1, 1], values: [1] }]);
    const files = Object.fromEntries(entries.map((entry) => [entry.name, entry.data]));
    files['archive/data/0'] = new Uint8Array(512 * 1024 * 1024);
    fs.writeFileSync(file, zipSync(files, { level: 9 }));
    await assertRejected(() => openModel(file), file);
  });
});

const latin1 = (text: string) => Uint8Array.from(text, (character) => character.charCodeAt(0));

describe('hostile pickles in .pt files', () => {
  const payloads: { name: string; pickle: (marker: string) => string }[] = [
    { name: 'os.system', pickle: (marker) => `\x80\x02cos\nsystem\nX${lengthOf(`touch ${marker}`)}touch ${marker}\x85R.` },
    { name: 'builtins.eval', pickle: (marker) => `\x80\x02cbuiltins\neval\nX${lengthOf(`open('${marker}','w')`)}open('${marker}','w')\x85R.` },
    { name: 'subprocess.Popen', pickle: (marker) => `\x80\x02csubprocess\nPopen\n]X\x05\x00\x00\x00touchX${lengthOf(marker)}${marker}e\x85R.` },
    { name: 'INST opcode', pickle: (marker) => `(S'touch ${marker}'\nios\nsystem\n.` },
    { name: 'OBJ opcode', pickle: (marker) => `(cos\nsystem\nS'touch ${marker}'\no.` },
    { name: 'EXT1 opcode', pickle: () => `\x80\x02\x82\x01)R.` },
    { name: 'reduce of getattr', pickle: () => `\x80\x02cbuiltins\ngetattr\ncbuiltins\nobject\nX\x0b\x00\x00\x00__reduce__\x86R.` },
  ];

  for (const { name, pickle } of payloads) {
    it(`rejects ${name} without running it`, async () => {
      const box = sandbox();
      const marker = path.join(box.outside, 'pwned');
      const entries = torchZipEntries([{ name: 'fc.weight', shape: [1, 1], values: [1] }]);
      entries[0] = { name: entries[0].name, data: latin1(pickle(marker)) };
      const file = path.join(box.model, 'evil.pt');
      fs.writeFileSync(file, writeStoredZip(entries));
      await assertRejected(() => openModel(file), file, /refused|unsupported|not allowed|reject/i);
      assert.equal(fs.existsSync(marker), false);
      const legacy = path.join(box.model, 'evil-legacy.pt');
      fs.writeFileSync(legacy, latin1(pickle(marker)));
      await assertRejected(() => openModel(legacy), legacy);
      assert.equal(fs.existsSync(marker), false);
    });
  }

  it('rejects os.system through the CLI', async () => {
    const box = sandbox();
    const marker = path.join(box.outside, 'pwned');
    const entries = torchZipEntries([{ name: 'fc.weight', shape: [1, 1], values: [1] }]);
    entries[0] = { name: entries[0].name, data: latin1(payloads[0].pickle(marker)) };
    const file = path.join(box.model, 'evil.pt');
    fs.writeFileSync(file, writeStoredZip(entries));
    await assertCliRejects(file, [box.model], box.outside);
    assert.equal(fs.existsSync(marker), false);
  });
});

function lengthOf(text: string): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(text.length);
  return bytes.toString('latin1');
}

describe('broken data', () => {
  const model = corpusPath('keras-h5-iris-mlp', 'iris_model.h5');
  const cases: { name: string; content: string; options?: object; pattern?: RegExp }[] = [
    { name: 'empty file', content: '' },
    { name: 'header only', content: 'a,b,c,d,label\n' },
    { name: 'text in a feature column', content: 'a,b,c,d,label\n1,2,3,x,0\n1,2,3,4,1\n', options: { labelColumn: 'label' } },
    { name: 'wrong feature count', content: 'a,b,label\n1,2,0\n3,4,1\n', options: { labelColumn: 'label' }, pattern: /features|inputs/ },
  ];

  for (const { name, content, options, pattern } of cases) {
    it(`rejects data with ${name}`, async () => {
      const box = sandbox();
      const file = path.join(box.model, 'data.csv');
      fs.writeFileSync(file, content);
      await assertRejected(() => runEvaluate({ model, data: { data: file, ...options } }), file, pattern);
      const run = await runCliTraced(['evaluate', model, '--data', file, '--quiet', ...(options ? ['--label-column', 'label'] : [])]);
      assert.equal(describeCliFailure(run), null, run.stderr);
      assert.deepEqual(writesOutside(run.accesses, [box.model]), []);
    });
  }

  it('reads text labels as class names', async () => {
    const box = sandbox();
    const file = path.join(box.model, 'data.csv');
    fs.writeFileSync(file, 'a,b,c,d,label\n1,2,3,4,setosa\n4,3,2,1,virginica\n');
    const dataset = await loadDataset({ data: file, labelColumn: 'label' });
    assert.deepEqual(dataset.classNames, ['setosa', 'virginica']);
  });
});

describe('pipes and devices', () => {
  const canMakeFifo = spawnSync('mkfifo', ['--help']).status === 0;

  it('rejects a named pipe as data or model', { skip: !canMakeFifo && 'mkfifo is missing', timeout: 10_000 }, async () => {
    const box = sandbox();
    const pipe = path.join(box.model, 'data.csv');
    const modelPipe = path.join(box.model, 'model.safetensors');
    assert.equal(spawnSync('mkfifo', [pipe, modelPipe]).status, 0);
    // Opening a pipe without a writer would wait forever, and the test's timeout catches that.
    await assertRejected(() => loadDataset({ data: pipe }), pipe, /is a named pipe, not a file/);
    await assertRejected(() => openModel(modelPipe), modelPipe, /is a named pipe, not a model file/);
  });

  it('rejects a device as data', async () => {
    await assertRejected(() => loadDataset({ data: '/dev/zero' }), '/dev/zero', /is a device, not a file/);
  });
});

describe('tensors that reuse their storage', () => {
  it('rejects a stride-0 view of one element', async (context) => {
    const box = sandbox();
    const file = path.join(box.model, 'model.pth');
    const script = `
import sys, torch
expanded = torch.zeros(1).as_strided((20000, 20000), (0, 0))
torch.save({'l1.weight': expanded, 'l2.weight': torch.zeros(10, 20000)}, sys.argv[1])
`;
    const made = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
    if (made.status !== 0) return context.skip('python3 with torch is missing');
    // 400 million weights from a file of kilobytes would otherwise take gigabytes to read.
    await assertRejected(() => openModel(file), file, /has 400000000 elements but its storage holds 1/);
  });
});
