/**
 * Entry of the compute worker thread (bundled to dist/worker.js). Every computation of the
 * extension runs here, so the extension host's thread stays responsive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { jobHandlers } from './job-handlers';
import { panelHandlers } from './panel/worker-handlers';
import type { RpcHandlers, WorkerOptions } from './rpc-protocol';
import { serveRpc } from './rpc-server';
import { testHandlers } from './test-handlers';

const options = workerData as WorkerOptions;
const handlers: RpcHandlers = {
  ...(panelHandlers as RpcHandlers),
  ...jobHandlers(options),
  ...(options.testHooks ? testHandlers : {}),
};
if (parentPort) serveRpc(parentPort, handlers);
