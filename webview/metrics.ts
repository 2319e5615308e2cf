/** Metric names and one-line metric summaries of the panel. */
import type { Metrics } from '../src/core/reports';
import { formatNumber, formatPercent } from './dom';

/** Human-readable metric names. */
export const metricNames: Record<keyof Metrics, string> = {
  accuracy: 'accuracy',
  cross_entropy: 'cross-entropy',
  output_mse: 'output MSE',
  mse: 'MSE',
  mae: 'MAE',
};

/** Formats metrics on one line, each with the original value in brackets when given. */
export function describeMetrics(metrics: Metrics, baseline: Metrics | null): string {
  const parts = (Object.keys(metricNames) as (keyof Metrics)[])
    .filter((key) => metrics[key] !== undefined)
    .map((key) => {
      const value = metrics[key] as number;
      const shown = key === 'accuracy' ? formatPercent(value) : formatNumber(value);
      const original = baseline?.[key];
      const before = original === undefined || key === 'output_mse' ? '' : ` (original ${key === 'accuracy' ? formatPercent(original) : formatNumber(original)})`;
      return `${metricNames[key]} ${shown}${before}`;
    });
  return parts.join(' · ');
}
