/** A compiled network with its weights as TensorFlow.js tensors, and its forward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../model';
import { applyOp, applyOps, applyOpsWithDerivative } from './ops';
import { compilePlan, type Plan } from './plan';

/** Weights of one dense stage in both orientations, so no product needs a transposed operand. */
interface StageWeights {
  /** `[units, inputs]`, for the backward pass. */
  kernel: tf.Tensor2D;
  /** `[inputs, units]`, for the forward pass. */
  kernelT: tf.Tensor2D;
  bias: tf.Tensor1D | null;
}

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

  constructor(network: Network) {
    this.plan = compilePlan(network);
    this.weights = this.plan.stages.map(({ layer }) => {
      const kernel = tf.tensor2d(layer.kernel, [layer.units, layer.inputs]);
      return {
        kernel,
        kernelT: tf.transpose(kernel) as tf.Tensor2D,
        bias: layer.bias ? tf.tensor1d(layer.bias) : null,
      };
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

  /** Computes `z = a Wᵀ + b` for stage `index`. */
  preActivation(index: number, a: tf.Tensor2D): tf.Tensor2D {
    const { kernelT, bias } = this.weights[index];
    const z: tf.Tensor2D = tf.matMul(a, kernelT);
    return bias ? (tf.add(z, bias) as tf.Tensor2D) : z;
  }

  /** Releases the weight tensors. */
  dispose(): void {
    for (const { kernel, kernelT, bias } of this.weights) {
      kernel.dispose();
      kernelT.dispose();
      bias?.dispose();
    }
  }
}
