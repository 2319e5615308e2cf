/**
 * The zip container of `torch.save` files: a central directory reader that keeps each entry's
 * data offset (so that saving can patch stored entries in place), bounded extraction, and CRC-32.
 * Format: PKWARE APPNOTE.TXT (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT).
 */
import { inflateSync } from 'fflate';

/** One entry of the central directory. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  headerOffset: number;
  /** Offset of the entry's data, after the local header. */
  dataOffset: number;
  /** Offset of the CRC field of this entry in the central directory. */
  centralCrcOffset: number;
}

/** Raised for a zip archive that cannot be read safely; the message is one line. */
export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

/**
 * Largest deflated entry PruneLens inflates. `torch.save` stores entries uncompressed, so only a
 * re-zipped archive has deflated storages, and a larger declared size is more likely a zip bomb.
 * Stored entries are read in place and need no limit.
 */
export const maxInflatedBytes = 2 ** 30;

/** Deflate compresses at most about 1032:1, so a larger declared ratio is a false size. */
const maxDeflateRatio = 1032;

const signatures = {
  local: 0x04034b50,
  central: 0x02014b50,
  end: 0x06054b50,
  end64: 0x06064b50,
  locator64: 0x07064b50,
  descriptor: 0x08074b50,
};

/** Reads the central directory and validates every entry's name and byte range. */
export function readZipEntries(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const directory = findDirectory(view);
  const entries: ZipEntry[] = [];
  let offset = directory.offset;
  for (let i = 0; i < directory.count; i++) {
    const entry = readCentralEntry(bytes, view, offset, directory.offset);
    entries.push(entry.entry);
    offset = entry.next;
  }
  return entries;
}

function findDirectory(view: DataView): { offset: number; count: number } {
  const earliest = Math.max(0, view.byteLength - 22 - 0xffff);
  let end = -1;
  for (let at = view.byteLength - 22; at >= earliest; at--) {
    if (view.getUint32(at, true) === signatures.end) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new ZipError('no zip end-of-central-directory record found');
  let count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  const locator = end - 20;
  if (locator >= 0 && view.getUint32(locator, true) === signatures.locator64) {
    const end64 = safeNumber(view.getBigUint64(locator + 8, true));
    if (end64 + 56 > view.byteLength || view.getUint32(end64, true) !== signatures.end64) {
      throw new ZipError('invalid zip64 end-of-central-directory record');
    }
    count = safeNumber(view.getBigUint64(end64 + 32, true));
    offset = safeNumber(view.getBigUint64(end64 + 48, true));
  }
  if (offset > view.byteLength || count > view.byteLength / 46) {
    throw new ZipError('the zip central directory lies outside the file');
  }
  return { offset, count };
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('zip offset out of range');
  return Number(value);
}

function readCentralEntry(bytes: Uint8Array, view: DataView, at: number, directoryStart: number) {
  if (at + 46 > bytes.length || view.getUint32(at, true) !== signatures.central) {
    throw new ZipError(`invalid zip central directory entry at byte ${at}`);
  }
  const nameLength = view.getUint16(at + 28, true);
  const extraLength = view.getUint16(at + 30, true);
  const commentLength = view.getUint16(at + 32, true);
  const next = at + 46 + nameLength + extraLength + commentLength;
  if (next > bytes.length) throw new ZipError('the zip central directory is truncated');
  const name = new TextDecoder('utf-8').decode(bytes.subarray(at + 46, at + 46 + nameLength));
  checkEntryName(name);

  const sizes = {
    compressedSize: view.getUint32(at + 20, true),
    size: view.getUint32(at + 24, true),
    headerOffset: view.getUint32(at + 42, true),
  };
  readZip64Extra(view, at + 46 + nameLength, extraLength, sizes);

  const dataOffset = localDataOffset(view, sizes.headerOffset);
  if (dataOffset + sizes.compressedSize > directoryStart) {
    throw new ZipError(`zip entry '${name}' extends past the start of the central directory`);
  }
  const entry: ZipEntry = {
    name,
    method: view.getUint16(at + 10, true),
    flags: view.getUint16(at + 8, true),
    crc: view.getUint32(at + 16, true),
    ...sizes,
    dataOffset,
    centralCrcOffset: at + 16,
  };
  return { entry, next };
}

/** Rejects absolute names and `..` segments, which could point outside an extraction folder. */
function checkEntryName(name: string): void {
  const normalized = name.replace(/\\/g, '/');
  const unsafe =
    normalized.startsWith('/') ||
    /^[a-zA-Z]:/.test(normalized) ||
    normalized.split('/').includes('..') ||
    name.includes('\0');
  if (unsafe)
    throw new ZipError(
      `zip entry name ${JSON.stringify(name)} is an absolute path or contains '..'`,
    );
}

/** Replaces 32-bit fields set to 0xFFFFFFFF with their values from the zip64 extra field. */
function readZip64Extra(
  view: DataView,
  start: number,
  length: number,
  sizes: { compressedSize: number; size: number; headerOffset: number },
): void {
  for (let at = start; at + 4 <= start + length;) {
    const id = view.getUint16(at, true);
    const fieldLength = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      let field = at + 4;
      for (const key of ['size', 'compressedSize', 'headerOffset'] as const) {
        if (sizes[key] !== 0xffffffff) continue;
        if (field + 8 > at + 4 + fieldLength) throw new ZipError('truncated zip64 extra field');
        sizes[key] = safeNumber(view.getBigUint64(field, true));
        field += 8;
      }
    }
    at += 4 + fieldLength;
  }
}

