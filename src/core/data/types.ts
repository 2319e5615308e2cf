/** Calibration and evaluation data in the core's shape. */

/** Options that select and preprocess samples, as the CLI's data options give them. */
export interface DataOptions {
  /** Path of the data file (CSV, .npy, .npz, JSON, IDX, optionally .gz). */
  data: string;
  /** Label column of a CSV file, by header name or zero-based index. */
  labelColumn?: string | number;
  /** Feature columns of a CSV file: names or indices, comma-separated, ranges like `0-12` allowed. */
  features?: string;
  /** Lines before the header of a CSV file. */
  skipLines?: number;
  /** A separate label file (IDX labels, .npy, CSV or JSON column). */
  labels?: string;
  /** Preprocessing `(x * scale + shift - mean) / std`; each a number or one value per feature. */
  scale?: number | number[];
  shift?: number | number[];
  mean?: number | number[];
  std?: number | number[];
  /**
   * Half-open range of sample indices `[start, end)`, applied after loading; an end of Infinity
   * means "to the last sample".
   */
  rows?: [number, number];
  /** Seed of a random row order applied before `rows`, for files sorted by class. */
  shuffle?: number;
  /** Name of the features array inside an `.npz` file (default: `x`, `X`, `data`, or the first). */
  featuresKey?: string;
  /** Name of the labels array inside an `.npz` file (default: `y`, `labels`, `target`). */
  labelsKey?: string;
  /**
   * Forces labels to be class indices or regression values; by default text and non-negative
   * integers are classes and other numbers are values.
   */
  labelKind?: 'class' | 'value';
  /**
   * Most bytes read from the data file and from the labels file, counted on disk and again after
   * gzip or `.npz` decompression (default `defaultMaxDataBytes`, 1024 MiB).
   */
  maxBytes?: number;
}

/** Samples as a dense float32 matrix, with optional labels. */
export interface Dataset {
  /** The data file, for messages. */
  source: string;
  samples: number;
  /** Values per sample after flattening. */
  featureCount: number;
  /** `[samples, featureCount]` row-major, preprocessing applied. */
  features: Float32Array;
  /** Shape of one sample as stored (for example `[28, 28]` for IDX images). */
  sampleShape: number[];
  /** Feature names from a CSV header, when known. */
  featureNames?: string[];
  /** `[samples, labelWidth]` row-major, or null when there are no labels. */
  labels: Float32Array | null;
  labelWidth: number;
  /**
   * `class` when labels are class indices (integers, or strings mapped to indices in sorted
   * order), `value` for regression targets.
   */
  labelKind: 'class' | 'value' | null;
  /** Class names in index order when string labels were mapped to indices. */
  classNames?: string[];
  /** One-line description of what was loaded and how it was preprocessed. */
  description: string;
}
