import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PanelController, type PanelWorker } from '../../../src/extension/panel/controller';
import { panelHandlers } from '../../../src/extension/panel/worker-handlers';
import type { RpcHandler } from '../../../src/extension/rpc-protocol';
import type { HostMessage, PanelState, WireTile } from '../../../src/shared/protocol';
import { corpusPath } from '../../helpers/corpus';

const model = corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
const images = corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz');
const labels = corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz');

/** Runs the panel's worker handlers in this process, as the worker thread would. */
const inProcessWorker: PanelWorker = {
  request<T>(method: string, params: unknown, options: { signal?: AbortSignal; onProgress?: (event: { fraction: number; message: string }) => void } = {}) {
    const handler = panelHandlers()[method] as RpcHandler;
    const context = { signal: options.signal ?? new AbortController().signal, onProgress: options.onProgress ?? (() => undefined), log: () => undefined };
    return handler(params as never, context) as Promise<T>;
  },
};

interface Harness {
  controller: PanelController;
  messages: HostMessage[];
  saved: string;
}

function lastState(messages: HostMessage[]): PanelState {
  const states = messages.filter((message) => message.type === 'state');
  return (states[states.length - 1] as { state: PanelState }).state;
}

async function reply(harness: Harness, id: number, timeoutMs = 60_000): Promise<HostMessage> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = harness.messages.find((message) => (message.type === 'reply' || message.type === 'failure') && message.id === id);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no reply to request ${id}`);
}

describe('panel host and worker', { timeout: 180_000 }, () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-panel-'));
  const harness: Harness = { controller: undefined as unknown as PanelController, messages: [], saved: path.join(folder, 'saved.h5') };

  before(async () => {
    harness.controller = new PanelController(model, inProcessWorker, {
      post: (message) => harness.messages.push(structuredClone(message)),
      pickFile: async (role) => (role === 'data' ? images : labels),
      pickSaveTarget: async (kind) => (kind === 'model' ? harness.saved : path.join(folder, `chart.${kind}`)),
      writeFile: async (target, content) => fs.writeFileSync(target, content),
      log: () => undefined,
    });
    harness.controller.handle({ type: 'ready' });
    await harness.controller.open();
  });

  after(() => {
    harness.controller.dispose();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('ready sends the model summary', () => {
    const state = lastState(harness.messages);
    assert.equal(state.error, null);
    assert.equal(state.view, 'model');
    assert.equal(state.model?.format, 'Keras HDF5');
    assert.deepEqual(state.model?.dense.map((layer) => [layer.units, layer.inputs]), [[256, 784], [128, 256], [64, 128], [10, 64]]);
    assert.equal(state.scores?.method, 'magnitude');
    assert.equal(state.inputImage?.width, 28);
  });

  it('rejects invalid messages', () => {
    harness.controller.handle({ type: 'request', id: 900, method: 'tile', params: { layer: 'x', region: { row0: -1 } } });
    const failure = harness.messages.find((message) => message.type === 'failure' && message.id === 900);
    assert.match((failure as { message: string }).message, /Invalid panel message: row0/);
    harness.controller.handle({ type: 'request', id: 901, method: 'save', params: { output: '/etc/passwd' } });
    assert.ok(harness.messages.some((message) => message.type === 'failure' && message.id === 901));
  });

  it('tiles downsample large layers', async () => {
    const layer = lastState(harness.messages).model?.dense[0].name as string;
    harness.controller.handle({ type: 'request', id: 1, method: 'tile', params: { layer, region: { row0: 0, row1: 256, col0: 0, col1: 784 }, maxRows: 256, maxCols: 256 } });
    const message = await reply(harness, 1);
    assert.equal(message.type, 'reply');
    const tile = (message as { result: WireTile }).result;
    assert.equal(tile.cols, 196);
    assert.equal(tile.rows, 256);
    assert.ok(tile.weight instanceof ArrayBuffer);
    assert.equal(tile.weight.byteLength, 196 * 256 * 4);
  });

  it('loads data and measures metrics', async () => {
    harness.controller.handle({ type: 'request', id: 2, method: 'pickFile', params: { role: 'data' } });
    await reply(harness, 2);
    harness.controller.handle({ type: 'request', id: 3, method: 'pickFile', params: { role: 'labels' } });
    await reply(harness, 3);
    const form = { scale: '1/255', rows: '0:1000', evalRows: '1000:3000', method: 'ecp' };
    harness.controller.handle({ type: 'request', id: 4, method: 'loadData', params: form });
    const loaded = await reply(harness, 4);
    assert.equal(loaded.type, 'reply', JSON.stringify(loaded));
    const state = lastState(harness.messages);
    assert.equal(state.scores?.method, 'ecp');
    assert.equal(state.data?.samples, 1000);
    assert.equal(state.data?.evalSamples, 2000);
    assert.equal(state.data?.task, 'classification');
    assert.ok((state.data?.original.accuracy ?? 0) > 0.95, `original accuracy ${state.data?.original.accuracy}`);
    const names = state.model?.dense.map((layer) => layer.name) ?? [];
    harness.controller.handle({ type: 'request', id: 5, method: 'evaluate', params: { sparsities: {} } });
    harness.controller.handle({ type: 'request', id: 6, method: 'evaluate', params: { sparsities: Object.fromEntries(names.map((name) => [name, 0.97])) } });
    const original = ((await reply(harness, 5)) as { result: { metrics: { accuracy: number } } }).result.metrics;
    const pruned = ((await reply(harness, 6)) as { result: { metrics: { accuracy: number } } }).result.metrics;
    assert.ok(original.accuracy > 0.95, `original accuracy ${original.accuracy}`);
    assert.ok(pruned.accuracy < original.accuracy, `pruned ${pruned.accuracy} vs ${original.accuracy}`);
  });

  it('save writes the chosen file', async () => {
    const params = { scope: 'global', sparsity: 0.5, layerSparsity: {}, steps: 1, method: 'ecp' };
    harness.controller.handle({ type: 'request', id: 7, method: 'save', params });
    const message = await reply(harness, 7, 120_000);
    assert.equal(message.type, 'reply', JSON.stringify(message));
    assert.ok(fs.statSync(harness.saved).size > 0);
  });

  it('reloads a lost worker session', async () => {
    await inProcessWorker.request('panel.close', { session: harness.controller.session });
    const layer = lastState(harness.messages).model?.dense[3].name as string;
    harness.controller.handle({ type: 'request', id: 10, method: 'point', params: { layer, unit: 1, input: 2 } });
    const message = await reply(harness, 10, 120_000);
    assert.equal(message.type, 'reply', JSON.stringify(message));
    const detail = (message as { result: { unit: number; compensation: number | null } }).result;
    assert.equal(detail.unit, 1);
    assert.notEqual(detail.compensation, null, 'the reloaded session lost its ECP scores');
  });

  it('export checks PNG bytes', async () => {
    harness.controller.handle({ type: 'request', id: 8, method: 'export', params: { format: 'png', name: 'x', content: new ArrayBuffer(8) } });
    assert.match(((await reply(harness, 8)) as { message: string }).message, /not a PNG image/);
    harness.controller.handle({ type: 'request', id: 9, method: 'export', params: { format: 'csv', name: 'c', content: 'a,b\r\n' } });
    await reply(harness, 9);
    assert.equal(fs.readFileSync(path.join(folder, 'chart.csv'), 'utf8'), 'a,b\r\n');
  });
});

describe('panel backend preference', () => {
  it('opens on the preferred backend', async () => {
    const handlers = panelHandlers('cpu');
    const context = { signal: new AbortController().signal, onProgress: () => undefined, log: () => undefined };
    const model = { model: corpusPath('keras-h5-iris-mlp', 'iris_model.h5') };
    const opened = (await handlers['panel.open']({ session: 'cpu-panel', model } as never, context)) as { backend: string };
    await handlers['panel.close']({ session: 'cpu-panel' } as never, context);
    assert.equal(opened.backend, 'cpu');
  });
});