function localDataOffset(view: DataView, headerOffset: number): number {
  if (
    headerOffset + 30 > view.byteLength ||
    view.getUint32(headerOffset, true) !== signatures.local
  ) {
    throw new ZipError(`invalid zip local file header at byte ${headerOffset}`);
  }
  const nameLength = view.getUint16(headerOffset + 26, true);
  const extraLength = view.getUint16(headerOffset + 28, true);
  return headerOffset + 30 + nameLength + extraLength;
}

/**
 * Returns an entry's uncompressed bytes and checks their CRC-32. A stored entry is returned as a
 * view of `bytes`. A deflated one is inflated into a buffer of the declared size, so a zip bomb
 * cannot grow past it.
 */
export function extractEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  if (entry.method === 8) checkInflatedSize(entry);
  const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size)
      throw new ZipError(`stored zip entry '${entry.name}' has inconsistent sizes`);
    data = raw;
  } else if (entry.method === 8) {
    const out = new Uint8Array(entry.size);
    data = inflateSync(raw, { out });
    if (data.length !== entry.size)
      throw new ZipError(`zip entry '${entry.name}' inflates to a different size than declared`);
  } else {
    throw new ZipError(
      `zip entry '${entry.name}' uses compression method ${entry.method}; only stored and deflated entries are read`,
    );
  }
  if (crc32(data) !== entry.crc)
    throw new ZipError(`zip entry '${entry.name}' fails its CRC-32 check; the file is corrupt`);
  return data;
}

function checkInflatedSize(entry: ZipEntry): void {
  if (entry.size > maxInflatedBytes) {
    throw new ZipError(
      `deflated zip entry '${entry.name}' declares ${entry.size} bytes, more than the ${maxInflatedBytes}-byte limit; unzip the archive and save it again with torch.save`,
    );
  }
  if (entry.size > entry.compressedSize * maxDeflateRatio + 1024) {
    throw new ZipError(
      `deflated zip entry '${entry.name}' declares ${entry.size} bytes from ${entry.compressedSize}, more than deflate can expand`,
    );
  }
}

/**
 * Replaces the data of a stored entry in place with `data` of the same length and updates its
 * CRC-32 in the central directory, in the local header and in a data descriptor when present.
 */
