/**
 * Scoring and pruning of whole networks: one-shot or in `T` steps with the schedule
 * `p_t = 1 − (1 − p)^{t/T}`, recomputing the statistics on the pruned network at each step.
 * Removed weights stay removed; for ECP each removed weight shifts its unit's bias by
 * `w_ij C_ij` (the shifts are independent and add).
 */
import type { Dataset } from '../data/types';
import { UsageError } from '../errors';
import { cloneNetwork, denseLayers, isRunnable, type DenseLayer, type Network } from '../model';
import { checkpoint, subProgress, type TaskOptions } from '../progress';
import type { MethodName, PruneSettings, ScoreSettings } from '../reports';
import { parallelStatistics } from './parallel';
import { Runtime } from './runtime';
import { computeScores, statisticsNeeds, type LayerScores } from './scores';
import { layerCaps, selectGlobal, selectPerLayer, type SelectionLayer } from './selection';
import { collectStatistics } from './statistics';

/** Scores with the notes that explain them. */
export interface ScoreOutcome {
  layers: LayerScores[];
  notes: string[];
}

/** Scores every dense weight of `network` with the chosen method. */
export async function scoreNetwork(
  network: Network,
  dataset: Dataset | null,
  settings: ScoreSettings,
  task: TaskOptions = {},
): Promise<ScoreOutcome> {
  const needs = statisticsNeeds(settings.method);
  const dense = denseLayers(network);
  if (!needs) return { layers: computeScores(settings.method, dense, null, settings.seed), notes: [] };
  checkDataFor(settings.method, network, dataset);
  const runtime = new Runtime(network);
  try {
    const statistics = await collectStatistics(runtime, dataset as Dataset, needs, {
      reference: settings.reference,
      batchSize: settings.batchSize,
      seed: settings.seed,
      signal: task.signal,
      onProgress: task.onProgress,
      parallel: parallelStatistics,
    });
    const notes: string[] = [];
    if (statistics.probes) {
      notes.push(
        `the model has ${runtime.outputSize} outputs, so ${statistics.probes.count} random ±1 probe vectors (seed ${statistics.probes.seed}) estimated the sum over outputs.`,
      );
    }
    return { layers: computeScores(settings.method, dense, statistics, settings.seed, true), notes };
  } finally {
    runtime.dispose();
  }
}

/** Throws a usage error when a data-based method cannot run on this model or data. */
export function checkDataFor(method: MethodName, network: Network, dataset: Dataset | null): void {
  if (!statisticsNeeds(method)) return;
  if (!isRunnable(network)) {
    const opaque = network.layers.filter((layer) => layer.kind === 'opaque').map((layer) => layer.name);
    throw new UsageError(
      `method '${method}' needs to run the model, but PruneLens cannot run layer(s) ${opaque.join(', ')}; use --method magnitude or random.`,
    );
  }
  if (!dataset) throw new UsageError(`method '${method}' needs calibration data; pass it with --data FILE.`);
  if (method === 'taylor' && !dataset.labels) {
    throw new UsageError(`method 'taylor' needs labels; choose the label column with --label-column or pass --labels FILE.`);
  }
}

/** Per-layer result of pruning. */
export interface LayerOutcome {
  name: string;
  sparsity: number;
  pruned: number;
  count: number;
}

/** A pruned copy of the network and what happened. */
export interface PruneOutcome {
  network: Network;
  layers: LayerOutcome[];
  notes: string[];
  /** Scores of the last step, on the network before that step's removals. */
  scores: LayerScores[];
}

/** Callbacks from the format about what it can store. */
export interface PruneHooks {
  canAddBias(layerName: string): boolean;
}

/**
 * Prunes a copy of `network` to the target sparsity; the input is not changed. `initialScores`,
 * when given, are the scores of `network` itself and replace the first step's scoring.
 */
export async function pruneNetwork(
  network: Network,
  dataset: Dataset | null,
  settings: PruneSettings,
  hooks: PruneHooks,
  task: TaskOptions = {},
  initialScores?: LayerScores[],
): Promise<PruneOutcome> {
  checkSparsity(settings.sparsity, 'sparsity');
  checkDataFor(settings.method, network, dataset);
  const pruned = cloneNetwork(network);
  const dense = denseLayers(pruned);
  const notes = prepareBiases(dense, settings, hooks);
  const selection: SelectionLayer[] = dense.map((layer) => ({
    importance: new Float32Array(0),
    removed: zeroMask(layer.kernel),
  }));
  const caps = layerCaps(selection, settings.maxLayerSparsity);
  const steps = statisticsNeeds(settings.method) ? Math.max(1, Math.round(settings.steps)) : 1;
  let scores: LayerScores[] = [];
  for (let step = 1; step <= steps; step++) {
    await checkpoint(task.signal);
    const progress = subProgress(task.onProgress, (step - 1) / steps, step / steps);
    const outcome =
      step === 1 && initialScores
        ? { layers: initialScores, notes: [] }
        : await scoreNetwork(pruned, dataset, settings, { signal: task.signal, onProgress: progress });
    scores = outcome.layers;
    if (step === 1) notes.push(...outcome.notes);
    selection.forEach((layer, index) => (layer.importance = scores[index].importance));
    const fraction = step === steps ? 1 : step / steps;
    await checkpoint(task.signal);
    const added = await selectStep(selection, caps, settings, dense, fraction);
    await checkpoint(task.signal);
    removeWeights(dense, added, settings.method === 'ecp' ? scores : null);
  }
  const layers = summarize(dense);
  return { network: pruned, layers, notes: notes.concat(capNotes(layers, settings)), scores };
}

