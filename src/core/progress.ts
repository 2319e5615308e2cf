/** Progress reporting and cancellation shared by every long operation of the core. */
import { CancelledError } from './errors';

/** One progress report: a fraction in [0, 1] and what is being done. */
export interface ProgressEvent {
  fraction: number;
  message: string;
}

/** Options every long-running core function accepts. */
export interface TaskOptions {
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

/** Throws CancelledError when the signal has fired. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/**
 * Lets the event loop run between passes of a long synchronous computation, so that a Ctrl+C
 * handler or a cancel message is not held up until it ends.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Yields to the event loop so that a cancel message or a timer can run, then checks the signal.
 * Long loops call this between batches.
 */
export async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  await yieldToEventLoop();
  throwIfCancelled(signal);
}

/** Maps the progress of a sub-task onto the range [start, end] of its parent's progress. */
export function subProgress(
  onProgress: TaskOptions['onProgress'],
  start: number,
  end: number,
): TaskOptions['onProgress'] {
  if (!onProgress) return undefined;
  return (event) =>
    onProgress({ fraction: start + (end - start) * event.fraction, message: event.message });
}
