/** Worker side of the RPC: runs handlers with an AbortSignal and posts progress and outcomes. */
import type { MessagePort } from 'node:worker_threads';
import type { HostMessage, RpcErrorData, RpcHandlers, WorkerMessage } from './rpc-protocol';

/** Minimum time between two progress messages of one request, so the host is not flooded. */
const progressIntervalMs = 50;

/**
 * Serves `handlers` on `port` until the worker ends. After each request, `brokenBecause` returns
 * whether the worker has become unusable; the first time it does, the host is asked to retire it.
 */
export function serveRpc(
  port: MessagePort,
  handlers: RpcHandlers,
  brokenBecause: () => string | undefined = () => undefined,
): void {
  const running = new Map<number, AbortController>();
  const post = (message: WorkerMessage) => port.postMessage(message);
  let retiring = false;
  const retireIfBroken = () => {
    const reason = brokenBecause();
    if (retiring || reason === undefined) return;
    retiring = true;
    post({ type: 'retire', reason });
  };

  port.on('message', (message: HostMessage) => {
    if (message.type === 'cancel') {
      running.get(message.id)?.abort();
      return;
    }
    const controller = new AbortController();
    running.set(message.id, controller);
    void runRequest(message.id, message.method, message.params, controller.signal).finally(() =>
      running.delete(message.id),
    );
  });

  async function runRequest(id: number, method: string, params: unknown, signal: AbortSignal) {
    const handler = Object.hasOwn(handlers, method) ? handlers[method] : undefined;
    if (!handler) {
      post({
        type: 'error',
        id,
        error: { name: 'Error', message: `Unknown worker method "${method}".` },
      });
      return;
    }
    let lastProgress = 0;
    const onProgress = (event: { fraction: number; message: string }) => {
      const now = Date.now();
      if (now - lastProgress < progressIntervalMs && event.fraction < 1) return;
      lastProgress = now;
      post({ type: 'progress', id, fraction: event.fraction, message: event.message });
    };
    const log = (text: string) => post({ type: 'log', level: 'info', message: text });
    let outcome: WorkerMessage;
    try {
      const value = await handler(params as never, { signal, onProgress, log });
      outcome = { type: 'result', id, value };
    } catch (error) {
      outcome = { type: 'error', id, error: toErrorData(error) };
    }
    // Retiring first means the host sends no request that follows this outcome to this worker.
    retireIfBroken();
    post(outcome);
  }
}

/** Reduces a thrown value to its class name and message. */
export function toErrorData(error: unknown): RpcErrorData {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}
