/** Worker-side handlers of the model panel, merged into the compute worker's RPC methods. */
import * as path from 'node:path';
import { initBackend, type BackendPreference } from '../../core/compute/backend';
import { evaluateNetwork, type Evaluation } from '../../core/compute/evaluate';
import type { Dataset } from '../../core/data/types';
import { UsageError } from '../../core/errors';
import { detectFormat } from '../../core/formats';
import { defaultCompareEntries, prepareData, runCompare, runPrune, runSensitivity } from '../../core/jobs';
import type { DataRequest, MethodName, ModelRequest, PruneSettings } from '../../core/reports';
import { applySparsities } from '../../core/view/mask';
import { buildTile } from '../../core/view/tiles';
import type {
  DataSummary,
  InputImage,
  ModelSummary,
  SaveForm,
  ScoresState,
  SparsityMap,
  WeightDetail,
  WireRegion,
  WireTile,
} from '../../shared/protocol';
import type { HandlerContext, RpcHandlers } from '../rpc-protocol';
import { sessionLostError } from './session-error';
import {
  inputImageOf,
  modelSummary,
  panelScoreSettings,
  scorePanel,
  scoresState,
  type WorkerPanel,
} from './worker-session';

/** Result of `panel.open` and `panel.loadData`: everything the panel state needs from the worker. */
export interface PanelSnapshot {
  model: ModelSummary;
  data: DataSummary | null;
  scores: ScoresState;
  inputImage: InputImage | null;
  backend: string;
}

const panels = new Map<string, WorkerPanel>();

function panelFor(session: string): WorkerPanel {
  const panel = panels.get(session);
  if (!panel) {
    const error = new Error(`The worker has no panel session ${session}; the host reloads the model and retries.`);
    error.name = sessionLostError;
    throw error;
  }
  return panel;
}

function snapshot(panel: WorkerPanel, data: DataSummary | null): PanelSnapshot {
  const summary = modelSummary(panel, path.basename(panel.model.path), formatName(panel));
  return { model: summary, data, scores: scoresState(panel), inputImage: inputImageOf(panel), backend: panel.backend };
}

const formatNames: Record<string, string> = {
  'keras-h5': 'Keras HDF5',
  keras: 'Keras 3 (.keras)',
  'tfjs-layers': 'TensorFlow.js layers',
  onnx: 'ONNX',
  safetensors: 'safetensors',
  pytorch: 'PyTorch state dict',
};

function formatName(panel: WorkerPanel): string {
  return formatNames[panel.model.format] ?? panel.model.format;
}

async function openPanel(
  params: { session: string; model: ModelRequest },
  context: HandlerContext,
  preference: BackendPreference,
) {
  const backend = await initBackend(preference);
  const format = await detectFormat(params.model.model);
  const model = await format.open(path.resolve(params.model.model), {
    activation: params.model.activation,
    architecture: params.model.architecture,
    signal: context.signal,
  });
  const panel: WorkerPanel = {
    model,
    request: params.model,
    data: null,
    calibration: null,
    evaluation: null,
    method: 'magnitude',
    scores: [],
    sorted: new Map(),
    scoreNotes: [],
    scoreSeconds: 0,
    backend: backend.name,
  };
  await scorePanel(panel, 'magnitude', context);
  panels.set(params.session, panel);
  context.log(`Panel opened ${model.path} (${formatName(panel)}, backend ${backend.name}).`);
  return snapshot(panel, null);
}

/** Describes the preprocessing `(x × scale + shift − mean) / std` that the options apply. */
function describePreprocessing(options: DataRequest['data']): string {
  const show = (value: number | number[] | undefined) => (Array.isArray(value) ? `${value.length} values per feature` : String(value));
  const parts = (['scale', 'shift', 'mean', 'std'] as const)
    .filter((key) => options[key] !== undefined)
    .map((key) => `${key} ${show(options[key])}`);
  return parts.length > 0 ? `(x × scale + shift − mean) / std with ${parts.join(', ')}` : 'none (values as stored)';
}

function describeData(
  request: DataRequest,
  calibration: Dataset,
  evaluation: Dataset,
  original: Evaluation,
): DataSummary {
  const separate = evaluation !== calibration;
  return {
    description: calibration.description,
    samples: calibration.samples,
    evalDescription: separate ? evaluation.description : 'the calibration samples (no separate evaluation rows or file)',
    evalSamples: evaluation.samples,
    task: original.task,
    original: original.metrics,
    preprocessing: describePreprocessing(request.data),
  };
}

async function loadPanelData(
  params: { session: string; data: DataRequest; method: MethodName },
  context: HandlerContext,
): Promise<PanelSnapshot> {
  const panel = panelFor(params.session);
  const { calibration, evaluation } = await prepareData(panel.model.network, params.data, context);
  panel.data = params.data;
  panel.calibration = calibration;
  panel.evaluation = evaluation;
  await scorePanel(panel, params.method, context);
  const original = await evaluateNetwork(panel.model.network, panel.model.network, evaluation, { signal: context.signal });
  context.log(`Panel scored ${panel.model.path} with ${params.method} on ${calibration.samples} samples in ${panel.scoreSeconds.toFixed(2)} s.`);
  return snapshot(panel, describeData(params.data, calibration, evaluation, original));
}

