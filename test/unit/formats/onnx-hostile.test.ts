import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { openModel, probeFile } from '../../../src/core/formats/index';
import { onnxFormat } from '../../../src/core/formats/onnx';
import { cloneNetwork, denseLayers } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import {
  encodeModel,
  externalTensor,
  floatTensor,
  intAttr,
  maxRelativeError,
  node,
  pseudoRandom,
  runOrt,
  temporaryFolder,
  valueInfo,
  writeModel,
  type ModelParts,
} from './onnx-fixtures';

const kernel = [1, 2, 3, 4, 5, 6];

/** Returns a Gemm(transB=1) model whose weight `W` [2, 3] is the given tensor. */
function gemmModel(weight = floatTensor('W', [2, 3], kernel)): ModelParts {
  return {
    nodes: [node('Gemm', ['x', 'W', 'b'], ['y'], [intAttr('transB', 1)])],
    initializers: [weight, floatTensor('b', [2], [0.5, -0.5])],
    input: valueInfo('x', [3]),
    output: valueInfo('y', [2]),
  };
}

/** Writes a model whose weight is external at `location` and returns its path. */
function externalModel(location: string, offset = 0, length = 24): string {
  const folder = temporaryFolder();
  fs.writeFileSync(path.join(folder, 'weights.bin'), Buffer.from(new Float32Array(kernel).buffer));
  return writeModel(
    folder,
    'model.onnx',
    encodeModel(gemmModel(externalTensor('W', [2, 3], location, offset, length))),
  );
}

