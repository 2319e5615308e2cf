/**
 * Chooses which weights to remove: exactly `round(p · count)` of them, smallest scores first,
 * ties broken by position (layer order, then row-major index), so the achieved sparsity equals
 * the target. Weights already removed (masked, or exactly zero) are always part of the choice.
 */
import { yieldToEventLoop } from '../progress';

/** Scores of one layer and the weights already removed from it. */
export interface SelectionLayer {
  importance: Float32Array;
  /** 1 where the weight is already removed. */
  removed: Uint8Array;
}

/** Returns, per layer, how many weights it may hold removed under a per-layer sparsity cap. */
export function layerCaps(layers: readonly SelectionLayer[], maxLayerSparsity: number): number[] {
  return layers.map(({ removed }) => {
    const cap = Math.floor(maxLayerSparsity * removed.length + 1e-9);
    return Math.max(cap, countRemoved(removed));
  });
}

/**
 * Extends each layer's `removed` mask to `targets[l]` weights (never fewer than already removed),
 * taking the smallest scores among the weights still present. Returns the newly removed indices.
 */
export async function selectPerLayer(
  layers: readonly SelectionLayer[],
  targets: readonly number[],
): Promise<Uint32Array[]> {
  const added: Uint32Array[] = [];
  for (const [index, layer] of layers.entries()) {
    const wanted = Math.min(layer.removed.length, targets[index]) - countRemoved(layer.removed);
    const chosen = wanted > 0 ? await smallestPresent(layer, wanted) : new Uint32Array(0);
    for (const k of chosen) layer.removed[k] = 1;
    added.push(chosen);
  }
  return added;
}

/**
 * Extends the masks so that `target` weights are removed over all layers together, with one
 * threshold, while no layer goes over its cap. Returns the newly removed indices per layer.
 */
export async function selectGlobal(
  layers: readonly SelectionLayer[],
  target: number,
  caps: readonly number[],
): Promise<Uint32Array[]> {
  const added: Uint32Array[][] = layers.map(() => []);
  const open = layers.map((_, index) => index);
  // Removed weights per layer, kept up to date by each commit instead of counted again.
  const removedCounts = layers.map((layer) => countRemoved(layer.removed));
  let remaining = target - removedCounts.reduce((sum, count) => sum + count, 0);
  while (remaining > 0 && open.length > 0) {
    const picked = await smallestAcross(layers, open, remaining);
    // Layers that would pass their cap take only up to it and leave the choice; the rest repeat.
    const full = open.filter((index) => picked[index].length >= caps[index] - removedCounts[index]);
    if (full.length === 0) {
      picked.forEach((indices, index) => commit(layers[index], indices, added[index]));
      break;
    }
    for (const index of full) {
      const take = await smallestPresent(layers[index], caps[index] - removedCounts[index]);
      commit(layers[index], take, added[index]);
      removedCounts[index] += take.length;
      remaining -= take.length;
      open.splice(open.indexOf(index), 1);
    }
  }
  return added.map(concatenate);
}

function commit(layer: SelectionLayer, indices: Uint32Array, added: Uint32Array[]): void {
  for (let i = 0; i < indices.length; i++) layer.removed[indices[i]] = 1;
  added.push(indices);
}

