/**
 * The one model shape every format reader produces and every writer consumes.
 *
 * A network is a chain of layers from the input to the output. Dense kernels are always
 * stored as `[units, inputs]` row-major, whatever the file stores, so that unit `i`'s
 * incoming weights are `kernel.subarray(i * inputs, (i + 1) * inputs)`.
 */

/** Elementwise activation functions the core can run and differentiate. */
export type ActivationName =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'leaky_relu'
  | 'elu'
  | 'selu'
  | 'sigmoid'
  | 'hard_sigmoid'
  | 'tanh'
  | 'softplus'
  | 'softsign'
  | 'swish'
  | 'gelu'
  | 'exponential'
  | 'softmax';

/** An activation with its parameter (the negative slope of leaky ReLU, alpha of ELU). */
export interface Activation {
  name: ActivationName;
  alpha?: number;
}

/** A fully-connected layer: `z = W a + b`, then the activation. */
export interface DenseLayer {
  kind: 'dense';
  name: string;
  units: number;
  inputs: number;
  /** `[units, inputs]` row-major. */
  kernel: Float32Array;
  /** Length `units`, or null when the layer has no bias. */
  bias: Float32Array | null;
  activation: Activation;
}

/** Inference-mode batch normalization over the last axis. */
export interface BatchNormLayer {
  kind: 'batchnorm';
  name: string;
  size: number;
  gamma: Float32Array | null;
  beta: Float32Array | null;
  movingMean: Float32Array;
  movingVariance: Float32Array;
  epsilon: number;
}

/** A separate activation layer (Keras `Activation`, `ReLU`, `LeakyReLU`, ONNX `Relu`, ...). */
export interface ActivationLayer {
  kind: 'activation';
  name: string;
  activation: Activation;
}

/** A layer that is the identity at inference time (Dropout, Cast, an ONNX `Identity`). */
export interface IdentityLayer {
  kind: 'identity';
  name: string;
  className: string;
}

/** Flatten or Reshape: changes the shape only, never the values. */
export interface ReshapeLayer {
  kind: 'reshape';
  name: string;
  className: string;
  /** Shape of one sample after the layer, without the batch axis. */
  targetShape: number[];
}

/** An elementwise affine map `y = (x - offset) * scale`, as ONNX-ML's `Scaler` computes. */
export interface ScaleLayer {
  kind: 'scale';
  name: string;
  offset: Float32Array;
  scale: Float32Array;
}

/** A layer the core cannot run (convolutions, Lambda, custom classes): kept, never changed. */
export interface OpaqueLayer {
  kind: 'opaque';
  name: string;
  className: string;
  /** The reason the core cannot run it, in one sentence. */
  reason: string;
  /** Number of stored parameters, for the summary. */
  params: number;
}

export type Layer =
  | DenseLayer
  | BatchNormLayer
  | ActivationLayer
  | IdentityLayer
  | ReshapeLayer
  | ScaleLayer
  | OpaqueLayer;

/** A loaded model in the core's shape. */
export interface Network {
  /** Shape of one input sample, without the batch axis (for example `[784]` or `[28, 28]`). */
  inputShape: number[];
  layers: Layer[];
}

/** Returns the dense layers of a network in order. */
export function denseLayers(network: Network): DenseLayer[] {
  return network.layers.filter((layer): layer is DenseLayer => layer.kind === 'dense');
}

/** Returns true when every layer can run in the core, so data-based criteria apply. */
export function isRunnable(network: Network): boolean {
  return network.layers.every((layer) => layer.kind !== 'opaque');
}

/** Returns the number of values in a shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/** Returns a deep copy whose weight arrays can be changed without touching the original. */
export function cloneNetwork(network: Network): Network {
  const layers = network.layers.map((layer): Layer => {
    if (layer.kind === 'dense') {
      return {
        ...layer,
        activation: { ...layer.activation },
        kernel: layer.kernel.slice(),
        bias: layer.bias ? layer.bias.slice() : null,
      };
    }
    return { ...layer };
  });
  return { inputShape: [...network.inputShape], layers };
}

/** Counts the parameters of one layer. */
export function layerParams(layer: Layer): number {
  switch (layer.kind) {
    case 'dense':
      return layer.kernel.length + (layer.bias ? layer.bias.length : 0);
    case 'batchnorm':
      return (
        (layer.gamma?.length ?? 0) +
        (layer.beta?.length ?? 0) +
        layer.movingMean.length +
        layer.movingVariance.length
      );
    case 'scale':
      return layer.offset.length + layer.scale.length;
    case 'opaque':
      return layer.params;
    default:
      return 0;
  }
}

/** Counts the exact zeros of a dense kernel. */
export function countZeros(values: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) zeros++;
  }
  return zeros;
}
