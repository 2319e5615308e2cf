/** Checks that a model's weights are finite before any computation uses them. */
import { ModelFormatError } from './errors';
import type { LoadedModel } from './formats/types';
import type { Layer } from './model';

/** Float arrays of a layer that feed the forward pass. */
function weightArrays(layer: Layer): [string, Float32Array][] {
  switch (layer.kind) {
    case 'dense':
      return layer.bias ? [['kernel', layer.kernel], ['bias', layer.bias]] : [['kernel', layer.kernel]];
    case 'batchnorm': {
      const arrays: [string, Float32Array | null][] = [
        ['gamma', layer.gamma],
        ['beta', layer.beta],
        ['moving mean', layer.movingMean],
        ['moving variance', layer.movingVariance],
      ];
      return arrays.filter((entry): entry is [string, Float32Array] => entry[1] !== null);
    }
    default:
      return [];
  }
}

/**
 * Throws a one-line ModelFormatError naming the first layer whose weights contain NaN or
 * infinity. Scores, pruning and metrics computed from such weights would be NaN or silently
 * wrong, so the jobs that compute call this. Loading and inspecting such a model still work.
 */
export function checkFiniteWeights(loaded: LoadedModel): void {
  for (const layer of loaded.network.layers) {
    for (const [role, values] of weightArrays(layer)) {
      let count = 0;
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) count++;
      if (count > 0) {
        throw new ModelFormatError(
          loaded.path,
          `layer ${layer.name} has ${count} NaN or infinite ${role} values; ` +
            'fix the model (for example retrain with a lower learning rate) and export it again.',
        );
      }
    }
  }
}
