/**
 * One benchmark case, run in its own process so that its peak memory is its own:
 * `node --import tsx bench/cases.ts mnist|mlp2048|mlp50m [--samples N] [--no-reference]`
 * prints one JSON line with the seconds, GFLOP/s and memory of each phase.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/compute/backend';
import { evaluateNetwork } from '../src/core/compute/evaluate';
import { pruneNetwork } from '../src/core/compute/prune';
import { parallelStatistics, splitsAcrossThreads } from '../src/core/compute/parallel';
import { Runtime } from '../src/core/compute/runtime';
import { computeScores } from '../src/core/compute/scores';
import { collectStatistics } from '../src/core/compute/statistics';
import { mulberry32 } from '../src/core/compute/statistics';
import { loadDataset } from '../src/core/data';
import type { Dataset } from '../src/core/data/types';
import { openModel } from '../src/core/formats';
import type { LoadedModel } from '../src/core/formats/types';
import { denseLayers, type DenseLayer, type Network } from '../src/core/model';
import type { PruneSettings } from '../src/core/reports';
import { runReferences, type ReferenceResult } from './reference';

/** Seconds and rates of one case. */
export interface CaseResult {
  name: string;
  samples: number;
  params: number;
  backend: string;
  /** Threads of the ECP statistics: 2 when a worker thread takes half of the samples. */
  threads: number;
  simd: boolean;
  seconds: Record<string, number>;
  ecpGflops: number;
  ecpGflopPerSecond: number;
  refinedPairs: number;
  accuracy?: { before: number; after: number };
  peakRssMB: number;
  peakTensorMB: number;
  wasmHeapMB: number;
  /** PyTorch's time for the same statistics, and PruneLens / PyTorch. */
  reference: ReferenceResult | null;
  ratio: number | null;
  /** NumPy on OpenBLAS, and PruneLens / NumPy. */
  numpy: ReferenceResult | null;
  ratioNumpy: number | null;
}

const corpus = path.resolve(__dirname, '..', '..', 'shared', 'corpus');
const batchSize = 256;
let peakTensorBytes = 0;

function sampleMemory(): void {
  peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
}

async function timed<T>(seconds: Record<string, number>, name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  seconds[name] = (performance.now() - started) / 1000;
  sampleMemory();
  return result;
}

/** Floating-point operations of one ECP statistics pass: forward, backward per probe, two products. */
export function ecpFlops(network: Network, samples: number, probes: number): number {
  const dense = denseLayers(network);
  const macs = dense.map((layer) => layer.units * layer.inputs);
  const forward = macs.reduce((sum, value) => sum + value, 0);
  const backward = macs.slice(1).reduce((sum, value) => sum + value, 0);
  return 2 * samples * (forward + probes * backward + 2 * forward);
}

function randomDense(name: string, inputs: number, units: number, random: () => number, last: boolean): DenseLayer {
  const scale = Math.sqrt(6 / inputs);
  const kernel = new Float32Array(units * inputs);
  for (let k = 0; k < kernel.length; k++) kernel[k] = (random() * 2 - 1) * scale;
  const bias = Float32Array.from({ length: units }, () => 0.05 * (random() - 0.5));
  return { kind: 'dense', name, units, inputs, kernel, bias, activation: { name: last ? 'softmax' : 'relu' } };
}

/** Builds a synthetic MLP: `widths[0]` inputs, then one dense layer per further width, softmax last. */
export function syntheticNetwork(widths: number[], seed = 7): Network {
  const random = mulberry32(seed);
  const layers = widths.slice(1).map((units, index) =>
    randomDense(`dense_${index}`, widths[index], units, random, index === widths.length - 2),
  );
  return { inputShape: [widths[0]], layers };
}

/** Uniform random features in [0, 1) and class labels. */
export function syntheticDataset(samples: number, features: number, classes: number, seed = 11): Dataset {
  const random = mulberry32(seed);
  const values = new Float32Array(samples * features);
  for (let k = 0; k < values.length; k++) values[k] = random();
  return {
    source: 'synthetic',
    samples,
    featureCount: features,
    features: values,
    sampleShape: [features],
    labels: Float32Array.from({ length: samples }, () => Math.floor(random() * classes)),
    labelWidth: 1,
    labelKind: 'class',
    description: `${samples} random samples`,
  };
}

async function loadCase(name: string, samples: number): Promise<{ network: Network; data: Dataset; loaded?: LoadedModel }> {
  if (name === 'mnist') {
    const loaded = await openModel(path.join(corpus, 'keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5'));
    const folder = path.join(corpus, 'data', 'mnist-test');
    const data = await loadDataset({
      data: path.join(folder, 't10k-images-idx3-ubyte.gz'),
      labels: path.join(folder, 't10k-labels-idx1-ubyte.gz'),
      scale: 1 / 255,
      rows: [0, samples],
    });
    return { network: loaded.network, data, loaded };
  }
  const widths = name === 'mlp50m' ? [3536, 3536, 3536, 3536, 3536, 10] : [784, 2048, 2048, 2048, 10];
  return { network: syntheticNetwork(widths), data: syntheticDataset(samples, widths[0], 10) };
}

