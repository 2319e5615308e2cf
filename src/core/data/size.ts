/**
 * The data size gate: the most bytes read from a data or labels file, counted on disk and again
 * after decompression, so that a small gzip or `.npz` bomb cannot fill the memory.
 */
import * as fs from 'node:fs/promises';
import { DataError } from '../errors';

/**
 * Default of `DataOptions.maxBytes`: 1024 MiB. MNIST's 60,000 training images are about 47 MB
 * inflated and a 500 MB CSV fits, while a bomb of zeros stops after 1 GiB.
 */
export const defaultMaxDataBytes = 1024 * 2 ** 20;

const mebibyte = 2 ** 20;

/** Returns the limit `maxBytes` sets (the default when undefined); rejects a non-positive value. */
export function dataLimit(file: string, maxBytes: number | undefined): number {
  if (maxBytes === undefined) return defaultMaxDataBytes;
  if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
    throw new DataError(
      file,
      `the data size limit must be a positive number of bytes, got ${JSON.stringify(maxBytes)}; fix maxBytes in the data options.`,
    );
  }
  return maxBytes;
}

/**
 * Builds the one-line error for a file above the limit. `problem` describes what is too large and
 * names the limit (see `describeLimit`). `needed`, when known, is the size to suggest for
 * `--max-data-size`.
 */
export function dataTooLarge(file: string, problem: string, needed?: number): DataError {
  const raise =
    needed === undefined
      ? 'a larger --max-data-size'
      : `--max-data-size ${Math.max(1, Math.ceil(needed / mebibyte))}`;
  return new DataError(file, `${problem}; raise the limit to load it (${raise} on the command line).`);
}

/** Names the limit for messages: `the 1024 MB data size limit`. */
export function describeLimit(maxBytes: number): string {
  return `the ${formatBytes(maxBytes, Math.floor)} data size limit`;
}

/** Formats a byte count as whole megabytes (MiB, rounded up by default), or bytes below one. */
export function formatBytes(bytes: number, round: (value: number) => number = Math.ceil): string {
  return bytes < mebibyte ? `${bytes} bytes` : `${round(bytes / mebibyte)} MB`;
}

/**
 * Returns the larger of a data file's size on disk and, for gzip, the size its trailer declares
 * (modulo 4 GiB, so a hint only). Callers use it to ask before loading; the loaders enforce the
 * limit on the bytes themselves.
 */
export async function dataFileSize(file: string): Promise<number> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = new Uint8Array(2);
    await handle.read(head, 0, 2, 0);
    if (size < 18 || head[0] !== 0x1f || head[1] !== 0x8b) return size;
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, size - 4);
    return Math.max(size, trailer.readUInt32LE(0));
  } finally {
    await handle.close();
  }
}

/** Returns the uncompressed size a gzip trailer declares (modulo 4 GiB), or 0 when too short. */
export function gzipDeclaredSize(bytes: Uint8Array): number {
  if (bytes.length < 18) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    bytes.length - 4,
    true,
  );
}