/** Returns 1 where a kernel weight is exactly zero (a loop, which `Uint8Array.from` is not). */
function zeroMask(kernel: Float32Array): Uint8Array {
  const mask = new Uint8Array(kernel.length);
  for (let k = 0; k < kernel.length; k++) if (kernel[k] === 0) mask[k] = 1;
  return mask;
}

/** Target of step `fraction` of the schedule: `1 − (1 − p)^fraction`. */
export function scheduledSparsity(target: number, fraction: number): number {
  return fraction >= 1 ? target : 1 - Math.pow(1 - target, fraction);
}

function selectStep(
  selection: SelectionLayer[],
  caps: number[],
  settings: PruneSettings,
  dense: DenseLayer[],
  fraction: number,
): Promise<Uint32Array[]> {
  if (settings.scope === 'layer') {
    const targets = dense.map((layer, index) => {
      const goal = settings.layerSparsity?.[layer.name] ?? settings.sparsity;
      const count = Math.round(scheduledSparsity(goal, fraction) * layer.kernel.length);
      return Math.min(count, caps[index]);
    });
    return selectPerLayer(selection, targets);
  }
  const total = dense.reduce((sum, layer) => sum + layer.kernel.length, 0);
  const target = Math.round(scheduledSparsity(settings.sparsity, fraction) * total);
  return selectGlobal(selection, target, caps);
}

/** Zeroes the chosen weights and, with compensations, shifts each bias once by the sum. */
function removeWeights(dense: DenseLayer[], added: Uint32Array[], scores: LayerScores[] | null): void {
  dense.forEach((layer, index) => {
    const compensation = scores?.[index].compensation;
    for (const k of added[index]) {
      if (compensation && layer.bias) {
        const unit = Math.floor(k / layer.inputs);
        layer.bias[unit] += layer.kernel[k] * compensation[k];
      }
      layer.kernel[k] = 0;
    }
  });
}

/** Adds zero biases where the policy and the format allow, and returns notes for the other layers. */
function prepareBiases(dense: DenseLayer[], settings: PruneSettings, hooks: PruneHooks): string[] {
  if (settings.method !== 'ecp') return [];
  const notes: string[] = [];
  for (const layer of dense) {
    if (layer.bias) continue;
    if (settings.missingBias === 'add' && hooks.canAddBias(layer.name)) {
      layer.bias = new Float32Array(layer.units);
      notes.push(`layer '${layer.name}' had no bias; a zero bias was added to hold the compensation.`);
    } else {
      const why = settings.missingBias === 'add' ? 'the format cannot store a new bias' : '--missing-bias skip';
      notes.push(`layer '${layer.name}' has no bias, so it was pruned without compensation (${why}).`);
    }
  }
  return notes;
}

function summarize(dense: DenseLayer[]): LayerOutcome[] {
  return dense.map((layer) => {
    const kernel = layer.kernel;
    let zeros = 0;
    for (let k = 0; k < kernel.length; k++) if (kernel[k] === 0) zeros++;
    return { name: layer.name, sparsity: zeros / kernel.length, pruned: zeros, count: kernel.length };
  });
}

function capNotes(summary: LayerOutcome[], settings: PruneSettings): string[] {
  const total = summary.reduce((sum, layer) => sum + layer.count, 0);
  const zeros = summary.reduce((sum, layer) => sum + layer.pruned, 0);
  if (settings.scope === 'global' && zeros < Math.round(settings.sparsity * total)) {
    return [
      `the per-layer cap of ${settings.maxLayerSparsity} allowed only ${(zeros / total).toFixed(4)} sparsity; raise --max-layer-sparsity to go further.`,
    ];
  }
  return [];
}

/** Throws a usage error unless `value` is a fraction in [0, 1]. */
export function checkSparsity(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new UsageError(`${name} must be between 0 and 1 (for example 0.9), got ${value}.`);
  }
}
