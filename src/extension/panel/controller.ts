/**
 * Host side of one model panel, without `vscode`: validates the webview's messages, forwards
 * work to the compute worker, and decides every file path itself. `index.ts` supplies the VS Code
 * parts (dialogs, the webview) and the e2e harness supplies stand-ins.
 */
import * as path from 'node:path';
import { parseNumberList, parseRows } from '../../core/data/options';
import type { DataOptions } from '../../core/data/types';
import { CancelledError, oneLine } from '../../core/errors';
import type { ProgressEvent } from '../../core/progress';
import type { DataRequest, MethodName } from '../../core/reports';
import type {
  DataForm,
  ExportForm,
  FileRole,
  HostMessage,
  PanelState,
  PanelView,
  RequestMap,
  RequestMessage,
  SaveForm,
} from '../../shared/protocol';
import { prunedOutputPath } from '../prune-options';
import { sessionLostError } from './session-error';
import type { PanelSnapshot } from './worker-handlers';
import { parseWebviewMessage } from './validate';

/** Cancellation and progress of one worker request. */
export interface WorkerTask {
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

/** The part of the worker client the panel uses. */
export interface PanelWorker {
  request<T>(method: string, params: unknown, options?: WorkerTask): Promise<T>;
}

/** Services of the panel's surroundings: messaging, dialogs, files and the log. */
export interface PanelHost {
  /** Sends a message to the webview. */
  post(message: HostMessage): void;
  /** Asks the user for a data or label file; undefined when dismissed. */
  pickFile(role: FileRole, near: string): Promise<string | undefined>;
  /** Asks where to save; undefined when dismissed. */
  pickSaveTarget(kind: 'model' | 'png' | 'svg' | 'csv', suggested: string): Promise<string | undefined>;
  /** Writes an export to a path the host chose. */
  writeFile(target: string, content: Uint8Array | string): Promise<void>;
  log(message: string): void;
}

/** Options of a new panel. */
export interface PanelOptions {
  /** Data to load at once, such as from a recipe or the Select Calibration Data command. */
  data?: DataOptions;
  /** Calibration data flow of the extension; the panel's own file dialog is used without it. */
  chooseData?: () => Promise<DataOptions | undefined>;
  /** Evaluation rows or file next to the calibration data. */
  evalRows?: [number, number];
  method?: MethodName;
  /** Tab to show first; `model` by default. */
  view?: PanelView;
}

let sessionCounter = 0;

function isCancelled(error: unknown): boolean {
  return error instanceof CancelledError || (error as Error)?.name === 'CancelledError';
}

function optionalNumbers(text: string | undefined): number | number[] | undefined {
  return text?.trim() ? parseNumberList(text) : undefined;
}

function optionalRows(text: string | undefined): [number, number] | undefined {
  return text?.trim() ? parseRows(text) : undefined;
}

function formFromOptions(options: DataOptions | undefined, evalRows?: [number, number]): DataForm {
  const list = (value: number | number[] | undefined) => (value === undefined ? undefined : [value].flat().join(', '));
  return {
    scale: list(options?.scale),
    shift: list(options?.shift),
    mean: list(options?.mean),
    std: list(options?.std),
    rows: options?.rows ? options.rows.join(':') : undefined,
    evalRows: evalRows ? evalRows.join(':') : undefined,
    labelColumn: options?.labelColumn === undefined ? undefined : String(options.labelColumn),
  };
}

/** One panel's host-side logic. */
export class PanelController {
  readonly session = `panel-${process.pid}-${++sessionCounter}`;
  private readonly state: PanelState;
  private readonly running = new Map<number, AbortController>();
  private dataOptions: DataOptions | undefined;
  private evalDataOptions: DataOptions | undefined;
  private opened: Promise<void> | undefined;
  /** The data and method last loaded in the worker, to restore a lost session. */
  private loadedData: { data: DataRequest; method: MethodName } | undefined;

  constructor(
    private readonly modelPath: string,
    private readonly worker: PanelWorker,
    private readonly host: PanelHost,
    private readonly options: PanelOptions = {},
  ) {
    this.dataOptions = options.data;
    this.state = {
      view: options.view ?? 'model',
      model: null,
      data: null,
      scores: null,
      inputImage: null,
      picked: this.pickedNames(),
      dataForm: { ...formFromOptions(options.data, options.evalRows), method: options.method ?? 'ecp' },
      backend: '',
      maxLayerSparsity: 0.99,
      error: null,
      busy: null,
    };
  }

  /** Loads the model in the worker (once), then the data when the options carried some. */
  open(): Promise<void> {
    this.opened ??= this.load();
    return this.opened;
  }

