/**
 * Reader for delimited text: CSV, TSV, semicolon- and whitespace-separated files.
 * csv-parse does the tokenizing because it handles quoted fields, embedded delimiters and
 * newlines, CRLF and byte-order marks, and reports the file line of every record. This module
 * adds delimiter and header detection, column selection, and messages that name the line.
 */
import { Readable } from 'node:stream';
import { parse, CsvError, type Info } from 'csv-parse';
import { DataError } from '../errors';
import { checkpoint, type TaskOptions } from '../progress';
import { columnName, resolveColumn, resolveFeatureColumns, type ColumnLayout } from './columns';
import { Float64Builder, Int32Builder } from './builders';
import type { RawData, RawLabels } from './raw';
import { decodeText, type DataSource } from './source';

/** The CSV data options. */
export interface CsvOptions {
  skipLines?: number;
  labelColumn?: string | number;
  features?: string;
  /**
   * Reads a separate labels file: one column, whose first row is kept as data because a header
   * and a text label look alike until the whole column is read.
   */
  singleColumn?: boolean;
}

/** Records, or fields in wide files, parsed between two cancellation checks. */
const recordsPerCheck = 2048;
const fieldsPerCheck = 1 << 18;

/** Bytes handed to the parser at a time. */
const bytesPerChunk = 64 * 1024;

/** Spellings of a missing value that spreadsheets and pandas write. */
const missingMarker = /^\s*(na|n\/a|null|none|\?|-)\s*$/i;

const specialNumber = /^\s*([+-]?)(nan|inf|infinity)\s*$/i;

/** Parses a CSV field as a number; returns null for text or an empty field. */
export function toNumber(field: string): number | null {
  const value = Number(field);
  if (value === 0 && field.trim() === '') return null;
  if (!Number.isNaN(value)) return value;
  const special = specialNumber.exec(field);
  if (!special) return null;
  if (special[2].toLowerCase() === 'nan') return NaN;
  return special[1] === '-' ? -Infinity : Infinity;
}

/** Column choices made once the first record is known. */
interface Selection {
  layout: ColumnLayout;
  label: number | null;
  features: number[];
  /** Line of the first record when it is data (no header), for the `--skip-lines` hint. */
  firstDataLine: number | null;
}

/** Rows read so far. */
interface Accumulator {
  values: Float64Builder;
  lines: Int32Builder;
  labels: string[];
}

/** Reads a delimited text file into features and, when a label column is chosen, labels. */
export async function readCsv(
  source: DataSource,
  options: CsvOptions,
  task: TaskOptions = {},
): Promise<RawData> {
  const skipLines = checkSkipLines(source.file, options.skipLines);
  const delimiter = detectDelimiter(headText(source.bytes, skipLines), skipLines);
  const rows: Accumulator = { values: new Float64Builder(), lines: new Int32Builder(), labels: [] };
  let selection: Selection | null = null;
  let recordsSinceCheck = 0;
  let fieldsSinceCheck = 0;
  const records = parseRecords(source.file, source.bytes, delimiter, skipLines);
  for await (const { record, info } of records) {
    const fields = delimiter === ' ' ? record.filter((field) => field.length > 0) : record;
    if (!selection) {
      selection = selectColumns(source.file, fields, info.lines, options);
      if (selection.layout.names) continue;
    }
    addRow(source.file, selection, fields, info.lines, rows);
    fieldsSinceCheck += fields.length;
    if (++recordsSinceCheck >= recordsPerCheck || fieldsSinceCheck >= fieldsPerCheck) {
      recordsSinceCheck = 0;
      fieldsSinceCheck = 0;
      task.onProgress?.({
        fraction: info.bytes / source.bytes.length,
        message: `Reading ${source.name}`,
      });
      await checkpoint(task.signal);
    }
  }
  if (!selection) {
    throw new DataError(source.file, `has no data after line ${skipLines}; check --skip-lines.`);
  }
  return toRawData(source.file, selection, rows);
}

function checkSkipLines(file: string, skipLines: number | undefined): number {
  const value = skipLines ?? 0;
  if (!Number.isInteger(value) || value < 0) {
    throw new DataError(
      file,
      `--skip-lines must be a whole number of at least 0, not ${skipLines}.`,
    );
  }
  return value;
}

type ParsedRecord = { record: string[]; info: Info };

/**
 * Feeds the parser in chunks so that tokenizing a large file yields to the event loop between
 * chunks, and so that only the records not yet consumed are held in memory.
 */
