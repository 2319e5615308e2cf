/**
 * The sparsity sliders: one global slider, or one per layer. Each move turns the sliders into
 * per-layer sparsities and thresholds from the score summaries kept here, without a round trip.
 */
import {
  globalSparsities,
  predictedChange,
  removedCount,
  thresholdFor,
  type ScoreSummary,
} from '../src/core/view/summary';
import { formatPercent, h } from './dom';

/** Sparsity mode: one threshold over all layers, or one sparsity per layer. */
export type SliderMode = 'global' | 'layer';

/** The sliders' effect, computed on every move. */
export interface SliderChange {
  mode: SliderMode;
  /** The global slider's value. */
  global: number;
  /** Per-layer sparsities in layer order (from the global threshold in global mode). */
  sparsities: number[];
  /** Per-layer score thresholds: weights whose score is at most this are pruned. */
  thresholds: number[];
  /** Sum of the scores of the removed weights. */
  predicted: number;
  /** Fraction of all dense weights removed. */
  overall: number;
}

function rangeInput(id: string, label: string, onInput: () => void): HTMLInputElement {
  return h('input', {
    id,
    type: 'range',
    min: 0,
    max: 99,
    step: 0.5,
    value: 0,
    'aria-label': label,
    oninput: onInput,
  });
}

/** The global and per-layer sliders. */
export class SparsitySliders {
  readonly element: HTMLElement;
  mode: SliderMode = 'global';
  private readonly globalInput: HTMLInputElement;
  private readonly globalOutput: HTMLOutputElement;
  private readonly layerInputs: HTMLInputElement[];
  private readonly layerOutputs: HTMLOutputElement[];
  private readonly modeGroup: HTMLElement;

  constructor(
    private readonly summaries: ScoreSummary[],
    private readonly maxLayerSparsity: number,
    private readonly onChange: (change: SliderChange) => void,
  ) {
    this.globalInput = rangeInput('global-sparsity', 'Global sparsity in percent', () => this.changed());
    this.globalOutput = h('output', { for: 'global-sparsity', id: 'global-sparsity-value' }, '0.0%');
    this.layerInputs = summaries.map((summary, i) => rangeInput(`layer-sparsity-${i}`, `Sparsity of layer ${summary.name} in percent`, () => this.changed()));
    this.layerOutputs = summaries.map((_, i) => h('output', { for: `layer-sparsity-${i}` }, '0.0%'));
    this.modeGroup = h(
      'vscode-radio-group',
      { id: 'sparsity-mode', 'aria-label': 'Sparsity mode' },
      h('label', { slot: 'label' }, 'Mode'),
      h('vscode-radio', { value: 'global', checked: true }, 'Global threshold'),
      h('vscode-radio', { value: 'layer' }, 'Per layer'),
    );
    this.modeGroup.addEventListener('change', () => {
      const value = (this.modeGroup as HTMLElement & { value?: string }).value;
      this.setMode(value === 'layer' ? 'layer' : 'global');
    });
    this.element = h(
      'div',
      { class: 'sliders' },
      this.modeGroup,
      h('div', { class: 'slider-row' }, h('label', { for: 'global-sparsity' }, 'Global sparsity'), this.globalInput, this.globalOutput),
      ...summaries.map((summary, i) =>
        h('div', { class: 'slider-row' }, h('label', { for: `layer-sparsity-${i}` }, summary.name), this.layerInputs[i], this.layerOutputs[i]),
      ),
    );
    this.setMode('global');
  }

  /** Switches the mode; per-layer sliders start from the sparsities the global one reached. */
  setMode(mode: SliderMode): void {
    this.mode = mode;
    this.globalInput.disabled = mode !== 'global';
    for (const input of this.layerInputs) input.disabled = mode !== 'layer';
    const radio = this.modeGroup as HTMLElement & { value?: string };
    if (radio.value !== mode) radio.value = mode;
    this.changed();
  }

  /** Sets the global slider, as a fraction. */
  setGlobal(sparsity: number): void {
    this.globalInput.value = String(sparsity * 100);
    this.changed();
  }

  /** Sets per-layer sparsities (fractions, in layer order) and switches to per-layer mode. */
  setLayers(sparsities: readonly number[]): void {
    sparsities.forEach((value, i) => {
      if (this.layerInputs[i]) this.layerInputs[i].value = String(value * 100);
    });
    if (this.mode === 'layer') this.changed();
    else this.setMode('layer');
  }

  /** Returns the current sliders' effect. */
  current(): SliderChange {
    const global = Number(this.globalInput.value) / 100;
    const sparsities =
      this.mode === 'global'
        ? globalSparsities(this.summaries, global, this.maxLayerSparsity)
        : this.layerInputs.map((input) => Math.min(this.maxLayerSparsity, Number(input.value) / 100));
    const thresholds = this.summaries.map((summary, i) => thresholdFor(summary, removedCount(summary, sparsities[i])));
    const total = this.summaries.reduce((sum, summary) => sum + summary.count, 0);
    const removed = this.summaries.reduce((sum, summary, i) => sum + removedCount(summary, sparsities[i]), 0);
    return {
      mode: this.mode,
      global,
      sparsities,
      thresholds,
      predicted: predictedChange(this.summaries, sparsities),
      overall: total > 0 ? removed / total : 0,
    };
  }

  private changed(): void {
    const change = this.current();
    this.globalOutput.value = formatPercent(this.mode === 'global' ? change.global : change.overall);
    change.sparsities.forEach((value, i) => {
      this.layerOutputs[i].value = formatPercent(value);
      if (this.mode === 'global') this.layerInputs[i].value = String(value * 100);
      this.layerInputs[i].setAttribute('aria-valuetext', formatPercent(value));
    });
    this.globalInput.setAttribute('aria-valuetext', this.globalOutput.value);
    this.onChange(change);
  }
}
