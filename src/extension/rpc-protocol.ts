/**
 * Messages between the extension host and its compute worker. The host sends requests and
 * cancels, and the worker replies to each request id with progress events, then a result or an
 * error.
 */

/** Host → worker: run `method` with `params`. */
export interface RpcRequest {
  type: 'request';
  id: number;
  method: string;
  params: unknown;
}

/** Host → worker: abort the signal of request `id`. */
export interface RpcCancel {
  type: 'cancel';
  id: number;
}

/** Messages the host sends. */
export type HostMessage = RpcRequest | RpcCancel;

/** Worker → host: progress of request `id`, `fraction` in [0, 1]. */
export interface RpcProgress {
  type: 'progress';
  id: number;
  fraction: number;
  message: string;
}

/** Worker → host: the value a handler resolved with. */
export interface RpcResult {
  type: 'result';
  id: number;
  value: unknown;
}

/** An error as plain data: the class name decides how the host shows it. */
export interface RpcErrorData {
  name: string;
  message: string;
}

/** Worker → host: the error a handler threw. */
export interface RpcError {
  type: 'error';
  id: number;
  error: RpcErrorData;
}

/** Worker → host: a line for the log channel. */
export interface RpcLog {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

/**
 * Worker → host: this worker can no longer serve requests reliably (HDF5 aborted in it), so the
 * host sends new requests to a fresh worker and ends this one once its requests have settled.
 */
export interface RpcRetire {
  type: 'retire';
  reason: string;
}

/** Messages the worker sends. */
export type WorkerMessage = RpcProgress | RpcResult | RpcError | RpcLog | RpcRetire;

/** Context every handler receives besides its parameters. */
export interface HandlerContext {
  signal: AbortSignal;
  onProgress: (event: { fraction: number; message: string }) => void;
  log: (message: string) => void;
}

/** A worker-side request handler. */
export type RpcHandler = (params: never, context: HandlerContext) => Promise<unknown>;

/** Handlers by method name. */
export type RpcHandlers = Record<string, RpcHandler>;

/** Data the host passes to a new worker. */
export interface WorkerOptions {
  /** TF.js backend preference: `auto`, `wasm`, `cpu` or `node`. */
  backend: string;
  /** Adds handlers that only the integration tests use. */
  testHooks: boolean;
}
