/**
 * Sidecar architecture files for tensor dictionaries (safetensors files and PyTorch state dicts).
 *
 * PruneLens looks beside the model for `<model file>.arch.json` (`model.safetensors.arch.json`),
 * then `<name without extension>.arch.json` (`model.arch.json`); `--architecture FILE` names one
 * explicitly (JSON, or YAML when it ends in `.yaml`/`.yml`). The file lists the layers from input
 * to output, either as a bare list or as `{"input_shape": [28, 28], "layers": [...]}`:
 *
 *     [{"weight": "l1.weight", "bias": "l1.bias", "activation": "leaky_relu", "alpha": 0.01},
 *      {"batchnorm": "bn1", "epsilon": 1e-5},
 *      {"activation": "relu"},
 *      {"dropout": 0.2},
 *      {"weight": "l2.weight", "layout": "in_out", "name": "head"}]
 *
 * - A dense layer names its weight tensor. Optional keys: `bias` (a tensor name or null),
 *   `activation` (default `linear`), `alpha`, `name` (default: the weight's name without
 *   `.weight`) and `layout` (`out_in` as PyTorch stores it, or `in_out` for `[in, out]` kernels).
 * - `batchnorm` names the module prefix of `running_mean`, `running_var` and, when present,
 *   `weight` and `bias`; `epsilon` defaults to 1e-5 as in PyTorch.
 * - Activation names are PruneLens's (`relu`, `leaky_relu`, `tanh`, ...) or PyTorch class names
 *   (`ReLU`, `LeakyReLU`, `SiLU`, `GELU`, `Identity`), in any case.
 */
import { readArchitectureText } from '../io';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { ModelFormatError } from '../errors';
import { resolveInside } from '../io';
import type { ActivationName, Layer } from '../model';
import {
  activationWithDefaults,
  batchNormFromModule,
  bindingFor,
  denseFromTensors,
  inferArchitecture,
  type DenseBinding,
  type StateDictArchitecture,
  type TensorInfo,
  type TensorSource,
} from './state-dict';
import type { OpenOptions } from './types';

const activationAliases: Readonly<Record<string, ActivationName>> = {
  linear: 'linear',
  identity: 'linear',
  none: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  leakyrelu: 'leaky_relu',
  elu: 'elu',
  selu: 'selu',
  sigmoid: 'sigmoid',
  hardsigmoid: 'hard_sigmoid',
  tanh: 'tanh',
  softplus: 'softplus',
  softsign: 'softsign',
  swish: 'swish',
  silu: 'swish',
  gelu: 'gelu',
  exponential: 'exponential',
  softmax: 'softmax',
};

const allowedKeys: Readonly<Record<string, readonly string[]>> = {
  dense: ['weight', 'bias', 'activation', 'alpha', 'name', 'layout'],
  batchnorm: ['batchnorm', 'epsilon', 'name'],
  activation: ['activation', 'alpha', 'name'],
  dropout: ['dropout', 'name'],
};

/** Returns the sidecar file to use: the explicit one, else the first found beside the model. */
export async function findSidecar(modelFile: string, explicit?: string): Promise<string | null> {
  if (explicit) return explicit;
  const folder = path.dirname(modelFile);
  const base = path.basename(modelFile);
  const stem = base.slice(0, base.length - path.extname(base).length);
  for (const candidate of [`${base}.arch.json`, `${stem}.arch.json`]) {
    const file = path.join(folder, candidate);
    const stat = await fs.stat(file).catch(() => null);
    // A sidecar found by name must not be a link that leads out of the model's folder.
    if (stat?.isFile()) return resolveInside(modelFile, folder, candidate);
  }
  return null;
}

/** Reads a sidecar file and builds the network it describes from the tensors of `source`. */
export async function readSidecar(
  file: string,
  source: TensorSource,
): Promise<StateDictArchitecture> {
  const text = await readArchitectureText(file);
  return buildFromSidecar(file, parseSidecar(file, text), source);
}

function parseSidecar(file: string, text: string): unknown {
  try {
    return /\.ya?ml$/i.test(file) ? yaml.load(text) : JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ModelFormatError(file, `invalid architecture file: ${reason}.`);
  }
}

type Entry = Record<string, unknown>;

