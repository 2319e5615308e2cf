/** Reads a data file into memory, undoes gzip, and recognizes its format from its bytes. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DataError } from '../errors';

const gunzip = promisify(zlib.gunzip);

/** Data formats the loaders read. */
export type DataFormat = 'csv' | 'npy' | 'npz' | 'json' | 'idx';

/** A data file's bytes, gzip already undone. */
export interface DataSource {
  /** Path as the caller gave it, for messages. */
  file: string;
  /** File name without folders, for descriptions. */
  name: string;
  bytes: Uint8Array;
  /** True when the file was gzip-compressed. */
  gzipped: boolean;
  format: DataFormat;
}

/** Reads `file`, decompresses gzip, and detects the format. */
export async function readSource(file: string): Promise<DataSource> {
  const raw = await readWholeFile(file);
  const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  const bytes = gzipped ? await gunzipBounded(file, raw) : raw;
  if (bytes.length === 0) {
    throw new DataError(
      file,
      `is empty${gzipped ? ' after decompression' : ''}; choose a file with samples.`,
    );
  }
  return { file, name: path.basename(file), bytes, gzipped, format: detectDataFormat(file, bytes) };
}

async function readWholeFile(file: string): Promise<Uint8Array> {
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory())
      throw new DataError(file, 'is a folder; choose the data file inside it.');
    return new Uint8Array(await fs.readFile(file));
  } catch (error) {
    if (error instanceof DataError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(file, 'file not found; check the --data path.');
    throw new DataError(file, `cannot be read (${code ?? String(error)}).`, { cause: error });
  }
}

/**
 * Decompresses gzip. The output is capped at the largest Buffer Node can allocate, so a
 * corrupt or hostile size fails with a message instead of exhausting memory.
 */
async function gunzipBounded(file: string, raw: Uint8Array): Promise<Uint8Array> {
  try {
    const output = await gunzip(raw, { maxOutputLength: bufferConstants.MAX_LENGTH });
    return new Uint8Array(output.buffer, output.byteOffset, output.byteLength);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(
      file,
      `is not valid gzip (${reason}); check that the download is complete.`,
      {
        cause: error,
      },
    );
  }
}

const idxTypeSizes: Record<number, number> = {
  0x08: 1,
  0x09: 1,
  0x0b: 2,
  0x0c: 4,
  0x0d: 4,
  0x0e: 8,
};

/** Returns true when the bytes start with an IDX header (two zero bytes, a type code, a rank). */
export function looksLikeIdx(bytes: Uint8Array): boolean {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0) return false;
  return idxTypeSizes[bytes[2]] !== undefined && bytes[3] >= 1 && bytes[3] <= 16;
}

/** Picks the format from magic bytes first and from the text's first character otherwise. */
export function detectDataFormat(file: string, bytes: Uint8Array): DataFormat {
  if (startsWith(bytes, [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])) return 'npy';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) {
    return 'npz';
  }
  if (looksLikeIdx(bytes)) return 'idx';
  rejectKnownBinary(file, bytes);
  const first = firstTextCharacter(bytes);
  if (first === '[' || first === '{') return 'json';
  return 'csv';
}

function rejectKnownBinary(file: string, bytes: Uint8Array): void {
  const expected = 'expected CSV, .npy, .npz, JSON or MNIST IDX data';
  if (startsWith(bytes, [0x89, 0x48, 0x44, 0x46])) {
    throw new DataError(file, `is an HDF5 file (a Keras model?), not data; ${expected}.`);
  }
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    throw new DataError(
      file,
      'is UTF-16 text; save it as UTF-8 (CSV UTF-8 in spreadsheet programs).',
    );
  }
  const head = bytes.subarray(0, 4096);
  if (head.includes(0)) {
    throw new DataError(file, `is a binary file of an unknown format; ${expected}.`);
  }
}

function firstTextCharacter(bytes: Uint8Array): string {
  let index = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (index < bytes.length && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[index])) index++;
  return index < bytes.length ? String.fromCharCode(bytes[index]) : '';
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.length <= bytes.length && prefix.every((value, index) => bytes[index] === value);
}

/** Decodes UTF-8 text and drops a leading byte-order mark. */
export function decodeText(bytes: Uint8Array): string {
  const text = new TextDecoder('utf-8').decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
