/** A worker for the WorkerClient tests: the real RPC server with small handlers. */
import { parentPort } from 'node:worker_threads';
import { checkpoint } from '../../../src/core/progress';
import { serveRpc } from '../../../src/extension/rpc-server';
import { testHandlers } from '../../../src/extension/test-handlers';
import { PruneLensError } from '../../../src/core/errors';
import { openModel } from '../../../src/core/formats';
import { hdf5Stopped } from '../../../src/core/formats/hdf5-runtime';

if (parentPort) {
  const brokenBecause = () => hdf5Stopped();
  serveRpc(
    parentPort,
    {
    ...testHandlers,
    echo: async (params: unknown) => params,
    fail: async (params: { file: string }) => {
      throw new PruneLensError(params.file, 'is broken; re-export it.');
    },
    count: async (params: { to: number }, { signal, onProgress, log }) => {
      for (let i = 1; i <= params.to; i++) {
        onProgress({ fraction: i / params.to, message: `step ${i}` });
        await checkpoint(signal);
      }
      log(`counted to ${params.to}`);
      return params.to;
    },
    crash: async () => process.exit(3),
    open: async (params: { file: string }) => (await openModel(params.file)).network.layers.length,
    },
    brokenBecause,
  );
}
