/**
 * Networks from flat dictionaries of named tensors (safetensors files, PyTorch state dicts), which
 * store weights but no architecture. The architecture comes from a sidecar file (see
 * `torch-sidecar.ts`) or is inferred from tensor names and shapes:
 *
 * - Tensors are grouped into modules by the name before the last dot (`fc1.weight` → `fc1`).
 *   Dense modules are taken in natural order of their names (`layers.9` before `layers.10`), or
 *   in stored order when only that order chains.
 * - A module with a 2-D `weight` or `kernel` is a dense layer in PyTorch's `[out, in]` layout,
 *   with an optional `bias` of length `out`.
 * - A module with 1-D `running_mean` and `running_var` is an inference-mode BatchNorm1d with
 *   optional `weight` and `bias` and PyTorch's default epsilon 1e-5. It goes after the dense layer
 *   of its width that precedes it in stored or name order, or that has its number (`fc1`, `bn1`).
 * - A module whose `weight` has more than two axes (a convolution) is kept as an opaque layer.
 * - The activation between dense layers is the caller's choice (default ReLU), the last dense
 *   layer is linear, and an activation goes after a BatchNorm that follows a dense layer.
 */
import { ModelFormatError } from '../errors';
import type {
  Activation,
  ActivationName,
  BatchNormLayer,
  DenseLayer,
  Layer,
  Network,
} from '../model';
import { denseLayers } from '../model';
import type { TaskOptions } from '../progress';
import { isFloatDtype, type TensorDtype } from './safetensors-dtypes';