function tileOf(params: { session: string; layer: string; region: WireRegion; maxRows: number; maxCols: number }): WireTile {
  const panel = panelFor(params.session);
  const layer = panel.scores.find((scores) => scores.name === params.layer);
  const dense = panel.model.network.layers.find((candidate) => candidate.name === params.layer);
  if (!layer || dense?.kind !== 'dense') throw new UsageError(`The model has no dense layer named "${params.layer}".`);
  const maxRows = Math.min(512, Math.max(1, params.maxRows));
  const maxCols = Math.min(512, Math.max(1, params.maxCols));
  const tile = buildTile({ ...layer, kernel: dense.kernel }, { ...params.region, maxRows, maxCols });
  return {
    layer: params.layer,
    row0: tile.row0,
    row1: tile.row1,
    col0: tile.col0,
    col1: tile.col1,
    rows: tile.rows,
    cols: tile.cols,
    rowStep: tile.rowStep,
    colStep: tile.colStep,
    weight: tile.weight.buffer as ArrayBuffer,
    importance: tile.importance.buffer as ArrayBuffer,
    quantiles: tile.quantiles.buffer as ArrayBuffer,
  };
}

function pointOf(params: { session: string; layer: string; unit: number; input: number }): WeightDetail {
  const panel = panelFor(params.session);
  const layer = panel.scores.find((scores) => scores.name === params.layer);
  const dense = panel.model.network.layers.find((candidate) => candidate.name === params.layer);
  if (!layer || dense?.kind !== 'dense') throw new UsageError(`The model has no dense layer named "${params.layer}".`);
  const unit = Math.min(layer.units - 1, Math.max(0, Math.floor(params.unit)));
  const input = Math.min(layer.inputs - 1, Math.max(0, Math.floor(params.input)));
  const index = unit * layer.inputs + input;
  return {
    layer: layer.name,
    unit,
    input,
    weight: dense.kernel[index],
    importance: layer.importance[index],
    compensation: layer.compensation ? layer.compensation[index] : null,
  };
}

async function evaluatePreview(params: { session: string; sparsities: SparsityMap }, context: HandlerContext) {
  const panel = panelFor(params.session);
  if (!panel.evaluation) throw new UsageError('Choose calibration data first; metrics need data.');
  const started = performance.now();
  const pruned = applySparsities(panel.model.network, panel.scores, panel.sorted, params.sparsities);
  const evaluation = await evaluateNetwork(pruned, panel.model.network, panel.evaluation, { signal: context.signal });
  return { metrics: evaluation.metrics, samples: evaluation.samples, seconds: (performance.now() - started) / 1000 };
}

/**
 * Returns the context with progress events of the inner evaluations dropped. The sensitivity and
 * comparison jobs pass their task to every evaluation, whose own 0–1 fractions would make the
 * panel's progress jump back and forth between the job's steps.
 */
function jobProgressOnly(
  context: HandlerContext,
  backend: BackendPreference,
): HandlerContext & { backend: BackendPreference } {
  return {
    ...context,
    backend,
    onProgress: (event) => {
      if (!event.message.startsWith('evaluation:')) context.onProgress(event);
    },
  };
}

function jobRequest(panel: WorkerPanel): ModelRequest & DataRequest {
  if (!panel.data) throw new UsageError('Choose calibration data first; this view needs data.');
  return { ...panel.request, ...panel.data };
}

function comparePruneSettings() {
  return { ...panelScoreSettings('ecp'), scope: 'global' as const, maxLayerSparsity: 0.99, missingBias: 'add' as const };
}

function pruneSettings(form: SaveForm): PruneSettings {
  return {
    ...panelScoreSettings(form.method),
    sparsity: form.sparsity,
    steps: form.steps,
    scope: form.scope,
    maxLayerSparsity: 0.99,
    missingBias: 'add',
    layerSparsity: form.scope === 'layer' ? form.layerSparsity : undefined,
  };
}

/**
 * Returns the panel methods by name, running on the preferred TF.js backend. Each receives its
 * params and `{ signal, onProgress, log }`.
 */
export function panelHandlers(backend: BackendPreference = 'auto'): RpcHandlers {
  return {
    'panel.open': (params: { session: string; model: ModelRequest }, context) => openPanel(params, context, backend),
    'panel.loadData': (params: { session: string; data: DataRequest; method: MethodName }, context) =>
      loadPanelData(params, context),
    'panel.tile': async (params: Parameters<typeof tileOf>[0]) => tileOf(params),
    'panel.point': async (params: Parameters<typeof pointOf>[0]) => pointOf(params),
    'panel.evaluate': (params: { session: string; sparsities: SparsityMap }, context) => evaluatePreview(params, context),
    'panel.sensitivity': async (params: { session: string; method: MethodName; sparsities: number[] }, context) => {
      const panel = panelFor(params.session);
      const settings = { ...panelScoreSettings(params.method), sparsities: params.sparsities };
      return runSensitivity(jobRequest(panel), settings, jobProgressOnly(context, backend));
    },
    'panel.compare': async (params: { session: string; sparsities: number[]; steps: number }, context) => {
      const panel = panelFor(params.session);
      const entries = defaultCompareEntries(Boolean(panel.calibration?.labels), params.steps);
      // The automatic choice is compared too, as the command line does by default.
      const auto = panel.calibration ? { validationFraction: 0.2, steps: params.steps } : undefined;
      const options = { ...comparePruneSettings(), entries, sparsities: params.sparsities, auto };
      return runCompare(jobRequest(panel), options, jobProgressOnly(context, backend));
    },
    'panel.save': async (params: { session: string; output: string; form: SaveForm }, context) => {
      const panel = panelFor(params.session);
      const task = { ...context, backend };
      return runPrune({ ...jobRequest(panel), output: params.output, overwrite: true }, pruneSettings(params.form), task);
    },
    'panel.close': async (params: { session: string }) => {
      panels.delete(params.session);
      return null;
    },
  };
}

