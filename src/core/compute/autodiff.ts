/**
 * Sensitivities by automatic differentiation: one `tf.grads` pass per probe vector, with respect
 * to a zero tensor added to each dense layer's pre-activation. Slower than the batched backward
 * pass in statistics.ts, but it makes no assumption about the operations between dense layers,
 * so it serves as the check of that pass and as the path for graphs it cannot take.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { ReferenceOutput } from '../reports';
import { applyOps } from './ops';
import type { Runtime } from './runtime';

/**
 * Returns `s_l = Σ_v (∂(vᵀf)/∂z_l)²` for every dense layer `l` as `[batch, units_l]`, where the
 * rows of `probes` (`[count, outputs]`) are the vectors `v` and `f` the reference output.
 * Samples do not interact (batch normalization runs in inference mode), so the gradient of the
 * batch sum gives every sample's own gradient. Call inside `tidy`.
 */
export function autodiffSensitivities(
  runtime: Runtime,
  x: tf.Tensor2D,
  probes: tf.Tensor2D,
  reference: ReferenceOutput,
): tf.Tensor2D[] {
  const batch = x.shape[0];
  const offsets = runtime.plan.stages.map(({ layer }) => tf.zeros([batch, layer.units]) as tf.Tensor2D);
  const output = (...added: tf.Tensor[]): tf.Tensor2D => {
    let a = applyOps(runtime.plan.before, x) as tf.Tensor2D;
    runtime.plan.stages.forEach((stage, index) => {
      const z = tf.add(runtime.preActivation(index, a), added[index]) as tf.Tensor2D;
      a = applyOps(stage.after, z) as tf.Tensor2D;
    });
    return reference === 'output' ? runtime.applyHead(a) : a;
  };
  const squares: tf.Tensor2D[] = offsets.map((offset) => tf.zerosLike(offset));
  for (const v of tf.unstack(probes)) {
    const gradients = tf.grads((...added: tf.Tensor[]) => tf.sum(tf.mul(output(...added), v)))(offsets);
    gradients.forEach((g, index) => {
      squares[index] = tf.add(squares[index], tf.square(g)) as tf.Tensor2D;
    });
  }
  return squares;
}
