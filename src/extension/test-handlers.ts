/** Worker handlers that only the integration tests enable, to check cancellation and restarts. */
import { checkpoint } from '../core/progress';
import type { HandlerContext, RpcHandlers } from './rpc-protocol';

/** Handlers for tests: a cooperative wait and a synchronous busy loop that ignores Cancel. */
export const testHandlers: RpcHandlers = {
  'test.wait': async (params: { ms: number }, { signal, onProgress }: HandlerContext) => {
    const end = Date.now() + params.ms;
    while (Date.now() < end) {
      onProgress({ fraction: 1 - (end - Date.now()) / params.ms, message: 'Waiting' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await checkpoint(signal);
    }
    return { waited: params.ms };
  },
  'test.block': async (params: { ms: number }) => {
    const end = Date.now() + params.ms;
    while (Date.now() < end) {
      // Busy on purpose: the host must terminate this worker after a Cancel.
    }
    return { blocked: params.ms };
  },
  'test.threadId': async () => (await import('node:worker_threads')).threadId,
};
