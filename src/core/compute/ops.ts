/** Elementwise operations in TensorFlow.js, with their derivatives for the backward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../model';
import type { ElementwiseOp } from './plan';

const seluAlpha = 1.6732632423543772;
const seluScale = 1.0507009873554805;

/** Applies an activation. */
export function activate(activation: Activation, x: tf.Tensor): tf.Tensor {
  const alpha = activation.alpha;
  switch (activation.name) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'leaky_relu':
      return tf.leakyRelu(x, alpha ?? 0.3);
    case 'elu':
      // relu(x) + α (exp(min(x, 0)) − 1) equals ELU and, unlike a `where`, has gradients.
      return alpha === undefined || alpha === 1
        ? tf.elu(x)
        : tf.add(tf.relu(x), tf.mul(alpha, tf.sub(tf.exp(tf.minimum(x, 0)), 1)));
    case 'selu':
      return tf.selu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'hard_sigmoid':
      return tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
    case 'tanh':
      return tf.tanh(x);
    case 'softplus':
      return tf.softplus(x);
    case 'softsign':
      return tf.div(x, tf.add(tf.abs(x), 1));
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'exponential':
      return tf.exp(x);
    case 'softmax':
      return tf.softmax(x);
  }
}

/** Returns the derivative of an activation at `x`, elementwise. Softmax has none. */
export function activationDerivative(activation: Activation, x: tf.Tensor): tf.Tensor {
  const alpha = activation.alpha;
  switch (activation.name) {
    case 'linear':
      return tf.onesLike(x);
    case 'relu':
      return tf.step(x, 0);
    case 'relu6':
      return tf.cast(tf.logicalAnd(tf.greater(x, 0), tf.less(x, 6)), 'float32');
    case 'leaky_relu':
      return tf.where(tf.greater(x, 0), tf.onesLike(x), tf.fill(x.shape, alpha ?? 0.3));
    case 'elu':
      return tf.where(tf.greater(x, 0), tf.onesLike(x), tf.mul(alpha ?? 1, tf.exp(x)));
    case 'selu':
      return tf.where(tf.greater(x, 0), tf.fill(x.shape, seluScale), tf.mul(seluScale * seluAlpha, tf.exp(x)));
    case 'sigmoid': {
      const s = tf.sigmoid(x);
      return tf.mul(s, tf.sub(1, s));
    }
    case 'hard_sigmoid':
      return tf.mul(tf.cast(tf.logicalAnd(tf.greater(x, -2.5), tf.less(x, 2.5)), 'float32'), 0.2);
    case 'tanh': {
      const t = tf.tanh(x);
      return tf.sub(1, tf.square(t));
    }
    case 'softplus':
      return tf.sigmoid(x);
    case 'softsign':
      return tf.div(1, tf.square(tf.add(tf.abs(x), 1)));
    case 'swish': {
      const s = tf.sigmoid(x);
      return tf.add(s, tf.mul(x, tf.mul(s, tf.sub(1, s))));
    }
    case 'gelu': {
      const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
      const pdf = tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(x))));
      return tf.add(cdf, tf.mul(x, pdf));
    }
    case 'exponential':
      return tf.exp(x);
    case 'softmax':
      throw new Error('softmax has no elementwise derivative');
  }
}

/** Applies one elementwise operation. */
export function applyOp(op: ElementwiseOp, x: tf.Tensor): tf.Tensor {
  if (op.kind === 'activation') return activate(op.activation, x);
  return tf.add(tf.mul(x, tf.tensor1d(op.scale)), tf.tensor1d(op.shift));
}

/** Applies a chain of elementwise operations and returns the output and the chain's derivative. */
export function applyOpsWithDerivative(
  ops: readonly ElementwiseOp[],
  x: tf.Tensor,
): { y: tf.Tensor; derivative: tf.Tensor | null } {
  let y = x;
  let derivative: tf.Tensor | null = null;
  for (const op of ops) {
    const local = op.kind === 'activation' ? activationDerivative(op.activation, y) : tf.tensor1d(op.scale);
    derivative = derivative ? tf.mul(derivative, local) : local;
    y = applyOp(op, y);
  }
  return { y, derivative };
}

/** Applies a chain of elementwise operations. */
export function applyOps(ops: readonly ElementwiseOp[], x: tf.Tensor): tf.Tensor {
  return ops.reduce((value, op) => applyOp(op, value), x);
}
