/**
 * Streamed per-layer statistics of the calibration data, from which every data-based score
 * follows. For dense layer `l` with sensitivities `s` (`[N, units]`) and inputs `a`
 * (`[N, inputs]`) they are `m0 = Σ s`, `M1 = Sᵀ A'`, `M2 = Sᵀ (A' ⊙ A')` with `A' = A - c`,
 * where `c` is taken from the first batch (see `chooseShift`). Sums over batches add, so memory
 * does not grow with the number of samples. The shift keeps `E[s a²] - E[s a]² / E[s]` from
 * cancelling in float32 when an input has a large mean and a small spread.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types';
import { CancelledError } from '../errors';
import { checkpoint, type TaskOptions } from '../progress';
import type { ReferenceOutput } from '../reports';
import { autodiffSensitivities } from './autodiff';
import { refineCancelledPairs, SensitivityCache, type SensitivityVisitor } from './refine';
import type { Runtime, Trace } from './runtime';

/** Which sums to collect. */
export interface StatisticsNeeds {
  /** `m0`, `M1`, `M2` (ECP, OBD). */
  sensitivity: boolean;
  /** Per-input `Σ a'` and `Σ a'²` (Wanda). */
  inputNorms: boolean;
  /** `Σ_n ∂L/∂z ⊗ a`, the loss gradient of each weight (Taylor). */
  lossGradient: boolean;
}

/** Sums for one dense layer, in float64. */
export interface LayerStatistics {
  units: number;
  inputs: number;
  /** Per-input shift `c`. */
  shift: Float64Array;
  m0: Float64Array;
  m1: Float64Array;
  m2: Float64Array;
  inputSum: Float64Array;
  inputSquareSum: Float64Array;
  lossGradient: Float64Array;
  /**
   * Pairs `(i, j)` whose spread `Σ s a'² − (Σ s a')² / Σ s` cancelled badly in float32,
   * recomputed in float64 around their own weighted mean (see refine.ts).
   */
  refined?: RefinedPairs;
}

/** Float64 moments of selected weight positions, centred on each pair's own weighted mean. */
export interface RefinedPairs {
  /** Row-major positions `i * inputs + j`. */
  index: Uint32Array;
  /** `Σ s (a − μ)² − (Σ s (a − μ))² / Σ s`. */
  spread: Float64Array;
  /** `E[s a] / E[s]`. */
  mean: Float64Array;
}

/** Statistics of every dense layer over `samples` calibration samples. */
export interface NetworkStatistics {
  samples: number;
  layers: LayerStatistics[];
  /** Set when random probe vectors replaced one backward pass per output. */
  probes?: { count: number; seed: number };
}

/** How the sensitivities are computed; both give the same `s`. */
export type SensitivityMethod = 'batched' | 'autodiff';

/** Options of the statistics pass. */
export interface StatisticsOptions extends TaskOptions {
  /**
   * How `s` is computed: `batched` (default) stacks the probes along the batch axis and runs one
   * backward pass through the dense chain; `autodiff` takes one `tf.grads` pass per probe.
   */
  sensitivityMethod?: SensitivityMethod;
  /**
   * Splits the work across threads when it returns statistics; when it returns undefined, the
   * statistics are collected on this thread (see parallel.ts).
   */
  parallel?: (
    runtime: Runtime,
    dataset: Dataset,
    needs: StatisticsNeeds,
    options: StatisticsOptions,
  ) => Promise<NetworkStatistics> | undefined;
  /** Bytes of `s` and layer inputs kept for the refinement instead of a second pass. */
  cacheBytes?: number;
  reference: ReferenceOutput;
  batchSize: number;
  seed: number;
  /** Above this many outputs, random ±1 probes replace the exact sum over outputs. */
  maxExactOutputs?: number;
}

const defaultMaxExactOutputs = 32;

