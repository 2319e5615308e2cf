/** The panel's application: renders the state, wires sliders, heatmaps, metrics and saving. */
import type { Metrics } from '../src/core/reports';
import type { ScoreSummary } from '../src/core/view/summary';
import type { PanelState, ScoresState } from '../src/shared/protocol';
import { comparisonView, JobControls, sensitivityView } from './analysis';
import { describeMetrics } from './metrics';
import { formatCount, formatNumber, formatPercent, h } from './dom';
import { drawInputImage, drawLegend, LayerHeatmap, type MapKind } from './heatmap';
import { call } from './rpc';
import { SparsitySliders, type SliderChange } from './sliders';
import { readDataForm, renderDataForm, renderModelSummary } from './summary';
import { readPalette, type Palette } from './theme';

/** Delay after the last slider move before metrics are measured. */
const evaluateDelayMs = 200;

function decodeSummaries(scores: ScoresState): ScoreSummary[] {
  return scores.layers.map((layer) => ({
    name: layer.name,
    count: layer.count,
    ranks: new Float64Array(layer.ranks),
    edges: new Float32Array(layer.edges),
    cumulative: new Float64Array(layer.cumulative),
  }));
}

/** The whole panel. */
export class PanelApp {
  private state: PanelState | null = null;
  private tabs: HTMLElement | null = null;
  private palette: Palette = readPalette();
  private mapKind: MapKind = 'importance';
  private overlay = true;
  private summaries: ScoreSummary[] = [];
  private heatmaps: LayerHeatmap[] = [];
  private sliders: SparsitySliders | null = null;
  private baseline: Metrics | null = null;
  private evaluateTimer: number | undefined;
  /** True while an evaluation runs; moves meanwhile only update `queuedChange`. */
  private evaluating = false;
  private queuedChange: SliderChange | null = null;
  private scoresKey = '';
  private formKey = '';
  private readonly timings: Record<string, number> = {};

  private readonly header = h('header', { id: 'header' });
  private readonly status = h('div', { id: 'status', role: 'status', 'aria-live': 'polite' });
  private readonly modelTab = h('div', { id: 'model-tab' });
  private readonly dataTab = h('div', { id: 'data-tab' });
  private readonly slidersHost = h('div', { id: 'sliders' });
  private readonly prediction = h('div', { id: 'prediction', 'aria-live': 'polite' });
  private readonly metrics = h('div', { id: 'metrics', 'aria-live': 'polite' }, 'Load calibration data to measure metrics.');
  private readonly timingLine = h('div', { id: 'timings', class: 'muted' });
  private readonly heatmapHost = h('div', { id: 'heatmaps' });
  private readonly legend = h('canvas', { id: 'legend', 'aria-hidden': 'true' });
  private readonly legendLabels = h('span', { id: 'legend-labels', class: 'muted' });
  private readonly inputImage = h('canvas', { id: 'input-image', role: 'img', 'aria-label': 'Summed importance of each input pixel' });
  private readonly inputImageBox = h('figure', { id: 'input-image-box', hidden: true }, this.inputImage, h('figcaption', {}, 'Input importance: importance summed over the first layer\'s units, per input.'));
  private readonly saveSteps = h('vscode-text-field', { id: 'save-steps', value: '10' }, 'Steps');
  private readonly saveControls = new JobControls('save', 'Save Pruned Model…', () => this.save());
  private readonly loadControls = new JobControls('load', 'Load and Score', () => this.loadData());
  private readonly sensitivity = sensitivityView(this.analysisContext());
  private readonly comparison = comparisonView(this.analysisContext());

  /** Builds the page skeleton into `root`. */
  mount(root: HTMLElement): void {
    const tabs: HTMLElement = h(
      'vscode-panels',
      { id: 'tabs', 'aria-label': 'PruneLens views' },
      h('vscode-panel-tab', { id: 'tab-model' }, 'Model'),
      h('vscode-panel-tab', { id: 'tab-heatmaps' }, 'Heatmaps and Sliders'),
      h('vscode-panel-tab', { id: 'tab-sensitivity' }, 'Sensitivity'),
      h('vscode-panel-tab', { id: 'tab-comparison' }, 'Comparison'),
      h('vscode-panel-view', { id: 'view-model' }, h('div', { class: 'stack' }, this.modelTab, this.dataTab)),
      h('vscode-panel-view', { id: 'view-heatmaps' }, this.heatmapsTab()),
      h('vscode-panel-view', { id: 'view-sensitivity' }, this.sensitivity.element),
      h('vscode-panel-view', { id: 'view-comparison' }, this.comparison.element),
    );
    this.tabs = tabs;
    root.replaceChildren(this.header, this.status, tabs);
    root.removeAttribute('aria-busy');
    drawLegend(this.legend, this.palette);
  }

  private heatmapsTab(): HTMLElement {
    return h(
      'div',
      { class: 'stack' },
      this.mapControls(),
      h('div', { class: 'row legend-row' }, h('span', {}, 'Importance'), this.legend, this.legendLabels),
      this.slidersHost,
      this.prediction,
      this.metrics,
      h('div', { class: 'row fields' }, this.saveSteps, this.saveControls.element),
      this.timingLine,
      this.inputImageBox,
      this.heatmapHost,
    );
  }

