/**
 * Turns a chain of Keras layer specs and their stored weights into the core `Network`.
 * Keras and TF.js store Dense kernels as `[inputs, units]`; they are transposed here to the
 * core's `[units, inputs]`. Layers the core cannot run become OpaqueLayers with a reason.
 */
import { ModelFormatError } from '../errors';
import type { Activation, ActivationName, Layer, Network } from '../model';
import { shapeSize } from '../model';
import type { KerasArchitecture, KerasLayerSpec } from './keras-config';
import { isObject, notAChain } from './keras-config';

/** One stored weight of a layer, in the layer's own order, with a format-specific reference. */
export interface StoredWeight<Ref> {
  name: string;
  /** Shape as stored in the file (Dense kernels are `[inputs, units]`). */
  shape: number[];
  /** The values as float32, or empty for non-float weights of layers PruneLens keeps opaque. */
  values: Float32Array;
  ref: Ref;
  /**
   * True for a Dense kernel whose values were read already transposed to `[units, inputs]`. They
   * become the layer's kernel, which pruning may change, so a writer compares with its file.
   */
  unitsFirst?: boolean;
}

/** Storage of a dense layer's kernel and bias, for writing them back. */
export interface DenseBinding<Ref> {
  kernel: StoredWeight<Ref>;
  bias: StoredWeight<Ref> | null;
}

/** A network built from a Keras configuration, with the storage of each dense layer. */
export interface KerasNetwork<Ref> {
  network: Network;
  dense: Map<string, DenseBinding<Ref>>;
  notes: string[];
}

interface Step {
  layers: Layer[];
  /** Shape of one sample after the layer, or null when unknown. */
  shape: number[] | null;
}

/**
 * Builds the core network. `weightsOf` returns a layer's stored weights in Keras order
 * (Dense: kernel, bias; BatchNormalization: gamma, beta, moving mean, moving variance).
 */
export function buildKerasNetwork<Ref>(
  architecture: KerasArchitecture,
  weightsOf: (spec: KerasLayerSpec) => StoredWeight<Ref>[],
  file: string,
): KerasNetwork<Ref> {
  const dense = new Map<string, DenseBinding<Ref>>();
  const notes: string[] = [];
  const layers: Layer[] = [];
  const specs = architecture.layers;
  const weights = specs.map((spec) => weightsOf(spec));

  let shape = architecture.inputShape ?? firstDenseInputs(specs, weights);
  // In a branching graph the previous layer in file order is not always a layer's input.
  const tracksShape = architecture.branching === null;
  for (const [index, spec] of specs.entries()) {
    const step = convertLayer(spec, weights[index], tracksShape ? shape : null, {
      file,
      dense,
      notes,
    });
    layers.push(...step.layers);
    shape = step.shape;
  }

  fillUnknownFlattenShapes(layers);
  checkBranching(architecture.branching, layers, notes, file);
  if (layers.some((layer) => layer.kind === 'opaque')) {
    notes.push('Only data-free criteria (magnitude, random) apply because some layers cannot run.');
  }
  const inputShape = architecture.inputShape ?? inferInputShape(layers);
  if (!inputShape) {
    throw new ModelFormatError(
      file,
      'states no input shape and has no Dense layer to infer it from; re-save the model with an Input layer.',
    );
  }
  return { network: { inputShape, layers }, dense, notes };
}

/**
 * Accepts a branching graph only when some layer is opaque (merge layers such as Add or
 * Concatenate are), because the engine then runs nothing and offers data-free criteria, for
 * which the order of the layers does not matter.
 */
function checkBranching(reason: string | null, layers: Layer[], notes: string[], file: string) {
  if (reason === null) return;
  if (!layers.some((layer) => layer.kind === 'opaque')) throw notAChain(file, reason);
  notes.unshift(
    `The model is a graph, not a single chain (${reason}); its layers are listed in file order.`,
  );
}

function firstDenseInputs<Ref>(specs: KerasLayerSpec[], weights: StoredWeight<Ref>[][]) {
  const index = specs.findIndex((spec) => spec.className === 'Dense');
  if (index < 0 || specs.slice(0, index).some((spec) => !isShapeKeeping(spec.className)))
    return null;
  const kernel = weights[index][0];
  return kernel && kernel.shape.length === 2 ? [kernel.shape[0]] : null;
}

function inferInputShape(layers: Layer[]): number[] | null {
  const first = layers.find((layer) => layer.kind === 'dense');
  return first && first.kind === 'dense' ? [first.inputs] : null;
}