/** Collects the statistics over every sample of `dataset`, one batch at a time. */
export async function collectStatistics(
  runtime: Runtime,
  dataset: Dataset,
  needs: StatisticsNeeds,
  options: StatisticsOptions,
): Promise<NetworkStatistics> {
  const parallel = options.parallel?.(runtime, dataset, needs, options);
  if (parallel) {
    try {
      return await parallel;
    } catch (error) {
      // A failed worker thread costs only speed: the statistics are collected here instead.
      if (error instanceof CancelledError || options.signal?.aborted) throw error;
    }
  }
  const pass = new StatisticsPass(runtime, dataset, needs, options);
  try {
    await pass.accumulate();
    if (needs.sensitivity) await refineCancelledPairs(pass.layers, (visit, refining) => pass.replay(visit, refining), options.signal);
    return pass.result();
  } finally {
    pass.dispose();
  }
}

/**
 * The statistics of one dataset, kept open after the batches for the refinement; a worker runs
 * one on its share of the samples. Call `dispose` when done.
 */
export class StatisticsPass {
  readonly layers: LayerStatistics[];
  readonly batchSize: number;
  private readonly probes: ProbeBlocks;
  private readonly cache: SensitivityCache | null;
  private readonly shiftsGiven: boolean;

  /** `shifts`, when given, replace the shifts taken from the first batch (a worker's share). */
  constructor(
    private readonly runtime: Runtime,
    private readonly dataset: Dataset,
    private readonly needs: StatisticsNeeds,
    private readonly options: StatisticsOptions,
    shifts?: Float64Array[],
  ) {
    this.layers = runtime.plan.stages.map(({ layer }) => emptyStatistics(layer.units, layer.inputs, needs));
    shifts?.forEach((shift, index) => this.layers[index].shift.set(shift));
    this.shiftsGiven = shifts !== undefined;
    const outputs = runtime.outputSize;
    const probeCount = Math.min(outputs, options.maxExactOutputs ?? defaultMaxExactOutputs);
    this.probes = new ProbeBlocks(tf.tidy(() => makeProbes(outputs, probeCount, options.seed)));
    this.batchSize = chooseBatchSize(runtime, probeCount, options.batchSize);
    this.cache = needs.sensitivity ? createCache(runtime, dataset, options.cacheBytes) : null;
  }

  /** Adds every batch of the dataset. */
  async accumulate(): Promise<void> {
    const { dataset, options } = this;
    for (let start = 0; start < dataset.samples; start += this.batchSize) {
      const end = Math.min(dataset.samples, start + this.batchSize);
      const firstBatch = start === 0 && !this.shiftsGiven;
      tf.tidy(() => accumulateBatch(this.runtime, dataset, { start, end, firstBatch }, this.probes, this.needs, options, this.layers, this.cache));
      options.onProgress?.({
        fraction: end / dataset.samples,
        message: `statistics: ${end} of ${dataset.samples} samples`,
      });
      await checkpoint(options.signal);
    }
  }

  /** Hands the `s` and inputs of the layers being refined to `visit`, from memory or by running again. */
  replay(visit: SensitivityVisitor, refining: boolean[]): Promise<void> {
    if (this.cache) return this.cache.replay(visit, refining);
    const options = { ...this.options, batchSize: this.batchSize };
    return replayBatches(this.runtime, this.dataset, this.probes, options, refining, visit);
  }

  /** Returns the statistics collected so far. */
  result(): NetworkStatistics {
    const outputs = this.runtime.outputSize;
    const count = this.probes.count;
    return {
      samples: this.dataset.samples,
      layers: this.layers,
      probes: count < outputs ? { count, seed: this.options.seed } : undefined,
    };
  }

  /** Releases the probe tensors. */
  dispose(): void {
    this.probes.dispose();
  }
}

/**
 * Runs forward and backward again over every batch and hands the `s` and `a` of each refining
 * layer to `visit`; the backward pass stops at the first refining layer.
 */
