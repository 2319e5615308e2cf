/**
 * Compiles a network into stages the compute code runs: the elementwise operations before the
 * first dense layer, then for each dense layer the elementwise operations that follow it.
 *
 * Every operation between dense layers except softmax acts on each value separately, so the
 * backward pass through it is a multiplication by its derivative; this is what lets the
 * sensitivities be computed by a batched backward pass instead of one gradient pass per output.
 */
import type { Activation, DenseLayer, Layer, Network } from '../model';
import { shapeSize } from '../model';
import { PruneLensError } from '../errors';

/** An operation applied to each value separately. */
export type ElementwiseOp =
  | { kind: 'activation'; activation: Activation }
  | { kind: 'affine'; scale: Float32Array; shift: Float32Array };

/** A dense layer and the elementwise operations up to the next dense layer. */
export interface DenseStage {
  layer: DenseLayer;
  /** Index of the layer in `network.layers`. */
  layerIndex: number;
  after: ElementwiseOp[];
}

/** The final operation that the logits reference leaves out of the last stage. */
export interface OutputHead {
  /** The final softmax or sigmoid that the logits reference leaves out, if there is one. */
  final: 'softmax' | 'sigmoid' | null;
}

/** A network as stages, ready to run. */
export interface Plan {
  inputSize: number;
  before: ElementwiseOp[];
  stages: DenseStage[];
  head: OutputHead;
  outputSize: number;
}

/** Builds the plan, or throws when a layer cannot run in the core. */
export function compilePlan(network: Network): Plan {
  const inputSize = shapeSize(network.inputShape);
  const before: ElementwiseOp[] = [];
  const stages: DenseStage[] = [];
  let width = inputSize;
  network.layers.forEach((layer, layerIndex) => {
    if (layer.kind === 'dense') {
      if (layer.inputs !== width) {
        throw new PruneLensError(
          undefined,
          `dense layer '${layer.name}' expects ${layer.inputs} inputs but receives ${width} values per sample.`,
        );
      }
      stages.push({ layer, layerIndex, after: [] });
      width = layer.units;
      pushActivation(stages[stages.length - 1].after, layer.activation);
      return;
    }
    const ops = stages.length > 0 ? stages[stages.length - 1].after : before;
    appendOp(ops, layer, width);
  });
  if (stages.length === 0) {
    throw new PruneLensError(undefined, 'the model has no dense layers to prune.');
  }
  const last = stages[stages.length - 1].after;
  const head = takeHead(last);
  for (const stage of stages) {
    if (stage.after.some((op) => op.kind === 'activation' && op.activation.name === 'softmax')) {
      throw new PruneLensError(
        undefined,
        `a softmax after dense layer '${stage.layer.name}' inside the network is not supported; only a final softmax is.`,
      );
    }
  }
  return { inputSize, before, stages, head, outputSize: width };
}

function pushActivation(ops: ElementwiseOp[], activation: Activation): void {
  if (activation.name !== 'linear') ops.push({ kind: 'activation', activation });
}

function appendOp(ops: ElementwiseOp[], layer: Layer, width: number): void {
  switch (layer.kind) {
    case 'activation':
      pushActivation(ops, layer.activation);
      return;
    case 'identity':
      return;
    case 'reshape':
      if (shapeSize(layer.targetShape) !== width) {
        throw new PruneLensError(
          undefined,
          `${layer.className} layer '${layer.name}' changes the number of values per sample from ${width} to ${shapeSize(layer.targetShape)}.`,
        );
      }
      return;
    case 'batchnorm':
      ops.push(batchNormAsAffine(layer));
      return;
    case 'scale':
      ops.push({
        kind: 'affine',
        scale: Float32Array.from(layer.scale),
        shift: Float32Array.from(layer.offset, (offset, i) => -offset * layer.scale[i]),
      });
      return;
    case 'opaque':
      throw new PruneLensError(
        undefined,
        `layer '${layer.name}' (${layer.className}) cannot run in PruneLens: ${layer.reason}`,
      );
    default:
      throw new PruneLensError(undefined, `unexpected layer '${(layer as Layer).name}'.`);
  }
}

/** Folds inference-mode batch normalization into `y = x * scale + shift`. */
function batchNormAsAffine(layer: Extract<Layer, { kind: 'batchnorm' }>): ElementwiseOp {
  const scale = new Float32Array(layer.size);
  const shift = new Float32Array(layer.size);
  for (let i = 0; i < layer.size; i++) {
    const gamma = layer.gamma ? layer.gamma[i] : 1;
    const beta = layer.beta ? layer.beta[i] : 0;
    const factor = gamma / Math.sqrt(layer.movingVariance[i] + layer.epsilon);
    scale[i] = factor;
    shift[i] = beta - layer.movingMean[i] * factor;
  }
  return { kind: 'affine', scale, shift };
}

/** Removes a final softmax (or a sigmoid on the last operation) from the ops and reports it. */
function takeHead(ops: ElementwiseOp[]): OutputHead {
  const last = ops[ops.length - 1];
  if (last?.kind === 'activation' && (last.activation.name === 'softmax' || last.activation.name === 'sigmoid')) {
    ops.pop();
    return { final: last.activation.name };
  }
  return { final: null };
}