/** Builds the network a parsed sidecar describes; every error names the sidecar file. */
export function buildFromSidecar(
  file: string,
  spec: unknown,
  source: TensorSource,
): StateDictArchitecture {
  const { entries, inputShape } = splitSpec(file, spec);
  const layers: Layer[] = [];
  const bindings = new Map<string, DenseBinding>();
  let width: number | null = inputShape ? inputShape.reduce((a, b) => a * b, 1) : null;
  if (inputShape && inputShape.length > 1) {
    layers.push({
      kind: 'reshape',
      name: 'flatten',
      className: 'Flatten',
      targetShape: [width as number],
    });
  }
  entries.forEach((entry, index) => {
    const where = `layer ${index + 1}`;
    const kind = entryKind(file, entry, where);
    if (kind === 'dense') {
      const built = denseEntry(file, entry, where, source, width);
      layers.push(built.layer);
      bindings.set(built.layer.name, built.binding);
      width = built.layer.units;
    } else if (kind === 'batchnorm') {
      const layer = batchNormEntry(file, entry, where, source);
      if (width !== null && layer.size !== width) {
        throw new ModelFormatError(
          file,
          `${where}: batch norm has ${layer.size} features but the previous layer gives ${width}.`,
        );
      }
      layers.push(layer);
    } else if (kind === 'activation') {
      const name = stringField(file, entry, 'name', where) ?? `activation_${index + 1}`;
      layers.push({ kind: 'activation', name, activation: activationField(file, entry, where) });
    } else {
      const name = stringField(file, entry, 'name', where) ?? `dropout_${index + 1}`;
      layers.push({ kind: 'identity', name, className: 'Dropout' });
    }
  });
  const firstDense = layers.find((layer) => layer.kind === 'dense');
  if (!firstDense || firstDense.kind !== 'dense') {
    throw new ModelFormatError(
      file,
      'the architecture file lists no dense layer; add entries with a "weight" tensor name.',
    );
  }
  const notes = [`Architecture read from ${path.basename(file)}.`];
  return { network: { inputShape: inputShape ?? [firstDense.inputs], layers }, bindings, notes };
}

function splitSpec(file: string, spec: unknown): { entries: Entry[]; inputShape: number[] | null } {
  const isObject = spec !== null && typeof spec === 'object' && !Array.isArray(spec);
  const list = isObject ? (spec as Entry).layers : spec;
  if (!Array.isArray(list) || !list.every((item) => item !== null && typeof item === 'object')) {
    throw new ModelFormatError(
      file,
      'the architecture file must be a list of layer objects or {"layers": [...]}.',
    );
  }
  const shape = isObject ? (spec as Entry).input_shape : undefined;
  if (shape === undefined) return { entries: list as Entry[], inputShape: null };
  const valid =
    Array.isArray(shape) && shape.length > 0 && shape.every((n) => Number.isInteger(n) && n > 0);
  if (!valid) {
    throw new ModelFormatError(
      file,
      `"input_shape" must be a list of positive integers, got ${JSON.stringify(shape)}.`,
    );
  }
  return { entries: list as Entry[], inputShape: shape as number[] };
}

function entryKind(file: string, entry: Entry, where: string): keyof typeof allowedKeys {
  const kind = kindOf(entry);
  if (!kind) {
    throw new ModelFormatError(
      file,
      `${where}: expected a "weight", "batchnorm", "activation" or "dropout" key, got ${JSON.stringify(Object.keys(entry))}.`,
    );
  }
  const unknown = Object.keys(entry).filter((key) => !allowedKeys[kind].includes(key));
  if (unknown.length > 0) {
    throw new ModelFormatError(
      file,
      `${where}: unknown key ${JSON.stringify(unknown[0])} for a ${kind} layer (allowed: ${allowedKeys[kind].join(', ')}).`,
    );
  }
  return kind;
}

function kindOf(entry: Entry): keyof typeof allowedKeys | null {
  if ('weight' in entry) return 'dense';
  if ('batchnorm' in entry) return 'batchnorm';
  if ('dropout' in entry) return 'dropout';
  if ('activation' in entry) return 'activation';
  return null;
}

