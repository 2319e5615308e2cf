/**
 * The core's jobs as the CLI and the extension's worker run them: load the model and the data,
 * compute, write, and return a plain report.
 */
import * as path from 'node:path';
import { chooseMethod, defaultCandidates, parseCandidates, type AutoOptions } from './auto';
import { initBackend, type BackendInfo, type BackendPreference } from './compute/backend';
import { evaluateNetwork, type Evaluation } from './compute/evaluate';
import { pruneNetwork, scoreNetwork, checkSparsity } from './compute/prune';
import { loadDataset } from './data';
import type { DataOptions, Dataset } from './data/types';
import { DataError, UsageError } from './errors';
import { checkFiniteWeights } from './finite';
import { checkOutputPath } from './io';
import { openModel } from './formats';
import type { LoadedModel } from './formats/types';
import { countZeros, denseLayers, isRunnable, layerParams, shapeSize, type Layer, type Network } from './model';
import { subProgress, type TaskOptions } from './progress';
import type {
  CompareReport,
  DataRequest,
  EvaluateReport,
  InspectLayer,
  InspectReport,
  Metrics,
  MethodName,
  ModelRequest,
  PruneReport,
  PruneJobSettings,
  PruneSettings,
  AutoReport,
  AutoSettings,
  ScoreReport,
  ScoreSettings,
  SensitivityReport,
} from './reports';

/** Options of every job that computes. */
export interface JobOptions extends TaskOptions {
  backend?: BackendPreference;
}

/** Loads a model with the request's loading options. */
export function loadModel(request: ModelRequest, task: TaskOptions = {}): Promise<LoadedModel> {
  return openModel(request.model, {
    activation: request.activation,
    architecture: request.architecture,
    maxBytes: request.maxBytes,
    signal: task.signal,
  });
}

/** Loads a model for a job that computes: its weights must be finite. */
async function loadComputable(request: ModelRequest, task: TaskOptions): Promise<LoadedModel> {
  const loaded = await loadModel(request, task);
  checkFiniteWeights(loaded);
  return loaded;
}

/** `inspect`: the model's layers, parameters and sparsity. */
export async function runInspect(request: ModelRequest): Promise<InspectReport> {
  const loaded = await loadModel(request);
  return inspectModel(loaded);
}

/** Builds the inspect report of a loaded model. */
export function inspectModel(loaded: LoadedModel): InspectReport {
  const network = loaded.network;
  const dense = denseLayers(network);
  const prunable = dense.reduce((sum, layer) => sum + layer.kernel.length, 0);
  const zeros = dense.reduce((sum, layer) => sum + countZeros(layer.kernel), 0);
  return {
    format: loaded.format,
    path: loaded.path,
    params: network.layers.reduce((sum, layer) => sum + layerParams(layer), 0),
    prunable,
    sparsity: prunable > 0 ? zeros / prunable : 0,
    inputShape: network.inputShape,
    runnable: isRunnable(network),
    layers: network.layers.map(inspectLayer),
    notes: loaded.notes,
  };
}

function inspectLayer(layer: Layer): InspectLayer {
  const params = layerParams(layer);
  switch (layer.kind) {
    case 'dense':
      return {
        name: layer.name,
        type: 'Dense',
        units: layer.units,
        inputs: layer.inputs,
        activation: describeActivation(layer.activation),
        bias: layer.bias !== null,
        params,
        zeros: countZeros(layer.kernel),
      };
    case 'activation':
      return { name: layer.name, type: 'Activation', activation: describeActivation(layer.activation), params };
    case 'batchnorm':
      return { name: layer.name, type: 'BatchNormalization', params };
    case 'scale':
      return { name: layer.name, type: 'Scaler', params };
    case 'identity':
    case 'reshape':
      return { name: layer.name, type: layer.className, params };
    case 'opaque':
      return { name: layer.name, type: layer.className, params, note: layer.reason };
  }
}

function describeActivation(activation: { name: string; alpha?: number }): string {
  return activation.alpha === undefined ? activation.name : `${activation.name}(${activation.alpha})`;
}

/** Calibration data, evaluation data, and how they were chosen. */
export interface PreparedData {
  calibration: Dataset;
  evaluation: Dataset;
  notes: string[];
}

