/**
 * Pure helpers of the prune flow (no `vscode` import, so unit tests run them in plain Node):
 * parsing sparsities, naming outputs and recipes, and guessing data options from a file's head.
 */
import * as path from 'node:path';

/** File extensions the extension treats as model files (`model.json` is matched by name). */
export const modelExtensions = ['.h5', '.keras', '.onnx', '.safetensors', '.pt', '.pth', '.save'];

/** Returns true for a file name PruneLens offers to open or prune. */
export function isModelFileName(file: string): boolean {
  const base = path.basename(file).toLowerCase();
  return base === 'model.json' || modelExtensions.includes(path.extname(base));
}

/**
 * Parses a sparsity typed by a user: `0.9`, `90%` or `90` all mean 0.9. Returns the fraction, or
 * a message that states what is accepted.
 */
export function parseSparsity(text: string): number | string {
  const trimmed = text.trim();
  const percent = trimmed.endsWith('%');
  const number = Number(percent ? trimmed.slice(0, -1).trim() : trimmed);
  if (trimmed === '' || !Number.isFinite(number)) {
    return `"${text}" is not a number; enter a fraction such as 0.9 or a percentage such as 90%.`;
  }
  const fraction = percent || number > 1 ? number / 100 : number;
  if (!(fraction > 0 && fraction < 1)) {
    return 'Enter a sparsity above 0 and below 1 (or above 0% and below 100%).';
  }
  return fraction;
}

/** Formats a sparsity for file names and messages: 0.9 → "90", 0.925 → "92.5". */
export function sparsityLabel(sparsity: number): string {
  return String(Math.round(sparsity * 1000) / 10);
}

/**
 * Returns the default output next to the model: `iris.h5` → `iris.pruned-90.h5`, and for a
 * TF.js `model.json` → `model.pruned-90.json` in the same folder (the TF.js writer names its
 * weight shards after that file).
 */
export function prunedOutputPath(modelPath: string, sparsity: number): string {
  const extension = path.extname(modelPath);
  const stem = modelPath.slice(0, modelPath.length - extension.length);
  return `${stem}.pruned-${sparsityLabel(sparsity)}${extension}`;
}

/** Returns the path of the report written beside a pruned model. */
export function reportPathFor(outputPath: string): string {
  const extension = path.extname(outputPath);
  return `${outputPath.slice(0, outputPath.length - extension.length)}.report.md`;
}

/** Returns the recipe path of a model: `<model file>.prunelens.json`. */
export function recipePathFor(modelPath: string): string {
  return `${modelPath}.prunelens.json`;
}

/** Data options guessed from the head of a CSV-like file. */
export interface CsvGuess {
  /** Lines before the header or the first data row. */
  skipLines: number;
  /** Column names from the header, or `column 0`, `column 1`, ... without one. */
  columns: string[];
  hasHeader: boolean;
  /** Zero-based index of the most likely label column (the last one). */
  labelGuess: number;
  delimiter: string;
}

/**
 * Guesses skip lines, header and columns from the first lines of a CSV file. A first line of the
 * form `count,features,...` (as scikit-learn's bundled CSV files start) is skipped when its count
 * matches the number of data lines. When `text` is only the head of the file (`complete` false),
 * the line is skipped when its second number is the feature count and it is no plain data row.
 */
export function guessCsvOptions(text: string, complete = true): CsvGuess {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (!complete) lines.pop();
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const delimiter = guessDelimiter(lines.slice(0, 20));
  const skipLines = isCountLine(lines, delimiter, complete) ? 1 : 0;
  const headerFields = splitFields(lines[skipLines] ?? '', delimiter);
  const hasHeader = !isNumericRow(headerFields);
  const width = headerFields.length;
  const columns = hasHeader
    ? headerFields.map((name, index) => name || `column ${index}`)
    : Array.from({ length: width }, (_, index) => `column ${index}`);
  return { skipLines, columns, hasHeader, labelGuess: Math.max(0, width - 1), delimiter };
}

/** Returns true when the first line is a scikit-learn style `samples,features,...` line. */
function isCountLine(lines: string[], delimiter: string, complete: boolean): boolean {
  const first = splitFields(lines[0] ?? '', delimiter);
  if (!/^\d+$/.test(first[0] ?? '') || !/^\d+$/.test(first[1] ?? '')) return false;
  const hasHeaderAfter = !isNumericRow(splitFields(lines[1] ?? '', delimiter));
  if (complete) {
    const dataLines = lines.length - 1 - (hasHeaderAfter ? 1 : 0);
    return Number(first[0]) === dataLines;
  }
  const width = splitFields(lines[1] ?? '', delimiter).length;
  const plainRow = first.every((field) => field !== '' && Number.isFinite(Number(field)));
  return !plainRow && Number(first[1]) === width - 1;
}

function guessDelimiter(lines: string[]): string {
  const candidates = [',', ';', '\t'];
  const counts = candidates.map((candidate) =>
    Math.min(...lines.map((line) => line.split(candidate).length)),
  );
  const best = counts.indexOf(Math.max(...counts));
  return counts[best] > 1 ? candidates[best] : ',';
}

function splitFields(line: string, delimiter: string): string[] {
  return line.split(delimiter).map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
}

function isNumericRow(fields: string[]): boolean {
  const filled = fields.filter((field) => field !== '');
  return filled.length > 0 && filled.every((field) => Number.isFinite(Number(field)));
}

/**
 * Returns the MNIST-style label file beside an IDX image file
 * (`t10k-images-idx3-ubyte.gz` → `t10k-labels-idx1-ubyte.gz`), or undefined.
 */
export function guessIdxLabels(dataPath: string): string | undefined {
  const base = path.basename(dataPath);
  if (!/images/.test(base)) return undefined;
  const labels = base.replace('images', 'labels').replace(/idx\d/, 'idx1');
  return labels === base ? undefined : path.join(path.dirname(dataPath), labels);
}

/** Kinds of calibration data files, by extension. */
export type DataKind = 'csv' | 'idx' | 'npy' | 'npz' | 'json' | 'unknown';

/** Returns the kind of a data file from its name (`.gz` is looked through). */
export function dataKindOf(file: string): DataKind {
  const base = path.basename(file).toLowerCase().replace(/\.gz$/, '');
  if (/idx\d/.test(base) || base.endsWith('.idx') || base.endsWith('-ubyte')) return 'idx';
  const extension = path.extname(base);
  if (['.csv', '.data', '.txt', '.tsv'].includes(extension)) return 'csv';
  if (extension === '.npy') return 'npy';
  if (extension === '.npz') return 'npz';
  if (extension === '.json') return 'json';
  return 'unknown';
}
