/** Helpers for the ONNX tests: small models built with onnx-proto, a float64 forward pass, onnxruntime. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setFloat16 } from '@petamoriken/float16';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import type { Activation, Network } from '../../../src/core/model';

/** TensorProto data type codes used by the tests. */
export const FLOAT = 1;
export const INT64 = 7;
export const FLOAT16 = 10;

/** How a test tensor stores its values. */
export type Storage = 'raw' | 'typed';

/** Returns a float32 initializer in `raw_data` or `float_data`. */
export function floatTensor(
  name: string,
  dims: number[],
  values: number[],
  storage: Storage = 'raw',
): onnx.ITensorProto {
  if (storage === 'typed') return { name, dims, dataType: FLOAT, floatData: values };
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

/** Returns a float16 initializer in `raw_data` or in `int32_data` (one half-float bit pattern per entry). */
export function halfTensor(
  name: string,
  dims: number[],
  values: number[],
  storage: Storage,
): onnx.ITensorProto {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => setFloat16(view, i * 2, value, true));
  if (storage === 'raw') return { name, dims, dataType: FLOAT16, rawData: bytes };
  const bits = values.map((_, i) => view.getUint16(i * 2, true));
  return { name, dims, dataType: FLOAT16, int32Data: bits };
}

/** Returns an int64 initializer, such as a Reshape shape. */
export function int64Tensor(name: string, values: number[]): onnx.ITensorProto {
  return { name, dims: [values.length], dataType: INT64, int64Data: values };
}

/** Returns a float32 initializer whose bytes live in an external file. */
export function externalTensor(
  name: string,
  dims: number[],
  location: string,
  offset: number,
  length: number,
): onnx.ITensorProto {
  const entries = [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(length) },
  ];
  return {
    name,
    dims,
    dataType: FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: entries,
  };
}

/** Returns a node named after its operator and first output. */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: onnx.IAttributeProto[] = [],
  domain = '',
): onnx.INodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: `${opType}_${outputs[0]}`,
    attribute: attributes,
    domain,
  };
}