/** Gives a Flatten whose input shape was unknown (after opaque layers) the next Dense's width. */
function fillUnknownFlattenShapes(layers: Layer[]): void {
  for (const [index, layer] of layers.entries()) {
    if (layer.kind !== 'reshape' || layer.targetShape.length > 0) continue;
    const next = layers.slice(index + 1).find((candidate) => candidate.kind === 'dense');
    if (next && next.kind === 'dense') layer.targetShape = [next.inputs];
  }
}

const identityClasses = new Set([
  'Dropout',
  'AlphaDropout',
  'GaussianDropout',
  'GaussianNoise',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'ActivityRegularization',
]);

function isShapeKeeping(className: string): boolean {
  return identityClasses.has(className) || className === 'InputLayer';
}

interface Context<Ref> {
  file: string;
  dense: Map<string, DenseBinding<Ref>>;
  notes: string[];
}

function convertLayer<Ref>(
  spec: KerasLayerSpec,
  weights: StoredWeight<Ref>[],
  shape: number[] | null,
  context: Context<Ref>,
): Step {
  const { className, name, config } = spec;
  if (className === 'Dense') return convertDense(spec, weights, shape, context);
  if (className === 'BatchNormalization') return convertBatchNorm(spec, weights, shape, context);
  if (identityClasses.has(className)) {
    return { layers: [{ kind: 'identity', name, className }], shape };
  }
  const activation = activationLayerOf(className, config);
  if (activation) {
    return { layers: [{ kind: 'activation', name, activation }], shape };
  }
  if (className === 'Flatten') {
    const targetShape = shape ? [shapeSize(shape)] : [];
    return {
      layers: [{ kind: 'reshape', name, className, targetShape }],
      shape: shape && targetShape,
    };
  }
  if (className === 'Reshape') return convertReshape(spec, shape, context.file);
  const reason = opaqueReason(className, config);
  const params = countParams(weights);
  context.notes.push(`Layer ${name} (${className}) is kept as it is: ${reason}`);
  return {
    layers: [{ kind: 'opaque', name, className, reason, params }],
    shape: opaqueOutputShape(className, config, shape),
  };
}

function convertDense<Ref>(
  spec: KerasLayerSpec,
  weights: StoredWeight<Ref>[],
  shape: number[] | null,
  context: Context<Ref>,
): Step {
  const { name, config } = spec;
  const { file } = context;
  // Keras 1 called the flag `bias`.
  const useBias = (config.use_bias ?? config.bias) !== false;

  const [kernel, bias] = weights;
  if (!kernel || kernel.shape.length !== 2 || weights.length !== (useBias ? 2 : 1)) {
    const found = weights.map((weight) => `[${weight.shape}]`).join(', ') || 'none';
    throw new ModelFormatError(
      file,
      `Dense layer ${name} should store a 2-D kernel${useBias ? ' and a bias' : ''} but has weights ${found}.`,
    );
  }
  const [inputs, units] = kernel.shape;
  if (kernel.values.length !== inputs * units) {
    throw new ModelFormatError(
      file,
      `Dense layer ${name} has a kernel that is not stored as floats; only float kernels are read.`,
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.values.length !== units)) {
    throw new ModelFormatError(
      file,
      `Dense layer ${name} has a bias of shape [${bias.shape}] for ${units} units.`,
    );
  }
  if (shape && shape[shape.length - 1] !== inputs) {
    throw new ModelFormatError(
      file,
      `Dense layer ${name} has a kernel for ${inputs} inputs but receives ${shape[shape.length - 1]} values.`,
    );
  }

  // A kernel read as `[units, inputs]` is the layer's own array, so the binding keeps no values.
  const stored = kernel.unitsFirst ? { ...kernel, values: new Float32Array(0) } : kernel;
  context.dense.set(name, { kernel: stored, bias: bias ?? null });
  const parsed = parseActivation(config.activation);
  const layers: Layer[] = [
    {
      kind: 'dense',
      name,
      units,
      inputs,
      kernel: kernel.unitsFirst ? kernel.values : transpose(kernel.values, inputs, units),
      bias: bias ? bias.values.slice() : null,
      activation: parsed ?? { name: 'linear' },
    },
  ];
  if (!parsed) layers.push(unknownActivation(name, config.activation, context));
  const outShape = shape ? [...shape.slice(0, -1), units] : [units];
  return { layers, shape: outShape };
}