const pruneSettings: PruneSettings = {
  method: 'ecp',
  reference: 'logits',
  seed: 0,
  batchSize,
  sparsity: 0.9,
  steps: 10,
  scope: 'global',
  maxLayerSparsity: 0.99,
  missingBias: 'add',
};

/** Runs one case and returns its measurements. */
export async function runCase(name: string, samples: number, withReference: boolean): Promise<CaseResult> {
  const backend = await initBackend();
  const seconds: Record<string, number> = {};
  const { network, data, loaded } = await timed(seconds, 'load', () => loadCase(name, samples));
  const runtime = new Runtime(network);
  const needs = { sensitivity: true, inputNorms: false, lossGradient: false };
  const options = { reference: 'logits' as const, batchSize, seed: 0, onProgress: sampleMemory, parallel: parallelStatistics };
  const threads = splitsAcrossThreads(runtime, data, needs, options) ? 2 : 1;
  if (threads > 1) {
    // Starts the worker thread outside the timing, as the reference is warmed up too.
    const warmup = { ...data, samples: 8 * batchSize };
    await timed(seconds, 'warmup', () => collectStatistics(runtime, warmup, needs, options));
  }
  const statistics = await timed(seconds, 'ecp', () => collectStatistics(runtime, data, needs, options));
  await timed(seconds, 'scores', async () => computeScores('ecp', denseLayers(network), statistics, 0, true));
  runtime.dispose();
  const refinedPairs = statistics.layers.reduce((sum, layer) => sum + (layer.refined?.index.length ?? 0), 0);
  const flops = ecpFlops(network, data.samples, Math.min(32, runtime.outputSize));
  const result: CaseResult = {
    name,
    samples: data.samples,
    params: denseLayers(network).reduce((sum, layer) => sum + layer.kernel.length, 0),
    backend: backend.name,
    threads,
    simd: backend.simd ?? false,
    seconds,
    ecpGflops: flops / 1e9,
    ecpGflopPerSecond: flops / 1e9 / seconds.ecp,
    refinedPairs,
    peakRssMB: 0,
    peakTensorMB: 0,
    wasmHeapMB: 0,
    reference: null,
    ratio: null,
    numpy: null,
    ratioNumpy: null,
  };
  if (name !== 'mlp50m') await pruneAndEvaluate(result, network, data, loaded);
  if (withReference) {
    const references = runReferences(runtime.plan, data, threads, batchSize);
    result.reference = references.torch;
    result.numpy = references.numpy;
    if ('seconds' in references.torch) result.ratio = seconds.ecp / references.torch.seconds;
    if ('seconds' in references.numpy) result.ratioNumpy = seconds.ecp / references.numpy.seconds;
  }
  result.peakRssMB = process.resourceUsage().maxRSS / 1024;
  result.peakTensorMB = peakTensorBytes / 2 ** 20;
  result.wasmHeapMB = wasmHeapBytes() / 2 ** 20;
  return result;
}

async function pruneAndEvaluate(result: CaseResult, network: Network, data: Dataset, loaded?: LoadedModel): Promise<void> {
  const seconds = result.seconds;
  const hooks = loaded ?? { canAddBias: () => true };
  const task = { onProgress: sampleMemory };
  const pruned = await timed(seconds, 'prune', () => pruneNetwork(network, data, pruneSettings, hooks, task));
  const before = await evaluateNetwork(network, null, data);
  const after = await timed(seconds, 'evaluate', () => evaluateNetwork(pruned.network, network, data));
  if (after.metrics.accuracy !== undefined) {
    result.accuracy = { before: before.metrics.accuracy as number, after: after.metrics.accuracy };
  }
  if (!loaded) return;
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-bench-'));
  try {
    await timed(seconds, 'save', () => loaded.save(pruned.network, path.join(folder, 'pruned.h5')));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** Size of the wasm backend's heap, which only grows; 0 on other backends. */
function wasmHeapBytes(): number {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.length ?? 0;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const defaultSamples: Record<string, number> = { mnist: 10000, mlp2048: 500, mlp50m: 256 };

if (require.main === module) {
  const name = process.argv[2];
  if (!(name in defaultSamples)) {
    process.stderr.write(`bench/cases.ts: unknown case '${name}'; use mnist, mlp2048 or mlp50m.\n`);
    process.exit(2);
  }
  const samples = Number(argument('--samples') ?? defaultSamples[name]);
  runCase(name, samples, !process.argv.includes('--no-reference')).then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`);
      process.exitCode = 1;
    },
  );
}
