/**
 * Runs inputs through the PruneLens readers in a child process, one at a time, with a timeout
 * and a heap cap, and classifies each result. A crash is any of: an exception that is not a
 * PruneLensError, a message of more than one line or that names no file, a hang (timeout) or
 * the death of the child process (out of memory, signal).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { HarnessReply, HarnessRequest, HarnessTarget } from './protocol';

/** What happened to one input. */
export interface Verdict {
  kind: 'ok' | 'rejected' | 'crash';
  /** For crashes: exception, multi-line, no-file, timeout or exit. */
  reason?: string;
  message?: string;
  /** For crashes: the reason and, for exceptions, the error name and the first source frame. */
  signature: string;
  milliseconds: number;
}

/** Options of the reader child process. */
export interface PoolOptions {
  /** Time allowed per input (default 10 s). */
  timeoutMs?: number;
  /** V8 heap cap of the child in MB (default 1536). */
  heapMb?: number;
}

const workerPath = path.join(__dirname, 'worker.ts');

/** A reader child process that is replaced whenever an input kills or hangs it. */
export class ReaderPool {
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;
  private nextId = 0;
  private readonly timeoutMs: number;
  private readonly heapMb: number;

  constructor(options: PoolOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.heapMb = options.heapMb ?? 1536;
  }

  /** Opens `file` with `target` in the child and classifies the result. */
  async run(target: HarnessTarget, file: string, save = false): Promise<Verdict> {
    const child = await this.start();
    const request: HarnessRequest = { id: this.nextId++, target, file, save };
    const started = Date.now();
    return new Promise<Verdict>((resolve) => {
      const finish = (verdict: Verdict) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(verdict);
      };
      const onMessage = (reply: HarnessReply) => {
        if (reply.id !== request.id) return;
        // A reader whose HDF5 library aborted would reject every later HDF5 input.
        if (reply.retire) this.kill();
        finish(classify(reply, file));
      };
      const onExit = (code: number | null, signal: string | null) => {
        this.child = null;
        const message = `reader process died (code ${code}, signal ${signal})`;
        finish(crash('exit', message, 'exit', Date.now() - started));
      };
      const timer = setTimeout(() => {
        this.kill();
        const message = `no result after ${this.timeoutMs} ms`;
        finish(crash('timeout', message, 'timeout', Date.now() - started));
      }, this.timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(request);
    });
  }

  /** Stops the child process. */
  close(): void {
    this.kill();
  }

  private kill(): void {
    const child = this.child;
    this.child = null;
    this.ready = null;
    if (child && child.exitCode === null) child.kill('SIGKILL');
  }

  private async start(): Promise<ChildProcess> {
    if (this.child && this.ready) {
      await this.ready;
      return this.child;
    }
    const child = fork(workerPath, [], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${this.heapMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    // Drain stderr so a noisy reader cannot block on a full pipe.
    child.stderr?.resume();
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`reader process exited with code ${code} while starting`)));
    });
    await this.ready;
    return child;
  }
}

function crash(reason: string, message: string | undefined, signature: string, milliseconds: number): Verdict {
  return { kind: 'crash', reason, message, signature, milliseconds };
}

function classify(reply: HarnessReply, file: string): Verdict {
  const { milliseconds, message } = reply;
  if (reply.outcome === 'ok') return { kind: 'ok', signature: '', milliseconds };
  if (reply.outcome === 'exception') {
    const frame = reply.stack?.split('\n').find((line) => line.includes('/src/'))?.trim() ?? '';
    const where = frame.replace(/^at /, '').replace(/\(.*\/src\//, '(src/').replace(/:\d+\)$/, ')');
    return crash('exception', `${reply.name}: ${message} ${frame}`, `exception ${reply.name} ${where}`, milliseconds);
  }
  if (message === undefined || message.includes('\n')) {
    return crash('multi-line', message, 'multi-line', milliseconds);
  }
  if (reply.name !== 'CancelledError' && !namesFile(message, reply.file, file)) {
    return crash('no-file', message, 'no-file', milliseconds);
  }
  return { kind: 'rejected', message, signature: '', milliseconds };
}

function namesFile(message: string, named: string | undefined, file: string): boolean {
  if (named !== undefined && named.length > 0) return true;
  return message.includes(path.basename(file));
}