async function replayBatches(
  runtime: Runtime,
  dataset: Dataset,
  probes: ProbeBlocks,
  options: StatisticsOptions,
  refining: boolean[],
  visit: SensitivityVisitor,
): Promise<void> {
  const lowest = refining.indexOf(true);
  for (let start = 0; start < dataset.samples; start += options.batchSize) {
    const end = Math.min(dataset.samples, start + options.batchSize);
    tf.tidy(() => {
      const x = batchOf(dataset, start, end);
      const trace = runtime.trace(x);
      forEachSensitivity(runtime, x, trace, probes, options, lowest, (index, s) => {
        if (!refining[index]) return;
        visit(index, end - start, s.dataSync() as Float32Array, trace.inputs[index].dataSync() as Float32Array);
      });
    });
    await checkpoint(options.signal);
  }
}

/**
 * Calls `visit` with `s` (`[batch, units]`) of every dense layer from the last down to `lowest`,
 * by the method the options choose. Call inside `tidy`.
 */
function forEachSensitivity(
  runtime: Runtime,
  x: tf.Tensor2D,
  trace: Trace,
  probes: ProbeBlocks,
  options: Pick<StatisticsOptions, 'reference' | 'sensitivityMethod'>,
  lowest: number,
  visit: (index: number, s: tf.Tensor2D) => void,
): void {
  const batch = x.shape[0];
  if (options.sensitivityMethod === 'autodiff') {
    const all = autodiffSensitivities(runtime, x, probes.matrix, options.reference);
    for (let index = all.length - 1; index >= lowest; index--) visit(index, all[index]);
    return;
  }
  const g = outputGradients(runtime, trace, probes.block(batch), options.reference);
  backward(runtime, trace, g, (index, gradient) => visit(index, sensitivityOf(gradient, probes.count, batch)), lowest);
}

/**
 * Returns `s` of every dense layer for the samples `x`, summed exactly over the outputs, by the
 * chosen method; for checks and tests. Call inside `tidy`.
 */
export function sensitivitiesFor(
  runtime: Runtime,
  x: tf.Tensor2D,
  reference: ReferenceOutput,
  sensitivityMethod: SensitivityMethod,
): tf.Tensor2D[] {
  const probes = new ProbeBlocks(tf.eye(runtime.outputSize) as tf.Tensor2D);
  try {
    const result: tf.Tensor2D[] = [];
    forEachSensitivity(runtime, x, runtime.trace(x), probes, { reference, sensitivityMethod }, 0, (index, s) => {
      result[index] = s;
    });
    return result;
  } finally {
    probes.dispose();
  }
}

/** The probe rows broadcast over a batch, `[probes, batch, outputs]`, made once per batch size. */
class ProbeBlocks {
  private readonly blocks = new Map<number, tf.Tensor3D>();

  constructor(private readonly probes: tf.Tensor2D) {}

  get count(): number {
    return this.probes.shape[0];
  }

  /** The probe vectors, `[count, outputs]`. */
  get matrix(): tf.Tensor2D {
    return this.probes;
  }

  block(batch: number): tf.Tensor3D {
    let block = this.blocks.get(batch);
    if (!block) {
      const [count, outputs] = this.probes.shape;
      const shaped = tf.tidy(() => tf.broadcastTo(tf.reshape(this.probes, [count, 1, outputs]), [count, batch, outputs]));
      block = tf.keep(shaped) as tf.Tensor3D;
      this.blocks.set(batch, block);
    }
    return block;
  }

  dispose(): void {
    this.probes.dispose();
    for (const block of this.blocks.values()) block.dispose();
  }
}

/** Returns `s = Σ_probes g²` as `[batch, units]` from `g` of shape `[probes * batch, units]`. */
function sensitivityOf(g: tf.Tensor2D, probes: number, batch: number): tf.Tensor2D {
  return tf.tidy(() => tf.sum(tf.square(tf.reshape(g, [probes, batch, g.shape[1]])), 0) as tf.Tensor2D);
}

