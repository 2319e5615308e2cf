/** Parsers for the CLI's data options `--scale`/`--shift`/`--mean`/`--std` and `--rows`. */
import { UsageError } from '../errors';

/**
 * Parses `0.5` to a number and `1,2,3` to one number per feature. A value may also be written
 * as a fraction such as `1/255`.
 */
export function parseNumberList(text: string): number | number[] {
  const parts = text.split(',').map((part) => part.trim());
  const values = parts.map((part) => parseNumber(part, text));
  return values.length === 1 ? values[0] : values;
}

function parseNumber(part: string, text: string): number {
  const fraction = /^(.+)\/(.+)$/.exec(part);
  const value = fraction
    ? strictNumber(fraction[1]) / strictNumber(fraction[2])
    : strictNumber(part);
  if (!Number.isFinite(value)) {
    throw new UsageError(
      `invalid number ${JSON.stringify(part)} in ${JSON.stringify(text)}; give a number such as 0.5 or a comma-separated list such as 1,2,3.`,
    );
  }
  return value;
}

/** Converts text to a number, or NaN for anything but a decimal number (no empty text, no hex). */
function strictNumber(text: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : NaN;
}

/**
 * Parses `START:END` (half-open, zero-based) as for `--rows 0:2000`. START defaults to 0 and a
 * missing END means "to the last sample" (returned as Infinity).
 */
export function parseRows(text: string): [number, number] {
  const match = /^\s*(\d*)\s*:\s*(\d*)\s*$/.exec(text);
  const start = match && match[1] !== '' ? Number(match[1]) : 0;
  const end = match && match[2] !== '' ? Number(match[2]) : Infinity;
  if (
    !match ||
    (match[1] === '' && match[2] === '') ||
    start >= end ||
    !Number.isSafeInteger(start)
  ) {
    throw new UsageError(
      `invalid row range ${JSON.stringify(text)}; write START:END with whole numbers and START < END, e.g. 0:2000.`,
    );
  }
  return [start, end];
}
