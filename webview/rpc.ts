/** The webview's end of the panel protocol: requests with ids, progress, cancel, and state. */
import type {
  HostMessage,
  PanelState,
  RequestMap,
  RequestMethod,
  WebviewMessage,
} from '../src/shared/protocol';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** A request failure; `cancelled` when the user pressed Cancel. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly cancelled: boolean,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: (fraction: number, message: string) => void;
}

/** A request in flight: its reply, and a way to cancel it. */
export interface Call<T> {
  id: number;
  result: Promise<T>;
  cancel(): void;
}

const api = acquireVsCodeApi();
const pending = new Map<number, Pending>();
const stateListeners: ((state: PanelState) => void)[] = [];
let nextId = 1;

/** Sends a request to the host. */
export function call<M extends RequestMethod>(
  method: M,
  params: RequestMap[M]['params'],
  onProgress?: (fraction: number, message: string) => void,
): Call<RequestMap[M]['result']> {
  const id = nextId++;
  const result = new Promise<RequestMap[M]['result']>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress });
  });
  api.postMessage({ type: 'request', id, method, params } as WebviewMessage);
  return { id, result, cancel: () => api.postMessage({ type: 'cancel', id }) };
}

/** Calls `listener` with every state the host sends. */
export function onState(listener: (state: PanelState) => void): void {
  stateListeners.push(listener);
}

function receive(message: HostMessage): void {
  if (message.type === 'state') {
    for (const listener of stateListeners) listener(message.state);
    return;
  }
  const entry = pending.get(message.id);
  if (!entry) return;
  if (message.type === 'progress') {
    entry.onProgress?.(message.fraction, message.message);
    return;
  }
  pending.delete(message.id);
  if (message.type === 'reply') entry.resolve(message.result);
  else entry.reject(new RequestError(message.message, message.cancelled));
}

/** Starts listening, then sends `ready` so the host sends the state. */
export function connect(): void {
  window.addEventListener('message', (event: MessageEvent<HostMessage>) => receive(event.data));
  api.postMessage({ type: 'ready' });
}
