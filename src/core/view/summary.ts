/**
 * Rank summaries of per-weight scores. The panel keeps one per layer so that moving a sparsity
 * slider finds thresholds and predicted output changes at once, without the full score tensor.
 */

/** A layer's scores at evenly spaced ranks, with the running sum of the sorted scores. */
export interface ScoreSummary {
  name: string;
  /** Number of weights in the layer. */
  count: number;
  /** Ranks `b_k` (number of weights removed) at which the summary is known, ascending, 0 to count. */
  ranks: Float64Array;
  /** `edges[k]`: the largest removed score when `ranks[k]` weights are removed (-Infinity at 0). */
  edges: Float32Array;
  /** `cumulative[k]`: sum of the `ranks[k]` smallest scores. */
  cumulative: Float64Array;
}

/** Summary size that keeps slider thresholds within 1/4096 of the layer's weights. */
export const defaultSummaryPoints = 4096;

/** Sorts a copy of the scores ascending. */
export function sortScores(scores: Float32Array): Float32Array {
  return scores.slice().sort();
}

/** Builds the summary of one layer from its scores sorted ascending. */
export function summarizeSorted(
  name: string,
  sorted: Float32Array,
  points = defaultSummaryPoints,
): ScoreSummary {
  const count = sorted.length;
  const intervals = Math.max(1, Math.min(count, points));
  const ranks = new Float64Array(intervals + 1);
  const edges = new Float32Array(intervals + 1);
  const cumulative = new Float64Array(intervals + 1);
  edges[0] = -Infinity;
  let sum = 0;
  let rank = 0;
  for (let k = 1; k <= intervals; k++) {
    const next = Math.round((k * count) / intervals);
    for (; rank < next; rank++) sum += sorted[rank];
    ranks[k] = next;
    edges[k] = next > 0 ? sorted[next - 1] : -Infinity;
    cumulative[k] = sum;
  }
  return { name, count, ranks, edges, cumulative };
}

/** Returns the index of the last summary point whose rank is at most `removed`. */
function segmentAt(summary: ScoreSummary, removed: number): number {
  let low = 0;
  let high = summary.ranks.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (summary.ranks[middle] <= removed) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** Returns the number of weights removed at a sparsity: `round(sparsity · count)`. */
export function removedCount(summary: ScoreSummary, sparsity: number): number {
  const clamped = Math.min(1, Math.max(0, sparsity));
  return Math.round(clamped * summary.count);
}

/**
 * Returns the score threshold at which `removed` weights go: weights whose score is at most the
 * threshold are pruned. Between summary points the threshold is interpolated linearly.
 */
export function thresholdFor(summary: ScoreSummary, removed: number): number {
  if (removed <= 0) return -Infinity;
  const k = segmentAt(summary, removed);
  if (summary.ranks[k] === removed || k === summary.ranks.length - 1) return summary.edges[k];
  const start = k === 0 ? summary.edges[1] : summary.edges[k];
  const end = summary.edges[k + 1];
  const t = (removed - summary.ranks[k]) / (summary.ranks[k + 1] - summary.ranks[k]);
  return start + (end - start) * t;
}

/** Returns the sum of the `removed` smallest scores (interpolated between summary points). */
export function removedScoreSum(summary: ScoreSummary, removed: number): number {
  if (removed <= 0) return 0;
  const k = segmentAt(summary, removed);
  if (summary.ranks[k] === removed || k === summary.ranks.length - 1) return summary.cumulative[k];
  const t = (removed - summary.ranks[k]) / (summary.ranks[k + 1] - summary.ranks[k]);
  return summary.cumulative[k] + (summary.cumulative[k + 1] - summary.cumulative[k]) * t;
}

/** Returns how many weights have a score at most `threshold` (interpolated between points). */
export function countAtMost(summary: ScoreSummary, threshold: number): number {
  const { edges, ranks } = summary;
  if (threshold < edges[1]) return 0;
  let low = 1;
  let high = edges.length - 1;
  if (threshold >= edges[high]) return summary.count;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (edges[middle] <= threshold) low = middle;
    else high = middle - 1;
  }
  const span = edges[low + 1] - edges[low];
  const t = span > 0 ? (threshold - edges[low]) / span : 0;
  return ranks[low] + Math.floor((ranks[low + 1] - ranks[low]) * t);
}

/** Per-layer sparsities reached by one global threshold, with a cap per layer. */
export function globalSparsities(
  summaries: readonly ScoreSummary[],
  sparsity: number,
  maxLayerSparsity = 1,
): number[] {
  const total = summaries.reduce((sum, summary) => sum + summary.count, 0);
  const target = Math.round(Math.min(1, Math.max(0, sparsity)) * total);
  if (target === 0) return summaries.map(() => 0);
  const removedAt = (threshold: number) =>
    summaries.reduce(
      (sum, summary) =>
        sum + Math.min(countAtMost(summary, threshold), Math.floor(maxLayerSparsity * summary.count)),
      0,
    );
  let low = Math.min(...summaries.map((summary) => summary.edges[1]));
  let high = Math.max(...summaries.map((summary) => summary.edges[summary.edges.length - 1]));
  for (let iteration = 0; iteration < 60 && removedAt(low) < target; iteration++) {
    const middle = low + (high - low) / 2;
    if (middle === low || middle === high) break;
    if (removedAt(middle) < target) low = middle;
    else high = middle;
  }
  const threshold = removedAt(low) >= target ? low : high;
  return summaries.map((summary) => {
    const removed = Math.min(countAtMost(summary, threshold), Math.floor(maxLayerSparsity * summary.count));
    return summary.count > 0 ? removed / summary.count : 0;
  });
}

/** Returns the predicted output change: the summed scores of the weights removed in each layer. */
export function predictedChange(summaries: readonly ScoreSummary[], sparsities: readonly number[]): number {
  return summaries.reduce(
    (sum, summary, i) => sum + removedScoreSum(summary, removedCount(summary, sparsities[i] ?? 0)),
    0,
  );
}