  private async load(): Promise<void> {
    await this.withBusy(`Loading ${path.basename(this.modelPath)}…`, async () => {
      const snapshot = await this.worker.request<PanelSnapshot>('panel.open', this.openParams());
      this.applySnapshot(snapshot);
    });
    if (this.dataOptions && !this.state.error) await this.loadData(this.state.dataForm).catch(() => undefined);
  }

  /** Handles one raw message from the webview. */
  handle(raw: unknown): void {
    let message;
    try {
      message = parseWebviewMessage(raw);
    } catch (error) {
      this.host.log(oneLine(error));
      const id = (raw as { id?: unknown } | null)?.id;
      if (typeof id === 'number') this.host.post({ type: 'failure', id, message: oneLine(error), cancelled: false });
      return;
    }
    if (message.type === 'ready') {
      this.postState();
      void this.open();
    } else if (message.type === 'cancel') {
      this.running.get(message.id)?.abort();
    } else {
      void this.run(message);
    }
  }

  /** Forgets the panel in the worker and stops its requests. */
  dispose(): void {
    for (const controller of this.running.values()) controller.abort();
    void this.worker.request('panel.close', { session: this.session }).catch(() => undefined);
  }

  private async run(message: RequestMessage): Promise<void> {
    const controller = new AbortController();
    this.running.set(message.id, controller);
    const onProgress = (event: ProgressEvent) =>
      this.host.post({ type: 'progress', id: message.id, fraction: event.fraction, message: event.message });
    try {
      const result = await this.dispatch(message, controller.signal, onProgress);
      this.host.post({ type: 'reply', id: message.id, result });
    } catch (error) {
      const cancelled = isCancelled(error);
      if (!cancelled) this.host.log(`Panel request ${message.method} failed: ${oneLine(error)}`);
      this.host.post({ type: 'failure', id: message.id, message: cancelled ? 'Cancelled.' : oneLine(error), cancelled });
    } finally {
      this.running.delete(message.id);
    }
  }

  private dispatch(message: RequestMessage, signal: AbortSignal, onProgress: (event: ProgressEvent) => void): Promise<unknown> {
    const task = { signal, onProgress };
    const session = this.session;
    switch (message.method) {
      case 'tile':
      case 'point':
        return this.callPanel(`panel.${message.method}`, { session, ...(message.params as object) }, task);
      case 'evaluate':
        return this.callPanel('panel.evaluate', { session, ...(message.params as RequestMap['evaluate']['params']) }, task);
      case 'pickFile':
        return this.pickFile((message.params as RequestMap['pickFile']['params']).role);
      case 'loadData':
        return this.loadData(message.params as DataForm, task).then(() => ({ loaded: true }));
      case 'sensitivity':
        return this.callPanel('panel.sensitivity', { session, ...(message.params as object) }, task);
      case 'compare':
        return this.callPanel('panel.compare', { session, ...(message.params as object) }, task);
      case 'save':
        return this.save(message.params as SaveForm, task);
      case 'export':
        return this.exportChart(message.params as ExportForm);
    }
  }

  private openParams() {
    return { session: this.session, model: { model: this.modelPath } };
  }

  /**
   * Sends a panel request to the worker. A restarted worker (after a Cancel that did not stop in
   * time, or a crash) has lost the session, so the model and data are loaded again and the
   * request is retried once.
   */
  private async callPanel<T>(method: string, params: unknown, task: WorkerTask = {}): Promise<T> {
    try {
      return await this.worker.request<T>(method, params, task);
    } catch (error) {
      if ((error as Error)?.name !== sessionLostError) throw error;
      this.host.log(`Panel: the worker lost session ${this.session}; reloading ${path.basename(this.modelPath)}.`);
      await this.worker.request('panel.open', this.openParams(), { signal: task.signal });
      if (this.loadedData) {
        const { data, method: scoring } = this.loadedData;
        await this.worker.request('panel.loadData', { session: this.session, data, method: scoring }, { signal: task.signal });
      }
      return this.worker.request<T>(method, params, task);
    }
  }

  private pickedNames() {
    const name = (file: string | undefined) => (file ? path.basename(file) : undefined);
    return {
      data: name(this.dataOptions?.data),
      labels: name(this.dataOptions?.labels),
      evalData: name(this.evalDataOptions?.data),
      evalLabels: name(this.evalDataOptions?.labels),
    };
  }

