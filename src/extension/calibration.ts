/** Choosing calibration data: the file, then its options, with defaults guessed from the file. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as vscode from 'vscode';
import { dataFileSize, defaultMaxDataBytes } from '../core/data/size';
import type { DataOptions } from '../core/data/types';
import { confirmLoad, runWithProgress, type CommonAnswers, type Services } from './host';
import type { DataDescription } from './job-handlers';
import { dataKindOf, guessCsvOptions, guessIdxLabels } from './prune-options';
import { readSettings } from './settings';

const dataFilters = {
  'Data files': ['csv', 'data', 'txt', 'tsv', 'gz', 'npy', 'npz', 'json', 'idx', 'ubyte'],
  'All files': ['*'],
};

/**
 * Asks for a calibration data file and its options. Returns undefined when the user dismisses a
 * prompt. The options are checked by loading the data in the worker.
 */
export async function chooseCalibrationData(
  services: Services,
  modelUri: vscode.Uri,
  current?: DataOptions,
): Promise<DataOptions | undefined> {
  const defaultUri = current ? vscode.Uri.file(current.data) : vscode.Uri.joinPath(modelUri, '..');
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    defaultUri,
    filters: dataFilters,
    openLabel: 'Use as Calibration Data',
    title: `Calibration data for ${path.basename(modelUri.fsPath)}`,
  });
  if (!picked?.[0]) return undefined;
  const file = picked[0];
  const options = await askFormatOptions(file);
  if (!options) return undefined;
  return askPreprocessing(services, options);
}

async function askFormatOptions(file: vscode.Uri): Promise<DataOptions | undefined> {
  const options: DataOptions = { data: file.fsPath };
  const kind = dataKindOf(file.fsPath);
  if (kind === 'csv') return askCsvOptions(file, options);
  if (kind === 'idx' || kind === 'npy') return askLabelFile(file, options);
  return options;
}

async function askCsvOptions(
  file: vscode.Uri,
  options: DataOptions,
): Promise<DataOptions | undefined> {
  const { text: head, complete } = await readTextHead(file);
  const guess = guessCsvOptions(head, complete);
  if (guess.skipLines > 0) {
    const firstLine = head.split(/\r?\n/)[0].slice(0, 40);
    const skip = {
      label: 'Skip the first line',
      description: `"${firstLine}" looks like a sample count`,
    };
    const keep = { label: 'Keep the first line' };
    const choice = await vscode.window.showQuickPick([skip, keep], {
      title: 'Lines before the header',
    });
    if (!choice) return undefined;
    if (choice === skip) options.skipLines = guess.skipLines;
  }
  const items = guess.columns.map((name, index) => ({
    label: name,
    description: index === guess.labelGuess ? `column ${index} (likely)` : `column ${index}`,
    index,
  }));
  items.unshift(items.splice(guess.labelGuess, 1)[0]);
  items.push({
    label: 'No label column',
    description: 'evaluate on the model output only',
    index: -1,
  });
  const label = await vscode.window.showQuickPick(items, { title: 'Label column' });
  if (!label) return undefined;
  if (label.index >= 0) options.labelColumn = guess.hasHeader ? label.label : label.index;
  return options;
}

async function askLabelFile(
  file: vscode.Uri,
  options: DataOptions,
): Promise<DataOptions | undefined> {
  const guessed = guessIdxLabels(file.fsPath);
  const found = guessed && (await exists(vscode.Uri.file(guessed))) ? guessed : undefined;
  const items: (vscode.QuickPickItem & { choice: string })[] = [];
  if (found)
    items.push({
      label: path.basename(found),
      description: 'found beside the data',
      choice: 'found',
    });
  items.push({ label: 'Choose a label file…', choice: 'choose' });
  items.push({
    label: 'No labels',
    description: 'evaluate on the model output only',
    choice: 'none',
  });
  const picked = await vscode.window.showQuickPick(items, { title: 'Labels' });
  if (!picked) return undefined;
  if (picked.choice === 'found') options.labels = found;
  if (picked.choice === 'choose') {
    const labels = await vscode.window.showOpenDialog({
      defaultUri: vscode.Uri.joinPath(file, '..'),
      title: 'Label file',
    });
    if (!labels?.[0]) return undefined;
    options.labels = labels[0].fsPath;
  }
  return options;
}

type Preprocessing = 'none' | 'pixels' | 'standardize' | 'custom';