function unknownActivation<Ref>(name: string, activation: unknown, context: Context<Ref>): Layer {
  const label = JSON.stringify(activation);
  const reason = `activation ${label} is not one PruneLens can run.`;
  context.notes.push(`Dense layer ${name}: ${reason} It is kept as a separate opaque step.`);
  return { kind: 'opaque', name: `${name}/activation`, className: 'Activation', reason, params: 0 };
}

/** Transposes a row-major `[rows, columns]` matrix. */
export function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      result[column * rows + row] = values[row * columns + column];
    }
  }
  return result;
}

function convertBatchNorm<Ref>(
  spec: KerasLayerSpec,
  weights: StoredWeight<Ref>[],
  shape: number[] | null,
  context: Context<Ref>,
): Step {
  const { name, config } = spec;
  const scale = config.scale !== false;
  const center = config.center !== false;
  const expected = 2 + (scale ? 1 : 0) + (center ? 1 : 0);
  const params = countParams(weights);

  const axisReason = batchNormAxisProblem(config.axis, shape);
  if (axisReason) {
    context.notes.push(`Layer ${name} (BatchNormalization) is kept as it is: ${axisReason}`);
    const layer: Layer = {
      kind: 'opaque',
      name,
      className: 'BatchNormalization',
      reason: axisReason,
      params,
    };
    return { layers: [layer], shape };
  }
  if (weights.length !== expected) {
    throw new ModelFormatError(
      context.file,
      `BatchNormalization layer ${name} should store ${expected} weights but has ${weights.length}.`,
    );
  }

  const size = weights[weights.length - 1].values.length;
  const channels = shape ? shape[shape.length - 1] : size;
  if (channels !== size || weights.some((weight) => weight.values.length !== size)) {
    const found = weights.map((weight) => `[${weight.shape}]`).join(', ');
    throw new ModelFormatError(
      context.file,
      `BatchNormalization layer ${name} has weights ${found} for ${channels} channels.`,
    );
  }

  const queue = weights.map((weight) => weight.values.slice());
  const gamma = scale ? queue.shift()! : null;
  const beta = center ? queue.shift()! : null;
  const [movingMean, movingVariance] = queue;
  const epsilon = typeof config.epsilon === 'number' ? shortestFloat32(config.epsilon) : 1e-3;
  return {
    layers: [{ kind: 'batchnorm', name, size, gamma, beta, movingMean, movingVariance, epsilon }],
    shape,
  };
}

/** Returns why a BatchNormalization axis is not the last one, or null when it is. */
function batchNormAxisProblem(axis: unknown, shape: number[] | null): string | null {
  const value = Array.isArray(axis) && axis.length === 1 ? axis[0] : (axis ?? -1);
  if (value === -1) return null;
  // Keras counts the batch axis, so for a sample of rank r the last axis is r.
  if (shape && value === shape.length) return null;
  return `normalizes over axis ${JSON.stringify(axis)}, not the last one.`;
}

function convertReshape(spec: KerasLayerSpec, shape: number[] | null, file: string): Step {
  const { name, config } = spec;
  const target = Array.isArray(config.target_shape) ? (config.target_shape as number[]) : null;
  if (!target) throw new ModelFormatError(file, `Reshape layer ${name} has no target_shape.`);
  const known = target.filter((dimension) => dimension !== -1);
  let targetShape = [...target];
  if (known.length !== target.length && shape) {
    const missing = shapeSize(shape) / Math.max(shapeSize(known), 1);
    targetShape = target.map((dimension) => (dimension === -1 ? missing : dimension));
  }
  return {
    layers: [{ kind: 'reshape', name, className: 'Reshape', targetShape }],
    shape: targetShape,
  };
}

const activationNames: Record<string, ActivationName> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  leaky_relu: 'leaky_relu',
  elu: 'elu',
  selu: 'selu',
  sigmoid: 'sigmoid',
  hard_sigmoid: 'hard_sigmoid',
  hardSigmoid: 'hard_sigmoid',
  tanh: 'tanh',
  softplus: 'softplus',
  softsign: 'softsign',
  swish: 'swish',
  silu: 'swish',
  gelu: 'gelu',
  exponential: 'exponential',
  softmax: 'softmax',
};

