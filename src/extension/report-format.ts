/** Markdown reports of the jobs, for the report documents the commands open. */
import * as path from 'node:path';
import type { CompareReport, Metrics, PruneReport, SensitivityReport } from '../core/reports';
import { sparsityLabel } from './prune-options';

const metricNames: (keyof Metrics)[] = ['accuracy', 'cross_entropy', 'mse', 'mae', 'output_mse'];

/** Formats metrics as `accuracy 0.967, cross_entropy 0.081`, or `no metrics`. */
export function formatMetrics(metrics: Metrics): string {
  const parts = metricNames
    .filter((name) => metrics[name] !== undefined)
    .map((name) => `${name} ${formatNumber(metrics[name] as number)}`);
  return parts.length > 0 ? parts.join(', ') : 'no metrics';
}

function formatNumber(value: number): string {
  return Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 0.001)
    ? value.toExponential(3)
    : value.toFixed(4);
}

/** Formats a prune report: summary, metrics before and after, per-layer sparsity, notes, JSON. */
export function formatPruneReport(report: PruneReport): string {
  const lines = [
    `# PruneLens: ${path.basename(report.output)}`,
    '',
    `- Method: ${report.method}, ${report.steps} step(s), scope ${report.scope}`,
    ...(report.method === 'auto'
      ? [
          `- Chosen: ${report.chosen.method}, ${report.chosen.steps} step(s), scope ${report.chosen.scope}`,
        ]
      : []),
    `- Sparsity: ${sparsityLabel(report.sparsity)}% of dense weights are zero`,
    `- Calibration data: ${report.calibration.source}`,
    `- Evaluation data: ${report.evaluation.source}`,
    `- Backend: ${report.backend}, ${report.seconds.toFixed(2)} s`,
    `- Files: ${report.files.join(', ')}`,
    '',
    '| metric | before | after |',
    '|---|---|---|',
    ...metricNames
      .filter(
        (name) =>
          report.before.metrics[name] !== undefined || report.after.metrics[name] !== undefined,
      )
      .map(
        (name) =>
          `| ${name} | ${cell(report.before.metrics[name])} | ${cell(report.after.metrics[name])} |`,
      ),
    '',
    ...autoLines(report),
    '| layer | pruned | of | sparsity |',
    '|---|---|---|---|',
    ...report.layers.map(
      (layer) =>
        `| ${layer.name} | ${layer.pruned} | ${layer.count} | ${sparsityLabel(layer.sparsity)}% |`,
    ),
    '',
    ...(report.notes.length > 0
      ? ['Notes:', '', ...report.notes.map((note) => `- ${note}`), '']
      : []),
    '```json',
    JSON.stringify(report, null, 2),
    '```',
    '',
  ];
  return lines.join('\n');
}

/** Lines on the automatic choice: what ran, and each candidate's validation metrics. */
function autoLines(report: PruneReport): string[] {
  if (!report.auto) return [];
  const { auto } = report;
  return [
    `Automatic choice: ${auto.winner} (${auto.reason}), fitted on ${auto.fitSamples} and ` +
      `validated on ${auto.validationSamples} calibration samples in ${auto.seconds.toFixed(1)} s.`,
    '',
    '| candidate | steps | scope | validation metrics |',
    '|---|---|---|---|',
    ...auto.candidates.map(
      (candidate) =>
        `| ${candidate.name} | ${candidate.steps} | ${candidate.scope} | ${formatMetrics(candidate.metrics)} |`,
    ),
    '',
  ];
}

/** Formats a sensitivity report: one row per layer, one column per sparsity. */
export function formatSensitivityReport(model: string, report: SensitivityReport): string {
  const header = `| layer | ${report.sparsities.map((value) => `${sparsityLabel(value)}%`).join(' | ')} |`;
  const rows = report.layers.map(
    (layer) =>
      `| ${layer.name} | ${layer.values.map((values) => cell(values[report.metric])).join(' | ')} |`,
  );
  return [
    `# PruneLens: layer sensitivity of ${path.basename(model)}`,
    '',
    `${report.metric} after pruning one layer at a time with ${report.method} (${report.backend}, ${report.seconds.toFixed(1)} s).`,
    '',
    header,
    `|---|${report.sparsities.map(() => '---').join('|')}|`,
    ...rows,
    '',
  ].join('\n');
}

/** Formats a comparison report: one row per method, one column per sparsity. */
export function formatCompareReport(model: string, report: CompareReport): string {
  const header = `| method | ${report.sparsities.map((value) => `${sparsityLabel(value)}%`).join(' | ')} |`;
  const rows = report.methods.map(
    (method) =>
      `| ${method.name} | ${method.results.map((values) => cell(values[report.metric])).join(' | ')} |`,
  );
  return [
    `# PruneLens: pruning methods on ${path.basename(model)}`,
    '',
    `${report.metric} after pruning; the original model has ${cell(report.original[report.metric])} (${report.backend}, ${report.seconds.toFixed(1)} s).`,
    '',
    header,
    `|---|${report.sparsities.map(() => '---').join('|')}|`,
    ...rows,
    '',
  ].join('\n');
}

function cell(value: number | undefined): string {
  return value === undefined ? '–' : formatNumber(value);
}