async function* parseRecords(
  file: string,
  bytes: Uint8Array,
  delimiter: string,
  skipLines: number,
): AsyncGenerator<ParsedRecord> {
  const parser = parse({
    bom: true,
    delimiter,
    from_line: skipLines + 1,
    info: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    relax_column_count: true,
    trim: delimiter === ' ',
  });
  const input = Readable.from(chunksOf(bytes), { objectMode: false });
  input.pipe(parser);
  try {
    for await (const item of parser) yield item as ParsedRecord;
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    throw new DataError(file, `is not valid CSV: ${error.message.replace(/\s+/g, ' ')}`, {
      cause: error,
    });
  } finally {
    input.destroy();
  }
}

function* chunksOf(bytes: Uint8Array): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += bytesPerChunk) {
    const length = Math.min(bytesPerChunk, bytes.length - start);
    yield Buffer.from(bytes.buffer, bytes.byteOffset + start, length);
  }
}

/** Decodes the start of the file, enough lines for delimiter detection after `skipLines`. */
function headText(bytes: Uint8Array, skipLines: number): string {
  const head = decodeText(bytes.subarray(0, 1 << 20));
  const lines = head.split('\n', skipLines + 7).length;
  return lines > skipLines + 6 ? head : decodeText(bytes);
}

/**
 * Picks the delimiter that splits the first lines after `skipLines` into the same number of
 * fields: comma, tab or semicolon, else runs of spaces, else comma (a single column). Spaces
 * count only when every line below the first has a number in it, so that a single column of
 * names like `high risk` stays one column.
 */
export function detectDelimiter(text: string, skipLines: number): string {
  const sample = text
    .split(/\r?\n/, skipLines + 200)
    .slice(skipLines)
    .filter((line) => line.trim().length > 0)
    .slice(0, 5);
  let best = ',';
  let bestCount = 0;
  for (const candidate of [',', '\t', ';']) {
    const counts = sample.map((line) => countOutsideQuotes(line, candidate));
    if (counts[0] > bestCount && counts.every((value) => value === counts[0])) {
      best = candidate;
      bestCount = counts[0];
    }
  }
  if (bestCount === 0 && isWhitespaceSeparated(sample)) return ' ';
  return best;
}

function isWhitespaceSeparated(lines: string[]): boolean {
  const tokens = lines.map((line) => line.trim().split(/\s+/));
  const width = tokens.length > 0 ? tokens[0].length : 0;
  if (width < 2 || !tokens.every((fields) => fields.length === width)) return false;
  return tokens.slice(1).every((fields) => fields.some((field) => toNumber(field) !== null));
}

function countOutsideQuotes(line: string, delimiter: string): number {
  let count = 0;
  let quoted = false;
  for (const character of line) {
    if (character === '"') quoted = !quoted;
    else if (character === delimiter && !quoted) count++;
  }
  return count;
}

/**
 * Reads the first record: it is a header when none of its non-empty fields is a number, or
 * when it numbers the columns from 0. Then resolves the label and feature columns against it.
 */
function selectColumns(
  file: string,
  first: string[],
  line: number,
  options: CsvOptions,
): Selection {
  const filled = first.filter((field) => field.trim().length > 0);
  const isHeader =
    !options.singleColumn &&
    filled.length > 0 &&
    (filled.every((field) => toNumber(field) === null) || isIndexHeader(first));
  const layout: ColumnLayout = {
    count: first.length,
    names: isHeader ? first.map((name) => name.trim()) : null,
  };
  if (options.singleColumn && layout.count !== 1) {
    throw new DataError(
      file,
      `line ${line} has ${layout.count} columns, but a labels file must have one.`,
    );
  }
  const label =
    options.labelColumn === undefined
      ? null
      : resolveColumn(file, layout, options.labelColumn, '--label-column');
  let features: number[];
  if (options.features !== undefined) {
    features =
      options.features.trim() === '' ? [] : resolveFeatureColumns(file, layout, options.features);
    if (label !== null && features.includes(label)) {
      throw new DataError(
        file,
        `features include the label ${columnName(layout, label)}; leave it out of --features.`,
      );
    }
  } else {
    features = Array.from({ length: layout.count }, (_, column) => column).filter(
      (column) => column !== label,
    );
  }
  return { layout, label, features, firstDataLine: isHeader ? null : line };
}

