/**
 * Automatic method choice: prune with each candidate on part of the calibration rows, evaluate
 * on the rest, and keep the best by the task metric. No criterion wins everywhere: on a small
 * tabular classifier magnitude pruning can beat elimination-compensation, and on a small
 * regressor one-shot ECP can beat iterative ECP.
 */
import { evaluateNetwork, type Evaluation } from './compute/evaluate';
import { pruneNetwork, type PruneHooks } from './compute/prune';
import { mulberry32 } from './compute/statistics';
import { pairedVerdict, sampleLosses, type SampleLosses } from './paired';
import type { Dataset } from './data/types';
import { UsageError } from './errors';
import type { Network } from './model';
import { subProgress, type TaskOptions } from './progress';
import { methodNames, type Metrics, type MethodName, type PruneSettings } from './reports';

/** One way of pruning that the choice tries. */
export interface Candidate {
  /** `method/scope`, with `ecp-1` for one-shot ECP: `ecp/global`, `ecp-1/layer`, ... */
  name: string;
  method: MethodName;
  steps: number;
  scope: 'global' | 'layer';
}

/** A candidate's validation result. */
export interface CandidateResult extends Candidate {
  metrics: Metrics;
  seconds: number;
}

/** The outcome of the choice, as reports show it. */
export interface AutoChoice {
  winner: string;
  reason: string;
  fitSamples: number;
  validationSamples: number;
  candidates: CandidateResult[];
  seconds: number;
}

/** Options of the choice. */
export interface AutoOptions {
  /** Share of the calibration rows held out for validation. */
  validationFraction: number;
  seed: number;
  candidates: Candidate[];
}

const candidateMethods: { label: string; method: MethodName; oneShot: boolean }[] = [
  { label: 'magnitude', method: 'magnitude', oneShot: true },
  { label: 'wanda', method: 'wanda', oneShot: true },
  { label: 'obd', method: 'obd', oneShot: false },
  { label: 'ecp-1', method: 'ecp', oneShot: true },
  { label: 'ecp', method: 'ecp', oneShot: false },
];

/**
 * Returns the default candidates: magnitude, Wanda, OBD, one-shot and iterative ECP, each
 * with global and per-layer scope. Magnitude comes first so that it wins ties.
 */
export function defaultCandidates(steps: number): Candidate[] {
  return candidateMethods.flatMap(({ label, method, oneShot }) =>
    (['global', 'layer'] as const).map((scope) => ({
      name: `${label}/${scope}`,
      method,
      steps: oneShot ? 1 : steps,
      scope,
    })),
  );
}

/** Parses `--candidates`: names like `ecp`, `ecp-1`, `magnitude/layer`, comma-separated. */
export function parseCandidates(text: string, steps: number): Candidate[] {
  const all = defaultCandidates(steps);
  const chosen = text.split(',').flatMap((part) => {
    const name = part.trim();
    const matches = all.filter((candidate) => candidate.name === name || candidate.name.split('/')[0] === name);
    if (matches.length === 0) {
      const valid = [...new Set(all.map((candidate) => candidate.name.split('/')[0]))].join(', ');
      throw new UsageError(`--candidates: unknown candidate '${name}'; valid names are ${valid}, each optionally with /global or /layer.`);
    }
    return matches;
  });
  return all.filter((candidate) => chosen.includes(candidate));
}

