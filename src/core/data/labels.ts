/** Turns labels as read into class indices or regression targets. */
import { DataError } from '../errors';
import type { RawLabels } from './raw';

/** Labels in the dataset's shape, for every sample of the file. */
export interface Labels {
  /** `[samples, width]` row-major. */
  values: Float32Array;
  width: number;
  kind: 'class' | 'value';
  /** Class names in index order, when text labels were mapped to indices. */
  classNames?: string[];
  /** Number of distinct classes, for class labels. */
  classCount?: number;
  /** Conversion applied to the labels, for the description. */
  note?: string;
}

/**
 * Maps text labels to indices in sorted order, keeps non-negative integers as class indices,
 * turns one-hot rows into class indices, and keeps anything else as regression values.
 * `kind` forces class or value labels where the numbers alone are ambiguous.
 * `describeRow` names a sample in messages.
 */
export function finalizeLabels(
  file: string,
  raw: RawLabels,
  describeRow: (index: number) => string,
  kind?: 'class' | 'value',
): Labels {
  if (raw.kind === 'text') {
    if (kind === 'value') {
      throw new DataError(
        file,
        `labels are text (e.g. ${JSON.stringify(raw.values[0])}), so they cannot be regression values.`,
      );
    }
    return mapTextLabels(raw.values);
  }
  const { values, width } = raw;
  for (let index = 0; index < values.length; index++) {
    if (!Number.isFinite(values[index])) {
      throw new DataError(
        file,
        `${describeRow(Math.floor(index / width))}: label ${values[index]} is not a finite number.`,
      );
    }
  }
  if (width === 1) return numericLabels(file, values, kind);
  if (kind !== 'value') {
    const indices = oneHotToIndices(values, width);
    if (indices) return { ...classLabels(indices), note: 'one-hot labels as class indices' };
    if (kind === 'class') {
      throw new DataError(
        file,
        `labels have ${width} values per sample and are not one-hot, so they cannot be classes.`,
      );
    }
  }
  return { values: Float32Array.from(values), width, kind: 'value' };
}

function mapTextLabels(texts: string[]): Labels {
  const classNames = [...new Set(texts)].sort();
  const indexOf = new Map(classNames.map((name, index) => [name, index]));
  const values = Float32Array.from(texts, (text) => indexOf.get(text)!);
  return { values, width: 1, kind: 'class', classNames, classCount: classNames.length };
}

// NOTE: integer regression targets (for example effort in hours) also count as classes, as in
// scikit-learn's type_of_target; callers pass kind 'value' for those.
function numericLabels(file: string, values: ArrayLike<number>, kind?: 'class' | 'value'): Labels {
  let integers = true;
  for (let index = 0; index < values.length && integers; index++) {
    integers = Number.isInteger(values[index]) && values[index] >= 0;
  }
  if (kind === 'value' || (kind === undefined && !integers)) {
    return { values: Float32Array.from(values), width: 1, kind: 'value' };
  }
  if (!integers) {
    throw new DataError(
      file,
      'class labels must be whole numbers of at least 0; these are not, so they are regression values.',
    );
  }
  return classLabels(Float32Array.from(values));
}

function classLabels(values: Float32Array): Labels {
  return { values, width: 1, kind: 'class', classCount: new Set(values).size };
}

/** Returns the index of the single 1 in each row, or null when some row is not one-hot. */
function oneHotToIndices(values: ArrayLike<number>, width: number): Float32Array | null {
  const rows = values.length / width;
  const indices = new Float32Array(rows);
  for (let row = 0; row < rows; row++) {
    let hot = -1;
    for (let column = 0; column < width; column++) {
      const value = values[row * width + column];
      if (value === 1 && hot < 0) hot = column;
      else if (value !== 0) return null;
    }
    if (hot < 0) return null;
    indices[row] = hot;
  }
  return indices;
}
