/** Row selection and the `(x * scale + shift - mean) / std` preprocessing of features. */
import { DataError } from '../errors';
import { checkpoint, type TaskOptions } from '../progress';
import type { DataOptions } from './types';
import { describeColumn, describeRow, type RawData } from './raw';

/** Values processed between two cancellation checks. */
const valuesPerChunk = 1 << 20;

/** One factor per feature for each preprocessing step. */
export interface Preprocessing {
  scale: Float64Array;
  shift: Float64Array;
  mean: Float64Array;
  std: Float64Array;
  /** Short description, e.g. `scale 0.003922, standardized`, or null when nothing is applied. */
  description: string | null;
}

const steps = ['scale', 'shift', 'mean', 'std'] as const;
const neutral = { scale: 1, shift: 0, mean: 0, std: 1 };

/** Expands the preprocessing options to one value per feature after checking them. */
export function resolvePreprocessing(
  file: string,
  options: DataOptions,
  featureCount: number,
): Preprocessing {
  const result = {} as Record<(typeof steps)[number], Float64Array>;
  for (const step of steps) {
    const value = options[step] ?? neutral[step];
    const values =
      typeof value === 'number'
        ? new Float64Array(featureCount).fill(value)
        : Float64Array.from(value);
    if (typeof value !== 'number' && value.length !== featureCount) {
      throw new DataError(
        file,
        `${step} has ${value.length} values but the data has ${featureCount} features; give one number or ${featureCount}.`,
      );
    }
    const bad = values.findIndex(
      (value) => !Number.isFinite(value) || (step === 'std' && value === 0),
    );
    if (bad >= 0) {
      const rule = step === 'std' ? 'a finite number other than 0' : 'a finite number';
      throw new DataError(
        file,
        `${step} for feature ${bad} is ${values[bad]}; it must be ${rule}.`,
      );
    }
    result[step] = values;
  }
  return { ...result, description: describePreprocessing(options) };
}

function describePreprocessing(options: DataOptions): string | null {
  const format = (value: number | number[]): string =>
    typeof value === 'number' ? String(Number(value.toPrecision(4))) : 'per feature';
  const parts: string[] = [];
  if (options.scale !== undefined) parts.push(`scale ${format(options.scale)}`);
  if (options.shift !== undefined) parts.push(`shift ${format(options.shift)}`);
  if (options.mean !== undefined && options.std !== undefined) {
    parts.push('standardized');
  } else {
    if (options.mean !== undefined) parts.push(`mean ${format(options.mean)} subtracted`);
    if (options.std !== undefined) parts.push(`divided by std ${format(options.std)}`);
  }
  return parts.length > 0 ? parts.join(', ') : null;
}

/** Checks `rows` against the sample count and returns the half-open range to keep. */
export function selectRows(
  file: string,
  rows: DataOptions['rows'],
  samples: number,
): [number, number] {
  if (!rows) return [0, samples];
  const [start, requestedEnd] = rows;
  const text = `${start}:${requestedEnd === Infinity ? '' : requestedEnd}`;
  const openEnd = requestedEnd === Infinity;
  const valid =
    Number.isInteger(start) &&
    start >= 0 &&
    (openEnd || (Number.isInteger(requestedEnd) && start < requestedEnd));
  if (!valid) {
    throw new DataError(
      file,
      `rows ${text} is not a range START:END of whole numbers with START < END.`,
    );
  }
  const end = openEnd ? samples : requestedEnd;
  if (end > samples || start >= samples) {
    throw new DataError(
      file,
      `rows ${text} is out of range: the file has ${samples} samples, so use rows within 0:${samples}.`,
    );
  }
  return [start, end];
}

/**
 * Applies the preprocessing to samples `[start, end)` and returns float32 features. Raises on
 * the first NaN or infinite value, before or after preprocessing, naming its row and column.
 */
export async function preprocessRows(
  file: string,
  raw: RawData,
  [start, end]: [number, number],
  steps: Preprocessing,
  task: TaskOptions = {},
): Promise<Float32Array> {
  const width = raw.featureCount;
  const output = new Float32Array((end - start) * width);
  const { scale, shift, mean, std } = steps;
  const rowsPerChunk = Math.max(1, Math.floor(valuesPerChunk / Math.max(1, width)));
  for (let row = start; row < end; row++) {
    const source = row * width;
    const target = (row - start) * width;
    for (let column = 0; column < width; column++) {
      const value = raw.values[source + column];
      const result = (value * scale[column] + shift[column] - mean[column]) / std[column];
      output[target + column] = result;
      if (!Number.isFinite(output[target + column]))
        throw nonFiniteError(file, raw, row, column, value);
    }
    if ((row - start + 1) % rowsPerChunk === 0) {
      const fraction = (row - start + 1) / (end - start);
      task.onProgress?.({ fraction, message: 'Preprocessing samples' });
      await checkpoint(task.signal);
    }
  }
  return output;
}

function nonFiniteError(
  file: string,
  raw: RawData,
  row: number,
  column: number,
  value: number,
): DataError {
  const where = `${describeRow(raw, row)}, ${describeColumn(raw, column)}`;
  if (!Number.isFinite(value)) {
    return new DataError(
      file,
      `${where}: the feature value is ${value}; remove or fill in that row, or skip it with --rows.`,
    );
  }
  return new DataError(
    file,
    `${where}: ${value} overflows float32 after preprocessing; check --scale, --shift, --mean and --std.`,
  );
}