export function patchStoredEntry(archive: Uint8Array, entry: ZipEntry, data: Uint8Array): void {
  if (entry.method !== 0 || data.length !== entry.size) {
    throw new ZipError(
      `zip entry '${entry.name}' is compressed or changed size and cannot be patched in place`,
    );
  }
  archive.set(data, entry.dataOffset);
  const crc = crc32(data);
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  view.setUint32(entry.centralCrcOffset, crc, true);
  const localCrc = entry.headerOffset + 14;
  if (view.getUint32(localCrc, true) !== 0 || (entry.flags & 0x8) === 0) {
    view.setUint32(localCrc, crc, true);
  }
  if ((entry.flags & 0x8) !== 0) {
    const after = entry.dataOffset + entry.compressedSize;
    const signed =
      after + 4 <= archive.length && view.getUint32(after, true) === signatures.descriptor;
    const crcAt = signed ? after + 4 : after;
    if (crcAt + 4 <= archive.length) view.setUint32(crcAt, crc, true);
  }
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Computes the CRC-32 that zip uses. Written here because `zlib.crc32` needs Node.js 20.15 and
 * the VS Code extension host may run an older Node.js.
 */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Data offsets of written entries are multiples of this, as `torch.save` aligns them. */
const writeAlignment = 64;

/**
 * Writes a zip archive of stored (uncompressed) entries with each entry's data aligned to 64
 * bytes by padding in an extra field, as `torch.save` writes them. Archives that would need zip64
 * (4 GiB or more, or over 65,535 entries) are rejected.
 */
export function writeStoredZip(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = encoder.encode(name);
    const headerEnd = offset + 30 + nameBytes.length;
    const padding =
      headerEnd % writeAlignment === 0
        ? 0
        : (writeAlignment - ((headerEnd + 4) % writeAlignment)) % writeAlignment;
    const extra = headerEnd % writeAlignment === 0 ? new Uint8Array(0) : alignmentField(padding);

    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length + extra.length);
    const view = new DataView(local.buffer);
    view.setUint32(0, signatures.local, true);
    view.setUint16(4, 20, true);
    view.setUint16(6, 0x0800, true);
    writeSizes(view, 14, crc, data.length);
    view.setUint16(26, nameBytes.length, true);
    view.setUint16(28, extra.length, true);
    local.set(nameBytes, 30);
    local.set(extra, 30 + nameBytes.length);
    central.push(centralEntry(nameBytes, crc, data.length, offset));
    parts.push(local, data);
    offset += local.length + data.length;
  }

  const directorySize = central.reduce((sum, part) => sum + part.length, 0);
  if (offset + directorySize > 0xffffffff || entries.length > 0xffff) {
    throw new ZipError('the archive would need zip64, which PruneLens does not write');
  }
  const end = new Uint8Array(22);
  const endView = new DataView(end.buffer);
  endView.setUint32(0, signatures.end, true);
  endView.setUint16(8, entries.length, true);
  endView.setUint16(10, entries.length, true);
  endView.setUint32(12, directorySize, true);
  endView.setUint32(16, offset, true);
  return concatenate([...parts, ...central, end]);
}

/** Builds an extra field 0x4246 ("FB") of `padding` bytes of "Z", as PyTorch pads entries. */
function alignmentField(padding: number): Uint8Array {
  const field = new Uint8Array(4 + padding).fill(0x5a);
  const view = new DataView(field.buffer);
  view.setUint16(0, 0x4246, true);
  view.setUint16(2, padding, true);
  return field;
}

function writeSizes(view: DataView, at: number, crc: number, size: number): void {
  view.setUint32(at, crc, true);
  view.setUint32(at + 4, size, true);
  view.setUint32(at + 8, size, true);
}

function centralEntry(
  nameBytes: Uint8Array,
  crc: number,
  size: number,
  headerOffset: number,
): Uint8Array {
  const entry = new Uint8Array(46 + nameBytes.length);
  const view = new DataView(entry.buffer);
  view.setUint32(0, signatures.central, true);
  view.setUint16(4, 20, true);
  view.setUint16(6, 20, true);
  view.setUint16(8, 0x0800, true);
  writeSizes(view, 16, crc, size);
  view.setUint16(28, nameBytes.length, true);
  view.setUint32(42, headerOffset, true);
  entry.set(nameBytes, 46);
  return entry;
}

function concatenate(parts: Uint8Array[]): Uint8Array {
  const output = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    output.set(part, offset);
    offset += part.length;
  }
  return output;
}
