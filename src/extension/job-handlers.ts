/** Worker handlers for the core jobs, plus `data.describe` for the calibration prompts. */
import { initBackend, type BackendPreference } from '../core/compute/backend';
import { loadDataset } from '../core/data';
import type { DataOptions } from '../core/data/types';
import { modelSize } from '../core/formats/size';
import {
  defaultCompareEntries,
  runCompare,
  runEvaluate,
  runInspect,
  runPrune,
  runScore,
  runSensitivity,
  type JobOptions,
} from '../core/jobs';
import type { DataRequest, ModelRequest, ScoreSettings } from '../core/reports';
import { scoreSettings, type CompareJob, type PruneJob, type SensitivityJob } from './job-requests';
import type { HandlerContext, RpcHandlers, WorkerOptions } from './rpc-protocol';

/** Summary of a data file loaded with given options, as `data.describe` returns it. */
export interface DataDescription {
  samples: number;
  featureCount: number;
  labelKind: 'class' | 'value' | null;
  description: string;
  /** Per-feature mean and standard deviation, when requested. */
  mean?: number[];
  std?: number[];
}

/** Returns the job handlers; each first makes sure the preferred TF.js backend is running. */
export function jobHandlers(options: WorkerOptions): RpcHandlers {
  const backend = options.backend as BackendPreference;
  let backendLogged = false;
  /** Starts the preferred backend once, then returns the job options with signal and progress. */
  const ready = async (context: HandlerContext): Promise<JobOptions> => {
    const info = await initBackend(backend);
    if (!backendLogged) {
      backendLogged = true;
      const notes = info.notes.length > 0 ? ` (${info.notes.join(' ')})` : '';
      context.log(`TensorFlow.js backend: ${info.name}, ${info.threads} thread(s)${notes}.`);
    }
    return { signal: context.signal, onProgress: context.onProgress, backend };
  };
  return {
    modelSize: async (request: ModelRequest) => modelSize(request.model, request.architecture),
    inspect: async (request: ModelRequest, context: HandlerContext) => {
      await ready(context);
      return runInspect(request);
    },
    score: async (
      job: { request: ModelRequest & DataRequest; settings: ScoreSettings },
      context: HandlerContext,
    ) => runScore(job.request, job.settings, await ready(context)),
    prune: async (job: PruneJob, context: HandlerContext) =>
      runPrune(job.request, job.settings, await ready(context)),
    evaluate: async (request: ModelRequest & DataRequest, context: HandlerContext) =>
      runEvaluate(request, await ready(context)),
    sensitivity: async (job: SensitivityJob, context: HandlerContext) =>
      runSensitivity(job.request, job.settings, await ready(context)),
    compare: async (job: CompareJob, context: HandlerContext) => {
      const task = await ready(context);
      const dataset = await loadDataset(job.request.data, { signal: context.signal });
      const entries = defaultCompareEntries(dataset.labels !== null, job.steps);
      const options = {
        ...scoreSettings('ecp'),
        scope: 'global' as const,
        maxLayerSparsity: 0.99,
        missingBias: 'add' as const,
        entries,
        sparsities: job.sparsities,
      };
      return runCompare(job.request, options, task);
    },
    'data.describe': (
      params: { data: DataOptions; statistics: boolean },
      context: HandlerContext,
    ) => describeData(params.data, params.statistics, context),
  };
}

async function describeData(
  options: DataOptions,
  statistics: boolean,
  context: HandlerContext,
): Promise<DataDescription> {
  const dataset = await loadDataset(options, context);
  const result: DataDescription = {
    samples: dataset.samples,
    featureCount: dataset.featureCount,
    labelKind: dataset.labelKind,
    description: dataset.description,
  };
  if (statistics)
    Object.assign(
      result,
      featureStatistics(dataset.features, dataset.samples, dataset.featureCount),
    );
  return result;
}

/** Per-feature mean and population standard deviation of a `[samples, features]` matrix. */
export function featureStatistics(
  features: Float32Array,
  samples: number,
  width: number,
): { mean: number[]; std: number[] } {
  const sum = new Float64Array(width);
  const squares = new Float64Array(width);
  for (let row = 0; row < samples; row++) {
    for (let column = 0; column < width; column++) {
      const value = features[row * width + column];
      sum[column] += value;
      squares[column] += value * value;
    }
  }
  const mean = Array.from(sum, (total) => total / samples);
  const std = Array.from(squares, (total, column) =>
    Math.sqrt(Math.max(0, total / samples - mean[column] ** 2)),
  );
  return { mean, std };
}