describe('ONNX external data checks', () => {
  it('reads a valid external weight', async () => {
    const file = externalModel('weights.bin');
    const loaded = await onnxFormat.open(file);
    assert.deepEqual([...denseLayers(loaded.network)[0].kernel], kernel);
    const changed = cloneNetwork(loaded.network);
    denseLayers(changed)[0].kernel[4] = 0;
    const out = path.join(path.dirname(file), 'out', 'pruned.onnx');
    fs.mkdirSync(path.dirname(out));
    const report = await loaded.save(changed, out);
    assert.deepEqual(report.files, [out, `${out}.data`]);
    const samples = [pseudoRandom(3, 1), pseudoRandom(3, 2)];
    assert.ok(maxRelativeError(changed, samples, await runOrt(out, samples, [3])) < 1e-4);
  });

  it('rejects a parent-folder location', async () => {
    await assert.rejects(
      onnxFormat.open(externalModel('../weights.bin')),
      /outside the model's folder/,
    );
    await assert.rejects(
      onnxFormat.open(externalModel('sub/../../weights.bin')),
      /outside the model's folder/,
    );
  });

  it('rejects an absolute location', async () => {
    await assert.rejects(
      onnxFormat.open(externalModel('/etc/hostname')),
      /outside the model's folder/,
    );
  });

  it('rejects a link leading outside', async () => {
    const file = externalModel('link.bin');
    const outside = path.join(temporaryFolder(), 'secret.bin');
    fs.writeFileSync(outside, Buffer.alloc(64));
    fs.symlinkSync(outside, path.join(path.dirname(file), 'link.bin'));
    await assert.rejects(onnxFormat.open(file), /a link that leads outside the model's folder/);
  });

  it('rejects a missing data file', async () => {
    await assert.rejects(
      onnxFormat.open(externalModel('missing.bin')),
      /"missing.bin", which was not found beside the model/,
    );
  });

  it('rejects a length mismatch', async () => {
    await assert.rejects(
      onnxFormat.open(externalModel('weights.bin', 0, 16)),
      /external length 16 bytes but its dims \[2,3\] need 24/,
    );
  });

  it('rejects data past the file end', async () => {
    await assert.rejects(
      onnxFormat.open(externalModel('weights.bin', 8, 24)),
      /needs bytes 8\.\.32 of 'weights.bin', which has only 24/,
    );
  });

  it('names the file in errors', async () => {
    const file = externalModel('../weights.bin');
    await assert.rejects(onnxFormat.open(file), (error: Error) => {
      assert.equal(error.name, 'ModelFormatError');
      assert.ok(error.message.startsWith(`${file}: `));
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });
});

describe('ONNX damaged files', () => {
  it('rejects a truncated model', async () => {
    const bytes = fs.readFileSync(corpusPath('onnx-pytorch-mnist-mlp/mnist_mlp.onnx'));
    const file = writeModel(temporaryFolder(), 'cut.onnx', bytes.subarray(0, 100_000));
    await assert.rejects(
      onnxFormat.open(file),
      /cut\.onnx: is not a readable ONNX model .*truncated/,
    );
    await assert.rejects(openModel(file), /cut\.onnx: is not a readable ONNX model .*truncated/);
  });

  it('rejects garbage bytes', async () => {
    const file = writeModel(
      temporaryFolder(),
      'noise.onnx',
      Uint8Array.from(pseudoRandom(4096, 9), (v) => (v + 1) * 127),
    );
    await assert.rejects(
      onnxFormat.open(file),
      /noise\.onnx: (is not a readable ONNX model|has \d+ graph entries)/,
    );
  });

  it('rejects raw data of the wrong size', async () => {
    const weight = floatTensor('W', [2, 3], [1, 2, 3, 4, 5]);
    const file = writeModel(temporaryFolder(), 'short.onnx', encodeModel(gemmModel(weight)));
    await assert.rejects(
      onnxFormat.open(file),
      /tensor 'W' stores 5 values but its dims \[2,3\] need 6/,
    );
  });

  it('rejects a bias of the wrong size', async () => {
    const parts = gemmModel();
    parts.initializers = [floatTensor('W', [2, 3], kernel), floatTensor('b', [3], [1, 2, 3])];
    const file = writeModel(temporaryFolder(), 'bias.onnx', encodeModel(parts));
    await assert.rejects(
      onnxFormat.open(file),
      /bias 'b' of node 'Gemm_y' has dims \[3\]; expected \[2\] for 2 units/,
    );
  });

  it('rejects disagreeing layer widths', async () => {
    const parts = gemmModel();
    parts.nodes.push(node('Gemm', ['y', 'W', 'b'], ['y2'], [intAttr('transB', 1)]));
    parts.output = valueInfo('y2', [2]);
    const file = writeModel(temporaryFolder(), 'widths.onnx', encodeModel(parts));
    await assert.rejects(
      onnxFormat.open(file),
      /node 'Gemm_y2' multiplies a width-2 input by weight 'W' \[2,3\], which expects 3/,
    );
  });

  it('rejects a file without a graph', async () => {
    const file = writeModel(temporaryFolder(), 'empty-graph.onnx', Uint8Array.from([0x08, 0x07]));
    await assert.rejects(onnxFormat.open(file), /has 0 graph entries/);
  });
});

describe('ONNX graph shape checks', () => {
  it('rejects a branching graph', async () => {
    const parts = gemmModel();
    parts.nodes = [
      node('Relu', ['x'], ['r']),
      node('Gemm', ['x', 'W', 'b'], ['y'], [intAttr('transB', 1)]),
    ];
    const file = writeModel(temporaryFolder(), 'branch.onnx', encodeModel(parts));
    await assert.rejects(onnxFormat.open(file), /tensor 'x' feeds 2 nodes .*one chain/);
  });

  it('rejects a residual Add', async () => {
    const parts = gemmModel();
    parts.nodes = [
      node('Gemm', ['x', 'W', 'b'], ['g'], [intAttr('transB', 1)]),
      node('Relu', ['g'], ['r']),
      node('Add', ['r', 'g'], ['y']),
    ];
    const file = writeModel(temporaryFolder(), 'residual.onnx', encodeModel(parts));
    await assert.rejects(onnxFormat.open(file), /feeds 2 nodes|combines/);
  });

  it('rejects two graph inputs', async () => {
    const bytes = encodeModel(gemmModel());
    const model = onnx.ModelProto.decode(bytes);
    model.graph?.input?.push(onnx.ValueInfoProto.create(valueInfo('z', [3])));
    const file = writeModel(temporaryFolder(), 'two.onnx', onnx.ModelProto.encode(model).finish());
    await assert.rejects(onnxFormat.open(file), /has 2 graph inputs \('x', 'z'\)/);
  });

  it('keeps an integer-weight MatMul opaque', async () => {
    const parts = gemmModel();
    parts.nodes = [node('MatMul', ['x', 'Wi'], ['y'])];
    parts.initializers = [{ name: 'Wi', dims: [3, 2], dataType: 6, int32Data: kernel }];
    const file = writeModel(temporaryFolder(), 'int.onnx', encodeModel(parts));
    const loaded = await onnxFormat.open(file);
    const layer = loaded.network.layers[0];
    assert.equal(layer.kind, 'opaque');
    if (layer.kind === 'opaque')
      assert.match(
        layer.reason,
        /MatMul cannot be read as a dense layer .*data type INT32, not a float type.*node 'MatMul_y'/,
      );
  });
});

describe('ONNX match', () => {
  async function matches(name: string, bytes: Uint8Array): Promise<boolean> {
    return onnxFormat.match(await probeFile(writeModel(temporaryFolder(), name, bytes)));
  }

  it('accepts the corpus files', async () => {
    for (const file of [
      'onnx-pytorch-mnist-mlp/mnist_mlp.onnx',
      'onnx-tf2onnx-ph-housing-regression/mlp_model.onnx',
    ]) {
      assert.equal(onnxFormat.match(await probeFile(corpusPath(file))), true, file);
    }
  });

  it('rejects other extensions', async () => {
    assert.equal(await matches('model.bin', encodeModel(gemmModel())), false);
  });

  it('rejects text and empty files', async () => {
    assert.equal(
      await matches('text.onnx', new TextEncoder().encode('hello, this is not protobuf\n')),
      false,
    );
    assert.equal(await matches('empty.onnx', new Uint8Array()), false);
  });
});