/** Name, element type and shape of one stored tensor. */
export interface TensorInfo {
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

/** The tensors of a file in stored order, with a reader of their float values. */
export interface TensorSource {
  tensors: TensorInfo[];
  /** Reads a float tensor as float32 in row-major order; throws for non-float tensors. */
  read(name: string): Float32Array;
}

/** Tensor names of one dense layer in the tensor dictionary. */
export interface DenseBinding {
  weight: string;
  bias: string | null;
  /** True when the weight is stored `[in, out]` and must be transposed. */
  transposed: boolean;
  /** Name a new bias tensor would get. */
  newBiasName: string;
}

/** A network built from a tensor dictionary, with the bindings needed to write it back. */
export interface StateDictArchitecture {
  network: Network;
  /** Dense layer name → tensors. */
  bindings: Map<string, DenseBinding>;
  notes: string[];
}

/** How to build the network when no sidecar file gives the architecture. */
export interface InferenceOptions {
  activation?: ActivationName;
}

/** Values to write back: changed tensors by name, and new bias tensors. */
export interface StateDictChanges {
  updates: Map<string, Float32Array>;
  /** New bias tensors, each to be stored after the weight tensor named `after`. */
  additions: { name: string; after: string; values: Float32Array; layer: string }[];
}

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;

/** Default negative slope of leaky ReLU, as in PyTorch's `nn.LeakyReLU`. */
export const defaultLeakySlope = 0.01;

/** Returns the activation with PyTorch's default parameter where it takes one. */
export function activationWithDefaults(name: ActivationName, alpha?: number): Activation {
  if (alpha !== undefined) return { name, alpha };
  if (name === 'leaky_relu') return { name, alpha: defaultLeakySlope };
  if (name === 'elu') return { name, alpha: 1 };
  return { name };
}

interface Module {
  prefix: string;
  members: Map<string, TensorInfo>;
}

function splitName(name: string): [string, string] {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? ['', name] : [name.slice(0, dot), name.slice(dot + 1)];
}

function groupModules(tensors: TensorInfo[]): Module[] {
  const modules = new Map<string, Module>();
  for (const tensor of tensors) {
    const [prefix, member] = splitName(tensor.name);
    let module = modules.get(prefix);
    if (!module) {
      module = { prefix, members: new Map() };
      modules.set(prefix, module);
    }
    module.members.set(member, tensor);
  }
  return [...modules.values()];
}

type ModuleRole =
  | { kind: 'dense'; weight: TensorInfo; bias: TensorInfo | null }
  | { kind: 'batchnorm'; size: number }
  | { kind: 'opaque'; params: number; reason: string }
  | { kind: 'other' };

function classify(module: Module): ModuleRole {
  const member = (name: string) => module.members.get(name);
  const weight = member('weight') ?? member('kernel');
  const mean = member('running_mean');
  const variance = member('running_var');
  if (mean && variance && mean.shape.length === 1 && sameShape(mean.shape, variance.shape)) {
    return { kind: 'batchnorm', size: mean.shape[0] };
  }
  if (weight && !isFloatDtype(weight.dtype)) {
    const reason = `weight '${weight.name}' has element type ${weight.dtype}, not a float type`;
    return { kind: 'opaque', params: moduleParams(module), reason };
  }
  if (weight && weight.shape.length === 2) {
    const bias = member('bias');
    const fits = bias && bias.shape.length === 1 && bias.shape[0] === weight.shape[0];
    return { kind: 'dense', weight, bias: fits ? bias : null };
  }
  if (weight && weight.shape.length > 2) {
    const shape = weight.shape.join(', ');
    const reason = `weight '${weight.name}' of shape [${shape}] is a convolution, not a dense layer`;
    return { kind: 'opaque', params: moduleParams(module), reason };
  }
  if (weight && weight.shape.length === 1) {
    const reason = `weight '${weight.name}' is 1-D without running statistics (LayerNorm?)`;
    return { kind: 'opaque', params: moduleParams(module), reason };
  }
  return { kind: 'other' };
}

function moduleParams(module: Module): number {
  return [...module.members.values()].reduce((sum, tensor) => sum + count(tensor.shape), 0);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

function count(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/** Returns the first place where dense widths do not chain, or null when the order chains. */
function findChainBreak(modules: Module[]): string | null {
  let width: number | null = null;
  let previous = '';
  for (const module of modules) {
    const role = classify(module);
    if (role.kind === 'dense') {
      const [units, inputs] = role.weight.shape;
      if (width !== null && inputs !== width) {
        return `'${role.weight.name}' takes ${inputs} inputs but ${previous} gives ${width}`;
      }
      width = units;
      previous = `'${role.weight.name}'`;
    } else if (role.kind === 'opaque') {
      width = null;
    }
  }
  return null;
}

function cannotInfer(file: string, problem: string): ModelFormatError {
  return new ModelFormatError(
    file,
    `cannot infer the architecture: ${problem}; describe the layers in a sidecar file ` +
      `(<model file>.arch.json) or pass one with --architecture.`,
  );
}

/**
 * Orders modules into a chain of dense and opaque modules with each batch norm after the dense
 * layer it follows. Modules with no role go at the end.
 */
function orderModules(file: string, tensors: TensorInfo[]): Module[] {
  const stored = groupModules(tensors);
  const natural = [...stored].sort((a, b) => naturalOrder(a.prefix, b.prefix));
  const isLink = (module: Module) => ['dense', 'opaque'].includes(classify(module).kind);
  let chain = natural.filter(isLink);
  const naturalBreak = findChainBreak(chain);
  if (naturalBreak !== null) {
    chain = stored.filter(isLink);
    if (findChainBreak(chain) !== null) throw cannotInfer(file, naturalBreak);
  }
  const ordered: Module[] = [...chain];
  for (const norm of natural.filter((module) => classify(module).kind === 'batchnorm')) {
    const after = placeNorm(file, norm, chain, [natural, stored]);
    ordered.splice(after === null ? 0 : ordered.indexOf(after) + 1, 0, norm);
  }
  return [...ordered, ...natural.filter((module) => classify(module).kind === 'other')];
}

/**
 * Returns the dense module a batch norm follows, or null for a norm of the input. Among the dense
 * layers whose width matches, it takes the module stored or named just before the norm, then the
 * one with the same trailing number (`fc1` for `bn1`), then the only one.
 */
function placeNorm(file: string, norm: Module, chain: Module[], orders: Module[][]): Module | null {
  const size = (classify(norm) as { size: number }).size;
  const units = (module: Module) => {
    const role = classify(module);
    return role.kind === 'dense' ? role.weight.shape[0] : -1;
  };
  const candidates = chain.filter((module) => units(module) === size);
  const first = chain[0] ? classify(chain[0]) : null;
  const fitsInput = first?.kind === 'dense' && first.weight.shape[1] === size;
  for (const order of orders) {
    const before = order[order.indexOf(norm) - 1];
    if (before && candidates.includes(before)) return before;
    if (!before && fitsInput) return null;
  }
  const number = (module: Module) => /(\d+)$/.exec(module.prefix)?.[1];
  const numbered = candidates.filter((module) => number(module) === number(norm));
  if (number(norm) !== undefined && numbered.length === 1) return numbered[0];
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0 && fitsInput) return null;
  const which = candidates.length === 0 ? 'no dense layer has' : 'several dense layers have';
  throw cannotInfer(
    file,
    `batch norm '${norm.prefix}' has ${size} features and ${which} ${size} units`,
  );
}

/** Infers a chain of dense (and batch norm) layers from tensor names and shapes. */
export function inferArchitecture(
  file: string,
  source: TensorSource,
  options: InferenceOptions,
): StateDictArchitecture {
  const modules = orderModules(file, source.tensors);
  const activation = activationWithDefaults(options.activation ?? 'relu');
  const layers: Layer[] = [];
  const bindings = new Map<string, DenseBinding>();
  const notes: string[] = [];
  const ignored: string[] = [];
  for (const module of modules) {
    const layer = layerFromModule(source, module, bindings);
    if (layer) layers.push(layer);
    else ignored.push(...[...module.members.values()].map((tensor) => tensor.name));
  }

  if (!layers.some((layer) => layer.kind === 'dense')) {
    throw new ModelFormatError(
      file,
      `no dense layer found (no 2-D '*.weight' or '*.kernel' tensor); describe the layers in a sidecar file (<model file>.arch.json).`,
    );
  }
  placeActivations(layers, activation);
  notes.push(describeInference(activation));
  if (ignored.length > 0) {
    notes.push(`Kept unchanged and not used in the network: ${ignored.join(', ')}.`);
  }
  return { network: { inputShape: inferInputShape(layers), layers }, bindings, notes };
}

/** Builds the layer of one module and records dense bindings; null for a module with no role. */
function layerFromModule(
  source: TensorSource,
  module: Module,
  bindings: Map<string, DenseBinding>,
): Layer | null {
  const role = classify(module);
  const name = module.prefix || [...module.members.values()][0].name;
  switch (role.kind) {
    case 'dense':
      bindings.set(name, bindingFor(module.prefix, role.weight, role.bias, false));
      return denseFromTensors(source, name, role.weight, role.bias, false);
    case 'batchnorm':
      return batchNormFromModule(source, name, module.prefix, 1e-5);
    case 'opaque': {
      const { reason, params } = role;
      return { kind: 'opaque', name, className: 'Unknown', reason, params };
    }
    default:
      return null;
  }
}

function describeInference(activation: Activation): string {
  const parameter = activation.alpha !== undefined ? ` (alpha ${activation.alpha})` : '';
  return (
    `Architecture inferred from tensor names and shapes: ${activation.name}${parameter} between ` +
    `dense layers, last layer linear; pass --activation or a sidecar file to change it.`
  );
}

/** Sets the hidden activation on each dense layer but the last, after a following batch norm. */
function placeActivations(layers: Layer[], activation: Activation): void {
  const dense = layers.filter((layer): layer is DenseLayer => layer.kind === 'dense');
  const last = dense[dense.length - 1];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer.kind !== 'dense' || layer === last) continue;
    const next = layers[i + 1];
    if (next?.kind === 'batchnorm') {
      layers.splice(i + 2, 0, { kind: 'activation', name: `${next.name}.activation`, activation });
    } else {
      layer.activation = { ...activation };
    }
  }
}