/** Parses a Keras activation (a name, null, or a serialized object); null when unsupported. */
export function parseActivation(value: unknown): Activation | null {
  let name = value;
  if (value === null || value === undefined) return { name: 'linear' };
  if (isObject(value)) {
    const config = value.config;
    name = typeof config === 'string' ? config : isObject(config) ? config.name : value.class_name;
  }
  if (typeof name !== 'string' || !Object.hasOwn(activationNames, name)) return null;
  const known = activationNames[name];
  // Keras 3's `leaky_relu` activation function uses a negative slope of 0.2 by default.
  if (known === 'leaky_relu') return { name: known, alpha: 0.2 };
  if (known === 'elu') return { name: known, alpha: 1 };
  return { name: known };
}

/**
 * Returns the shortest decimal with the same float32 value, so that a float32 setting written as
 * a double (LeakyReLU's 0.20000000298023224) reads as 0.2.
 */
export function shortestFloat32(value: number): number {
  const short = Number(value.toPrecision(7));
  return Math.fround(short) === Math.fround(value) ? short : value;
}

function activationLayerOf(className: string, config: Record<string, unknown>): Activation | null {
  const number = (value: unknown, fallback: number) =>
    typeof value === 'number' ? shortestFloat32(value) : fallback;
  switch (className) {
    case 'Activation':
      return parseActivation(config.activation);
    case 'LeakyReLU':
      // Keras 2 and TF.js call the slope `alpha`, Keras 3 `negative_slope`; both default to 0.3.
      return { name: 'leaky_relu', alpha: number(config.negative_slope ?? config.alpha, 0.3) };
    case 'ELU':
      return { name: 'elu', alpha: number(config.alpha, 1) };
    case 'Softmax':
      return config.axis === undefined || config.axis === -1 ? { name: 'softmax' } : null;
    case 'ReLU':
      return reluLayerActivation(config);
    default:
      return null;
  }
}

function reluLayerActivation(config: Record<string, unknown>): Activation | null {
  const maxValue = config.max_value ?? null;
  const slope =
    typeof config.negative_slope === 'number' ? shortestFloat32(config.negative_slope) : 0;
  const threshold = typeof config.threshold === 'number' ? config.threshold : 0;
  if (threshold !== 0) return null;
  if (maxValue === null)
    return slope === 0 ? { name: 'relu' } : { name: 'leaky_relu', alpha: slope };
  return maxValue === 6 && slope === 0 ? { name: 'relu6' } : null;
}

function countParams<Ref>(weights: StoredWeight<Ref>[]): number {
  return weights.reduce((sum, weight) => sum + shapeSize(weight.shape), 0);
}

function opaqueReason(className: string, config: Record<string, unknown>): string {
  if (/^(Conv|SeparableConv|DepthwiseConv)/.test(className)) {
    return 'convolution layers are not run by PruneLens.';
  }
  if (/Pooling/.test(className)) return 'pooling layers are not run by PruneLens.';
  if (className === 'Lambda')
    return 'Lambda layers run Python code that is not stored in the file.';
  if (className === 'PReLU') return 'PReLU has learned slopes, which PruneLens does not run.';
  if (['Sequential', 'Functional', 'Model'].includes(className)) {
    return 'nested models are not unpacked by PruneLens.';
  }
  if (['Activation', 'Softmax', 'ReLU'].includes(className)) {
    return `its settings ${JSON.stringify(config)} are not supported.`;
  }
  return `${className} is a custom or unsupported layer class.`;
}

/** Output shape of the convolution and pooling layers PruneLens keeps opaque, when computable. */
function opaqueOutputShape(
  className: string,
  config: Record<string, unknown>,
  shape: number[] | null,
): number[] | null {
  if (!shape || shape.length !== 3 || config.data_format === 'channels_first') return null;
  const pair = (value: unknown, fallback: number): [number, number] =>
    Array.isArray(value)
      ? [Number(value[0]), Number(value[1])]
      : [Number(value ?? fallback), Number(value ?? fallback)];
  if (className.startsWith('Global') && className.endsWith('Pooling2D')) return [shape[2]];
  const isConv = className === 'Conv2D';
  const isPool = /^(Max|Average)Pooling2D$/.test(className);
  if (!isConv && !isPool) return null;
  const kernel = pair(isConv ? config.kernel_size : config.pool_size, 2);
  // Pooling layers default their strides to the pool size, convolutions to 1.
  const strides = config.strides == null && isPool ? kernel : pair(config.strides, 1);
  const spatial = [0, 1].map((axis) => {
    const size = shape[axis];
    if (config.padding === 'same') return Math.ceil(size / strides[axis]);
    return Math.floor((size - kernel[axis]) / strides[axis]) + 1;
  });
  const channels = isConv ? Number(config.filters) : shape[2];
  return [spatial[0], spatial[1], channels];
}

