/**
 * Per-sample validation losses, and the paired test the automatic choice uses to decide whether
 * a candidate is clearly better than magnitude pruning on the same rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TaskKind } from './compute/evaluate';
import { Runtime } from './compute/runtime';
import { batchOf, labelsOf } from './compute/statistics';
import type { Dataset } from './data/types';
import type { Network } from './model';

/** Each validation sample's loss, and whether a classifier got it right. */
export interface SampleLosses {
  /** Cross-entropy (classification), squared error (regression) or squared output change. */
  loss: Float64Array;
  /** 1 where the predicted class is the label (classification only). */
  correct: Uint8Array | null;
}

const probabilityEpsilon = 1e-7;

/** Computes the per-sample losses of `network` on `dataset`. */
export function sampleLosses(network: Network, original: Network, dataset: Dataset, kind: TaskKind): SampleLosses {
  const runtime = new Runtime(network);
  const reference = kind === 'unlabelled' ? new Runtime(original) : null;
  try {
    const tensors = tf.tidy(() => {
      const x = batchOf(dataset, 0, dataset.samples);
      const logits = runtime.logits(x);
      if (kind === 'classification') return classificationLosses(runtime, logits, dataset);
      const output = runtime.applyHead(logits);
      const target = kind === 'regression' ? labelsOf(dataset, 0, dataset.samples) : (reference as Runtime).predict(x);
      return { loss: tf.sum(tf.square(tf.sub(output, target)), 1) };
    });
    const result = {
      loss: Float64Array.from(tensors.loss.dataSync()),
      correct: tensors.correct ? Uint8Array.from(tensors.correct.dataSync()) : null,
    };
    tf.dispose([tensors.loss, ...(tensors.correct ? [tensors.correct] : [])]);
    return result;
  } finally {
    runtime.dispose();
    reference?.dispose();
  }
}

function classificationLosses(
  runtime: Runtime,
  logits: tf.Tensor2D,
  dataset: Dataset,
): { loss: tf.Tensor; correct?: tf.Tensor } {
  const labels = tf.cast(tf.reshape(labelsOf(dataset, 0, dataset.samples), [-1]), 'int32');
  if (runtime.outputSize === 1) {
    const p = tf.clipByValue(tf.reshape(runtime.applyHead(logits), [-1]), probabilityEpsilon, 1 - probabilityEpsilon);
    const y = tf.cast(labels, 'float32');
    const loss = tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))));
    return { loss, correct: tf.equal(tf.cast(tf.greater(p, 0.5), 'int32'), labels) };
  }
  const logProbabilities = tf.logSoftmax(logits);
  const loss = tf.neg(tf.sum(tf.mul(logProbabilities, tf.cast(tf.oneHot(labels, runtime.outputSize), 'float32')), 1));
  return { loss, correct: tf.equal(tf.argMax(logits, 1), labels) };
}

/** The outcome of comparing a candidate with magnitude pruning on the same validation rows. */
export interface PairedVerdict {
  better: boolean;
  /** One sentence with the numbers behind the verdict. */
  because: string;
}

/**
 * Standard deviations a candidate must beat magnitude by. At one, an untrained corpus model
 * (chance accuracy) let a candidate through that was 0.6 points worse on held-out rows.
 */
const requiredDeviations = 2;

/**
 * Returns whether `candidate` beats `baseline` by more than the noise of the validation rows.
 * Classifiers must get significantly more samples right (wins minus losses of the paired
 * comparison at least 2 and above two standard deviations, `2 sqrt(wins + losses)`), because a
 * lower cross-entropy alone did not carry over to held-out rows in the corpus. Regressors and
 * unlabelled models must lower the mean loss by more than two standard errors of the paired
 * differences and by more than 2%.
 */
export function pairedVerdict(candidate: SampleLosses, baseline: SampleLosses): PairedVerdict {
  if (candidate.correct && baseline.correct) {
    let wins = 0;
    let losses = 0;
    for (let n = 0; n < candidate.correct.length; n++) {
      if (candidate.correct[n] && !baseline.correct[n]) wins++;
      if (!candidate.correct[n] && baseline.correct[n]) losses++;
    }
    const margin = wins - losses;
    const better = margin >= 2 && margin > requiredDeviations * Math.sqrt(wins + losses);
    return { better, because: `it classified ${wins} validation rows right that magnitude got wrong and ${losses} the other way` };
  }
  const count = candidate.loss.length;
  let sum = 0;
  let sumSquares = 0;
  let baselineSum = 0;
  for (let n = 0; n < count; n++) {
    const difference = baseline.loss[n] - candidate.loss[n];
    sum += difference;
    sumSquares += difference * difference;
    baselineSum += baseline.loss[n];
  }
  const mean = sum / count;
  const variance = Math.max(0, sumSquares / count - mean * mean);
  const standardError = Math.sqrt(variance / Math.max(1, count - 1));
  const better = mean > requiredDeviations * standardError && mean > 0.02 * (baselineSum / count);
  return {
    better,
    because: `it lowered the mean validation loss by ${mean.toPrecision(3)} (standard error ${standardError.toPrecision(3)}) from magnitude's ${(baselineSum / count).toPrecision(3)}`,
  };
}