function stringField(file: string, entry: Entry, key: string, where: string): string | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ModelFormatError(
      file,
      `${where}: "${key}" must be a non-empty string, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function tensorField(file: string, source: TensorSource, name: string, where: string): TensorInfo {
  const tensor = source.tensors.find((candidate) => candidate.name === name);
  if (!tensor) {
    const known = source.tensors
      .slice(0, 8)
      .map((t) => t.name)
      .join(', ');
    throw new ModelFormatError(
      file,
      `${where}: tensor '${name}' not found in the model (it has ${known}${source.tensors.length > 8 ? ', ...' : ''}).`,
    );
  }
  return tensor;
}

function activationField(file: string, entry: Entry, where: string) {
  const name = stringField(file, entry, 'activation', where) ?? 'linear';
  const activation = activationAliases[name.toLowerCase().replace(/[_-]/g, '')];
  if (!activation) {
    const valid = Object.keys(activationAliases).join(', ');
    throw new ModelFormatError(
      file,
      `${where}: unknown activation ${JSON.stringify(name)} (valid: ${valid}).`,
    );
  }
  const alpha = entry.alpha;
  if (alpha !== undefined && typeof alpha !== 'number') {
    throw new ModelFormatError(
      file,
      `${where}: "alpha" must be a number, got ${JSON.stringify(alpha)}.`,
    );
  }
  return activationWithDefaults(activation, alpha);
}

function denseEntry(
  file: string,
  entry: Entry,
  where: string,
  source: TensorSource,
  width: number | null,
) {
  const weightName = stringField(file, entry, 'weight', where) as string;
  const weight = tensorField(file, source, weightName, where);
  if (weight.shape.length !== 2) {
    throw new ModelFormatError(
      file,
      `${where}: weight '${weight.name}' has shape [${weight.shape.join(', ')}], expected 2 axes.`,
    );
  }

  const transposed = layoutField(file, entry, where) === 'in_out';
  const [units, inputs] = transposed ? [weight.shape[1], weight.shape[0]] : weight.shape;
  if (width !== null && inputs !== width) {
    throw new ModelFormatError(
      file,
      `${where}: weight '${weight.name}' takes ${inputs} inputs but the previous layer gives ${width}; check the order or "layout".`,
    );
  }

  const bias = biasField(file, entry, where, source, units);
  const prefix = weight.name.replace(/\.(weight|kernel)$/, '');
  const name = stringField(file, entry, 'name', where) ?? prefix;
  const layer = denseFromTensors(source, name, weight, bias, transposed);
  layer.activation = activationField(file, entry, where);
  return {
    layer,
    binding: bindingFor(prefix === weight.name ? '' : prefix, weight, bias, transposed),
  };
}

function layoutField(file: string, entry: Entry, where: string): 'out_in' | 'in_out' {
  const layout = entry.layout ?? 'out_in';
  if (layout !== 'out_in' && layout !== 'in_out') {
    throw new ModelFormatError(
      file,
      `${where}: "layout" must be "out_in" or "in_out", got ${JSON.stringify(layout)}.`,
    );
  }
  return layout;
}

function biasField(
  file: string,
  entry: Entry,
  where: string,
  source: TensorSource,
  units: number,
): TensorInfo | null {
  const biasName = entry.bias === null ? undefined : stringField(file, entry, 'bias', where);
  const bias = biasName ? tensorField(file, source, biasName, where) : null;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== units)) {
    throw new ModelFormatError(
      file,
      `${where}: bias '${bias.name}' has shape [${bias.shape.join(', ')}], expected [${units}].`,
    );
  }
  return bias;
}

function batchNormEntry(file: string, entry: Entry, where: string, source: TensorSource) {
  const prefix = stringField(file, entry, 'batchnorm', where) as string;
  for (const member of ['running_mean', 'running_var'])
    tensorField(file, source, `${prefix}.${member}`, where);
  const epsilon = entry.epsilon ?? 1e-5;
  if (typeof epsilon !== 'number' || !(epsilon >= 0)) {
    throw new ModelFormatError(
      file,
      `${where}: "epsilon" must be a non-negative number, got ${JSON.stringify(epsilon)}.`,
    );
  }
  const name = stringField(file, entry, 'name', where) ?? prefix;
  return batchNormFromModule(source, name, prefix, epsilon);
}

/** Builds the network from a sidecar file when there is one, else infers it from the tensors. */
export async function resolveArchitecture(
  modelFile: string,
  source: TensorSource,
  options: OpenOptions,
): Promise<StateDictArchitecture> {
  const sidecar = await findSidecar(modelFile, options.architecture);
  if (sidecar) return readSidecar(sidecar, source);
  return inferArchitecture(modelFile, source, options);
}
