/**
 * Host side of the compute worker: sends requests, relays progress, and enforces cancellation.
 * A cancelled request that has not settled one second after its cancel message makes the client
 * terminate the worker and start a fresh one for the next request, so a handler stuck in a long
 * synchronous step cannot keep computing. A worker that reports itself broken is retired the
 * same way, once the requests it is running have settled.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError } from '../core/errors';
import type { ProgressEvent } from '../core/progress';
import type { RpcErrorData, WorkerMessage, WorkerOptions } from './rpc-protocol';

/** Destination of the client's messages about the worker. */
export interface WorkerLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of one request. */
export interface RequestOptions {
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

/** An error thrown in the worker, with the class name it had there. */
export class WorkerError extends Error {
  constructor(data: RpcErrorData) {
    super(data.message);
    this.name = data.name;
  }
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: (event: ProgressEvent) => void;
  cancelTimer?: NodeJS.Timeout;
  worker: Worker;
}

/** Time a cancelled handler gets to settle before its worker is terminated. */
export const cancelGraceMs = 1000;

/** Runs requests in a worker thread started from `script`. */
export class WorkerClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly retiring = new Set<Worker>();
  private disposed = false;

  constructor(
    private readonly script: string,
    private options: WorkerOptions,
    private readonly log: WorkerLog,
    private readonly execArgv?: string[],
  ) {}

  /** Number of workers started so far (a restart after a stuck cancel adds one). */
  startedWorkers = 0;

  /** True while a worker thread is running; the next request starts one otherwise. */
  get isRunning(): boolean {
    return this.worker !== undefined;
  }

  /** Sends `method(params)` to the worker and resolves with the handler's value. */
  request<T>(method: string, params: unknown, options: RequestOptions = {}): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('The PruneLens worker was shut down.'));
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        method,
        resolve: resolve as (value: unknown) => void,
        reject,
        onProgress: options.onProgress,
        worker,
      };
      this.pending.set(id, entry);
      options.signal?.addEventListener('abort', () => this.cancel(id), { once: true });
      worker.postMessage({ type: 'request', id, method, params });
    });
  }

  /** Stops the current worker (its requests fail) and starts the next one with `options`. */
  async restart(options: WorkerOptions): Promise<void> {
    this.options = options;
    const worker = this.worker;
    this.worker = undefined;
    this.rejectAll(
      worker,
      new Error('Stopped because the PruneLens worker restarted with new settings.'),
    );
    await worker?.terminate();
  }

  /** Terminates the worker; pending requests fail. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.rejectAll(worker, new Error('The PruneLens worker was shut down.'));
    await worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, { workerData: this.options, execArgv: this.execArgv });
    this.startedWorkers++;
    worker.on('message', (message: WorkerMessage) => this.onMessage(message, worker));
    worker.on('error', (error) => {
      this.log.error(`Worker error: ${error.message}`);
      this.forget(worker, new Error(`The PruneLens worker failed: ${error.message}`));
    });
    worker.on('exit', (code) => {
      this.forget(
        worker,
        new Error(`The PruneLens worker stopped unexpectedly (exit code ${code}).`),
      );
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(message: WorkerMessage, worker: Worker): void {
    if (message.type === 'log') {
      this.log[message.level](message.message);
      return;
    }
    if (message.type === 'retire') {
      this.retire(worker, message.reason);
      return;
    }
    const entry = this.pending.get(message.id);
    if (!entry) return;
    if (message.type === 'progress') {
      entry.onProgress?.({ fraction: message.fraction, message: message.message });
      return;
    }
    this.settle(message.id, entry);
    if (message.type === 'result') {
      entry.resolve(message.value);
    } else if (message.error.name === 'CancelledError') {
      entry.reject(new CancelledError());
    } else {
      entry.reject(new WorkerError(message.error));
    }
  }

  private cancel(id: number): void {
    const entry = this.pending.get(id);
    if (!entry || entry.cancelTimer) return;
    entry.worker.postMessage({ type: 'cancel', id });
    entry.cancelTimer = setTimeout(() => this.restartAfterStuckCancel(id, entry), cancelGraceMs);
  }

  private restartAfterStuckCancel(id: number, entry: Pending): void {
    if (!this.pending.has(id)) return;
    this.log.warn(
      `"${entry.method}" did not stop within ${cancelGraceMs} ms of Cancel; restarting the worker.`,
    );
    this.settle(id, entry);
    entry.reject(new CancelledError());
    const stuck = entry.worker;
    if (this.worker === stuck) this.worker = undefined;
    this.rejectAll(
      stuck,
      new Error('Stopped because the PruneLens worker was restarted after a Cancel.'),
    );
    void stuck.terminate();
  }

  /** Sends later requests to a fresh worker and ends `worker` when it has no request left. */
  private retire(worker: Worker, reason: string): void {
    this.log.warn(`Starting a fresh worker for the next request: ${reason}.`);
    if (this.worker === worker) this.worker = undefined;
    this.retiring.add(worker);
    this.endIfIdle(worker);
  }

  private settle(id: number, entry: Pending): void {
    clearTimeout(entry.cancelTimer);
    this.pending.delete(id);
    this.endIfIdle(entry.worker);
  }

  private endIfIdle(worker: Worker): void {
    if (!this.retiring.has(worker)) return;
    for (const entry of this.pending.values()) if (entry.worker === worker) return;
    this.retiring.delete(worker);
    void worker.terminate();
  }

  /** Drops a worker that errored or exited, failing the requests it was running. */
  private forget(worker: Worker, error: Error): void {
    if (this.worker === worker) this.worker = undefined;
    this.rejectAll(worker, error);
  }

  private rejectAll(worker: Worker | undefined, error: Error): void {
    for (const [id, entry] of this.pending) {
      if (worker && entry.worker !== worker) continue;
      this.settle(id, entry);
      entry.reject(error);
    }
  }
}
