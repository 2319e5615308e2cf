/** Parameters the host sends to the worker's job methods, and the job settings it derives. */
import type { PruneRequest } from '../core/jobs';
import type {
  DataRequest,
  MethodName,
  ModelRequest,
  PruneJobSettings,
  PruneMethod,
  ScoreSettings,
} from '../core/reports';

/** Parameters of the worker's `prune` method. */
export interface PruneJob {
  request: PruneRequest;
  settings: PruneJobSettings;
}

/** Parameters of the worker's `sensitivity` method. */
export interface SensitivityJob {
  request: ModelRequest & DataRequest;
  settings: ScoreSettings & { sparsities: number[] };
}

/** Parameters of the worker's `compare` method; the worker picks the methods that fit the data. */
export interface CompareJob {
  request: ModelRequest & DataRequest;
  sparsities: number[];
  /** Steps of the iterative ECP curve. */
  steps: number;
}

/** Sparsities of the sensitivity and comparison curves. */
export const curveSparsities = [0.5, 0.7, 0.8, 0.9, 0.95];

/** Scoring defaults of the extension; the CLI's defaults are the same. */
export function scoreSettings(method: MethodName): ScoreSettings {
  return { method, reference: 'logits', seed: 0, batchSize: 256 };
}

/** Returns a scoring method for a prune method: `auto` chooses only when pruning, so ECP scores. */
export function scoringMethod(method: PruneMethod): MethodName {
  return method === 'auto' ? 'ecp' : method;
}

/** Prune settings from the flow's choices. */
export function pruneSettings(choices: {
  method: PruneMethod;
  sparsity: number;
  steps: number;
  scope: 'global' | 'layer';
  layerSparsity?: Record<string, number>;
}): PruneJobSettings {
  return {
    ...scoreSettings('ecp'),
    method: choices.method,
    sparsity: choices.sparsity,
    steps: choices.steps,
    scope: choices.scope,
    maxLayerSparsity: 0.99,
    missingBias: 'add',
    layerSparsity: choices.layerSparsity,
  };
}
