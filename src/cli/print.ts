/** Human-readable output of the CLI's reports. */
import type {
  CompareReport,
  EvaluateReport,
  InspectReport,
  Metrics,
  PruneReport,
  SensitivityReport,
} from '../core/reports';

/** Formats rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}

/** Formats one metric value. */
export function formatMetric(name: keyof Metrics, value: number | undefined): string {
  if (value === undefined) return '-';
  if (name === 'accuracy') return `${(value * 100).toFixed(2)}%`;
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(3) : value.toFixed(4);
}

/** Formats a set of metrics on one line. */
export function formatMetrics(metrics: Metrics): string {
  const entries = Object.entries(metrics) as [keyof Metrics, number][];
  return entries.length === 0 ? '(no data)' : entries.map(([name, value]) => `${name} ${formatMetric(name, value)}`).join(', ');
}

function write(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Prints `inspect`. */
export function printInspect(report: InspectReport): void {
  write(`${report.path}`);
  write(`format ${report.format}, input [${report.inputShape.join(', ')}], ${report.params.toLocaleString('en-US')} parameters, ${report.prunable.toLocaleString('en-US')} prunable, sparsity ${(report.sparsity * 100).toFixed(2)}%`);
  const rows = [['layer', 'type', 'shape', 'activation', 'bias', 'params', 'zeros']];
  for (const layer of report.layers) {
    rows.push([
      layer.name,
      layer.type,
      layer.units !== undefined ? `${layer.inputs}→${layer.units}` : '',
      layer.activation ?? '',
      describeBias(layer.bias),
      String(layer.params),
      layer.zeros === undefined ? '' : String(layer.zeros),
    ]);
  }
  write(table(rows));
  for (const note of report.notes) write(`note: ${note}`);
}

function describeBias(bias: boolean | undefined): string {
  if (bias === undefined) return '';
  return bias ? 'yes' : 'no';
}

/** Prints `prune`. */
export function printPrune(report: PruneReport): void {
  write(`wrote ${report.files.join(', ')}`);
  if (report.auto) printAuto(report.auto);
  const method = report.method === 'auto' ? `auto → ${report.chosen.method}` : report.method;
  write(`method ${method}, ${report.steps} step(s), ${report.scope} scope, sparsity ${(report.sparsity * 100).toFixed(2)}%, backend ${report.backend}, ${report.seconds.toFixed(1)} s`);
  write(table([['layer', 'sparsity', 'pruned'], ...report.layers.map((layer) => [layer.name, `${(layer.sparsity * 100).toFixed(2)}%`, `${layer.pruned} of ${layer.count}`])]));
  write(`before: ${formatMetrics(report.before.metrics)}`);
  write(`after:  ${formatMetrics(report.after.metrics)}`);
  for (const note of report.notes) write(`note: ${note}`);
}

function printAuto(auto: NonNullable<PruneReport['auto']>): void {
  write(`auto: ${auto.winner} won (${auto.reason}; ${auto.seconds.toFixed(1)} s)`);
  const names = Object.keys(auto.candidates[0]?.metrics ?? {}) as (keyof Metrics)[];
  const rows = [['candidate', ...names, 'seconds']];
  for (const candidate of auto.candidates) {
    rows.push([candidate.name, ...names.map((name) => formatMetric(name, candidate.metrics[name])), candidate.seconds.toFixed(1)]);
  }
  write(table(rows));
}

/** Prints `evaluate`. */
export function printEvaluate(report: EvaluateReport): void {
  write(`${report.samples} samples (${report.task}): ${formatMetrics(report.metrics)}`);
  for (const note of report.notes) write(`note: ${note}`);
}

/** Prints `sensitivity`. */
export function printSensitivity(report: SensitivityReport): void {
  write(`${report.metric} after pruning one layer at a time (${report.method}, one-shot)`);
  const header = ['layer', ...report.sparsities.map((p) => `${Math.round(p * 100)}%`)];
  const rows = report.layers.map((layer) => [layer.name, ...layer.values.map((metrics) => formatMetric(report.metric, metrics[report.metric]))]);
  write(table([header, ...rows]));
}

/** Prints `compare`. */
export function printCompare(report: CompareReport): void {
  write(`${report.metric} after pruning (original ${formatMetric(report.metric, report.original[report.metric])})`);
  const header = ['method', ...report.sparsities.map((p) => `${Math.round(p * 100)}%`)];
  const rows = report.methods.map((entry) => [entry.name, ...entry.results.map((metrics) => formatMetric(report.metric, metrics[report.metric]))]);
  if (report.auto) rows.push(['auto', ...report.auto.map((entry) => formatMetric(report.metric, entry.metrics[report.metric]))]);
  write(table([header, ...rows]));
  if (report.auto) write(`auto chose: ${report.auto.map((entry) => `${Math.round(entry.sparsity * 100)}% ${entry.winner}`).join(', ')}`);
}
