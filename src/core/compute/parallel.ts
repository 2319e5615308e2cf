/**
 * Statistics on two threads. TensorFlow.js turns wasm multithreading off in Node, so a worker
 * thread with its own wasm backend takes the second half of the samples while this thread takes
 * the first. The statistics are sums, so the halves add. Both use the shifts of the first
 * batch, and the refinement of cancelled pairs is summed the same way.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types';
import { CancelledError } from '../errors';
import { currentBackendPreference } from './backend';
import { addRefinementSums, finishRefinement, planRefinement, refinementVisitor, type RefinementSums } from './refine';
import type { Runtime } from './runtime';
import {
  batchOf,
  chooseShift,
  StatisticsPass,
  type LayerStatistics,
  type NetworkStatistics,
  type StatisticsNeeds,
  type StatisticsOptions,
} from './statistics';

/** Below this many batches a second thread costs more than it saves. */
const minimumBatches = 8;
/** Above this many weights the worker's copy of the model would cost too much memory. */
const maximumWeights = 16 * 2 ** 20;

/** Messages to the worker. */
export type WorkerRequest =
  | {
      type: 'accumulate';
      backend: string;
      network: Runtime['network'];
      dataset: Dataset;
      needs: StatisticsNeeds;
      options: Pick<StatisticsOptions, 'reference' | 'batchSize' | 'seed' | 'maxExactOutputs' | 'sensitivityMethod' | 'cacheBytes'>;
      shifts: Float64Array[];
    }
  | { type: 'refine'; sums: RefinementSums[] }
  | { type: 'release' };

/** Messages from the worker. */
export type WorkerReply =
  | { type: 'sums'; layers: Pick<LayerStatistics, 'm0' | 'm1' | 'm2'>[] }
  | { type: 'refined'; sums: RefinementSums[] }
  | { type: 'error'; message: string };

let shared: Worker | null = null;
let queue: Promise<unknown> = Promise.resolve();

/** Returns the worker script beside this module (`.ts` from the sources, `.js` from a build). */
function workerScript(): string | undefined {
  const base = path.join(__dirname, 'statistics-worker');
  return ['.js', '.ts'].map((extension) => base + extension).find((file) => fs.existsSync(file));
}

/** Returns how many threads the statistics use here: 2 on machines with two cores or more. */
export function statisticsThreads(): number {
  return Math.min(2, os.availableParallelism());
}

/**
 * Returns whether the statistics would run on two threads. They do not on one core, with a
 * backend other than wasm, for few batches, for large models, for Wanda and Taylor sums, or
 * without the worker script (a bundle that does not ship it).
 */
export function splitsAcrossThreads(
  runtime: Runtime,
  dataset: Dataset,
  needs: StatisticsNeeds,
  options: Pick<StatisticsOptions, 'batchSize'>,
): boolean {
  const weights = runtime.plan.stages.reduce((sum, { layer }) => sum + layer.kernel.length, 0);
  const onlySensitivity = needs.sensitivity && !needs.inputNorms && !needs.lossGradient;
  if (statisticsThreads() < 2 || tf.getBackend() !== 'wasm' || !workerScript() || !onlySensitivity) return false;
  return dataset.samples >= minimumBatches * options.batchSize && weights <= maximumWeights;
}

/** Collects the statistics on two threads when `splitsAcrossThreads`, or returns undefined. */
export function parallelStatistics(
  runtime: Runtime,
  dataset: Dataset,
  needs: StatisticsNeeds,
  options: StatisticsOptions,
): Promise<NetworkStatistics> | undefined {
  const script = workerScript();
  if (!script || !splitsAcrossThreads(runtime, dataset, needs, options)) return undefined;
  const run = queue.then(() => collectOnTwoThreads(script, runtime, dataset, needs, options));
  queue = run.catch(() => undefined);
  return run;
}