/** Loads the calibration and evaluation data and checks them against the model's input. */
export async function prepareData(network: Network, request: DataRequest, task: TaskOptions = {}): Promise<PreparedData> {
  const calibration = await loadDataset(request.data, task);
  checkFeatures(network, calibration);
  const notes: string[] = [];
  let evaluation = calibration;
  if (request.evalData) {
    evaluation = await loadDataset(request.evalData, task);
  } else if (request.evalRows) {
    evaluation = await loadDataset({ ...request.data, rows: request.evalRows }, task);
  } else {
    notes.push('evaluation uses the calibration samples; pass --eval-rows or --eval-data to evaluate on other samples.');
  }
  checkFeatures(network, evaluation);
  notes.push(...dataWarnings(request, calibration, evaluation));
  return { calibration, evaluation, notes };
}

/** Notes on data choices that make the metrics misleading. */
function dataWarnings(request: DataRequest, calibration: Dataset, evaluation: Dataset): string[] {
  const notes: string[] = [];
  if (!evaluation.labels) {
    notes.push(`${evaluation.source} has no labels, so only the output change is measured; choose the label column with --label-column or pass --labels (--eval-labels for --eval-data).`);
  }
  const rows = request.data.rows;
  const evalRows = request.evalRows;
  if (rows && evalRows && !request.evalData && rows[0] < evalRows[1] && evalRows[0] < rows[1]) {
    notes.push(`--rows ${rows[0]}:${rows[1]} and --eval-rows ${evalRows[0]}:${evalRows[1]} overlap, so part of the evaluation is on calibration samples.`);
  }
  const calibrationClasses = classesOf(calibration);
  const evaluationClasses = classesOf(evaluation);
  if (evaluation !== calibration && calibrationClasses.size > 1 && evaluationClasses.size < calibrationClasses.size) {
    notes.push(`the evaluation rows contain only ${evaluationClasses.size} of the ${calibrationClasses.size} classes in the calibration rows; if the file is sorted by class, pass --shuffle SEED.`);
  }
  return notes;
}

function classesOf(dataset: Dataset): Set<number> {
  if (dataset.labelKind !== 'class' || !dataset.labels || dataset.labelWidth !== 1) return new Set();
  return new Set(dataset.labels);
}

/** Throws a usage error naming the layers PruneLens cannot run, for jobs that must run the model. */
function requireRunnable(loaded: LoadedModel, job: string): void {
  const opaque = loaded.network.layers.filter((layer) => layer.kind === 'opaque');
  if (opaque.length === 0) return;
  const names = opaque.map((layer) => `'${layer.name}' (${(layer as { className: string }).className})`).join(', ');
  throw new UsageError(
    `${loaded.path}: ${job} needs to run the model, but PruneLens cannot run layer(s) ${names}; only data-free pruning (prune --method magnitude or random) is available.`,
  );
}

/** Throws a usage error when --layer-sparsity names a layer the model does not have. */
function checkLayerNames(loaded: LoadedModel, settings: { layerSparsity?: Record<string, number> }): void {
  const names = denseLayers(loaded.network).map((layer) => layer.name);
  for (const name of Object.keys(settings.layerSparsity ?? {})) {
    if (!names.includes(name)) {
      throw new UsageError(`--layer-sparsity names '${name}', which is not a dense layer of ${loaded.path}; dense layers are ${names.join(', ')}.`);
    }
  }
}

function checkFeatures(network: Network, dataset: Dataset): void {
  const expected = shapeSize(network.inputShape);
  if (dataset.featureCount !== expected) {
    throw new DataError(
      dataset.source,
      `has ${dataset.featureCount} features per sample, but the model expects ${expected} inputs (shape [${network.inputShape.join(', ')}]); choose the feature columns with --features or the label with --label-column.`,
    );
  }
  if (dataset.samples === 0) throw new DataError(dataset.source, 'has no samples in the chosen rows.');
}

/** `score`: importance (and compensation, for ECP) of every dense weight. */
export async function runScore(
  request: ModelRequest & Partial<DataRequest>,
  settings: ScoreSettings,
  task: JobOptions = {},
): Promise<ScoreReport> {
  const started = Date.now();
  const backend = await initBackend(task.backend);
  const loaded = await loadComputable(request, task);
  const dataset = request.data ? await loadDataset(request.data, task) : null;
  if (dataset) checkFeatures(loaded.network, dataset);
  const outcome = await scoreNetwork(loaded.network, dataset, settings, task);
  return {
    method: settings.method,
    samples: dataset?.samples ?? 0,
    reference: dataset ? settings.reference : undefined,
    backend: backend.name,
    seconds: (Date.now() - started) / 1000,
    notes: outcome.notes,
    layers: outcome.layers.map((layer) => ({
      name: layer.name,
      shape: [layer.units, layer.inputs],
      importance: Array.from(layer.importance),
      compensation: layer.compensation ? Array.from(layer.compensation) : undefined,
    })),
  };
}