  /** Builds the map kind radio group and the mask overlay checkbox. */
  private mapControls(): HTMLElement {
    const kindGroup = h(
      'vscode-radio-group',
      { id: 'map-kind', 'aria-label': 'Heatmap shows' },
      h('label', { slot: 'label' }, 'Heatmap shows'),
      h('vscode-radio', { value: 'importance', checked: true }, 'Importance (log)'),
      h('vscode-radio', { value: 'weights' }, 'Weights'),
      h('vscode-radio', { value: 'mask' }, 'Mask'),
    );
    kindGroup.addEventListener('change', () => {
      this.mapKind = ((kindGroup as HTMLElement & { value?: string }).value ?? 'importance') as MapKind;
      this.repaintHeatmaps();
    });
    const overlay = h('vscode-checkbox', { id: 'mask-overlay', checked: true }, 'Dim pruned weights');
    overlay.addEventListener('change', () => {
      this.overlay = Boolean((overlay as HTMLElement & { checked?: boolean }).checked);
      this.repaintHeatmaps();
    });
    return h('div', { class: 'row' }, kindGroup, overlay);
  }

  /** Renders a new state from the host. */
  setState(state: PanelState): void {
    if (!this.state) this.tabs?.setAttribute('activeid', `tab-${state.view}`);
    this.state = state;
    this.header.replaceChildren(
      h('h1', {}, state.model ? `${state.model.fileName}` : 'PruneLens'),
      h('span', { class: 'muted' }, state.model ? `${state.model.format} · ${formatCount(state.model.params)} parameters` : ''),
    );
    this.status.textContent = state.error ?? state.busy ?? '';
    this.status.classList.toggle('error', Boolean(state.error));
    if (state.model) this.modelTab.replaceChildren(renderModelSummary(state.model, state.backend));
    const formKey = JSON.stringify([state.picked, state.dataForm, state.data]);
    if (formKey !== this.formKey) {
      this.formKey = formKey;
      const form = renderDataForm(state, this.loadControls.element, (text, error) => this.say(text, error));
      this.dataTab.replaceChildren(form);
    }
    if (state.scores && state.model) this.setScores(state);
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  private setScores(state: PanelState): void {
    const scores = state.scores as ScoresState;
    const key = JSON.stringify([scores.method, scores.samples, scores.seconds, scores.layers.map((layer) => layer.count), state.data]);
    if (key === this.scoresKey) return;
    this.scoresKey = key;
    this.summaries = decodeSummaries(scores);
    const previous = this.sliders?.current();
    this.sliders = new SparsitySliders(this.summaries, state.maxLayerSparsity, (change) => this.onSliders(change));
    this.slidersHost.replaceChildren(
      h('p', { class: 'muted' }, `Scores: ${scores.method}` + (scores.samples ? ` on ${formatCount(scores.samples)} samples` : ' (no data: magnitude)') + `, ${scores.seconds.toFixed(2)} s, backend ${scores.backend}.`),
      ...scores.notes.map((note) => h('p', { class: 'muted' }, note)),
      this.sliders.element,
    );
    const dense = state.model?.dense ?? [];
    this.heatmaps = dense.map((layer) => new LayerHeatmap(layer, { kind: () => this.mapKind, overlay: () => this.overlay, palette: () => this.palette }));
    this.heatmapHost.replaceChildren(...this.heatmaps.map((heatmap) => heatmap.element));
    void this.loadHeatmaps(previous);
    this.drawInputImage();
    this.baseline = state.data?.original ?? null;
    if (state.data && this.sliders) this.scheduleEvaluate(this.sliders.current());
  }

  private async loadHeatmaps(previous: SliderChange | undefined): Promise<void> {
    const started = performance.now();
    await Promise.all(this.heatmaps.map((heatmap) => heatmap.showOverview().catch((error) => this.say((error as Error).message, true))));
    this.timings.heatmaps = performance.now() - started;
    this.timings.paint = Math.max(...this.heatmaps.map((heatmap) => heatmap.lastPaintMs), 0);
    const first = this.heatmaps[0];
    if (first) this.legendLabels.textContent = `${formatNumber(10 ** first.range.low)} … ${formatNumber(10 ** first.range.high)} (${first.layer.name}; log scale)`;
    if (previous && this.sliders) {
      if (previous.mode === 'layer') this.sliders.setLayers(previous.sparsities);
      else this.sliders.setGlobal(previous.global);
    } else {
      this.sliders?.setGlobal(0);
    }
    this.showTimings();
  }

  private drawInputImage(): void {
    const image = this.state?.inputImage;
    this.inputImageBox.hidden = !image;
    if (!image) return;
    drawInputImage(this.inputImage, new Float32Array(image.values), image.height, image.width, this.palette);
    this.inputImage.style.width = `${Math.max(112, image.width * 8)}px`;
  }

  private onSliders(change: SliderChange): void {
    const started = performance.now();
    this.heatmaps.forEach((heatmap, i) => heatmap.setThreshold(change.thresholds[i] ?? -Infinity));
    this.timings.overlay = performance.now() - started;
    this.prediction.textContent =
      `Sparsity ${formatPercent(change.overall)} (${change.mode === 'global' ? 'global threshold' : 'per layer'}); ` +
      `predicted output change (sum of importance of removed weights): ${formatNumber(change.predicted)}`;
    this.showTimings();
    this.scheduleEvaluate(change);
  }

  private scheduleEvaluate(change: SliderChange): void {
    if (!this.state?.data) return;
    window.clearTimeout(this.evaluateTimer);
    this.evaluateTimer = window.setTimeout(() => void this.evaluate(change), evaluateDelayMs);
  }

  private sparsityMap(sparsities: number[]): Record<string, number> {
    return Object.fromEntries(this.summaries.map((summary, i) => [summary.name, sparsities[i] ?? 0]));
  }

  /**
   * Measures the metrics at a slider position. At most one evaluation runs at a time and the
   * latest position waits for it: cancelling instead would make the worker client restart a
   * worker that does not stop within its grace time, which costs a reload.
   */
  private async evaluate(change: SliderChange): Promise<void> {
    if (this.evaluating) {
      this.queuedChange = change;
      return;
    }
    this.evaluating = true;
    const started = performance.now();
    this.metrics.classList.add('pending');
    try {
      const reply = await call('evaluate', { sparsities: this.sparsityMap(change.sparsities) }).result;
      this.timings.metrics = performance.now() - started;
      const where = `${formatPercent(change.overall)} (one-shot preview from the current scores)`;
      this.metrics.textContent = `Measured on ${formatCount(reply.samples)} samples at ${where}: ${describeMetrics(reply.metrics, this.baseline)}`;
      this.metrics.dataset.sparsity = String(change.overall);
      this.showTimings();
    } catch (error) {
      this.metrics.textContent = (error as Error).message;
    } finally {
      this.evaluating = false;
      this.metrics.classList.remove('pending');
    }
    const queued = this.queuedChange;
    this.queuedChange = null;
    if (queued) await this.evaluate(queued);
  }

  private showTimings(): void {
    const parts = [
      ['heatmaps', 'heatmaps loaded'],
      ['paint', 'largest heatmap draw'],
      ['overlay', 'slider overlay update'],
      ['metrics', 'measured metrics'],
    ]
      .filter(([key]) => this.timings[key] !== undefined)
      .map(([key, label]) => `${label} ${this.timings[key].toFixed(1)} ms`);
    this.timingLine.textContent = parts.join(' · ');
    for (const [key, value] of Object.entries(this.timings)) this.timingLine.dataset[key] = value.toFixed(2);
  }

  private async loadData(): Promise<void> {
    const request = call('loadData', readDataForm(this.dataTab), (fraction, message) => this.loadControls.progress(fraction, message));
    await this.loadControls.track(request);
  }

  private async save(): Promise<void> {
    const change = this.sliders?.current();
    if (!change || !this.state?.scores) return this.saveControls.say('The model is not loaded yet.');
    const steps = Number((this.saveSteps as HTMLElement & { value: string }).value);
    if (!Number.isInteger(steps) || steps < 1 || steps > 100) return this.saveControls.say('Steps must be a whole number from 1 to 100.');
    const method = this.state.scores.method;
    const request = call(
      'save',
      { scope: change.mode, sparsity: change.mode === 'global' ? change.global : change.overall, layerSparsity: this.sparsityMap(change.sparsities), steps, method },
      (fraction, message) => this.saveControls.progress(fraction, message),
    );
    const reply = await this.saveControls.track(request);
    if (!reply) return;
    if (reply.output === null) return this.saveControls.say('Save cancelled.');
    const after = describeMetrics(reply.report.after.metrics, reply.report.before.metrics);
    this.saveControls.say(`Saved ${reply.output} at ${formatPercent(reply.report.sparsity)} sparsity${after ? `: ${after}` : ''}.`);
  }

  private repaintHeatmaps(): void {
    for (const heatmap of this.heatmaps) heatmap.paint();
  }

  /** Re-reads the theme colours and redraws everything drawn on canvases. */
  themeChanged(): void {
    this.palette = readPalette();
    drawLegend(this.legend, this.palette);
    this.repaintHeatmaps();
    this.drawInputImage();
    this.sensitivity.redraw();
    this.comparison.redraw();
  }

  private analysisContext() {
    return {
      method: () => this.state?.scores?.method ?? 'ecp',
      palette: () => this.palette,
      baseline: () => this.baseline,
      layerNames: () => this.summaries.map((summary) => summary.name),
      applyLayerSparsities: (sparsities: number[]) => this.sliders?.setLayers(sparsities),
      applyLayerSparsity: (name: string, sparsity: number) => {
        const sliders = this.sliders;
        const index = this.summaries.findIndex((summary) => summary.name === name);
        if (!sliders || index < 0) return;
        const sparsities = [...sliders.current().sparsities];
        sparsities[index] = sparsity;
        sliders.setLayers(sparsities);
      },
    };
  }
}