async function collectOnTwoThreads(
  script: string,
  runtime: Runtime,
  dataset: Dataset,
  needs: StatisticsNeeds,
  options: StatisticsOptions,
): Promise<NetworkStatistics> {
  const shifts = firstBatchShifts(runtime, dataset, options.batchSize);
  const half = Math.ceil(dataset.samples / 2 / options.batchSize) * options.batchSize;
  const worker = workerFor(script);
  const pass = new StatisticsPass(runtime, sliceOf(dataset, 0, half), needs, options, shifts);
  try {
    const { reference, batchSize, seed, maxExactOutputs, sensitivityMethod, cacheBytes } = options;
    const request: WorkerRequest = {
      type: 'accumulate',
      backend: currentBackendPreference(),
      network: runtime.network,
      dataset: sliceOf(dataset, half, dataset.samples, true),
      needs,
      options: { reference, batchSize, seed, maxExactOutputs, sensitivityMethod, cacheBytes },
      shifts,
    };
    const [reply] = await Promise.all([ask(worker, request, options.signal), pass.accumulate()]);
    if (reply.type !== 'sums') throw new Error(`internal: the statistics worker replied ${reply.type}`);
    reply.layers.forEach((sums, index) => addLayerSums(pass.layers[index], sums));
    const plan = planRefinement(pass.layers);
    if (plan) {
      const other = ask(worker, { type: 'refine', sums: emptyCopy(plan) }, options.signal);
      await pass.replay(refinementVisitor(pass.layers, plan), plan.map(({ index }) => index.length > 0));
      const refined = await other;
      if (refined.type !== 'refined') throw new Error(`internal: the statistics worker replied ${refined.type}`);
      addRefinementSums(plan, refined.sums);
      finishRefinement(pass.layers, plan);
    }
    return { ...pass.result(), samples: dataset.samples };
  } catch (error) {
    // The worker may still be busy with this run; a fresh one serves the next.
    void worker.terminate();
    throw error;
  } finally {
    pass.dispose();
    worker.postMessage({ type: 'release' } satisfies WorkerRequest);
  }
}

/** Returns the shifts of every layer's input from the first batch, as one thread would choose them. */
function firstBatchShifts(runtime: Runtime, dataset: Dataset, batchSize: number): Float64Array[] {
  const shifts: Float64Array[] = [];
  tf.tidy(() => {
    const trace = runtime.trace(batchOf(dataset, 0, Math.min(batchSize, dataset.samples)));
    for (const a of trace.inputs) shifts.push(chooseShift(a.dataSync() as Float32Array, a.shape[0], a.shape[1]));
  });
  return shifts;
}

/**
 * Returns samples `[start, end)` as a dataset that shares the features, or with `copy` owns
 * them: a message to a worker would otherwise carry the whole buffer behind a view.
 */
function sliceOf(dataset: Dataset, start: number, end: number, copy = false): Dataset {
  const width = dataset.featureCount;
  const labelWidth = dataset.labelWidth;
  const part = <T extends Float32Array>(values: T, size: number) =>
    copy ? values.slice(start * size, end * size) : values.subarray(start * size, end * size);
  return {
    ...dataset,
    samples: end - start,
    features: part(dataset.features, width),
    labels: dataset.labels ? part(dataset.labels, labelWidth) : null,
  };
}

function addLayerSums(target: LayerStatistics, sums: Pick<LayerStatistics, 'm0' | 'm1' | 'm2'>): void {
  for (const key of ['m0', 'm1', 'm2'] as const) {
    const values = sums[key];
    for (let i = 0; i < values.length; i++) target[key][i] += values[i];
  }
}

function emptyCopy(plan: RefinementSums[]): RefinementSums[] {
  return plan.map(({ index, mean }) => ({
    index,
    mean,
    weight: new Float64Array(index.length),
    first: new Float64Array(index.length),
    second: new Float64Array(index.length),
  }));
}

/** Returns the shared worker, started on first use; it does not keep the process alive. */
function workerFor(script: string): Worker {
  if (!shared) {
    // From the sources, the worker registers tsx itself: Node does not run a .ts file directly.
    const source = `require('tsx/cjs'); require(${JSON.stringify(script)});`;
    shared = script.endsWith('.ts') ? new Worker(source, { eval: true }) : new Worker(script);
    shared.unref();
    shared.on('error', () => (shared = null));
    shared.on('exit', () => (shared = null));
  }
  return shared;
}

/** Sends one request and waits for the reply; cancelling stops the worker. */
function ask(worker: Worker, request: WorkerRequest, signal: AbortSignal | undefined): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      void worker.terminate();
      reject(new CancelledError());
    };
    const onError = (error: Error) => finish(() => reject(error));
    const onMessage = (reply: WorkerReply) =>
      finish(() => (reply.type === 'error' ? reject(new Error(reply.message)) : resolve(reply)));
    const finish = (settle: () => void) => {
      worker.unref();
      worker.off('message', onMessage);
      worker.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    // Referenced while a request is open, so that the process waits for the reply.
    worker.ref();
    worker.on('message', onMessage);
    worker.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.postMessage(request);
  });
}
