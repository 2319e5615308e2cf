/**
 * Evaluation: the squared change of the final output against the unpruned model (summed over
 * the outputs, averaged over the samples, as `output_mse`), and the
 * task metrics when labels exist (accuracy and cross-entropy for classifiers with a softmax, a
 * single sigmoid unit, or logits with class labels; MSE and MAE for regressors).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types';
import { DataError } from '../errors';
import type { Network } from '../model';
import { checkpoint, type TaskOptions } from '../progress';
import type { Metrics } from '../reports';
import { Runtime } from './runtime';
import { batchOf, labelsOf } from './statistics';

/** The kind of task, which decides the metrics. */
export type TaskKind = 'classification' | 'regression' | 'unlabelled';

/** Metrics and the task they were computed for. */
export interface Evaluation {
  samples: number;
  task: TaskKind;
  metrics: Metrics;
}

/** Probabilities are clipped to this before the logarithm, as Keras does. */
const probabilityEpsilon = 1e-7;

/** Decides the task from the network's head and the labels. */
export function taskKind(runtime: Runtime, dataset: Dataset): TaskKind {
  if (!dataset.labels) return 'unlabelled';
  const outputs = runtime.outputSize;
  const final = runtime.plan.head.final;
  if (dataset.labelKind === 'class' && dataset.labelWidth === 1) {
    if (outputs > 1 && final !== 'sigmoid') return 'classification';
    if (outputs === 1 && final === 'sigmoid') return 'classification';
  }
  return 'regression';
}

/** Evaluates `network` on `dataset`, comparing its final output with `original`'s when given. */
export async function evaluateNetwork(
  network: Network,
  original: Network | null,
  dataset: Dataset,
  task: TaskOptions & { batchSize?: number } = {},
): Promise<Evaluation> {
  const runtime = new Runtime(network);
  const reference = original ? new Runtime(original) : null;
  try {
    const kind = taskKind(runtime, dataset);
    if (kind === 'classification') checkClassLabels(runtime, dataset);
    if (kind === 'regression') checkTargetWidth(runtime, dataset);
    const sums = new Float64Array(5);
    const batchSize = task.batchSize ?? 2048;
    for (let start = 0; start < dataset.samples; start += batchSize) {
      const end = Math.min(dataset.samples, start + batchSize);
      const batch = tf.tidy(() => batchSums(runtime, reference, dataset, kind, start, end));
      const values = batch.dataSync();
      batch.dispose();
      for (let i = 0; i < sums.length; i++) sums[i] += values[i];
      task.onProgress?.({ fraction: end / dataset.samples, message: `evaluation: ${end} samples` });
      await checkpoint(task.signal);
    }
    return { samples: dataset.samples, task: kind, metrics: toMetrics(sums, kind, runtime, dataset, original !== null) };
  } finally {
    runtime.dispose();
    reference?.dispose();
  }
}

/** Returns `[Σ output change², Σ correct, Σ cross-entropy, Σ error², Σ |error|]` for a batch. */
function batchSums(
  runtime: Runtime,
  reference: Runtime | null,
  dataset: Dataset,
  kind: TaskKind,
  start: number,
  end: number,
): tf.Tensor1D {
  const x = batchOf(dataset, start, end);
  const logits = runtime.logits(x);
  const output = runtime.applyHead(logits);
  const zero = tf.scalar(0);
  const outputChange = reference ? tf.sum(tf.square(tf.sub(output, reference.predict(x)))) : zero;
  let correct: tf.Tensor = zero;
  let crossEntropy: tf.Tensor = zero;
  let squared: tf.Tensor = zero;
  let absolute: tf.Tensor = zero;
  if (kind === 'classification') {
    const labels = tf.cast(tf.reshape(labelsOf(dataset, start, end), [-1]), 'int32');
    if (runtime.outputSize === 1) {
      const p = tf.clipByValue(tf.reshape(output, [-1]), probabilityEpsilon, 1 - probabilityEpsilon);
      const y = tf.cast(labels, 'float32');
      correct = tf.sum(tf.cast(tf.equal(tf.cast(tf.greater(p, 0.5), 'int32'), labels), 'float32'));
      crossEntropy = tf.neg(tf.sum(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p))))));
    } else {
      const predicted = tf.argMax(logits, 1);
      correct = tf.sum(tf.cast(tf.equal(predicted, labels), 'float32'));
      const oneHot = tf.oneHot(labels, runtime.outputSize);
      const logProbabilities = tf.logSoftmax(logits);
      crossEntropy = tf.neg(tf.sum(tf.mul(logProbabilities, tf.cast(oneHot, 'float32'))));
    }
  } else if (kind === 'regression') {
    const error = tf.sub(output, labelsOf(dataset, start, end));
    squared = tf.sum(tf.square(error));
    absolute = tf.sum(tf.abs(error));
  }
  return tf.stack([outputChange, correct, crossEntropy, squared, absolute]) as tf.Tensor1D;
}

function toMetrics(sums: Float64Array, kind: TaskKind, runtime: Runtime, dataset: Dataset, compared: boolean): Metrics {
  const samples = dataset.samples;
  const values = samples * runtime.outputSize;
  const metrics: Metrics = {};
  if (compared) metrics.output_mse = sums[0] / samples;
  if (kind === 'classification') {
    metrics.accuracy = sums[1] / samples;
    metrics.cross_entropy = sums[2] / samples;
  }
  if (kind === 'regression') {
    metrics.mse = sums[3] / values;
    metrics.mae = sums[4] / values;
  }
  return metrics;
}

function checkClassLabels(runtime: Runtime, dataset: Dataset): void {
  const classes = runtime.outputSize === 1 ? 2 : runtime.outputSize;
  const labels = dataset.labels as Float32Array;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new DataError(
        dataset.source,
        `sample ${i} has label ${label}, but the model has ${classes} classes (0 to ${classes - 1}); check the label column.`,
      );
    }
  }
}

function checkTargetWidth(runtime: Runtime, dataset: Dataset): void {
  if (dataset.labelWidth !== runtime.outputSize) {
    throw new DataError(
      dataset.source,
      `has ${dataset.labelWidth} target value(s) per sample, but the model has ${runtime.outputSize} output(s); check the label column.`,
    );
  }
}
