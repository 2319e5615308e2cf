import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkerClient, type WorkerLog } from '../../../src/extension/worker-client';
import { corpusPath, writeHdf5AbortingCopy } from '../../helpers/corpus';

const fixture = path.join(__dirname, 'rpc-worker-fixture.cjs');

function makeClient(): { client: WorkerClient; lines: string[] } {
  const lines: string[] = [];
  const log: WorkerLog = {
    info: (message) => lines.push(`info ${message}`),
    warn: (message) => lines.push(`warn ${message}`),
    error: (message) => lines.push(`error ${message}`),
  };
  const client = new WorkerClient(fixture, { backend: 'cpu', testHooks: true }, log);
  return { client, lines };
}

describe('WorkerClient', () => {
  const { client, lines } = makeClient();
  after(() => client.dispose());

  it('returns handler results', async () => {
    assert.deepEqual(await client.request('echo', { a: [1, 2] }), { a: [1, 2] });
  });

  it('relays progress and logs', async () => {
    const fractions: number[] = [];
    const value = await client.request(
      'count',
      { to: 3 },
      { onProgress: (event) => fractions.push(event.fraction) },
    );
    assert.equal(value, 3);
    assert.ok(fractions.length >= 1);
    assert.equal(fractions[fractions.length - 1], 1);
    assert.ok(lines.includes('info counted to 3'));
  });

  it('keeps the error name and message', async () => {
    await assert.rejects(client.request('fail', { file: 'x.h5' }), (error: Error) => {
      assert.equal(error.name, 'PruneLensError');
      assert.match(error.message, /^x\.h5: is broken/);
      return true;
    });
  });

  it('cancels a cooperative handler quickly', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = client.request('test.wait', { ms: 10_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(pending, { name: 'CancelledError' });
    assert.ok(Date.now() - started < 1000);
  });

  it('terminates a stuck handler after one second', async () => {
    const workersBefore = client.startedWorkers;
    const controller = new AbortController();
    let abortedAt = 0;
    const pending = client.request('test.block', { ms: 20_000 }, { signal: controller.signal });
    setTimeout(() => {
      abortedAt = Date.now();
      controller.abort();
    }, 100);
    await assert.rejects(pending, { name: 'CancelledError' });
    const elapsed = Date.now() - abortedAt;
    assert.ok(elapsed >= 990, `rejected ${elapsed} ms after cancel, before the grace period`);
    assert.ok(elapsed < 1500, `rejected ${elapsed} ms after cancel`);
    assert.ok(lines.some((line) => /did not stop within 1000 ms/.test(line)));
    assert.deepEqual(await client.request('echo', 'again'), 'again');
    assert.equal(client.startedWorkers, workersBefore + 1);
  });

  it('fails requests when the worker exits', async () => {
    await assert.rejects(client.request('crash', {}), /stopped unexpectedly \(exit code 3\)/);
    assert.deepEqual(await client.request('echo', 1), 1);
  });

  it('replaces a worker whose HDF5 aborted', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-abort-'));
    try {
      const intact = corpusPath('keras-h5-iris-mlp', 'iris_model.h5');
      const layers = await client.request('open', { file: intact });
      const workersBefore = client.startedWorkers;
      await assert.rejects(
        client.request('open', { file: writeHdf5AbortingCopy(folder) }),
        /aborts-hdf5\.h5: cannot be read: HDF5 stopped on a damaged structure in it/,
      );
      assert.ok(lines.some((line) => /^warn Starting a fresh worker for the next request: .*abort\(\)/.test(line)));
      assert.equal(await client.request('open', { file: intact }), layers);
      assert.equal(client.startedWorkers, workersBefore + 1);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('rejects an already aborted signal', async () => {
    await assert.rejects(client.request('echo', 1, { signal: AbortSignal.abort() }), {
      name: 'CancelledError',
    });
  });
});
