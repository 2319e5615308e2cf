/**
 * Entry of the compute worker thread (bundled to dist/worker.js). Every computation of the
 * extension runs here, so the extension host's thread stays responsive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BackendPreference } from '../core/compute/backend';
import { hdf5Stopped } from '../core/formats/hdf5-runtime';
import { jobHandlers } from './job-handlers';
import { panelHandlers } from './panel/worker-handlers';
import type { RpcHandlers, WorkerOptions } from './rpc-protocol';
import { serveRpc } from './rpc-server';
import { testHandlers } from './test-handlers';

const options = workerData as WorkerOptions;
const handlers: RpcHandlers = {
  ...panelHandlers(options.backend as BackendPreference),
  ...jobHandlers(options),
  ...(options.testHooks ? testHandlers : {}),
};
// Once HDF5 has aborted on a damaged file, every later HDF5 read in this thread would fail.
const brokenBecause = () => {
  const reason = hdf5Stopped();
  return reason === undefined ? undefined : `HDF5 stopped (${reason})`;
};
if (parentPort) serveRpc(parentPort, handlers, brokenBecause);
