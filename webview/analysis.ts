/** The Sensitivity and Comparison tabs: long jobs with progress and Cancel, charts and exports. */
import type { Metrics, MethodName, SensitivityReport } from '../src/core/reports';
import { pickSparsities } from '../src/core/view/sensitivity';
import { formatPercent, h } from './dom';
import { LineChartView, type ChartData } from './charts';
import { metricNames } from './metrics';
import { call, RequestError, type Call } from './rpc';
import type { Palette } from './theme';

function parseFractions(text: string): number[] | null {
  const values = text.split(',').map((part) => Number(part.trim().replace(/%$/, '')));
  const fractions = values.map((value) => (value > 1 ? value / 100 : value));
  return fractions.length > 0 && fractions.every((value) => Number.isFinite(value) && value >= 0 && value <= 1) ? fractions : null;
}

/** Run/Cancel buttons with a progress line, shared by the long-running actions. */
export class JobControls {
  readonly element: HTMLElement;
  private readonly run: HTMLElement & { disabled?: boolean };
  private readonly cancel: HTMLElement & { disabled?: boolean };
  private readonly status: HTMLElement;
  private readonly ring: HTMLElement;
  private active: Call<unknown> | null = null;

  constructor(id: string, label: string, start: () => Promise<void>) {
    this.run = h('vscode-button', { id: `${id}-run`, onclick: () => void start() }, label);
    this.cancel = h('vscode-button', { id: `${id}-cancel`, appearance: 'secondary', disabled: true, onclick: () => this.active?.cancel() }, 'Cancel');
    this.ring = h('vscode-progress-ring', { hidden: true, 'aria-label': 'Working' });
    this.status = h('span', { id: `${id}-status`, role: 'status', 'aria-live': 'polite' });
    this.element = h('div', { class: 'row' }, this.run, this.cancel, this.ring, this.status);
  }

  /** Runs a request with progress; resolves with its result, or null when cancelled or failed. */
  async track<T>(request: Call<T>): Promise<T | null> {
    this.active = request as Call<unknown>;
    this.run.disabled = true;
    this.cancel.disabled = false;
    this.ring.hidden = false;
    this.status.textContent = 'Starting…';
    try {
      const result = await request.result;
      this.status.textContent = 'Done.';
      return result;
    } catch (error) {
      this.status.textContent = error instanceof RequestError && error.cancelled ? 'Cancelled.' : (error as Error).message;
      return null;
    } finally {
      this.active = null;
      this.run.disabled = false;
      this.cancel.disabled = true;
      this.ring.hidden = true;
    }
  }

  progress(fraction: number, message: string): void {
    this.status.textContent = `${formatPercent(fraction)} ${message}`;
  }

  say(text: string): void {
    this.status.textContent = text;
  }
}

/** Access of the analysis views to the panel's current settings, and to the sliders. */
export interface AnalysisContext {
  method(): MethodName;
  palette(): Palette;
  /** The unpruned model's metrics, once measured. */
  baseline(): Metrics | null;
  layerNames(): string[];
  applyLayerSparsities(sparsities: number[]): void;
  /** Sets one layer's sparsity and switches the sliders to per-layer mode. */
  applyLayerSparsity(name: string, sparsity: number): void;
}

function exportButtons(id: string, view: LineChartView, say: (text: string) => void): HTMLElement {
  const name = () => id;
  const send = async (format: 'png' | 'svg' | 'csv') => {
    try {
      let reply;
      if (format === 'png') {
        const content = await view.png();
        if (!content) return say('Run the view first.');
        reply = await call('export', { format, name: name(), content }).result;
      } else {
        const content = format === 'svg' ? view.svg() : view.csv();
        if (!content) return say('Run the view first.');
        reply = await call('export', { format, name: name(), content }).result;
      }
      say(reply.saved ? `Saved ${reply.saved}.` : 'Export cancelled.');
    } catch (error) {
      say((error as Error).message);
    }
  };
  return h(
    'div',
    { class: 'row' },
    h('vscode-button', { id: `${id}-export-png`, appearance: 'secondary', onclick: () => void send('png') }, 'Export PNG'),
    h('vscode-button', { id: `${id}-export-svg`, appearance: 'secondary', onclick: () => void send('svg') }, 'Export SVG'),
    h('vscode-button', { id: `${id}-export-csv`, appearance: 'secondary', onclick: () => void send('csv') }, 'Export CSV'),
  );
}

