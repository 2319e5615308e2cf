/** Choosing per-layer sparsities from a sensitivity report. */
import type { Metrics, SensitivityReport } from '../reports';

/** Returns true when a larger value of the metric is better. */
export function higherIsBetter(metric: keyof Metrics): boolean {
  return metric === 'accuracy';
}

/**
 * Returns, for each layer in `order`, the largest tested sparsity whose metric stays within
 * `allowed` of the original: at least `original − allowed` for accuracy, at most
 * `original + allowed` for losses. Layers the report lacks get 0. Returns null without the
 * original metric or with a negative allowance.
 */
export function pickSparsities(
  report: SensitivityReport,
  original: Metrics | null,
  allowed: number,
  order: readonly string[],
): number[] | null {
  const base = original?.[report.metric];
  if (base === undefined || !Number.isFinite(allowed) || allowed < 0) return null;
  const better = higherIsBetter(report.metric);
  return order.map((name) => {
    const layer = report.layers.find((candidate) => candidate.name === name);
    let best = 0;
    layer?.values.forEach((metrics, i) => {
      const value = metrics[report.metric];
      if (value === undefined) return;
      const within = better ? value >= base - allowed : value <= base + allowed;
      if (within) best = Math.max(best, report.sparsities[i]);
    });
    return best;
  });
}