/** `evaluate`: task metrics of the model on the data. */
export async function runEvaluate(request: ModelRequest & DataRequest, task: JobOptions = {}): Promise<EvaluateReport> {
  await initBackend(task.backend);
  const loaded = await loadComputable(request, task);
  requireRunnable(loaded, 'evaluate');
  const prepared = await prepareData(loaded.network, request, task);
  const { evaluation } = prepared;
  // evaluate has no calibration step, so the note about evaluating on calibration rows is moot.
  const notes = prepared.notes.filter((note) => !note.startsWith('evaluation uses the calibration samples'));
  const result = await evaluateNetwork(loaded.network, null, evaluation, task);
  return { samples: result.samples, metrics: result.metrics, task: result.task, notes };
}

/** Options of `prune` beyond the settings. */
export interface PruneRequest extends ModelRequest, Partial<DataRequest> {
  /** Output path; by default `<name>.pruned-<percent>.<ext>` beside the model. */
  output?: string;
  /** Replace an existing output file. */
  overwrite?: boolean;
}

/** `prune`: prunes, evaluates before and after, and writes the pruned model. */
export async function runPrune(request: PruneRequest, settings: PruneJobSettings, task: JobOptions = {}): Promise<PruneReport> {
  const started = Date.now();
  checkSparsity(settings.sparsity, 'sparsity');
  const backend = await initBackend(task.backend);
  const loaded = await loadComputable(request, task);
  const output = await chooseOutput(loaded, request, settings.sparsity);
  checkLayerNames(loaded, settings);
  const runnable = isRunnable(loaded.network);
  const data = request.data && runnable ? await prepareData(loaded.network, request as DataRequest, task) : null;
  const runNotes: string[] = [];
  if (!runnable && request.data) {
    runNotes.push('the model has layers PruneLens cannot run, so the data was not used and no metrics were measured.');
  }
  const { chosen, auto } = await resolveMethod(loaded, data, settings, task, runNotes);

  const outcome = await pruneNetwork(loaded.network, data?.calibration ?? null, chosen, loaded, {
    signal: task.signal,
    onProgress: subProgress(task.onProgress, auto ? 0.6 : 0, 0.85),
  });

  const before = data ? await evaluateNetwork(loaded.network, loaded.network, data.evaluation, { signal: task.signal }) : null;
  const after = data ? await evaluateNetwork(outcome.network, loaded.network, data.evaluation, { signal: task.signal }) : null;
  task.onProgress?.({ fraction: 0.9, message: `writing ${path.basename(output)}` });
  const saved = await loaded.save(outcome.network, output, task);
  task.onProgress?.({ fraction: 1, message: 'done' });

  const steps = chosen.method === 'magnitude' || chosen.method === 'random' ? 1 : chosen.steps;
  return {
    output,
    files: saved.files,
    method: settings.method,
    chosen: { method: chosen.method, steps, scope: chosen.scope },
    auto,
    steps,
    scope: chosen.scope,
    sparsity: overallSparsity(outcome.layers),
    layers: outcome.layers,
    before: { metrics: before?.metrics ?? {} },
    after: { metrics: after?.metrics ?? {} },
    evaluation: { samples: data?.evaluation.samples ?? 0, source: data?.evaluation.description ?? 'none' },
    calibration: { samples: data?.calibration.samples ?? 0, source: data?.calibration.description ?? 'none' },
    backend: backend.name,
    seconds: (Date.now() - started) / 1000,
    notes: [...loaded.notes, ...runNotes, ...(data?.notes ?? []), ...outcome.notes, ...saved.notes, ...backend.notes],
  };
}

/**
 * Turns the job's method into the settings that run: `auto` becomes the winner of the choice,
 * or magnitude when the model cannot run.
 */
