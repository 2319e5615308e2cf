/** Loads calibration and evaluation data: reads the file, attaches labels, selects rows, preprocesses. */
import * as path from 'node:path';
import { CancelledError, DataError, PruneLensError } from '../errors';
import { subProgress, throwIfCancelled, type TaskOptions } from '../progress';
import { readCsv, readCsvLabels } from './csv';
import { readIdx } from './idx';
import { readJson, readJsonLabels } from './json';
import { finalizeLabels, type Labels } from './labels';
import { readNpy } from './npy';
import { readNpz, readNpzLabels } from './npz';
import { preprocessRows, resolvePreprocessing, selectRows } from './preprocess';
import {
  arrayToLabels,
  arrayToRaw,
  describeRow,
  labelCount,
  type NdArray,
  type RawData,
  type RawLabels,
} from './raw';
import { shuffleRows } from './shuffle';
import { readSource, type DataSource } from './source';
import type { DataOptions, Dataset } from './types';

export { parseNumberList, parseRows } from './options';
export { dataFileSize, defaultMaxDataBytes } from './size';
export type { DataOptions, Dataset } from './types';

/** Loads `options.data` (CSV, .npy, .npz, JSON or IDX, gzip allowed) into a preprocessed dataset. */
export async function loadDataset(options: DataOptions, task: TaskOptions = {}): Promise<Dataset> {
  try {
    if (options.shuffle === undefined) return await loadInFileOrder(options, task);
    const all = await loadInFileOrder({ ...options, rows: undefined }, task);
    return shuffleRows(all, options.shuffle, options.rows);
  } catch (error) {
    // PruneLens's own errors name their file; anything else (a stack overflow on JSON nested
    // thousands deep, say) gets the data file's name.
    if (error instanceof PruneLensError || error instanceof CancelledError) throw error;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new DataError(options.data, `cannot be read (${reason}).`, { cause: error });
  }
}

async function loadInFileOrder(options: DataOptions, task: TaskOptions): Promise<Dataset> {
  const file = options.data;
  throwIfCancelled(task.signal);
  const source = await readSource(file, options.maxBytes);
  const reading = subProgress(task.onProgress, 0, 0.6);
  const raw = await readFeatures(source, options, reading, task.signal);
  if (options.labels !== undefined) await attachLabelsFile(raw, options, task.signal);
  checkShape(file, raw);

  // Labels are mapped over the whole file, so class indices do not depend on --rows.
  const rows = selectRows(file, options.rows, raw.samples);
  const labels = raw.labels
    ? finalizeLabels(file, raw.labels, (index) => describeRow(raw, index), options.labelKind)
    : null;
  const preprocessing = resolvePreprocessing(file, options, raw.featureCount);
  const features = await preprocessRows(file, raw, rows, preprocessing, {
    signal: task.signal,
    onProgress: subProgress(task.onProgress, 0.6, 1),
  });
  task.onProgress?.({ fraction: 1, message: `Loaded ${source.name}` });

  return {
    source: file,
    samples: rows[1] - rows[0],
    featureCount: raw.featureCount,
    features,
    sampleShape: raw.sampleShape,
    featureNames: raw.featureNames,
    labels: labels ? labels.values.slice(rows[0] * labels.width, rows[1] * labels.width) : null,
    labelWidth: labels ? labels.width : 0,
    labelKind: labels ? labels.kind : null,
    classNames: labels?.classNames,
    description: describe(source, raw, rows, labels, preprocessing.description),
  };
}

async function readFeatures(
  source: DataSource,
  options: DataOptions,
  onProgress: TaskOptions['onProgress'],
  signal: AbortSignal | undefined,
): Promise<RawData> {
  const { file, bytes } = source;
  if (source.format === 'csv') return readCsv(source, options, { signal, onProgress });
  rejectCsvOptions(source, options);
  switch (source.format) {
    case 'npy':
      return arrayToRaw(file, readNpy(file, bytes), 'the array');
    case 'idx':
      return arrayToRaw(file, readIdx(file, bytes), 'the IDX data');
    case 'npz': {
      const arrays = readNpz(file, bytes, options.featuresKey, options.labelsKey, options.maxBytes);
      return withLabels(
        file,
        arrayToRaw(file, arrays.features, `array ${JSON.stringify(arrays.featuresKey)}`),
        arrays,
      );
    }
    case 'json': {
      const arrays = readJson(file, bytes, options.featuresKey, options.labelsKey);
      const arrayName =
        arrays.featuresKey === undefined
          ? 'the array'
          : `key ${JSON.stringify(arrays.featuresKey)}`;
      return withLabels(file, arrayToRaw(file, arrays.features, arrayName), arrays);
    }
  }
}

