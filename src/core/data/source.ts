/** Reads a data file into memory, undoes gzip, and recognizes its format from its bytes. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { specialFileKind } from '../io';
import { DataError } from '../errors';
import { dataLimit, dataTooLarge, describeLimit, formatBytes, gzipDeclaredSize } from './size';

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

/**
 * Reads `file`, decompresses gzip, and detects the format. Neither the file nor its decompressed
 * bytes may exceed `maxBytes` (default `defaultMaxDataBytes`); decompression stops at the limit.
 */
export async function readSource(file: string, maxBytes?: number): Promise<DataSource> {
  const limit = dataLimit(file, maxBytes);
  const raw = await readBoundedFile(file, limit);
  const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  const bytes = gzipped ? await gunzipBounded(file, raw, limit) : raw;
  if (bytes.length === 0) {
    throw new DataError(
      file,
      `is empty${gzipped ? ' after decompression' : ''}; choose a file with samples.`,
    );
  }
  return { file, name: path.basename(file), bytes, gzipped, format: detectDataFormat(file, bytes) };
}

/** Paths of a shell's process substitution (`<(zcat file)`) and of standard input. */
const descriptorPath = /^\/(dev\/fd|proc\/self\/fd)\/\d+$|^\/dev\/stdin$/;

async function readBoundedFile(file: string, limit: number): Promise<Uint8Array> {
  const special = descriptorPath.test(file) ? null : await specialFileKind(file);
  if (special) {
    throw new DataError(file, `is a ${special}, not a file; save the data to a file and pass that.`);
  }
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw new DataError(file, 'is a folder; choose the data file inside it.');
    if (stat.size > limit) {
      const problem = `is ${formatBytes(stat.size)}, above ${describeLimit(limit)}`;
      throw dataTooLarge(file, problem, stat.size);
    }
    if (stat.isFile()) return new Uint8Array(await handle.readFile());
    return await readStream(file, handle, limit);
  } catch (error) {
    if (error instanceof DataError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(file, 'file not found; check the --data path.');
    if (code === 'EISDIR') throw new DataError(file, 'is a folder; choose the data file inside it.');
    throw new DataError(file, `cannot be read (${code ?? String(error)}).`, { cause: error });
  } finally {
    await handle?.close();
  }
}

/** Reads a pipe or device (`--data <(zcat file)`), whose size is known only at its end. */
async function readStream(file: string, handle: fs.FileHandle, limit: number): Promise<Uint8Array> {
  const output = new GrowingBuffer(file, limit, 'is larger than', 0);
  for await (const chunk of handle.createReadStream({ autoClose: false })) {
    output.append(chunk as Buffer);
  }
  return output.bytes();
}

/**
 * Decompresses gzip (several members too) and stops as soon as the output passes `limit`, so a
 * small file that inflates to gigabytes takes no more memory than the limit. The trailer's
 * declared size presizes the output, which an honest file then fills without a copy.
 */
async function gunzipBounded(file: string, raw: Uint8Array, limit: number): Promise<Uint8Array> {
  // Deflate expands at most about 1032:1, so a larger declared size does not presize the output.
  const hint = Math.min(gzipDeclaredSize(raw), raw.length * 1032);
  const output = new GrowingBuffer(file, limit, 'decompresses to more than', hint);
  const inflater = zlib.createGunzip({ chunkSize: 256 * 1024 });
  inflater.end(raw);
  try {
    for await (const chunk of inflater) output.append(chunk as Buffer);
  } catch (error) {
    if (error instanceof DataError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataError(
      file,
      `is not valid gzip (${reason}); check that the download is complete.`,
      { cause: error },
    );
  } finally {
    inflater.destroy();
  }
  return output.bytes();
}

/** Collects chunks into one buffer and throws the size error once they pass the limit. */
class GrowingBuffer {
  private buffer: Uint8Array;
  private length = 0;

  /** `problem` starts the error (`decompresses to more than`); `hint` is the expected size. */
  constructor(
    private readonly file: string,
    private readonly limit: number,
    private readonly problem: string,
    private readonly hint: number,
  ) {
    this.buffer = new Uint8Array(Math.min(Math.max(hint, 64 * 1024), limit));
  }

  append(chunk: Uint8Array): void {
    const needed = this.length + chunk.length;
    if (needed > this.limit) {
      const suggestion = this.hint > this.limit ? this.hint : undefined;
      throw dataTooLarge(this.file, `${this.problem} ${describeLimit(this.limit)}`, suggestion);
    }
    if (needed > this.buffer.length) {
      const grown = new Uint8Array(Math.min(Math.max(needed, this.buffer.length * 2), this.limit));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length = needed;
  }

  /** The bytes collected so far. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
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