function inferInputShape(layers: Layer[]): number[] {
  const first = layers[0];
  return first.kind === 'dense' ? [first.inputs] : [];
}

/** Builds a dense layer from its stored tensors; `transposed` means an `[in, out]` weight. */
export function denseFromTensors(
  source: TensorSource,
  name: string,
  weight: TensorInfo,
  bias: TensorInfo | null,
  transposed: boolean,
): DenseLayer {
  const [rows, columns] = weight.shape;
  const stored = source.read(weight.name);
  const kernel = transposed ? transpose(stored, rows, columns) : stored;
  const units = transposed ? columns : rows;
  return {
    kind: 'dense',
    name,
    units,
    inputs: transposed ? rows : columns,
    kernel,
    bias: bias ? source.read(bias.name) : null,
    activation: { name: 'linear' },
  };
}

/** Returns the binding of a dense layer whose tensors are `weight` and `bias`. */
export function bindingFor(
  prefix: string,
  weight: TensorInfo,
  bias: TensorInfo | null,
  transposed: boolean,
): DenseBinding {
  let newBiasName = `${weight.name}.bias`;
  if (prefix) newBiasName = `${prefix}.bias`;
  else if (weight.name === 'weight' || weight.name === 'kernel') newBiasName = 'bias';
  return { weight: weight.name, bias: bias ? bias.name : null, transposed, newBiasName };
}