async function resolveMethod(
  loaded: LoadedModel,
  data: PreparedData | null,
  settings: PruneJobSettings,
  task: JobOptions,
  notes: string[],
): Promise<{ chosen: PruneSettings; auto?: AutoReport }> {
  if (settings.method !== 'auto') return { chosen: { ...settings, method: settings.method } };
  if (!isRunnable(loaded.network)) {
    notes.push('--method auto needs to run the model; magnitude pruning was used instead.');
    return { chosen: { ...settings, method: 'magnitude' } };
  }
  if (!data) throw new UsageError(`method 'auto' needs calibration data; pass it with --data FILE.`);
  const choice = await chooseMethod(loaded.network, data.calibration, settings, loaded, autoOptions(settings), {
    signal: task.signal,
    onProgress: subProgress(task.onProgress, 0, 0.6),
  });
  const { method, steps, scope } = choice.winner;
  return { chosen: { ...settings, method, steps, scope }, auto: choice.choice };
}

function autoOptions(settings: { steps: number; seed: number; auto?: AutoSettings }): AutoOptions {
  const steps = Math.max(1, settings.steps);
  return {
    validationFraction: settings.auto?.validationFraction ?? 0.2,
    seed: settings.seed,
    candidates: settings.auto?.candidates ? parseCandidates(settings.auto.candidates, steps) : defaultCandidates(steps),
  };
}

function overallSparsity(layers: { pruned: number; count: number }[]): number {
  const count = layers.reduce((sum, layer) => sum + layer.count, 0);
  return count > 0 ? layers.reduce((sum, layer) => sum + layer.pruned, 0) / count : 0;
}

/** Returns the default output name: `<name>.pruned-90.<ext>` beside the model. */
export function defaultOutputPath(model: string, sparsity: number): string {
  const extension = path.extname(model);
  const base = path.basename(model, extension);
  const percent = Math.round(sparsity * 1000) / 10;
  return path.join(path.dirname(model), `${base}.pruned-${percent}${extension}`);
}

async function chooseOutput(loaded: LoadedModel, request: PruneRequest, sparsity: number): Promise<string> {
  const output = path.resolve(request.output ?? defaultOutputPath(loaded.path, sparsity));
  if (output === path.resolve(loaded.path) && !request.overwrite) {
    throw new UsageError(`the output ${output} is the original model; choose another --out or pass --force to replace it.`);
  }
  await checkOutputPath(output, Boolean(request.overwrite));
  return output;
}

/** Returns the metric a comparison or sensitivity curve shows for a task. */
export function mainMetric(evaluation: Evaluation): keyof Metrics {
  if (evaluation.task === 'classification') return 'accuracy';
  if (evaluation.task === 'regression') return 'mse';
  return 'output_mse';
}

/** Options of `sensitivity`. */
export interface SensitivityOptions extends ScoreSettings {
  sparsities: number[];
}

/** `sensitivity`: for each layer alone, the metric at each sparsity (one-shot, other layers untouched). */
export async function runSensitivity(
  request: ModelRequest & DataRequest,
  settings: SensitivityOptions,
  task: JobOptions = {},
): Promise<SensitivityReport> {
  const started = Date.now();
  const backend = await initBackend(task.backend);
  const loaded = await loadComputable(request, task);
  requireRunnable(loaded, 'sensitivity');
  const { calibration, evaluation } = await prepareData(loaded.network, request, task);
  const scores = (await scoreNetwork(loaded.network, calibration, settings, task)).layers;
  const dense = denseLayers(loaded.network);
  const base = await evaluateNetwork(loaded.network, loaded.network, evaluation, { signal: task.signal });
  const layers: SensitivityReport['layers'] = [];
  let done = 0;
  for (const layer of dense) {
    const values: Metrics[] = [];
    for (const sparsity of settings.sparsities) {
      const prune: PruneSettings = {
        ...settings,
        sparsity: 0,
        steps: 1,
        scope: 'layer',
        maxLayerSparsity: 1,
        missingBias: 'add',
        layerSparsity: Object.fromEntries(dense.map((other) => [other.name, other === layer ? sparsity : 0])),
      };
      const outcome = await pruneNetwork(loaded.network, calibration, prune, loaded, { signal: task.signal }, scores);
      values.push((await evaluateNetwork(outcome.network, loaded.network, evaluation, { signal: task.signal })).metrics);
      done++;
      task.onProgress?.({
        fraction: done / (dense.length * settings.sparsities.length),
        message: `sensitivity: ${layer.name} at ${sparsity}`,
      });
    }
    layers.push({ name: layer.name, values });
  }
  return {
    method: settings.method,
    metric: mainMetric(base),
    sparsities: settings.sparsities,
    layers,
    backend: backend.name,
    seconds: (Date.now() - started) / 1000,
  };
}

