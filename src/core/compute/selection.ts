/**
 * Chooses which weights to remove: exactly `round(p · count)` of them, smallest scores first,
 * ties broken by position (layer order, then row-major index), so the achieved sparsity equals
 * the target. Weights already removed (masked, or exactly zero) are always part of the choice.
 */

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
export function selectPerLayer(layers: readonly SelectionLayer[], targets: readonly number[]): Uint32Array[] {
  return layers.map((layer, index) => {
    const wanted = Math.min(layer.removed.length, targets[index]) - countRemoved(layer.removed);
    if (wanted <= 0) return new Uint32Array(0);
    const chosen = smallestPresent(layer, wanted);
    for (const k of chosen) layer.removed[k] = 1;
    return chosen;
  });
}

/**
 * Extends the masks so that `target` weights are removed over all layers together, with one
 * threshold, while no layer goes over its cap. Returns the newly removed indices per layer.
 */
export function selectGlobal(
  layers: readonly SelectionLayer[],
  target: number,
  caps: readonly number[],
): Uint32Array[] {
  const added: number[][] = layers.map(() => []);
  const open = layers.map((_, index) => index);
  let remaining = target - layers.reduce((sum, layer) => sum + countRemoved(layer.removed), 0);
  while (remaining > 0 && open.length > 0) {
    const picked = smallestAcross(layers, open, remaining);
    // Layers that would pass their cap take only up to it and leave the choice; the rest repeat.
    const full: number[] = [];
    for (const index of open) {
      const room = caps[index] - countRemoved(layers[index].removed);
      if (picked[index].length >= room) full.push(index);
    }
    if (full.length === 0) {
      picked.forEach((indices, index) => commit(layers[index], indices, added[index]));
      break;
    }
    for (const index of full) {
      const room = caps[index] - countRemoved(layers[index].removed);
      const take = smallestPresent(layers[index], room);
      commit(layers[index], Array.from(take), added[index]);
      remaining -= take.length;
      open.splice(open.indexOf(index), 1);
    }
  }
  return added.map((indices) => Uint32Array.from(indices));
}

function commit(layer: SelectionLayer, indices: ArrayLike<number>, added: number[]): void {
  for (let i = 0; i < indices.length; i++) {
    layer.removed[indices[i]] = 1;
    added.push(indices[i]);
  }
}

/** Returns the `count` present weights of the open layers with the smallest scores. */
function smallestAcross(layers: readonly SelectionLayer[], open: readonly number[], count: number): number[][] {
  let total = 0;
  for (const index of open) total += layers[index].removed.length - countRemoved(layers[index].removed);
  const values = new Float32Array(total);
  let next = 0;
  for (const index of open) next = gatherPresent(layers[index], values, next);
  const threshold = kthSmallest(values, Math.min(count, total));
  let belowCount = 0;
  for (let i = 0; i < values.length; i++) if (values[i] < threshold) belowCount++;
  let equalBudget = Math.min(count, total) - belowCount;
  const picked: number[][] = layers.map(() => []);
  for (const index of open) {
    const { importance, removed } = layers[index];
    for (let k = 0; k < importance.length; k++) {
      if (removed[k]) continue;
      const score = sortableScore(importance[k]);
      if (score < threshold) picked[index].push(k);
      else if (score === threshold && equalBudget > 0) {
        picked[index].push(k);
        equalBudget--;
      }
    }
  }
  return picked;
}

/** Returns the `count` present weights of one layer with the smallest scores, ties by position. */
function smallestPresent(layer: SelectionLayer, count: number): Uint32Array {
  const picked = smallestAcross([layer], [0], count);
  return Uint32Array.from(picked[0]);
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

/** Returns the `k`-th smallest value (1-based) of `values`; sorts a copy. */
function kthSmallest(values: Float32Array, k: number): number {
  if (k <= 0) return -Infinity;
  const sorted = values.slice().sort();
  return sorted[k - 1];
}

/** Counts the removed weights of a mask. */
export function countRemoved(removed: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < removed.length; i++) count += removed[i];
  return count;
}
