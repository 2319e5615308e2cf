import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { openModel } from '../../../src/core/formats/index';
import { cloneNetwork, countZeros, denseLayers } from '../../../src/core/model';
import { corpusPath } from '../../helpers/corpus';
import { temporaryFolder } from './onnx-fixtures';

/**
 * Runs the ONNX checker with full shape inference from Debian's python3-onnx (1.12, which reads
 * IR versions up to 8) and prints the number of zeros in each initializer.
 */
const checkerScript = `
import json, sys
import numpy
import onnx
from onnx import numpy_helper
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
zeros = {t.name: int(numpy.count_nonzero(numpy_helper.to_array(t) == 0)) for t in model.graph.initializer}
print(json.dumps({"nodes": [n.op_type for n in model.graph.node], "zeros": zeros}))
`;

function findOnnxPython(): string | null {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const result = spawnSync(candidate, ['-c', 'import onnx, numpy'], { encoding: 'utf8' });
    if (result.status === 0) return candidate;
  }
  return null;
}

const python = findOnnxPython();
const skip = python ? false : 'python3-onnx is not installed; skipping the ONNX checker';

function check(file: string): { nodes: string[]; zeros: Record<string, number> } {
  const result = spawnSync(python as string, ['-c', checkerScript, file], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const files = [
  'onnx-pytorch-mnist-mlp/mnist_mlp.onnx',
  'onnx-tf2onnx-ph-housing-regression/mlp_model.onnx',
  'onnx-tf2onnx-keras-functional-untrained/model.onnx',
];

describe('ONNX checker on saved models', { skip }, () => {
  for (const file of files) {
    it(`accepts pruned ${path.basename(path.dirname(file))}`, async () => {
      const loaded = await openModel(corpusPath(file));
      const changed = cloneNetwork(loaded.network);
      for (const layer of denseLayers(changed)) {
        for (let i = 0; i < layer.kernel.length; i += 3) layer.kernel[i] = 0;
        layer.bias = layer.bias ?? Float32Array.from({ length: layer.units }, (_, i) => i / 10);
      }
      const out = path.join(temporaryFolder(), 'checked.onnx');
      await loaded.save(changed, out);
      const result = check(out);
      const expectedZeros = denseLayers(changed).reduce(
        (sum, layer) => sum + countZeros(layer.kernel) + countZeros(layer.bias as Float32Array),
        0,
      );
      const storedZeros = Object.values(result.zeros).reduce((sum, count) => sum + count, 0);
      assert.equal(storedZeros, expectedZeros);
      const originalAdds = check(corpusPath(file)).nodes.filter((op) => op === 'Add').length;
      const addedBiases = denseLayers(loaded.network).filter((layer) => !layer.bias).length;
      assert.equal(result.nodes.filter((op) => op === 'Add').length, originalAdds + addedBiases);
    });
  }
});
