/**
 * Worker-side state of open model panels: the loaded model, its data and its current scores.
 * The heatmap tiles, slider summaries and preview metrics are cut from this state, so the full
 * tensors stay in the worker.
 */
import { scoreNetwork } from '../../core/compute/prune';
import { inspectModel } from '../../core/jobs';
import type { LayerScores } from '../../core/compute/scores';
import type { Dataset } from '../../core/data/types';
import type { LoadedModel } from '../../core/formats/types';
import { countZeros, denseLayers } from '../../core/model';
import type { TaskOptions } from '../../core/progress';
import type { DataRequest, MethodName, ModelRequest, ScoreSettings } from '../../core/reports';
import { sortScores, summarizeSorted } from '../../core/view/summary';
import { imageShape, inputImportance } from '../../core/view/tiles';
import type { InputImage, ModelSummary, ScoresState, WireSummary } from '../../shared/protocol';

/** One open panel's state in the worker. */
export interface WorkerPanel {
  model: LoadedModel;
  request: ModelRequest;
  data: DataRequest | null;
  calibration: Dataset | null;
  evaluation: Dataset | null;
  method: MethodName;
  scores: LayerScores[];
  /** Each layer's importance sorted ascending, for thresholds and the preview pruner. */
  sorted: Map<string, Float32Array>;
  scoreNotes: string[];
  scoreSeconds: number;
  backend: string;
}

/** Score settings of the panel: one-shot scores on the logits, fixed seed. */
export function panelScoreSettings(method: MethodName): ScoreSettings {
  return { method, reference: 'logits', seed: 0, batchSize: 256 };
}

/** Scores the panel's model with `method` and keeps sorted copies for the sliders. */
export async function scorePanel(panel: WorkerPanel, method: MethodName, task: TaskOptions): Promise<void> {
  const started = performance.now();
  const outcome = await scoreNetwork(panel.model.network, panel.calibration, panelScoreSettings(method), task);
  panel.method = method;
  panel.scores = outcome.layers;
  panel.scoreNotes = outcome.notes;
  panel.sorted = new Map(outcome.layers.map((layer) => [layer.name, sortScores(layer.importance)]));
  panel.scoreSeconds = (performance.now() - started) / 1000;
}

/** Copies a typed array's values into a buffer of their own, for posting. */
export function ownBuffer(values: Float32Array | Float64Array): ArrayBuffer {
  const copy = values.slice();
  return copy.buffer as ArrayBuffer;
}

/** Returns the score summaries the sliders need. */
export function scoresState(panel: WorkerPanel): ScoresState {
  const layers: WireSummary[] = panel.scores.map((layer) => {
    const summary = summarizeSorted(layer.name, panel.sorted.get(layer.name) ?? sortScores(layer.importance));
    return {
      name: layer.name,
      count: summary.count,
      ranks: ownBuffer(summary.ranks),
      edges: ownBuffer(summary.edges),
      cumulative: ownBuffer(summary.cumulative),
    };
  });
  return {
    method: panel.method,
    samples: panel.calibration?.samples ?? 0,
    backend: panel.backend,
    seconds: panel.scoreSeconds,
    notes: panel.scoreNotes,
    layers,
  };
}

/** Returns the summed importance per input of the first dense layer, when the input is an image. */
export function inputImageOf(panel: WorkerPanel): InputImage | null {
  const first = panel.scores[0];
  if (!first) return null;
  const shape = imageShape(first.inputs, panel.model.network.inputShape, panel.calibration?.sampleShape);
  if (!shape) return null;
  const values = inputImportance(first);
  return { layer: first.name, height: shape[0], width: shape[1], values: values.buffer as ArrayBuffer };
}

/** Summarizes the model for the panel's header and layer table. */
export function modelSummary(panel: WorkerPanel, fileName: string, formatName: string): ModelSummary {
  const network = panel.model.network;
  const dense = denseLayers(network);
  const report = inspectModel(panel.model);
  return {
    fileName,
    format: formatName,
    params: report.params,
    prunable: report.prunable,
    sparsity: report.sparsity,
    inputShape: network.inputShape,
    runnable: report.runnable,
    layers: report.layers,
    dense: dense.map((layer) => ({
      name: layer.name,
      units: layer.units,
      inputs: layer.inputs,
      bias: layer.bias !== null,
      activation: layer.activation.name,
      zeros: countZeros(layer.kernel),
    })),
    notes: panel.model.notes,
  };
}
