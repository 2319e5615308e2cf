/** Error types whose messages are shown to users as one line. */

/** A problem with a user's file: the message names the file, the problem and, where known, the fix. */
export class PruneLensError extends Error {
  constructor(
    readonly file: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(escapeControlCharacters(file ? `${file}: ${message}` : message), options);
    this.name = 'PruneLensError';
  }
}

/**
 * Replaces control characters (which names quoted from a damaged file may contain) with `\n`,
 * `\t` or `\xNN`, so that every message stays on one line and cannot move the terminal's cursor.
 */
function escapeControlCharacters(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (character) => {
    if (character === '\n') return '\\n';
    if (character === '\t') return '\\t';
    if (character === '\r') return '\\r';
    return `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A model file that a format reader cannot read. */
export class ModelFormatError extends PruneLensError {
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(file, message, options);
    this.name = 'ModelFormatError';
  }
}

/** A calibration or evaluation data file that cannot be used. */
export class DataError extends PruneLensError {
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(file, message, options);
    this.name = 'DataError';
  }
}

/** Invalid options or arguments (the CLI exits with code 2 for these). */
export class UsageError extends PruneLensError {
  constructor(message: string) {
    super(undefined, message);
    this.name = 'UsageError';
  }
}

/** Thrown when the caller's AbortSignal fires. */
export class CancelledError extends Error {
  constructor() {
    super('Cancelled.');
    this.name = 'CancelledError';
  }
}

/** Maximum length of an error line, in characters. */
const maxLineLength = 1000;

/** Returns a one-line message for any thrown value, shortened to 1,000 characters. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  // A message that quotes a hostile file's contents could otherwise run to megabytes.
  return line.length <= maxLineLength ? line : `${line.slice(0, maxLineLength)}… (${line.length} characters)`;
}