function emptyStatistics(units: number, inputs: number, needs: StatisticsNeeds): LayerStatistics {
  const matrix = (refining: boolean) => new Float64Array(refining ? units * inputs : 0);
  const vector = (refining: boolean, size: number) => new Float64Array(refining ? size : 0);
  return {
    units,
    inputs,
    shift: new Float64Array(inputs),
    m0: vector(needs.sensitivity, units),
    m1: matrix(needs.sensitivity),
    m2: matrix(needs.sensitivity),
    inputSum: vector(needs.inputNorms, inputs),
    inputSquareSum: vector(needs.inputNorms, inputs),
    lossGradient: matrix(needs.lossGradient),
  };
}

/**
 * Returns `[probes, outputs]`: the identity when every output gets its own backward pass,
 * otherwise random ±1 rows scaled by `1/sqrt(probes)` so that the squared sums average.
 */
function makeProbes(outputs: number, count: number, seed: number): tf.Tensor2D {
  if (count === outputs) return tf.eye(outputs) as tf.Tensor2D;
  const values = new Float32Array(count * outputs);
  const random = mulberry32(seed);
  const scale = 1 / Math.sqrt(count);
  for (let i = 0; i < values.length; i++) values[i] = random() < 0.5 ? -scale : scale;
  return tf.tensor2d(values, [count, outputs]);
}

/** Picks a batch size that keeps the backward tensors near 8 M values (32 MB). */
function chooseBatchSize(runtime: Runtime, probes: number, requested: number): number {
  const widest = Math.max(...runtime.plan.stages.map(({ layer }) => Math.max(layer.units, layer.inputs)));
  const limit = Math.floor((8 * 1024 * 1024) / Math.max(1, probes * widest));
  return Math.max(1, Math.min(requested, limit));
}

/** Keeps `s` and the layer inputs for the refinement when they fit; the data is the first input. */
function createCache(runtime: Runtime, dataset: Dataset, budget: number | undefined): SensitivityCache | null {
  const stages = runtime.plan.stages;
  const firstInput = runtime.plan.before.length === 0 ? dataset.features : null;
  const units = stages.map(({ layer }) => layer.units);
  const inputs = stages.map(({ layer }) => layer.inputs);
  return SensitivityCache.create(units, inputs, dataset.samples, firstInput, budget);
}

/** Adds one batch's sums to `layers`; reads each product as soon as it is made. Call inside `tidy`. */
function accumulateBatch(
  runtime: Runtime,
  dataset: Dataset,
  { start, end, firstBatch }: { start: number; end: number; firstBatch: boolean },
  probes: ProbeBlocks,
  needs: StatisticsNeeds,
  options: StatisticsOptions,
  layers: LayerStatistics[],
  cache: SensitivityCache | null,
): void {
  const x = batchOf(dataset, start, end);
  const trace = runtime.trace(x);
  if (needs.sensitivity) {
    forEachSensitivity(runtime, x, trace, probes, options, 0, (index, s) => {
      const a = trace.inputs[index];
      cache?.store(index, start, s.dataSync() as Float32Array, () => a.dataSync() as Float32Array);
      addSensitivitySums(layers[index], s, a, firstBatch);
      s.dispose();
    });
  }
  if (needs.inputNorms) {
    trace.inputs.forEach((a, index) => {
      const shifted = tf.sub(a, tf.tensor1d(Float32Array.from(layers[index].shift)));
      addTo(layers[index].inputSum, tf.sum(shifted, 0));
      addTo(layers[index].inputSquareSum, tf.sum(tf.square(shifted), 0));
    });
  }
  if (needs.lossGradient) {
    const labels = labelsOf(dataset, start, end);
    backward(runtime, trace, lossGradientAtLogits(runtime, trace, labels, dataset), (index, g) => {
      const product = tf.matMul(tf.transpose(g), trace.inputs[index]);
      addTo(layers[index].lossGradient, product);
      product.dispose();
    });
  }
}

