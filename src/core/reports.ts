/**
 * Requests and reports of the core's jobs. The CLI prints these as JSON and the extension's
 * worker sends them to the host, so they hold plain data only.
 */
import type { DataOptions } from './data/types';
import type { ActivationName } from './model';

/** Scoring criteria; `auto` picks the best of several by validation (prune only). */
export type MethodName = 'ecp' | 'obd' | 'taylor' | 'wanda' | 'magnitude' | 'random';

export const methodNames: readonly MethodName[] = ['ecp', 'obd', 'taylor', 'wanda', 'magnitude', 'random'];

/** The output the sensitivities are measured on. */
export type ReferenceOutput = 'logits' | 'output';

/** Options of model loading that every job shares. */
export interface ModelRequest {
  model: string;
  /** Activation for formats without a stored architecture. */
  activation?: ActivationName;
  /** Sidecar architecture file. */
  architecture?: string;
  /** Largest model to load, in bytes (default 2048 MiB; see `OpenOptions.maxBytes`). */
  maxBytes?: number;
}

/** Data for a job: calibration data, and optionally separate evaluation data. */
export interface DataRequest {
  data: DataOptions;
  /** Evaluation rows of the same file. */
  evalRows?: [number, number];
  /** A separate evaluation file with its own options. */
  evalData?: DataOptions;
}

/** Options of scoring. */
export interface ScoreSettings {
  method: MethodName;
  reference: ReferenceOutput;
  /** Seed of `random` scores and of random probe vectors. */
  seed: number;
  /** Samples per batch of streamed statistics. */
  batchSize: number;
}

/** Options of pruning. */
export interface PruneSettings extends ScoreSettings {
  sparsity: number;
  steps: number;
  scope: 'global' | 'layer';
  maxLayerSparsity: number;
  /** The policy for a dense layer without a bias: add a zero bias, or prune it uncompensated. */
  missingBias: 'add' | 'skip';
  /** Per-layer targets by layer name (scope `layer`); layers not named use `sparsity`. */
  layerSparsity?: Record<string, number>;
}

/** A pruning method: a scoring criterion, or `auto` to choose one on held-out calibration rows. */
export type PruneMethod = MethodName | 'auto';

/** Options of the automatic choice. */
export interface AutoSettings {
  /** Share of the calibration rows held out for validation (default 0.2). */
  validationFraction: number;
  /** Candidate names, comma-separated (`ecp`, `ecp-1`, `obd`, `wanda`, `magnitude`, optionally `/global` or `/layer`). */
  candidates?: string;
}

/** Settings of the prune job: like PruneSettings, but the method may be `auto`. */
export interface PruneJobSettings extends Omit<PruneSettings, 'method'> {
  method: PruneMethod;
  auto?: AutoSettings;
}

/** One candidate of the automatic choice with its validation metrics. */
export interface AutoCandidateReport {
  name: string;
  method: MethodName;
  steps: number;
  scope: 'global' | 'layer';
  metrics: Metrics;
  seconds: number;
}

/** The candidates the automatic choice tried, and its pick. */
export interface AutoReport {
  winner: string;
  reason: string;
  fitSamples: number;
  validationSamples: number;
  candidates: AutoCandidateReport[];
  seconds: number;
}

/** Task metrics; whichever apply. */
export interface Metrics {
  output_mse?: number;
  accuracy?: number;
  cross_entropy?: number;
  mse?: number;
  mae?: number;
}

/** One layer of `inspect --json`. */
export interface InspectLayer {
  name: string;
  type: string;
  units?: number;
  inputs?: number;
  activation?: string;
  bias?: boolean;
  params: number;
  zeros?: number;
  note?: string;
}

/** `inspect --json`. */
export interface InspectReport {
  format: string;
  path: string;
  params: number;
  /** Number of dense weights that can be pruned. */
  prunable: number;
  /** Fraction of dense weights that are exactly zero. */
  sparsity: number;
  inputShape: number[];
  /** Whether every layer runs in PruneLens, so data-based criteria are available. */
  runnable: boolean;
  layers: InspectLayer[];
  notes: string[];
}

/** One layer of `score --out`. */
export interface ScoreLayer {
  name: string;
  shape: [number, number];
  importance: number[];
  compensation?: number[];
}

/** `score --out`. */
export interface ScoreReport {
  method: MethodName;
  samples: number;
  reference?: ReferenceOutput;
  backend: string;
  seconds: number;
  notes: string[];
  layers: ScoreLayer[];
}

/** `evaluate --json`. */
export interface EvaluateReport {
  samples: number;
  metrics: Metrics;
  task: 'classification' | 'regression' | 'unlabelled';
  notes: string[];
}

/** `prune --json`. */
export interface PruneReport {
  output: string;
  files: string[];
  method: PruneMethod;
  /** The method, steps and scope that ran; differs from `method` when it is `auto`. */
  chosen: { method: MethodName; steps: number; scope: 'global' | 'layer' };
  /** The automatic choice, when `method` is `auto`. */
  auto?: AutoReport;
  steps: number;
  scope: 'global' | 'layer';
  sparsity: number;
  layers: { name: string; sparsity: number; pruned: number; count: number }[];
  before: { metrics: Metrics };
  after: { metrics: Metrics };
  evaluation: { samples: number; source: string };
  calibration: { samples: number; source: string };
  backend: string;
  seconds: number;
  notes: string[];
}

/** `sensitivity --json`: per layer, the metric at each of that layer's sparsities alone. */
export interface SensitivityReport {
  method: MethodName;
  metric: keyof Metrics;
  sparsities: number[];
  layers: { name: string; values: Metrics[] }[];
  backend: string;
  seconds: number;
}

/** `compare --json`: metrics after each method at each sparsity. */
export interface CompareReport {
  sparsities: number[];
  metric: keyof Metrics;
  original: Metrics;
  methods: { name: string; method: MethodName; steps: number; results: Metrics[] }[];
  /** The automatic choice at each sparsity, with the winner's metrics on the evaluation data. */
  auto?: { sparsity: number; winner: string; metrics: Metrics; choice: AutoReport }[];
  backend: string;
  seconds: number;
}