/** A stored weight that changed (a `unitsFirst` kernel: that may have) and its new values. */
export interface WeightUpdate<Ref> {
  weight: StoredWeight<Ref>;
  /** New values in the stored layout, or the layer's `[units, inputs]` kernel when `unitsFirst`. */
  values: Float32Array;
}

/** A bias to add to a Dense layer stored with `use_bias: false`. */
export interface NewBias<Ref> {
  layerName: string;
  /** The layer's stored kernel, which locates where the bias goes. */
  kernel: StoredWeight<Ref>;
  values: Float32Array;
}

/** The writes a save needs: changed weights, and biases for layers that had none. */
export interface DenseChanges<Ref> {
  updates: WeightUpdate<Ref>[];
  newBiases: NewBias<Ref>[];
}

/**
 * Compares the dense layers of `network` with the stored ones and returns the kernels and biases
 * that changed, kernels transposed back to `[inputs, units]`. Kernels read as `[units, inputs]`
 * keep no stored values, so they are always returned as they are and the writer compares them
 * with its file.
 * Throws when the network's dense layers do not match the file's (renamed or resized), or when a
 * layer gained a bias that `canAddBias` does not allow.
 */
export function changedDenseWeights<Ref>(
  network: Network,
  dense: Map<string, DenseBinding<Ref>>,
  file: string,
  canAddBias: (layerName: string) => boolean = () => false,
): DenseChanges<Ref> {
  const changes: DenseChanges<Ref> = { updates: [], newBiases: [] };
  for (const layer of network.layers) {
    if (layer.kind !== 'dense') continue;
    const binding = dense.get(layer.name);
    const [inputs, units] = binding ? binding.kernel.shape : [0, 0];
    if (!binding || inputs !== layer.inputs || units !== layer.units) {
      throw new ModelFormatError(
        file,
        `cannot save Dense layer ${layer.name} (${layer.units}x${layer.inputs}): the file has no such layer.`,
      );
    }

    if (binding.kernel.unitsFirst) {
      changes.updates.push({ weight: binding.kernel, values: layer.kernel });
    } else {
      const kernel = transpose(layer.kernel, units, inputs);
      if (!sameBits(kernel, binding.kernel.values)) {
        changes.updates.push({ weight: binding.kernel, values: kernel });
      }
    }
    if (!layer.bias) continue;
    if (binding.bias) {
      if (!sameBits(layer.bias, binding.bias.values)) {
        changes.updates.push({ weight: binding.bias, values: layer.bias.slice() });
      }
    } else if (canAddBias(layer.name)) {
      changes.newBiases.push({
        layerName: layer.name,
        kernel: binding.kernel,
        values: layer.bias.slice(),
      });
    } else {
      throw new ModelFormatError(
        file,
        `cannot save a bias for Dense layer ${layer.name}: the layer has use_bias false; prune it without compensation.`,
      );
    }
  }
  return changes;
}

/** Sets `use_bias: true` on the Dense layers named in `names`, anywhere inside a Keras config. */
export function enableBias(topology: unknown, names: ReadonlySet<string>): void {
  if (Array.isArray(topology)) {
    for (const item of topology) enableBias(item, names);
    return;
  }
  if (!isObject(topology)) return;
  const config = topology.config;
  if (topology.class_name === 'Dense' && isObject(config) && names.has(String(config.name))) {
    if ('bias' in config && !('use_bias' in config)) config.bias = true;
    else config.use_bias = true;
  }
  for (const value of Object.values(topology)) enableBias(value, names);
}

/** Returns the name of a bias stored beside `kernelName` (`d/kernel:0` → `d/bias:0`). */
export function biasNameFor(kernelName: string): string {
  const slash = kernelName.lastIndexOf('/');
  const leaf = kernelName.slice(slash + 1);
  const biasLeaf = /kernel/.test(leaf) ? leaf.replace('kernel', 'bias') : `${leaf}_bias`;
  return kernelName.slice(0, slash + 1) + biasLeaf;
}

/** Returns true when two arrays contain the same float32 bit patterns. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const left = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const right = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < left.length; i++) {
    if (left[i] !== right[i]) return false;
  }
  return true;
}