/** Values of one product read back at a time; wide layers are split into blocks of units. */
const productBlockValues = 4 * 2 ** 20;

/**
 * Adds one batch's `m0`, `M1` and `M2`, the two products fused into one over `[a', a'²]` and
 * split into blocks of units so that wide layers need no full-size temporary. Fixes the shift
 * on the first batch.
 */
function addSensitivitySums(statistics: LayerStatistics, s: tf.Tensor2D, a: tf.Tensor2D, firstBatch: boolean): void {
  if (firstBatch) statistics.shift.set(chooseShift(a.dataSync() as Float32Array, a.shape[0], a.shape[1]));
  const { units, inputs } = statistics;
  const rows = Math.max(1, Math.floor(productBlockValues / (2 * inputs)));
  tf.tidy(() => {
    const shifted = tf.sub(a, tf.tensor1d(Float32Array.from(statistics.shift)));
    const moments = tf.concat([shifted, tf.square(shifted)], 1);
    const sT = tf.transpose(s);
    addTo(statistics.m0, tf.sum(s, 0));
    for (let first = 0; first < units; first += rows) {
      const count = Math.min(rows, units - first);
      const block = count === units ? sT : tf.slice(sT, [first, 0], [count, sT.shape[1]]);
      const product = tf.matMul(block, moments);
      addMoments(statistics, first, product.dataSync() as Float32Array);
      tf.dispose([product, block === sT ? [] : block].flat());
    }
  });
}

/**
 * Picks each input's shift from the first batch: the value that at least half of the samples
 * take exactly, when there is one (a ReLU's zero after batch normalization, a blank pixel, a
 * one-hot column), so that those samples add exact zeros to the moments; otherwise the mean.
 */
export function chooseShift(values: Float32Array, batch: number, inputs: number): Float64Array {
  const shift = new Float64Array(inputs);
  for (let j = 0; j < inputs; j++) {
    // Boyer-Moore majority vote, then a count of the candidate.
    let candidate = values[j];
    let votes = 0;
    let sum = 0;
    for (let n = 0; n < batch; n++) {
      const value = values[n * inputs + j];
      sum += value;
      if (votes === 0) candidate = value;
      votes += value === candidate ? 1 : -1;
    }
    let count = 0;
    for (let n = 0; n < batch; n++) if (values[n * inputs + j] === candidate) count++;
    shift[j] = 2 * count >= batch ? candidate : Math.fround(sum / batch);
  }
  return shift;
}

/** Adds a tensor's values to a float64 sum. */
function addTo(target: Float64Array, sum: tf.Tensor): void {
  const values = sum.dataSync();
  for (let i = 0; i < values.length; i++) target[i] += values[i];
}

/** Adds a `[rows, 2 * inputs]` product whose rows hold `M1` then `M2` of units `first...`. */
function addMoments(statistics: LayerStatistics, first: number, values: Float32Array): void {
  const { inputs, m1, m2 } = statistics;
  const rows = values.length / (2 * inputs);
  for (let r = 0; r < rows; r++) {
    const row = 2 * r * inputs;
    const target = (first + r) * inputs;
    for (let j = 0; j < inputs; j++) {
      m1[target + j] += values[row + j];
      m2[target + j] += values[row + inputs + j];
    }
  }
}

/**
 * Returns `∂(vᵀf)/∂z_L` for every probe `v`, stacked as `[probes * batch, units_L]`, where `f` is
 * the reference output and `z_L` the last dense layer's pre-activation.
 */
function outputGradients(
  runtime: Runtime,
  trace: Trace,
  block: tf.Tensor3D,
  reference: ReferenceOutput,
): tf.Tensor2D {
  const [count, batch, outputs] = block.shape;
  let perProbe: tf.Tensor = block;
  const final = runtime.plan.head.final;
  if (reference === 'output' && final === 'softmax') {
    const p = tf.softmax(trace.logits);
    const projected = tf.sum(tf.mul(perProbe, p), 2, true);
    perProbe = tf.mul(p, tf.sub(perProbe, projected));
  } else if (reference === 'output' && final === 'sigmoid') {
    const p = tf.sigmoid(trace.logits);
    perProbe = tf.mul(perProbe, tf.mul(p, tf.sub(1, p)));
  }
  const last = trace.derivatives[trace.derivatives.length - 1];
  const g = last ? tf.mul(perProbe, last) : perProbe;
  return tf.reshape(g, [count * batch, outputs]);
}

