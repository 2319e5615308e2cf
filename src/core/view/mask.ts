/**
 * Applies per-layer sparsities from stored one-shot scores, for the panel's measured metrics.
 * This is a preview: it prunes once from the scores already computed, where the prune command
 * may also take several steps and recompute the scores between them.
 */
import { cloneNetwork, denseLayers, type Network } from '../model';

/** Scores of one dense layer, `[units, inputs]` row-major like its kernel. */
export interface LayerScoreArrays {
  name: string;
  importance: Float32Array;
  /** `C_ij` of elimination-compensation, or null for criteria without compensation. */
  compensation: Float32Array | null;
}

/**
 * Returns the indices of the `count` smallest scores, ties broken by position, given the scores
 * sorted ascending. Runs in one pass over the scores.
 */
export function smallestIndices(scores: Float32Array, sorted: Float32Array, count: number): Uint32Array {
  const chosen = new Uint32Array(Math.min(count, scores.length));
  if (chosen.length === 0) return chosen;
  const threshold = sorted[chosen.length - 1];
  let below = 0;
  for (let i = 0; i < chosen.length; i++) if (sorted[i] < threshold) below++;
  let ties = chosen.length - below;
  let n = 0;
  for (let i = 0; i < scores.length && n < chosen.length; i++) {
    if (scores[i] < threshold) chosen[n++] = i;
    else if (scores[i] === threshold && ties > 0) {
      chosen[n++] = i;
      ties--;
    }
  }
  return chosen;
}

/**
 * Prunes a copy of the network: in each dense layer named in `sparsities`, removes
 * `round(p · count)` weights with the smallest scores and, where the layer has a bias and the
 * scores carry compensation, adds `Σ w_ij C_ij` over the removed weights to `b_i`.
 */
export function applySparsities(
  network: Network,
  scores: readonly LayerScoreArrays[],
  sorted: ReadonlyMap<string, Float32Array>,
  sparsities: Readonly<Record<string, number>>,
): Network {
  const pruned = cloneNetwork(network);
  const byName = new Map(scores.map((layer) => [layer.name, layer]));
  for (const layer of denseLayers(pruned)) {
    const fraction = sparsities[layer.name];
    const layerScores = byName.get(layer.name);
    const sortedScores = sorted.get(layer.name);
    if (fraction === undefined || !layerScores || !sortedScores) continue;
    const count = Math.round(Math.min(1, Math.max(0, fraction)) * layer.kernel.length);
    const { compensation } = layerScores;
    for (const index of smallestIndices(layerScores.importance, sortedScores, count)) {
      const weight = layer.kernel[index];
      if (layer.bias && compensation) layer.bias[Math.floor(index / layer.inputs)] += weight * compensation[index];
      layer.kernel[index] = 0;
    }
  }
  return pruned;
}
