import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { getFloat16 } from '@petamoriken/float16';
import { onnxFormat } from '../../../src/core/formats/onnx';
import { cloneNetwork, denseLayers, type DenseLayer, type Network } from '../../../src/core/model';
import {
  FLOAT16,
  encodeModel,
  floatAttr,
  floatTensor,
  floatsAttr,
  halfTensor,
  int64Tensor,
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

const inputs = 3;
const units = 2;
/** The kernel every synthetic dense layer should load as, `[units, inputs]` row-major. */
const kernel = [1, 2, 3, 4, 5, 6];
/** The same kernel stored `[inputs, units]`, as MatMul and Gemm(transB=0) read it. */
const kernelInputsUnits = [1, 4, 2, 5, 3, 6];
const bias = [0.5, -0.25];

const samples = [pseudoRandom(inputs, 3), pseudoRandom(inputs, 4), [0.3, -0.7, 1.1]];

function singleLayer(
  nodes: onnx.INodeProto[],
  initializers: onnx.ITensorProto[],
  extra: Partial<ModelParts> = {},
): ModelParts {
  return {
    nodes,
    initializers,
    input: valueInfo('x', [inputs]),
    output: valueInfo('y', [units]),
    ...extra,
  };
}

async function load(parts: ModelParts, name = 'model.onnx') {
  const file = writeModel(temporaryFolder(), name, encodeModel(parts));
  return { file, loaded: await onnxFormat.open(file) };
}

async function assertMatchesOrt(file: string, network: Network, shape = [inputs]): Promise<void> {
  const outputs = await runOrt(file, samples, shape);
  assert.ok(maxRelativeError(network, samples, outputs) < 1e-4);
}

function onlyDense(network: Network): DenseLayer {
  const dense = denseLayers(network);
  assert.equal(dense.length, 1);
  return dense[0];
}

/** Changes one weight and one bias value, saves, reopens and checks against onnxruntime. */
async function assertRoundTrip(
  file: string,
  network: Network,
  save: (n: Network, out: string) => Promise<unknown>,
) {
  const changed = cloneNetwork(network);
  const layer = onlyDense(changed);
  layer.kernel[1] = 0;
  layer.kernel[4] = -1.5;
  if (layer.bias) layer.bias[1] += 0.75;
  const out = path.join(path.dirname(file), 'changed.onnx');
  await save(changed, out);
  const reopened = await onnxFormat.open(out);
  assert.deepEqual(onlyDense(reopened.network).kernel, layer.kernel);
  assert.deepEqual(onlyDense(reopened.network).bias, layer.bias);
  await assertMatchesOrt(out, changed);
}

describe('ONNX Gemm variants', () => {
  const cases = [
    { name: 'transB=1 with C', transB: 1, weights: kernel, alpha: 1, beta: 1, withC: true },
    {
      name: 'transB=0 with C',
      transB: 0,
      weights: kernelInputsUnits,
      alpha: 1,
      beta: 1,
      withC: true,
    },
    { name: 'alpha and beta', transB: 1, weights: kernel, alpha: 0.5, beta: 2, withC: true },
    { name: 'no input C', transB: 0, weights: kernelInputsUnits, alpha: 1, beta: 1, withC: false },
  ];
  for (const testCase of cases) {
    it(`reads Gemm ${testCase.name}`, async () => {
      const dims = testCase.transB ? [units, inputs] : [inputs, units];
      const attributes = [
        intAttr('transB', testCase.transB),
        floatAttr('alpha', testCase.alpha),
        floatAttr('beta', testCase.beta),
      ];
      const gemmInputs = testCase.withC ? ['x', 'W', 'b'] : ['x', 'W'];
      const initializers = [floatTensor('W', dims, testCase.weights)];
      if (testCase.withC) initializers.push(floatTensor('b', [units], bias));
      const { file, loaded } = await load(
        singleLayer([node('Gemm', gemmInputs, ['y'], attributes)], initializers),
      );
      const layer = onlyDense(loaded.network);
      assert.deepEqual(
        [...layer.kernel],
        kernel.map((w) => w * testCase.alpha),
      );
      assert.deepEqual(
        layer.bias && [...layer.bias],
        testCase.withC ? bias.map((b) => b * testCase.beta) : null,
      );
      assert.equal(loaded.canAddBias(layer.name), !testCase.withC);
      await assertMatchesOrt(file, loaded.network);
      await assertRoundTrip(file, loaded.network, loaded.save);
    });
  }

  it('adds input C to a Gemm', async () => {
    const attributes = [intAttr('transB', 1), floatAttr('beta', 0.5)];
    const parts = singleLayer(
      [node('Gemm', ['x', 'W'], ['y'], attributes)],
      [floatTensor('W', [units, inputs], kernel)],
    );
    const { file, loaded } = await load(parts);
    const changed = cloneNetwork(loaded.network);
    onlyDense(changed).bias = Float32Array.from([0.125, -2]);
    const out = path.join(path.dirname(file), 'biased.onnx');
    const report = await loaded.save(changed, out);
    assert.match(report.notes[0], /added a zero bias to layer .* as input C/);
    const saved = onnx.ModelProto.decode(fs.readFileSync(out));
    assert.equal(saved.graph?.node?.[0].input?.length, 3);
    assert.equal(saved.graph?.node?.length, 1);
    assert.deepEqual(
      onlyDense((await onnxFormat.open(out)).network).bias,
      Float32Array.from([0.125, -2]),
    );
    await assertMatchesOrt(out, changed);
  });

  it('rejects Gemm with transA=1', async () => {
    const attributes = [intAttr('transA', 1), intAttr('transB', 1)];
    const parts = singleLayer(
      [node('Gemm', ['x', 'W'], ['y'], attributes)],
      [floatTensor('W', [units, inputs], kernel)],
    );
    await assert.rejects(load(parts), /Gemm node 'Gemm_y' has transA=1.*transA=0 only/);
  });
});

describe('ONNX MatMul and Add', () => {
  for (const order of [
    ['p', 'b'],
    ['b', 'p'],
  ]) {
    it(`reads Add with bias ${order[0] === 'b' ? 'first' : 'second'}`, async () => {
      const nodes = [node('MatMul', ['x', 'W'], ['p']), node('Add', order, ['y'])];
      const initializers = [
        floatTensor('W', [inputs, units], kernelInputsUnits),
        floatTensor('b', [units], bias),
      ];
      const { file, loaded } = await load(singleLayer(nodes, initializers));
      const layer = onlyDense(loaded.network);
      assert.deepEqual([...layer.kernel], kernel);
      assert.deepEqual(layer.bias && [...layer.bias], bias);
      await assertMatchesOrt(file, loaded.network);
      await assertRoundTrip(file, loaded.network, loaded.save);
    });
  }

  it('reads a Transpose-fed weight', async () => {
    const nodes = [
      node('Transpose', ['Wt'], ['W'], [{ name: 'perm', type: 7, ints: [1, 0] }]),
      node('MatMul', ['x', 'W'], ['y']),
    ];
    const { file, loaded } = await load(
      singleLayer(nodes, [floatTensor('Wt', [units, inputs], kernel, 'typed')]),
    );
    const layer = onlyDense(loaded.network);
    assert.deepEqual([...layer.kernel], kernel);
    assert.equal(layer.bias, null);
    await assertMatchesOrt(file, loaded.network);
    await assertRoundTrip(file, loaded.network, loaded.save);
  });

  it('inserts an Add for a new bias', async () => {
    const nodes = [node('MatMul', ['x', 'W'], ['y'])];
    const { file, loaded } = await load(
      singleLayer(nodes, [floatTensor('W', [inputs, units], kernelInputsUnits)]),
    );
    const changed = cloneNetwork(loaded.network);
    onlyDense(changed).bias = Float32Array.from([1, 2]);
    const out = path.join(path.dirname(file), 'biased.onnx');
    const report = await loaded.save(changed, out);
    assert.match(report.notes[0], /added a zero bias to layer .* with an Add node/);
    const reopened = await onnxFormat.open(out);
    assert.deepEqual(onlyDense(reopened.network).bias, Float32Array.from([1, 2]));
    assert.equal(reopened.canAddBias(onlyDense(reopened.network).name), false);
    await assertMatchesOrt(out, changed);
  });

  it('reads a weight from a Constant node', async () => {
    const value = floatTensor('', [inputs, units], kernelInputsUnits);
    const constant = node('Constant', [], ['W'], [{ name: 'value', type: 4, t: value }]);
    const nodes = [constant, node('MatMul', ['x', 'W'], ['p']), node('Add', ['p', 'b'], ['y'])];
    const { file, loaded } = await load(singleLayer(nodes, [floatTensor('b', [units], bias)]));
    assert.deepEqual([...onlyDense(loaded.network).kernel], kernel);
    await assertRoundTrip(file, loaded.network, loaded.save);
  });
});

describe('ONNX float16 initializers', () => {
  for (const storage of ['raw', 'typed'] as const) {
    it(`reads and writes float16 ${storage === 'raw' ? 'raw_data' : 'int32_data'}`, async () => {
      const weights = halfTensor(
        'W16',
        [inputs, units],
        kernelInputsUnits.map((w) => w / 3),
        storage,
      );
      const nodes = [
        node('Cast', ['W16'], ['W'], [intAttr('to', 1)]),
        node('MatMul', ['x', 'W'], ['p']),
        node('Add', ['p', 'b'], ['y']),
      ];
      const { file, loaded } = await load(
        singleLayer(nodes, [weights, floatTensor('b', [units], bias)]),
      );
      const layer = onlyDense(loaded.network);
      kernel.forEach((w, i) => assert.ok(Math.abs(layer.kernel[i] - w / 3) < 1e-3));
      await assertMatchesOrt(file, loaded.network);

      const changed = cloneNetwork(loaded.network);
      onlyDense(changed).kernel[2] = 0.1;
      const out = path.join(path.dirname(file), 'half.onnx');
      await loaded.save(changed, out);

      const saved = onnx.ModelProto.decode(fs.readFileSync(out));
      const tensor = saved.graph?.initializer?.find((t) => t.name === 'W16') as onnx.TensorProto;
      assert.equal(tensor.dataType, FLOAT16);
      assert.equal(
        storage === 'raw' ? tensor.rawData.length : tensor.int32Data.length,
        storage === 'raw' ? 12 : 6,
      );
      const reopened = (await onnxFormat.open(out)).network;

      const view = new DataView(new ArrayBuffer(2));
      view.setUint16(0, 0x2e66, true); // 0.1 rounded to float16
      assert.equal(onlyDense(reopened).kernel[2], getFloat16(view, 0, true));
      assert.equal(onlyDense(reopened).kernel[3], layer.kernel[3]);
      await assertMatchesOrt(out, reopened);
    });
  }
});

describe('ONNX elementwise layers', () => {
  const activations = [
    {
      op: 'LeakyRelu',
      attributes: [floatAttr('alpha', 0.2)],
      expected: { name: 'leaky_relu', alpha: 0.2 },
    },
    { op: 'Elu', attributes: [floatAttr('alpha', 0.7)], expected: { name: 'elu', alpha: 0.7 } },
    { op: 'Selu', attributes: [], expected: { name: 'selu' } },
    { op: 'Tanh', attributes: [], expected: { name: 'tanh' } },
    { op: 'Sigmoid', attributes: [], expected: { name: 'sigmoid' } },
    { op: 'Softmax', attributes: [intAttr('axis', -1)], expected: { name: 'softmax' } },
  ];
  for (const activation of activations) {
    it(`reads ${activation.op} after Gemm`, async () => {
      const nodes = [
        node('Gemm', ['x', 'W', 'b'], ['z'], [intAttr('transB', 1)]),
        node(activation.op, ['z'], ['y'], activation.attributes),
      ];
      const initializers = [
        floatTensor(
          'W',
          [units, inputs],
          kernel.map((w) => w / 4),
        ),
        floatTensor('b', [units], bias),
      ];
      const { file, loaded } = await load(singleLayer(nodes, initializers));
      const layer = onlyDense(loaded.network);
      assert.equal(layer.activation.name, activation.expected.name);
      if (activation.expected.alpha)
        assert.ok(Math.abs((layer.activation.alpha ?? 0) - activation.expected.alpha) < 1e-6);
      await assertMatchesOrt(file, loaded.network);
    });
  }

  it('reads Scaler, Flatten, Dropout and Identity', async () => {
    const nodes = [
      node(
        'Scaler',
        ['x'],
        ['s'],
        [floatsAttr('offset', [0.5, -1, 2]), floatsAttr('scale', [2, 0.5, 1.5])],
        'ai.onnx.ml',
      ),
      node('Flatten', ['s'], ['f'], [intAttr('axis', 1)]),
      node('Dropout', ['f'], ['d']),
      node('Identity', ['d'], ['i']),
      node('Gemm', ['i', 'W', 'b'], ['y'], [intAttr('transB', 1)]),
    ];
    const initializers = [
      floatTensor('W', [units, inputs], kernel),
      floatTensor('b', [units], bias),
    ];
    const { file, loaded } = await load(singleLayer(nodes, initializers, { ml: true }));
    assert.deepEqual(
      loaded.network.layers.map((layer) => layer.kind),
      ['scale', 'reshape', 'identity', 'identity', 'dense'],
    );
    const scale = loaded.network.layers[0];
    assert.equal(scale.kind, 'scale');
    if (scale.kind === 'scale') assert.deepEqual([...scale.offset], [0.5, -1, 2]);
    await assertMatchesOrt(file, loaded.network);
  });

  it('reads a 4-D input with Reshape', async () => {
    const nodes = [node('Reshape', ['x', 'shape'], ['r']), node('MatMul', ['r', 'W'], ['y'])];
    const initializers = [
      int64Tensor('shape', [-1, inputs]),
      floatTensor('W', [inputs, units], kernelInputsUnits),
    ];
    const parts = singleLayer(nodes, initializers, { input: valueInfo('x', [1, 3, 1]) });
    const { file, loaded } = await load(parts);
    assert.deepEqual(loaded.network.inputShape, [1, 3, 1]);
    assert.deepEqual((loaded.network.layers[0] as { targetShape: number[] }).targetShape, [3]);
    await assertMatchesOrt(file, loaded.network, [1, 3, 1]);
  });

  it('keeps unknown operators opaque', async () => {
    const nodes = [
      node('Gemm', ['x', 'W', 'b'], ['z'], [intAttr('transB', 1)]),
      node('Abs', ['z'], ['y']),
    ];
    const initializers = [
      floatTensor('W', [units, inputs], kernel),
      floatTensor('b', [units], bias),
    ];
    const { loaded } = await load(singleLayer(nodes, initializers));
    const opaque = loaded.network.layers[1];
    assert.equal(opaque.kind, 'opaque');
    if (opaque.kind === 'opaque') assert.match(opaque.reason, /ONNX operator Abs .*node 'Abs_y'/);
    assert.match(loaded.notes.join('\n'), /only data-free criteria apply/);
  });
});

describe('ONNX graph variants', () => {
  it('reads a run-time flatten shape', async () => {
    const nodes = [
      node('Shape', ['x'], ['shape']),
      node('Gather', ['shape', 'zero'], ['batch'], [intAttr('axis', 0)]),
      node('Unsqueeze', ['batch', 'axes'], ['batch1']),
      node('Concat', ['batch1', 'minusOne'], ['target'], [intAttr('axis', 0)]),
      node('Reshape', ['x', 'target'], ['flat']),
      node('Gemm', ['flat', 'W', 'b'], ['y'], [intAttr('transB', 1)]),
    ];
    const initializers = [
      { name: 'zero', dims: [], dataType: 7, int64Data: [0] },
      int64Tensor('axes', [0]),
      int64Tensor('minusOne', [-1]),
      floatTensor('W', [units, inputs], kernel),
      floatTensor('b', [units], bias),
    ];
    const parts = singleLayer(nodes, initializers, { input: valueInfo('x', [3, 1]) });
    const { file, loaded } = await load(parts);
    assert.deepEqual(
      loaded.network.layers.map((layer) => layer.kind),
      ['reshape', 'dense'],
    );
    assert.match(
      loaded.notes.join('\n'),
      /computes its shape at run time; read as a flatten to \[3\]/,
    );
    await assertMatchesOrt(file, loaded.network, [3, 1]);
  });

  it('adds a graph input below IR 4', async () => {
    const nodes = [node('MatMul', ['x', 'W'], ['y'])];
    const weight = floatTensor('W', [inputs, units], kernelInputsUnits);
    const parts = singleLayer(nodes, [weight], { irVersion: 3, opset: 9 });
    const bytes = onnx.ModelProto.decode(encodeModel(parts));
    const weightInfo = {
      tensorType: { elemType: 1, shape: { dim: [{ dimValue: 3 }, { dimValue: 2 }] } },
    };
    bytes.graph?.input?.push(onnx.ValueInfoProto.create({ name: 'W', type: weightInfo }));
    const file = writeModel(temporaryFolder(), 'ir3.onnx', onnx.ModelProto.encode(bytes).finish());
    const loaded = await onnxFormat.open(file);
    const changed = cloneNetwork(loaded.network);
    onlyDense(changed).bias = Float32Array.from([0.25, 0.5]);
    const out = path.join(path.dirname(file), 'ir3-biased.onnx');
    await loaded.save(changed, out);
    const saved = onnx.ModelProto.decode(fs.readFileSync(out));
    assert.deepEqual(
      saved.graph?.input?.map((info) => info.name),
      ['x', 'W', `${onlyDense(changed).name}.bias`],
    );
    await assertMatchesOrt(out, changed);
  });
});
