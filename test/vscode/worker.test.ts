import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { InspectReport } from '../../src/core/reports';
import type { PruneLensApi } from '../../src/extension/extension';
import { activateExtension, copyFromCorpus, waitFor } from './helpers';

describe('worker', () => {
  let api: PruneLensApi;
  before(async () => {
    api = await activateExtension();
  });

  it('runs handlers off the host thread', async () => {
    const { threadId } = await import('node:worker_threads');
    const workerThread = await api.worker.request<number>('test.threadId', {});
    assert.notEqual(workerThread, threadId);
  });

  it('stops a cooperative handler on cancel', async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    const request = api.worker.request('test.wait', { ms: 20_000 }, { signal: controller.signal });
    setTimeout(() => {
      abortedAt = Date.now();
      controller.abort();
    }, 200);
    await assert.rejects(request, /Cancelled/);
    assert.ok(Date.now() - abortedAt < 1000, `stopped ${Date.now() - abortedAt} ms after cancel`);
  });

  it('restarts a worker stuck after cancel', async () => {
    const before = api.worker.startedWorkers;
    const controller = new AbortController();
    let abortedAt = 0;
    const request = api.worker.request('test.block', { ms: 30_000 }, { signal: controller.signal });
    setTimeout(() => {
      abortedAt = Date.now();
      controller.abort();
    }, 300);
    await assert.rejects(request, /Cancelled/);
    const elapsed = Date.now() - abortedAt;
    assert.ok(elapsed >= 900, `rejected ${elapsed} ms after cancel, before the grace period`);
    assert.ok(elapsed < 1500, `rejected ${elapsed} ms after cancel`);
    const value = await api.worker.request<{ waited: number }>('test.wait', { ms: 10 });
    assert.equal(value.waited, 10);
    assert.equal(api.worker.startedWorkers, before + 1);
  });

  it('reports progress events', async () => {
    const fractions: number[] = [];
    await api.worker.request(
      'test.wait',
      { ms: 400 },
      { onProgress: (event) => fractions.push(event.fraction) },
    );
    assert.ok(fractions.length >= 3, `only ${fractions.length} progress events`);
    assert.ok(fractions.every((value, index) => index === 0 || value >= fractions[index - 1]));
  });

  it('rejects an unknown method', async () => {
    await assert.rejects(
      api.worker.request('no.such.method', {}),
      /Unknown worker method "no\.such\.method"/,
    );
  });
});

describe('settings', () => {
  let api: PruneLensApi;
  before(async () => {
    api = await activateExtension();
  });
  afterEach(async () => {
    const config = vscode.workspace.getConfiguration('prunelens');
    await config.update('backend', undefined, vscode.ConfigurationTarget.Global);
    await config.update('confirmLoadAboveMB', undefined, vscode.ConfigurationTarget.Global);
  });

  it('restarts the worker for a new backend', async () => {
    await api.worker.request('test.threadId', {});
    const before = api.worker.startedWorkers;
    await vscode.workspace
      .getConfiguration('prunelens')
      .update('backend', 'cpu', vscode.ConfigurationTarget.Global);
    await waitFor(() => !api.worker.isRunning, 5000, 'the old worker to stop');
    await api.worker.request('test.threadId', {});
    assert.equal(api.worker.startedWorkers, before + 1);
  });

  it('asks before loading a large model', async () => {
    await vscode.workspace
      .getConfiguration('prunelens')
      .update('confirmLoadAboveMB', 1, vscode.ConfigurationTarget.Global);
    const model = copyFromCorpus('large', 'keras-h5-mnist-mlp-bn-dropout/mnist_mlp.h5');
    const declined = await vscode.commands.executeCommand('prunelens.inspectModel', model, {
      allowLarge: false,
      open: false,
    });
    assert.equal(declined, undefined);
    const report = await vscode.commands.executeCommand<InspectReport>(
      'prunelens.inspectModel',
      model,
      {
        allowLarge: true,
        open: false,
      },
    );
    assert.equal(report?.format, 'keras-h5');
  });

  it('counts weight shards in the size', async () => {
    await vscode.workspace
      .getConfiguration('prunelens')
      .update('confirmLoadAboveMB', 1, vscode.ConfigurationTarget.Global);
    const folder = 'tfjs-layers-legacy-ai2048-conv-dense';
    const shards = [1, 2, 3, 4, 5, 6, 7].map((group) => `${folder}/group${group}-shard1of1`);
    // model.json is 8 KB and its shards 3.9 MB, so only a size that counts the shards prompts.
    const model = copyFromCorpus('shards', `${folder}/model.json`, ...shards);
    const declined = await vscode.commands.executeCommand('prunelens.inspectModel', model, {
      allowLarge: false,
      open: false,
    });
    assert.equal(declined, undefined);
  });
});
