/** A progress line on stderr: rewritten in place on a terminal, a line every few seconds otherwise. */
import type { ProgressEvent } from '../core/progress';

const plainInterval = 5000;

/** Shows the progress of a long run without touching stdout. */
export class ProgressLine {
  private lastPlain = 0;
  private shown = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly quiet: boolean,
  ) {}

  /** Shows the latest progress. */
  update(event: ProgressEvent): void {
    if (this.quiet) return;
    const text = `${Math.round(event.fraction * 100)
      .toString()
      .padStart(3)}% ${event.message}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${text.slice(0, (this.stream.columns ?? 80) - 1).padEnd(Math.min(79, (this.stream.columns ?? 80) - 1))}`);
      this.shown = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= plainInterval) {
      this.lastPlain = now;
      this.stream.write(`${text}\n`);
    }
  }

  /** Removes the line from a terminal. */
  clear(): void {
    if (this.shown && this.stream.isTTY) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
