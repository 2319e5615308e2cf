/**
 * Importance scores of every dense weight, from the streamed statistics:
 *
 * - `ecp`:  `I = w² (E[s a²] − E[s a]² / E[s])`, compensation `C = E[s a] / E[s]`;
 * - `obd`:  `w² E[s a²]`;
 * - `wanda`: `|w| ‖a‖₂` over the calibration samples;
 * - `taylor`: `|w · ∂L/∂w|` with the gradient of the loss summed over the samples;
 * - `magnitude`: `|w|`; `random`: seeded uniform numbers.
 *
 * Expectations are means over the calibration samples.
 */
import type { DenseLayer } from '../model';
import type { MethodName } from '../reports';
import { mulberry32, type LayerStatistics, type NetworkStatistics, type StatisticsNeeds } from './statistics';

/** Scores of one dense layer, `[units, inputs]` row-major. */
export interface LayerScores {
  name: string;
  units: number;
  inputs: number;
  importance: Float32Array;
  /** `C_ij` (ECP only): the bias of unit `i` moves by `w_ij C_ij` when `w_ij` is removed. */
  compensation: Float32Array | null;
}

/** Returns which statistics a method needs; none for the data-free methods. */
export function statisticsNeeds(method: MethodName): StatisticsNeeds | null {
  switch (method) {
    case 'ecp':
    case 'obd':
      return { sensitivity: true, inputNorms: false, lossGradient: false };
    case 'wanda':
      return { sensitivity: false, inputNorms: true, lossGradient: false };
    case 'taylor':
      return { sensitivity: false, inputNorms: false, lossGradient: true };
    case 'magnitude':
    case 'random':
      return null;
  }
}

/**
 * Computes the scores of every dense layer. `statistics` is required for data-based methods.
 * With `release`, each layer's sums are dropped once its scores exist, which bounds the peak
 * memory of large models to the sums plus one layer's scores.
 */
export function computeScores(
  method: MethodName,
  layers: readonly DenseLayer[],
  statistics: NetworkStatistics | null,
  seed: number,
  release = false,
): LayerScores[] {
  return layers.map((layer, index) => {
    const scores = layerScores(method, layer, index, statistics, seed);
    const stats = statistics?.layers[index];
    if (release && stats) {
      stats.m1 = new Float64Array(0);
      stats.m2 = new Float64Array(0);
      stats.lossGradient = new Float64Array(0);
    }
    return scores;
  });
}

function layerScores(
  method: MethodName,
  layer: DenseLayer,
  index: number,
  statistics: NetworkStatistics | null,
  seed: number,
): LayerScores {
  const stats = statistics?.layers[index];
  const samples = statistics?.samples ?? 0;
  const base = { name: layer.name, units: layer.units, inputs: layer.inputs, compensation: null };
  switch (method) {
    case 'magnitude':
      return { ...base, importance: magnitudes(layer.kernel) };
    case 'random':
      return { ...base, importance: randomScores(layer.kernel.length, seed + index) };
    case 'ecp':
      return { ...base, ...ecpScores(layer, requireStats(stats), samples) };
    case 'obd':
      return { ...base, importance: obdScores(layer, requireStats(stats), samples) };
    case 'wanda':
      return { ...base, importance: wandaScores(layer, requireStats(stats), samples) };
    case 'taylor':
      return { ...base, importance: taylorScores(layer, requireStats(stats)) };
  }
}

function requireStats(stats: LayerStatistics | undefined): LayerStatistics {
  if (!stats) throw new Error('internal: data-based scores need statistics');
  return stats;
}

function randomScores(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const scores = new Float32Array(count);
  for (let i = 0; i < count; i++) scores[i] = random();
  return scores;
}

/** Returns `|w|` of each weight (a loop, several times faster than `map(Math.abs)`). */
function magnitudes(kernel: Float32Array): Float32Array {
  const scores = new Float32Array(kernel.length);
  for (let k = 0; k < kernel.length; k++) scores[k] = Math.abs(kernel[k]);
  return scores;
}

/** ECP importance and compensation; see the module comment. */
function ecpScores(
  layer: DenseLayer,
  stats: LayerStatistics,
  samples: number,
): { importance: Float32Array; compensation: Float32Array } {
  const { units, inputs } = layer;
  const importance = new Float32Array(units * inputs);
  const compensation = new Float32Array(units * inputs);
  for (let i = 0; i < units; i++) {
    const m0 = stats.m0[i];
    for (let j = 0; j < inputs; j++) {
      const k = i * inputs + j;
      const w = layer.kernel[k];
      if (m0 > 0) {
        // Shifted moments: Σ s a'² − (Σ s a')² / Σ s is the same for any shift of a.
        const spread = Math.max(0, stats.m2[k] - (stats.m1[k] * stats.m1[k]) / m0);
        importance[k] = (w * w * spread) / samples;
        compensation[k] = stats.m1[k] / m0 + stats.shift[j];
      }
    }
  }
  const refined = stats.refined;
  if (refined) {
    refined.index.forEach((k, p) => {
      importance[k] = (layer.kernel[k] * layer.kernel[k] * refined.spread[p]) / samples;
      compensation[k] = refined.mean[p];
    });
  }
  return { importance, compensation };
}

/** `w² E[s a²]`, undoing the shift: `Σ s a² = Σ s a'² + 2c Σ s a' + c² Σ s`. */
function obdScores(layer: DenseLayer, stats: LayerStatistics, samples: number): Float32Array {
  const { units, inputs } = layer;
  const importance = new Float32Array(units * inputs);
  for (let i = 0; i < units; i++) {
    for (let j = 0; j < inputs; j++) {
      const k = i * inputs + j;
      const c = stats.shift[j];
      const second = stats.m2[k] + 2 * c * stats.m1[k] + c * c * stats.m0[i];
      importance[k] = (layer.kernel[k] * layer.kernel[k] * Math.max(0, second)) / samples;
    }
  }
  return importance;
}

/** `|w| ‖a_j‖₂`, with `Σ a² = Σ a'² + 2c Σ a' + N c²`. */
function wandaScores(layer: DenseLayer, stats: LayerStatistics, samples: number): Float32Array {
  const { units, inputs } = layer;
  const norms = new Float64Array(inputs);
  for (let j = 0; j < inputs; j++) {
    const c = stats.shift[j];
    const squares = stats.inputSquareSum[j] + 2 * c * stats.inputSum[j] + samples * c * c;
    norms[j] = Math.sqrt(Math.max(0, squares));
  }
  const importance = new Float32Array(units * inputs);
  for (let k = 0; k < importance.length; k++) {
    importance[k] = Math.abs(layer.kernel[k]) * norms[k % inputs];
  }
  return importance;
}

function taylorScores(layer: DenseLayer, stats: LayerStatistics): Float32Array {
  const importance = new Float32Array(layer.kernel.length);
  for (let k = 0; k < importance.length; k++) {
    importance[k] = Math.abs(layer.kernel[k] * stats.lossGradient[k]);
  }
  return importance;
}