/** Returns an INT attribute. */
export function intAttr(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

/** Returns a FLOAT attribute. */
export function floatAttr(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

/** Returns a FLOATS attribute. */
export function floatsAttr(name: string, values: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOATS, floats: values };
}

/** Returns a float tensor's ValueInfo with a symbolic batch axis. */
export function valueInfo(name: string, sample: number[], elemType = FLOAT): onnx.IValueInfoProto {
  const dim = [{ dimParam: 'batch' }, ...sample.map((dimValue) => ({ dimValue }))];
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** Parts of a test model. */
export interface ModelParts {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
  input: onnx.IValueInfoProto;
  output: onnx.IValueInfoProto;
  opset?: number;
  irVersion?: number;
  ml?: boolean;
}

/** Encodes a ModelProto with one graph. */
export function encodeModel(parts: ModelParts): Uint8Array {
  const opsetImport = [{ domain: '', version: parts.opset ?? 17 }];
  if (parts.ml) opsetImport.push({ domain: 'ai.onnx.ml', version: 3 });
  return onnx.ModelProto.encode({
    irVersion: parts.irVersion ?? 8,
    producerName: 'prunelens-test',
    opsetImport,
    graph: {
      name: 'test',
      node: parts.nodes,
      initializer: parts.initializers,
      input: [parts.input],
      output: [parts.output],
    },
  }).finish();
}

let root: string | null = null;

/** Returns a fresh temporary folder; all of them are removed when the process exits. */
export function temporaryFolder(): string {
  if (!root) {
    const created = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-onnx-'));
    process.on('exit', () => fs.rmSync(created, { recursive: true, force: true }));
    root = created;
  }
  return fs.mkdtempSync(path.join(root, 'case-'));
}

/** Writes a model into a folder and returns its path. */
export function writeModel(folder: string, name: string, bytes: Uint8Array): string {
  const file = path.join(folder, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Deterministic values in [-1, 1) for test weights and inputs. */
export function pseudoRandom(count: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function activate(values: Float64Array, activation: Activation): Float64Array {
  const alpha = activation.alpha;
  const map = (f: (x: number) => number) => values.map(f);
  switch (activation.name) {
    case 'linear':
      return values;
    case 'relu':
      return map((x) => Math.max(0, x));
    case 'tanh':
      return map(Math.tanh);
    case 'sigmoid':
      return map((x) => 1 / (1 + Math.exp(-x)));
    case 'leaky_relu':
      return map((x) => (x >= 0 ? x : (alpha ?? 0.01) * x));
    case 'elu':
      return map((x) => (x >= 0 ? x : (alpha ?? 1) * (Math.exp(x) - 1)));
    case 'selu':
      return map((x) => 1.0507009873554805 * (x >= 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1)));
    case 'softplus':
      return map((x) => Math.log1p(Math.exp(x)));
    case 'softsign':
      return map((x) => x / (1 + Math.abs(x)));
    case 'exponential':
      return map(Math.exp);
    case 'softmax': {
      const max = Math.max(...values);
      const exps = values.map((x) => Math.exp(x - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      return exps.map((x) => x / sum);
    }
    default:
      throw new Error(`activation ${activation.name} is not in the test forward pass`);
  }
}

/** Runs one sample through a core network in float64. */
export function forward(network: Network, sample: ArrayLike<number>): Float64Array {
  let a: Float64Array = Float64Array.from(sample);
  for (const layer of network.layers) {
    switch (layer.kind) {
      case 'dense': {
        const z = new Float64Array(layer.units);
        for (let i = 0; i < layer.units; i++) {
          let sum = layer.bias ? layer.bias[i] : 0;
          for (let j = 0; j < layer.inputs; j++) sum += layer.kernel[i * layer.inputs + j] * a[j];
          z[i] = sum;
        }
        a = activate(z, layer.activation);
        break;
      }
      case 'activation':
        a = activate(a, layer.activation);
        break;
      case 'scale':
        a = a.map(
          (x, i) =>
            (x - layer.offset[i % layer.offset.length]) * layer.scale[i % layer.scale.length],
        );
        break;
      case 'batchnorm':
        a = a.map((x, i) => {
          const normalized =
            (x - layer.movingMean[i]) / Math.sqrt(layer.movingVariance[i] + layer.epsilon);
          return normalized * (layer.gamma?.[i] ?? 1) + (layer.beta?.[i] ?? 0);
        });
        break;
      case 'identity':
      case 'reshape':
        break;
      case 'opaque':
        throw new Error(`layer ${layer.name} is opaque`);
    }
  }
  return a;
}

/** Runs a batch through onnxruntime-node and returns the single output, one row per sample. */
export async function runOrt(
  file: string,
  samples: number[][],
  sampleShape: number[],
): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const data = Float32Array.from(samples.flat());
    const input = new ort.Tensor('float32', data, [samples.length, ...sampleShape]);
    const result = await session.run({ [session.inputNames[0]]: input });
    const output = result[session.outputNames[0]].data as Float32Array;
    const width = output.length / samples.length;
    return samples.map((_, i) => output.slice(i * width, (i + 1) * width));
  } finally {
    await session.release();
  }
}

/** Returns the largest difference between onnxruntime's outputs and the float64 forward pass, relative to 1 + |reference|. */
export function maxRelativeError(
  network: Network,
  samples: number[][],
  outputs: Float32Array[],
): number {
  let worst = 0;
  samples.forEach((sample, i) => {
    const expected = forward(network, sample);
    if (expected.length !== outputs[i].length)
      throw new Error(`output width ${outputs[i].length}, expected ${expected.length}`);
    expected.forEach((value, k) => {
      worst = Math.max(worst, Math.abs(value - outputs[i][k]) / (1 + Math.abs(value)));
    });
  });
  return worst;
}