/** Splits the samples into fitting and validation rows with a seeded shuffle. */
export function splitDataset(dataset: Dataset, fraction: number, seed: number): { fit: Dataset; validation: Dataset } {
  const validationCount = Math.round(dataset.samples * fraction);
  if (fraction <= 0 || fraction >= 1 || validationCount < 1 || validationCount >= dataset.samples) {
    throw new UsageError(
      `the validation split of ${fraction} leaves no rows on one side of ${dataset.samples} calibration samples; pass --validation-fraction between 0 and 1 or more rows.`,
    );
  }
  const order = Array.from({ length: dataset.samples }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const validationRows = order.slice(0, validationCount).sort((a, b) => a - b);
  const fitRows = order.slice(validationCount).sort((a, b) => a - b);
  return { fit: selectRows(dataset, fitRows, 'fitting'), validation: selectRows(dataset, validationRows, 'validation') };
}

function selectRows(dataset: Dataset, rows: number[], role: string): Dataset {
  const width = dataset.featureCount;
  const features = new Float32Array(rows.length * width);
  const labels = dataset.labels ? new Float32Array(rows.length * dataset.labelWidth) : null;
  rows.forEach((row, index) => {
    features.set(dataset.features.subarray(row * width, (row + 1) * width), index * width);
    if (labels && dataset.labels) {
      const labelWidth = dataset.labelWidth;
      labels.set(dataset.labels.subarray(row * labelWidth, (row + 1) * labelWidth), index * labelWidth);
    }
  });
  return { ...dataset, samples: rows.length, features, labels, description: `${rows.length} ${role} rows of ${dataset.description}` };
}

/** Returns a negative number when `a` is better than `b` for the task. */
export function compareMetrics(a: Metrics, b: Metrics, task: Evaluation['task']): number {
  if (task === 'classification') {
    const byLoss = (a.cross_entropy ?? Infinity) - (b.cross_entropy ?? Infinity);
    if (byLoss !== 0 && !Number.isNaN(byLoss)) return byLoss;
    return (b.accuracy ?? 0) - (a.accuracy ?? 0);
  }
  if (task === 'regression') return (a.mse ?? Infinity) - (b.mse ?? Infinity);
  return (a.output_mse ?? Infinity) - (b.output_mse ?? Infinity);
}

/** Tries every candidate on a validation split and returns the choice and the winner. */
export async function chooseMethod(
  network: Network,
  calibration: Dataset,
  settings: Omit<PruneSettings, 'method'>,
  hooks: PruneHooks,
  options: AutoOptions,
  task: TaskOptions = {},
): Promise<{ choice: AutoChoice; winner: Candidate }> {
  const started = Date.now();
  const { fit, validation } = splitDataset(calibration, options.validationFraction, options.seed);
  const candidates = options.candidates.filter((candidate) => candidate.method !== 'taylor' || Boolean(fit.labels));
  const results: CandidateResult[] = [];
  const losses = new Map<string, SampleLosses>();
  let kind: Evaluation['task'] = 'unlabelled';
  for (const [index, candidate] of candidates.entries()) {
    const candidateStarted = Date.now();
    const progress = subProgress(task.onProgress, index / candidates.length, (index + 1) / candidates.length);
    const outcome = await pruneNetwork(
      network,
      fit,
      { ...settings, method: candidate.method, steps: candidate.steps, scope: candidate.scope },
      hooks,
      { signal: task.signal, onProgress: progress },
    );
    const evaluation = await evaluateNetwork(outcome.network, network, validation, { signal: task.signal });
    kind = evaluation.task;
    losses.set(candidate.name, sampleLosses(outcome.network, network, validation, kind));
    results.push({ ...candidate, metrics: evaluation.metrics, seconds: (Date.now() - candidateStarted) / 1000 });
  }
  const { best, reason } = pickWinner(results, losses, kind, validation.samples);
  const choice: AutoChoice = {
    winner: best.name,
    reason,
    fitSamples: fit.samples,
    validationSamples: validation.samples,
    candidates: results,
    seconds: (Date.now() - started) / 1000,
  };
  const winner = candidates.find((candidate) => candidate.name === best.name) as Candidate;
  return { choice, winner };
}

const metricName: Record<Evaluation['task'], string> = {
  classification: 'cross-entropy',
  regression: 'MSE',
  unlabelled: 'output MSE against the unpruned model',
};

/**
 * Picks the candidate with the best validation metric, but keeps global magnitude pruning
 * unless the best one beats it clearly on the same rows (see pairedVerdict).
 */
function pickWinner(
  results: CandidateResult[],
  losses: Map<string, SampleLosses>,
  kind: Evaluation['task'],
  validationSamples: number,
): { best: CandidateResult; reason: string } {
  const rank = (list: CandidateResult[]) =>
    list.reduce((winner, result) => (compareMetrics(result.metrics, winner.metrics, kind) < 0 ? result : winner));
  const best = rank(results);
  const lowest = `lowest validation ${metricName[kind]} of ${results.length} candidates on ${validationSamples} held-out calibration rows`;
  // The baseline is plain magnitude pruning with one global threshold; per-layer magnitude is a
  // candidate like any other, because on an untrained corpus model it lost to the baseline.
  const magnitudes = results.filter((result) => result.method === 'magnitude');
  const baseline = results.find((result) => result.name === 'magnitude/global') ?? (magnitudes.length > 0 ? rank(magnitudes) : undefined);
  if (!baseline || best === baseline) return { best, reason: lowest };
  const verdict = pairedVerdict(losses.get(best.name) as SampleLosses, losses.get(baseline.name) as SampleLosses);
  if (verdict.better) return { best, reason: `${lowest}, and clearly better than ${baseline.name}: ${verdict.because}` };
  return {
    best: baseline,
    reason: `${best.name} had the ${lowest}, but not clearly better than ${baseline.name} on the same rows (${verdict.because}), so ${baseline.name} was kept`,
  };
}

/** Returns true when `text` names a method or `auto`. */
export function isPruneMethod(text: string): boolean {
  return text === 'auto' || (methodNames as readonly string[]).includes(text);
}
