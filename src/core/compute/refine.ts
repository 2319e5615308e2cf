/**
 * Float64 recomputation of the ECP moments where float32 sums cancelled. The spread
 * `Σ s a'² − (Σ s a')² / Σ s` loses precision when unit `i`'s weighted mean of input `j`
 * lies far from the input's shift compared with its spread (a unit that is active only on
 * samples where the input is nearly constant). Those pairs are found from the first pass and
 * summed again in float64 around their own weighted mean `μ = E[s a] / E[s]`, which cancels
 * nothing.
 */
import { checkpoint } from '../progress';
import type { LayerStatistics } from './statistics';

/** Called per batch and layer with `s` (`[batch, units]`) and the layer input (`[batch, inputs]`). */
export type SensitivityVisitor = (layer: number, batch: number, s: Float32Array, a: Float32Array) => void;

/**
 * Pairs whose shifted second moment exceeds the spread by more than this factor are refined;
 * float32 sums carry a relative error near 1e-7 per term, so at this ratio the spread is still
 * good to about 1e-5 relative before refinement.
 */
const cancellationRatio = 100;

/** Float64 sums of the pairs of one layer being refined, around each pair's first-pass mean. */
export interface RefinementSums {
  index: Uint32Array;
  mean: Float64Array;
  weight: Float64Array;
  first: Float64Array;
  second: Float64Array;
}

/** Finds the badly cancelled pairs of every layer and, if any, replays the data to refine them. */
export async function refineCancelledPairs(
  layers: LayerStatistics[],
  replay: (visit: SensitivityVisitor, refining: boolean[]) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const sums = planRefinement(layers);
  if (!sums) return;
  await replay(refinementVisitor(layers, sums), sums.map(({ index }) => index.length > 0));
  await checkpoint(signal);
  finishRefinement(layers, sums);
}

/** Returns empty sums for the badly cancelled pairs of every layer, or null when there are none. */
export function planRefinement(layers: LayerStatistics[]): RefinementSums[] | null {
  const selected = layers.map(findCancelledPairs);
  if (selected.every((index) => index.length === 0)) return null;
  return selected.map((index) => ({
    index,
    mean: meansOf(layers, selected, index),
    weight: new Float64Array(index.length),
    first: new Float64Array(index.length),
    second: new Float64Array(index.length),
  }));
}

/** Returns a visitor that adds each batch's terms to `sums`. */
export function refinementVisitor(
  layers: readonly { units: number; inputs: number }[],
  sums: RefinementSums[],
): SensitivityVisitor {
  return (layer, batch, s, a) => {
    const { index, mean, weight, first, second } = sums[layer];
    const { units, inputs } = layers[layer];
    for (let p = 0; p < index.length; p++) {
      const i = Math.floor(index[p] / inputs);
      const j = index[p] % inputs;
      let w = 0;
      let f = 0;
      let q = 0;
      for (let n = 0; n < batch; n++) {
        const sn = s[n * units + i];
        const d = a[n * inputs + j] - mean[p];
        w += sn;
        f += sn * d;
        q += sn * d * d;
      }
      weight[p] += w;
      first[p] += f;
      second[p] += q;
    }
  };
}

/** Adds sums computed on other samples (another worker's) to `target`. */
export function addRefinementSums(target: RefinementSums[], other: RefinementSums[]): void {
  target.forEach((sums, layer) => {
    for (let p = 0; p < sums.index.length; p++) {
      sums.weight[p] += other[layer].weight[p];
      sums.first[p] += other[layer].first[p];
      sums.second[p] += other[layer].second[p];
    }
  });
}