/** Returns `∂L/∂z_L` per sample for the task's loss, `[batch, outputs]`. */
function lossGradientAtLogits(
  runtime: Runtime,
  trace: Trace,
  labels: tf.Tensor2D,
  dataset: Dataset,
): tf.Tensor2D {
  const logits = trace.logits;
  const lastDerivative = trace.derivatives[trace.derivatives.length - 1];
  const final = runtime.plan.head.final;
  const outputs = runtime.outputSize;
  let g: tf.Tensor2D;
  if (dataset.labelKind === 'class' && (final === 'softmax' || (final === null && outputs > 1))) {
    const oneHot = tf.cast(tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), outputs), 'float32');
    g = tf.sub(tf.softmax(logits), oneHot);
  } else if (dataset.labelKind === 'class' && outputs === 1) {
    g = tf.sub(final === 'sigmoid' ? tf.sigmoid(logits) : logits, labels);
  } else {
    const prediction = runtime.applyHead(logits);
    let d = tf.mul(2 / outputs, tf.sub(prediction, labels));
    if (final === 'sigmoid') d = tf.mul(d, tf.mul(prediction, tf.sub(1, prediction)));
    if (final === 'softmax') {
      const projected = tf.sum(tf.mul(d, prediction), 1, true);
      d = tf.mul(prediction, tf.sub(d, projected));
    }
    g = d as tf.Tensor2D;
  }
  return (lastDerivative ? tf.mul(g, lastDerivative) : g) as tf.Tensor2D;
}

/**
 * Propagates `g = ∂/∂z_L` back through the dense stages, calling `visit` with `∂/∂z_l` of each
 * stage from the last down to stage `lowest`. `g` is `[rows, units_L]` where rows are `probes * batch`.
 */
function backward(
  runtime: Runtime,
  trace: Trace,
  g: tf.Tensor2D,
  visit: (index: number, g: tf.Tensor2D) => void,
  lowest = 0,
): void {
  const stages = runtime.plan.stages.length;
  const batch = trace.logits.shape[0];
  let current = g;
  for (let index = stages - 1; index >= lowest; index--) {
    visit(index, current);
    if (index === lowest) break;
    // Each gradient is freed once the next exists, so wide layers do not pile up until the end.
    const previous = current;
    current = tf.tidy(() => {
      const upstream = runtime.backwardProduct(index, previous);
      const derivative = trace.derivatives[index - 1];
      if (!derivative) return upstream;
      const [rows, width] = upstream.shape;
      const repeated = tf.reshape(upstream, [rows / batch, batch, width]);
      return tf.reshape(tf.mul(repeated, derivative), [rows, width]) as tf.Tensor2D;
    });
    if (previous !== g) previous.dispose();
  }
}

/** Returns samples `[start, end)` as a `[batch, features]` tensor. */
export function batchOf(dataset: Dataset, start: number, end: number): tf.Tensor2D {
  const width = dataset.featureCount;
  return tf.tensor2d(dataset.features.subarray(start * width, end * width), [end - start, width]);
}

/** Returns labels `[start, end)` as a `[batch, labelWidth]` tensor. */
export function labelsOf(dataset: Dataset, start: number, end: number): tf.Tensor2D {
  if (!dataset.labels) throw new Error('internal: labels requested from a dataset without labels');
  const width = dataset.labelWidth;
  return tf.tensor2d(dataset.labels.subarray(start * width, end * width), [end - start, width]);
}

/** A small seeded generator of uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