async function askPreprocessing(
  services: Services,
  options: DataOptions,
): Promise<DataOptions | undefined> {
  const items: (vscode.QuickPickItem & { choice: Preprocessing })[] = [
    { label: 'None', description: 'use the values as stored', choice: 'none' },
    { label: 'Scale by 1/255', description: 'images stored as 0-255', choice: 'pixels' },
    {
      label: 'Standardize each feature',
      description: 'mean 0 and standard deviation 1 over this file',
      choice: 'standardize',
    },
    { label: 'Custom scale and shift…', description: '(x × scale + shift)', choice: 'custom' },
  ];
  if (dataKindOf(options.data) === 'idx') items.unshift(items.splice(1, 1)[0]);
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Preprocessing, as when the model was trained',
  });
  if (!picked) return undefined;
  if (picked.choice === 'pixels') options.scale = 1 / 255;
  if (picked.choice === 'custom') {
    const text = await vscode.window.showInputBox({
      title: 'Scale and shift',
      prompt: 'Two numbers "scale, shift"; each sample becomes x × scale + shift.',
      value: '1, 0',
      validateInput: (value) =>
        parsePair(value) ? undefined : 'Enter two numbers separated by a comma, such as 0.5, -1.',
    });
    const pair = text === undefined ? undefined : parsePair(text);
    if (!pair) return undefined;
    [options.scale, options.shift] = pair;
  }
  return finishDataOptions(services, options, picked.choice === 'standardize');
}

/**
 * Loads the data in the worker to check the options, adds per-feature mean and standard deviation
 * when asked, and limits the rows to the calibration sample limit. Returns undefined when the
 * user declines to load a large file.
 */
export async function finishDataOptions(
  services: Services,
  options: DataOptions,
  standardize: boolean,
  answers: CommonAnswers = {},
): Promise<DataOptions | undefined> {
  const allowed = await confirmDataSize(options, answers);
  if (!allowed) return undefined;
  const description = await runWithProgress<DataDescription>(
    services,
    `Reading ${path.basename(options.data)}`,
    'data.describe',
    { data: allowed, statistics: standardize },
  );
  const result: DataOptions = { ...allowed };
  if (standardize && description.mean && description.std) {
    result.mean = description.mean.map(roundForRecipe);
    result.std = description.std.map((value) => roundForRecipe(value > 0 ? value : 1));
  }
  const limit = readSettings().calibrationSampleLimit;
  if (!result.rows && description.samples > limit) result.rows = [0, limit];
  services.log.info(
    `Calibration data: ${description.description}${result.rows ? `; using rows ${result.rows[0]}-${result.rows[1]}` : ''}.`,
  );
  return result;
}

/**
 * Asks before loading a data or label file above the prunelens.confirmLoadAboveMB setting, as
 * for models. The size is the one on disk, or the one a gzip trailer declares when larger. Once
 * allowed, the options get a data size limit that covers the files, so the worker loads them.
 * Returns undefined when the user declines.
 */
async function confirmDataSize(
  options: DataOptions,
  answers: CommonAnswers,
): Promise<DataOptions | undefined> {
  let largest = { file: options.data, size: 0 };
  for (const file of [options.data, options.labels]) {
    // An unreadable file counts as empty here, and the worker reports it.
    const size = file === undefined ? 0 : await dataFileSize(file).catch(() => 0);
    if (file !== undefined && size > largest.size) largest = { file, size };
  }
  if (!(await confirmLoad(path.basename(largest.file), largest.size, answers))) return undefined;
  if (largest.size <= (options.maxBytes ?? defaultMaxDataBytes)) return options;
  return { ...options, maxBytes: Math.ceil(largest.size / mebibyte) * mebibyte };
}

const mebibyte = 2 ** 20;

function roundForRecipe(value: number): number {
  return Number(value.toPrecision(7));
}

function parsePair(text: string): [number, number] | undefined {
  const parts = text.split(',').map((part) => Number(part.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) return undefined;
  return [parts[0], parts[1]];
}

/** Bytes of a CSV file read to guess its options. */
const headBytes = 256 * 1024;

/**
 * Reads the first bytes of a text file, gunzipping `.gz` files; `complete` is true when that was
 * the whole text. Local files are read partially; other schemes through `vscode.workspace.fs`.
 */
async function readTextHead(uri: vscode.Uri): Promise<{ text: string; complete: boolean }> {
  let bytes: Uint8Array;
  let whole: boolean;
  if (uri.scheme === 'file') {
    const handle = await fs.open(uri.fsPath, 'r');
    try {
      const size = (await handle.stat()).size;
      bytes = new Uint8Array(Math.min(size, headBytes));
      await handle.read(bytes, 0, bytes.length, 0);
      whole = size <= headBytes;
    } finally {
      await handle.close();
    }
  } else {
    const all = await vscode.workspace.fs.readFile(uri);
    bytes = all.subarray(0, headBytes);
    whole = all.length <= headBytes;
  }
  if (uri.path.endsWith('.gz')) {
    const inflated = await gunzipHead(bytes, headBytes * 4);
    bytes = inflated.bytes;
    whole = whole && inflated.complete;
  }
  return { text: new TextDecoder().decode(bytes), complete: whole };
}

/**
 * Inflates the start of gzip bytes and stops once the output passes `limit`, so that 256 KB of a
 * gzip bomb does not inflate to hundreds of megabytes in the extension host.
 */
async function gunzipHead(
  bytes: Uint8Array,
  limit: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  // A sync flush decodes what the partial stream contains instead of failing at its cut end.
  const inflater = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  inflater.end(bytes);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of inflater) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length > limit) break;
    }
  } finally {
    inflater.destroy();
  }
  const inflated = Buffer.concat(chunks);
  return { bytes: inflated.subarray(0, limit), complete: inflated.length <= limit };
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