function concatenate(parts: Uint32Array[]): Uint32Array {
  if (parts.length === 1) return parts[0];
  const joined = new Uint32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Returns the `count` present weights of the open layers with the smallest scores. */
async function smallestAcross(
  layers: readonly SelectionLayer[],
  open: readonly number[],
  count: number,
): Promise<Uint32Array[]> {
  const present = layers.map((layer, index) =>
    open.includes(index) ? layer.removed.length - countRemoved(layer.removed) : 0,
  );
  const total = present.reduce((sum, count) => sum + count, 0);
  const values = new Float32Array(total);
  let next = 0;
  for (const index of open) {
    next = gatherPresent(layers[index], values, next);
    await yieldToEventLoop();
  }
  const { value: threshold, below } = await rankedValue(values, Math.min(count, total));
  // Ties at the threshold go by position, so the layers are visited in order.
  let equalBudget = Math.min(count, total) - below;
  const picked: Uint32Array[] = layers.map(() => new Uint32Array(0));
  for (const index of open) {
    await yieldToEventLoop();
    // Room for every present weight, trimmed to the ones chosen, so one pass is enough.
    const room = new Uint32Array(present[index]);
    const { count: chosen, ties } = pickLayer(layers[index], threshold, equalBudget, room);
    picked[index] = room.subarray(0, chosen);
    equalBudget -= ties;
  }
  return picked;
}

/**
 * Writes into `into` the indices of the present weights of a layer that score below `threshold`,
 * and of up to `equalBudget` of those at it. Returns how many, and how many of them are ties.
 */
function pickLayer(
  layer: SelectionLayer,
  threshold: number,
  equalBudget: number,
  into: Uint32Array,
): { count: number; ties: number } {
  const { importance, removed } = layer;
  let count = 0;
  let ties = 0;
  for (let k = 0; k < importance.length; k++) {
    if (removed[k]) continue;
    const score = sortableScore(importance[k]);
    if (score < threshold || (score === threshold && ties < equalBudget)) {
      if (score === threshold) ties++;
      into[count++] = k;
    }
  }
  return { count, ties };
}

/** Returns the `count` present weights of one layer with the smallest scores, ties by position. */
async function smallestPresent(layer: SelectionLayer, count: number): Promise<Uint32Array> {
  return (await smallestAcross([layer], [0], count))[0];
}

function gatherPresent(layer: SelectionLayer, values: Float32Array, start: number): number {
  let next = start;
  for (let k = 0; k < layer.importance.length; k++) {
    if (!layer.removed[k]) values[next++] = sortableScore(layer.importance[k]);
  }
  return next;
}

/** NaN scores sort last: a weight whose importance is unknown is kept. */
function sortableScore(score: number): number {
  return Number.isNaN(score) ? Infinity : score;
}

/**
 * Returns the `k`-th smallest value (1-based) of `values`, reordering them: quickselect with a
 * median-of-three pivot, linear on average where a sort of 50 million scores takes seconds.
 */
export async function kthSmallest(values: Float32Array, k: number): Promise<number> {
  return (await rankedValue(values, k)).value;
}

/** Windows of quickselect above this many values are followed by a pause for the event loop. */
const pauseAfterValues = 4_000_000;

/**
 * Returns the `k`-th smallest value like `kthSmallest`, and how many values are smaller. Every
 * value left of the search window is smaller than every value in it, which gives that count.
 */
async function rankedValue(values: Float32Array, k: number): Promise<{ value: number; below: number }> {
  if (k <= 0) return { value: -Infinity, below: 0 };
  let low = 0;
  let high = values.length - 1;
  const wanted = k - 1;
  while (low < high) {
    if (high - low > pauseAfterValues) await yieldToEventLoop();
    const pivot = medianOfThree(values[low], values[(low + high) >>> 1], values[high]);
    // Three-way partition: [low, lt) < pivot, [lt, gt] = pivot, (gt, high] > pivot.
    let lt = low;
    let gt = high;
    let i = low;
    while (i <= gt) {
      const value = values[i];
      if (value < pivot) swap(values, lt++, i++);
      else if (value > pivot) swap(values, i, gt--);
      else i++;
    }
    if (wanted < lt) high = lt - 1;
    else if (wanted > gt) low = gt + 1;
    else return { value: pivot, below: lt };
  }
  return { value: values[wanted], below: low };
}

function medianOfThree(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

function swap(values: Float32Array, i: number, j: number): void {
  const value = values[i];
  values[i] = values[j];
  values[j] = value;
}

/** Counts the removed weights of a mask. */
export function countRemoved(removed: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < removed.length; i++) count += removed[i];
  return count;
}
