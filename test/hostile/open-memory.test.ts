/**
 * Peak memory of opening a large model: a child process opens a 64 MB model and reports how much
 * its peak resident memory grew, which must stay below a multiple of the file size. Linux only
 * (it reads /proc/self/status).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { saveKerasH5, type ExampleLayer } from '../../examples/digits-mlp/keras-h5-writer';

/** Width of the large square layer: 4096 × 4096 float32 weights are 64 MiB. */
const wide = 4096;
const outputs = 10;

/**
 * Opens a small model to load every module, resets the peak to the current resident size
 * (writing 5 to clear_refs), opens the large model, and prints the growth of the peak in bytes
 * and how many values of the first kernel differ from the stored `weights` pattern transposed.
 * It loads the sources with tsx's require hook, as bin/prunelens.js does: `--import tsx` would
 * also transform h5wasm's 4 MB module, which takes some 600 MB that later reads reuse.
 */
const formats = path.resolve(__dirname, '..', '..', 'src', 'core', 'formats');
const child = `
require('tsx/cjs');
const fs = require('node:fs');
const { openModel } = require(${JSON.stringify(formats)});
const status = () => fs.readFileSync('/proc/self/status', 'utf8');
const peak = () => Number(/VmHWM:\\s+(\\d+)/.exec(status())[1]) * 1024;
(async () => {
  await openModel(process.argv[1]);
  global.gc();
  fs.writeFileSync('/proc/self/clear_refs', '5');
  const base = peak();
  const loaded = await openModel(process.argv[2], { maxBytes: Infinity });
  const growth = peak() - base;
  const { kernel, units, inputs } = loaded.network.layers.find((layer) => layer.kind === 'dense');
  let wrong = 0;
  for (let unit = 0; unit < units; unit++) {
    for (let input = 0; input < inputs; input++) {
      const stored = Math.fround((((input * units + unit) % 97) - 48) / 1000);
      if (kernel[unit * inputs + input] !== stored) wrong++;
    }
  }
  process.stdout.write(JSON.stringify({ growth, wrong }));
})().catch((error) => { process.stderr.write(String(error.stack)); process.exit(1); });
`;

/**
 * Returns how many times the file size the peak resident memory grew while opening `large`, and
 * the number of wrong values in its first kernel.
 */
function openLarge(small: string, large: string): { ratio: number; wrong: number } {
  // From the repository root, where `require('tsx/cjs')` in the script resolves.
  const result = spawnSync(process.execPath, ['--expose-gc', '-e', child, small, large], {
    cwd: path.resolve(__dirname, '..', '..'),
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  const { growth, wrong } = JSON.parse(result.stdout) as { growth: number; wrong: number };
  return { ratio: growth / fs.statSync(large).size, wrong };
}

/** Weights that are neither zero nor all equal, so every page is written; the child checks them. */
function weights(count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => ((i % 97) - 48) / 1000);
}

/** A `[inputs, units]` MatMul plus Add, then a small Gemm: the large kernel must be transposed. */
function onnxModel(width: number, external?: { folder: string; location: string }) {
  const tensor = (name: string, dims: number[]): onnx.ITensorProto => {
    const values = weights(dims.reduce((a, b) => a * b, 1));
    const rawData = new Uint8Array(values.buffer);
    if (!external || name !== 'W1') return { name, dims, dataType: 1, rawData };
    fs.writeFileSync(path.join(external.folder, external.location), rawData);
    const externalData = [{ key: 'location', value: external.location }];
    return { name, dims, dataType: 1, dataLocation: 1, externalData };
  };
  const shape = (size: number) => ({
    tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: size }] } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [
        { name: 'mm', opType: 'MatMul', input: ['x', 'W1'], output: ['p'] },
        { name: 'add', opType: 'Add', input: ['p', 'b1'], output: ['h'] },
        { name: 'relu', opType: 'Relu', input: ['h'], output: ['r'] },
        {
          name: 'gemm',
          opType: 'Gemm',
          input: ['r', 'W2', 'b2'],
          output: ['y'],
          attribute: [{ name: 'transB', type: 2, i: 1 }],
        },
      ],
      initializer: [
        tensor('W1', [width, width]),
        tensor('b1', [width]),
        tensor('W2', [outputs, width]),
        tensor('b2', [outputs]),
      ],
      input: [{ name: 'x', type: shape(width) }],
      output: [{ name: 'y', type: shape(outputs) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function kerasLayers(width: number): ExampleLayer[] {
  const dense = (name: string, inputs: number, units: number, activation: string) => ({
    kind: 'dense' as const,
    name,
    inputs,
    units,
    activation,
    kernel: weights(inputs * units),
    bias: weights(units),
  });
  return [dense('d1', width, width, 'relu'), dense('d2', width, outputs, 'linear')];
}

const linux = fs.existsSync('/proc/self/clear_refs');

describe('memory of opening a model', { skip: !linux && 'needs Linux /proc' }, () => {
  let folder = '';
  const file = (name: string) => path.join(folder, name);

  before(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-open-memory-'));
    fs.writeFileSync(file('small.onnx'), onnxModel(8));
    fs.writeFileSync(file('large.onnx'), onnxModel(wide));
    fs.mkdirSync(file('external'));
    const external = { folder: file('external'), location: 'large.onnx.data' };
    fs.writeFileSync(file('external/large.onnx'), onnxModel(wide, external));
    await saveKerasH5(file('small.h5'), 'small', kerasLayers(8));
    await saveKerasH5(file('large.h5'), 'large', kerasLayers(wide));
  });

  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('opens ONNX in twice its size', () => {
    const { ratio, wrong } = openLarge(file('small.onnx'), file('large.onnx'));
    assert.ok(ratio < 2.3, `peak grew by ${ratio.toFixed(2)}x the file size`);
    assert.equal(wrong, 0);
  });

  it('opens external ONNX data in its size', () => {
    const large = file('external/large.onnx');
    const size = fs.statSync(large).size + fs.statSync(`${large}.data`).size;
    const { ratio, wrong } = openLarge(file('small.onnx'), large);
    const modelRatio = (ratio * fs.statSync(large).size) / size;
    assert.ok(modelRatio < 1.5, `peak grew by ${modelRatio.toFixed(2)}x the model size`);
    assert.equal(wrong, 0);
  });

  it('opens Keras HDF5 in its size', () => {
    const { ratio, wrong } = openLarge(file('small.h5'), file('large.h5'));
    assert.ok(ratio < 1.5, `peak grew by ${ratio.toFixed(2)}x the file size`);
    assert.equal(wrong, 0);
  });
});