/** Stores the refined spread and mean of every pair in `layers`. */
export function finishRefinement(layers: LayerStatistics[], sums: RefinementSums[]): void {
  sums.forEach(({ index, mean, weight, first, second }, layer) => {
    if (index.length === 0) return;
    const spread = new Float64Array(index.length);
    const refinedMean = new Float64Array(index.length);
    for (let p = 0; p < index.length; p++) {
      spread[p] = weight[p] > 0 ? Math.max(0, second[p] - (first[p] * first[p]) / weight[p]) : 0;
      refinedMean[p] = weight[p] > 0 ? mean[p] + first[p] / weight[p] : 0;
    }
    layers[layer].refined = { index, spread, mean: refinedMean };
  });
}

/** Returns the positions whose spread cancelled by more than `cancellationRatio`. */
function findCancelledPairs(stats: LayerStatistics): Uint32Array {
  const { units, inputs, m0, m1, m2 } = stats;
  const found: number[] = [];
  for (let i = 0; i < units; i++) {
    if (!(m0[i] > 0)) continue;
    for (let j = 0; j < inputs; j++) {
      const k = i * inputs + j;
      const spread = m2[k] - (m1[k] * m1[k]) / m0[i];
      const mean = m1[k] / m0[i] + stats.shift[j];
      const meanCancelled = Math.abs(mean) * cancellationRatio < Math.abs(stats.shift[j]);
      if (m2[k] > 0 && (spread * cancellationRatio < m2[k] || meanCancelled)) found.push(k);
    }
  }
  return Uint32Array.from(found);
}

function meansOf(layers: LayerStatistics[], selected: Uint32Array[], index: Uint32Array): Float64Array {
  const layer = layers[selected.indexOf(index)];
  return Float64Array.from(index, (k) => {
    const i = Math.floor(k / layer.inputs);
    return layer.m1[k] / layer.m0[i] + layer.shift[k % layer.inputs];
  });
}

/** Bytes of `s` and layer inputs the first pass may keep so that the refinement needs no replay. */
export const defaultCacheBytes = 128 * 2 ** 20;

/**
 * Each layer's `s` and input for every sample, kept during the first pass while they fit in a
 * fixed budget, so that the refinement reads them instead of running the network again. Memory
 * stays bounded: above the budget `create` returns null and the data is replayed instead.
 */
export class SensitivityCache {
  private constructor(
    private readonly units: number[],
    private readonly inputs: number[],
    private readonly sensitivities: Float32Array[],
    /** Inputs of each layer; the first is the data itself when nothing precedes the first layer. */
    private readonly layerInputs: Float32Array[],
    private readonly samples: number,
    private readonly sharesFirstInput: boolean,
  ) {}

  /** Returns a cache for `samples` samples, or null when it would exceed `budgetBytes`. */
  static create(
    units: number[],
    inputs: number[],
    samples: number,
    firstInput: Float32Array | null,
    budgetBytes = defaultCacheBytes,
  ): SensitivityCache | null {
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    const stored = sum(units) + sum(inputs) - (firstInput ? inputs[0] : 0);
    if (stored * samples * 4 > budgetBytes) return null;
    const sensitivities = units.map((width) => new Float32Array(width * samples));
    const layerInputs = inputs.map((width, layer) =>
      layer === 0 && firstInput ? firstInput : new Float32Array(width * samples),
    );
    return new SensitivityCache(units, inputs, sensitivities, layerInputs, samples, firstInput !== null);
  }

  /** Stores one batch of layer `layer` starting at sample `start`; `a` is read only when needed. */
  store(layer: number, start: number, s: Float32Array, a: () => Float32Array): void {
    this.sensitivities[layer].set(s, start * this.units[layer]);
    if (layer > 0 || !this.sharesFirstInput) this.layerInputs[layer].set(a(), start * this.inputs[layer]);
  }

  /** Hands every refining layer's `s` and input, all samples at once, to `visit`. */
  async replay(visit: SensitivityVisitor, refining: boolean[]): Promise<void> {
    refining.forEach((selected, layer) => {
      if (selected) visit(layer, this.samples, this.sensitivities[layer], this.layerInputs[layer]);
    });
  }
}