/** One curve of a comparison. */
export interface CompareEntry {
  method: MethodName;
  steps: number;
}

/** Options of `compare`. */
export interface CompareOptions extends Omit<PruneSettings, 'method' | 'steps' | 'sparsity'> {
  entries: CompareEntry[];
  sparsities: number[];
  /** Also run the automatic choice at each sparsity, with these settings and steps. */
  auto?: AutoSettings & { steps: number };
}

/** Returns the default comparison: magnitude, random, Wanda, OBD, Taylor (with labels), ECP one-shot and iterative. */
export function defaultCompareEntries(hasLabels: boolean, steps = 10): CompareEntry[] {
  const entries: CompareEntry[] = [
    { method: 'magnitude', steps: 1 },
    { method: 'random', steps: 1 },
    { method: 'wanda', steps: 1 },
    { method: 'obd', steps: 1 },
  ];
  if (hasLabels) entries.push({ method: 'taylor', steps: 1 });
  entries.push({ method: 'ecp', steps: 1 }, { method: 'ecp', steps });
  return entries;
}

/** `compare`: the metric after each method at each sparsity. */
export async function runCompare(
  request: ModelRequest & DataRequest,
  options: CompareOptions,
  task: JobOptions = {},
): Promise<CompareReport> {
  const started = Date.now();
  const backend: BackendInfo = await initBackend(task.backend);
  const loaded = await loadComputable(request, task);
  requireRunnable(loaded, 'compare');
  const { calibration, evaluation } = await prepareData(loaded.network, request, task);
  const original = await evaluateNetwork(loaded.network, loaded.network, evaluation, { signal: task.signal });
  const runs = options.entries.length * options.sparsities.length;
  const methods: CompareReport['methods'] = [];
  let done = 0;
  for (const entry of options.entries) {
    const oneShotScores =
      entry.steps === 1 ? (await scoreNetwork(loaded.network, calibration, { ...options, method: entry.method }, task)).layers : undefined;
    const results: Metrics[] = [];
    for (const sparsity of options.sparsities) {
      const settings: PruneSettings = { ...options, method: entry.method, steps: entry.steps, sparsity };
      const progress = subProgress(task.onProgress, done / runs, (done + 1) / runs);
      const outcome = await pruneNetwork(loaded.network, calibration, settings, loaded, { signal: task.signal, onProgress: progress }, oneShotScores);
      results.push((await evaluateNetwork(outcome.network, loaded.network, evaluation, { signal: task.signal })).metrics);
      done++;
    }
    const name = entry.method === 'ecp' ? `ecp (${entry.steps === 1 ? 'one-shot' : `${entry.steps} steps`})` : entry.method;
    methods.push({ name, method: entry.method, steps: entry.steps, results });
  }
  const auto = options.auto ? await compareAuto(loaded, calibration, evaluation, options, task) : undefined;
  return {
    sparsities: options.sparsities,
    metric: mainMetric(original),
    original: original.metrics,
    methods,
    auto,
    backend: backend.name,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Runs the automatic choice at each sparsity and evaluates each winner. */
async function compareAuto(
  loaded: LoadedModel,
  calibration: Dataset,
  evaluation: Dataset,
  options: CompareOptions,
  task: JobOptions,
): Promise<NonNullable<CompareReport['auto']>> {
  const settings = options.auto as AutoSettings & { steps: number };
  const results: NonNullable<CompareReport['auto']> = [];
  for (const sparsity of options.sparsities) {
    const base = { ...options, sparsity, steps: settings.steps, auto: settings };
    const choice = await chooseMethod(loaded.network, calibration, base, loaded, autoOptions(base), { signal: task.signal });
    const winner = { ...base, method: choice.winner.method, steps: choice.winner.steps, scope: choice.winner.scope };
    const outcome = await pruneNetwork(loaded.network, calibration, winner, loaded, { signal: task.signal });
    const metrics = (await evaluateNetwork(outcome.network, loaded.network, evaluation, { signal: task.signal })).metrics;
    results.push({ sparsity, winner: choice.choice.winner, metrics, choice: choice.choice });
  }
  return results;
}

export type { DataOptions };
