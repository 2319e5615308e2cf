/** A compiled network with its weights as TensorFlow.js tensors, and its forward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../model';
import { applyOp, applyOps, applyOpsWithDerivative } from './ops';
import { compilePlan, type Plan } from './plan';

/**
 * Weights of one dense stage. Small kernels are kept in both orientations so that no product
 * needs a transposed operand. Large ones are kept once, because XNNPACK also keeps a packed
 * copy of every kernel it multiplies by, and because `(Wᵀ gᵀ)ᵀ` was measured faster than `g W`
 * for them (1.2 s against 2.3 s for a 3536 × 3536 kernel and 1,280 rows on wasm).
 */
interface StageWeights {
  /** `[units, inputs]` for the backward pass of small kernels, or null. */
  kernel: tf.Tensor2D | null;
  /** `[inputs, units]`, for the forward pass. */
  kernelT: tf.Tensor2D;
  bias: tf.Tensor1D | null;
}

/** Kernels with at least this many weights are kept in one orientation only. */
const singleCopyWeights = 2 ** 20;

/** Intermediate values of a forward pass that the backward pass needs. */
export interface Trace {
  /** Input of each dense layer, `[batch, inputs]`. */
  inputs: tf.Tensor2D[];
  /** Derivative of each stage's elementwise chain at its pre-activation, or null when it is 1. */
  derivatives: (tf.Tensor | null)[];
  /** The reference output without the final softmax or sigmoid, `[batch, outputs]`. */
  logits: tf.Tensor2D;
}

/** A network ready to run; call `dispose` when done. */
export class Runtime {
  readonly plan: Plan;
  private readonly weights: StageWeights[];

  constructor(readonly network: Network) {
    this.plan = compilePlan(network);
    this.weights = this.plan.stages.map(({ layer }) => {
      const kernel = tf.tensor2d(layer.kernel, [layer.units, layer.inputs]);
      const kernelT = tf.transpose(kernel) as tf.Tensor2D;
      const single = layer.kernel.length >= singleCopyWeights;
      if (single) kernel.dispose();
      return { kernel: single ? null : kernel, kernelT, bias: layer.bias ? tf.tensor1d(layer.bias) : null };
    });
  }

  /** Number of outputs of the reference output. */
  get outputSize(): number {
    return this.plan.outputSize;
  }

  /** Weight tensors of stage `index`. */
  stageWeights(index: number): StageWeights {
    return this.weights[index];
  }

  /** Runs the network on `[batch, inputSize]` and returns the final output. */
  predict(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.applyHead(this.logits(x)));
  }

  /** Runs the network and returns the reference output without the final softmax or sigmoid. */
  logits(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let a = applyOps(this.plan.before, x) as tf.Tensor2D;
      this.plan.stages.forEach((stage, index) => {
        a = applyOps(stage.after, this.preActivation(index, a)) as tf.Tensor2D;
      });
      return a;
    });
  }

  /** Applies the final softmax or sigmoid, if the network has one. */
  applyHead(logits: tf.Tensor2D): tf.Tensor2D {
    const final = this.plan.head.final;
    if (!final) return logits;
    return applyOp({ kind: 'activation', activation: { name: final } }, logits) as tf.Tensor2D;
  }

  /** Runs the network and keeps what the backward pass needs. Not wrapped in `tidy`: the caller is. */
  trace(x: tf.Tensor2D): Trace {
    const inputs: tf.Tensor2D[] = [];
    const derivatives: (tf.Tensor | null)[] = [];
    let a = applyOps(this.plan.before, x) as tf.Tensor2D;
    this.plan.stages.forEach((stage, index) => {
      inputs.push(a);
      const { y, derivative } = applyOpsWithDerivative(stage.after, this.preActivation(index, a));
      derivatives.push(derivative);
      a = y as tf.Tensor2D;
    });
    return { inputs, derivatives, logits: a };
  }

  /** Computes `g W` for stage `index`: the gradient at its input from `g` at its pre-activation. */
  backwardProduct(index: number, g: tf.Tensor2D): tf.Tensor2D {
    const { kernel, kernelT } = this.weights[index];
    if (kernel) return tf.matMul(g, kernel);
    return tf.tidy(() => tf.transpose(tf.matMul(kernelT, tf.transpose(g))) as tf.Tensor2D);
  }

  /** Computes `z = a Wᵀ + b` for stage `index`. */
  preActivation(index: number, a: tf.Tensor2D): tf.Tensor2D {
    const { kernelT, bias } = this.weights[index];
    const z: tf.Tensor2D = tf.matMul(a, kernelT);
    return bias ? (tf.add(z, bias) as tf.Tensor2D) : z;
  }

  /** Releases the weight tensors. */
  dispose(): void {
    for (const { kernel, kernelT, bias } of this.weights) {
      kernel?.dispose();
      kernelT.dispose();
      bias?.dispose();
    }
  }
}
