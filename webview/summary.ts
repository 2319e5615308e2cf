/** The Model tab: the model summary and the calibration data form. */
import type { DataForm, DataSummary, FileRole, ModelSummary, PanelState } from '../src/shared/protocol';
import { methodNames } from '../src/core/reports';
import { formatCount, formatPercent, h } from './dom';
import { describeMetrics } from './metrics';
import { call } from './rpc';

/** Renders the model summary: format, layers with shapes and activations, parameters, sparsity. */
export function renderModelSummary(model: ModelSummary, backend: string): HTMLElement {
  const rows = model.layers.map((layer) =>
    h(
      'tr',
      {},
      h('td', {}, layer.name),
      h('td', {}, layer.type),
      h('td', {}, layer.units !== undefined ? `${layer.units} × ${layer.inputs}` : ''),
      h('td', {}, layer.activation ?? ''),
      h('td', { class: 'number' }, formatCount(layer.params)),
      h('td', { class: 'number' }, layer.zeros !== undefined && layer.units ? formatPercent(layer.zeros / (layer.units * (layer.inputs ?? 1))) : ''),
      h('td', {}, layer.note ?? (layer.bias === false ? 'no bias' : '')),
    ),
  );
  return h(
    'div',
    { id: 'model-summary' },
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Format'),
      h('dd', { id: 'model-format' }, model.format),
      h('dt', {}, 'Input shape'),
      h('dd', {}, `[${model.inputShape.join(', ')}]`),
      h('dt', {}, 'Parameters'),
      h('dd', { id: 'model-params' }, formatCount(model.params)),
      h('dt', {}, 'Prunable dense weights'),
      h('dd', {}, formatCount(model.prunable)),
      h('dt', {}, 'Current sparsity'),
      h('dd', { id: 'model-sparsity' }, formatPercent(model.sparsity)),
      h('dt', {}, 'Backend'),
      h('dd', { id: 'model-backend' }, backend || '–'),
    ),
    h(
      'table',
      { class: 'data-table', id: 'layer-table' },
      h('caption', {}, 'Layers'),
      h('thead', {}, h('tr', {}, ...['Name', 'Type', 'Units × inputs', 'Activation', 'Parameters', 'Zeros', 'Note'].map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', {}, ...rows),
    ),
    model.notes.length ? h('ul', { class: 'notes' }, ...model.notes.map((note) => h('li', {}, note))) : null,
  );
}

function textField(id: string, label: string, value: string | undefined, placeholder: string): HTMLElement {
  return h('vscode-text-field', { id, value: value ?? '', placeholder, 'aria-label': label }, label);
}

function fieldValue(root: HTMLElement, id: string): string {
  const element = root.querySelector<HTMLElement & { value?: string }>(`#${id}`);
  return element?.value ?? '';
}

type StatusSink = (text: string, error?: boolean) => void;

function fileRows(state: PanelState, onStatus: StatusSink): HTMLElement[] {
  const picked = state.picked;
  const pick = (role: FileRole) => async () => {
    try {
      await call('pickFile', { role }).result;
    } catch (error) {
      onStatus((error as Error).message, true);
    }
  };
  const button = (id: string, role: FileRole, label: string, primary = false) =>
    h('vscode-button', { id, appearance: primary ? undefined : 'secondary', onclick: pick(role) }, label);
  return [
    h(
      'div',
      { class: 'row' },
      button('pick-data', 'data', 'Choose Data…', true),
      h('span', { id: 'picked-data' }, picked.data ?? 'no data file chosen'),
      button('pick-labels', 'labels', 'Choose Labels…'),
      h('span', { id: 'picked-labels' }, picked.labels ?? 'no separate label file'),
    ),
    h(
      'div',
      { class: 'row' },
      button('pick-eval-data', 'evalData', 'Choose Evaluation Data…'),
      h('span', {}, picked.evalData ?? 'evaluation on rows of the calibration file'),
      button('pick-eval-labels', 'evalLabels', 'Choose Evaluation Labels…'),
      h('span', {}, picked.evalLabels ?? ''),
    ),
  ];
}

function optionRows(form: DataForm): HTMLElement[] {
  const method = h(
    'vscode-dropdown',
    { id: 'data-method', 'aria-label': 'Scoring method' },
    ...methodNames.map((name) => h('vscode-option', { value: name, selected: name === (form.method ?? 'ecp') }, name)),
  );
  return [
    h(
      'div',
      { class: 'row fields' },
      textField('data-scale', 'Scale', form.scale, '1/255'),
      textField('data-shift', 'Shift', form.shift, '0'),
      textField('data-mean', 'Mean', form.mean, '0'),
      textField('data-std', 'Std', form.std, '1'),
    ),
    h(
      'div',
      { class: 'row fields' },
      textField('data-rows', 'Calibration rows', form.rows, '0:2000'),
      textField('data-eval-rows', 'Evaluation rows', form.evalRows, '2000:7000'),
      textField('data-label-column', 'Label column (CSV)', form.labelColumn, 'name or index'),
      h('label', { for: 'data-method', class: 'dropdown-label' }, 'Method'),
      method,
    ),
    h('p', { class: 'muted' }, 'Each feature becomes (x × scale + shift − mean) / std. Rows are START:END, end excluded.'),
  ];
}

function dataFacts(data: DataSummary): HTMLElement {
  return h(
    'dl',
    { class: 'facts', id: 'data-facts' },
    h('dt', {}, 'Calibration'),
    h('dd', { id: 'data-description' }, `${formatCount(data.samples)} samples: ${data.description}`),
    h('dt', {}, 'Evaluation'),
    h('dd', {}, `${formatCount(data.evalSamples)} samples: ${data.evalDescription}`),
    h('dt', {}, 'Preprocessing'),
    h('dd', { id: 'data-preprocessing' }, data.preprocessing),
    h('dt', {}, 'Task'),
    h('dd', { id: 'data-task' }, data.task),
    h('dt', {}, 'Original model'),
    h('dd', { id: 'data-original' }, describeMetrics({ ...data.original, output_mse: undefined }, null)),
  );
}

/** Reads the data form's fields, as typed. */
export function readDataForm(root: HTMLElement): DataForm {
  return {
    scale: fieldValue(root, 'data-scale'),
    shift: fieldValue(root, 'data-shift'),
    mean: fieldValue(root, 'data-mean'),
    std: fieldValue(root, 'data-std'),
    rows: fieldValue(root, 'data-rows'),
    evalRows: fieldValue(root, 'data-eval-rows'),
    labelColumn: fieldValue(root, 'data-label-column'),
    method: (fieldValue(root, 'data-method') || 'ecp') as DataForm['method'],
  };
}

/**
 * Renders the calibration data section: files, preprocessing, rows and method, then `loadControls`
 * (the Load and Cancel buttons, kept by the caller across renders) and the loaded data's facts.
 */
export function renderDataForm(state: PanelState, loadControls: HTMLElement, onStatus: StatusSink): HTMLElement {
  return h(
    'section',
    { id: 'data-section', 'aria-label': 'Calibration data' },
    h('h2', {}, 'Calibration data'),
    ...fileRows(state, onStatus),
    ...optionRows(state.dataForm),
    loadControls,
    state.data ? dataFacts(state.data) : null,
  );
}