  private async pickFile(role: FileRole): Promise<{ name: string | null }> {
    if (role === 'data' && this.options.chooseData) {
      const chosen = await this.options.chooseData();
      if (!chosen) return { name: null };
      this.dataOptions = chosen;
      this.state.dataForm = { ...formFromOptions(chosen, optionalRows(this.state.dataForm.evalRows)), method: this.state.dataForm.method };
    } else {
      const near = this.dataOptions?.data ?? this.modelPath;
      const file = await this.host.pickFile(role, path.dirname(near));
      if (!file) return { name: null };
      this.setPicked(role, file);
    }
    this.state.picked = this.pickedNames();
    this.postState();
    return { name: path.basename(this.pathOf(role) ?? '') };
  }

  private setPicked(role: FileRole, file: string): void {
    if (role === 'data') this.dataOptions = { data: file };
    if (role === 'labels') this.dataOptions = { ...(this.dataOptions ?? { data: '' }), labels: file };
    if (role === 'evalData') this.evalDataOptions = { data: file };
    if (role === 'evalLabels') this.evalDataOptions = { ...(this.evalDataOptions ?? { data: '' }), labels: file };
  }

  private pathOf(role: FileRole): string | undefined {
    if (role === 'data') return this.dataOptions?.data;
    if (role === 'labels') return this.dataOptions?.labels;
    if (role === 'evalData') return this.evalDataOptions?.data;
    return this.evalDataOptions?.labels;
  }

  /** Builds the data request from the paths the host picked and the numbers of the form. */
  dataRequest(form: DataForm): DataRequest {
    if (!this.dataOptions?.data) throw new Error('Choose a calibration data file first.');
    const preprocessing = {
      scale: optionalNumbers(form.scale),
      shift: optionalNumbers(form.shift),
      mean: optionalNumbers(form.mean),
      std: optionalNumbers(form.std),
    };
    const labelText = form.labelColumn?.trim() ?? '';
    let labelColumn: string | number | undefined;
    if (/^\d+$/.test(labelText)) labelColumn = Number(labelText);
    else if (labelText) labelColumn = labelText;
    const data: DataOptions = { ...this.dataOptions, ...preprocessing, labelColumn, rows: optionalRows(form.rows) };
    const request: DataRequest = { data };
    if (this.evalDataOptions?.data) request.evalData = { ...this.evalDataOptions, ...preprocessing };
    else request.evalRows = optionalRows(form.evalRows);
    return request;
  }

  private async loadData(form: DataForm, task: { signal?: AbortSignal; onProgress?: (event: ProgressEvent) => void } = {}): Promise<void> {
    const data = this.dataRequest(form);
    this.state.dataForm = form;
    const method = form.method ?? 'ecp';
    await this.withBusy(`Scoring with ${method}…`, async () => {
      const snapshot = await this.callPanel<PanelSnapshot>('panel.loadData', { session: this.session, data, method }, task);
      this.loadedData = { data, method };
      this.applySnapshot(snapshot);
    }, true);
  }

  private async save(form: SaveForm, task: { signal?: AbortSignal; onProgress?: (event: ProgressEvent) => void }) {
    const suggested = prunedOutputPath(this.modelPath, form.sparsity);
    const output = await this.host.pickSaveTarget('model', suggested);
    if (!output) return { output: null };
    const report = await this.callPanel('panel.save', { session: this.session, output, form }, task);
    this.host.log(`Panel saved the pruned model to ${output}.`);
    return { output: path.basename(output), report };
  }

  private async exportChart(form: ExportForm): Promise<{ saved: string | null }> {
    const safeName = form.name.replace(/[^\w.-]+/g, '-').slice(0, 60) || 'chart';
    const suggested = path.join(path.dirname(this.modelPath), `${safeName}.${form.format}`);
    const target = await this.host.pickSaveTarget(form.format, suggested);
    if (!target) return { saved: null };
    await this.host.writeFile(target, form.format === 'png' ? new Uint8Array(form.content) : form.content);
    this.host.log(`Panel exported ${form.format.toUpperCase()} to ${target}.`);
    return { saved: path.basename(target) };
  }

  private applySnapshot(snapshot: PanelSnapshot): void {
    this.state.model = snapshot.model;
    this.state.scores = snapshot.scores;
    this.state.inputImage = snapshot.inputImage;
    this.state.backend = snapshot.backend;
    if (snapshot.data) this.state.data = snapshot.data;
  }

  private async withBusy(label: string, work: () => Promise<void>, rethrow = false): Promise<void> {
    this.state.busy = label;
    this.state.error = null;
    this.postState();
    try {
      await work();
    } catch (error) {
      if (!isCancelled(error)) {
        this.state.error = oneLine(error);
        this.host.log(`Panel: ${this.state.error}`);
      }
      if (rethrow) throw error;
    } finally {
      this.state.busy = null;
      this.postState();
    }
  }

  private postState(): void {
    this.host.post({ type: 'state', state: this.state });
  }
}