function withLabels(
  file: string,
  raw: RawData,
  arrays: { labelsKey?: string; labels?: NdArray },
): RawData {
  if (!arrays.labels || arrays.labelsKey === undefined) return raw;
  const name = JSON.stringify(arrays.labelsKey);
  return {
    ...raw,
    labels: arrayToLabels(file, arrays.labels, `labels ${name}`),
    labelSource: `labels ${name}`,
  };
}

/** Label columns, feature lists and skipped lines select text columns, so they apply to CSV only. */
function rejectCsvOptions(source: DataSource, options: DataOptions): void {
  const csvOptions = [
    options.labelColumn !== undefined ? '--label-column' : null,
    options.features !== undefined ? '--features' : null,
    (options.skipLines ?? 0) > 0 ? '--skip-lines' : null,
  ].filter((name): name is string => name !== null);
  if (csvOptions.length > 0) {
    throw new DataError(
      source.file,
      `${csvOptions.join(' and ')} ${csvOptions.length > 1 ? 'apply' : 'applies'} only to CSV files, but this is ` +
        `${source.format.toUpperCase()} data; drop ${csvOptions.length > 1 ? 'them' : 'it'}.`,
    );
  }
}

async function attachLabelsFile(
  raw: RawData,
  options: DataOptions,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (options.labelColumn !== undefined) {
    throw new DataError(
      options.data,
      'labels come from both --label-column and --labels; choose one.',
    );
  }
  const file = options.labels!;
  const labels = await readLabelsFile(await readSource(file, options.maxBytes), options, signal);
  const count = labelCount(labels);
  if (count !== raw.samples) {
    throw new DataError(
      file,
      `has ${count} labels but ${path.basename(options.data)} has ${raw.samples} samples; they must match.`,
    );
  }
  raw.labels = labels;
  raw.labelSource = `labels from ${path.basename(file)}`;
}

async function readLabelsFile(
  source: DataSource,
  options: DataOptions,
  signal: AbortSignal | undefined,
): Promise<RawLabels> {
  const { file, bytes } = source;
  switch (source.format) {
    case 'csv':
      return readCsvLabels(source, { signal });
    case 'npy':
      return arrayToLabels(file, readNpy(file, bytes), 'the labels array');
    case 'idx':
      return arrayToLabels(file, readIdx(file, bytes), 'the IDX labels');
    case 'npz':
      return arrayToLabels(
        file,
        readNpzLabels(file, bytes, options.labelsKey, options.maxBytes),
        'the labels array',
      );
    case 'json':
      return arrayToLabels(file, readJsonLabels(file, bytes, options.labelsKey), 'the labels');
  }
}

function checkShape(file: string, raw: RawData): void {
  if (raw.samples === 0) {
    throw new DataError(file, 'contains no samples; choose a file with data rows.');
  }
  if (raw.featureCount === 0) {
    throw new DataError(
      file,
      'has no feature values per sample; check --features and --label-column.',
    );
  }
  if (raw.labels && labelCount(raw.labels) !== raw.samples) {
    throw new DataError(
      file,
      `has ${labelCount(raw.labels)} labels for ${raw.samples} samples; they must match.`,
    );
  }
}

function describe(
  source: DataSource,
  raw: RawData,
  [start, end]: [number, number],
  labels: Labels | null,
  preprocessing: string | null,
): string {
  const shape = raw.sampleShape.length > 1 ? ` (${raw.sampleShape.join('×')})` : '';
  const parts = [
    `${end - start} samples × ${raw.featureCount} features${shape} from ${source.name}`,
  ];
  if (start !== 0 || end !== raw.samples) parts.push(`rows ${start}:${end} of ${raw.samples}`);
  parts.push(labels ? `${raw.labelSource} (${describeLabels(labels)})` : 'no labels');
  if (preprocessing) parts.push(preprocessing);
  return parts.join(', ');
}

function describeLabels(labels: Labels): string {
  const kind = labels.kind === 'class' ? `${labels.classCount} classes` : 'regression';
  return labels.note ? `${kind}, ${labels.note}` : kind;
}