/**
 * Recognizes the header pandas writes for unnamed columns: `0,1,2,…`, with an empty first
 * field when the index was written too. Read as data, it would add a sample that is not one.
 * Without the empty field, at least 4 columns are required because a short data row such as
 * `0,1` is plausible.
 */
function isIndexHeader(fields: string[]): boolean {
  const withIndex = fields[0].trim() === '';
  const names = withIndex ? fields.slice(1) : fields;
  if (names.length < (withIndex ? 2 : 4)) return false;
  return names.every((name, index) => name.trim() === String(index));
}

function addRow(
  file: string,
  selection: Selection,
  fields: string[],
  line: number,
  rows: Accumulator,
): void {
  const { layout } = selection;
  if (fields.length !== layout.count) {
    const reference = layout.names ? 'the header has' : 'the first row has';
    throw new DataError(
      file,
      `line ${line} has ${fields.length} fields but ${reference} ${layout.count}; ` +
        `fix that line${skipHint(selection, line)}.`,
    );
  }
  for (const column of selection.features) {
    const value = toNumber(fields[column]);
    if (value === null) throw fieldError(file, selection, fields[column], line, column);
    rows.values.push(value);
  }
  if (selection.label !== null) {
    const label = fields[selection.label].trim();
    if (label.length === 0) {
      throw new DataError(
        file,
        `line ${line}: the label in ${columnName(layout, selection.label)} is empty; fill it in or remove the row.`,
      );
    }
    rows.labels.push(label);
  }
  rows.lines.push(line);
}

function fieldError(
  file: string,
  selection: Selection,
  field: string,
  line: number,
  column: number,
): DataError {
  const where = `line ${line}, ${columnName(selection.layout, column)}`;
  const hint = skipHint(selection, line);
  if (field.trim() === '' || missingMarker.test(field)) {
    const shown = field.trim() === '' ? 'missing value' : `missing value ${JSON.stringify(field)}`;
    return new DataError(
      file,
      `${where}: ${shown}; fill it in or leave the column out with --features${hint}.`,
    );
  }
  const fix =
    selection.label === null
      ? 'if it is the label column, choose it with --label-column, otherwise leave it out with --features'
      : 'choose numeric columns with --features';
  return new DataError(file, `${where}: ${JSON.stringify(field)} is not a number; ${fix}${hint}.`);
}

/** Suggests --skip-lines for a bad first record in a file without a header, which may be a preamble. */
function skipHint(selection: Selection, line: number): string {
  if (line !== selection.firstDataLine) return '';
  return `, or if line ${line} is not data, skip it with --skip-lines ${line}`;
}

function toRawData(file: string, selection: Selection, rows: Accumulator): RawData {
  const { layout, label, features } = selection;
  const samples = rows.lines.length;
  return {
    samples,
    featureCount: features.length,
    values: rows.values.finish(),
    sampleShape: [features.length],
    featureNames: layout.names ? features.map((column) => layout.names![column]) : undefined,
    columnNames: features.map((column) => columnName(layout, column)),
    labels: label === null ? undefined : toLabels(rows.labels),
    labelSource: label === null ? undefined : describeLabelColumn(layout, label),
    lines: rows.lines.finish(),
  };
}

function describeLabelColumn(layout: ColumnLayout, label: number): string {
  const name = layout.names?.[label];
  return name ? `label column ${JSON.stringify(name)}` : `label column ${label}`;
}

/** Labels are numbers when every value parses as one, and class names otherwise. */
function toLabels(texts: string[]): RawLabels {
  const numbers = new Float64Array(texts.length);
  for (let index = 0; index < texts.length; index++) {
    const value = toNumber(texts[index]);
    if (value === null) return { kind: 'text', values: texts };
    numbers[index] = value;
  }
  return { kind: 'numeric', values: numbers, width: 1 };
}

/**
 * Reads a labels-only CSV file: exactly one column. Its first row is a header when it is text
 * and the rest are numbers, or when its text appears nowhere else in the column.
 */
export async function readCsvLabels(
  source: DataSource,
  task: TaskOptions = {},
): Promise<RawLabels> {
  const raw = await readCsv(source, { labelColumn: 0, features: '', singleColumn: true }, task);
  const labels = raw.labels!;
  if (labels.kind === 'numeric' || labels.values.length < 2) return labels;
  const [first, ...rest] = labels.values;
  const restNumeric = rest.every((value) => toNumber(value) !== null);
  if (!restNumeric && rest.includes(first)) return labels;
  return restNumeric ? toLabels(rest) : { kind: 'text', values: rest };
}