/** Builds a batch norm layer from `<prefix>.running_mean`, `running_var`, `weight`, `bias`. */
export function batchNormFromModule(
  source: TensorSource,
  name: string,
  prefix: string,
  epsilon: number,
): BatchNormLayer {
  const key = (member: string) => (prefix ? `${prefix}.${member}` : member);
  const has = (member: string) => source.tensors.some((tensor) => tensor.name === key(member));
  const movingMean = source.read(key('running_mean'));
  return {
    kind: 'batchnorm',
    name,
    size: movingMean.length,
    gamma: has('weight') ? source.read(key('weight')) : null,
    beta: has('bias') ? source.read(key('bias')) : null,
    movingMean,
    movingVariance: source.read(key('running_var')),
    epsilon,
  };
}

/** Transposes a row-major `[rows, columns]` matrix. */
export function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) result[c * rows + r] = values[r * columns + c];
  }
  return result;
}

/**
 * Collects the tensors to write for a changed network: every bound dense weight and bias, and a
 * new bias tensor where a layer without one now has a bias. Throws when the network no
 * longer matches the loaded one.
 */
export function collectChanges(
  file: string,
  architecture: StateDictArchitecture,
  network: Network,
  source: TensorSource,
): StateDictChanges {
  const changes: StateDictChanges = { updates: new Map(), additions: [] };
  for (const layer of denseLayers(network)) {
    const binding = architecture.bindings.get(layer.name);
    if (!binding) {
      throw new ModelFormatError(
        file,
        `cannot save: the network has a dense layer '${layer.name}' that the loaded model does not have.`,
      );
    }
    const weight = source.tensors.find((tensor) => tensor.name === binding.weight);
    if (!weight || count(weight.shape) !== layer.kernel.length) {
      throw new ModelFormatError(
        file,
        `cannot save: layer '${layer.name}' no longer has the shape of '${binding.weight}'.`,
      );
    }
    const kernel = binding.transposed
      ? transpose(layer.kernel, layer.units, layer.inputs)
      : layer.kernel;
    changes.updates.set(binding.weight, kernel);
    if (!layer.bias) continue;
    if (binding.bias) {
      changes.updates.set(binding.bias, layer.bias);
    } else {
      changes.additions.push({
        name: binding.newBiasName,
        after: binding.weight,
        values: layer.bias,
        layer: layer.name,
      });
    }
  }
  return changes;
}

/** Returns a source that reports each tensor read as progress over the number of tensors. */
export function reportingReads(source: TensorSource, options: TaskOptions): TensorSource {
  const onProgress = options.onProgress;
  if (!onProgress) return source;
  let reads = 0;
  return {
    tensors: source.tensors,
    read(name) {
      onProgress({ fraction: reads / source.tensors.length, message: `Reading ${name}` });
      reads = Math.min(reads + 1, source.tensors.length);
      return source.read(name);
    },
  };
}

/** Returns true when a new bias tensor for the layer would not collide with an existing tensor. */
export function canAddBiasTensor(
  architecture: StateDictArchitecture,
  source: TensorSource,
  layerName: string,
): boolean {
  const binding = architecture.bindings.get(layerName);
  if (!binding || binding.bias) return false;
  return !source.tensors.some((tensor) => tensor.name === binding.newBiasName);
}