/** Builds the Sensitivity tab. */
export function sensitivityView(context: AnalysisContext): { element: HTMLElement; redraw(): void } {
  let report: SensitivityReport | null = null;
  const usePoint = (layerIndex: number, row: number) => {
    if (!report) return;
    const layer = report.layers[layerIndex].name;
    const sparsity = report.sparsities[row];
    context.applyLayerSparsity(layer, sparsity);
    controls.say(`Sparsity of ${layer} set to ${formatPercent(sparsity)}.`);
  };
  const chart = new LineChartView('sensitivity', context.palette, usePoint);
  const sparsities = h('vscode-text-field', { id: 'sensitivity-sparsities', value: '0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95' }, 'Sparsities per layer');
  const tolerance = h('vscode-text-field', { id: 'sensitivity-tolerance', value: '0.01' }, 'Allowed metric change');
  const controls: JobControls = new JobControls('sensitivity', 'Run Sensitivity', async (): Promise<void> => {
    const values = parseFractions((sparsities as HTMLElement & { value: string }).value);
    if (!values) return controls.say('Sparsities must be fractions such as 0.5, 0.9 or percentages such as 90%.');
    const request = call('sensitivity', { method: context.method(), sparsities: values }, (f, m) => controls.progress(f, m));
    report = await controls.track(request);
    if (report) show(report);
  });
  function show(result: SensitivityReport): void {
    const metric = result.metric;
    chart.render({
      title: `Sensitivity (${result.method}, one layer at a time)`,
      xLabel: 'layer sparsity',
      yLabel: metricNames[metric] ?? metric,
      x: result.sparsities,
      series: result.layers.map((layer) => ({ name: layer.name, values: layer.values.map((metrics) => metrics[metric] ?? null) })),
    });
  }
  const pick = () => {
    if (!report) return controls.say('Run the sensitivity analysis first.');
    const allowed = Number((tolerance as HTMLElement & { value: string }).value);
    const chosen = pickSparsities(report, context.baseline(), allowed, context.layerNames());
    if (!chosen) return controls.say('Enter a non-negative allowed change, and load data so the original metric is known.');
    context.applyLayerSparsities(chosen);
    controls.say(`Per-layer sparsities set: ${chosen.map(formatPercent).join(', ')}.`);
  };
  const element = h(
    'section',
    { id: 'sensitivity-view', 'aria-label': 'Sensitivity' },
    h('p', { class: 'muted' }, 'The metric when only one layer is pruned (one-shot), the other layers untouched. Choose a value in the table to use that sparsity for its layer.'),
    h('div', { class: 'row fields' }, sparsities, controls.element),
    chart.element,
    h('div', { class: 'row fields' }, tolerance, h('vscode-button', { id: 'sensitivity-apply', onclick: pick }, 'Use as Per-Layer Sparsities')),
    exportButtons('sensitivity', chart, (text) => controls.say(text)),
  );
  return { element, redraw: () => chart.redraw() };
}

/** Builds the Comparison tab. */
export function comparisonView(context: AnalysisContext): { element: HTMLElement; redraw(): void } {
  const chart = new LineChartView('comparison', context.palette);
  const sparsities = h('vscode-text-field', { id: 'comparison-sparsities', value: '0.5, 0.7, 0.9, 0.95' }, 'Sparsities');
  const steps = h('vscode-text-field', { id: 'comparison-steps', value: '10' }, 'Iterative ECP steps');
  const autoPicks = h('p', { id: 'comparison-auto', class: 'muted', 'aria-live': 'polite' });
  const controls: JobControls = new JobControls('comparison', 'Run Comparison', async (): Promise<void> => {
    const values = parseFractions((sparsities as HTMLElement & { value: string }).value);
    const stepCount = Number((steps as HTMLElement & { value: string }).value);
    if (!values) return controls.say('Sparsities must be fractions such as 0.5, 0.9 or percentages such as 90%.');
    if (!Number.isInteger(stepCount) || stepCount < 1 || stepCount > 100) return controls.say('Steps must be a whole number from 1 to 100.');
    const request = call('compare', { sparsities: values, steps: stepCount }, (f, m) => controls.progress(f, m));
    const report = await controls.track(request);
    if (!report) return;
    const metric = report.metric;
    const series: ChartData['series'] = report.methods.map((entry) => ({ name: entry.name, values: entry.results.map((metrics) => metrics[metric] ?? null) }));
    // Auto's pick may differ at each sparsity, so it is one series with the winners named below.
    const auto = report.auto ?? [];
    if (auto.length === report.sparsities.length) series.push({ name: 'auto', values: auto.map((entry) => entry.metrics[metric] ?? null), dashed: true });
    chart.render({
      title: `Pruning methods compared (original ${metricNames[metric] ?? metric}: ${report.original[metric] ?? '–'})`,
      xLabel: 'global sparsity',
      yLabel: metricNames[metric] ?? metric,
      x: report.sparsities,
      series,
    });
    autoPicks.textContent = auto.length > 0 ? `Auto picks ${auto.map((entry) => `${entry.winner} at ${formatPercent(entry.sparsity)}`).join(', ')}.` : '';
  });
  const element = h(
    'section',
    { id: 'comparison-view', 'aria-label': 'Comparison' },
    h('p', { class: 'muted' }, 'The metric after pruning the whole model with each method: ECP one-shot and iterative, and the baselines.'),
    h('div', { class: 'row fields' }, sparsities, steps, controls.element),
    chart.element,
    autoPicks,
    exportButtons('comparison', chart, (text) => controls.say(text)),
  );
  return { element, redraw: () => chart.redraw() };
}
