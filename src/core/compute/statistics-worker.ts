/**
 * The second thread of parallel.ts: runs the statistics on its share of the samples with its own
 * wasm backend and replies with the sums, then with the refinement sums when asked.
 */
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendPreference } from './backend';
import type { WorkerReply, WorkerRequest } from './parallel';
import { refinementVisitor } from './refine';
import { Runtime } from './runtime';
import { StatisticsPass } from './statistics';

let runtime: Runtime | null = null;
let pass: StatisticsPass | null = null;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function release(): void {
  pass?.dispose();
  runtime?.dispose();
  pass = null;
  runtime = null;
}

async function handle(request: WorkerRequest): Promise<void> {
  if (request.type === 'release') {
    release();
    return;
  }
  if (request.type === 'accumulate') {
    release();
    await initBackend(request.backend as BackendPreference);
    runtime = new Runtime(request.network);
    pass = new StatisticsPass(runtime, request.dataset, request.needs, request.options, request.shifts);
    await pass.accumulate();
    const layers = pass.layers.map(({ m0, m1, m2 }) => ({ m0, m1, m2 }));
    reply({ type: 'sums', layers }, layers.flatMap(({ m0, m1, m2 }) => [m0.buffer, m1.buffer, m2.buffer]) as ArrayBuffer[]);
    return;
  }
  if (!pass) throw new Error('internal: refinement requested before the statistics');
  await pass.replay(refinementVisitor(pass.layers, request.sums), request.sums.map(({ index }) => index.length > 0));
  reply({ type: 'refined', sums: request.sums });
}

parentPort?.on('message', (request: WorkerRequest) => {
  handle(request).catch((error: Error) => reply({ type: 'error', message: error.message }));
});
